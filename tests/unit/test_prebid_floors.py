"""The Prebid Floors Module file for hand-built floors: schema, rule order, '*' rows, default, expiry."""

from __future__ import annotations

import jsonschema
import pytest

from serving import prebid
from serving.snapshot import Floor
from udfs import rules

NOW = 1_800_000_000.0
DOMAIN = "news.example.es"


def fine(ad_unit: str, device: str, tier: int, floor: float, expires: float = NOW + 3600,
         domain: str = DOMAIN, version: str = "m-7", challenger: float | None = None) -> Floor:
    key = rules.fine_segment_key(domain, ad_unit, device, tier)
    return Floor(rules.FINE, key, floor, expires, model_version=version, challenger_floor_eur=challenger,
                 challenger_model_version=None if challenger is None else "c-1")


def coarse(fmt: str, inventory: str, device: str, tier: int, floor: float, expires: float = NOW + 3600,
           version: str = "m-7") -> Floor:
    key = rules.coarse_segment_key(fmt, inventory, device, tier)
    return Floor(rules.COARSE, key, floor, expires, model_version=version)


# The module's data schema (floorsSchemaVersion 2), written from the Prebid docs' field list.
PREBID_V2_SCHEMA = {
    "type": "object",
    "required": ["floorsSchemaVersion", "modelGroups", "currency"],
    "properties": {
        "floorsSchemaVersion": {"const": 2},
        "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
        "skipRate": {"type": "integer", "minimum": 0, "maximum": 100},
        "floorMin": {"type": "number", "minimum": 0},
        "floorProvider": {"type": "string"},
        "modelGroups": {
            "type": "array", "minItems": 1,
            "items": {
                "type": "object",
                "required": ["modelWeight", "modelVersion", "schema", "values"],
                "properties": {
                    "modelWeight": {"type": "integer", "minimum": 1, "maximum": 100},
                    "modelVersion": {"type": "string"},
                    "schema": {"type": "object", "required": ["fields"], "properties": {
                        "fields": {"type": "array", "minItems": 1, "uniqueItems": True, "items": {"type": "string"}},
                        "delimiter": {"type": "string"}}},
                    "values": {"type": "object", "minProperties": 1, "additionalProperties": {"type": "number"}},
                    "default": {"type": "number"},
                },
            },
        },
    },
}


def request(ad_unit: str, media: str, device: str, tier: int) -> dict[str, str]:
    return {"adUnitCode": ad_unit, "mediaType": media, "deviceType": device, "countryTier": str(tier)}


def test_schema_and_fields() -> None:
    data = prebid.prebid_floors_file([fine("top", "mobile", 1, 3.1), coarse("banner", "standard", "mobile", 1, 1.4)],
                                     DOMAIN, NOW)
    jsonschema.validate(data, PREBID_V2_SCHEMA)
    index = prebid.index_floors([fine("top", "mobile", 1, 3.1), coarse("banner", "standard", "mobile", 1, 1.4)])
    assert prebid.prebid_floors_file(index, DOMAIN, NOW) == data  # the snapshot's prebuilt index: the same file
    assert data["floorsSchemaVersion"] == 2 and data["currency"] == "EUR"
    assert data["skipRate"] == 0 and data["floorMin"] == rules.FLOOR_MIN_EUR
    [group] = data["modelGroups"]
    assert group["modelVersion"] == "m-7" and group["modelWeight"] == 100
    assert group["schema"] == {"fields": ["adUnitCode", "mediaType", "deviceType", "countryTier"], "delimiter": "|"}
    assert group["default"] == rules.STATIC_FLOOR_EUR
    assert group["values"] == {"top|*|phone|1": 3.1, "*|banner|phone|1": 1.4, "*|*|*|*": rules.STATIC_FLOOR_EUR}


def test_fine_beats_coarse_and_wildcard_rows_fill_the_gaps() -> None:
    data = prebid.prebid_floors_file([
        fine("top", "mobile", 1, 3.1),
        coarse("banner", "standard", "mobile", 1, 1.4),
        coarse("video", "standard", "desktop", 2, 4.4),
        coarse("banner", "premium", "mobile", 1, 9.9),  # another inventory type: not in this file
    ], DOMAIN, NOW)
    assert prebid.match(data, 0, request("top", "banner", "phone", 1)) == 3.1  # fine row beats '*|banner|phone|1'
    assert prebid.match(data, 0, request("side", "banner", "phone", 1)) == 1.4  # no fine row: coarse '*' row
    assert prebid.match(data, 0, request("side", "video", "desktop", 2)) == 4.4
    assert prebid.match(data, 0, request("top", "banner", "phone", 2)) == rules.STATIC_FLOOR_EUR  # other tier
    assert prebid.match(data, 0, request("side", "native", "tablet", 3)) == rules.STATIC_FLOOR_EUR
    premium = prebid.prebid_floors_file([coarse("banner", "premium", "mobile", 1, 9.9)], DOMAIN, NOW,
                                        inventory_type="premium")
    assert premium["modelGroups"][0]["values"]["*|banner|phone|1"] == 9.9


def test_rules_put_fine_before_coarse_in_prebid_order() -> None:
    """The order Prebid tries candidate rules in (fewest '*' first, specific leftmost fields on ties)."""
    data = prebid.prebid_floors_file([fine("top", "mobile", 1, 3.1), coarse("banner", "standard", "mobile", 1, 1.4)],
                                     DOMAIN, NOW)
    values = data["modelGroups"][0]["values"]
    candidates = [""]
    for v in ("top", "banner", "phone", "1"):
        candidates = [c + ("|" if c else "") + x for c in candidates for x in (v, "*")]
    candidates.sort(key=lambda r: r.count("*"))
    present = [c for c in candidates if c in values]
    assert present == ["top|*|phone|1", "*|banner|phone|1", "*|*|*|*"]


def test_other_domains_expiry_and_cache_lifetime() -> None:
    floors = [
        fine("top", "mobile", 1, 3.1, domain="other.example.com"),  # another domain
        fine("side", "mobile", 1, 2.6, expires=NOW),  # expires_at <= now: expired
        fine("foot", "mobile", 1, 2.7, expires=NOW + 30),  # expires while a browser may still cache the file
        fine("mid", "tablet", 3, 1.9, expires=NOW + 61),
        coarse("native", "standard", "desktop", 1, 0.9, expires=NOW - 1),
        coarse("interstitial", "standard", "mobile", 1, 5.0),  # no Prebid mediaType
    ]
    values = prebid.prebid_floors_file(floors, DOMAIN, NOW, max_age_s=60)["modelGroups"][0]["values"]
    assert values == {"mid|*|tablet|3": 1.9, "*|*|*|*": rules.STATIC_FLOOR_EUR}
    values = prebid.prebid_floors_file(floors, DOMAIN, NOW)["modelGroups"][0]["values"]
    assert "foot|*|phone|1" in values and "side|*|phone|1" not in values


def test_model_groups_settings_and_floor_min() -> None:
    floors = [fine("top", "mobile", 1, 3.1, challenger=0.2)]
    data = prebid.prebid_floors_file(floors, DOMAIN, NOW, model_weights={"champion": 80, "challenger": 20},
                                     skip_rate=5, floor_min=0.5)
    champion, challenger = data["modelGroups"]
    assert (champion["modelWeight"], challenger["modelWeight"]) == (80, 20)
    assert (champion["modelVersion"], challenger["modelVersion"]) == ("m-7", "c-1")
    assert data["skipRate"] == 5
    assert prebid.match(data, 1, request("top", "banner", "phone", 1)) == 0.5  # floorMin wins over a lower rule
    empty = prebid.prebid_floors_file([], DOMAIN, NOW)
    assert empty["modelGroups"][0]["values"] == {"*|*|*|*": rules.STATIC_FLOOR_EUR}
    assert empty["modelGroups"][0]["modelVersion"] == "champion-static"
    with pytest.raises(ValueError):
        prebid.prebid_floors_file([], DOMAIN, NOW, skip_rate=101)
    with pytest.raises(ValueError):
        prebid.prebid_floors_file([], DOMAIN, NOW, model_weights={"champion": 0})


def test_escaped_keys() -> None:
    """Keys escape a separator inside a field (udfs.rules); the file unescapes them, and leaves out
    ad units Prebid could not match ('|' is its delimiter, '*' its wildcard)."""
    odd_domain = fine("top", "mobile", 1, 3.3, domain="odd|domain.es")
    assert prebid.split_key(rules.FINE, odd_domain.segment_key)["domain"] == "odd|domain.es"
    values = prebid.prebid_floors_file([odd_domain, fine("x|y", "mobile", 1, 4.0, domain="odd|domain.es"),
                                        fine("*", "mobile", 1, 4.1, domain="odd|domain.es")],
                                       "odd|domain.es", NOW)["modelGroups"][0]["values"]
    assert values == {"top|*|phone|1": 3.3, "*|*|*|*": rules.STATIC_FLOOR_EUR}
    assert prebid.prebid_floors_file([odd_domain], "odd", NOW)["modelGroups"][0]["values"] == {
        "*|*|*|*": rules.STATIC_FLOOR_EUR}


def test_keys_that_do_not_split_cleanly_are_left_out() -> None:
    odd = Floor(rules.FINE, "a|b|c", 3.0, NOW + 3600)  # three parts: not a fine key
    assert prebid.split_key(rules.FINE, odd.segment_key) is None
    values = prebid.prebid_floors_file([odd], DOMAIN, NOW)["modelGroups"][0]["values"]
    assert values == {"*|*|*|*": rules.STATIC_FLOOR_EUR}

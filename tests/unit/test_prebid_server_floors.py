"""The floors file for Prebid Server's floors fetch (serving/prebid.py prebid_server_floors_file, the
API's `?client=server`): only dimensions Prebid Server knows (country for the tier), the same fine ->
coarse -> static order under Prebid's matching, trimmed to `max-rules` (busiest segments kept) or
refused with the limit named (schema dimensions, rules, modelWeight, file size)."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
from starlette.testclient import TestClient

from serving import api, prebid
from serving.prebid import PrebidServerLimits, PrebidServerRefused, prebid_server_floors_file
from serving.snapshot import Floor, FloorsSnapshot, Snapshot
from tests.unit.test_prebid_floors import PREBID_V2_SCHEMA, coarse
from udfs import rules

NOW = 1_800_000_000.0
DOMAIN = "news.example.es"


def fine(ad_unit: str, device: str, tier: int, floor: float, points: int = 100) -> Floor:
    return Floor(rules.FINE, rules.fine_segment_key(DOMAIN, ad_unit, device, tier), floor, NOW + 3600,
                 model_version="m-7", data_points=points)


def bid(ad_unit: str, media: str, device: str, country: str) -> dict[str, str]:
    return {"adUnitCode": ad_unit, "mediaType": media, "deviceType": device, "country": country}


FLOORS = [
    fine("top", "mobile", 1, 3.25),
    fine("top", "mobile", 3, 2.75),
    fine("side", "desktop", 2, 1.75),
    coarse("banner", "standard", "mobile", 1, 1.5),
    coarse("banner", "standard", "mobile", 3, 0.9),
    coarse("video", "standard", "desktop", 2, 4.0),
]


def test_only_prebid_server_dimensions_and_country_for_the_tier() -> None:
    data, trimmed = prebid_server_floors_file(FLOORS, DOMAIN, NOW)
    jsonschema.validate(data, PREBID_V2_SCHEMA)
    group = data["modelGroups"][0]
    assert set(group["schema"]["fields"]) <= prebid.PBS_KNOWN_FIELDS and "countryTier" not in group["schema"]["fields"]
    assert trimmed == 0
    assert set(rules.TIER_1 | rules.TIER_2) <= set(prebid.ALPHA3)  # every named country has its alpha-3
    assert prebid.tier_countries("1") == sorted(prebid.ALPHA3[c] for c in rules.TIER_1)
    values = group["values"]
    tier1 = [k for k in values if k.startswith("top|*|phone|") and not k.endswith("|*")]
    assert len(tier1) == len(rules.TIER_1) and {values[k] for k in tier1} == {3.25}
    assert values["top|*|phone|*"] == 2.75 and values["*|banner|phone|*"] == 0.9
    assert values["*|*|*|*"] == 2.0 and group["default"] == 2.0
    assert len(values) == 6 + 1 + 6 + 6 + 1 + 6 + 1


@pytest.mark.parametrize(("ad_unit", "media", "device", "country", "expected"), [
    ("top", "banner", "phone", "DEU", 3.25),     # tier 1, fine
    ("top", "banner", "phone", "POL", 2.75),     # tier 3 (any other country), fine
    ("other", "banner", "phone", "ESP", 1.5),    # no fine row: coarse tier 1
    ("other", "banner", "phone", "POL", 0.9),    # coarse tier 3
    ("side", "video", "desktop", "PRT", 1.75),   # tier 2, fine beats the coarse video row
    ("other", "video", "desktop", "NLD", 4.0),   # coarse tier 2
    ("other", "video", "desktop", "USA", 2.0),   # no row of tier 1: static
    ("top", "banner", "tablet", "DEU", 2.0),     # no row for the device: static
])
def test_prebid_matching_reproduces_fine_coarse_static(ad_unit: str, media: str, device: str, country: str,
                                                       expected: float) -> None:
    data, _ = prebid_server_floors_file(FLOORS, DOMAIN, NOW)
    assert prebid.match(data, 0, bid(ad_unit, media, device, country)) == expected


def test_over_max_rules_keeps_coarse_rows_and_the_busiest_fine_segments() -> None:
    floors = [fine(f"unit{i}", "mobile", 1, 3.0 + i / 100, points=i) for i in range(10)]
    floors += [coarse("banner", "standard", "mobile", 1, 1.5)]
    limit = 6 + 1 + 3 * 6  # coarse rows, the catch-all, three fine tier-1 segments
    data, trimmed = prebid_server_floors_file(floors, DOMAIN, NOW, limits=PrebidServerLimits(max_rules=limit))
    values = data["modelGroups"][0]["values"]
    assert len(values) == limit and trimmed == 7
    kept = {k.split("|")[0] for k in values if not k.startswith("*")}
    assert kept == {"unit9", "unit8", "unit7"}  # the most data points
    assert prebid.match(data, 0, bid("unit0", "banner", "phone", "DEU")) == 1.5  # trimmed: its coarse floor
    assert prebid.match(data, 0, bid("unit9", "banner", "phone", "DEU")) == 3.09
    unlimited, none = prebid_server_floors_file(floors, DOMAIN, NOW, limits=PrebidServerLimits(max_rules=0))
    assert none == 0 and len(unlimited["modelGroups"][0]["values"]) == 6 + 1 + 10 * 6


def test_refused_with_the_limit_named() -> None:
    with pytest.raises(PrebidServerRefused, match="4 schema fields") as dims:
        prebid_server_floors_file(FLOORS, DOMAIN, NOW, limits=PrebidServerLimits(max_schema_dims=3))
    assert dims.value.field == "max_schema_dims"
    with pytest.raises(PrebidServerRefused, match="coarse rows") as too_many:
        prebid_server_floors_file(FLOORS, DOMAIN, NOW, limits=PrebidServerLimits(max_rules=10))
    assert too_many.value.field == "max_rules"
    with pytest.raises(PrebidServerRefused, match="modelWeight 1-100"):
        prebid_server_floors_file(FLOORS, DOMAIN, NOW, model_weights={"champion": 150})
    many = [fine(f"a-long-ad-unit-code-{i:04d}", "mobile", 1, 3.0) for i in range(400)]
    with pytest.raises(PrebidServerRefused, match="KB") as size:
        prebid_server_floors_file(many, DOMAIN, NOW, limits=PrebidServerLimits(max_rules=0, max_file_kb=100))
    assert size.value.field == "max_file_kb"


def make_client(tmp_path: Path, **settings: object) -> TestClient:
    holder = FloorsSnapshot("t", None, max_staleness_s=3600, clock=lambda: NOW,
                            derive=prebid.index_floors)
    holder.current = Snapshot.build(FLOORS, loaded_at=NOW, derive=prebid.index_floors)
    app = api.create_app(api.Settings(table="t", access_log="off", **settings), snapshot=holder,  # type: ignore[arg-type]
                         clock=lambda: NOW, background_refresh=False)
    return TestClient(app)


def test_the_endpoint_serves_refuses_and_names_the_reason(tmp_path: Path) -> None:
    with make_client(tmp_path) as c:
        ok = c.get(f"/v2/floors/prebid/{DOMAIN}?client=server")
        assert ok.status_code == 200 and ok.headers["X-Floors-Trimmed-Segments"] == "0"
        assert ok.json()["modelGroups"][0]["schema"]["fields"] == prebid.PBS_SCHEMA_FIELDS
        assert "max-age" in ok.headers["Cache-Control"]
        browser = c.get(f"/v2/floors/prebid/{DOMAIN}").json()
        assert "countryTier" in browser["modelGroups"][0]["schema"]["fields"]  # unchanged for Prebid.js
        assert c.get(f"/v2/floors/prebid/{DOMAIN}?client=other").json()["field"] == "client"
    with make_client(tmp_path, pbs_max_rules=10) as c:
        refused = c.get(f"/v2/floors/prebid/{DOMAIN}?client=server")
        assert refused.status_code == 422 and "Cache-Control" not in refused.headers
        assert refused.json()["error"] == "prebid_server_limit" and refused.json()["field"] == "max_rules"
    settings = api.Settings.from_env({"YIELD_API_PBS_MAX_RULES": "0", "YIELD_API_PBS_MAX_SCHEMA_DIMS": "4",
                                      "YIELD_API_PBS_MAX_FILE_KB": "200", "YIELD_API_TABLE": "t"})
    assert (settings.pbs_max_rules, settings.pbs_max_schema_dims, settings.pbs_max_file_kb) == (0, 4, 200)

"""A domain's floors as a Prebid Floors Module data file (``floorsSchemaVersion: 2``).

Publishers that set floors in the browser point ``floors.endpoint.url`` at
``GET /v2/floors/prebid/{domain}``. The file reproduces the server's lookup order
fine -> coarse -> static with Prebid's own rule matching (see docs/serving.md):

- ``schema.fields`` = ``adUnitCode | mediaType | deviceType | countryTier`` (delimiter ``|``).
  ``adUnitCode`` and ``mediaType`` are Prebid's built-in fields; ``deviceType`` and
  ``countryTier`` are supplied by the page through ``floors.additionalSchemaFields``.
- A fine floor ``domain|ad_unit|device|tier`` becomes the row ``ad_unit|*|deviceType|tier``.
- A coarse floor ``format|inventory|device|tier`` of the page's inventory type becomes the row
  ``*|mediaType|deviceType|tier``: the '*' on adUnitCode makes it the fallback where the ad unit
  has no fine row. Prebid tries rules with fewer '*' first and, among equal counts, the one whose
  leftmost fields are specific, so ``ad_unit|*|d|t`` is tried before ``*|banner|d|t``.
- The row ``*|*|*|*`` and ``default`` are the static floor.
- An ad unit code holding the delimiter (or '*') cannot be written as a Prebid rule (Prebid does
  not escape): its fine rows are left out, and the page gets the coarse row or the default.

Floors are skipped when they expire before the file's cache lifetime is over (``expires_at <=
now + max_age_s``): a browser may keep the file that long.

Champion and challenger: while a live floor of the file carries a challenger floor (and the
challenger has a weight), the file has two model groups, the champion's and the challenger's, with
``modelWeight`` = the arms' weights and ``modelVersion`` = each arm's model version; the
challenger's group holds its floor where the item has one and the champion's elsewhere (as the
API serves a challenger impression). Prebid.js draws one group per auction at random with
probability ``modelWeight / sum of weights``. Otherwise the file has the champion's group alone,
``modelWeight`` 100.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from serving.snapshot import CHALLENGER_ARM, DEFAULT_ARM, Floor
from udfs import rules

SCHEMA_FIELDS = ["adUnitCode", "mediaType", "deviceType", "countryTier"]
DELIMITER = "|"
WILDCARD = "*"
CURRENCY = "EUR"
# Our device_category -> Prebid's deviceType values (as Prebid Server names them).
DEVICE_TYPES = {"mobile": "phone", "tablet": "tablet", "desktop": "desktop"}
# Our format -> Prebid mediaType. "interstitial" has no mediaType of its own in Prebid (it is a
# banner or video with an interstitial flag): its coarse rows are left out, fine rows still apply.
MEDIA_TYPES = {"banner": "banner", "video": "video", "native": "native"}
DEFAULT_MODEL_WEIGHTS: Mapping[str, int] = {DEFAULT_ARM: 80, CHALLENGER_ARM: 20}
SOLE_GROUP_WEIGHT = 100  # the champion's group when there is no challenger group


def split_key(level: str, key: str) -> dict[str, str] | None:
    """The fields of a segment key, or None when they cannot be recovered unambiguously.

    Uses ``rules.split_segment_key`` (the inverse of the key escaping) where the rules module has
    it, else a plain split; either way the result is kept only if ``rules.segment_key`` builds the
    same key back from it, so a key is never misread.
    """
    names = rules.SEGMENT_KEY_FIELDS[level]
    splitter = getattr(rules, "split_segment_key", None)
    parts = splitter(key) if splitter is not None else key.split(rules.KEY_SEPARATOR)
    if len(parts) != len(names):
        return None
    fields = dict(zip(names, parts, strict=True))
    try:
        if rules.segment_key(level, dict(fields)) != key:
            return None
    except (KeyError, TypeError, ValueError):
        return None
    return fields


def _usable(value: str) -> bool:
    """A value Prebid can match in a rule: not empty, no delimiter (Prebid does not escape), not '*'."""
    return bool(value) and DELIMITER not in value and value != WILDCARD


def _rule(*values: str) -> str:
    return DELIMITER.join(values)


Row = tuple[Floor, dict[str, str]]  # a floor and the fields of its key


@dataclass(frozen=True)
class FloorIndex:
    """Floors with their keys split, fine ones by domain: built once per snapshot (in the refresh
    thread, ``FloorsSnapshot(derive=index_floors)``) so a file costs the domain's rows, not the table's."""

    fine_by_domain: Mapping[str, list[Row]]
    coarse: list[Row]

    def rows(self, domain: str) -> list[Row]:
        return [*self.fine_by_domain.get(domain, ()), *self.coarse]


def index_floors(floors: Iterable[Floor]) -> FloorIndex:
    fine: dict[str, list[Row]] = defaultdict(list)
    coarse: list[Row] = []
    for floor in floors:
        fields = split_key(floor.level, floor.segment_key)
        if fields is None:
            continue
        if floor.level == rules.FINE:
            fine[fields["domain"]].append((floor, fields))
        else:
            coarse.append((floor, fields))
    return FloorIndex(dict(fine), coarse)


def group_values(rows: Iterable[Row], domain: str, inventory_type: str, static_floor: float) -> dict[str, float]:
    """The rows of one model group, most specific first (Prebid does not need an order; it helps a reader)."""
    fine: dict[str, float] = {}
    coarse: dict[str, float] = {}
    for floor, fields in rows:
        device = DEVICE_TYPES.get(fields["device_category"])
        if device is None:
            continue
        tier = fields["country_tier"]
        if floor.level == rules.FINE:
            if fields["domain"] == domain and _usable(fields["ad_unit"]):
                fine[_rule(fields["ad_unit"], WILDCARD, device, tier)] = floor.floor_eur
        elif fields["inventory_type"] == inventory_type and fields["format"] in MEDIA_TYPES:
            coarse[_rule(WILDCARD, MEDIA_TYPES[fields["format"]], device, tier)] = floor.floor_eur
    values = dict(sorted(fine.items())) | dict(sorted(coarse.items()))
    values[_rule(*([WILDCARD] * len(SCHEMA_FIELDS)))] = static_floor
    return values


def _model_version(floors: list[Floor], arm: str) -> str:
    """The version that made most of the arm's live floors in the file (one while no swap is under way)."""
    versions = Counter(f.model_version for f in floors if f.model_version)
    return versions.most_common(1)[0][0] if versions else f"{arm}-static"


@dataclass(frozen=True)
class ArmGroup:
    """One model group of the file: its arm, modelWeight, rows and model version."""

    arm: str
    weight: int
    rows: list[Row]
    version: str


def arm_groups(live: list[Row], model_weights: Mapping[str, int]) -> list[ArmGroup]:
    """The champion's and the challenger's groups when a live row has a challenger floor and the
    challenger has a positive weight (an arm of weight 0 gets no group); else the champion's
    alone, weight 100. The challenger's rows hold its floor where the item has one, else the
    champion's."""
    if not model_weights or any(w < 0 for w in model_weights.values()) or sum(model_weights.values()) <= 0:
        raise ValueError("model_weights needs at least one arm with a positive weight")
    challenger_weight = int(model_weights.get(CHALLENGER_ARM, 0))
    challenged = [f for f, _ in live if f.challenger_floor_eur is not None]
    if challenger_weight <= 0 or not challenged:
        return [ArmGroup(DEFAULT_ARM, SOLE_GROUP_WEIGHT, live, _model_version([f for f, _ in live], DEFAULT_ARM))]
    theirs = [(dataclasses.replace(f, floor_eur=f.challenger_floor_eur, model_version=f.challenger_model_version)
               if f.challenger_floor_eur is not None else f, fields) for f, fields in live]
    challenger = ArmGroup(CHALLENGER_ARM, challenger_weight, theirs,
                          _model_version([dataclasses.replace(f, model_version=f.challenger_model_version)
                                          for f in challenged], CHALLENGER_ARM))
    champion_weight = int(model_weights.get(DEFAULT_ARM, 0))
    if champion_weight <= 0:
        return [challenger]
    return [ArmGroup(DEFAULT_ARM, champion_weight, live, _model_version([f for f, _ in live], DEFAULT_ARM)),
            challenger]


def prebid_floors_file(
    floors: Iterable[Floor] | FloorIndex,
    domain: str,
    now: float,
    *,
    static_floor: float = rules.STATIC_FLOOR_EUR,
    floor_min: float = rules.FLOOR_MIN_EUR,
    skip_rate: int = 0,
    model_weights: Mapping[str, int] = DEFAULT_MODEL_WEIGHTS,
    inventory_type: str = "standard",
    max_age_s: float = 0.0,
    floor_provider: str = "predictive-yield",
) -> dict[str, Any]:
    """The Prebid Floors Module data for `domain`: the champion's model group, and the
    challenger's when the domain's live floors carry challenger floors (see ``arm_groups``).

    `floors` is the snapshot's floors, or their ``index_floors``; with no floors the champion's
    group holds the static rows only.
    """
    if not 0 <= skip_rate <= 100:
        raise ValueError(f"skipRate must be within 0-100, got {skip_rate}")
    valid_until = now + max_age_s
    index = floors if isinstance(floors, FloorIndex) else index_floors(floors)
    live = [row for row in index.rows(domain) if row[0].expires_at > valid_until]
    groups = [{
        "modelVersion": group.version,
        "modelWeight": group.weight,
        "schema": {"fields": list(SCHEMA_FIELDS), "delimiter": DELIMITER},
        "values": group_values(group.rows, domain, inventory_type, static_floor),
        "default": static_floor,
    } for group in arm_groups(live, model_weights)]
    return {
        "floorsSchemaVersion": 2,
        "floorProvider": floor_provider,
        "currency": CURRENCY,
        "floorMin": floor_min,
        "skipRate": int(skip_rate),
        "modelGroups": groups,
    }


def match(file: Mapping[str, Any], group_index: int, values: Mapping[str, str]) -> float:
    """The floor Prebid's rule matching picks for one bid request (a reference for the tests and
    docs): candidate rules with the fewest '*' first, ties broken by specific leftmost fields."""
    group = file["modelGroups"][group_index]
    fields = group["schema"]["fields"]
    candidates = [""]
    for name in fields:
        candidates = [c + (DELIMITER if c else "") + v for c in candidates for v in (values[name], WILDCARD)]
    candidates.sort(key=lambda rule: rule.split(DELIMITER).count(WILDCARD))  # stable, as in Prebid.js
    rows = group["values"]
    for rule in candidates:
        if rule in rows:
            return max(float(rows[rule]), float(file.get("floorMin", 0.0)))
    return max(float(group["default"]), float(file.get("floorMin", 0.0)))


# ---------------------------------------------------------------------------------------------- Prebid Server

# Prebid Server (PBS-Java, PBS-Go) reads the same schema-2 file from its account's floors fetch URL,
# with these differences (docs.prebid.org prebid-server/features/pbs-floors; PBS-Java
# PriceFloorRulesValidator, PriceFloorField; PBS-Go config defaults):
# - schema fields are a fixed set; page-supplied fields like countryTier do not exist (an unknown
#   field makes PBS reject the whole file). `country` (ISO 3166-1 alpha-3 of device.geo.country) does,
#   so a tier-1/2 row is written once per country of the tier and a tier-3 row with country '*';
# - a model group with more rules than `fetch.max-rules` (default 1000 in PBS-Go and the docs; 0 =
#   unlimited in PBS-Java) or more schema fields than `fetch.max-schema-dims` (PBS-Java: 5) fails the
#   whole file: the file stays within both or is refused here, with the reason;
# - `modelWeight` must be 1-100; the fetched body is capped at `fetch.max-file-size-kb` (100 in PBS-Go
#   and the docs, 200 in PBS-Java). Floors sent in the request (ext.prebid.floors, a stored request) are
#   held to the account's max-rules 100 and max-schema-dims 3: too few dimensions for this mapping.
PBS_SCHEMA_FIELDS = ["adUnitCode", "mediaType", "deviceType", "country"]
PBS_KNOWN_FIELDS = frozenset({"siteDomain", "pubDomain", "domain", "bundle", "channel", "mediaType", "size",
                              "gptSlot", "pbAdSlot", "adUnitCode", "country", "deviceType", "bidder"})
# ISO 3166-1 alpha-2 (udfs.rules tiers) -> alpha-3 (what Prebid Server's `country` compares with).
ALPHA3 = {"ES": "ESP", "FR": "FRA", "DE": "DEU", "IT": "ITA", "GB": "GBR", "US": "USA",
          "PT": "PRT", "NL": "NLD", "BE": "BEL", "CH": "CHE", "AT": "AUT", "SE": "SWE"}


def tier_countries(tier: str) -> list[str]:
    """The `country` values of a tier's rows: its countries (alpha-3) for tiers 1 and 2; '*' for
    tier 3 (every other country), which Prebid's '*'-last matching tries after the named ones."""
    members = {"1": rules.TIER_1, "2": rules.TIER_2}.get(tier)
    if members is None:
        return [WILDCARD]
    return sorted(ALPHA3[code] for code in members)


@dataclass(frozen=True)
class PrebidServerLimits:
    max_rules: int = 1000  # per model group, the catch-all row included (0: no limit)
    max_schema_dims: int = 5
    max_file_kb: int = 100  # 0: no limit


class PrebidServerRefused(ValueError):
    """The file cannot be written within Prebid Server's limits; `field` names the limit."""

    def __init__(self, field_name: str, message: str):
        super().__init__(message)
        self.field = field_name
        self.message = message


def _pbs_rows(rows: Iterable[Row], domain: str, inventory_type: str
              ) -> tuple[list[tuple[Floor, dict[str, float]]], dict[str, float]]:
    """(fine segments as (floor, their rows)), coarse rows) in Prebid Server's schema."""
    fine: dict[str, tuple[Floor, dict[str, float]]] = {}
    coarse: dict[str, float] = {}
    for floor, fields in rows:
        device = DEVICE_TYPES.get(fields["device_category"])
        if device is None:
            continue
        countries = tier_countries(fields["country_tier"])
        if floor.level == rules.FINE:
            if fields["domain"] == domain and _usable(fields["ad_unit"]):
                fine[floor.segment_key] = (floor, {_rule(fields["ad_unit"], WILDCARD, device, c): floor.floor_eur
                                                   for c in countries})
        elif fields["inventory_type"] == inventory_type and fields["format"] in MEDIA_TYPES:
            for c in countries:
                coarse[_rule(WILDCARD, MEDIA_TYPES[fields["format"]], device, c)] = floor.floor_eur
    return list(fine.values()), dict(sorted(coarse.items()))


def prebid_server_floors_file(
    floors: Iterable[Floor] | FloorIndex,
    domain: str,
    now: float,
    *,
    limits: PrebidServerLimits = PrebidServerLimits(),
    static_floor: float = rules.STATIC_FLOOR_EUR,
    floor_min: float = rules.FLOOR_MIN_EUR,
    skip_rate: int = 0,
    model_weights: Mapping[str, int] = DEFAULT_MODEL_WEIGHTS,
    inventory_type: str = "standard",
    max_age_s: float = 0.0,
    floor_provider: str = "predictive-yield",
) -> tuple[dict[str, Any], int]:
    """(the domain's floors file for Prebid Server's floors fetch, fine segments trimmed).

    Same order as the Prebid.js file (fine -> coarse -> static), with ``country`` for the tier. Over
    ``limits.max_rules`` a group keeps its coarse rows and the catch-all, and the fine segments of most
    ``data_points`` (the busiest; ties by key) whose rows still fit; a trimmed segment gets its coarse
    floor. Raises ``PrebidServerRefused`` when even that does not fit, when the schema needs more
    fields than ``max_schema_dims``, a weight is outside 1-100, or the body is over ``max_file_kb``.
    """
    if len(PBS_SCHEMA_FIELDS) > limits.max_schema_dims:
        raise PrebidServerRefused("max_schema_dims", (
            f"the floors need {len(PBS_SCHEMA_FIELDS)} schema fields ({', '.join(PBS_SCHEMA_FIELDS)}) and "
            f"Prebid Server allows {limits.max_schema_dims}: fewer fields cannot keep fine, coarse and tier apart"))
    if not set(PBS_SCHEMA_FIELDS) <= PBS_KNOWN_FIELDS:
        raise PrebidServerRefused("schema", "a schema field Prebid Server does not know")
    bad = {arm: w for arm, w in model_weights.items() if w > 100}
    if bad:
        raise PrebidServerRefused("model_weights", f"Prebid Server takes modelWeight 1-100, got {bad}")
    if not 0 <= skip_rate <= 100:
        raise ValueError(f"skipRate must be within 0-100, got {skip_rate}")
    valid_until = now + max_age_s
    index = floors if isinstance(floors, FloorIndex) else index_floors(floors)
    live = [row for row in index.rows(domain) if row[0].expires_at > valid_until]
    catch_all = _rule(*([WILDCARD] * len(PBS_SCHEMA_FIELDS)))
    groups, trimmed = [], 0
    for group in arm_groups(live, model_weights):
        fine, coarse = _pbs_rows(group.rows, domain, inventory_type)
        budget = (limits.max_rules or 10**12) - len(coarse) - 1
        if budget < 0:
            raise PrebidServerRefused("max_rules", (
                f"arm {group.arm!r}: {len(coarse)} coarse rows and the catch-all exceed Prebid Server's "
                f"{limits.max_rules} rules per model group; raise fetch.max-rules or serve fewer tiers"))
        values: dict[str, float] = {}
        for _floor, rows in sorted(fine, key=lambda fr: (-(fr[0].data_points or 0), fr[0].segment_key)):
            if len(rows) <= budget:
                values.update(rows)
                budget -= len(rows)
            else:
                trimmed += 1
        values = dict(sorted(values.items())) | coarse
        values[catch_all] = static_floor
        groups.append({
            "modelVersion": group.version,
            "modelWeight": group.weight,
            "schema": {"fields": list(PBS_SCHEMA_FIELDS), "delimiter": DELIMITER},
            "values": values,
            "default": static_floor,
        })
    data = {"floorsSchemaVersion": 2, "floorProvider": floor_provider, "currency": CURRENCY,
            "floorMin": floor_min, "skipRate": int(skip_rate), "modelGroups": groups}
    size = len(json.dumps(data, separators=(",", ":")))
    if limits.max_file_kb and size > limits.max_file_kb * 1024:
        raise PrebidServerRefused("max_file_kb", (
            f"the file is {size / 1024:.0f} KB, over Prebid Server's fetch.max-file-size-kb {limits.max_file_kb}; "
            "lower max_rules so that trimming keeps it smaller"))
    return data, trimmed

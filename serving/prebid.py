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
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from serving.snapshot import DEFAULT_ARM, Floor
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
DEFAULT_MODEL_WEIGHTS: Mapping[str, int] = {DEFAULT_ARM: 100}


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
    """The Prebid Floors Module data for `domain`: one model group per arm of positive weight.

    `floors` is the snapshot's floors, or their ``index_floors``. Each group holds the floors its
    arm made (items without an ``arm`` attribute are the champion's); an arm with no floors yet
    gets the static rows only.
    """
    if not 0 <= skip_rate <= 100:
        raise ValueError(f"skipRate must be within 0-100, got {skip_rate}")
    valid_until = now + max_age_s
    index = floors if isinstance(floors, FloorIndex) else index_floors(floors)
    live = [row for row in index.rows(domain) if row[0].expires_at > valid_until]
    groups = []
    for arm, weight in model_weights.items():
        if weight <= 0:
            continue
        mine = [row for row in live if row[0].arm == arm]
        groups.append({
            "modelVersion": _model_version([floor for floor, _ in mine], arm),
            "modelWeight": int(weight),
            "schema": {"fields": list(SCHEMA_FIELDS), "delimiter": DELIMITER},
            "values": group_values(mine, domain, inventory_type, static_floor),
            "default": static_floor,
        })
    if not groups:
        raise ValueError("model_weights needs at least one arm with a positive weight")
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

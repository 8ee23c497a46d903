"""Business rules of the brief as small pure functions.

Everything here is deterministic and free of I/O, so it is unit-tested on its
own and called unchanged from the job (as SQL-registered Python functions on
aggregated rows, never per event) and from clients such as the A/B replay.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

FLOOR_MIN_EUR = 0.50
FLOOR_MAX_EUR = 10.00
STATIC_FLOOR_EUR = 2.00

TIER_1 = frozenset({"ES", "FR", "DE", "IT", "GB", "US"})
TIER_2 = frozenset({"PT", "NL", "BE", "CH", "AT", "SE"})

PRIME_TIME_HOURS = range(19, 24)  # 19:00 to 23:59 UTC

FINE = "fine"
COARSE = "coarse"
# The event fields that make a segment key at each level, in key order.
SEGMENT_KEY_FIELDS = {
    FINE: ("domain", "ad_unit", "device_category", "country_tier"),
    COARSE: ("format", "inventory_type", "device_category", "country_tier"),
}
KEY_SEPARATOR = "|"
# A separator or escape character inside a field is written with the escape character before
# it, so any field contents give one key and every key splits back into the same fields
# (a domain such as 'a|b' must not become two fields and shift the rest).
KEY_ESCAPE = "\\"


def country_tier(country: str) -> int:
    """1 for the six largest markets, 2 for the next six, 3 for everything else."""
    code = (country or "").upper()
    if code in TIER_1:
        return 1
    if code in TIER_2:
        return 2
    return 3


def is_eu(tier: int) -> bool:
    """The brief defines `is_eu` as tier 1 (not EU membership)."""
    return tier == 1


def is_prime_time(hour_of_day: int) -> bool:
    return hour_of_day in PRIME_TIME_HOURS


def time_fields(event_time: datetime) -> dict[str, int | bool]:
    """Derived time fields in UTC; day_of_week is ISO (Monday 1 .. Sunday 7)."""
    utc = event_time.astimezone(UTC) if event_time.tzinfo else event_time
    day = utc.isoweekday()
    return {
        "hour_of_day": utc.hour,
        "day_of_week": day,
        "is_weekend": day >= 6,
        "is_prime_time": is_prime_time(utc.hour),
    }


def confidence(data_points: int) -> float:
    """More auctions behind a prediction -> trust it closer to its value."""
    if data_points > 1000:
        return 0.95
    if data_points > 100:
        return 0.85
    if data_points > 10:
        return 0.75
    return 0.60


def competition(prime_time: bool, premium: bool) -> float:
    """Demand is stronger at prime time and on premium inventory."""
    if prime_time and premium:
        return 1.10
    if prime_time or premium:
        return 1.05
    return 1.00


def clamp_and_round(value_eur: float) -> float:
    """Clamp to [0.50, 10.00] EUR and round half-up to 4 decimals."""
    clamped = min(max(value_eur, FLOOR_MIN_EUR), FLOOR_MAX_EUR)
    # Decimal on the repr avoids binary artefacts such as 2.00005 -> 2.0 by float rounding.
    return float(Decimal(repr(clamped)).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP))


def floor_price(predicted_cpm_eur: float, data_points: int, prime_time: bool, premium: bool) -> float:
    """floor = predicted CPM x confidence x competition, clamped and rounded."""
    return clamp_and_round(predicted_cpm_eur * confidence(data_points) * competition(prime_time, premium))


def escape_key_part(value: Any) -> str:
    """One field as it appears in a key: the escape character first (so the escapes added for
    separators are not escaped again), then the separator."""
    return str(value).replace(KEY_ESCAPE, KEY_ESCAPE * 2).replace(KEY_SEPARATOR, KEY_ESCAPE + KEY_SEPARATOR)


def join_segment_key(parts: Iterable[Any]) -> str:
    return KEY_SEPARATOR.join(escape_key_part(p) for p in parts)


def split_segment_key(key: str) -> list[str]:
    """The fields of a key, unescaped: the inverse of join_segment_key."""
    parts, current, chars = [], [], iter(key)
    for char in chars:
        if char == KEY_ESCAPE:
            # An escaped character is literal; a lone escape at the very end (not produced by
            # join_segment_key) is kept as it is rather than dropped.
            current.append(next(chars, KEY_ESCAPE))
        elif char == KEY_SEPARATOR:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def segment_key(level: str, event: dict) -> str:
    """The key of the event's segment at a level, e.g. 'video|premium|mobile|1' (coarse)."""
    return join_segment_key(event[name] for name in SEGMENT_KEY_FIELDS[level])


def segment_key_column(frame: Any, level: str) -> Any:
    """segment_key for every row of a pandas DataFrame of events, column-wise (same fields,
    escaping and separator)."""

    def part(name: str) -> Any:
        text = frame[name].astype(str)
        return (text.str.replace(KEY_ESCAPE, KEY_ESCAPE * 2, regex=False)
                .str.replace(KEY_SEPARATOR, KEY_ESCAPE + KEY_SEPARATOR, regex=False))

    names = SEGMENT_KEY_FIELDS[level]
    key = part(names[0])
    for name in names[1:]:
        key = key + KEY_SEPARATOR + part(name)
    return key


def fine_segment_key(domain: str, ad_unit: str, device_category: str, tier: int) -> str:
    return segment_key(FINE, {"domain": domain, "ad_unit": ad_unit, "device_category": device_category,
                              "country_tier": tier})


def coarse_segment_key(ad_format: str, inventory_type: str, device_category: str, tier: int) -> str:
    return segment_key(COARSE, {"format": ad_format, "inventory_type": inventory_type,
                                "device_category": device_category, "country_tier": tier})

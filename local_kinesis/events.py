"""A simple seeded auction-event generator (placeholder until the market simulator lands).

Every field of ``schemas/auction_event.schema.json`` is produced; the auction outcome is
consistent: ``filled`` = top bid >= floor, ``cpm_eur`` = max(second bid, floor) when filled
(second-price auction with the floor as reserve), else null. Same seed -> same events.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from udfs import rules

# Tiers 1 and 2 are the rule's own lists; tier 3 is "everything else": a sample of it here.
TIER_COUNTRIES: dict[int, tuple[str, ...]] = {
    1: tuple(sorted(rules.TIER_1)),
    2: tuple(sorted(rules.TIER_2)),
    3: ("MX", "AR", "CO", "CL", "BR", "PL", "IE", "DK", "MA", "JP"),
}
TIER_SHARE = (0.62, 0.18, 0.20)
# Spanish publisher network: most traffic from Spain.
COUNTRY_WEIGHTS: dict[str, float] = {"ES": 0.55}

DEVICES = ("mobile", "tablet", "desktop")
DEVICE_P = (0.62, 0.08, 0.30)
FORMATS = ("banner", "video", "native", "interstitial")
FORMAT_P = (0.55, 0.12, 0.23, 0.10)
INVENTORY = ("premium", "standard", "remnant")
INVENTORY_P = (0.20, 0.50, 0.30)
DOMAINS = (
    "elnoticiero.example.es",
    "deportesya.example.es",
    "recetasdelabuela.example.es",
    "motorpasion.example.es",
    "viajeros.example.es",
    "tecnoblog.example.es",
    "finanzasclaras.example.es",
    "cinefilos.example.es",
    "modaybelleza.example.es",
    "eltiempo.example.es",
    "futbolhoy.example.es",
    "saludable.example.es",
)
AD_UNITS = ("header", "sidebar", "in_article_1", "in_article_2", "footer", "sticky", "interstitial", "preroll")
BIDDERS = ("appnexus", "rubicon", "pubmatic", "criteo", "ix", "smartadserver", "teads", "adx", "openx", "triplelift")
DEMAND_CHANNELS = ("prebid", "adx", "open_bidding")
DEMAND_P = (0.6, 0.3, 0.1)

# Multipliers on a base CPM (EUR): rough market shape, enough for features to differ by segment.
TIER_CPM = np.array([1.0, 2.6, 1.9, 0.9])  # index by tier (0 unused)
DEVICE_CPM = np.array([0.9, 1.0, 1.2])
FORMAT_CPM = np.array([1.0, 3.2, 1.4, 2.1])
INVENTORY_CPM = np.array([1.6, 1.0, 0.55])
MAX_BIDS = 12
DEFAULT_START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)  # fixed: determinism needs a fixed clock


def _countries() -> tuple[list[str], np.ndarray]:
    names: list[str] = []
    weights: list[float] = []
    for tier, share in zip((1, 2, 3), TIER_SHARE, strict=True):
        members = TIER_COUNTRIES[tier]
        fixed = sum(COUNTRY_WEIGHTS.get(c, 0.0) for c in members)
        rest = [c for c in members if c not in COUNTRY_WEIGHTS]
        for c in members:
            w = COUNTRY_WEIGHTS.get(c, (1.0 - fixed) / len(rest) if tier == 1 else 1.0 / len(members))
            names.append(c)
            weights.append(share * w)
    p = np.array(weights)
    return names, p / p.sum()


def _iso_millis(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def generate_events(
    count: int,
    seed: int = 0,
    start: datetime | None = None,
    events_per_second: float = 500.0,
    *,
    static_floor_share: float = 0.5,
) -> list[dict[str, Any]]:
    """``count`` auction events, times from ``start`` at ``events_per_second`` (Poisson arrivals).

    ``static_floor_share`` of auctions use the ad server's static 2.00 EUR floor; the rest
    a floor near the segment's market price (as a floor model would set it).
    """
    if count < 0:
        raise ValueError("count must be >= 0")
    if events_per_second <= 0:
        raise ValueError("events_per_second must be > 0")
    rng = np.random.default_rng(seed)
    start = (start or DEFAULT_START).astimezone(UTC)

    # Times: exponential inter-arrivals, cumulated; millisecond resolution like the ad server.
    offsets_ms = np.floor(np.cumsum(rng.exponential(1000.0 / events_per_second, count))).astype(np.int64)

    names, country_p = _countries()
    country_ix = rng.choice(len(names), size=count, p=country_p)
    tiers = np.array([rules.country_tier(c) for c in names])[country_ix]
    device_ix = rng.choice(len(DEVICES), size=count, p=DEVICE_P)
    format_ix = rng.choice(len(FORMATS), size=count, p=FORMAT_P)
    inventory_ix = rng.choice(len(INVENTORY), size=count, p=INVENTORY_P)
    domain_ix = rng.integers(0, len(DOMAINS), count)
    unit_ix = rng.integers(0, len(AD_UNITS), count)
    bidder_ix = rng.integers(0, len(BIDDERS), count)
    channel_ix = rng.choice(len(DEMAND_CHANNELS), size=count, p=DEMAND_P)

    engagement = rng.beta(2.0, 3.0, count)
    device_perf = rng.gamma(4.0, 0.25, count)
    ctr = rng.beta(1.5, 120.0, count)

    # Hour of day per event (UTC), vectorised from the start's time of day.
    start_ms_of_day = (start.hour * 3600 + start.minute * 60 + start.second) * 1000 + start.microsecond // 1000
    hours = ((start_ms_of_day + offsets_ms) // 3_600_000) % 24
    prime = (hours >= 19) & (hours <= 23)  # prime time lifts demand
    base = (
        1.1
        * TIER_CPM[tiers]
        * DEVICE_CPM[device_ix]
        * FORMAT_CPM[format_ix]
        * INVENTORY_CPM[inventory_ix]
        * (1.0 + 0.4 * engagement)
        * (1.0 + 0.1 * prime)
    )

    expected_bids = 1.0 + 5.0 * INVENTORY_CPM[inventory_ix] / 1.6 * (tiers == 1) + 2.0 * (tiers != 1)
    bid_count = np.minimum(rng.poisson(expected_bids), MAX_BIDS)
    bids = base[:, None] * rng.lognormal(0.0, 0.55, (count, MAX_BIDS))
    bids[np.arange(MAX_BIDS)[None, :] >= bid_count[:, None]] = -np.inf
    bids = -np.sort(-bids, axis=1)  # descending per auction
    top = np.round(bids[:, 0], 4)
    second = np.round(bids[:, 1], 4)

    dynamic_floor = np.clip(np.round(base * rng.uniform(0.5, 1.1, count), 2), 0.5, 10.0)
    floor = np.where(rng.random(count) < static_floor_share, rules.STATIC_FLOOR_EUR, dynamic_floor)
    filled = (bid_count > 0) & (top >= floor)
    cpm = np.where(bid_count >= 2, np.maximum(second, floor), floor)

    # Unique ids: random-looking (seeded) high bits, the event index in the low 48 bits.
    id_hi = rng.integers(0, 2**63, count, dtype=np.int64)
    events: list[dict[str, Any]] = []
    for i in range(count):
        n_bids = int(bid_count[i])
        is_filled = bool(filled[i])
        events.append(
            {
                "impression_id": f"{int(id_hi[i]):016x}-{seed & 0xFFFF:04x}-{i:012x}",
                "event_time": _iso_millis(start + timedelta(milliseconds=int(offsets_ms[i]))),
                "country": names[country_ix[i]],
                "device_category": DEVICES[device_ix[i]],
                "format": FORMATS[format_ix[i]],
                "inventory_type": INVENTORY[inventory_ix[i]],
                "domain": DOMAINS[domain_ix[i]],
                "ad_unit": AD_UNITS[unit_ix[i]],
                "bidder": BIDDERS[bidder_ix[i]],
                "demand_channel": DEMAND_CHANNELS[channel_ix[i]],
                "user_engagement_score": round(float(engagement[i]), 4),
                "device_performance_score": round(float(device_perf[i]), 4),
                "historical_ctr_avg": round(float(ctr[i]), 5),
                "floor_price_eur": float(floor[i]),
                "bid_count": n_bids,
                "top_bid_eur": float(top[i]) if n_bids >= 1 else None,
                "second_bid_eur": float(second[i]) if n_bids >= 2 else None,
                "filled": is_filled,
                "cpm_eur": round(float(cpm[i]), 4) if is_filled else None,
            }
        )
    return events


def with_duplicates(events: list[dict[str, Any]], share: float, seed: int = 0) -> list[dict[str, Any]]:
    """Re-send ``share`` of the events (same impression_id, as a retrying producer would),
    each copy a little later in the sequence than its original."""
    if not 0.0 <= share <= 1.0:
        raise ValueError("share must be in [0, 1]")
    rng = np.random.default_rng(seed + 1_000_003)
    n = len(events)
    k = round(n * share)
    if k == 0:
        return list(events)
    picks = np.sort(rng.choice(n, size=k, replace=False))
    lag = rng.integers(1, 50, k)
    # Order by (position, is_copy): a copy lands after its original, within ~50 events.
    keyed = [(float(i), 0, e) for i, e in enumerate(events)]
    keyed += [(float(p + lag_i) + 0.5, 1, events[p]) for p, lag_i in zip(picks, lag, strict=True)]
    keyed.sort(key=lambda t: (t[0], t[1]))
    return [e for _, _, e in keyed]


def encode(event: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON, as the ad server publishes one record."""
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode("utf-8")

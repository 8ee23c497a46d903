"""Auction events for the producer, the demo and the tests: a thin front to the market simulator.

``generate_events`` keeps its signature and contract (every schema field, a consistent
second-price outcome, same seed -> same events, times in order at ``events_per_second``) and
delegates to ``simulator.market``, so the demo's traffic has the market's segments.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import numpy as np

from simulator.market import Market, mixed_floor

DEFAULT_START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)  # fixed: determinism needs a fixed clock


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
    a floor near the auction's expected bid (as a floor model would set it).
    """
    if count < 0:
        raise ValueError("count must be >= 0")
    if events_per_second <= 0:
        raise ValueError("events_per_second must be > 0")
    start = (start or DEFAULT_START).astimezone(UTC)
    sim = Market(seed).count(count, start, events_per_second, floor=mixed_floor(static_floor_share), truth=False)
    return sim.records()


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

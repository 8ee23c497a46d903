"""Floor policies: from a view of a segment's market to the floor of its next window.

Two policies, chosen by the property ``Model.floor.policy``:

- ``revenue`` (the default): given expected revenue per auction R(f) and fill F(f) on a grid of
  floors, pick the floor that maximises R subject to
  1. the clamp bounds (the brief's [0.50, 10.00] EUR by default, properties);
  2. a fill guardrail: F(f) >= F(static floor) - ``fill_margin``, so a floor never sells much
     less than the static floor would have;
  3. a move cap: at most ``max_step`` times (or 1 / ``max_step`` of) the segment's previous
     floor per window, so one noisy window cannot swing a floor and a feedback loop cannot run
     away.
  When the guardrail and the cap cannot both hold, the cap wins and, within it, the floor with
  the highest fill is taken (the guardrail is approached, never jumped to).
- ``brief``: the brief's rule, predicted CPM x confidence x competition (``rules.floor_price``),
  kept as a baseline arm. It sets the floor near the mean clearing price, far above the revenue
  optimum; in a second-price market E[max(b2, f) | b1 >= f] >= f makes it ratchet up.

Pure numpy on arrays of segments, no I/O: the job calls it on batches of segment windows, the
A/B replay on whole days.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from udfs import rules

# The floors the revenue policy chooses from (and the simulator's truth is computed on): geometric
# steps of about 6% between the brief's clamp bounds, rounded to cents.
FLOOR_GRID = np.unique(np.round(np.geomspace(rules.FLOOR_MIN_EUR, rules.FLOOR_MAX_EUR, 52), 2))

REVENUE = "revenue"
BRIEF = "brief"
POLICIES = (REVENUE, BRIEF)


@dataclass(frozen=True)
class PolicySettings:
    floor_min_eur: float = rules.FLOOR_MIN_EUR
    floor_max_eur: float = rules.FLOOR_MAX_EUR
    static_floor_eur: float = rules.STATIC_FLOOR_EUR
    fill_margin: float = 0.10  # fill may fall at most this much (absolute) below the static floor's
    max_step: float = 1.5  # a floor moves at most x1.5 or /1.5 per window

    def __post_init__(self) -> None:
        if not 0.0 < self.floor_min_eur <= self.floor_max_eur:
            raise ValueError(f"floor bounds must satisfy 0 < min <= max: {self.floor_min_eur}, {self.floor_max_eur}")
        if not 0.0 <= self.fill_margin <= 1.0:
            raise ValueError(f"fill margin must be in [0, 1], not {self.fill_margin}")
        if self.max_step < 1.0:
            raise ValueError(f"max step must be >= 1 (1 = floors never move), not {self.max_step}")


def revenue_floors(
    grid: np.ndarray,
    revenue: np.ndarray,
    fill: np.ndarray,
    previous: np.ndarray | None = None,
    settings: PolicySettings = PolicySettings(),
) -> np.ndarray:
    """The revenue policy for each row: ``revenue`` and ``fill`` are (rows, len(grid)) expected
    values per auction at each grid floor (ascending grid); ``previous`` the segment's last floor
    (NaN when it has none: no move cap). Returns one floor per row, rounded like every floor."""
    grid = np.asarray(grid, dtype=np.float64)
    revenue = np.atleast_2d(np.asarray(revenue, dtype=np.float64))
    fill = np.atleast_2d(np.asarray(fill, dtype=np.float64))
    rows = revenue.shape[0]
    prev = np.full(rows, np.nan) if previous is None else np.asarray(previous, dtype=np.float64)

    in_bounds = (grid >= settings.floor_min_eur - 1e-9) & (grid <= settings.floor_max_eur + 1e-9)
    if not in_bounds.any():
        raise ValueError(f"no grid floor lies in [{settings.floor_min_eur}, {settings.floor_max_eur}]")
    static_fill = np.array([np.interp(settings.static_floor_eur, grid, f) for f in fill])
    guard = fill >= (static_fill - settings.fill_margin)[:, None] - 1e-12
    has_prev = np.isfinite(prev) & (prev > 0)
    safe_prev = np.where(has_prev, prev, 1.0)[:, None]
    capped = (grid >= safe_prev / settings.max_step - 1e-9) & (grid <= safe_prev * settings.max_step + 1e-9)
    capped |= ~has_prev[:, None]
    reachable = in_bounds & capped
    # A cap that excludes every bounded grid floor (a previous floor far outside the bounds):
    # take the bounded floor nearest to the previous one.
    empty = ~reachable.any(axis=1)
    if empty.any():
        nearest = np.abs(np.log(grid[None, :]) - np.log(safe_prev[empty])) + np.where(in_bounds, 0.0, np.inf)
        reachable[np.flatnonzero(empty), np.argmin(nearest, axis=1)] = True

    allowed = reachable & guard
    best_revenue = np.where(allowed, revenue, -np.inf).argmax(axis=1)
    best_fill = np.where(reachable, fill, -np.inf).argmax(axis=1)
    choice = np.where(allowed.any(axis=1), best_revenue, best_fill)
    return np.array([rules.clamp_and_round(float(grid[i])) for i in choice]) if rows else np.zeros(0)


def brief_floors(predicted_cpm_eur: np.ndarray, data_points: np.ndarray, prime_time: np.ndarray,
                 premium: np.ndarray) -> np.ndarray:
    """The brief's rule for each row (``rules.floor_price``)."""
    return np.array([rules.floor_price(float(c), int(n), bool(p), bool(q))
                     for c, n, p, q in zip(predicted_cpm_eur, data_points, prime_time, premium, strict=True)])


def check_policy(name: str) -> str:
    if name not in POLICIES:
        raise ValueError(f"Model.floor.policy must be one of {POLICIES}, not {name!r}")
    return name

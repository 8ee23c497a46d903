"""The revenue floor policy on hand-built curves: argmax, bounds, fill guardrail, move cap."""

from __future__ import annotations

import numpy as np
import pytest

from udfs.floor_policy import PolicySettings, brief_floors, check_policy, revenue_floors

GRID = np.array([0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 10.0, 12.0])
FLAT_FILL = np.ones(len(GRID))


def peaked(at: int, height: float = 5.0) -> np.ndarray:
    """A revenue curve rising to its maximum at grid index ``at`` and falling after."""
    return height - np.abs(np.arange(len(GRID)) - at) * 0.3


def test_picks_the_revenue_argmax_of_each_row() -> None:
    revenue = np.stack([peaked(1), peaked(5), peaked(7)])
    floors = revenue_floors(GRID, revenue, np.stack([FLAT_FILL] * 3))
    assert floors.tolist() == [1.0, 4.0, 8.0]


def test_clamp_bounds_are_settings() -> None:
    revenue = np.stack([peaked(0), peaked(9)])
    floors = revenue_floors(GRID, revenue, np.stack([FLAT_FILL] * 2))
    assert floors.tolist() == [0.5, 10.0]  # 12.0 is outside the brief's bounds
    narrow = PolicySettings(floor_min_eur=1.5, floor_max_eur=6.0)
    assert revenue_floors(GRID, revenue, np.stack([FLAT_FILL] * 2), settings=narrow).tolist() == [1.5, 6.0]


def test_fill_guardrail_binds_when_the_best_floor_sells_too_little() -> None:
    fill = np.clip(1.2 - 0.1 * np.arange(len(GRID)), 0, 1)  # static (2.00, index 3) sells 0.9
    revenue = peaked(6)[None, :]  # best at 6.00, where fill is 0.6
    strict = revenue_floors(GRID, revenue, fill[None, :], settings=PolicySettings(fill_margin=0.1))
    assert strict.tolist() == [3.0]  # fill 0.8 >= 0.9 - 0.1; 4.00 would sell 0.7
    loose = revenue_floors(GRID, revenue, fill[None, :], settings=PolicySettings(fill_margin=0.5))
    assert loose.tolist() == [6.0]  # the guardrail does not bind


def test_guardrail_does_not_bind_when_the_optimum_sells_more() -> None:
    fill = np.clip(1.2 - 0.1 * np.arange(len(GRID)), 0, 1)
    assert revenue_floors(GRID, peaked(1)[None, :], fill[None, :]).tolist() == [1.0]


def test_move_cap_limits_each_window() -> None:
    revenue = np.stack([peaked(8), peaked(0)])
    floors = revenue_floors(GRID, revenue, np.stack([FLAT_FILL] * 2), previous=np.array([2.0, 6.0]),
                            settings=PolicySettings(max_step=1.5))
    assert floors.tolist() == [3.0, 4.0]  # 2.0 x 1.5 and 6.0 / 1.5
    unbounded = revenue_floors(GRID, revenue, np.stack([FLAT_FILL] * 2), previous=np.array([np.nan, np.nan]))
    assert unbounded.tolist() == [10.0, 0.5]  # no previous floor: no cap


def test_cap_wins_over_guardrail_and_moves_toward_more_fill() -> None:
    fill = np.clip(1.2 - 0.1 * np.arange(len(GRID)), 0, 1)
    floors = revenue_floors(GRID, peaked(8)[None, :], fill[None, :], previous=np.array([10.0]),
                            settings=PolicySettings(max_step=1.5, fill_margin=0.0))
    assert floors.tolist() == [8.0]  # 6.67..15 reachable; guardrail unmet there; highest fill is 8.00


def test_previous_floor_outside_bounds_takes_the_nearest_bounded_floor() -> None:
    floors = revenue_floors(GRID, peaked(3)[None, :], FLAT_FILL[None, :], previous=np.array([40.0]))
    assert floors.tolist() == [10.0]


def test_brief_rule_is_the_rules_formula() -> None:
    got = brief_floors(np.array([3.0, 3.0]), np.array([5000, 50]), np.array([True, False]), np.array([True, False]))
    assert got.tolist() == pytest.approx([3.0 * 0.95 * 1.10, 3.0 * 0.75])


def test_settings_and_policy_names_are_checked() -> None:
    with pytest.raises(ValueError, match="fill margin"):
        PolicySettings(fill_margin=2.0)
    with pytest.raises(ValueError, match="max step"):
        PolicySettings(max_step=0.5)
    with pytest.raises(ValueError, match="Model.floor.policy"):
        check_policy("greedy")
    assert check_policy("brief") == "brief"


def test_model_curves_are_smoothed_by_a_centred_moving_average() -> None:
    from udfs.revenue_curves import SMOOTHING, smooth

    rng = np.random.default_rng(3)
    curves = rng.random((4, 30))
    half = SMOOTHING // 2
    want = np.stack([np.convolve(np.pad(row, half, mode="edge"), np.ones(SMOOTHING) / SMOOTHING, mode="valid")
                     for row in curves])
    np.testing.assert_allclose(smooth(curves), want)
    assert smooth(curves, 1) is curves

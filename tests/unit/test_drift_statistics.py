"""udfs/drift.py: the binned KS statistic brackets scipy's ks_2samp, the grid, levels, baselines."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import ks_2samp

from udfs import drift


def _binned(baseline: np.ndarray, live: np.ndarray, edges: tuple[float, ...]) -> tuple[float, float]:
    return drift.ks_from_counts(drift.cell_counts(baseline, edges), drift.cell_counts(live, edges))


samples = st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=300)
# Samples with repeated values (atoms), some of them on the grid's edges.
rounded = st.lists(st.integers(-50, 50).map(lambda i: i / 4), min_size=1, max_size=300)
edge_sets = st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=80, unique=True).map(
    lambda e: tuple(sorted(e)))


@settings(max_examples=300, deadline=None)
@given(baseline=samples, live=samples, edges=edge_sets)
def test_scipy_statistic_lies_within_the_binning_error(baseline, live, edges):
    statistic, bound = _binned(np.array(baseline), np.array(live), edges)
    exact = ks_2samp(baseline, live).statistic
    assert statistic - 1e-12 <= exact <= statistic + bound + 1e-12


@settings(max_examples=200, deadline=None)
@given(baseline=rounded, live=rounded, step=st.sampled_from([0.25, 0.5, 1.0, 2.5]))
def test_values_on_edges_are_exact(baseline, live, step):
    edges = tuple(np.arange(-20.0, 20.0 + step, step))
    statistic, bound = _binned(np.array(baseline), np.array(live), edges)
    exact = ks_2samp(baseline, live).statistic
    assert statistic - 1e-12 <= exact <= statistic + bound + 1e-12
    if step == 0.25:  # every value sits on an edge: no error at all
        assert bound == 0 and statistic == pytest.approx(exact, abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), feature=st.sampled_from(drift.DRIFT_FEATURES),
       shift=st.floats(0, 0.5), live_size=st.integers(1, 3000))
def test_the_grids_bracket_scipy_on_market_like_values(seed, feature, shift, live_size):
    rng = np.random.default_rng(seed)
    draw = {  # shapes like the simulator's: scores, spread-out prices, counts
        "user_engagement_score": lambda n, s: np.clip(rng.beta(2, 3, n) + s, 0, 1).round(4),
        "device_performance_score": lambda n, s: (rng.gamma(4, 0.25, n) * (1 + s)).round(4),
        "historical_ctr_avg": lambda n, s: (rng.beta(1.5, 120, n) * (1 + s)).round(5),
        "cpm_eur": lambda n, s: np.maximum(2.0, rng.lognormal(0.9 + s, 0.6, n)).round(4),
        "bid_count": lambda n, s: rng.poisson(4 + 4 * s, n),
        "floor_price_eur": lambda n, s: np.where(rng.random(n) < 0.5, 2.0, rng.uniform(0.5, 10 + s, n).round(4)),
    }[feature]
    baseline, live = draw(20_000, 0.0), draw(live_size, shift)
    edges = drift.load_grid([feature])[feature]
    statistic, bound = _binned(baseline, live, edges)
    exact = ks_2samp(baseline, live).statistic
    assert statistic - 1e-12 <= exact <= statistic + bound + 1e-12
    assert bound <= 0.05  # the grids are fine where these values are


def test_integer_feature_is_exact():
    rng = np.random.default_rng(7)
    baseline, live = rng.poisson(3, 4000), rng.poisson(4, 1000)
    statistic, bound = _binned(baseline, live, drift.load_grid(["bid_count"])["bid_count"])
    assert bound == 0
    assert statistic == pytest.approx(ks_2samp(baseline, live).statistic, abs=1e-12)


def test_cells_split_open_intervals_and_edges():
    edges = (1.0, 2.0, 3.0)
    # cells: (-inf,1) [1] (1,2) [2] (2,3) [3] (3,inf)
    counts = drift.cell_counts([-5.0, 1.0, 1.5, 2.5, 3.0, 99.0, float("nan"), None], edges)
    assert list(counts) == [1, 1, 1, 0, 1, 1, 1]


def test_grid_edges_are_the_numbers_written_in_events():
    grid = drift.load_grid()
    assert 0.3 in grid["user_engagement_score"] and 0.0123 in grid["historical_ctr_avg"]
    assert 2.0 in grid["floor_price_eur"] and 2.25 in grid["cpm_eur"] and 0.0101 in grid["cpm_eur"]
    assert grid["bid_count"] == tuple(float(i) for i in range(51))
    assert len(grid["cpm_eur"]) == 4 * 900 + 1  # 3 significant digits over four decades
    for edges in grid.values():
        assert all(b > a for a, b in zip(edges, edges[1:], strict=False))


@pytest.mark.parametrize(
    ("spec", "message"),
    [({"scale": "linear", "min": 0, "max": 1, "step": 0.3}, "must divide"),
     ({"scale": "log", "min": 0.02, "max": 100, "digits": 2}, "powers of ten"),
     ({"scale": "integer", "min": 0.5, "max": 3}, "whole"),
     ({"scale": "cubic", "min": 0, "max": 1}, "not one of"),
     ({"scale": "linear", "min": 1, "max": 1, "step": 0.1}, "below max")],
)
def test_bad_grid_definitions_are_refused(spec, message):
    with pytest.raises(ValueError, match=message):
        drift.grid_edges("f", spec)


def test_an_unknown_feature_has_no_grid(tmp_path: Path):
    with pytest.raises(ValueError, match="no bin grid"):
        drift.load_grid(["no_such_feature"])
    path = tmp_path / "grid.json"
    path.write_text(json.dumps({"features": {"x": {"scale": "integer", "min": 0, "max": 2}}}))
    assert drift.load_grid(["x"], path) == {"x": (0.0, 1.0, 2.0)}


def test_edges_literal_round_trips_exactly():
    edges = drift.load_grid(["cpm_eur"])["cpm_eur"]
    assert tuple(float(e) for e in drift.edges_literal(edges).split(",")) == edges


@pytest.mark.parametrize(
    ("score", "level"),
    [(None, "NO_DATA"), (0.0, "OK"), (0.3, "OK"), (0.31, "INFO"), (0.5, "INFO"), (0.51, "WARNING"),
     (0.7, "WARNING"), (0.71, "CRITICAL"), (1.0, "CRITICAL")],
)
def test_levels_of_the_brief(score, level):
    assert drift.drift_level(score) == level


def _small_grid() -> dict[str, tuple[float, ...]]:
    return {"cpm_eur": (1.0, 2.0, 4.0), "bid_count": (0.0, 1.0, 2.0)}


def test_a_feature_without_live_values_is_no_data_not_zero():
    grid = _small_grid()
    baseline = drift.build_baseline(pd.DataFrame({"cpm_eur": [1.0, 2.0, None], "bid_count": [0, 1, 2]}),
                                    grid, grid)
    live = pd.DataFrame({"cpm_eur": [None, None], "bid_count": [5, 5]})  # no auction filled
    verdict = drift.window_drift_of_events(baseline, live, grid)
    cpm, bids = verdict.features
    assert cpm.status == "NO_DATA" and cpm.statistic is None and cpm.level == "NO_DATA" and cpm.live_count == 0
    assert bids.status == "MEASURED" and bids.statistic == 1.0 and bids.level == "CRITICAL"
    assert verdict.global_score == 1.0  # the mean over the features that had values
    none_at_all = drift.window_drift_of_events(baseline, live.assign(bid_count=None), grid)
    assert none_at_all.global_score is None and none_at_all.level == "NO_DATA"


def test_without_a_baseline_the_window_says_so():
    grid = _small_grid()
    verdict = drift.window_drift(None, {"cpm_eur": [0, 3, 0, 0, 0, 0, 0], "bid_count": None}, grid)
    assert verdict.level == "NO_BASELINE" and verdict.global_score is None
    assert [f.status for f in verdict.features] == ["NO_BASELINE", "NO_BASELINE"]
    assert verdict.features[0].live_count == 3


def test_a_baseline_over_other_edges_is_refused():
    grid = _small_grid()
    other = drift.build_baseline(pd.DataFrame({"cpm_eur": [1.5, 3.0]}), ["cpm_eur"], {"cpm_eur": (1.0, 3.0)})
    verdict = drift.window_drift(other, {"cpm_eur": [0, 1, 0, 0, 0, 0, 0]}, {"cpm_eur": grid["cpm_eur"]})
    assert verdict.features[0].status == "GRID_MISMATCH" and verdict.global_score is None


def test_baseline_round_trips_and_rejects_bad_files():
    rng = np.random.default_rng(1)
    events = pd.DataFrame({f: rng.gamma(2, 1, 500) for f in drift.DRIFT_FEATURES})
    baseline = drift.build_baseline(events)
    again = drift.Baseline.from_json(baseline.to_json())
    assert again == baseline
    assert all(f.size == 500 for f in again.features.values())
    assert set(again.features) == set(drift.DRIFT_FEATURES)
    with pytest.raises(ValueError, match="format_version"):
        drift.Baseline.from_json('{"features": {}}')
    with pytest.raises(ValueError, match="not a column"):
        drift.build_baseline(events.drop(columns=["cpm_eur"]), ["cpm_eur"])

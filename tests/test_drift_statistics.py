"""udfs/drift.py: the binned KS statistic brackets scipy's ks_2samp, levels, baselines."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import ks_2samp

from udfs import drift


def _binned(baseline: np.ndarray, live: np.ndarray, bins: int) -> tuple[float, float]:
    edges = drift.quantile_edges(baseline, bins)
    return drift.ks_from_counts(drift.bin_counts(baseline, edges), drift.bin_counts(live, edges))


samples = st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=300)


@settings(max_examples=300, deadline=None)
@given(baseline=samples, live=samples, bins=st.integers(1, 80))
def test_scipy_statistic_lies_within_the_binning_error(baseline, live, bins):
    statistic, bound = _binned(np.array(baseline), np.array(live), bins)
    exact = ks_2samp(baseline, live).statistic
    assert statistic - 1e-12 <= exact <= statistic + bound + 1e-12


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), shift=st.floats(0, 3), scale=st.floats(0.2, 5), log=st.booleans())
def test_bound_is_small_for_continuous_distributions(seed, shift, scale, log):
    rng = np.random.default_rng(seed)
    baseline = rng.normal(0, 1, 5000)
    live = rng.normal(shift, scale, 2000)
    if log:  # values spanning decades, like CPM: quantile edges need no log transform
        baseline, live = np.exp(baseline), np.exp(live)
    statistic, bound = _binned(baseline, live, 64)
    assert abs(statistic - ks_2samp(baseline, live).statistic) <= bound
    # live values that resemble the baseline spread over many bins: about 1/64 each
    if shift == 0 and scale == 1:
        assert bound < 0.05


def test_integer_feature_is_exact():
    rng = np.random.default_rng(7)
    baseline, live = rng.poisson(3, 4000), rng.poisson(4, 1000)
    statistic, _ = _binned(baseline, live, 64)
    assert statistic == pytest.approx(ks_2samp(baseline, live).statistic, abs=1e-12)


def test_values_outside_the_baseline_range_count_in_the_end_bins():
    edges = drift.quantile_edges([1.0, 2.0, 3.0], 4)
    assert list(drift.bin_counts([-5.0, 1.0, 2.5, 3.0, 99.0, float("nan")], edges)) == [2, 0, 2, 1]


@pytest.mark.parametrize(
    ("score", "level"),
    [(None, "NO_DATA"), (0.0, "OK"), (0.3, "OK"), (0.31, "INFO"), (0.5, "INFO"), (0.51, "WARNING"),
     (0.7, "WARNING"), (0.71, "CRITICAL"), (1.0, "CRITICAL")],
)
def test_levels_of_the_brief(score, level):
    assert drift.drift_level(score) == level


def test_a_feature_without_live_values_has_no_statistic():
    baseline = drift.build_baseline(pd.DataFrame({"cpm_eur": [1.0, 2.0, None]}), ["cpm_eur"])
    result = drift.feature_drift(baseline.features["cpm_eur"], [0] * len(baseline.features["cpm_eur"].counts))
    assert result.statistic is None and not result.has_data and result.live_count == 0
    assert drift.global_drift_score([result]) is None
    present = drift.FeatureDrift("x", 0.4, 0.01, 10, 10)
    assert drift.global_drift_score([result, present]) == 0.4


def test_baseline_round_trips_and_rejects_bad_files():
    rng = np.random.default_rng(1)
    events = pd.DataFrame({f: rng.gamma(2, 1, 500) for f in drift.DRIFT_FEATURES})
    baseline = drift.build_baseline(events)
    again = drift.Baseline.from_json(baseline.to_json())
    assert again == baseline
    assert all(f.size == 500 for f in again.features.values())
    with pytest.raises(ValueError, match="format_version"):
        drift.Baseline.from_json('{"features": {}}')
    with pytest.raises(ValueError, match="not a column"):
        drift.build_baseline(events, ["no_such_field"])

"""A simulated day without drift stays OK in every hourly window, and every binned statistic
brackets scipy's ks_2samp on the raw values.

Offline, through the job's code path after the counting: udfs.drift.window_drift over cell
counts (tests/integration/test_drift_job.py shows the job's JVM counts give the very same statistics).
"""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
from scipy.stats import ks_2samp

from simulator.market import DEFAULT_START, Market
from udfs import drift


def _day(seed: int, start) -> pd.DataFrame:
    return pd.concat([s.frame() for s in Market(seed=seed).span(start, start + timedelta(days=1), 1.0, truth=False)])


def test_a_day_without_drift_is_ok_in_every_window():
    grid = drift.load_grid()
    baseline_events = _day(11, DEFAULT_START - timedelta(days=7))  # the training week's day, same weekday
    baseline = drift.build_baseline(baseline_events)
    live = _day(12, DEFAULT_START)
    hours = pd.to_datetime(live["event_time"]).dt.floor("1h")
    windows = 0
    for _, window in live.groupby(hours):
        verdict = drift.window_drift_of_events(baseline, window, grid)
        assert verdict.level == "OK", (window["event_time"].iloc[0], verdict)
        for feature in verdict.features:
            exact = ks_2samp(baseline_events[feature.feature].dropna(), window[feature.feature].dropna()).statistic
            assert feature.statistic - 1e-12 <= exact <= feature.statistic + feature.error_bound + 1e-12
            assert feature.error_bound <= 0.02, feature
        windows += 1
    assert windows == 24

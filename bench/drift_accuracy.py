"""Accuracy of the binned KS statistic against scipy's ks_2samp, and the state it needs.

Simulated hourly windows (a day without drift, then the same day with each simulator drift in
turn) against a baseline day; per feature: the grid's cells and bytes per window, the largest
error bound, the largest |binned - scipy| (always within the bound), and the mean bound:

    .venv/bin/python -m bench.drift_accuracy
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp

from simulator.market import DEFAULT_START, Drift, Market
from udfs import drift

DRIFTS = (("user_engagement_score", 0.2), ("device_performance_score", 0.5), ("historical_ctr_avg", 0.01),
          ("bid_level_tier_1", 0.5), ("device_mix_mobile", 0.5))


def _day(market: Market, start) -> pd.DataFrame:
    return pd.concat([s.frame() for s in market.span(start, start + timedelta(days=1), 1.0, truth=False)])


def main() -> None:
    grid = drift.load_grid()
    baseline_events = _day(Market(seed=11), DEFAULT_START - timedelta(days=7))
    baseline = drift.build_baseline(baseline_events)
    days = [_day(Market(seed=12), DEFAULT_START)] + [
        _day(Market(seed=12, drifts=[Drift(DEFAULT_START, f, a)]), DEFAULT_START) for f, a in DRIFTS]
    bounds, errors = defaultdict(list), defaultdict(list)
    for live in days:
        for _, window in live.groupby(pd.to_datetime(live["event_time"]).dt.floor("1h")):
            for f in drift.window_drift_of_events(baseline, window, grid).features:
                exact = ks_2samp(baseline_events[f.feature].dropna(), window[f.feature].dropna()).statistic
                bounds[f.feature].append(f.error_bound)
                errors[f.feature].append(abs(exact - f.statistic))
                assert exact <= f.statistic + f.error_bound + 1e-12
    print(f"{len(days) * 24} hourly windows, baseline {len(baseline_events)} events")
    print(f"{'feature':26s} {'cells':>6s} {'bytes':>7s} {'max bound':>10s} {'max |err|':>10s} {'mean bound':>10s}")
    for feature, edges in grid.items():
        cells = 2 * len(edges) + 1
        print(f"{feature:26s} {cells:6d} {8 * cells:7d} {max(bounds[feature]):10.4f} "
              f"{max(errors[feature]):10.4f} {np.mean(bounds[feature]):10.4f}")
    total = sum(2 * len(e) + 1 for e in grid.values())
    print(f"{'all features':26s} {total:6d} {8 * total:7d}   (per window, whatever the traffic)")


if __name__ == "__main__":
    main()

"""The drift modes: calibrated thresholds (held to scipy's Kolmogorov law), their fit, pooling of
small segments, verdicts of both modes and the Monitoring.drift.* properties."""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from flink_jobs.config import ConfigError, load_config, write_properties
from udfs import drift
from udfs.drift_thresholds import (
    CALIBRATED,
    NO_CALIBRATION,
    SEED,
    Calibration,
    DriftSettings,
    FeatureCalibration,
    SeedLevels,
    WindowStatistic,
    calibrated_level,
    effective_size,
    fit_feature,
    highest_level,
    kolmogorov_isf,
    kolmogorov_sf,
    per_window_probability,
    pool_segments,
)

MONDAY = datetime(2026, 1, 5, tzinfo=UTC)
SATURDAY = MONDAY + timedelta(days=5)
FLAT = (tuple([0.0] * 24), tuple([0.0] * 24))


@pytest.mark.parametrize("x", [0.3, 0.5, 0.83, 1.0, 1.36, 1.63, 2.0, 3.0])
def test_kolmogorov_survival_matches_scipy(x: float):
    assert kolmogorov_sf(x) == pytest.approx(stats.kstwobign.sf(x), rel=1e-9, abs=1e-14)


@pytest.mark.parametrize("p", [0.5, 0.1, 0.05, 0.01, 1e-4, 1e-7])
def test_kolmogorov_quantile_matches_scipy(p: float):
    assert kolmogorov_isf(p) == pytest.approx(stats.kstwobign.isf(p), rel=1e-9)


def test_threshold_without_offset_is_the_asymptotic_ks_critical_value():
    """Offset 0 and scale 1: exactly the D at which scipy's asymptotic two-sample p-value is p."""
    cal = FeatureCalibration("x", FLAT, 1.0, 100)
    n, m, p = 5_000, 50_000, 0.05
    t = cal.threshold(MONDAY, n, m, p)
    assert stats.kstwobign.sf(t * math.sqrt(n * m / (n + m))) == pytest.approx(p, rel=1e-6)
    # The brief's figures: ~0.06 for 1,000 vs 1,000 and ~0.02 for 5,000 vs 50,000 at 5%.
    assert cal.threshold(MONDAY, 1_000, 1_000, p) == pytest.approx(0.0607, abs=5e-4)
    assert t == pytest.approx(0.0200, abs=5e-4)


def test_threshold_on_same_distribution_samples_holds_the_rate():
    """On two samples of one distribution, scipy's KS statistic exceeds the threshold about p of the time."""
    rng = np.random.default_rng(3)
    cal = FeatureCalibration("x", FLAT, 1.0, 100)
    n, m, p, runs = 400, 4_000, 0.1, 400
    t = cal.threshold(MONDAY, n, m, p)
    over = sum(stats.ks_2samp(rng.normal(size=n), rng.normal(size=m)).statistic > t for _ in range(runs))
    assert abs(over / runs - p) < 0.05


def test_offsets_by_hour_and_day_type_and_scale():
    offsets = (tuple(0.01 * h for h in range(24)), tuple(0.1 for _ in range(24)))
    cal = FeatureCalibration("x", offsets, 2.0, 100)
    base = FeatureCalibration("x", FLAT, 1.0, 100)
    extra = base.threshold(MONDAY, 1000, 10_000, 0.01)
    assert cal.threshold(MONDAY + timedelta(hours=5), 1000, 10_000, 0.01) == pytest.approx(0.05 + 2 * extra)
    assert cal.threshold(SATURDAY + timedelta(hours=5), 1000, 10_000, 0.01) == pytest.approx(0.1 + 2 * extra)
    # More values, a narrower threshold; a smaller false-alarm probability, a wider one.
    assert base.threshold(MONDAY, 10_000, 10_000, 0.01) < extra < base.threshold(MONDAY, 1000, 10_000, 0.001)


def test_per_window_probability_spreads_the_daily_rate():
    assert per_window_probability(0.1, 3600, 6) == pytest.approx(0.1 / (24 * 6))
    assert per_window_probability(1.0, 600, 2) == pytest.approx(1.0 / (144 * 2))
    assert per_window_probability(1000, 3600, 1) == 0.5  # capped
    with pytest.raises(ValueError):
        per_window_probability(0.0, 3600, 6)
    assert effective_size(1000, 1000) == 500


def _windows(offset_of_hour, n: int, m: int, days: int, rng, scale: float = 1.0) -> list[WindowStatistic]:
    """Synthetic calibration windows: D = offset(hour) + scale * K / sqrt(n_eff), K ~ Kolmogorov."""
    out = []
    for day in range(days):
        for hour in range(24):
            start = MONDAY + timedelta(days=day, hours=hour)
            k = float(stats.kstwobign.rvs(random_state=rng))
            out.append(WindowStatistic(start, offset_of_hour(hour) + scale * k / math.sqrt(n * m / (n + m)), n, m))
    return out


def test_fit_recovers_offsets_and_a_unit_scale_under_the_law():
    rng = np.random.default_rng(5)
    n, m = 20_000, 1_000_000
    cal = fit_feature("cpm", _windows(lambda h: 0.15 if h < 6 else 0.02, n, m, 35, rng))
    noise = 1 / math.sqrt(n * m / (n + m))
    assert cal.offsets[0][3] == pytest.approx(0.15, abs=0.3 * noise)
    assert cal.offsets[0][12] == pytest.approx(0.02, abs=0.3 * noise)
    assert cal.scale == pytest.approx(1.0, abs=0.25)


def test_fit_widens_the_scale_for_overdispersed_residuals_and_fills_missing_hours():
    rng = np.random.default_rng(6)
    weekdays = [w for w in _windows(lambda h: 0.0, 5_000, 100_000, 5, rng, scale=3.0)]
    cal = fit_feature("x", weekdays)
    assert cal.scale > 2.0
    assert cal.offsets[1] == tuple([max(cal.offsets[0])] * 24)  # no weekend seen: the largest offset
    with pytest.raises(ValueError, match="at least 24"):
        fit_feature("x", weekdays[:10])


def test_calibration_round_trips_through_the_baseline_json():
    grid = {"bid_count": (0.0, 1.0, 2.0)}
    cal = Calibration(3600, {"bid_count": FeatureCalibration("bid_count", FLAT, 1.5, 48)}, 14, "sim")
    base = drift.Baseline({"bid_count": drift.FeatureBaseline("bid_count", grid["bid_count"], (1, 2, 3, 4, 5, 6, 7))},
                          cal)
    again = drift.Baseline.from_json(base.to_json())
    assert again == base
    assert drift.Baseline.from_json(drift.Baseline(base.features).to_json()).calibration is None
    broken = json.loads(base.to_json())
    broken["calibration"]["features"]["bid_count"]["scale"] = 0.5
    with pytest.raises(ValueError, match="scale"):
        drift.Baseline.from_json(json.dumps(broken))
    broken["calibration"]["window_s"] = 7
    with pytest.raises(ValueError, match="window_s"):
        drift.Baseline.from_json(json.dumps(broken))


GRID = {"bid_count": (0.0, 1.0, 2.0), "cpm_eur": (1.0, 2.0, 3.0)}


def _baseline(calibration: Calibration | None) -> drift.Baseline:
    counts = (0, 1000, 0, 1000, 0, 1000, 0)
    return drift.Baseline({f: drift.FeatureBaseline(f, e, counts) for f, e in GRID.items()}, calibration)


def _calibration(window_s: int = 3600) -> Calibration:
    return Calibration(window_s, {f: FeatureCalibration(f, FLAT, 1.0, 48) for f in GRID}, 7, "test")


HOUR = (MONDAY, MONDAY + timedelta(hours=1))
CALM = (0, 100, 0, 100, 0, 100, 0)  # the baseline's shape: statistic 0
SHIFTED = (0, 0, 0, 150, 0, 150, 0)  # statistic 1/3


def test_calibrated_mode_levels_min_count_and_missing_calibration():
    settings = DriftSettings(mode=CALIBRATED, min_count=200)
    verdict = drift.window_drift(_baseline(_calibration()), {"bid_count": SHIFTED, "cpm_eur": CALM}, GRID, settings,
                                 HOUR)
    by = {f.feature: f for f in verdict.features}
    assert by["bid_count"].level == "CRITICAL" and by["cpm_eur"].level == "OK"
    assert verdict.level == "CRITICAL"  # the highest level of any feature
    assert by["cpm_eur"].threshold == pytest.approx(
        FeatureCalibration("x", FLAT, 1.0, 1).threshold(MONDAY, 300, 3000, per_window_probability(0.1, 3600, 2)))
    # Below the minimum sample size: NO_DATA, no statistic, nothing to publish.
    small = drift.window_drift(_baseline(_calibration()), {"bid_count": (0, 50, 0, 50, 0, 60, 0), "cpm_eur": CALM},
                               GRID, settings, HOUR)
    assert [f.status for f in small.features] == ["NO_DATA", "MEASURED"]
    assert small.features[0].statistic is None and small.features[0].live_count == 160
    # No calibration, or one for another window length: NO_CALIBRATION, not the seed's levels.
    for base, window in ((_baseline(None), HOUR), (_baseline(_calibration(600)), HOUR)):
        v = drift.window_drift(base, {"bid_count": SHIFTED, "cpm_eur": CALM}, GRID, settings, window)
        assert v.level == NO_CALIBRATION and {f.level for f in v.features} == {NO_CALIBRATION}
    assert drift.window_drift(None, {"bid_count": SHIFTED}, GRID, settings, HOUR).level == "NO_BASELINE"
    with pytest.raises(ValueError, match="window"):
        drift.window_drift(_baseline(_calibration()), {}, GRID, settings)


def test_seed_mode_uses_the_configured_levels():
    live = {"bid_count": SHIFTED, "cpm_eur": SHIFTED}  # both 1/3, mean 1/3
    assert drift.window_drift(_baseline(None), live, GRID).level == "INFO"  # the brief's 0.3
    strict = DriftSettings(mode=SEED, seed=SeedLevels(0.1, 0.2, 0.3))
    verdict = drift.window_drift(_baseline(None), live, GRID, strict, HOUR)
    assert verdict.level == "CRITICAL" and {f.level for f in verdict.features} == {"CRITICAL"}
    assert verdict.features[0].threshold == 0.2


def test_calibrated_level_critical_needs_the_rarer_threshold():
    cal = FeatureCalibration("x", FLAT, 1.0, 48)
    settings = DriftSettings(mode=CALIBRATED, warning_per_day=1.0, critical_per_day=0.01)
    w = cal.threshold(MONDAY, 1000, 10_000, per_window_probability(1.0, 3600, 6))
    c = cal.threshold(MONDAY, 1000, 10_000, per_window_probability(0.01, 3600, 6))
    for statistic, level in ((w * 0.99, "OK"), ((w + c) / 2, "WARNING"), (c * 1.01, "CRITICAL")):
        assert calibrated_level(cal, statistic, MONDAY, 1000, 10_000, settings, 3600, 6).level == level
    assert highest_level(["OK", "NO_DATA", "WARNING"]) == "WARNING" and highest_level(["NO_DATA"]) is None


def test_pooling_small_segments_into_their_coarse_segment():
    counts = {"a|1": [0, 600, 0], "a|2": [0, 30, 10], "a|3": [5, 0, 0], "b|1": [0, 20, 0], "b|2": [1, 1, 1]}
    coarse = {"a|1": "A", "a|2": "A", "a|3": "A", "b|1": "B", "b|2": "B"}
    units, pooled = pool_segments(counts, coarse, min_count=100)
    assert (units["a|1"].unit, units["a|1"].level, units["a|1"].count) == ("a|1", "fine", 600)
    assert (units["a|2"].unit, units["a|2"].level, units["a|2"].count) == ("A", "coarse", 645)
    assert units["a|3"].unit == "A"
    assert (units["b|1"].unit, units["b|1"].level, units["b|1"].count) == (None, "NO_DATA", 23)
    assert set(pooled) == {"A"} and pooled["A"].tolist() == [5, 630, 10]
    with pytest.raises(ValueError):
        pool_segments(counts, coarse, min_count=0)


def test_settings_validation():
    with pytest.raises(ValueError):
        SeedLevels(0.5, 0.3, 0.7)
    with pytest.raises(ValueError):
        DriftSettings(mode="strict")
    with pytest.raises(ValueError):
        DriftSettings(warning_per_day=0.01, critical_per_day=0.1)


def test_drift_properties_load(tmp_path: Path):
    path = write_properties(tmp_path / "p.json", {"Monitoring": {
        "drift.mode": "calibrated", "drift.false.alarms.per.day": "0.5", "drift.critical.false.alarms.per.day": "0.05",
        "drift.min.count": "250", "drift.seed.warning": "0.4"}})
    settings = load_config(path).monitoring.drift
    assert (settings.mode, settings.warning_per_day, settings.critical_per_day, settings.min_count) == (
        CALIBRATED, 0.5, 0.05, 250)
    assert settings.seed == SeedLevels(0.3, 0.4, 0.7)
    assert load_config(write_properties(tmp_path / "q.json", {})).monitoring.drift == DriftSettings()


@pytest.mark.parametrize(("key", "value", "named"), [
    ("drift.mode", "strict", "Monitoring.drift.mode"),
    ("drift.false.alarms.per.day", "0", "Monitoring.drift.false.alarms.per.day"),
    ("drift.false.alarms.per.day", "often", "Monitoring.drift.false.alarms.per.day"),
    ("drift.critical.false.alarms.per.day", "5", "Monitoring.drift.critical.false.alarms.per.day"),
    ("drift.min.count", "0", "Monitoring.drift.min.count"),
    ("drift.seed.critical", "1.5", "Monitoring.drift.seed.critical"),
    ("drift.seed.info", "0.6", "Monitoring.drift.seed.info"),
])
def test_bad_drift_property_is_named(tmp_path: Path, key: str, value: str, named: str):
    path = write_properties(tmp_path / "p.json", {"Monitoring": {key: value}})
    with pytest.raises(ConfigError, match=re.escape(named)):
        load_config(path)

"""python -m training.drift_calibration: the thresholds are written into the baseline they were
calibrated against, the job's baseline source reads them back, and the calibrated verdict uses them."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from simulator.market import DEFAULT_START, Drift
from training import baseline as baseline_cli
from training import drift_calibration
from udfs import drift, drift_monitor, model_store
from udfs.drift_thresholds import CALIBRATED, DriftSettings

FEATURES = ("user_engagement_score", "bid_count")


def _grid():
    return drift.load_grid(FEATURES)


def _baseline(days: int = 1) -> drift.Baseline:
    grid = _grid()
    totals = None
    for _, _, live in drift_calibration.simulated_windows(3, DEFAULT_START - timedelta(days=7), days, 2.0, grid, 3600):
        totals = live if totals is None else {f: totals[f] + live[f] for f in grid}
    return drift.Baseline({f: drift.FeatureBaseline(f, grid[f], tuple(int(c) for c in totals[f])) for f in grid})


def test_calibration_command_writes_into_the_lake_baseline(tmp_path: Path, capsys: pytest.CaptureFixture):
    lake = tmp_path.as_uri()
    baseline_cli.write_lake_baseline(lake, _baseline())
    code = drift_calibration.main(["--lake", lake, "--lake-baseline", "--days", "2", "--rate", "2", "--seed", "4"])
    assert code == 0, capsys.readouterr().err
    version, found = drift_monitor.BaselineSource(lake).current()
    assert version == "lake-baseline" and found.calibration is not None
    assert found.calibration.window_s == 3600 and set(found.calibration.features) == set(FEATURES)
    assert found.features == _baseline().features  # the counts are untouched
    assert "scale" in capsys.readouterr().out

    # The job's verdict with the calibration: a drift-free hour is OK, an engagement collapse is not.
    grid, settings = _grid(), DriftSettings(mode=CALIBRATED, min_count=100)
    quiet = list(drift_calibration.simulated_windows(9, DEFAULT_START, 1, 2.0, grid, 3600))[12]
    shift = DEFAULT_START + timedelta(hours=12)
    shifted = list(drift_calibration.simulated_windows(9, DEFAULT_START, 1, 2.0, grid, 3600,
                                                       [Drift(shift, "user_engagement_score", -1.0)]))[12]
    assert drift.window_drift(found, quiet[2], grid, settings, quiet[:2]).level == "OK"
    verdict = drift.window_drift(found, shifted[2], grid, settings, shifted[:2])
    assert verdict.level == "CRITICAL"
    rows = list(drift_monitor.drift_rows("lake-baseline", verdict, grid))
    assert all(len(r) == len(drift_monitor.RECORD_FIELDS) for r in rows)
    assert rows[0][-1] == verdict.features[0].threshold and 0 < rows[0][-1] < 0.2


def test_calibration_of_a_model_version_reaches_every_slot_holding_it(tmp_path: Path):
    lake = tmp_path.as_uri()
    text = _baseline().to_json().encode()
    for slot in ("challenger", "current"):
        model_store.write_bytes(model_store.join(model_store.slot_uri(lake, slot, "v1"), "baseline.json"), text)
    model_store.write_manifest(lake, "v1")
    assert drift_calibration.main(["--lake", lake, "--days", "2", "--rate", "2"]) == 0
    for slot in ("challenger", "current"):
        raw = model_store.read_bytes(model_store.join(model_store.slot_uri(lake, slot, "v1"), "baseline.json"))
        assert drift.Baseline.from_json(raw.decode()).calibration is not None


def test_calibration_without_a_baseline_says_so(tmp_path: Path, capsys: pytest.CaptureFixture):
    assert drift_calibration.main(["--lake", tmp_path.as_uri(), "--lake-baseline", "--days", "1"]) == 2
    assert "no baseline" in capsys.readouterr().err

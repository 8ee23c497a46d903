"""udfs/drift_monitor.py and the lake baseline: where the baseline comes from, what is published."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from simulator.market import Market, backfill
from training import baseline as baseline_cli
from udfs import drift, drift_monitor, model_store
from udfs.aws import aws_client

GRID = {"cpm_eur": (1.0, 2.0, 4.0), "bid_count": (0.0, 1.0, 2.0)}


def _baseline(cpm: list[float]) -> drift.Baseline:
    return drift.build_baseline(pd.DataFrame({"cpm_eur": cpm, "bid_count": [1] * len(cpm)}), GRID, GRID)


def test_model_baseline_first_then_lake_baseline_then_none(tmp_path: Path):
    lake = tmp_path.as_uri()
    source = drift_monitor.BaselineSource(lake)
    assert source.current() == (None, None)
    lake_baseline = _baseline([1.5, 3.0])
    baseline_cli.write_lake_baseline(lake, lake_baseline)
    assert source.current() == ("lake-baseline", lake_baseline)
    # A model is promoted: its baseline wins, and a swap is seen at the next window.
    for version, cpm in (("v1", [0.5, 0.7]), ("v2", [5.0, 6.0])):
        model_store.write_bytes(model_store.join(lake, model_store.CURRENT, version, model_store.BASELINE_FILE),
                                _baseline(cpm).to_json().encode())
        model_store.write_manifest(lake, version)
        assert source.current() == (version, _baseline(cpm))


def test_an_unreadable_baseline_is_no_baseline_not_a_failure(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    lake = tmp_path.as_uri()
    model_store.write_bytes(drift_monitor.lake_baseline_uri(lake), b"{not json")
    assert drift_monitor.BaselineSource(lake).current() == (None, None)
    assert "unreadable" in caplog.text


def test_metric_data_skips_features_without_a_statistic():
    base = _baseline([1.5, 3.0, 3.0])
    verdict = drift.window_drift(base, {"cpm_eur": [0, 0, 0, 0, 0, 0, 4], "bid_count": None}, GRID)
    when = datetime(2026, 11, 25, 12, tzinfo=UTC)
    data = drift_monitor.metric_data(verdict, when)
    assert data == [
        {"MetricName": "GlobalDriftScore", "Value": 1.0, "Timestamp": when, "Unit": "None"},
        {"MetricName": "FeatureDriftScore", "Value": 1.0, "Timestamp": when, "Unit": "None",
         "Dimensions": [{"Name": "FeatureName", "Value": "cpm_eur"}]},
    ]  # bid_count had no value: no data point, not a zero
    assert drift_monitor.metric_data(drift.window_drift(None, {}, GRID), when) == []


def test_metric_timestamps_stay_where_cloudwatch_accepts_them():
    now = datetime(2026, 11, 25, 12, tzinfo=UTC)
    assert drift_monitor.metric_timestamp(now - timedelta(hours=1), now) == now - timedelta(hours=1)
    assert drift_monitor.metric_timestamp(now - timedelta(days=200), now) == now - drift_monitor.METRIC_MAX_AGE
    assert drift_monitor.metric_timestamp(now + timedelta(days=1), now) == now + drift_monitor.METRIC_MAX_AHEAD


def test_publish_batches_and_survives_an_unreachable_endpoint(running_standins: None, caplog):
    namespace = f"SSMAS/YieldPredictor/Drift-unit-{datetime.now(UTC).timestamp():.0f}"
    cloudwatch = aws_client("cloudwatch", "http://127.0.0.1:5055", "eu-west-1")
    now = datetime.now(UTC)
    data = [{"MetricName": "FeatureDriftScore", "Value": i / 2500, "Timestamp": now, "Unit": "None",
             "Dimensions": [{"Name": "FeatureName", "Value": f"f{i % 3}"}]} for i in range(2500)]
    assert drift_monitor.publish(cloudwatch, namespace, data)  # three requests of <= 1000
    listed = cloudwatch.list_metrics(Namespace=namespace)["Metrics"]
    assert sorted(m["Dimensions"][0]["Value"] for m in listed) == ["f0", "f1", "f2"]
    down = drift_monitor.cloudwatch_client({"region": "eu-west-1", "endpoint": "http://127.0.0.1:5159",
                                            "credentials": {}, "max_attempts": 2})
    assert not drift_monitor.publish(down, namespace, data[:5])
    assert "5 data points lost" in caplog.text


def test_lake_baseline_cli_reads_raw_and_writes_where_the_job_looks(tmp_path: Path, capsys):
    lake = (tmp_path / "lake").as_uri()
    start = datetime(2026, 3, 2, 10, tzinfo=UTC)
    backfill(Market(seed=3), lake, start, 1 / 24, mean_rate=1.0)
    assert baseline_cli.main(["--lake", lake]) == 0
    written = drift.Baseline.from_json(model_store.read_bytes(drift_monitor.lake_baseline_uri(lake)).decode())
    raw = pd.read_parquet(f"{tmp_path}/lake/raw")
    assert written == drift.build_baseline(raw)
    assert written.features["bid_count"].size == len(raw)
    assert baseline_cli.main(["--lake", (tmp_path / "empty").as_uri()]) == 2
    assert "no raw events" in capsys.readouterr().err


@pytest.mark.parametrize(("value", "message"), [
    ("cpm_eur,no_such_feature", "no bin grid"), ("cpm_eur,cpm_eur", "repeated"), ("cpm_eur,", "no bin grid")])
def test_a_bad_feature_list_stops_the_job_naming_the_property(tmp_path: Path, value: str, message: str):
    from flink_jobs.config import ConfigError, load_config, write_properties

    path = write_properties(tmp_path / "p.json", {"Monitoring": {"drift.features": value}})
    with pytest.raises(ConfigError, match=f"Monitoring.drift.features.*{message}"):
        load_config(path)

"""Drift in the real job: simulated traffic with drift injected at a known time goes through
kinesis-local and the real Flink job; its drift records, its CloudWatch metrics (moto) and its
operational Flink metrics (read from the job's REST API) are checked against an independent
recomputation of the same windows (udfs.drift over the events, in pandas)."""

from __future__ import annotations

import json
import time
import urllib.request
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from flink_jobs.config import AppConfig
from flink_jobs.pipeline import kinesis_source_options
from local_runs.runner import RunningJob, start_job
from simulator.bad_records import bad_records
from simulator.market import Drift, Market
from simulator.producer import produce
from training import lake
from training.baseline import write_lake_baseline
from udfs import drift
from udfs.aws import aws_client

pytestmark = pytest.mark.e2e

REST_PORT = 5151  # this engineer's range; the job's REST API, to read its metrics
WINDOW = timedelta(seconds=10)
SHIFT_AT = timedelta(seconds=35)  # inside a window: the first full window after it is [40 s, 50 s)
UNFILLED_WINDOW = 6  # every auction of the window [60 s, 70 s) goes unfilled: cpm_eur has no value
DRIFTS = (("user_engagement_score", 0.6), ("device_performance_score", 1.5), ("historical_ctr_avg", 0.03),
          ("bid_level_tier_1", 3.0), ("bid_level_tier_2", 3.0), ("bid_level_tier_3", 3.0))
# Bid levels x4 move the prices, and the bids counted too: only bids that reach the floor are
# received (simulator/bidders.py), so more of them do.
MOVED = {"user_engagement_score", "device_performance_score", "historical_ctr_avg", "cpm_eur", "bid_count"}


def _events(t0: datetime) -> list[dict]:
    market = Market(seed=5, drifts=[Drift(t0 + SHIFT_AT, f, a) for f, a in DRIFTS])
    events = market.count(7_000, t0, 100, truth=False).records()
    for event in events:
        if t0 + UNFILLED_WINDOW * WINDOW <= datetime.fromisoformat(event["event_time"]) < t0 + (
            UNFILLED_WINDOW + 1
        ) * WINDOW:
            event["filled"], event["cpm_eur"] = False, None
    return events


def _oracle(events: list[dict], baseline: drift.Baseline, grid: dict) -> dict[pd.Timestamp, drift.WindowDrift]:
    frame = pd.DataFrame(events)
    start = pd.to_datetime(frame["event_time"]).dt.tz_localize(None).dt.floor("10s")
    return {ws: drift.window_drift_of_events(baseline, group, grid) for ws, group in frame.groupby(start)}


def _job_metrics(job: RunningJob) -> Counter:
    """The job's kinesisanalytics counters, summed over subtasks, by '<dimensions>.<name>'."""
    base = f"http://127.0.0.1:{REST_PORT}/jobs/{job.job_id}"
    totals: Counter = Counter()
    with urllib.request.urlopen(base, timeout=10) as response:
        vertices = json.load(response)["vertices"]
    for vertex in vertices:
        url = f"{base}/vertices/{vertex['id']}/subtasks/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            names = [m["id"] for m in json.load(response) if ".kinesisanalytics." in m["id"]]
        if not names:
            continue
        with urllib.request.urlopen(f"{url}?agg=sum&get={','.join(names)}", timeout=10) as response:
            for metric in json.load(response):
                totals[metric["id"].split(".kinesisanalytics.", 1)[1]] += int(float(metric["sum"]))
    return totals


def _wait(predicate, timeout_s: float, what: str, job: RunningJob) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        job.assert_running()
        assert time.monotonic() < deadline, f"timed out after {timeout_s:.0f} s waiting for {what}"
        time.sleep(1.0)


@pytest.fixture
def drift_config(job_config: AppConfig) -> AppConfig:
    # Its own namespace: the CloudWatch stand-in is shared by every test and engineer.
    namespace = f"SSMAS/YieldPredictor/Drift-test-{job_config.floors.table_name}"
    return replace(job_config, monitoring=replace(job_config.monitoring, namespace=namespace))


def test_injected_drift_is_detected_in_the_first_full_window(drift_config: AppConfig, tmp_path: Path):
    config, grid = drift_config, drift.load_grid(drift_config.monitoring.drift_features)
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    t0 -= timedelta(seconds=t0.second % 10)
    baseline_events = Market(seed=1).count(20_000, t0 - timedelta(hours=2), 100, truth=False).frame()
    baseline = drift.build_baseline(baseline_events)
    write_lake_baseline(config.lake.path, baseline)

    events = _events(t0)
    bad = bad_records(events[0])[:4]
    kinesis = aws_client("kinesis", config.stream.endpoint, config.stream.region)
    payloads = [json.dumps(e).encode() for e in events] + [p for p, _ in bad]
    assert produce(kinesis, config.stream.stream_arn, payloads).records_sent == len(payloads)

    job = start_job(config, kinesis_source_options(config), tmp_path / "job", {"rest.port": str(REST_PORT)})
    try:
        job.wait_running()
        _wait(lambda: _job_metrics(job)["recordsRead"] >= len(payloads), 300, "every record read", job)
        _wait(lambda: len(lake.read(config.lake.path, "raw")) >= len(events), 120, "raw/ committed", job)
        metrics = _job_metrics(job)
        job.drain()
    finally:
        job.cancel()

    # Operational figures: every record read once, accepted + rejected by reason.
    assert metrics["recordsRead"] == len(payloads)
    assert metrics["recordsAccepted"] == len(events)
    assert metrics["recordsRejected"] == len(bad)
    # Flink's REST API shows ':' in a dimension value as '_' (MISSING_FIELD:domain -> MISSING_FIELD_domain).
    rejected = Counter({k.split(".")[1]: v for k, v in metrics.items() if k.startswith("RejectReason.")})
    assert rejected == Counter(reason.replace(":", "_") for _, reason in bad)
    assert metrics["recordsLate"] == 0

    records = lake.read(config.lake.path, "drift")
    records["window_start"] = pd.to_datetime(records["window_start"])
    expected = _oracle(events, baseline, grid)
    assert set(records["window_start"]) == set(expected)
    first_full = pd.Timestamp(t0.replace(tzinfo=None) + SHIFT_AT).ceil("10s")
    for window_start, verdict in expected.items():
        rows = records[records["window_start"] == window_start].set_index("feature")
        assert sorted(rows.index) == sorted(grid)
        assert (rows["global_level"] == verdict.level).all() and (rows["baseline_version"] == "lake-baseline").all()
        for want in verdict.features:  # the JVM's cell counts are numpy's: the same statistic
            got = rows.loc[want.feature]
            assert (got["status"], got["live_count"], got["level"]) == (want.status, want.live_count, want.level)
            if want.statistic is None:
                assert pd.isna(got["statistic"]) and pd.isna(got["error_bound"])
            else:
                assert got["statistic"] == pytest.approx(want.statistic, abs=1e-12)
        if window_start + WINDOW <= pd.Timestamp(t0.replace(tzinfo=None) + SHIFT_AT):
            assert verdict.level == "OK", window_start  # before the shift: no drift
        elif window_start >= first_full:
            moved = {f.feature for f in verdict.features if f.statistic is not None and f.statistic > 0.3}
            assert moved == MOVED - ({"cpm_eur"} if window_start == pd.Timestamp(t0.replace(tzinfo=None))
                                     + UNFILLED_WINDOW * WINDOW else set())
    assert expected[first_full].level == "WARNING"
    unfilled = records[(records["window_start"] == pd.Timestamp(t0.replace(tzinfo=None)) + UNFILLED_WINDOW * WINDOW)
                       & (records["feature"] == "cpm_eur")].iloc[0]
    assert unfilled["status"] == "NO_DATA" and unfilled["level"] == "NO_DATA" and pd.isna(unfilled["statistic"])

    # CloudWatch: one GlobalDriftScore per window, one FeatureDriftScore per measured feature and window.
    cloudwatch = aws_client("cloudwatch", config.monitoring.endpoint, config.monitoring.region)
    listed = cloudwatch.list_metrics(Namespace=config.monitoring.namespace)["Metrics"]
    assert {(m["MetricName"], tuple((d["Name"], d["Value"]) for d in m["Dimensions"])) for m in listed} == {
        ("GlobalDriftScore", ())} | {("FeatureDriftScore", (("FeatureName", f),)) for f in grid}
    now = datetime.now(UTC)
    for feature in grid:
        stats = cloudwatch.get_metric_statistics(
            Namespace=config.monitoring.namespace, MetricName="FeatureDriftScore",
            Dimensions=[{"Name": "FeatureName", "Value": feature}], StartTime=now - timedelta(days=15),
            EndTime=now + timedelta(hours=3), Period=86_400 * 20, Statistics=["SampleCount", "Maximum"])
        measured = [v for v in expected.values() for f in v.features if f.feature == feature and f.has_data]
        assert sum(p["SampleCount"] for p in stats["Datapoints"]) == len(measured), feature

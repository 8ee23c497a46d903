"""The online feature writer without the job: its schema, its records, its retries, its retry
queue, its config.

Requests go through the real boto3 client to a Feature Store stand-in of this module's own
(port 5162, throttling), or to the shared one through a fault proxy (port 5163), both backed
by moto's control plane.
"""

from __future__ import annotations

import random
import re
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from botocore.model import ServiceModel
from botocore.session import get_session
from botocore.validate import ParamValidator
from pyflink.table.udf import FunctionContext

from flink_jobs.config import ConfigError, load_config, write_properties
from flink_jobs.online_features import feature_columns_sql
from flink_jobs.sql import render_ddl
from local_kinesis import resources, standins
from schemas import segment_windows
from tests.integration.test_feature_store_standin import StandIn
from tests.support.e2e_scenario import expected_features, known_events
from tests.support.fault_proxy import FaultProxy
from tests.support.online_records import as_dict, iso_ms, logged_puts
from udfs import feature_store
from udfs.aws import aws_client
from udfs.feature_store import (
    BatchWriter,
    DeadlinePassed,
    OnlineFeatureWriter,
    RecordWriteFailed,
    RetryQueue,
    WriterSettings,
    WriterStats,
    backoff_s,
    feature_value,
    is_retryable,
    load_spec,
    put_record_request,
    read_online_records,
    runtime_client,
    write_with_retries,
)

REGION = "eu-west-1"
PORT = 5162  # this module's own stand-in
PROXY_PORT = 5163  # a fault proxy in front of the shared stand-in
PARTITION_COLUMNS = {"year", "month", "day", "hour"}
# How each segment_features SQL type is stored in the Feature Store.
FEATURE_TYPE_OF_SQL = {"STRING": "String", "TIMESTAMP": "String", "BIGINT": "Integral", "INT": "Integral",
                       "BOOLEAN": "Integral", "DOUBLE": "Fractional"}


def segment_feature_columns() -> dict[str, str]:
    ddl = render_ddl("segment_features", lake_path="file:///lake", window_columns=segment_windows.ddl_columns())
    columns = dict(re.findall(r"^\s+`?(\w+)`? ([A-Z]+)", ddl, flags=re.M))
    return {name: sql_type for name, sql_type in columns.items() if name not in PARTITION_COLUMNS}


def put_record_validator() -> tuple[ParamValidator, ServiceModel]:
    model = ServiceModel(get_session().get_service_data("sagemaker-featurestore-runtime"))
    return ParamValidator(), model


def assert_valid_put_record(request: dict) -> None:
    """botocore's own parameter validation, as the client runs it before sending."""
    validator, model = put_record_validator()
    report = validator.validate(request, model.operation_model("PutRecord").input_shape)
    assert not report.has_errors(), report.generate_report()


# --------------------------------------------------------------------------- the schema


def test_feature_group_has_every_segment_feature_with_its_type():
    spec = load_spec("g")
    columns = segment_feature_columns()
    identity = {spec.record_identifier, spec.event_time}
    features = dict(spec.features)
    assert identity <= set(features) and features[spec.record_identifier] == "String"
    assert set(features) - identity == set(columns), set(features) ^ (set(columns) | identity)
    for name, sql_type in columns.items():
        assert features[name] == FEATURE_TYPE_OF_SQL[sql_type], name


def test_feature_group_params_are_a_valid_create_request():
    params = resources.feature_group_params("yield-segment-features", "lake")
    model = ServiceModel(get_session().get_service_data("sagemaker"))
    report = ParamValidator().validate(params, model.operation_model("CreateFeatureGroup").input_shape)
    assert not report.has_errors(), report.generate_report()
    assert params["OfflineStoreConfig"]["S3StorageConfig"]["S3Uri"] == "s3://lake/processed/feature_store"


def test_view_selects_every_feature_in_definition_order():
    spec = load_spec("g")
    aliases = [re.search(r"AS `(\w+)`$", column).group(1) for column in feature_columns_sql(spec)]
    assert aliases == list(spec.feature_names)


# --------------------------------------------------------------------------- records (pure)


def test_feature_values_as_strings():
    assert feature_value(0.1 + 0.2, "Fractional") == "0.30000000000000004"
    assert float(feature_value(0.1 + 0.2, "Fractional")) == 0.1 + 0.2
    assert feature_value(7, "Integral") == "7" and feature_value(7.0, "Integral") == "7"
    assert feature_value(float("nan"), "Fractional") is None and feature_value(None, "String") is None
    assert feature_value("fine", "String") == "fine"


def test_requests_of_real_windows_pass_botocore_validation():
    """Every row of a real scenario's windows, as the writer turns it into a PutRecord request."""
    spec = load_spec("yield-segment-features")
    t0 = datetime(2026, 3, 7, 20, 0, 0)  # a Saturday in prime time
    windows = expected_features(known_events(t0))
    for _, row in windows.iterrows():
        start = row["window_start"]
        end = start + timedelta(seconds=10)
        values = {
            spec.record_identifier: feature_store.segment_id(row["level"], row["segment_key"], spec.separator),
            spec.event_time: iso_ms(end), "level": row["level"], "segment_key": row["segment_key"],
            "window_start": iso_ms(start), "window_end": iso_ms(end),
            "fill_rate": row["fills"] / row["auctions"], "hour_of_day": start.hour, "day_of_week": start.isoweekday(),
            "is_weekend": 1, "is_prime_time": 1,
        } | {name: row.get(name) for name in spec.feature_names if name in row}
        request = put_record_request(spec, [values.get(name) for name in spec.feature_names])
        assert_valid_put_record(request)
        record = {fv["FeatureName"]: fv["ValueAsString"] for fv in request["Record"]}
        assert record["segment_id"] == f"{row['level']}#{row['segment_key']}"
        assert int(record["auctions"]) == row["auctions"]


def test_a_missing_value_is_left_out_not_sent_empty():
    spec = load_spec("g")
    values = ["fine#x", "2026-01-01T00:00:10.000Z"] + [None] * (len(spec.features) - 2)
    request = put_record_request(spec, values)
    assert [fv["FeatureName"] for fv in request["Record"]] == ["segment_id", "event_time"]
    assert_valid_put_record(request)


def test_retry_classification():
    def client_error(code: str, status: int) -> ClientError:
        return ClientError({"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "PutRecord")

    assert is_retryable(client_error("ThrottlingException", 400))
    assert is_retryable(client_error("ServiceUnavailable", 503))
    assert is_retryable(client_error("AnythingElse", 502))
    assert is_retryable(EndpointConnectionError(endpoint_url="http://127.0.0.1:1"))
    assert not is_retryable(client_error("ValidationError", 400))
    assert not is_retryable(client_error("AccessDeniedException", 403))
    assert not is_retryable(ValueError("a bug"))


def test_backoff_grows_to_its_cap_with_jitter():
    rng = random.Random(1)
    draws = [[backoff_s(attempt, rng) for _ in range(200)] for attempt in (1, 4, 30)]
    assert max(draws[0]) <= 0.05 and max(draws[1]) <= 0.4 and max(draws[2]) <= 5.0
    assert max(draws[2]) > 2.5  # capped, not collapsed
    assert len(set(draws[1])) == 200  # jittered


# --------------------------------------------------------------------------- against a stand-in


@pytest.fixture(scope="module")
def group(running_standins: None) -> str:
    name = f"features-{uuid.uuid4().hex[:8]}"
    sagemaker = aws_client("sagemaker", standins.MOTO_ENDPOINT, REGION)
    resources.create_feature_group(sagemaker, resources.feature_group_params(name, "lake"))
    return name


@pytest.fixture(scope="module")
def throttled_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandIn]:
    base = tmp_path_factory.mktemp("writer_standin")
    server = StandIn(base / "data", base / "feature_store.log", PORT, ("--throttle-share", "0.5"))
    server.start()
    yield server
    server.kill()


def settings(endpoint: str, deadline_s: float = 60.0, write_deadline_s: float = 60.0,
             queue_size: int = 10_000) -> WriterSettings:
    return WriterSettings(REGION, endpoint, "test", "test", max_in_flight=4, retry_deadline_s=deadline_s,
                          write_deadline_s=write_deadline_s, retry_queue_size=queue_size)


def request(group: str, key: str, event_time: str | None = None) -> dict:
    spec = load_spec(group)
    values = {"segment_id": f"fine#{key}", "event_time": event_time or datetime.now(UTC).isoformat(), "auctions": 3}
    return put_record_request(spec, [values.get(name) for name in spec.feature_names])


def test_throttled_writes_retry_until_written(throttled_server: StandIn, group: str):
    client = runtime_client(settings(throttled_server.endpoint))
    outcomes = [write_with_retries(client.put_record, request(group, f"k{i}"), 60.0, random.Random(i))
                for i in range(20)]
    assert sum(o.attempts for o in outcomes) > 20  # half the calls were throttled...
    assert sum(o.throttled for o in outcomes) == sum(o.attempts - 1 for o in outcomes)
    for i in range(20):  # ...and every record is there
        got = client.get_record(FeatureGroupName=group, RecordIdentifierValueAsString=f"fine#k{i}")
        assert {fv["FeatureName"]: fv["ValueAsString"] for fv in got["Record"]}["auctions"] == "3"


def test_a_segments_windows_are_put_in_window_order(throttled_server: StandIn, group: str):
    """The store ignores a put older than its record: concurrent puts of one segment would lose windows."""
    writer = BatchWriter(settings(throttled_server.endpoint), "segment_id")
    try:
        windows = [f"2026-11-25T10:00:{10 * w:02d}.000Z" for w in range(5)]
        outcomes = writer.write([request(group, f"order-{s}", t) for t in windows for s in "abc"])
    finally:
        writer.close()
    assert len(outcomes) == 15
    puts = [as_dict(r) for r in logged_puts(throttled_server.data_dir, group)]
    for s in "abc":
        assert [p["event_time"] for p in puts if p["segment_id"] == f"fine#order-{s}"] == windows


def test_a_rejected_record_fails_at_once(throttled_server: StandIn, group: str):
    client = runtime_client(settings(throttled_server.endpoint))
    bad = request(group, "bad")
    bad["Record"].append({"FeatureName": "not_a_feature", "ValueAsString": "1"})
    with pytest.raises(RecordWriteFailed, match="not retryable.*not_a_feature"):
        write_with_retries(client.put_record, bad, 60.0, random.Random(0))


def test_an_unreachable_store_fails_after_the_deadline(group: str):
    """write_with_retries on its own; the writer catches this and sheds the record (below)."""
    # 5169: in this engineer's port range, nothing listens there.
    client = runtime_client(settings("http://127.0.0.1:5169"))
    with pytest.raises(DeadlinePassed, match="still failing after .* attempts.*retry.deadline"):
        write_with_retries(client.put_record, request(group, "x"), 0.5, random.Random(0))


# --------------------------------------------------------------------------- the retry queue


def test_the_queue_keeps_only_the_newest_window_of_a_record():
    stats = WriterStats()
    queue = RetryQueue(10, stats)
    queue.offer("a", "2026-01-01T00:00:10.000Z", {"w": "a1"})
    queue.offer("b", "2026-01-01T00:00:10.000Z", {"w": "b1"})
    queue.offer("a", "2026-01-01T00:00:20.000Z", {"w": "a2"})  # supersedes a1, goes to the back
    queue.offer("a", "2026-01-01T00:00:10.000Z", {"w": "a1"})  # older than what waits: ignored
    assert len(queue) == 2
    taken = queue.take(10, timeout_s=0)
    assert [(rid, r.request["w"]) for rid, r in taken] == [("b", "b1"), ("a", "a2")]
    for rid, record in taken:
        queue.put_back(rid, record)
    queue.written("b", "2026-01-01T00:00:20.000Z")  # a newer window of b was written directly
    queue.written("a", "2026-01-01T00:00:10.000Z")  # an older window of a: a2 still waits
    assert [(rid, r.request["w"]) for rid, r in queue.take(10, timeout_s=0)] == [("a", "a2")]
    assert stats.get("dropped") == 0


def test_a_full_queue_drops_its_oldest_and_counts_them():
    stats = WriterStats()
    queue = RetryQueue(3, stats)
    for i in range(5):
        queue.offer(f"k{i}", "2026-01-01T00:00:10.000Z", {"i": i})
    assert len(queue) == 3 and stats.get("dropped") == 2
    assert [rid for rid, _ in queue.take(10, timeout_s=0)] == ["k2", "k3", "k4"]


class Metrics:
    """Stands in for a worker's metric group: what the function registers and counts."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.gauges: dict[str, Any] = {}
        self.groups: list[str] = []

    def add_group(self, name: str, extra: str | None = None) -> Metrics:
        self.groups.append(name)
        return self

    def counter(self, name: str) -> Any:
        counts = self.counts
        counts[name] = 0

        class Counter:
            def inc(self, n: int = 1) -> None:
                counts[name] += n

        return Counter()

    def gauge(self, name: str, obj: Any) -> None:
        self.gauges[name] = obj


def column_values(group: str, keys: list[str], event_time: str) -> list[pd.Series]:
    spec = load_spec(group)
    rows = [{"segment_id": f"fine#{k}", "event_time": event_time, "auctions": 7} for k in keys]
    return [pd.Series([r.get(name) for r in rows]) for name in spec.feature_names]


@pytest.fixture
def blocked_store(running_standins: None) -> Iterator[FaultProxy]:
    """The shared Feature Store stand-in behind a proxy of ours, blocked (the stand-in stays up)."""
    with FaultProxy(standins.HOST, standins.FEATURE_STORE_PORT, listen_port=PROXY_PORT) as proxy:
        yield proxy


@pytest.mark.parametrize("mode", ["refuse", "blackhole"])
def test_an_outage_sheds_on_time_and_the_queue_drains_after_it(blocked_store: FaultProxy, group: str, mode: str):
    """The call returns at its deadline with nothing written; the queue keeps each segment's newest
    window; once the store is back the drain writes exactly those, and the metrics say so."""
    spec = load_spec(group)
    keys = [f"{mode}-{i}" for i in range(30)]
    function = OnlineFeatureWriter(spec, settings(blocked_store.url, write_deadline_s=0.5))
    metrics = Metrics()
    function.open(FunctionContext(metrics, {}))
    try:
        blocked_store.block(mode)
        for window in range(3):
            started = time.monotonic()
            attempts = function.eval(*column_values(group, keys, f"2026-11-25T10:00:{10 * window:02d}.000Z"))
            assert time.monotonic() - started < 1.5  # the deadline, not the outage
            assert attempts.tolist() == [0] * len(keys)  # nothing written: all shed
        # Newest windows of a third of the segments once more, as one batch with an older window.
        function.eval(*column_values(group, keys[:10], "2026-11-25T10:00:30.000Z"))
        assert metrics.groups == [feature_store.METRIC_GROUP]
        assert metrics.counts["FeatureStoreRecordsShed"] == 3 * len(keys) + 10
        assert metrics.gauges["FeatureStoreRetryQueueSize"]() == len(keys)  # one per segment
        assert metrics.counts["featureStoreRecordsWritten"] == 0 and metrics.counts["FeatureStoreRecordsDropped"] == 0
        assert read_online_records(group, standins.FEATURE_STORE_ENDPOINT, REGION,
                                   [f"fine#{k}" for k in keys]) == {}

        blocked_store.unblock()
        assert function.writer.drain_until_empty(60), "the queue did not drain after the outage"
        online = read_online_records(group, standins.FEATURE_STORE_ENDPOINT, REGION, [f"fine#{k}" for k in keys])
        assert {k: r["event_time"] for k, r in online.items()} == {
            f"fine#{k}": "2026-11-25T10:00:30.000Z" if i < 10 else "2026-11-25T10:00:20.000Z"
            for i, k in enumerate(keys)}
        function.eval(*column_values(group, keys[:1], "2026-11-25T10:00:40.000Z"))  # publishes the drain's counts
        assert metrics.counts["featureStoreRecordsWritten"] == len(keys) + 1
        assert metrics.counts["FeatureStoreRecordsDropped"] == 0
        assert metrics.gauges["FeatureStoreRetryQueueSize"]() == 0
    finally:
        function.close()


def test_a_record_failing_past_the_retry_deadline_is_dropped(blocked_store: FaultProxy, group: str):
    writer = BatchWriter(settings(blocked_store.url, deadline_s=1.0, write_deadline_s=0.3), "segment_id")
    try:
        blocked_store.block("refuse")
        outcomes = writer.write([request(group, f"expire-{i}", "2026-11-25T10:00:10.000Z") for i in range(5)])
        assert not any(o.written for o in outcomes) and writer.stats.get("shed") == 5
        assert writer.drain_until_empty(30)
        assert writer.stats.get("dropped") == 5 and writer.stats.get("written") == 0
    finally:
        writer.close()


# --------------------------------------------------------------------------- config


@pytest.mark.parametrize(
    ("key", "value", "named"),
    [
        ("enabled", "yes", "FeatureStore.enabled"),
        ("feature.group.name", "", "FeatureStore.feature.group.name"),
        ("aws.region", " ", "FeatureStore.aws.region"),
        ("max.in.flight", "0", "FeatureStore.max.in.flight"),
        ("max.in.flight", "500", "FeatureStore.max.in.flight"),
        ("max.in.flight", "many", "FeatureStore.max.in.flight"),
        ("retry.deadline", "forever", "FeatureStore.retry.deadline"),
        ("write.deadline", "0 s", "FeatureStore.write.deadline"),
        ("write.deadline", "soon", "FeatureStore.write.deadline"),
        ("retry.queue.size", "0", "FeatureStore.retry.queue.size"),
        ("aws.credentials.provider", "ASSUME_ROLE", "FeatureStore.aws.credentials.provider"),
        ("aws.credentials.basic.secretkey", "", "FeatureStore.aws.credentials.basic.secretkey"),
    ],
)
def test_bad_feature_store_property_is_named(tmp_path: Path, key: str, value: str, named: str):
    path = write_properties(tmp_path / "props.json", {"FeatureStore": {key: value}})
    with pytest.raises(ConfigError, match=re.escape(named)):
        load_config(path)


def test_feature_store_properties(tmp_path: Path):
    store = load_config().feature_store
    assert store is not None and store.enabled and store.endpoint == standins.FEATURE_STORE_ENDPOINT
    assert store.max_in_flight == 8 and store.retry_deadline_ms == 300_000
    assert store.write_deadline_ms == 2_000 and store.retry_queue_size == 10_000
    off = load_config(write_properties(tmp_path / "off.json", {"FeatureStore": {"enabled": "false"}}))
    assert off.feature_store is not None and not off.feature_store.enabled

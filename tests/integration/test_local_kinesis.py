"""Tests of local_kinesis over the real stand-ins (started here, on their default ports)."""

from __future__ import annotations

import http.client
import json
import socket
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import Stubber

from flink_jobs.config import AppConfig, load_config
from local_kinesis import standins
from local_kinesis.kinesalite_shim import CBOR_TYPE, CborTag, cbor_dumps, cbor_loads, rewrite_body
from local_kinesis.resources import create_all, create_stream
from simulator.events import encode, generate_events, with_duplicates
from simulator.producer import MAX_BATCH_BYTES, ProduceError, _batches, produce, read_log
from udfs import rules
from udfs.aws import aws_client

REPO = Path(__file__).resolve().parents[2]
EVENT_SCHEMA = json.loads((REPO / "schemas" / "auction_event.schema.json").read_text())
REGION = "eu-west-1"
MAX_RECORD_CHARS = int(EVENT_SCHEMA.get("x-max-record-chars", EVENT_SCHEMA.get("maxRecordBytes", 8192)))


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def running() -> Iterator[dict[str, standins.Status]]:
    """All stand-ins, kinesalite + shim included; stops only what it started."""
    with standins.running_standins(with_kinesalite=True) as started:
        yield started


@pytest.fixture(scope="session")
def config() -> AppConfig:
    return load_config()


@pytest.fixture()
def kinesis_local(running: Any) -> Any:
    return aws_client("kinesis", standins.KINESIS_LOCAL_ENDPOINT, REGION)


@pytest.fixture()
def via_shim(running: Any) -> Any:
    return aws_client("kinesis", standins.SHIM_ENDPOINT, REGION)


def fresh_stream(client: Any, shards: int = 4) -> str:
    """A new stream per test: kinesis-local slows down as a shard fills, and counts must be exact."""
    return create_stream(client, f"test-{uuid.uuid4().hex[:12]}", shards)["stream_arn"]


def read_all(client: Any, stream_arn: str) -> list[dict[str, Any]]:
    """GetRecords sweep over every shard from TRIM_HORIZON, StreamARN-only requests."""
    records: list[dict[str, Any]] = []
    shards = client.list_shards(StreamARN=stream_arn)["Shards"]
    for shard in shards:
        it = client.get_shard_iterator(
            StreamARN=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        empty_reads = 0
        while it and empty_reads < 2:
            page = client.get_records(StreamARN=stream_arn, ShardIterator=it, Limit=10_000)
            records.extend({"shard_id": shard["ShardId"], **r} for r in page["Records"])
            at_tip = not page["Records"] and page.get("MillisBehindLatest", 0) == 0
            empty_reads = empty_reads + 1 if at_tip else 0
            it = page.get("NextShardIterator")
    return records


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --------------------------------------------------------------------------- stand-ins


def test_standins_healthy_and_start_is_idempotent(running: dict[str, standins.Status]) -> None:
    for name in ("kinesis-local", "moto", "kinesalite", "kinesalite-shim"):
        st = standins.status(name)
        assert st.healthy, st.line()
        assert Path(st.log).parent == standins.LOG_DIR
    again = standins.start(with_kinesalite=True)
    assert all(s.detail.startswith("reused") for s in again.values())


def test_standins_bind_loopback_only(running: Any) -> None:
    ports = (standins.KINESIS_LOCAL_TLS_PORT, standins.KINESIS_LOCAL_PLAIN_PORT, standins.MOTO_PORT,
             standins.KINESALITE_PORT, standins.SHIM_PORT)  # fmt: skip
    if not Path("/proc/net/tcp").exists():
        pytest.skip("bind check reads /proc (Linux)")
    for port in ports:
        addrs = standins.listening_addresses(port)
        assert addrs, f"nothing listens on {port}"
        assert set(addrs) <= {"127.0.0.1", "::1", "::ffff:127.0.0.1"}, (port, addrs)


def test_standin_that_dies_reports_its_log(monkeypatch: pytest.MonkeyPatch, running: Any) -> None:
    port = _free_port()

    def never_healthy() -> None:
        raise ConnectionError("no")

    spec = standins.StandIn(
        name="doomed",
        ports=(port,),
        endpoint=f"http://127.0.0.1:{port}",
        command=lambda: [sys.executable, "-c", "print('boom: bad flag'); raise SystemExit(3)"],
        health=never_healthy,
    )
    monkeypatch.setitem(standins.STANDINS, "doomed", spec)
    with pytest.raises(standins.StandInError) as err:
        standins.start_one("doomed", timeout_s=10)
    message = str(err.value)
    assert "exited with code 3" in message
    assert str(standins.log_path("doomed")) in message
    assert "boom: bad flag" in message
    standins.log_path("doomed").unlink(missing_ok=True)


# --------------------------------------------------------------------------- resources


def test_resources_created_idempotently_with_ttl(running: Any, config: AppConfig) -> None:
    first = create_all(config)
    second = create_all(config)
    assert not second.stream["created"] and not second.bucket["created"] and not second.table["created"]
    assert second.feature_group is not None and not second.feature_group["created"]
    assert second.feature_group["feature_group"] == config.feature_store.feature_group_name
    assert first.stream["stream_arn"] == second.stream["stream_arn"] == config.stream.stream_arn
    assert second.stream["shards"] == config.stream.shard_count

    kinesis = aws_client("kinesis", config.stream.endpoint, config.stream.region)
    summary = kinesis.describe_stream_summary(StreamARN=config.stream.stream_arn)["StreamDescriptionSummary"]
    assert summary["StreamStatus"] == "ACTIVE" and summary["OpenShardCount"] == config.stream.shard_count

    s3 = aws_client("s3", config.lake.s3_endpoint, config.floors.region)
    assert config.lake.bucket in {b["Name"] for b in s3.list_buckets()["Buckets"]}

    ddb = aws_client("dynamodb", config.floors.endpoint, config.floors.region)
    table = ddb.describe_table(TableName=config.floors.table_name)["Table"]
    assert {(k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]} == {
        ("level", "HASH"),
        ("segment_key", "RANGE"),
    }
    ttl = ddb.describe_time_to_live(TableName=config.floors.table_name)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}


# --------------------------------------------------------------------------- producer over kinesis-local


def test_produce_then_read_exactly_those_records(kinesis_local: Any, tmp_path: Path) -> None:
    arn = fresh_stream(kinesis_local)
    events = generate_events(1_200, seed=11)
    log = tmp_path / "acks.jsonl"
    reports: list[int] = []
    stats = produce(
        kinesis_local, arn, (encode(e) for e in events), progress=lambda s: reports.append(s.records_sent), log=log
    )
    assert stats.records_sent == 1_200 and stats.retries == 0
    assert stats.calls == 3  # 500 + 500 + 200
    assert reports and reports[-1] == 1_200
    assert len(stats.shards) == 4  # impression_id keys spread over every shard

    got = read_all(kinesis_local, arn)
    sent_ids = [e["impression_id"] for e in events]
    got_ids = [json.loads(r["Data"])["impression_id"] for r in got]
    assert len(got_ids) == len(sent_ids) and set(got_ids) == set(sent_ids)

    # The producer log is an exact oracle: same ids, shards and sequence numbers.
    acks = read_log(log)
    assert {(a["impression_id"], a["shard_id"], a["sequence_number"]) for a in acks} == {
        (json.loads(r["Data"])["impression_id"], r["shard_id"], r["SequenceNumber"]) for r in got
    }


def test_produce_holds_target_rate(kinesis_local: Any) -> None:
    arn = fresh_stream(kinesis_local, shards=2)
    records = [encode(e) for e in generate_events(600, seed=3)]
    t0 = time.monotonic()
    stats = produce(kinesis_local, arn, records, rate_per_s=400)
    elapsed = time.monotonic() - t0
    # The first 0.2 s worth is a burst, then 400/s: (600 - 80) / 400 = 1.3 s at least.
    assert elapsed >= 1.2, elapsed
    assert stats.records_sent == 600
    assert stats.calls >= 600 // 80  # batches of ~0.2 s worth, not 500-record bursts


def test_duplicates_reach_the_stream(kinesis_local: Any) -> None:
    arn = fresh_stream(kinesis_local, shards=2)
    events = with_duplicates(generate_events(400, seed=5), 0.1, seed=5)
    assert len(events) == 440
    produce(kinesis_local, arn, (encode(e) for e in events))
    got = [json.loads(r["Data"])["impression_id"] for r in read_all(kinesis_local, arn)]
    assert len(got) == 440 and len(set(got)) == 400


def test_batches_respect_count_and_size_limits() -> None:
    small = [(b"x" * 100, "k")] * 1_234
    assert [len(b) for b in _batches(small, 500)] == [500, 500, 234]
    big = [(b"y" * 600_000, "k")] * 20  # 12 MB: must split by the 5 MiB limit, not by count
    batches = list(_batches(big, 500))
    assert sum(len(b) for b in batches) == 20
    assert all(sum(len(d) + len(k) for d, k in b) <= MAX_BATCH_BYTES for b in batches)
    with pytest.raises(ValueError, match="1 MiB"):
        list(_batches([(b"z" * (1024 * 1024), "k")], 500))


# --------------------------------------------------------------------------- retry of reported failures
# No stand-in fails records on demand, so this one case stubs PutRecords on a real client.


def _ok(i: int) -> dict[str, str]:
    return {"ShardId": f"shardId-00000000000{i % 4}", "SequenceNumber": f"{1000 + i}"}


def _throttled() -> dict[str, str]:
    return {"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "Rate exceeded for shard"}


def test_only_failed_records_are_retried(kinesis_local: Any) -> None:
    arn = "arn:aws:kinesis:eu-west-1:000000000000:stream/stubbed"
    records = [json.dumps({"impression_id": f"id-{i}"}).encode() for i in range(5)]
    with Stubber(kinesis_local) as stub:
        stub.add_response(
            "put_records",
            {"FailedRecordCount": 2, "Records": [_ok(0), _throttled(), _ok(2), _throttled(), _ok(4)]},
            {"StreamARN": arn, "Records": [{"Data": r, "PartitionKey": f"id-{i}"} for i, r in enumerate(records)]},
        )
        stub.add_response(
            "put_records",
            {"FailedRecordCount": 1, "Records": [_throttled(), _ok(3)]},
            {"StreamARN": arn, "Records": [{"Data": records[i], "PartitionKey": f"id-{i}"} for i in (1, 3)]},
        )
        stub.add_response(
            "put_records",
            {"Records": [_ok(1)]},  # botocore's model: FailedRecordCount >= 1 when present
            {"StreamARN": arn, "Records": [{"Data": records[1], "PartitionKey": "id-1"}]},
        )
        stats = produce(kinesis_local, arn, records, base_backoff_s=0.001)
        stub.assert_no_pending_responses()
    assert stats.records_sent == 5 and stats.calls == 3 and stats.retries == 3
    assert stats.error_codes["ProvisionedThroughputExceededException"] == 3


def test_retries_are_bounded(kinesis_local: Any) -> None:
    arn = "arn:aws:kinesis:eu-west-1:000000000000:stream/stubbed"
    records = [json.dumps({"impression_id": "a"}).encode(), json.dumps({"impression_id": "b"}).encode()]
    with Stubber(kinesis_local) as stub:
        stub.add_response("put_records", {"FailedRecordCount": 1, "Records": [_ok(0), _throttled()]})
        for _ in range(2):
            stub.add_response("put_records", {"FailedRecordCount": 1, "Records": [_throttled()]})
        with pytest.raises(ProduceError, match="1 records still failed after 3 attempts"):
            produce(kinesis_local, arn, records, max_attempts=3, base_backoff_s=0.001)


# --------------------------------------------------------------------------- kinesalite + shim


def test_kinesalite_direct_rejects_arn_only_requests(running: Any) -> None:
    direct = aws_client("kinesis", standins.KINESALITE_ENDPOINT, REGION, max_attempts=1)
    arn = fresh_stream(direct, shards=1)
    with pytest.raises(direct.exceptions.ClientError, match="Value null at 'streamName'"):
        direct.describe_stream_summary(StreamARN=arn)
    with pytest.raises(direct.exceptions.ClientError, match="StreamName should be provided"):
        direct.list_shards(StreamARN=arn)


def test_produce_and_read_through_shim_with_arns_only(via_shim: Any, tmp_path: Path) -> None:
    arn = fresh_stream(via_shim)
    assert arn.startswith("arn:aws:kinesis:eu-west-1:000000000000:stream/")
    events = generate_events(1_500, seed=21)
    stats = produce(via_shim, arn, (encode(e) for e in events), log=tmp_path / "acks.jsonl")
    assert stats.records_sent == 1_500
    summary = via_shim.describe_stream_summary(StreamARN=arn)["StreamDescriptionSummary"]
    assert summary["OpenShardCount"] == 4
    got = read_all(via_shim, arn)
    assert sorted(json.loads(r["Data"])["impression_id"] for r in got) == sorted(e["impression_id"] for e in events)


def _cbor_call(target: str, body: dict[str, Any]) -> tuple[int, Any]:
    """A raw CBOR request, as the Java SDK v2 sends with CBOR enabled."""
    conn = http.client.HTTPConnection("127.0.0.1", standins.SHIM_PORT, timeout=10)
    conn.request(
        "POST",
        "/",
        body=cbor_dumps(body),
        headers={
            "Content-Type": CBOR_TYPE,
            "X-Amz-Target": f"Kinesis_20131202.{target}",
            # kinesalite checks that a SigV4 header is present, not the signature.
            "Authorization": "AWS4-HMAC-SHA256 Credential=test/20260105/eu-west-1/kinesis/aws4_request, "
            "SignedHeaders=host;x-amz-date, Signature=00",
            "X-Amz-Date": "20260105T080000Z",
        },
    )
    resp = conn.getresponse()
    payload = resp.read()
    conn.close()
    return resp.status, cbor_loads(payload) if payload else None


def test_shim_rewrites_cbor_requests(via_shim: Any) -> None:
    arn = fresh_stream(via_shim, shards=2)
    status, out = _cbor_call(
        "PutRecords",
        {"StreamARN": arn, "Records": [{"Data": b'{"impression_id":"c1"}', "PartitionKey": "c1"}]},
    )
    assert status == 200, out
    assert out["FailedRecordCount"] == 0
    status, out = _cbor_call("ListShards", {"StreamARN": arn})
    assert status == 200, out
    assert [s["ShardId"] for s in out["Shards"]] == ["shardId-000000000000", "shardId-000000000001"]
    got = read_all(via_shim, arn)  # JSON readers see what CBOR writers wrote
    assert [r["Data"] for r in got] == [b'{"impression_id":"c1"}']

    status, out = _cbor_call(
        "GetShardIterator", {"StreamARN": arn, "ShardId": got[0]["shard_id"], "ShardIteratorType": "TRIM_HORIZON"}
    )
    assert status == 200, out
    status, out = _cbor_call("GetRecords", {"StreamARN": arn, "ShardIterator": out["ShardIterator"]})
    assert status == 200, out
    (record,) = out["Records"]
    assert record["Data"] == b'{"impression_id":"c1"}'  # a CBOR byte string, not base64 text
    stamp = record["ApproximateArrivalTimestamp"]
    assert isinstance(stamp, CborTag) and stamp.tag == 1
    assert abs(stamp.value - time.time() * 1000) < 120_000  # epoch MILLIS, as AWS sends over CBOR


def test_cbor_codec_round_trip_and_indefinite_maps() -> None:
    value = {"a": [1, -2, 2**40, 1.5, None, True, False], "b": b"\x00\xff", "t": CborTag(1, 1.7e9), "s": "ñ"}
    assert cbor_loads(cbor_dumps(value)) == value
    # Jackson (Java SDK) writes indefinite-length maps/strings: {"StreamARN": "x"} as 0xBF ... 0xFF.
    indefinite = b"\xbf\x69StreamARN\x7f\x61a\x61b\xff\xff"
    assert cbor_loads(indefinite) == {"StreamARN": "ab"}
    body, cbor = rewrite_body(b"\xbf\x69StreamARN\x78\x1earn:aws:kinesis:x:1:stream/abc\xff", CBOR_TYPE)
    assert cbor and json.loads(body) == {"StreamName": "abc"}
    # Request blobs become base64, tag(1) epoch millis become JSON seconds.
    body, _ = rewrite_body(cbor_dumps({"Data": b"hi", "Timestamp": CborTag(1, 1_700_000_000_500)}), CBOR_TYPE)
    assert json.loads(body) == {"Data": "aGk=", "Timestamp": 1_700_000_000.5}


def test_shim_maps_after_shard_id_filter() -> None:
    request = {
        "StreamARN": "arn:aws:kinesis:eu-west-1:000000000000:stream/s",
        "ShardFilter": {"Type": "AFTER_SHARD_ID", "ShardId": "shardId-000000000001"},
    }
    body = json.dumps(request).encode()
    out = json.loads(rewrite_body(body, "application/x-amz-json-1.1")[0])
    assert out == {"StreamName": "s", "ExclusiveStartShardId": "shardId-000000000001"}


# --------------------------------------------------------------------------- generator


def test_generator_is_deterministic_per_seed() -> None:
    assert generate_events(300, seed=42) == generate_events(300, seed=42)
    assert generate_events(300, seed=42) != generate_events(300, seed=43)
    assert with_duplicates(generate_events(300, seed=1), 0.1, seed=1) == with_duplicates(
        generate_events(300, seed=1), 0.1, seed=1
    )


def test_generator_matches_schema_and_auction_rules() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(EVENT_SCHEMA, format_checker=jsonschema.FormatChecker())
    events = generate_events(3_000, seed=7, events_per_second=50)
    assert len({e["impression_id"] for e in events}) == len(events)
    for e in events:
        validator.validate(e)
        assert set(e) == set(EVENT_SCHEMA["properties"])  # every field, nothing else
        assert datetime.strptime(e["event_time"], "%Y-%m-%dT%H:%M:%S.%fZ")
        assert len(e["event_time"]) == 24  # millis + Z
        assert len(encode(e).decode()) <= MAX_RECORD_CHARS
        n = e["bid_count"]
        assert (e["top_bid_eur"] is None) == (n == 0)
        assert (e["second_bid_eur"] is None) == (n < 2)
        if n >= 2:
            assert e["top_bid_eur"] >= e["second_bid_eur"]
        assert e["filled"] == (n > 0 and e["top_bid_eur"] >= e["floor_price_eur"])
        if e["filled"]:  # first price: the winner pays its own bid, which is at least the floor
            assert e["cpm_eur"] == e["top_bid_eur"] >= e["floor_price_eur"]
        else:
            assert e["cpm_eur"] is None
    tiers = {rules.country_tier(e["country"]) for e in events}
    assert tiers == {1, 2, 3}
    for field in ("device_category", "format", "inventory_type"):
        assert {e[field] for e in events} == set(EVENT_SCHEMA["properties"][field]["enum"])
    filled = sum(e["filled"] for e in events) / len(events)
    assert 0.3 < filled < 0.98
    times = [e["event_time"] for e in events]
    assert times == sorted(times)

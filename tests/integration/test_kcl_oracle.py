"""An independent reader: the Kinesis Client Library reads back what the producer logged.

The KCL (MultiLangDaemon from the pinned `kclpy-ext` wheel, leases in moto's DynamoDB, metrics
off) reads a fresh stream into which the scenario's events were produced, with a shard split
(every shard split in two) between two halves. Exactly the acknowledged records must come back (same shard, same
sequence number, nothing missing, nothing extra), and a child shard only after its parent ended.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from botocore.exceptions import BotoCoreError, ClientError

from local_kinesis import resources, standins
from simulator.producer import produce, read_log
from tests.support.e2e_scenario import known_events
from tests.support.fault_scenario import scenario_start
from tests.support.kcl_reader import kcl_reader
from udfs.aws import aws_client

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REGION = "eu-west-1"


@pytest.fixture
def fresh_stream() -> Iterator[Callable[[str, int], tuple[object, str, str]]]:
    """Creates streams (client, name, ARN) on a Kinesis stand-in; deletes them afterwards."""
    created = []

    def create(endpoint: str, shards: int) -> tuple[object, str, str]:
        kinesis = aws_client("kinesis", endpoint, REGION)
        name = f"kcl-{uuid.uuid4().hex[:8]}"
        arn = resources.create_stream(kinesis, name, shards)["stream_arn"]
        created.append((kinesis, name))
        return kinesis, name, arn

    yield create
    for kinesis, name in created:
        with contextlib.suppress(ClientError, BotoCoreError):
            kinesis.delete_stream(StreamName=name, EnforceConsumerDeletion=True)


def positions(records: list[dict[str, str]]) -> Counter:
    return Counter((r["shard_id"], r["sequence_number"], r["impression_id"]) for r in records)


def split_every_shard(kinesis, name: str) -> None:  # noqa: ANN001 - a boto3 client
    """SplitShard each open shard at its middle (UpdateShardCount is unknown to kinesalite)."""
    for shard in kinesis.list_shards(StreamName=name)["Shards"]:
        if "EndingSequenceNumber" in shard["SequenceNumberRange"]:
            continue
        low, high = (int(shard["HashKeyRange"][k]) for k in ("StartingHashKey", "EndingHashKey"))
        middle = str((low + high + 1) // 2)
        kinesis.split_shard(StreamName=name, ShardToSplit=shard["ShardId"], NewStartingHashKey=middle)
        resources.wait_stream_active(kinesis, name)  # one reshard at a time, as on AWS


def test_kcl_reads_exactly_what_was_acknowledged_across_a_split(running_standins: None, fresh_stream, tmp_path: Path):
    kinesis_endpoint = standins.KINESIS_LOCAL_PLAIN_ENDPOINT
    kinesis, name, arn = fresh_stream(kinesis_endpoint, 4)
    events = known_events(scenario_start())
    payloads = [json.dumps(e).encode() for e in events + events[::7]]
    half = len(payloads) // 2

    # The KCL starts before the split: its first lease sync must see only the four parents.
    # (kinesis-local answers ListShards with ShardFilter AT_TRIM_HORIZON with every shard, closed
    # parents and their children together; AWS returns only the shards open at the trim horizon.
    # The KCL's HierarchicalShardSyncer then finds overlapping hash ranges, logs "Incomplete hash
    # range found" and never creates a lease: a KCL started after a split reads nothing there.)
    with kcl_reader(arn, kinesis_endpoint=kinesis_endpoint,
                    dynamodb_endpoint=standins.MOTO_ENDPOINT, work_dir=tmp_path / "kcl") as reader:
        produce(kinesis, arn, payloads[:half], log=tmp_path / "first.jsonl")
        reader.wait_for(half, timeout_s=240)
        split_every_shard(kinesis, name)
        produce(kinesis, arn, payloads[half:], log=tmp_path / "second.jsonl")
        produced = read_log(tmp_path / "first.jsonl") + read_log(tmp_path / "second.jsonl")
        read = reader.wait_for(len(produced), timeout_s=240)

    shards = {s["ShardId"]: s for s in kinesis.list_shards(StreamARN=arn)["Shards"]}
    children = {s for s, v in shards.items() if "ParentShardId" in v}
    assert len(children) == 8 and {p["shard_id"] for p in produced} & children
    assert positions(read) == positions(produced)
    # Parent before child: every record of a child was handed over after the last of its parent.
    for child in children:
        parent = shards[child]["ParentShardId"]
        child_reads = [i for i, r in enumerate(read) if r["shard_id"] == child]
        parent_reads = [i for i, r in enumerate(read) if r["shard_id"] == parent]
        if child_reads and parent_reads:
            assert max(parent_reads) < min(child_reads), f"{child} was read before its parent {parent} ended"


def test_kcl_cannot_read_kinesalite_it_speaks_only_http1(running_standins: None, fresh_stream, tmp_path: Path):
    """The other stand-in, named gap: kinesalite (and its StreamARN shim) serve HTTP/1.1 only, and
    the KCL's Kinesis client (the SDK's netty async client) speaks only HTTP/2, with prior knowledge
    on plain http. Its first call (ListShards) gets an HTTP/1.1 answer where the HTTP/2 SETTINGS
    frame should be, and the KCL never gets as far as any Kinesis API. If this test starts failing,
    the KCL can read kinesalite: run the oracle above against it too."""
    with standins.running_standins(standins.KINESALITE_SET, stop_on_exit=True):
        kinesis, name, arn = fresh_stream(standins.SHIM_ENDPOINT, 2)
        acknowledged = produce(kinesis, arn, [json.dumps(e).encode() for e in known_events(scenario_start())[:20]])
        assert acknowledged.records_sent == 20
        with kcl_reader(arn, kinesis_endpoint=standins.SHIM_ENDPOINT, dynamodb_endpoint=standins.MOTO_ENDPOINT,
                        work_dir=tmp_path / "kcl") as reader:
            deadline = time.monotonic() + 180
            while not reader.log_lines("First received frame was not SETTINGS"):
                assert time.monotonic() < deadline, f"no HTTP/2 preface error in {reader.daemon_log}"
                time.sleep(1.0)
            assert reader.records() == []
            assert reader.log_lines("ListShards", "listShards")


def test_kcl_started_after_a_split_on_kinesis_local_reads_nothing(running_standins: None, fresh_stream,
                                                                   tmp_path: Path):
    """kinesis-local's named gap: ListShards with ShardFilter AT_TRIM_HORIZON returns every shard,
    closed parents and children together, where AWS returns only the shards open at the trim
    horizon. A KCL whose first lease sync comes after a split sees overlapping hash ranges and
    creates no lease. If this test starts failing, kinesis-local filters correctly now."""
    kinesis, name, arn = fresh_stream(standins.KINESIS_LOCAL_PLAIN_ENDPOINT, 2)
    split_every_shard(kinesis, name)
    at_trim_horizon = kinesis.list_shards(StreamName=name, ShardFilter={"Type": "AT_TRIM_HORIZON"})["Shards"]
    assert len(at_trim_horizon) == 6  # AWS: the 2 parents only
    produce(kinesis, arn, [json.dumps(e).encode() for e in known_events(scenario_start())[:20]])
    with kcl_reader(arn, kinesis_endpoint=standins.KINESIS_LOCAL_PLAIN_ENDPOINT,
                    dynamodb_endpoint=standins.MOTO_ENDPOINT, work_dir=tmp_path / "kcl") as reader:
        deadline = time.monotonic() + 180
        while not reader.log_lines("Incomplete hash range found"):
            assert time.monotonic() < deadline, f"no hash range complaint in {reader.daemon_log}"
            time.sleep(1.0)
        assert reader.records() == []

"""An independent reader: the Kinesis Client Library reads back what the producer logged.

The KCL (MultiLangDaemon from the pinned `kclpy-ext` wheel, leases in moto's DynamoDB, metrics
off) reads a fresh stream into which the scenario's events were produced, with a shard split
(4 -> 8) between two halves. Exactly the acknowledged records must come back (same shard, same
sequence number, nothing missing, nothing extra), and a child shard only after its parent ended.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from pathlib import Path

import pytest

from local_kinesis import resources, standins
from local_kinesis.kcl_reader import kcl_reader
from local_kinesis.producer import produce, read_log
from tests.e2e_scenario import known_events
from tests.fault_scenario import scenario_start

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REGION = "eu-west-1"


def positions(records: list[dict[str, str]]) -> Counter:
    return Counter((r["shard_id"], r["sequence_number"], r["impression_id"]) for r in records)


def test_kcl_reads_exactly_what_was_acknowledged_across_a_split(running_standins: None, tmp_path: Path):
    kinesis = resources.aws_client("kinesis", standins.KINESIS_LOCAL_PLAIN_ENDPOINT, REGION)
    name = f"kcl-{uuid.uuid4().hex[:8]}"
    arn = resources.create_stream(kinesis, name, 4)["stream_arn"]
    events = known_events(scenario_start())
    payloads = [json.dumps(e).encode() for e in events + events[::7]]
    half = len(payloads) // 2

    # The KCL starts before the split: its first lease sync must see only the four parents.
    # (kinesis-local answers ListShards with ShardFilter AT_TRIM_HORIZON with every shard, closed
    # parents and their children together; AWS returns only the shards open at the trim horizon.
    # The KCL's HierarchicalShardSyncer then finds overlapping hash ranges, logs "Incomplete hash
    # range found" and never creates a lease: a KCL started after a split reads nothing there.)
    with kcl_reader(arn, kinesis_endpoint=standins.KINESIS_LOCAL_PLAIN_ENDPOINT,
                    dynamodb_endpoint=standins.MOTO_ENDPOINT, work_dir=tmp_path / "kcl") as reader:
        produce(kinesis, arn, payloads[:half], log=tmp_path / "first.jsonl")
        reader.wait_for(half, timeout_s=240)
        kinesis.update_shard_count(StreamARN=arn, TargetShardCount=8, ScalingType="UNIFORM_SCALING")
        resources.wait_stream_active(kinesis, name)
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

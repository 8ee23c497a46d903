"""Faults while the real job runs (PyFlink mini cluster + connector jar, over the real stand-ins).

Each test produces the known events of tests/e2e_scenario.py, injects one fault, and checks the
outputs against the pandas oracle built from the producer's own log of acknowledged records:
every record read once (raw/), every auction counted once (features), every floor right (DynamoDB).
The job runs without restarts: a fault that fails the job fails the test.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest

from flink_jobs.config import AppConfig
from local_kinesis import standins
from local_runs.runner import RunningJob
from serving.floor_reader import floors_in_table
from tests.support.e2e_scenario import assert_outputs_match_oracle, wait_for
from tests.support.fault_proxy import FaultProxy
from tests.support.fault_scenario import LoggedProducer, raw_matches_log, run_with_fault, sleep_until
from tests.support.throttling_proxy import ThrottlingProxy
from training import lake
from udfs.aws import aws_client

pytestmark = pytest.mark.e2e


def test_every_event_sent_twice_is_counted_once(job_config: AppConfig, tmp_path: Path):
    def send_everything_twice(producer: LoggedProducer, events: list[dict], job: RunningJob) -> None:
        # Retries interleaved with the stream (a copy right behind every third event),
        # then the whole stream again (a producer that re-sent everything after a crash).
        retried = [copy for i, e in enumerate(events) for copy in ([e, e] if i % 3 == 0 else [e])]
        producer.send(retried)
        # The whole stream again once the first pass was read: the watermark has moved on by
        # then, so the copies of early windows are surely behind it and those of the last
        # seconds surely not.
        wait_for(lambda: len(lake.read(job_config.lake.path, "raw")) >= len(retried), 180,
                 "the first pass committed to raw/", job)
        producer.send(events)

    scenario, producer = run_with_fault(job_config, tmp_path, send_everything_twice)

    acknowledged = producer.acknowledged()
    assert len(acknowledged) >= 2 * len(scenario.events) + 1  # every auction at least twice, + the late one
    raw_matches_log(job_config, producer)
    assert_outputs_match_oracle(job_config, scenario)
    # Both ways a copy is dropped were taken: copies behind the watermark went to raw_late/
    # (never windowed), and on-time copies reached the window and were dropped by dedup.
    late_copies = len(lake.read(job_config.lake.path, "raw_late")) - 1
    assert 0 < late_copies < len(scenario.duplicates)


DYNAMODB_PROXY_PORT = 5182
OUTAGE_S = 30


@pytest.mark.slow  # 40-60 s: in make test-all; the sink's own retries are JUnit-tested in make jar
def test_dynamodb_down_for_30_s_every_floor_arrives(job_config: AppConfig, tmp_path: Path):
    """moto (shared) stays up; the job reaches DynamoDB through a proxy of ours that we block."""
    with FaultProxy(standins.HOST, standins.MOTO_PORT, listen_port=DYNAMODB_PROXY_PORT) as proxy:
        config = replace(job_config, floors=replace(job_config.floors, endpoint=proxy.url))

        def dynamodb_outage(producer: LoggedProducer, events: list[dict], job: RunningJob) -> None:
            # Down before the traffic; the 30 s count from the first write that met the outage,
            # so floors are due all along. Half refuses connections, half accepts them and never
            # answers (the client's timeouts, and requests cut mid-flight when it comes back).
            proxy.block("refuse")
            producer.send(events + events[::7])
            wait_for(lambda: proxy.refused > 0, 180, "the sink's first write to meet the outage", job)
            outage_ends = time.monotonic() + OUTAGE_S
            sleep_until(outage_ends - OUTAGE_S / 2)
            proxy.block("blackhole")
            refused_before = proxy.refused
            sleep_until(outage_ends)
            job.assert_running()
            assert floors_in_table(job_config) == [], "a floor reached moto while the proxy was blocked"
            assert proxy.refused > refused_before, "no write attempt met the black hole"
            proxy.unblock()

        scenario, producer = run_with_fault(config, tmp_path, dynamodb_outage)

    raw_matches_log(config, producer)
    assert_outputs_match_oracle(job_config, scenario)  # floors read from moto directly


THROTTLED_FIRST = 40  # every write of the first 40 (the SDK's own retries give up: the sink's retry)


def throttle_writes(operation: str, n: int) -> bool:
    """The first THROTTLED_FIRST writes throttled, then one in three."""
    return operation in ("PutItem", "BatchWriteItem") and (n <= THROTTLED_FIRST or n % 3 == 0)


@pytest.mark.slow  # about 50 s: a whole job run; make test keeps its DynamoDB fault to the outage above
def test_dynamodb_throttling_every_floor_arrives(job_config: AppConfig, tmp_path: Path):
    """DynamoDB answers ProvisionedThroughputExceededException (as AWS does on a hot partition or an
    exhausted capacity), first to every write, then to one in three: the sink retries without failing
    the job or dropping a floor, and every floor arrives with the oracle's values. moto never
    throttles, so an HTTP proxy of ours answers those writes (tests/support/throttling_proxy.py)."""
    with ThrottlingProxy(standins.HOST, standins.MOTO_PORT, throttle_writes) as proxy:
        config = replace(job_config, floors=replace(job_config.floors, endpoint=proxy.url))

        def throttled_traffic(producer: LoggedProducer, events: list[dict], job: RunningJob) -> None:
            producer.send(events + events[::7])
            wait_for(lambda: sum(proxy.throttled.values()) >= THROTTLED_FIRST, 180,
                     "the first writes throttled", job)

        scenario, producer = run_with_fault(config, tmp_path, throttled_traffic)

    writes = proxy.requests["PutItem"] + proxy.requests["BatchWriteItem"]
    assert sum(proxy.throttled.values()) > THROTTLED_FIRST and writes > sum(proxy.throttled.values())
    raw_matches_log(config, producer)
    assert_outputs_match_oracle(job_config, scenario)  # floors read from moto directly
    print(f"\nDynamoDB writes {dict(proxy.requests)}, throttled {dict(proxy.throttled)}")


def test_shard_split_while_running_loses_nothing(job_config: AppConfig, tmp_path: Path):
    """UpdateShardCount 4 -> 8 (every shard split in two) between two halves of the traffic,
    while the job reads: it discovers the children, reads them once their parents ended, and
    every acknowledged record is read once and counted once."""
    kinesis = aws_client("kinesis", job_config.stream.endpoint, job_config.stream.region)
    arn = job_config.stream.stream_arn

    def split_between_halves(producer: LoggedProducer, events: list[dict], job: RunningJob) -> None:
        half = len(events) // 2
        producer.send(events[:half] + events[:half:7])
        split_into_eight(kinesis, arn, job)
        producer.send(events[half:] + events[half::7])

    scenario, producer = run_with_fault(job_config, tmp_path, split_between_halves)

    assert_reached_parents_and_children(kinesis, arn, producer)
    raw_matches_log(job_config, producer)
    assert_outputs_match_oracle(job_config, scenario)


def test_split_shards_parents_are_read_before_children(job_config: AppConfig, tmp_path: Path):
    """The order across a split: parents hold unread records when the job meets the children.

    The first half goes into the four parents, the stream is split, then some auctions of the
    first half are sent again with a different price (their key hashes them into a child of the
    parent that holds the first copy), then the second half; all before the job starts. Dedup
    keeps the copy it sees first: if the job read a child before its parent ended, an altered
    price would win and the features would differ from the oracle (built from the first copies).
    """
    kinesis = aws_client("kinesis", job_config.stream.endpoint, job_config.stream.region)
    arn = job_config.stream.stream_arn
    altered: list[dict] = []

    def split_before_the_job(producer: LoggedProducer, events: list[dict]) -> None:
        half = len(events) // 2
        producer.send(events[:half])
        split_into_eight(kinesis, arn)
        # The last auctions of the first half: still on time (within the lateness) behind the
        # parents, so they reach dedup rather than raw_late/.
        altered.extend(dict(e, cpm_eur=99.0, top_bid_eur=99.5) if e["filled"] else dict(e, bid_count=99)
                       for e in events[half - 12 : half])
        producer.send(altered + events[half:])

    scenario, producer = run_with_fault(job_config, tmp_path, lambda *_: None, before=split_before_the_job)

    assert_reached_parents_and_children(kinesis, arn, producer)
    raw_matches_log(job_config, producer)
    assert_outputs_match_oracle(job_config, scenario)
    late = set(lake.read(job_config.lake.path, "raw_late")["impression_id"])
    assert {e["impression_id"] for e in altered} - late, "no altered retry reached dedup: the order was not tested"


def split_into_eight(kinesis, arn: str, job: RunningJob | None = None) -> None:  # noqa: ANN001 - a boto3 client
    kinesis.update_shard_count(StreamARN=arn, TargetShardCount=8, ScalingType="UNIFORM_SCALING")
    deadline = time.monotonic() + 60
    while len(open_shards(kinesis, arn)) != 8:
        if job is not None:
            job.assert_running()
        assert time.monotonic() < deadline, "the stream did not reach 8 open shards in 60 s"
        time.sleep(0.5)


def assert_reached_parents_and_children(kinesis, arn: str, producer: LoggedProducer) -> None:  # noqa: ANN001
    shards_used = {a["shard_id"] for a in producer.acknowledged()}
    parents = {s["ShardId"] for s in list_shards(kinesis, arn) if s.get("ParentShardId") is None}
    assert len(parents) == 4 and shards_used & parents and shards_used - parents, (
        "the traffic did not reach both parent and child shards")


def list_shards(kinesis, arn: str) -> list[dict]:  # noqa: ANN001 - a boto3 client
    return kinesis.list_shards(StreamARN=arn)["Shards"]


def open_shards(kinesis, arn: str) -> list[dict]:  # noqa: ANN001 - a boto3 client
    # kinesis-local marks a closed shard with an ending sequence number (AWS too).
    return [s for s in list_shards(kinesis, arn) if "EndingSequenceNumber" not in s["SequenceNumberRange"]]

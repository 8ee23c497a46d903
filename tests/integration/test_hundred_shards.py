"""The job at the stream's production shape: 100 shards, a 5,000 events/s burst, a split mid-run.

kinesis-local takes ~1,700 records/s from one client, so the burst goes to kinesalite (which
takes ~14,000/s) through a StreamARN shim of this test's own, which also counts the calls the
job's source makes. The producer's log of acknowledged records is the oracle: every record is
read once (raw/) and counted once (features and floors, from the first acknowledged copies).

In `make test-all` only (marked slow): about 5 minutes.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from flink_jobs.config import AppConfig, load_config
from local_kinesis import kinesalite_shim, resources, standins
from simulator.events import generate_events
from simulator.producer import produce, read_log
from tests.conftest import e2e_config
from tests.support.e2e_scenario import assert_features_and_floors_match, wait_for
from tests.support.fault_scenario import FAULT_IDLE_TIMEOUT_MS, start_job_without_restarts
from training import lake
from udfs.aws import aws_client

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SHARDS = 100
SPLIT = 10  # shards split in two while the burst runs
RATE = 5_000  # events/s: the brief's peak
BURST_S = 60
PRODUCERS = 4
SHIM_PORT = 4575  # this test's own shim, beside the stand-ins' (4570)
GET_RECORDS = "Kinesis_20131202.GetRecords"


class CountingShimServer(kinesalite_shim.ShimServer):
    """The StreamARN shim, counting requests by their X-Amz-Target (the API call)."""

    def __init__(self, listen: tuple[str, int], upstream: str):
        super().__init__(listen, upstream)
        self.RequestHandlerClass = CountingShimHandler
        self.calls: Counter[str] = Counter()
        self.lock = threading.Lock()

    def count(self, target: str) -> None:
        with self.lock:
            self.calls[target] += 1

    def snapshot(self) -> Counter[str]:
        with self.lock:
            return Counter(self.calls)


class CountingShimHandler(kinesalite_shim.ShimHandler):
    def _forward(self) -> None:
        self.server.count(self.headers.get("X-Amz-Target", "?"))
        super()._forward()

    do_POST = _forward
    do_GET = _forward
    do_HEAD = _forward


@pytest.fixture
def counting_shim(running_standins: None) -> tuple[str, CountingShimServer]:
    with standins.running_standins(("kinesalite",), stop_on_exit=True):
        server = CountingShimServer(("127.0.0.1", SHIM_PORT), standins.KINESALITE_ENDPOINT)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{SHIM_PORT}", server
        finally:
            server.shutdown()
            server.server_close()


def hundred_shard_config(tmp_path: Path, endpoint: str) -> AppConfig:
    base = load_config()
    client = aws_client("kinesis", endpoint, base.stream.region)
    arn = resources.create_stream(client, f"auctions-{uuid.uuid4().hex[:8]}", SHARDS, timeout_s=120)["stream_arn"]
    config = e2e_config(tmp_path, {"stream.arn": arn, "aws.endpoint": endpoint, "shard.count": str(SHARDS),
                                   "aws.trust.all.certificates": "false"})
    # Every shard has traffic; idleness is not what this run is about (see fault_scenario).
    return replace(config, job=replace(config.job, idle_timeout_ms=FAULT_IDLE_TIMEOUT_MS))


def split_shards(client, arn: str, count: int) -> list[str]:  # noqa: ANN001 - a boto3 client
    """Split `count` open shards at the middle of their hash-key range; returns the parents' ids."""
    shards = [s for s in client.list_shards(StreamARN=arn)["Shards"]
              if "EndingSequenceNumber" not in s["SequenceNumberRange"]][:count]
    name = arn.rsplit("/", 1)[1]
    for shard in shards:
        low = int(shard["HashKeyRange"]["StartingHashKey"])
        high = int(shard["HashKeyRange"]["EndingHashKey"])
        # kinesalite takes StreamName (the shim would rewrite an ARN; this client talks through it too).
        client.split_shard(StreamName=name, ShardToSplit=shard["ShardId"], NewStartingHashKey=str((low + high) // 2))
        resources.wait_stream_active(client, name, timeout_s=60)
    return [s["ShardId"] for s in shards]


def open_shard_count(client, arn: str) -> int:  # noqa: ANN001 - a boto3 client
    shards = client.list_shards(StreamARN=arn)["Shards"]
    return sum("EndingSequenceNumber" not in s["SequenceNumberRange"] for s in shards)


def test_hundred_shards_burst_and_split_lose_nothing(counting_shim: tuple[str, CountingShimServer],
                                                     tmp_path: Path) -> None:
    endpoint, shim = counting_shim
    config = hundred_shard_config(tmp_path, endpoint)
    client = aws_client("kinesis", endpoint, config.stream.region)
    arn = config.stream.stream_arn
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    events = generate_events(RATE * BURST_S, seed=16, start=start - timedelta(seconds=start.second % 10),
                             events_per_second=RATE)
    by_id = {e["impression_id"]: e for e in events}

    job = start_job_without_restarts(config, tmp_path / "job")
    try:
        job.wait_running(timeout_s=120)
        records = [json.dumps(e).encode() for e in events]
        logs = [tmp_path / f"produced-{i}.jsonl" for i in range(PRODUCERS)]
        started = time.monotonic()
        # Several clients, as an ad server fleet is: one Python client tops out below the peak.
        producers = [threading.Thread(target=produce, args=(
            aws_client("kinesis", endpoint, config.stream.region), arn, records[i::PRODUCERS]),
            kwargs={"rate_per_s": RATE / PRODUCERS, "log": logs[i]}) for i in range(PRODUCERS)]
        for producer in producers:
            producer.start()
        time.sleep(BURST_S / 2)
        parents = split_shards(client, arn, SPLIT)
        for producer in producers:
            producer.join(timeout=BURST_S * 4)
        assert not any(p.is_alive() for p in producers), "a producer did not finish"
        burst_end = time.monotonic()
        burst_s = burst_end - started
        acknowledged = [ack for path in logs for ack in read_log(path)]
        assert len(acknowledged) == len(records)
        print(f"\nburst: {len(records):,} records in {burst_s:.1f} s ({len(records) / burst_s:,.0f}/s) from "
              f"{PRODUCERS} clients, {SPLIT} shards split after {BURST_S / 2:.0f} s")

        # Caught up: every acknowledged record committed to raw/ (a checkpoint after it was read).
        wait_for(lambda: len(lake.read(config.lake.path, "raw")) >= len(acknowledged), 180,
                 "every acknowledged record in raw/", job)
        catch_up_s = time.monotonic() - burst_end
        print(f"caught up (all records committed to raw/) {catch_up_s:.1f} s after the burst ended")

        # At the tip: the source's GetRecords calls per open shard and second, over 20 s of no traffic.
        open_shards = open_shard_count(client, arn)
        before = shim.snapshot()[GET_RECORDS]
        time.sleep(20)
        per_shard_s = (shim.snapshot()[GET_RECORDS] - before) / 20 / open_shards
        print(f"GetRecords at the tip: {per_shard_s:.2f} calls/s per shard over {open_shards} open shards "
              f"(Kinesis allows 5/s per shard, shared by every consumer)")
        job.assert_running()
        job.drain(timeout_s=300)
    finally:
        job.cancel()

    # Nothing lost, nothing read twice: raw/ holds each acknowledged copy exactly once.
    raw = lake.read(config.lake.path, "raw")
    assert Counter(raw["impression_id"]) == Counter(a["impression_id"] for a in acknowledged)
    shards_used = {a["shard_id"] for a in acknowledged}
    assert set(parents) & shards_used and len(shards_used) > SHARDS, "traffic reached parents and children"
    # Counted once: features and floors from the first acknowledged copy of each auction.
    first = list({a["impression_id"]: by_id[a["impression_id"]] for a in acknowledged}.values())
    assert_features_and_floors_match(config, first)
    # A caught-up job leaves room for other consumers of the stream; lag back within a minute.
    assert catch_up_s < 60, f"raw/ caught up {catch_up_s:.0f} s after the burst"
    assert per_shard_s <= 1.05, f"{per_shard_s:.2f} GetRecords/s per shard at the tip"

"""The job on a local Flink standalone cluster (local_runs/cluster.py): rescaled mid-stream
through savepoints (also one taken while a shard split is in progress), a TaskManager killed
mid-stream, and its Python workers killed. Nothing lost, nothing counted twice.

Traffic goes in phases whose event times follow one another, so nothing is late by
construction; the phase boundaries cut windows in two, so open windows (and the dedup state)
cross every savepoint and restart. Each phase after the first also re-sends some events of the
open window of the phase before (a retrying producer): only restored dedup state keeps them
from being counted twice. The oracle is pandas over the events the producer's log acknowledged.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

import pytest

from flink_jobs.config import AppConfig, load_config, write_properties
from local_runs import cluster as local_cluster
from local_runs.cluster import Cluster
from simulator.events import encode, generate_events
from simulator.producer import produce, read_log
from tests.conftest import e2e_config
from tests.integration.test_faults import open_shards
from tests.support.e2e_scenario import assert_features_and_floors_match
from training import lake
from udfs.aws import aws_client

pytestmark = pytest.mark.e2e

RATE = 40  # events per second of event time
PHASE_BOUNDS_S = (0, 25, 55, 80)  # event-time seconds after t0; 10 s windows: 25 and 55 cut a window
RESENT_PER_PHASE = 30  # retried copies of the previous phase's last events, sent first in a phase


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, running_standins: None) -> Iterator[Cluster]:
    """A cluster of its own (ports apart from `make cluster-start`'s), stopped at the end."""
    own = Cluster(home=tmp_path_factory.mktemp("flink"), rest_port=8191, jobmanager_rpc_port=6128,
                  taskmanager_rpc_ports="6129-6130", blob_port=5175)
    local_cluster.start(own)
    try:
        yield own
    finally:
        local_cluster.stop(own)


def cluster_config(tmp_path: Path) -> AppConfig:
    """A fresh stream, lake, bucket and table. The idle timeout is long: every shard gets
    traffic, and the final drain must not meet all-idle splits on a slow machine (FLINK-40499)."""
    arn = load_config().stream.stream_arn.rsplit("/", 1)[0] + f"/auctions-{uuid.uuid4().hex[:8]}"
    e2e_config(tmp_path, {"stream.arn": arn})
    props = tmp_path / "application_properties.json"
    write_properties(props, {"Job": {"source.idle.timeout": "5 min"}}, base=props)
    return load_config(props)


def phases(seed: int) -> tuple[datetime, list[list[dict]]]:
    """Simulated auctions over PHASE_BOUNDS_S, split by event time; the first window starts at t0."""
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    t0 -= timedelta(seconds=t0.second % 10)
    span = PHASE_BOUNDS_S[-1]
    events = generate_events(span * RATE * 2, seed=seed, start=t0, events_per_second=RATE)
    offset = [(datetime.fromisoformat(e["event_time"].replace("Z", "+00:00")) - t0).total_seconds() for e in events]
    return t0, [[e for e, s in zip(events, offset, strict=True) if lo <= s < hi]
                for lo, hi in zip(PHASE_BOUNDS_S, PHASE_BOUNDS_S[1:], strict=False)]


class Traffic:
    """Sends phases to the stream and logs every acknowledged record (the oracle's input)."""

    def __init__(self, config: AppConfig, log: IO[str]):
        self.config = config
        self.log = log
        self.kinesis = aws_client("kinesis", config.stream.endpoint, config.stream.region)
        self.distinct: dict[str, dict] = {}
        self.sent = 0

    def send(self, events: list[dict], resent: list[dict] = ()) -> None:
        # The retried copies first: their window is still open when they are read.
        records = [encode(e) for e in [*resent, *events]]
        stats = produce(self.kinesis, self.config.stream.stream_arn, records, log=self.log)
        assert stats.records_sent == len(records)
        self.sent += stats.records_sent
        self.log.flush()
        for event in [*resent, *events]:
            self.distinct.setdefault(event["impression_id"], event)


def acknowledged_events(traffic: Traffic, log_path: Path) -> list[dict]:
    """The distinct events the stream acknowledged, per the producer's log."""
    acked = Counter(entry["impression_id"] for entry in read_log(log_path))
    assert sum(acked.values()) == traffic.sent
    return [traffic.distinct[i] for i in acked]


def wait_for_raw(cluster: Cluster, config: AppConfig, job_id: str, count: int, timeout_s: float = 480) -> None:
    """Until `count` records are committed to raw/ (every sent record was read and checkpointed)."""
    wait_until(lambda: len(lake.read(config.lake.path, "raw")) >= count, timeout_s,
               f"{count} records committed to raw/", cluster, job_id)


def wait_until(predicate: Callable[[], bool], timeout_s: float, what: str, cluster: Cluster, job_id: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        state = local_cluster.rest(cluster, f"/jobs/{job_id}")["state"]
        if state in ("FAILED", "CANCELED", "FINISHED"):
            raise AssertionError(f"job {job_id} {state} while waiting for {what}: "
                                 f"{local_cluster.failure(cluster, job_id)}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(1.0)


def assert_exact(config: AppConfig, traffic: Traffic, log_path: Path) -> None:
    raw = lake.read(config.lake.path, "raw")
    assert len(raw) == traffic.sent, "every record read exactly once (nothing lost, nothing read twice)"
    assert lake.read(config.lake.path, "raw_late").empty, "nothing is late by construction"
    assert lake.read(config.lake.path, "raw_errors").empty
    assert_features_and_floors_match(config, acknowledged_events(traffic, log_path))


def test_rescale_2_4_1_through_savepoints_is_exact(cluster: Cluster, tmp_path: Path):
    config = cluster_config(tmp_path)
    _, (first, second, third) = phases(seed=8)
    log_path = tmp_path / "producer.jsonl"
    with log_path.open("a", encoding="utf-8") as log:
        traffic = Traffic(config, log)
        props = tmp_path / "application_properties.json"

        traffic.send(first)
        job = local_cluster.submit(cluster, 2, props)
        wait_for_raw(cluster, config, job, traffic.sent)
        savepoint = local_cluster.stop_with_savepoint(cluster, job)

        traffic.send(second, resent=first[-RESENT_PER_PHASE:])
        job = local_cluster.submit(cluster, 4, props, savepoint=savepoint)
        wait_for_raw(cluster, config, job, traffic.sent)
        savepoint = local_cluster.stop_with_savepoint(cluster, job)

        traffic.send(third, resent=second[-RESENT_PER_PHASE:])
        job = local_cluster.submit(cluster, 1, props, savepoint=savepoint)
        wait_for_raw(cluster, config, job, traffic.sent)
        local_cluster.stop_with_savepoint(cluster, job, drain=True)

    assert_exact(config, traffic, log_path)


def restarted(cluster: Cluster, job_id: str) -> bool:
    """The job failed over at least once and runs again (every task RUNNING)."""
    history = local_cluster.rest(cluster, f"/jobs/{job_id}/exceptions").get("exceptionHistory", {})
    if not history.get("entries"):
        return False
    try:
        local_cluster.wait_running(cluster, job_id, timeout_s=0)
    except local_cluster.ClusterError:
        return False
    return True


@pytest.mark.slow  # 3-6 min here: detection of the dead TaskManager, restart, catch-up
def test_taskmanager_killed_mid_stream_recovers_from_checkpoint_exactly(cluster: Cluster, tmp_path: Path):
    config = cluster_config(tmp_path)
    _, (first, second, third) = phases(seed=9)
    log_path = tmp_path / "producer.jsonl"
    with log_path.open("a", encoding="utf-8") as log:
        traffic = Traffic(config, log)
        traffic.send(first)
        job = local_cluster.submit(cluster, 2, tmp_path / "application_properties.json")
        wait_for_raw(cluster, config, job, traffic.sent)

        # Records in flight when the TaskManager dies: read, maybe windowed, not yet checkpointed.
        traffic.send(second, resent=first[-RESENT_PER_PHASE:])
        local_cluster.kill_taskmanager(cluster, "taskmanager-1")
        try:
            wait_until(lambda: restarted(cluster, job), 480, "the job restarted from its checkpoint", cluster, job)
            traffic.send(third, resent=second[-RESENT_PER_PHASE:])
            wait_for_raw(cluster, config, job, traffic.sent)
            local_cluster.stop_with_savepoint(cluster, job, drain=True)
        finally:
            local_cluster.start_taskmanager(cluster, "taskmanager-1")  # the next test gets a whole cluster

    assert_exact(config, traffic, log_path)


@pytest.mark.slow  # 2-4 min here: the Python workers' restart and catch-up
def test_python_workers_killed_mid_stream_recover_from_checkpoint_exactly(cluster: Cluster, tmp_path: Path):
    """SIGKILL the Beam Python workers (scoring, Feature Store, drift), as the kernel's OOM killer
    would: the TaskManagers stay up, the tasks that call Python fail, and the job restarts from
    its last checkpoint with the same outputs as the oracle."""
    config = cluster_config(tmp_path)
    _, (first, second, third) = phases(seed=10)
    log_path = tmp_path / "producer.jsonl"
    with log_path.open("a", encoding="utf-8") as log:
        traffic = Traffic(config, log)
        traffic.send(first)
        job = local_cluster.submit(cluster, 2, tmp_path / "application_properties.json")
        wait_for_raw(cluster, config, job, traffic.sent)

        traffic.send(second, resent=first[-RESENT_PER_PHASE:])
        killed = local_cluster.kill_python_workers(cluster)
        assert killed
        wait_until(lambda: restarted(cluster, job), 480, "the job restarted from its checkpoint", cluster, job)
        history = local_cluster.rest(cluster, f"/jobs/{job}/exceptions")["exceptionHistory"]["entries"]
        assert history, "the kill failed the tasks that call Python"
        traffic.send(third, resent=second[-RESENT_PER_PHASE:])
        wait_for_raw(cluster, config, job, traffic.sent)
        local_cluster.stop_with_savepoint(cluster, job, drain=True)

    assert_exact(config, traffic, log_path)


@pytest.mark.slow  # 3-5 min here: three jobs on the cluster
def test_savepoint_during_a_shard_split_restored_at_another_parallelism(cluster: Cluster, tmp_path: Path):
    """A savepoint taken right after every shard split (4 -> 8), while the reader is between
    parents (maybe unfinished) and children (maybe not yet found), restored at parallelism 3
    instead of 2. The children's records are sent after the savepoint, so only the restored job
    can read them: it must find every child from the restored state and read each record once."""
    config = cluster_config(tmp_path)
    _, (first, second, third) = phases(seed=11)
    half = len(second) // 2
    log_path = tmp_path / "producer.jsonl"
    kinesis = aws_client("kinesis", config.stream.endpoint, config.stream.region)
    arn = config.stream.stream_arn
    with log_path.open("a", encoding="utf-8") as log:
        traffic = Traffic(config, log)
        props = tmp_path / "application_properties.json"
        traffic.send(first)
        job = local_cluster.submit(cluster, 2, props)
        wait_for_raw(cluster, config, job, traffic.sent)

        traffic.send(second[:half], resent=first[-RESENT_PER_PHASE:])  # into the four parents
        kinesis.update_shard_count(StreamARN=arn, TargetShardCount=8, ScalingType="UNIFORM_SCALING")
        wait_until(lambda: len(open_shards(kinesis, arn)) == 8, 60, "8 open shards", cluster, job)
        savepoint = local_cluster.stop_with_savepoint(cluster, job)

        traffic.send(second[half:])  # into the eight children
        traffic.send(third, resent=second[-RESENT_PER_PHASE:])
        job = local_cluster.submit(cluster, 3, props, savepoint=savepoint)
        wait_for_raw(cluster, config, job, traffic.sent)
        local_cluster.stop_with_savepoint(cluster, job, drain=True)

    shards_used = {entry["shard_id"] for entry in read_log(log_path)}
    parents = {s["ShardId"] for s in kinesis.list_shards(StreamARN=arn)["Shards"] if s.get("ParentShardId") is None}
    assert shards_used & parents and shards_used - parents, "the traffic reached both parents and children"
    assert_exact(config, traffic, log_path)

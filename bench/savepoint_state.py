"""Savepoints of the real job on the local standalone cluster: how long they take, how big
the state is, and what dedup costs per million distinct impressions.

For each state backend (RocksDB, as on MSF, and hashmap, the JVM heap), two runs of the same
job over the same number of events on a fresh stream:

- distinct: every event a new impression_id;
- baseline: the same events, but only a few distinct impression_ids (retries of each other).

Both runs are stopped with a savepoint (no drain) once every event is committed to raw/; the
distinct run is then resumed from its savepoint. The dedup cost per impression is the savepoint
size difference over the difference in distinct ids; everything else in the state (open windows,
file sink, source positions) is the same in both runs.

    python -m bench.savepoint_state [--events 40000] [--backends rocksdb,hashmap]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse

from flink_jobs.config import AppConfig, load_config, write_properties
from local_kinesis import resources, standins
from local_runs import cluster as local_cluster
from local_runs.cluster import Cluster
from simulator.events import encode, generate_events
from simulator.producer import produce
from training import lake
from udfs import rules
from udfs.aws import aws_client

PARALLELISM = 2
EVENT_TIME_SPAN_S = 60  # the events cover six 10 s windows; the last ones are open at the savepoint


@dataclass
class Run:
    label: str
    distinct_ids: int
    events: int
    submit_s: float  # flink run until every task RUNNING, fresh start
    savepoint_s: float  # stop-with-savepoint request until the savepoint is complete
    savepoint_bytes: int
    savepoint_state: dict[str, int]  # full state size per job vertex (first operator's name), canonical
    checkpoint_state: dict[str, int]  # the same in the last checkpoint: the backend's own format
    open_segments: int  # (level, segment) keys with an open window at the savepoint
    restore_s: float | None = None  # flink run -s until every task RUNNING


def bench_config(work: Path, backend: str, label: str) -> tuple[AppConfig, Path]:
    """A fresh stream, lake, bucket and table; the config and its properties file."""
    suffix = f"{label}-{backend}-{uuid.uuid4().hex[:6]}"
    arn = load_config().stream.stream_arn.rsplit("/", 1)[0] + f"/bench-{suffix}"
    props = write_properties(work / f"properties-{suffix}.json", {
        "AuctionStream": {"stream.arn": arn, "source.init.position": "TRIM_HORIZON", "shard.count": "4"},
        "DataLake": {"path": (work / f"lake-{suffix}").as_uri(), "bucket": f"lake-{suffix}"},
        "FloorsTable": {"table.name": f"floors-{suffix}"},
        "Job": {"window.size": "10 s", "watermark.lateness": "5 s", "checkpoint.interval": "5 s",
                "source.idle.timeout": "5 min"},
    })
    config = load_config(props)
    resources.create_all(config)
    return config, props


def traffic(count: int, distinct_ids: int) -> list[dict]:
    """`count` simulated auctions over EVENT_TIME_SPAN_S; impression ids reused beyond `distinct_ids`."""
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    t0 -= timedelta(seconds=t0.second % 10)
    events = generate_events(count, seed=42, start=t0, events_per_second=count / EVENT_TIME_SPAN_S)
    if distinct_ids < count:
        for i, event in enumerate(events):
            event["impression_id"] = f"retry-{i % distinct_ids:08d}"
    return events


def open_segments(events: list[dict], window_ms: int, lateness_ms: int) -> int:
    """(level, segment) pairs of the windows the watermark has not closed yet: the keys the
    window operator holds state for when the savepoint is taken."""
    times = [datetime.fromisoformat(e["event_time"].replace("Z", "+00:00")).timestamp() * 1000 for e in events]
    watermark = max(times) - lateness_ms
    keys = {(level, rules.segment_key(level, e | {"country_tier": rules.country_tier(e["country"])}))
            for e, t in zip(events, times, strict=True) if (t // window_ms + 1) * window_ms > watermark
            for level in rules.SEGMENT_KEY_FIELDS}
    return len(keys)


def folder_bytes(uri: str) -> int:
    return sum(f.stat().st_size for f in Path(urlparse(uri).path).rglob("*") if f.is_file())


def state_by_operator(cluster: Cluster, job_id: str, kind: str) -> dict[str, int]:
    """Full state size per job vertex of the latest `kind` ("completed" checkpoint or "savepoint"):
    a checkpoint is in the backend's own format (RocksDB: SST files), a savepoint canonical."""
    deadline = time.monotonic() + 60
    # The statistics of a savepoint that just completed can show up a moment later.
    while not (latest := (local_cluster.rest(cluster, f"/jobs/{job_id}/checkpoints").get("latest") or {}).get(kind)):
        if time.monotonic() > deadline:
            raise RuntimeError(f"no {kind} checkpoint statistics for job {job_id}")
        time.sleep(1.0)
    details = local_cluster.rest(cluster, f"/jobs/{job_id}/checkpoints/details/{latest['id']}")
    names = {v["id"]: v["name"] for v in local_cluster.rest(cluster, f"/jobs/{job_id}")["vertices"]}
    # A savepoint's full size may be reported as its checkpointed size only: take the larger.
    return {names.get(vid, vid).split(" -> ")[0]: max(task.get("state_size", 0), task.get("checkpointed_size", 0))
            for vid, task in details.get("tasks", {}).items()}


def wait_committed(cluster: Cluster, config: AppConfig, job_id: str, count: int, timeout_s: float = 900) -> None:
    deadline = time.monotonic() + timeout_s
    while len(lake.read(config.lake.path, "raw")) < count:
        if local_cluster.rest(cluster, f"/jobs/{job_id}")["state"] != "RUNNING":
            raise RuntimeError(f"job {job_id} stopped: {local_cluster.failure(cluster, job_id)}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{count} events not committed after {timeout_s:.0f} s")
        time.sleep(1.0)


def _quiet(_message: str) -> None:
    pass


def one_run(cluster: Cluster, work: Path, label: str, count: int, distinct_ids: int, restore: bool) -> Run:
    config, props = bench_config(work, cluster.state_backend, label)
    kinesis = aws_client("kinesis", config.stream.endpoint, config.stream.region)
    events = traffic(count, distinct_ids)
    sent = produce(kinesis, config.stream.stream_arn, [encode(e) for e in events]).records_sent

    started = time.monotonic()
    job = local_cluster.submit(cluster, PARALLELISM, props, say=_quiet)
    submit_s = time.monotonic() - started
    wait_committed(cluster, config, job, sent)
    time.sleep(12)  # two more checkpoints: the state has settled (dedup entries of the last records)

    checkpoint_state = state_by_operator(cluster, job, "completed")
    started = time.monotonic()
    savepoint = local_cluster.stop_with_savepoint(cluster, job, say=_quiet)
    run = Run(label, min(distinct_ids, count), sent, submit_s, time.monotonic() - started,
              folder_bytes(savepoint), state_by_operator(cluster, job, "savepoint"), checkpoint_state,
              open_segments(events, config.job.window_ms, config.job.lateness_ms))
    if restore:
        started = time.monotonic()
        resumed = local_cluster.submit(cluster, PARALLELISM, props, savepoint=savepoint, say=_quiet)
        run.restore_s = time.monotonic() - started
        local_cluster.rest(cluster, f"/jobs/{resumed}?mode=cancel", method="PATCH")
    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=40_000)
    parser.add_argument("--baseline-ids", type=int, default=500)
    parser.add_argument("--backends", default="rocksdb,hashmap")
    args = parser.parse_args(argv)

    with standins.running_standins(stop_on_exit=True):
        for backend in args.backends.split(","):
            measure(backend, args.events, args.baseline_ids)
    return 0


def measure(backend: str, events: int, baseline_ids: int) -> dict[str, str]:
    """Both runs on a cluster of their own with `backend`; the report's figures (stand-ins must run)."""
    with tempfile.TemporaryDirectory(prefix="savepoint-bench-") as tmp:
        work = Path(tmp)
        cluster = Cluster(home=work / f"flink-{backend}", rest_port=8186, jobmanager_rpc_port=5176,
                          taskmanager_rpc_ports="5177-5178", blob_port=5179, state_backend=backend)
        local_cluster.start(cluster, say=_quiet)
        try:
            distinct = one_run(cluster, work, "distinct", events, events, restore=True)
            baseline = one_run(cluster, work, "baseline", events, baseline_ids, restore=False)
        finally:
            local_cluster.stop(cluster, say=_quiet)
    return report(backend, distinct, baseline)


def figures(quick: bool = False) -> dict[str, str]:
    """The state figures `make bench` reports: RocksDB, the backend MSF runs."""
    return measure("rocksdb", 10_000 if quick else 40_000, 500)


DEDUP = "Deduplicate"  # the job vertex whose keyed state is the dedup state (one entry per impression)


def _vertex(state: dict[str, int], prefix: str) -> int:
    return sum(size for name, size in state.items() if name.startswith(prefix))


def report(backend: str, distinct: Run, baseline: Run) -> dict[str, str]:
    """Print the figures of one backend; return the headline ones."""
    extra_ids = distinct.distinct_ids - baseline.distinct_ids
    print(f"\n== state backend {backend}, parallelism {PARALLELISM}, {distinct.events:,} events ==")
    print(f"fresh submit until every task runs: {distinct.submit_s:.1f} s")
    print(f"take a savepoint (stop, no drain):  {distinct.savepoint_s:.1f} s")
    print(f"restore from it until every task runs: {distinct.restore_s:.1f} s "
          f"(ratio to the fresh submit {distinct.restore_s / distinct.submit_s:.2f})")
    for run in (distinct, baseline):
        print(f"savepoint, {run.label} ({run.distinct_ids:,} distinct ids): {run.savepoint_bytes / 1e6:.2f} MB on disk")
        for name, size in sorted(run.savepoint_state.items(), key=lambda kv: -kv[1]):
            if size:
                print(f"    {name[:50]:50} savepoint {size / 1e3:9.1f} kB   "
                      f"last checkpoint {run.checkpoint_state.get(name, 0) / 1e3:9.1f} kB")
    window_state = _vertex(distinct.savepoint_state, "GlobalWindowAggregate")
    print(f"window state: {window_state / 1e3:.1f} kB for {distinct.open_segments} open (level, segment) windows "
          f"= {window_state / max(distinct.open_segments, 1):.0f} bytes per segment")
    headline = {
        "state backend, parallelism": f"{backend}, {PARALLELISM}",
        "take a savepoint (stop, no drain)": f"{distinct.savepoint_s:.1f} s",
        "restore until every task runs": f"{distinct.restore_s:.1f} s ({distinct.restore_s / distinct.submit_s:.2f} x "
                                         "a fresh submit)",
        f"savepoint size, {distinct.distinct_ids:,} distinct impressions": f"{distinct.savepoint_bytes / 1e6:.2f} MB",
        "window state per open (level, segment) window": f"{window_state / max(distinct.open_segments, 1):.0f} bytes",
    }
    kinds = (("savepoint (canonical)", "savepoint_state"), ("checkpoint (backend format)", "checkpoint_state"))
    for kind, attr in kinds:
        per_id = (_vertex(getattr(distinct, attr), DEDUP) - _vertex(getattr(baseline, attr), DEDUP)) / extra_ids
        print(f"dedup state per distinct impression, {kind}: {per_id:.1f} bytes "
              f"= {per_id:.0f} MB per million distinct impressions")
        headline[f"dedup per million distinct impressions, {kind}"] = f"{per_id:.0f} MB"
    return headline


if __name__ == "__main__":
    raise SystemExit(main())

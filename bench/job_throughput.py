"""Job throughput on a file source: the full graph against a bare parse-and-count job.

The same pre-generated events (JSON lines, as they sit on the stream) go through
(a) a bare Flink SQL job that only extracts the segment and counts per window,
and (b) the full job (validation, dedup, windows, features, floors, all sinks, online
feature records to the Feature Store stand-in),
at the same parallelism, in the same run. Printed: events/s of each and the ratio.

    .venv/bin/python -m bench.job_throughput --events 2000000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from flink_jobs.config import load_config, write_properties
from flink_jobs.main import create_table_env
from flink_jobs.pipeline import auction_stream_ddl, file_source_options, register_functions
from local_kinesis import resources, standins
from local_runs.runner import start_job
from simulator.events import DEFAULT_START, encode, generate_events
from udfs.aws import aws_client

RATE = 580.0  # the production average, events/s of event time


def write_events(path: Path, count: int, chunk: int = 200_000) -> None:
    with path.open("wb") as out:
        for start in range(0, count, chunk):
            # Consecutive chunks continue the clock, so event time stays in order across chunks.
            begin = DEFAULT_START + timedelta(seconds=start / RATE)
            events = generate_events(min(chunk, count - start), seed=start, start=begin, events_per_second=RATE)
            out.write(b"\n".join(encode(e) for e in events) + b"\n")


def bare_job(path: Path, parallelism: int) -> float:
    """Parse the segment fields and count per coarse segment and hourly window; discard the result.

    The same source table as the job (event time by AUCTION_EVENT_TIME, hence the jar), the
    segment read with JSON_VALUE, no validation, dedup, features, scoring or sinks.
    """
    config = load_config()
    t_env = create_table_env(config, on_msf=False)
    for key, value in {"parallelism.default": str(parallelism), "execution.checkpointing.interval": "10 s"}.items():
        t_env.get_config().set(key, value)
    register_functions(t_env)
    t_env.execute_sql(auction_stream_ddl(file_source_options(path.as_uri()), lateness_ms=30_000))
    t_env.execute_sql("CREATE TABLE counts (k STRING, w TIMESTAMP(3), n BIGINT) WITH ('connector' = 'blackhole')")
    started = time.perf_counter()
    t_env.execute_sql("""
INSERT INTO counts
SELECT k, window_start, COUNT(*) FROM TABLE(TUMBLE(
  (SELECT JSON_VALUE(payload, '$.format') || '|' || JSON_VALUE(payload, '$.inventory_type') || '|' ||
          JSON_VALUE(payload, '$.device_category') || '|' || JSON_VALUE(payload, '$.country') AS k, event_time
   FROM auction_stream),
  DESCRIPTOR(event_time), INTERVAL '1' HOUR))
GROUP BY k, window_start, window_end""").wait()
    return time.perf_counter() - started


def full_job(path: Path, parallelism: int, work: Path, overrides: dict[str, dict[str, str]] | None = None) -> float:
    """Seconds for the full job over the file; `overrides` replace property values (e.g. FeatureStore)."""
    groups = {
        "DataLake": {"path": (work / "lake").as_uri()},
        "FloorsTable": {"table.name": "bench-floors"},
        "FeatureStore": {"feature.group.name": "bench-features"},
        # The production window: per-event costs, not the stand-ins' write rates, set the figure
        # (10 s windows over this much event time would write ~170,000 floors and online records).
        "Job": {"parallelism": str(parallelism), "checkpoint.interval": "10 s", "window.size": "1 h",
                "watermark.lateness": "30 s"},
    }
    for group, values in (overrides or {}).items():
        groups[group] = groups.get(group, {}) | values
    config = load_config(write_properties(work / "props.json", groups))
    ddb = aws_client("dynamodb", config.floors.endpoint, config.floors.region)
    params, ttl = resources.floors_table_params(config.floors.table_name)
    resources.create_table(ddb, params, ttl)
    store = config.feature_store
    if store is not None and store.enabled:
        sagemaker = aws_client("sagemaker", store.control_endpoint, store.region)
        resources.create_feature_group(sagemaker, resources.feature_group_params(store.feature_group_name, "bench"))
    started = time.perf_counter()
    job = start_job(config, file_source_options(path.as_uri()), work / "job")
    job.result.wait()
    return time.perf_counter() - started


@dataclass
class Throughput:
    events: int
    parallelism: int
    bare_s: float
    full_s: float

    @property
    def bare_rate(self) -> float:
        return self.events / self.bare_s

    @property
    def full_rate(self) -> float:
        return self.events / self.full_s

    @property
    def ratio(self) -> float:
        return self.full_rate / self.bare_rate


def run(events: int, parallelism: int) -> Throughput:
    """Both jobs over the same generated events; needs moto (the full job's floors table)."""
    with tempfile.TemporaryDirectory(prefix="yield-bench-") as tmp:
        work = Path(tmp)
        path = work / "events.jsonl"
        t = time.perf_counter()
        write_events(path, events)
        print(f"generated {events} events ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t:.1f} s",
              flush=True)
        bare_s = bare_job(path, parallelism)
        print(f"bare parse+count job : {bare_s:7.1f} s  {events / bare_s:9.0f} events/s", flush=True)
        full_s = full_job(path, parallelism, work)
        print(f"full job             : {full_s:7.1f} s  {events / full_s:9.0f} events/s", flush=True)
    return Throughput(events, parallelism, bare_s, full_s)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--parallelism", type=int, default=2)
    args = parser.parse_args()
    with standins.running_standins(["moto", "feature-store"]):
        result = run(args.events, args.parallelism)
    print(f"full / bare rate     : {result.ratio:7.2f}")


if __name__ == "__main__":
    main()

"""Validation throughput: the generated SQL reject-reason expression against its Java twin.

The same events, a raw file source into a blackhole, one Flink job per expression
(job start included; the first job only warms up), printed as events/s against
copying the payload (the baseline):

    .venv/bin/python -m bench.validation_throughput --events 1000000
"""

from __future__ import annotations

import time
from pathlib import Path

from bench.job_throughput import write_events
from flink_jobs import pipeline
from flink_jobs.config import load_config
from flink_jobs.main import create_table_env
from flink_jobs.sql import with_options
from tests.support import validation_sql as validation


def bench(events: int, parallelism: int, work: Path) -> dict[str, float]:
    """events/s of each expression over the same file into a blackhole (raw source, no watermark).

    Each figure is one Flink job, start to end (job start included); the first job only warms up.
    """
    path = work / "events.jsonl"
    write_events(path, events)
    expressions = {
        "warm-up (not a figure)": "payload",
        "copy payload (baseline)": "payload",
        "SQL reject_reason_sql()": validation.reject_reason_sql(),
        "AUCTION_REJECT_REASON": "AUCTION_REJECT_REASON(payload)",
    }
    rates = {}
    for label, expression in expressions.items():
        t_env = create_table_env(load_config(), on_msf=False)  # the job's environment, jar loaded
        t_env.get_config().set("parallelism.default", str(parallelism))
        pipeline.register_functions(t_env)
        source = with_options(pipeline.file_source_options(path.as_uri()))
        t_env.execute_sql(f"CREATE TABLE events (payload STRING) WITH ({source})")
        t_env.execute_sql("CREATE TABLE sink (r STRING) WITH ('connector' = 'blackhole')")
        started = time.perf_counter()
        t_env.execute_sql(f"INSERT INTO sink SELECT {expression} FROM events").wait()
        rates[label] = events / (time.perf_counter() - started)
        print(f"{label:26s} {rates[label]:9.0f} events/s", flush=True)
    return rates


def main() -> None:
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(description="Throughput: SQL reject reason vs AUCTION_REJECT_REASON")
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--parallelism", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="reason-bench-") as tmp:
        bench(args.events, args.parallelism, Path(tmp))


if __name__ == "__main__":
    main()

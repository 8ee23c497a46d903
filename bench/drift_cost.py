"""The per-event cost of drift counting: DRIFT_HISTOGRAM over the six features vs plain sums.

The same events, the job's source (raw file, event time, watermark) and typed columns, one
tumbling window over all events; job (a) sums the six drift features per window (what any
aggregate costs), job (b) counts them into the grid's cells (the job's drift branch,
flink_jobs.drift_graph.drift_windows_sql). Printed as events/s and the ratio b / a:

    .venv/bin/python -m bench.drift_cost --events 500000
"""

from __future__ import annotations

import time
from pathlib import Path

from bench.job_throughput import write_events
from flink_jobs import drift_graph, pipeline
from flink_jobs.config import load_config
from flink_jobs.main import create_table_env
from flink_jobs.sql import interval_sql
from tests.support import validation_sql as validation
from udfs import drift


def run(path: Path, events: int, parallelism: int, histograms: bool) -> float:
    config = load_config()
    t_env = create_table_env(config, on_msf=False)
    t_env.get_config().set("parallelism.default", str(parallelism))
    t_env.execute_sql(pipeline.auction_stream_ddl(pipeline.file_source_options(path.as_uri()), 5_000))
    typed = ",\n    ".join(validation.typed_columns_sql())
    # Named like the job's view, so the job's own drift SQL runs unchanged over it (no dedup here).
    t_env.execute_sql(f"CREATE TEMPORARY VIEW deduped_events AS SELECT event_time, {typed} FROM auction_stream")
    grid = drift.load_grid(config.monitoring.drift_features)
    drift_graph.register_histograms(t_env, grid)
    if histograms:
        t_env.execute_sql(drift_graph.drift_windows_sql(grid, 3_600_000))
    else:
        sums = ", ".join(f"SUM(CAST({f} AS DOUBLE)) AS s_{f}" for f in grid)
        t_env.execute_sql(f"""CREATE TEMPORARY VIEW drift_windows AS SELECT window_start, {sums}
FROM TABLE(TUMBLE(TABLE deduped_events, DESCRIPTOR(event_time), {interval_sql(3_600_000)}))
GROUP BY window_start, window_end""")
    # Every aggregate is read, so the planner cannot prune any of them.
    if histograms:
        used = " + ".join(f"CAST(CARDINALITY(cells_{f}) AS DOUBLE)" for f in grid)
    else:
        used = " + ".join(f"COALESCE(s_{f}, 0)" for f in grid)
    t_env.execute_sql("CREATE TEMPORARY TABLE sink (v DOUBLE) WITH ('connector' = 'blackhole')")
    started = time.perf_counter()
    t_env.execute_sql(f"INSERT INTO sink SELECT {used} FROM drift_windows").wait()
    return events / (time.perf_counter() - started)


def main() -> None:
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(description="Per-event cost of DRIFT_HISTOGRAM")
    parser.add_argument("--events", type=int, default=500_000)
    parser.add_argument("--parallelism", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="drift-bench-") as tmp:
        path = Path(tmp) / "events.jsonl"
        write_events(path, args.events)
        run(path, args.events, args.parallelism, histograms=False)  # warm-up, not a figure
        sums = run(path, args.events, args.parallelism, histograms=False)
        cells = run(path, args.events, args.parallelism, histograms=True)
        print(f"six SUMs per window        {sums:9.0f} events/s")
        print(f"six DRIFT_HISTOGRAMs       {cells:9.0f} events/s   ratio {cells / sums:.2f}")


if __name__ == "__main__":
    main()

"""Freshness: from a window closing to its floor being readable in DynamoDB.

Live traffic (event time = now) goes into a fresh kinesis-local stream while the real job runs
with short windows. A probe statement added to the job records, for every segment row the
window operator emits, the wall-clock time it was emitted: the window fires when the watermark
passes its end, so this is "the watermark passed the window's end". A poller reads the coarse
floors every --poll-ms (BatchGetItem) and notes when each segment's item first carries that window's end.
Freshness = seen in DynamoDB - emitted by the window; p50/p95 over every (coarse segment, window).

The poll interval bounds the resolution: each figure is late by up to one scan.

    .venv/bin/python -m bench.freshness --seconds 60 --rate 200
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from flink_jobs.config import AppConfig, load_config, write_properties
from flink_jobs.pipeline import kinesis_source_options
from local_kinesis import resources, standins
from local_runs.runner import start_job
from serving.floor_reader import segment_keys
from simulator.events import encode, generate_events
from simulator.producer import produce
from udfs.aws import aws_client

PROBE_DDL = """
CREATE TABLE window_emitted (
  level STRING, segment_key STRING, window_end TIMESTAMP(3), emitted_at TIMESTAMP_LTZ(3)
) WITH ('connector' = 'filesystem', 'path' = '{path}', 'format' = 'parquet')"""


def _config(work: Path, window_s: int) -> AppConfig:
    base = load_config()
    arn = base.stream.stream_arn.rsplit("/", 1)[0] + f"/freshness-{uuid.uuid4().hex[:8]}"
    props = write_properties(work / "props.json", {
        "AuctionStream": {"stream.arn": arn, "shard.count": "4", "source.init.position": "TRIM_HORIZON"},
        "DataLake": {"path": (work / "lake").as_uri()},
        "FloorsTable": {"table.name": f"freshness-{uuid.uuid4().hex[:8]}"},
        "Job": {"window.size": f"{window_s} s", "watermark.lateness": "1 s", "checkpoint.interval": "5 s",
                "source.idle.timeout": "30 s", "parallelism": "2"},
    })
    config = load_config(props)
    resources.create_all(config)
    return config


def _poll_floors(config: AppConfig, keys: list[str], poll_s: float, stop: threading.Event, seen: dict) -> None:
    """(level, segment_key, window_end text) -> first wall time the item showed that window.

    Only the coarse floors are watched (BatchGetItem of their keys, cheap enough to repeat every
    poll); fine floors take the same path through the job and the sink.
    """
    client = aws_client("dynamodb", config.floors.endpoint, config.floors.region)
    table = config.floors.table_name
    while not stop.is_set():
        for i in range(0, len(keys), 100):
            request = {table: {"Keys": [{"level": {"S": "coarse"}, "segment_key": {"S": k}} for k in keys[i:i + 100]],
                               "ProjectionExpression": "#l, segment_key, window_end",
                               "ExpressionAttributeNames": {"#l": "level"}}}
            response = client.batch_get_item(RequestItems=request)
            now = time.time()
            for item in response["Responses"].get(table, []):
                seen.setdefault((item["level"]["S"], item["segment_key"]["S"], item["window_end"]["S"]), now)
        stop.wait(poll_s)


def run(seconds: float = 60.0, rate: float = 200.0, window_s: int = 2, poll_ms: int = 100) -> pd.DataFrame:
    with tempfile.TemporaryDirectory(prefix="yield-freshness-") as tmp:
        work = Path(tmp)
        config = _config(work, window_s)
        probe = (work / "probe").as_uri()

        def add_probe(t_env, statements) -> None:  # noqa: ANN001 - PyFlink types
            t_env.execute_sql(PROBE_DDL.format(path=probe))
            statements.add_insert_sql("INSERT INTO window_emitted "
                                      "SELECT level, segment_key, window_end, CURRENT_TIMESTAMP FROM segment_windows")

        job = start_job(config, kinesis_source_options(config), work / "job", extend=add_probe)
        seen: dict = {}
        stop = threading.Event()
        try:
            job.wait_running(120)
            # Event time starts when production does (generation is ~300k events/s: no lag).
            count = int(seconds * rate)
            events = generate_events(count, seed=3, start=datetime.now(UTC) + timedelta(seconds=1),
                                     events_per_second=rate)
            coarse_keys = sorted({segment_keys(e)["coarse"] for e in events})
            threading.Thread(target=_poll_floors, args=(config, coarse_keys, poll_ms / 1000, stop, seen),
                             daemon=True).start()
            kinesis = aws_client("kinesis", config.stream.endpoint, config.stream.region)
            print(f"producing {count} events at {rate:.0f}/s for {seconds:.0f} s, {window_s} s windows", flush=True)
            produce(kinesis, config.stream.stream_arn, (encode(e) for e in events), rate_per_s=rate)
            time.sleep(window_s + 3)  # the last windows close and their floors land
            job.drain()
            time.sleep(1.0)
        finally:
            stop.set()
            job.cancel()
        emitted = pd.read_parquet(Path(tmp) / "probe")
    emitted["window_end_text"] = emitted["window_end"].dt.strftime("%Y-%m-%dT%H:%M:%S.%f").str[:-3] + "Z"
    emitted["emitted_s"] = emitted["emitted_at"].map(lambda t: pd.Timestamp(t).timestamp())
    seen_frame = pd.DataFrame([(lv, k, w, t) for (lv, k, w), t in seen.items()],
                              columns=["level", "segment_key", "window_end_text", "seen_s"])
    joined = emitted.merge(seen_frame, on=["level", "segment_key", "window_end_text"], how="inner")
    joined["freshness_s"] = joined["seen_s"] - joined["emitted_s"]
    # Drained windows fire at the drain, not by the watermark of live traffic: leave them out.
    last_live = emitted["window_end"].max()
    return joined[joined["window_end"] < last_live]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=200.0, help="events/s produced")
    parser.add_argument("--window", type=int, default=2, help="window size, seconds")
    parser.add_argument("--poll-ms", type=int, default=100)
    args = parser.parse_args()
    with standins.running_standins():
        result = run(args.seconds, args.rate, args.window, args.poll_ms)
    values = result["freshness_s"].to_numpy()
    print(f"{len(values)} floors over {result['window_end'].nunique()} windows: "
          f"p50 {np.percentile(values, 50):.2f} s  p95 {np.percentile(values, 95):.2f} s  max {values.max():.2f} s")


if __name__ == "__main__":
    main()

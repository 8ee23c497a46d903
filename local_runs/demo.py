"""`make run`: the whole job on a laptop, against the local stand-ins.

Starts the stand-ins, creates the stream, bucket and floors table, starts the
real PyFlink job (with the connector jar) reading the stream, produces simulated
auction traffic (with some malformed records and producer-retry duplicates),
shows progress, then drains the job (every open window closes) and prints a
summary read back from the lake and from DynamoDB. Ctrl-C stops early, cleanly.
"""

from __future__ import annotations

import argparse
import logging
import threading
import time
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from flink_jobs.config import AppConfig, load_config
from flink_jobs.pipeline import kinesis_source_options
from local_kinesis import resources, standins
from local_runs.runner import RunningJob, start_job
from serving.floor_reader import floors_in_table
from simulator.bad_records import bad_records
from simulator.events import encode, generate_events, with_duplicates
from simulator.producer import ProduceStats, produce
from training import lake
from udfs import feature_store
from udfs.aws import aws_client

log = logging.getLogger("yield.demo")
ROOT = Path(__file__).resolve().parent.parent


def demo_records(count: int, rate: float, seed: int, duplicate_share: float) -> tuple[list[bytes], int, Counter]:
    """Valid events timed from now at `rate`, duplicates, and one of each malformed kind."""
    events = generate_events(count, seed=seed, start=datetime.now(UTC), events_per_second=rate)
    bad = bad_records(events[0])
    records = [encode(e) for e in with_duplicates(events, duplicate_share, seed=seed)]
    # Spread the malformed records through the traffic rather than at one end.
    step = max(1, len(records) // (len(bad) + 1))
    for i, (payload, _reason) in enumerate(bad):
        records.insert((i + 1) * step, payload)
    return records, len(events), Counter(reason for _, reason in bad)


def _plain(item: dict) -> dict:
    return {k: next(iter(v.values())) for k, v in item.items()}


def summarise(config: AppConfig, produced: ProduceStats, valid: int, expected_bad: Counter, since: datetime) -> None:
    raw = lake.read(config.lake.path, "raw")
    errors = lake.read(config.lake.path, "raw_errors")
    features = lake.read(config.lake.path, "features")
    floors = floors_in_table(config, since)
    print("\n=== predictive-yield local run ===")
    print(f"records produced      {produced.records_sent:>8}  ({valid} distinct valid auctions,"
          f" {produced.records_sent - valid - sum(expected_bad.values())} producer duplicates,"
          f" {sum(expected_bad.values())} malformed)")
    print(f"events accepted       {len(raw):>8}  (raw/, before dedup)")
    print(f"distinct impressions  {raw['impression_id'].nunique() if len(raw) else 0:>8}")
    print(f"records rejected      {len(errors):>8}  (raw_errors/)")
    for reason, n in sorted(Counter(errors["reason"]).items() if len(errors) else []):
        print(f"    {reason:<40} {n}")
    if len(features):
        windows = features.groupby("level")["window_start"].nunique()
        rows = features.groupby("level").size()
        for level in rows.index:
            print(f"windows closed        {windows[level]:>8}  {level} level, {rows[level]} segment-windows")
    print(f"floors in DynamoDB    {len(floors):>8}  (table {config.floors.table_name})")
    for item in sorted((_plain(i) for i in floors), key=lambda i: -int(i["data_points"]))[:5]:
        print(f"    {item['level']:<6} {item['segment_key']:<40} floor {float(item['floor_eur']):.4f} EUR"
              f"  cpm {float(item['predicted_cpm_eur']):.4f}  points {item['data_points']}"
              f"  expires {datetime.fromtimestamp(int(item['expires_at']), UTC):%H:%M:%S}Z")
    store = config.feature_store
    if store is not None and store.enabled and len(features):
        separator = feature_store.load_spec(store.feature_group_name).separator
        ids = {feature_store.segment_id(level, key, separator)
               for level, key in features[["level", "segment_key"]].itertuples(index=False)}
        online = feature_store.read_online_records(store.feature_group_name, store.endpoint, store.region, ids)
        print(f"online feature records{len(online):>8}  (feature group {store.feature_group_name}, "
              f"{len(ids)} segments in processed/features/)")
    print(f"lake                  {config.lake.path}")


def run(count: int, rate: float, seed: int, duplicate_share: float) -> None:
    started_at = datetime.now(UTC)
    work_dir = ROOT / ".local" / "demo" / started_at.strftime("%Y%m%dT%H%M%S")
    config = load_config(cwd=ROOT)
    # Each run has its own stream and lake folder, so the summary counts this run only (the
    # stand-ins may be reused from an earlier run, and kinesis-local slows down as a stream fills).
    run_id = started_at.strftime("%Y%m%d-%H%M%S")
    config = replace(
        config,
        stream=replace(config.stream, stream_arn=f"{config.stream.stream_arn}-{run_id}"),
        lake=replace(config.lake, path=(work_dir / "lake").as_uri()),
    )
    print(f"starting stand-ins (logs in {standins.LOG_DIR})")
    with standins.running_standins(stop_on_exit=True):
        resources.create_all(config)
        records, valid, expected_bad = demo_records(count, rate, seed, duplicate_share)
        print(f"starting the Flink job (parallelism {config.job.parallelism}, windows of"
              f" {config.job.window_ms // 1000} s); work dir {work_dir}")
        job: RunningJob = start_job(config, kinesis_source_options(config), work_dir)
        kinesis = aws_client("kinesis", config.stream.endpoint, config.stream.region)
        try:
            job.wait_running()
            stats_box: list[ProduceStats] = []
            progress: list[ProduceStats] = []
            producer = threading.Thread(
                target=lambda: stats_box.append(produce(kinesis, config.stream.stream_arn, records, rate_per_s=rate,
                                                        progress=progress.append)),
                daemon=True,
            )
            producer.start()
            started = time.monotonic()
            while producer.is_alive():
                producer.join(timeout=3.0)
                job.assert_running()
                sent = progress[-1].records_sent if progress else 0
                print(f"  {time.monotonic() - started:5.0f} s  produced {sent:>7}/{len(records)}"
                      f"  floors in DynamoDB: {len(floors_in_table(config, started_at)):>5}"
                      f"  job {job.status().name}", flush=True)
            if not stats_box:
                raise RuntimeError("the producer failed: see the log above")
            # Give the source time to read the tail of the stream, then drain at once: drained
            # while every shard is already idle (no record for Job.source.idle.timeout), Flink
            # 2.2 does not pass the final watermark on and the open windows never fire.
            time.sleep(3.0)
            print("traffic done; draining the job (closes the open windows, commits files)")
            job.drain()
        except BaseException:
            job.cancel()
            raise
        finally:
            kinesis.delete_stream(StreamARN=config.stream.stream_arn, EnforceConsumerDeletion=True)
        summarise(config, stats_box[0], valid, expected_bad, started_at)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20_000, help="valid auctions to produce (default 20000)")
    parser.add_argument("--rate", type=float, default=500.0, help="records per second (default 500)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--duplicates", type=float, default=0.02, help="share of records sent twice (default 0.02)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        run(args.events, args.rate, args.seed, args.duplicates)
    except KeyboardInterrupt:
        print("\ninterrupted: job cancelled, its stream deleted, the stand-ins this run started stopped")


if __name__ == "__main__":
    main()

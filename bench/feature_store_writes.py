"""Online feature records/s: the job's writer (udfs/feature_store.BatchWriter) against the stand-in.

The writer the job runs in its Python operator, driven directly with real feature rows
(batches the size of a Python bundle), through the real boto3 client, to a Feature Store
stand-in of its own (port 5163, fresh data dir, feature group in moto). Printed as
records/s for 1 and N requests in flight, and with 20% of PutRecord calls throttled,
each as a ratio against the unthrottled rate of the same in-flight count in the same run:

    .venv/bin/python -m bench.feature_store_writes --records 3000 --in-flight 1 8 16

With --job-events N it also runs the full job (bench.job_throughput's file source, N events)
three times: Feature Store writes off, on, and on with 20% of PutRecord calls throttled,
printed as events/s and as ratios against the run without writes.

The stand-in is a single Python process on this machine, so the absolute figures are its
speed, not the Feature Store's; the ratios (concurrency gain, throttling cost) carry over.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

from bench.job_throughput import full_job, write_events
from local_kinesis import REPO_ROOT, resources, standins
from udfs.aws import aws_client
from udfs.feature_store import BatchWriter, WriterSettings, load_spec, put_record_request, segment_id

PORT = 5163
REGION = "eu-west-1"
BATCH = 500  # rows per writer call, like one Python bundle


def requests_for(group: str, count: int, seed: int) -> list[dict]:
    """`count` distinct segments' records with plausible feature values."""
    spec = load_spec(group)
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        level = "fine" if i % 3 else "coarse"
        key = f"site{i}.es|top|mobile|{1 + i % 3}"
        auctions = rng.randint(1, 5000)
        fills = rng.randint(0, auctions)
        values = {
            "segment_id": segment_id(level, key, spec.separator), "event_time": "2026-11-25T10:00:00.000Z",
            "level": level, "segment_key": key, "window_start": "2026-11-25T09:00:00.000Z",
            "window_end": "2026-11-25T10:00:00.000Z", "auctions": auctions, "fills": fills,
            "hour_of_day": 9, "day_of_week": 3, "is_weekend": 0, "is_prime_time": 0,
        }
        for name, feature_type in spec.features:
            if feature_type == "Fractional":
                values[name] = rng.random() * 4
        rows.append(put_record_request(spec, [values.get(name) for name in spec.feature_names]))
    return rows


def admin(endpoint: str, path: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(endpoint + path, data=data, method="POST" if data else "GET")
    with urllib.request.urlopen(request, timeout=5) as answer:
        return dict(json.load(answer))


def start_store(work: Path) -> tuple[subprocess.Popen[bytes], str]:
    endpoint = f"http://127.0.0.1:{PORT}"
    log = (work / "feature_store.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "local_kinesis.feature_store", "--port", str(PORT), "--data-dir", str(work / "data"),
         "--control-plane", standins.MOTO_ENDPOINT, "--throttle-seed", "7"],
        cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            admin(endpoint, "/_health")
            return proc, endpoint
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"the stand-in did not start: see {work / 'feature_store.log'}")


def rate(endpoint: str, requests: list[dict], in_flight: int) -> tuple[float, float]:
    """records/s and attempts per record writing all `requests` in bundle-sized batches."""
    settings = WriterSettings(REGION, endpoint, "test", "test", in_flight, retry_deadline_s=300)
    writer = BatchWriter(settings, "segment_id")
    try:
        writer.write(requests[:50])  # warm the connection pool
        started = time.perf_counter()
        attempts = 0
        for i in range(0, len(requests), BATCH):
            attempts += sum(o.attempts for o in writer.write(requests[i:i + BATCH]))
        return len(requests) / (time.perf_counter() - started), attempts / len(requests)
    finally:
        writer.close()


def puts_applied(data_dir: Path, group: str) -> int:
    """PutRecord calls the stand-in applied to `group` (one line each in its change log)."""
    with (data_dir / "records.jsonl").open(encoding="utf-8") as log:
        return sum(1 for line in log if f'"g":"{group}"' in line and line.startswith('{"t":"put"'))


def job_rates(work: Path, endpoint: str, events: int, parallelism: int, share: float) -> None:
    """The full job's events/s without online writes, with them, and with `share` of the puts throttled.

    The first job of a process pays the JVM's warm-up, so a warm-up run goes first (not a figure).
    """
    path = work / "events.jsonl"
    write_events(path, events)
    runs = {
        "warm-up (not a figure)": ({"enabled": "false"}, 0.0),
        "writes off": ({"enabled": "false"}, 0.0),
        "writes on": ({"aws.endpoint": endpoint}, 0.0),
        f"writes on, {share:.0%} throttled": ({"aws.endpoint": endpoint}, share),
    }
    baseline = None
    for i, (label, (store, throttle)) in enumerate(runs.items()):
        admin(endpoint, "/_admin/throttle", {"share": throttle, "seed": 7})
        group = f"bench-job-{uuid.uuid4().hex[:8]}"
        (work / f"job{i}").mkdir()
        seconds = full_job(path, parallelism, work / f"job{i}", {"FeatureStore": store | {"feature.group.name": group}})
        per_s = events / seconds
        if i == 0:
            print(f"full job, {label:24s}: {per_s:7.0f} events/s", flush=True)
            continue
        baseline = baseline or per_s
        throttled = admin(endpoint, "/_health")["throttle"]["throttled"]
        print(f"full job, {label:24s}: {per_s:7.0f} events/s  x{per_s / baseline:.2f} of writes off  "
              f"({puts_applied(work / 'data', group)} records put, {throttled} puts throttled)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=3000)
    parser.add_argument("--in-flight", type=int, nargs="+", default=[1, 8, 16])
    parser.add_argument("--throttle-share", type=float, default=0.2)
    parser.add_argument("--job-events", type=int, default=0, help="also time the full job over N events")
    parser.add_argument("--parallelism", type=int, default=2)
    args = parser.parse_args()

    with standins.running_standins(["moto"]), tempfile.TemporaryDirectory() as tmp:
        group = f"bench-{uuid.uuid4().hex[:8]}"
        sagemaker = aws_client("sagemaker", standins.MOTO_ENDPOINT, REGION)
        resources.create_feature_group(sagemaker, resources.feature_group_params(group, "bench"))
        requests = requests_for(group, args.records, seed=1)
        proc, endpoint = start_store(Path(tmp))
        try:
            print(f"{args.records} records per run, batches of {BATCH}, stand-in {endpoint}")
            baseline: dict[int, float] = {}
            for share in (0.0, args.throttle_share):
                admin(endpoint, "/_admin/throttle", {"share": share, "seed": 7})
                for in_flight in args.in_flight:
                    per_s, attempts = rate(endpoint, requests, in_flight)
                    baseline.setdefault(in_flight, per_s)
                    print(f"throttled {share:4.0%}  in flight {in_flight:3d}: {per_s:8.0f} records/s  "
                          f"{attempts:5.2f} attempts/record  x{per_s / baseline[in_flight]:.2f} of unthrottled  "
                          f"x{per_s / baseline[args.in_flight[0]]:.2f} of {args.in_flight[0]} in flight unthrottled",
                          flush=True)
            if args.job_events:
                job_rates(Path(tmp), endpoint, args.job_events, args.parallelism, args.throttle_share)
        finally:
            proc.kill()
            proc.wait(10)


if __name__ == "__main__":
    main()

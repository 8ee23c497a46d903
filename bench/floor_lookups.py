"""Floor lookups as the ad server does them, next to raw GetItem on the same DynamoDB stand-in.

A fresh table gets floors for the segments of simulated traffic: most fine keys fresh, some
only coarse, some expired (the reader must skip them) and some absent (static fallback). Then,
for the same duration and the same number of client processes, three workloads run:

- raw GetItem of the event's fine key: the ceiling the stand-in allows;
- FloorReader.floor_for(event): fine, then coarse, then static, expired floors skipped;
- FloorReader.floors_for(10 events): one BatchGetItem for a page's ten slots.

Printed: p50/p95/p99 latency per lookup and lookups/s, and each reader figure as a ratio to raw
GetItem. The brief's goal (p95 < 50 ms, > 10,000 lookups/s) is for DynamoDB; moto is one
Python process, so raw GetItem shows where the stand-in caps the figure.

    .venv/bin/python -m bench.floor_lookups --seconds 10 --clients 4
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import time
import uuid
from dataclasses import dataclass

import numpy as np

from local_kinesis import resources, standins
from serving.floor_reader import FloorReader, segment_keys
from simulator.events import generate_events
from udfs.aws import aws_client

REGION = "eu-west-1"
PAGE_SLOTS = 10


@dataclass
class LookupResult:
    workload: str
    lookups: int
    seconds: float
    latencies_ms: np.ndarray  # per lookup (a batch call's time is divided by its slots)

    @property
    def rate(self) -> float:
        return self.lookups / self.seconds

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q))


def _client():  # noqa: ANN202 - boto3 clients have no importable type
    return aws_client("dynamodb", standins.MOTO_ENDPOINT, REGION)


def fill_table(table: str, events: list[dict], seed: int = 1) -> dict[str, int]:
    """Floors for the events' segments: 70% fine, 15% coarse only, 5% expired, 10% none."""
    rng = random.Random(seed)
    now = int(time.time())
    items, kinds = [], {"fine": 0, "coarse": 0, "expired": 0, "none": 0}
    seen: set[str] = set()
    for event in events:
        keys = segment_keys(event)
        if keys["fine"] in seen:
            continue
        seen.add(keys["fine"])
        draw = rng.random()
        kind = "fine" if draw < 0.70 else "coarse" if draw < 0.85 else "expired" if draw < 0.90 else "none"
        kinds[kind] += 1
        if kind == "none":
            continue
        level = "coarse" if kind == "coarse" else "fine"
        expires = now - 60 if kind == "expired" else now + 3600
        items.append({"level": {"S": level}, "segment_key": {"S": keys[level]},
                      "floor_eur": {"N": f"{rng.uniform(0.5, 5):.4f}"}, "expires_at": {"N": str(expires)}})
    client = _client()
    for i in range(0, len(items), 25):
        client.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": it}} for it in items[i : i + 25]]})
    return kinds


def _worker(args: tuple[str, str, list[dict], float, int]) -> tuple[int, list[float]]:
    workload, table, events, seconds, seed = args
    client = _client()
    reader = FloorReader(table, client)
    rng = random.Random(seed)
    latencies: list[float] = []
    lookups = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        if workload == "raw GetItem (fine key)":
            event = rng.choice(events)
            started = time.perf_counter()
            key = {"level": {"S": "fine"}, "segment_key": {"S": segment_keys(event)["fine"]}}
            client.get_item(TableName=table, Key=key)
            latencies.append((time.perf_counter() - started) * 1000)
            lookups += 1
        elif workload == "reader.floor_for":
            event = rng.choice(events)
            started = time.perf_counter()
            reader.floor_for(event)
            latencies.append((time.perf_counter() - started) * 1000)
            lookups += 1
        else:
            page = [rng.choice(events) for _ in range(PAGE_SLOTS)]
            started = time.perf_counter()
            reader.floors_for(page)
            per_slot = (time.perf_counter() - started) * 1000 / PAGE_SLOTS
            latencies.extend([per_slot] * PAGE_SLOTS)
            lookups += PAGE_SLOTS
    return lookups, latencies


WORKLOADS = ("raw GetItem (fine key)", "reader.floor_for", f"reader.floors_for ({PAGE_SLOTS} slots)")


def run(seconds: float = 10.0, clients: int = 4, events_count: int = 5_000) -> list[LookupResult]:
    events = generate_events(events_count, seed=11)
    table = f"bench-floors-{uuid.uuid4().hex[:8]}"
    params, ttl = resources.floors_table_params(table)
    resources.create_table(_client(), params, ttl)
    kinds = fill_table(table, events)
    print(f"table {table}: segments {kinds}", flush=True)
    results = []
    with multiprocessing.get_context("spawn").Pool(clients) as pool:
        # Warm-up (imports, connections) in every worker: not a figure.
        pool.map(_worker, [(WORKLOADS[0], table, events, 0.5, seed) for seed in range(clients)])
        for workload in WORKLOADS:
            started = time.perf_counter()
            parts = pool.map(_worker, [(workload, table, events, seconds, seed) for seed in range(clients)])
            elapsed = time.perf_counter() - started
            lookups = sum(n for n, _ in parts)
            latencies = np.concatenate([np.asarray(lat) for _, lat in parts])
            results.append(LookupResult(workload, lookups, elapsed, latencies))
            r = results[-1]
            print(f"{workload:32s} {r.rate:8.0f} lookups/s  p50 {r.percentile(50):6.2f} ms  "
                  f"p95 {r.percentile(95):6.2f} ms  p99 {r.percentile(99):6.2f} ms", flush=True)
    _client().delete_table(TableName=table)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=4, help="client processes")
    args = parser.parse_args()
    with standins.running_standins(["moto"]):
        results = run(args.seconds, args.clients)
    raw = results[0]
    for r in results[1:]:
        print(f"{r.workload}: {r.rate / raw.rate:.2f} x raw GetItem rate, "
              f"p95 {r.percentile(95) / raw.percentile(95):.2f} x raw p95")


if __name__ == "__main__":
    main()

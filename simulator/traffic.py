"""Simulated auction traffic onto the configured Kinesis stream (stream, endpoint and region from
the application properties).

    python -m simulator.traffic events --count N [--rate R] [--seed S] [--duplicate-share 0.1] [--log PATH]
    python -m simulator.traffic live --rate R --seconds S [--seed N]

`events` sends a fixed number of generated events (simulator/events.py) with event times spaced
at a chosen density; `live` sends the market's traffic at a rate, event times on the wall clock.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flink_jobs.config import load_config
from local_kinesis.resources import create_stream
from simulator.events import encode, generate_events, with_duplicates
from simulator.market import Market
from simulator.producer import ProduceError, print_progress, produce
from udfs.aws import aws_client


def live(rate: float, seconds: float, seed: int, properties: Path | None, chunk_s: float = 10.0) -> dict[str, Any]:
    """Produce market traffic to the configured stream at ``rate`` records/s for ``seconds``;
    event times follow the wall clock (each chunk is generated when its turn comes)."""
    config = load_config(properties)
    market = Market(seed)
    total = int(rate * seconds)

    def records() -> Iterator[bytes]:
        done, chunk = 0, 0
        while done < total:
            n = min(total - done, max(1, int(rate * chunk_s)))
            sim = market.count(n, datetime.now(UTC), rate, truth=False, chunk=2**40 + chunk)
            yield from sim.jsonl().splitlines()
            done, chunk = done + n, chunk + 1

    client = aws_client("kinesis", config.stream.endpoint, config.stream.region)
    stats = produce(client, config.stream.stream_arn, records(), rate_per_s=rate, progress=print_progress)
    return stats.summary() | {"stream_arn": config.stream.stream_arn}


def events(argv: list[str]) -> int:
    """`events`: a fixed number of generated events (duplicates on demand), as fast as asked."""
    parser = argparse.ArgumentParser(prog="python -m simulator.traffic events",
                                     description="Produce a fixed number of simulated auctions.")
    parser.add_argument("--count", type=int, required=True, help="distinct events to generate")
    parser.add_argument("--rate", type=float, default=None, help="records/s to hold (default: as fast as possible)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--duplicate-share", type=float, default=0.0, help="share of events re-sent (same impression_id)"
    )
    parser.add_argument(
        "--events-per-second", type=float, default=None, help="event-time density (default: --rate, else 500)"
    )
    parser.add_argument("--log", type=Path, default=None, help="JSONL of acknowledged records")
    parser.add_argument("--properties", type=Path, default=None)
    # Overrides, e.g. to measure another stand-in: --endpoint http://127.0.0.1:4570 --new-stream 4
    parser.add_argument("--endpoint", default=None, help="Kinesis endpoint (default: the config's)")
    parser.add_argument(
        "--new-stream",
        type=int,
        metavar="SHARDS",
        default=None,
        help="produce to a fresh stream with SHARDS shards instead of the config's stream",
    )
    parser.add_argument("--clients", type=int, default=1, help="parallel producers (records split round-robin)")
    parser.add_argument("--by-name", action="store_true", help="send StreamName, not StreamARN (bare kinesalite)")
    args = parser.parse_args(argv)

    config = load_config(args.properties)
    endpoint = args.endpoint or config.stream.endpoint
    events = generate_events(args.count, seed=args.seed, events_per_second=args.events_per_second or args.rate or 500.0)
    if args.duplicate_share:
        events = with_duplicates(events, args.duplicate_share, seed=args.seed)
    records = [encode(e) for e in events]
    clients = [aws_client("kinesis", endpoint, config.stream.region) for _ in range(max(1, args.clients))]
    arn = config.stream.stream_arn
    if args.new_stream:
        arn = create_stream(clients[0], f"produce-{time.time_ns() % 10**12}", args.new_stream)["stream_arn"]
    rate = args.rate / len(clients) if args.rate else None
    started = time.monotonic()
    try:
        if len(clients) == 1:
            results = [
                produce(
                    clients[0],
                    arn,
                    records,
                    rate_per_s=rate,
                    progress=print_progress,
                    log=args.log,
                    address_by_name=args.by_name,
                )
            ]
        else:
            if args.log:
                parser.error("--log needs --clients 1")
            with ThreadPoolExecutor(len(clients)) as pool:
                results = list(
                    pool.map(
                        lambda i: produce(
                            clients[i], arn, records[i :: len(clients)], rate_per_s=rate, address_by_name=args.by_name
                        ),
                        range(len(clients)),
                    )
                )
    except ProduceError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    elapsed = time.monotonic() - started
    sent = sum(r.records_sent for r in results)
    summary = (
        results[0].summary()
        if len(results) == 1
        else {
            "records_sent": sent,
            "calls": sum(r.calls for r in results),
            "retries": sum(r.retries for r in results),
        }
    )
    summary.update(
        {
            "stream_arn": arn,
            "endpoint": endpoint,
            "clients": len(clients),
            "elapsed_s": round(elapsed, 3),
            "records_per_s": round(sent / elapsed, 1),
        }
    )
    print(json.dumps(summary, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in ("events", "live"):
        print(__doc__, file=sys.stderr)
        return 2
    if argv[0] == "events":
        return events(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m simulator.traffic live",
                                     description="Produce the market's traffic at a target rate.")
    parser.add_argument("--rate", type=float, required=True, help="records/s")
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--properties", type=Path, default=None)
    args = parser.parse_args(argv[1:])
    print(json.dumps(live(args.rate, args.seconds, args.seed, args.properties), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

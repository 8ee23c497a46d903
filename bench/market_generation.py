"""How fast the market simulator writes auction events to a file (JSON lines), on one core.

    python -m bench.market_generation [--events 1000000]

Measured in the same run: the market (generation + Arrow JSON encoding, hour by hour with the
traffic shape), and a baseline: the same events encoded one by one with
``simulator.events.encode`` (json.dumps per event, the producer's per-record path), with
the dict building excluded from the baseline. Prints events/s of both and their ratio.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

from simulator.events import encode
from simulator.market import DEFAULT_START, Market, Simulation, write_jsonl


def market_to_file(path: Path, events: int, seed: int) -> tuple[int, float]:
    rate = 580.0  # the production mean; the span is as long as the event count needs
    market = Market(seed)
    started = time.perf_counter()
    def slices() -> Iterator[Simulation]:  # 10-minute slices of a shaped week, until enough events
        done = 0
        for sim in market.span(DEFAULT_START, DEFAULT_START + timedelta(days=7), rate, truth=False):
            yield sim
            done += len(sim)
            if done >= events:
                return

    with path.open("wb") as out:
        n = write_jsonl(slices(), out)
    return n, time.perf_counter() - started


def baseline_to_file(path: Path, events: int, seed: int) -> tuple[int, float]:
    records = Market(seed).count(events, DEFAULT_START, 580.0, truth=False).records()
    started = time.perf_counter()
    with path.open("wb") as out:
        for r in records:
            out.write(encode(r) + b"\n")
    return len(records), time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.market_generation", description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core, as the figure claims
    with tempfile.TemporaryDirectory() as tmp:
        n_m, t_m = market_to_file(Path(tmp) / "market.jsonl", args.events, args.seed)
        size = (Path(tmp) / "market.jsonl").stat().st_size
        n_b, t_b = baseline_to_file(Path(tmp) / "baseline.jsonl", min(args.events, 200_000), args.seed)
    market_rate, base_rate = n_m / t_m, n_b / t_b
    print(f"market -> JSON lines file   {n_m:>10,} events in {t_m:6.2f} s = {market_rate:>10,.0f} events/s"
          f"  ({size / n_m:.0f} bytes/event)")
    print(f"baseline json.dumps/event   {n_b:>10,} events in {t_b:6.2f} s = {base_rate:>10,.0f} events/s"
          "  (encoding only, dicts prebuilt)")
    print(f"ratio market / baseline     {market_rate / base_rate:.2f}")


if __name__ == "__main__":
    main()

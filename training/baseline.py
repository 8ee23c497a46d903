"""Write the lake baseline: the drift baseline the job uses until a model version brings its own.

    python -m training.baseline --lake file:///path/to/lake [--since 2026-03-01T00:00] [--until ...]

Reads the accepted raw events under raw/ (optionally one period of event time), counts each drift
feature into the fixed grid (udfs.drift.build_baseline, the same code training uses) and writes
`models/lake_baseline/baseline.json`, where the running job finds it at its next window.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime

import pandas as pd

from training import lake
from udfs import drift, model_store
from udfs.drift_monitor import lake_baseline_uri


def lake_baseline(lake_uri: str, since: datetime | None = None, until: datetime | None = None,
                  features: tuple[str, ...] = drift.DRIFT_FEATURES) -> drift.Baseline:
    """The baseline of the raw events in [since, until) (all of them by default)."""
    raw = lake.read(lake_uri, "raw")
    if raw.empty:
        raise ValueError(f"no raw events under {lake.path(lake_uri, 'raw')}: nothing to build a baseline from")
    times = pd.to_datetime(raw["event_time"])
    keep = pd.Series(True, index=raw.index)
    if since is not None:
        keep &= times >= pd.Timestamp(since)
    if until is not None:
        keep &= times < pd.Timestamp(until)
    if not keep.any():
        raise ValueError(f"no raw events in [{since}, {until})")
    return drift.build_baseline(raw[keep], features)


def write_lake_baseline(lake_uri: str, baseline: drift.Baseline) -> str:
    uri = lake_baseline_uri(lake_uri)
    model_store.write_bytes(uri, baseline.to_json().encode("utf-8"))
    return uri


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lake", required=True, help="the lake's URI (file://...)")
    parser.add_argument("--since", type=datetime.fromisoformat, help="first event time (UTC, ISO-8601)")
    parser.add_argument("--until", type=datetime.fromisoformat, help="end of the period (exclusive)")
    args = parser.parse_args(argv)
    try:
        baseline = lake_baseline(args.lake, args.since, args.until)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    uri = write_lake_baseline(args.lake, baseline)
    sizes = ", ".join(f"{name} {f.size}" for name, f in baseline.features.items())
    print(f"wrote {uri} (values per feature: {sizes})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

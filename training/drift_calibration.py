"""Calibrate the drift thresholds of a baseline on drift-free days, and store them in it.

    python -m training.drift_calibration --lake file:///path/to/lake [--version V | --lake-baseline]
        [--days 14] [--rate 20] [--seed 21] [--start 2025-12-22] [--window 3600]
        [--from-lake --since ISO --until ISO]

Reads the baseline the job compares with (the current model version's `baseline.json`, a given
version's, or the lake baseline), computes the KS statistic of every window of every drift-free
day against it, fits the calibrated mode's null model (udfs.drift_thresholds: per feature an
offset per weekday/weekend hour and a residual scale) and writes the baseline back with the
calibration inside, where the running job reads it at its next window. The thresholds thus
travel with the baseline they were calibrated against: a model swap brings its own.

Drift-free days come from the simulator (default: `--days` days at `--rate` events/s, seed
`--seed`; the simulated rate should be close to the production rate, since the offsets include
the sampling noise of the calibration rate) or, with `--from-lake`, from the lake's raw events of
a period taken to be drift-free.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from simulator.market import DEFAULT_START, Drift, Market
from training import lake
from udfs import drift, model_store
from udfs.drift_monitor import lake_baseline_uri
from udfs.drift_thresholds import Calibration, WindowStatistic, calibrate

Window = tuple[datetime, datetime, dict[str, np.ndarray]]  # start, end, cell counts per feature
DEFAULT_CALIBRATION_START = DEFAULT_START - timedelta(days=14)
DEFAULT_RATE = 20.0
DEFAULT_DAYS = 14


def windows_of(events: pd.DataFrame, grid: Mapping[str, Sequence[float]], window_s: int) -> Iterator[Window]:
    """The tumbling windows of some events, with each feature's cell counts (what the job counts)."""
    if events.empty:
        return
    times = pd.to_datetime(events["event_time"], utc=True)
    starts = times.dt.floor(f"{window_s}s")
    for start, group in events.groupby(starts, sort=True):
        begin = start.to_pydatetime()
        yield begin, begin + timedelta(seconds=window_s), {
            f: drift.cell_counts(group[f], edges) for f, edges in grid.items() if f in group.columns}


def simulated_windows(seed: int, start: datetime, days: int, rate: float, grid: Mapping[str, Sequence[float]],
                      window_s: int, drifts: Sequence[Drift] = ()) -> Iterator[Window]:
    """Windows of simulated days (one day generated at a time: bounded memory)."""
    market = Market(seed=seed, drifts=drifts)
    for day in range(days):
        begin = start + timedelta(days=day)
        frames = [s.frame() for s in market.span(begin, begin + timedelta(days=1), rate, truth=False)]
        yield from windows_of(pd.concat(frames, ignore_index=True), grid, window_s)


def window_statistics(baseline: drift.Baseline, windows: Iterable[Window],
                      grid: Mapping[str, Sequence[float]]) -> dict[str, list[WindowStatistic]]:
    """Per feature, every window's KS statistic against the baseline (windows without values skipped)."""
    stats: dict[str, list[WindowStatistic]] = {f: [] for f in grid if f in baseline.features}
    for start, _end, live in windows:
        for d in drift.window_drift(baseline, live, grid).features:
            if d.feature in stats and d.has_data:
                stats[d.feature].append(WindowStatistic(start, d.statistic, d.live_count, d.baseline_count))
    return stats


def calibrated(baseline: drift.Baseline, windows: Iterable[Window], grid: Mapping[str, Sequence[float]],
               window_s: int, days: int, source: str) -> drift.Baseline:
    """The baseline with a calibration fitted on the drift-free windows."""
    cal: Calibration = calibrate(window_statistics(baseline, windows, grid), window_s, days, source)
    return drift.Baseline(baseline.features, cal)


def lake_windows(lake_uri: str, since: datetime, until: datetime, grid: Mapping[str, Sequence[float]],
                 window_s: int) -> Iterator[Window]:
    raw = lake.read(lake_uri, "raw")
    if raw.empty:
        raise ValueError(f"no raw events under {lake.path(lake_uri, 'raw')}")
    times = pd.to_datetime(raw["event_time"], utc=True)
    keep = (times >= pd.Timestamp(since)) & (times < pd.Timestamp(until))
    if not keep.any():
        raise ValueError(f"no raw events in [{since}, {until})")
    yield from windows_of(raw[keep], grid, window_s)


def baseline_uris(lake_uri: str, version: str | None, lake_baseline: bool) -> list[str]:
    """Which baseline.json files to calibrate: the lake baseline, or a model version's (default: the
    current one) in every slot that holds it, so a promotion or a rollback carries the thresholds."""
    if lake_baseline:
        return [lake_baseline_uri(lake_uri)]
    if version is None:
        ref = model_store.current_model(lake_uri)
        if ref is None:
            return [lake_baseline_uri(lake_uri)]
        version = ref.version
    uris = [model_store.join(model_store.slot_uri(lake_uri, slot, version), model_store.BASELINE_FILE)
            for slot in model_store.SLOTS]
    found = [u for u in uris if model_store.read_bytes(u, missing_ok=True) is not None]
    if not found:
        raise ValueError(f"model version {version!r} has no baseline.json in any slot")
    return found


def _utc(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lake", required=True, help="the lake's URI (file://... or s3://...)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--version", help="calibrate current/<version>/baseline.json (default: the current model's)")
    which.add_argument("--lake-baseline", action="store_true", help="calibrate models/lake_baseline/baseline.json")
    parser.add_argument("--window", type=int, default=3600, help="the job's window in seconds (Job window size)")
    parser.add_argument("--days", type=int, default=DEFAULT_DAYS, help="simulated drift-free days")
    parser.add_argument("--rate", type=float, default=DEFAULT_RATE, help="simulated mean events/s")
    parser.add_argument("--seed", type=int, default=21, help="simulator seed of the drift-free days")
    parser.add_argument("--start", type=_utc, default=DEFAULT_CALIBRATION_START, help="first simulated day (UTC)")
    parser.add_argument("--from-lake", action="store_true", help="use the lake's raw events of [--since, --until)")
    parser.add_argument("--since", type=_utc)
    parser.add_argument("--until", type=_utc)
    args = parser.parse_args(argv)
    try:
        uris = baseline_uris(args.lake, args.version, args.lake_baseline)
        uri = uris[0]
        raw = model_store.read_bytes(uri, missing_ok=True)
        if raw is None:
            raise ValueError(f"no baseline at {uri}: write one first (python -m training.baseline or training.train)")
        baseline = drift.Baseline.from_json(raw.decode("utf-8"))
        grid = {f: fb.edges for f, fb in baseline.features.items()}
        if args.from_lake:
            if args.since is None or args.until is None:
                raise ValueError("--from-lake needs --since and --until")
            windows = lake_windows(args.lake, args.since, args.until, grid, args.window)
            days = max(1, round((args.until - args.since).total_seconds() / 86_400))
            source = f"lake raw events [{args.since.isoformat()}, {args.until.isoformat()})"
        else:
            windows = simulated_windows(args.seed, args.start, args.days, args.rate, grid, args.window)
            days = args.days
            source = f"simulator seed {args.seed}, {args.days} days from {args.start.date()}, {args.rate:g} events/s"
        result = calibrated(baseline, windows, grid, args.window, days, source)
    except (ValueError, model_store.ModelStoreError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for target in uris:
        model_store.write_bytes(target, result.to_json().encode("utf-8"))
        print(f"wrote the calibration into {target}")
    print(f"calibrated on {source}, windows of {args.window} s")
    for name, f in result.calibration.features.items():
        print(f"  {name:26s} scale {f.scale:5.2f}  offsets weekday {min(f.offsets[0]):.3f}-{max(f.offsets[0]):.3f}"
              f"  weekend {min(f.offsets[1]):.3f}-{max(f.offsets[1]):.3f}  ({f.windows} windows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

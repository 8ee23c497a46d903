"""False alarms and detection delay of the two drift modes: the seed's fixed levels and the calibrated one.

On simulated traffic (the job's code path after the counting: udfs.drift.window_drift over each
hourly window's cell counts):

1. a baseline: 7 drift-free days (seed 11), as training would count it;
2. the calibration: `--calibration-days` further drift-free days (seed 21) through
   training.drift_calibration (the command's own functions);
3. false alarms: `--days` drift-free days (seed 31, a new week): windows at WARNING or above per
   day, in both modes, and the calibrated mode at several targets (is the rate what was asked?);
4. detection delay: the same days with a shift injected at several times of the week (common
   random numbers: before the shift the traffic is the drift-free one): end of the first window
   at WARNING (CRITICAL) minus the shift's start; "missed" when none within 24 h. The verdict
   comes out one allowed lateness after the window's end (30 s on MSF).

    .venv/bin/python -m bench.drift_levels [--rate 20] [--days 7] [--calibration-days 14] [--per-day 0.1]

Writes bench/results/drift_levels.md and bench/results/drift_levels.png.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from simulator.market import DEFAULT_START, Drift  # noqa: E402
from training.drift_calibration import Window, calibrated, simulated_windows  # noqa: E402
from udfs import drift  # noqa: E402
from udfs.drift_thresholds import CALIBRATED, SEED, SEVERITY, DriftSettings  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
WINDOW_S = 3600
HORIZON = timedelta(hours=24)
# (label, simulator drift feature, amount)
SHIFTS = (
    ("bid level +10% in tier 1", "bid_level_tier_1", 0.10),
    ("bid level +10% in tier 2", "bid_level_tier_2", 0.10),
    ("device mix: 20% of non-mobile turns mobile", "device_mix_mobile", 0.20),
    ("engagement collapse (scores -> 0)", "user_engagement_score", -1.0),
)
# When the shifts start, as offsets into the evaluation week (it starts on a Monday 00:00 UTC).
SHIFT_STARTS = (timedelta(days=1, hours=3, minutes=20), timedelta(days=2, hours=10, minutes=20),
                timedelta(days=3, hours=15, minutes=20), timedelta(days=5, hours=21, minutes=20))


def baseline_of(seed: int, start: datetime, days: int, rate: float, grid) -> drift.Baseline:
    """Counts of `days` simulated days over the grid (summed per window: never all events at once)."""
    totals = {f: np.zeros(2 * len(e) + 1, dtype=np.int64) for f, e in grid.items()}
    for _, _, live in simulated_windows(seed, start, days, rate, grid, WINDOW_S):
        for f, cells in live.items():
            totals[f] += cells
    return drift.Baseline({f: drift.FeatureBaseline(f, tuple(grid[f]), tuple(int(c) for c in totals[f]))
                           for f in grid})


def level_of(baseline: drift.Baseline, window: Window, grid, settings: DriftSettings) -> str:
    start, end, live = window
    return drift.window_drift(baseline, live, grid, settings, (start, end)).level


def at_least(level: str, floor: str) -> bool:
    return SEVERITY.get(level, -1) >= SEVERITY[floor]


def first_alarm(baseline, windows: list[Window], grid, settings: DriftSettings, shift: datetime,
                floor: str) -> timedelta | None:
    for window in windows:
        if window[1] > shift and at_least(level_of(baseline, window, grid, settings), floor):
            return window[1] - shift
    return None


def hours(delay: timedelta | None) -> str:
    return "missed" if delay is None else f"{delay.total_seconds() / 3600:.1f} h"


def summary(delays: list[timedelta | None]) -> str:
    found = sorted(d for d in delays if d is not None)
    missed = len(delays) - len(found)
    if not found:
        return f"missed {missed}/{len(delays)}"
    mid = timedelta(seconds=float(np.median([d.total_seconds() for d in found])))
    text = f"median {hours(mid)}, max {hours(found[-1])}"
    return text + (f", missed {missed}/{len(delays)}" if missed else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=20.0, help="simulated mean events/s (production: ~580)")
    parser.add_argument("--days", type=int, default=7, help="drift-free evaluation days")
    parser.add_argument("--calibration-days", type=int, default=14)
    parser.add_argument("--per-day", type=float, default=0.1, help="calibrated: target false WARNINGs per day")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    began = time.monotonic()
    grid = drift.load_grid()
    eval_start = DEFAULT_START
    base = baseline_of(11, eval_start - timedelta(days=7 + args.calibration_days), 7, args.rate, grid)
    cal_start = eval_start - timedelta(days=args.calibration_days)
    base = calibrated(base, simulated_windows(21, cal_start, args.calibration_days, args.rate, grid, WINDOW_S),
                      grid, WINDOW_S, args.calibration_days, f"simulator seed 21, {args.rate:g} events/s")
    print(f"baseline + calibration: {time.monotonic() - began:.0f} s", flush=True)
    modes = {
        "seed (0.3/0.5/0.7 on the mean KS)": DriftSettings(mode=SEED),
        f"calibrated ({args.per_day:g} false WARNING/day)": DriftSettings(
            mode=CALIBRATED, warning_per_day=args.per_day, critical_per_day=args.per_day / 10),
    }
    quiet = list(simulated_windows(31, eval_start, args.days, args.rate, grid, WINDOW_S))
    false_alarms = {}
    for name, settings in modes.items():
        levels = Counter(level_of(base, w, grid, settings) for w in quiet)
        false_alarms[name] = levels
        print(f"{name}: {dict(levels)} over {len(quiet)} windows", flush=True)
    targets = (10.0, 1.0, args.per_day)
    check = {t: sum(at_least(level_of(base, w, grid, DriftSettings(mode=CALIBRATED, warning_per_day=t,
                                                                   critical_per_day=t / 10)), "WARNING")
                    for w in quiet) for t in targets}
    per_feature = Counter()
    cal_settings = list(modes.values())[1]
    for start, end, live in quiet:
        for f in drift.window_drift(base, live, grid, cal_settings, (start, end)).features:
            if at_least(f.level, "WARNING"):
                per_feature[f.feature] += 1

    delays: dict[tuple[str, str, str], list[timedelta | None]] = {}
    for label, feature, amount in SHIFTS:
        for offset in SHIFT_STARTS:
            shift = eval_start + offset
            first_hour = shift.replace(minute=0, second=0, microsecond=0)
            windows = list(simulated_windows(31, first_hour, 1, args.rate, grid, WINDOW_S,
                                             drifts=[Drift(shift, feature, amount)]))
            windows = [w for w in windows if w[0] < shift + HORIZON]
            for name, settings in modes.items():
                for floor in ("WARNING", "CRITICAL"):
                    delays.setdefault((label, name, floor), []).append(
                        first_alarm(base, windows, grid, settings, shift, floor))
        print(f"{label}: done ({time.monotonic() - began:.0f} s)", flush=True)

    lines = [
        "# Drift levels: false alarms and detection delay, seed mode vs calibrated mode",
        "",
        f"`.venv/bin/python -m bench.drift_levels --rate {args.rate:g} --days {args.days} "
        f"--calibration-days {args.calibration_days} --per-day {args.per_day:g}` "
        f"({time.monotonic() - began:.0f} s). Simulated traffic at {args.rate:g} events/s on average "
        f"(production ~580/s: the calibrated thresholds narrow with more events per window), hourly windows, "
        f"all {len(grid)} drift features, baseline 7 days (seed 11), calibration {args.calibration_days} "
        f"drift-free days (seed 21), evaluation {args.days} drift-free days (seed 31) from "
        f"{eval_start.date()} (a Monday).",
        "",
        f"## False alarms over {args.days} drift-free days ({len(quiet)} windows)",
        "",
        "| mode | windows >= WARNING | per day | windows CRITICAL | per day | windows INFO |",
        "|---|---|---|---|---|---|",
    ]
    for name, levels in false_alarms.items():
        warn = levels["WARNING"] + levels["CRITICAL"]
        lines.append(f"| {name} | {warn} | {warn / args.days:.2f} | {levels['CRITICAL']} | "
                     f"{levels['CRITICAL'] / args.days:.2f} | {levels['INFO']} |")
    lines += ["", "Calibrated mode, target against observed (windows at WARNING or above):", "",
              "| target false alarms/day | expected in the period | observed | observed per day |", "|---|---|---|---|"]
    for t, seen in check.items():
        lines.append(f"| {t:g} | {t * args.days:.1f} | {seen} | {seen / args.days:.2f} |")
    lines += ["", f"Calibrated false WARNINGs by feature (target {args.per_day:g}/day): "
              + (", ".join(f"{f} {n}" for f, n in per_feature.most_common()) or "none"), ""]
    lines += [f"## Detection delay (shift start to the end of the first alarming window; {len(SHIFT_STARTS)} "
              "start times: Tue 03:20, Wed 10:20, Thu 15:20, Sat 21:20 UTC; horizon 24 h)", "",
              "| shift | mode | first WARNING | first CRITICAL | WARNING per start |", "|---|---|---|---|---|"]
    for label, _, _ in SHIFTS:
        for name in modes:
            warn, crit = delays[(label, name, "WARNING")], delays[(label, name, "CRITICAL")]
            lines.append(f"| {label} | {name} | {summary(warn)} | {summary(crit)} | "
                         f"{', '.join(hours(d) for d in warn)} |")
    text = "\n".join(lines) + "\n"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "drift_levels.md").write_text(text, encoding="utf-8")
    chart(args.out / "drift_levels.png", false_alarms, check, delays, modes, args.days)
    print(text)


def chart(path: Path, false_alarms, check, delays, modes, days: int) -> None:
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.8), gridspec_kw={"width_ratios": [1, 2.4]})
    names = list(modes)
    short = ["seed", "calibrated"]
    seed_rate = (false_alarms[names[0]]["WARNING"] + false_alarms[names[0]]["CRITICAL"]) / days
    targets = sorted(check)
    left.plot(targets, targets, "--", color="#777777", label="target")
    left.plot(targets, [max(check[t] / days, 1e-3) for t in targets], "o-", color="#2b6cb0",
              label="calibrated, observed")
    left.axhline(max(seed_rate, 1e-3), color="#999999", label=f"seed, observed ({seed_rate:g}/day)")
    left.set_xscale("log")
    left.set_yscale("log")
    left.set_xlabel("target false alarms per day")
    left.set_ylabel("observed windows >= WARNING per day")
    left.set_title(f"false alarms over {days} drift-free days (0 drawn at 0.001)", fontsize=10)
    left.legend(fontsize=8)
    labels = [label for label, _, _ in SHIFTS]
    x = np.arange(len(labels))
    cap = HORIZON.total_seconds() / 3600
    for i, (name, color) in enumerate(zip(names, ["#999999", "#2b6cb0"], strict=True)):
        values, missed = [], []
        for label in labels:
            found = [d.total_seconds() / 3600 for d in delays[(label, name, "WARNING")] if d is not None]
            values.append(float(np.median(found)) if found else cap)
            missed.append(not found)
        bars = right.bar(x + (i - 0.5) * 0.38, values, 0.38, color=color, label=short[i])
        for bar, gone in zip(bars, missed, strict=True):
            if gone:
                bar.set_hatch("//")
                bar.set_alpha(0.35)
                right.text(bar.get_x() + bar.get_width() / 2, cap, "missed", ha="center", va="bottom", fontsize=8)
    right.set_xticks(x, [label.replace(" (", "\n(").replace(": ", ":\n") for label in labels], fontsize=8)
    right.set_ylabel("hours to first WARNING (median over starts)")
    right.set_title("detection delay (missed within 24 h: hatched)")
    right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()

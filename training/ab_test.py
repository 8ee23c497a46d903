"""A/B replay of the job's floors: the same auctions (same bidders and values) under the static
floor and under the floors the job wrote to its table.

Arm ``static``: every auction at the ad server's static floor (2.00 EUR). Arm ``dynamic``: the
floor the ad server would read through ``serving.FloorReader`` (fine, else coarse, else
static). The outcome is recomputed per arm by ``simulator.bidders.outcome`` (the market's
auction rules; first price by default, bidders raising their bid to a floor their value
reaches), so the only difference between the arms is the floor. The comparison of floor
policies against the oracle is ``training.floor_ab`` (``make ab``).

Per arm, per tier and overall: auctions, fill rate, average clearing CPM of the filled
auctions, revenue per 1,000 auctions (EUR: sum of CPM/1000 over filled auctions x 1000 / auctions
= mean of cpm x filled). 95% confidence intervals by the normal approximation (CLT): Wald for
the fill rate, mean +- 1.96 s/sqrt(n) for CPM and revenue; the revenue lift is a paired
difference (same auctions in both arms), with its own normal-approximation interval.

    python -m training.ab_test --events 50000 [--seed 11] [--at best|now|<ISO time>] [--chart ab.png]
    python -m training.ab_test --arms [--weights champion=80,challenger=20] [--salt S]

``--arms``: champion vs challenger (``arm_replay``), each auction in the arm the floor API gives
its impression and at the floor the API serves that arm; per arm, its figures and its lift over
the static floor on its own auctions; the split's counts and sample-ratio-mismatch p-value.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from serving.floor_reader import FloorReader
from serving.snapshot import Snapshot
from simulator import bidders
from simulator.market import Market, Simulation
from udfs import arms, rules

Z95 = 1.959964
ARMS = ("static", "dynamic")


def replay_frame(sim: Simulation) -> pd.DataFrame:
    """The auctions as events plus what a replay needs and the logs do not hold: the two highest
    values and the bidders' shading."""
    return sim.frame().assign(top_value=sim.cols["top_value"], second_value=sim.cols["second_value"],
                              shading=sim.cols["shading"])


def arm_outcomes(auctions: pd.DataFrame, floors: np.ndarray, auction: bidders.AuctionRules | None = None
                 ) -> pd.DataFrame:
    """Per auction under the given floors (the market's default rules unless given): floor,
    filled, cpm (NaN when not filled)."""
    out = bidders.outcome(auction or bidders.AuctionRules(), auctions["top_value"].to_numpy(np.float64),
                          auctions["second_value"].to_numpy(np.float64), np.asarray(floors, dtype=np.float64),
                          auctions["shading"].to_numpy(np.float64))
    return pd.DataFrame({"floor": floors, "filled": out["filled"], "cpm": out["cpm"]}, index=auctions.index)


def _mean_ci(x: np.ndarray) -> tuple[float, float, float]:
    n = len(x)
    if n == 0:
        return float("nan"), float("nan"), float("nan")
    m = float(np.mean(x))
    half = Z95 * float(np.std(x, ddof=1)) / np.sqrt(n) if n > 1 else float("nan")
    return m, m - half, m + half


def _metrics(out: pd.DataFrame) -> dict[str, float]:
    n = len(out)
    filled = out["filled"].to_numpy()
    p = float(filled.mean()) if n else float("nan")
    half = Z95 * np.sqrt(p * (1 - p) / n) if n else float("nan")
    cpm, cpm_lo, cpm_hi = _mean_ci(out["cpm"].to_numpy()[filled])
    rev, rev_lo, rev_hi = _mean_ci(np.where(filled, out["cpm"].to_numpy(), 0.0))
    return {"auctions": n, "fill_rate": p, "fill_lo": p - half, "fill_hi": p + half,
            "avg_cpm": cpm, "cpm_lo": cpm_lo, "cpm_hi": cpm_hi,
            "rev_per_1000": rev, "rev_lo": rev_lo, "rev_hi": rev_hi}


def evaluate(auctions: pd.DataFrame, floors: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """The A/B table: one row per arm and tier ("1", "2", "3", "all"), plus the paired revenue
    lift of each arm over the first arm on that arm's rows."""
    tiers = auctions["country"].map(rules.country_tier).astype(str)
    outcomes = {arm: arm_outcomes(auctions, f) for arm, f in floors.items()}
    base_arm = next(iter(floors))
    rows = []
    for tier in ["1", "2", "3", "all"]:
        mask = np.ones(len(auctions), bool) if tier == "all" else (tiers == tier).to_numpy()
        base_rev = np.where(outcomes[base_arm]["filled"], outcomes[base_arm]["cpm"], 0.0)[mask]
        for arm, out in outcomes.items():
            row: dict[str, Any] = {"arm": arm, "tier": tier, **_metrics(out[mask])}
            rev = np.where(out["filled"], out["cpm"], 0.0)[mask]
            row["lift"], row["lift_lo"], row["lift_hi"] = _mean_ci(rev - base_rev)
            rows.append(row)
    return pd.DataFrame(rows)


def format_table(table: pd.DataFrame, baseline: str | None = None) -> str:
    """The table as text; the lift column is against `baseline` (default: the table's first arm)."""
    baseline = baseline or str(table["arm"].iloc[0])
    lines = [f"{'tier':<5} {'arm':<8} {'auctions':>9}  {'fill rate (95% CI)':<24} {'avg CPM EUR (95% CI)':<26}"
             f" {'revenue/1000 auctions EUR (95% CI)':<36} {'lift vs ' + baseline:<24}"]
    for r in table.itertuples():
        lines.append(
            f"{r.tier:<5} {r.arm:<8} {r.auctions:>9,}  {r.fill_rate:6.1%} [{r.fill_lo:6.1%}, {r.fill_hi:6.1%}]   "
            f"{r.avg_cpm:6.3f} [{r.cpm_lo:6.3f}, {r.cpm_hi:6.3f}]      "
            f"{r.rev_per_1000:7.3f} [{r.rev_lo:7.3f}, {r.rev_hi:7.3f}]             "
            f"{r.lift:+7.3f} [{r.lift_lo:+.3f}, {r.lift_hi:+.3f}]")
    return "\n".join(lines)


def chart(table: pd.DataFrame, path: Path, title: str = "A/B: static vs dynamic floors") -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    metrics = [("fill_rate", "fill_lo", "fill_hi", "fill rate"), ("avg_cpm", "cpm_lo", "cpm_hi", "avg CPM (EUR)"),
               ("rev_per_1000", "rev_lo", "rev_hi", "revenue / 1000 auctions (EUR)")]
    tiers = list(dict.fromkeys(table["tier"]))
    arms = list(dict.fromkeys(table["arm"]))
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    width = 0.8 / len(arms)
    for ax, (col, lo, hi, label) in zip(axes, metrics, strict=True):
        for i, arm in enumerate(arms):
            t = table[table["arm"] == arm].set_index("tier").loc[tiers]
            x = np.arange(len(tiers)) + (i - (len(arms) - 1) / 2) * width
            ax.bar(x, t[col], width, label=arm, yerr=[t[col] - t[lo], t[hi] - t[col]], capsize=3)
        ax.set_xticks(np.arange(len(tiers)), [f"tier {t}" if t != "all" else "all" for t in tiers])
        ax.set_title(label)
    axes[0].legend()
    fig.suptitle(f"{title} (95% CI, normal approximation)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def dynamic_floors(auctions: pd.DataFrame, reader: FloorReader) -> tuple[np.ndarray, pd.Series]:
    """Floors read through the reader (batch lookups), and how many came from each level."""
    resolved = reader.floors_for(auctions.to_dict(orient="records"))
    floors = np.array([f for f, _ in resolved], dtype=np.float64)
    return floors, pd.Series([s for _, s in resolved]).value_counts()


def arm_replay(auctions: pd.DataFrame, snapshot: Snapshot, now: float, static_floor: float, salt: str,
               weights: Mapping[str, int]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Champion and challenger as the floor API splits them: each auction's arm is
    ``arms.arm_for(impression_id, salt, weights)`` and its floor the API's answer for that arm
    (``serving.api.decide_batch`` over the snapshot: a challenger impression gets the item's
    challenger floor where there is one). Per assigned arm (intent to treat), the A/B table of
    ``evaluate`` against the static floor on the same auctions, so each arm's lift is paired; and
    the split's check: counts per assigned and per served arm, the sample-ratio-mismatch p-value."""
    from serving.api import SEGMENT_FIELDS, decide_batch

    arm_of = arms.splitter(salt, weights)
    assigned = [arm_of(i) for i in auctions["impression_id"]]
    requests = auctions.assign(country_tier=auctions["country"].map(rules.country_tier))[
        ["impression_id", *SEGMENT_FIELDS]].to_dict(orient="records")
    answers = decide_batch(requests, snapshot, now, static_floor, "", assigned)
    floors = np.array([a["floor_eur"] for a in answers], dtype=np.float64)
    served = pd.Series([a["arm"] or "static" for a in answers])
    assigned_arms = np.array(assigned)
    tables = []
    for arm in sorted(weights):
        mask = assigned_arms == arm
        if not mask.any():
            continue
        table = evaluate(auctions[mask], {"static": np.full(int(mask.sum()), static_floor), arm: floors[mask]})
        tables.append(table[table["arm"] == arm])
    counts = {arm: int((assigned_arms == arm).sum()) for arm in sorted(weights)}
    split = {"assigned": counts, "served": served.value_counts().to_dict(),
             "srm_p_value": arms.sample_ratio_mismatch(counts, weights)}
    return pd.concat(tables, ignore_index=True), split


def best_instant(items: list[dict[str, Any]]) -> float:
    """The instant (a window end) at which the most items were fresh: written (window ended)
    and not yet expired. The local job's floors live 2 windows; a replay "now" sees none."""
    written = np.array([datetime.fromisoformat(i["window_end"]["S"].replace("Z", "+00:00")).timestamp()
                        for i in items])
    expires = np.array([float(i["expires_at"]["N"]) for i in items])
    return float(max(set(written), key=lambda t: int(((written <= t) & (expires > t)).sum())))


def run(
    events: int, seed: int, reader: FloorReader, start: datetime, rate: float = 500.0
) -> tuple[pd.DataFrame, pd.Series]:
    """Replay ``events`` market auctions from ``start`` under both arms."""
    auctions = replay_frame(Market(seed).count(events, start, rate, truth=False))
    floors, sources = dynamic_floors(auctions, reader)
    table = evaluate(auctions, {"static": np.full(len(auctions), reader.static_floor), "dynamic": floors})
    return table, sources


def main(argv: list[str] | None = None) -> int:
    from flink_jobs.config import load_config
    from serving.floor_reader import floors_in_table
    from udfs.aws import aws_client

    parser = argparse.ArgumentParser(prog="python -m training.ab_test", description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=11, help="auction seed (use another than the training traffic's)")
    parser.add_argument("--at", default="best",
                        help="instant of the expiry check: 'best' (when most floors were fresh), 'now', or ISO time")
    parser.add_argument("--static-floor", type=float, default=rules.STATIC_FLOOR_EUR)
    parser.add_argument("--chart", type=Path, default=Path("ab_test.png"))
    parser.add_argument("--properties", type=Path, default=None)
    parser.add_argument("--arms", action="store_true",
                        help="champion vs challenger as the floor API splits them (per-arm figures, SRM check)")
    parser.add_argument("--weights", default="champion=80,challenger=20", help="the API's YIELD_API_MODEL_WEIGHTS")
    parser.add_argument("--salt", default=None, help="the API's YIELD_API_ARM_SALT (default: the API's default)")
    args = parser.parse_args(argv)

    config = load_config(args.properties)
    client = aws_client("dynamodb", config.floors.endpoint, config.floors.region)
    if args.at == "now":
        at = datetime.now(UTC).timestamp()
    elif args.at == "best":
        items = floors_in_table(config)
        if not items:
            print(f"no floors in {config.floors.table_name}: run the job first (make run)", file=sys.stderr)
            return 1
        at = best_instant(items)
    else:
        t = datetime.fromisoformat(args.at.replace("Z", "+00:00"))
        at = (t if t.tzinfo else t.replace(tzinfo=UTC)).timestamp()
    if args.arms:
        return print_arm_replay(config, args, at)
    clock: Callable[[], float] = lambda: at  # noqa: E731 - the replay's fixed instant
    reader = FloorReader(config.floors.table_name, client, args.static_floor, clock=clock)
    # Auctions at the hour of the check, so the traffic's time of day matches the floors'.
    table, sources = run(args.events, args.seed, reader, datetime.fromtimestamp(at, UTC))
    print(f"replay of {args.events:,} auctions (seed {args.seed}); floors from {config.floors.table_name} "
          f"as fresh at {datetime.fromtimestamp(at, UTC):%Y-%m-%dT%H:%M:%SZ}")
    print("dynamic arm floor sources: " + ", ".join(f"{k} {v:,}" for k, v in sources.items()))
    print(format_table(table))
    chart(table, args.chart)
    print(f"chart: {args.chart}")
    return 0


def print_arm_replay(config: Any, args: argparse.Namespace, at: float) -> int:  # noqa: ANN401 - AppConfig
    from serving.api import DEFAULT_ARM_SALT, parse_weights
    from serving.floor_reader import floors_in_table
    from serving.snapshot import decode_item

    floors = [f for f in map(decode_item, floors_in_table(config)) if f is not None]
    snapshot = Snapshot.build(floors, at)
    start = datetime.fromtimestamp(at, UTC)
    auctions = replay_frame(Market(args.seed).count(args.events, start, 500.0, truth=False))
    table, split = arm_replay(auctions, snapshot, at, args.static_floor, args.salt or DEFAULT_ARM_SALT,
                              parse_weights(args.weights))
    print(f"per-arm replay of {args.events:,} auctions (seed {args.seed}); floors from {config.floors.table_name} "
          f"as fresh at {start:%Y-%m-%dT%H:%M:%SZ}; {sum(f.challenger_floor_eur is not None for f in floors):,} "
          f"of {len(floors):,} items carry a challenger floor")
    print(f"assigned {split['assigned']}, served {split['served']}, SRM p-value {split['srm_p_value']:.3g}")
    print(format_table(table, baseline="static"))
    chart(table, args.chart, "champion vs challenger")
    print(f"chart: {args.chart}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

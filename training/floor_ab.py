"""The floor A/B (``make ab``): floor policies replayed on the same simulated auctions, against
the static floor and the oracle ceiling.

Arms, each a floor per fine segment and hour, computed from window h and applied to window h+1
as in production:

- ``static``: the ad server's 2.00 EUR;
- ``brief``: the brief's rule on the segment's window-h mean clearing CPM (the job's provisional
  prediction; coarse segment, then the static floor, when the fine segment had no fills);
- ``global``: the best single floor for the whole period, chosen in hindsight from the truth;
- ``model``: the revenue policy (``udfs.floor_policy``) on the revenue model's curves
  (``training.revenue_model``, trained on earlier days of another seed's logs);
- ``truth``: the same policy fed the simulator's true curves of window h+1 (the policy alone);
- ``literal``: the true curves under the literal reading of "higher CPM with fill kept" (per
  segment, CPM of filled auctions not below the static floor's and fill not below it);
- ``oracle``: the revenue-maximising floor of each segment and hour from the truth: the ceiling.

Every arm runs on the same auctions (same bidders, same values); in first price the bids are
re-derived from each arm's floor (bidders raise their bid to a floor their value reaches), so
the replay is valid for floors that change bids. RPM is revenue per 1,000 auctions (the
publisher's eCPM, EUR); fill and the CPM of filled auctions are reported beside it. 95%
confidence intervals by bootstrap over (seed, day, hour) clusters: floors are shared within a
segment and hour, so per-auction intervals would be far too narrow. Each arm's lift is also
given as a share of the oracle's lift over static.

The closed loop: the market runs under an arm's own floors for ``--loop-days`` days, so window
h's data (and hence the next floors) depend on the arm's earlier floors; it shows whether a
policy ratchets (median day-over-day floor drift) and what it earns against the open loop.

    python -m training.floor_ab run [--days 7] [--seeds 1 2 3] [--rate 2] [--out bench/results]
    python -m training.floor_ab calibration [--seed 1] [--rate 2]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from schemas.events import FORMATS
from simulator import bidders
from simulator.market import DEFAULT_START, Curves, Exploration, FloorPolicy, Market, Simulation
from training import revenue_model
from training.revenue_gate import bootstrap_weights
from udfs import rules
from udfs.floor_policy import FLOOR_GRID, PolicySettings, brief_floors, revenue_floors
from udfs.revenue_curves import RevenueCurveModel

ARMS = ("static", "brief", "global", "model", "truth", "literal", "oracle")
TRAIN_SEED = 100
DEFAULT_EXPLORATION = Exploration(share=0.10, holdout=0.02)


@dataclass
class Setup:
    seeds: Sequence[int] = (1, 2, 3)
    days: int = 7
    train_days: int = 7
    loop_days: int = 3
    rate: float = 2.0  # mean auctions/s of the replay (the network's 50M/day is 579)
    train_rate: float = 10.0  # of the training logs: production logs are far larger than a replay
    start: datetime = DEFAULT_START + timedelta(days=7)
    exploration: Exploration = DEFAULT_EXPLORATION
    auction: bidders.AuctionRules = field(default_factory=bidders.AuctionRules)
    settings: PolicySettings = field(default_factory=PolicySettings)
    bootstrap: int = 2000
    progress: Callable[[str], None] = lambda _m: None


def merged(sims: Sequence[Simulation]) -> Simulation:
    """One Simulation of several slices (columns concatenated)."""
    sims = [s for s in sims if len(s)]
    if not sims:
        raise ValueError("no auctions in this hour: raise --rate")
    cols = {k: np.concatenate([s.cols[k] for s in sims]) for k in sims[0].cols}
    return Simulation(cols, sims[0].network)


def hours_of(market: Market, start: datetime, hours: int, rate: float,
             floor: FloorPolicy = rules.STATIC_FLOOR_EUR) -> list[Simulation]:
    return [merged(list(market.span(start + timedelta(hours=h), start + timedelta(hours=h + 1), rate,
                                    floor=floor, truth=False))) for h in range(hours)]


def train_model(setup: Setup) -> RevenueCurveModel:
    market = Market(TRAIN_SEED, auction=setup.auction, exploration=setup.exploration)
    start = setup.start - timedelta(days=setup.train_days)
    frames = [s.frame() for s in hours_of(market, start, 24 * setup.train_days, setup.train_rate)]
    events = pd.concat(frames, ignore_index=True)
    setup.progress(f"training the revenue model on {len(events):,} logged auctions "
                   f"({setup.train_days} days of seed {TRAIN_SEED}, exploration {setup.exploration})")
    return revenue_model.train(events, setup.auction.outside_option_eur)


# ----------------------------------------------------------------------------- floors per arm


def segment_rows(market: Market, sim: Simulation, hour: datetime) -> pd.DataFrame:
    """One row per fine segment of ``sim``: its key and parts, and the calendar of ``hour`` (the
    window its floor is for)."""
    parts = market.segment_parts(sim.cols)
    keys = rules.segment_key_column(parts, rules.FINE)
    first = pd.Series(np.arange(len(sim))).groupby(keys.to_numpy()).first().to_numpy()
    rows = parts.iloc[first].reset_index(drop=True)
    return rows.assign(level=rules.FINE, segment_key=keys.to_numpy()[first], hour_of_day=hour.hour,
                       is_weekend=hour.weekday() >= 5)


def brief_arm(window: Simulation, next_rows: pd.DataFrame) -> np.ndarray:
    """The brief's rule for each fine segment of ``next_rows``, from ``window``'s logged auctions."""
    keys = next_rows["segment_key"]
    frame = window.frame()
    frame["country_tier"] = frame["country"].map(rules.country_tier)
    frame["fine"], frame["coarse"] = (rules.segment_key_column(frame, lvl) for lvl in (rules.FINE, rules.COARSE))
    paid = frame["cpm_eur"].where(frame["filled"])
    fine = pd.DataFrame({"cpm": paid.groupby(frame["fine"]).mean(), "n": frame.groupby("fine").size()})
    coarse = pd.DataFrame({"cpm": paid.groupby(frame["coarse"]).mean(), "n": frame.groupby("coarse").size()})
    coarse_keys = rules.segment_key_column(next_rows, rules.COARSE)
    cpm = fine["cpm"].reindex(keys.to_numpy()).to_numpy()
    n = fine["n"].reindex(keys.to_numpy()).fillna(0).to_numpy()
    use_coarse = ~np.isfinite(cpm)
    cpm = np.where(use_coarse, coarse["cpm"].reindex(coarse_keys.to_numpy()).to_numpy(), cpm)
    n = np.where(use_coarse, coarse["n"].reindex(coarse_keys.to_numpy()).fillna(0).to_numpy(), n)
    prime = np.array([rules.is_prime_time(int(h)) for h in next_rows["hour_of_day"]])
    floors = brief_floors(np.nan_to_num(cpm, nan=rules.STATIC_FLOOR_EUR), n.astype(int),
                          prime, (next_rows["inventory_type"] == "premium").to_numpy())
    return np.where(np.isfinite(cpm), floors, rules.STATIC_FLOOR_EUR)


def literal_floors(curves: Curves, static_floor: float) -> np.ndarray:
    """Per row: the revenue-best grid floor whose fill and CPM of filled are both at least the
    static floor's (the static floor itself qualifies)."""
    fill, rev = curves.fills, curves.revenue
    cpm = rev / np.maximum(fill, 1e-12)
    s_rev, s_fill = curves.at(np.full(len(rev), static_floor))
    s_cpm = s_rev / np.maximum(s_fill, 1e-12)
    ok = (fill >= s_fill[:, None] - 1e-9) & (cpm >= s_cpm[:, None] - 1e-9)
    best = np.where(ok, rev, -np.inf)
    pick = curves.grid[best.argmax(axis=1)]
    return np.where(ok.any(axis=1) & (best.max(axis=1) > s_rev), pick, static_floor)


class Arms:
    """The floors of each arm for the fine segments of one window, given the previous window."""

    def __init__(self, market: Market, model: RevenueCurveModel | None, setup: Setup):
        self.market, self.model, self.setup = market, model, setup
        self.previous: dict[str, dict[str, float]] = {"model": {}, "truth": {}}

    def _capped(self, arm: str, keys: pd.Series, revenue: np.ndarray, fill: np.ndarray) -> np.ndarray:
        prev = np.array([self.previous[arm].get(k, np.nan) for k in keys])
        floors = revenue_floors(FLOOR_GRID, revenue, fill, prev, self.setup.settings)
        self.previous[arm].update(zip(keys, floors, strict=True))
        return floors

    def model_floors(self, rows: pd.DataFrame) -> np.ndarray:
        # The replay knows every segment's coarse parts, also of fine segments new since training.
        revenue, fill, _known = self.model.curves(rows.assign(coarse_key=rules.segment_key_column(rows, rules.COARSE)),
                                                  FLOOR_GRID)
        return self._capped("model", rows["segment_key"], revenue, fill)

    def floors(self, window: Simulation, hour: datetime, logged_before: Simulation, curves: Curves
               ) -> dict[str, np.ndarray]:
        """Each arm's floor for the fine segments of ``curves`` (the window's), in its row order."""
        rows = segment_rows(self.market, window, hour).set_index("segment_key", drop=False).loc[
            curves.keys["segment_key"].to_numpy()].reset_index(drop=True)
        keys = rows["segment_key"]
        per_auction = curves.auctions[:, None]
        arms = {
            "static": np.full(len(keys), rules.STATIC_FLOOR_EUR),
            "brief": brief_arm(logged_before, rows),
            "truth": self._capped("truth", keys, curves.revenue / per_auction, curves.fills / per_auction),
            "literal": literal_floors(curves, rules.STATIC_FLOOR_EUR),
            "oracle": curves.oracle(),
        }
        if self.model is not None:  # None: the arms that need no model (a quick replay)
            arms["model"] = self.model_floors(rows)
        return arms


# ----------------------------------------------------------------------------- the open loop


def outcome_sums(market: Market, sim: Simulation, floors: np.ndarray, cluster: int) -> pd.DataFrame:
    """Per tier and format of one window: auctions, fills, revenue and paid under ``floors``."""
    c, net = sim.cols, market.network
    out = bidders.outcome(market.auction, c["top_value"], c["second_value"], floors, c["shading"])
    frame = pd.DataFrame({
        "tier": net.country_tier[c["country"]], "format": np.asarray(FORMATS)[net.unit_format[c["unit"]]],
        "auctions": 1, "fills": out["filled"].astype(int), "revenue": out["revenue"],
        "paid": np.nan_to_num(out["cpm"]),
    })
    sums = frame.groupby(["tier", "format"], as_index=False).sum()
    sums["cluster"] = cluster
    sums["hour_of_day"] = int(pd.to_datetime(c["time_ms"][0], unit="ms").hour)
    return sums


def open_loop(setup: Setup, model: RevenueCurveModel | None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Per arm, cluster, tier and format: the sums the report needs; plus the global floor chosen."""
    rows, pending, grid_revenue = [], [], np.zeros(len(FLOOR_GRID))
    hours = 24 * setup.days
    for s_i, seed in enumerate(setup.seeds):
        market = Market(seed, auction=setup.auction, exploration=setup.exploration)
        arms = Arms(market, model, setup)
        logged = hours_of(market, setup.start - timedelta(hours=1), 1, setup.rate)[0]
        t0 = time.perf_counter()
        for h in range(hours):
            hour = setup.start + timedelta(hours=h)
            window = hours_of(market, hour, 1, setup.rate)[0]
            curves = market.curves([window])
            grid_revenue += curves.revenue.sum(axis=0)
            floors = arms.floors(window, hour, logged, curves)
            where = pd.Index(curves.keys["segment_key"]).get_indexer(market.segment_keys(window.cols, rules.FINE))
            cluster = s_i * hours + h
            for arm, f in floors.items():
                rows.append(outcome_sums(market, window, f[where], cluster).assign(arm=arm, seed=seed))
            pending.append((market, window, cluster, seed))
            logged = window
            if (h + 1) % 24 == 0:
                setup.progress(f"seed {seed}: day {(h + 1) // 24}/{setup.days} replayed "
                               f"({time.perf_counter() - t0:.0f} s)")
    best_global = float(FLOOR_GRID[np.argmax(grid_revenue)])
    for market, window, cluster, seed in pending:
        rows.append(outcome_sums(market, window, np.full(len(window), best_global), cluster).assign(arm="global",
                                                                                                   seed=seed))
    return pd.concat(rows, ignore_index=True), {"global_floor": best_global}


# ----------------------------------------------------------------------------- the closed loop


def closed_loop(setup: Setup, model: RevenueCurveModel, seed: int) -> pd.DataFrame:
    """The market under each arm's own floors (no exploration): per arm and auction the window,
    the fine segment, the floor applied and the revenue. After each window the arm sets the
    floors of the next from that window's data (segments it did not see keep their floor)."""
    rows = []
    for arm in ("static", "brief", "model"):
        market = Market(seed, auction=setup.auction)
        arms = Arms(market, model, setup)
        current: dict[str, float] = {}

        def lookup(cols: dict[str, np.ndarray], _rng: np.random.Generator, current: dict = current,
                   market: Market = market) -> np.ndarray:
            keys = market.segment_keys(cols, rules.FINE)
            return keys.map(current).fillna(rules.STATIC_FLOOR_EUR).to_numpy(np.float64)

        for h in range(24 * setup.loop_days):
            hour = setup.start + timedelta(hours=h)
            window = hours_of(market, hour, 1, setup.rate, floor=lookup)[0]
            c = window.cols
            revenue = np.where(c["filled"], np.nan_to_num(c["cpm_eur"]), setup.auction.outside_option_eur)
            rows.append(pd.DataFrame({"arm": arm, "cluster": h, "day": h // 24,
                                      "segment_key": market.segment_keys(c, rules.FINE),
                                      "floor": c["floor_price_eur"], "revenue": revenue}))
            next_rows = segment_rows(market, window, hour + timedelta(hours=1))
            if arm == "brief":
                current.update(zip(next_rows["segment_key"], brief_arm(window, next_rows), strict=True))
            elif arm == "model":
                current.update(zip(next_rows["segment_key"], arms.model_floors(next_rows), strict=True))
        setup.progress(f"closed loop: arm {arm} done")
    return pd.concat(rows, ignore_index=True)


# ----------------------------------------------------------------------------- the report


def summarise(sums: pd.DataFrame, weights: np.ndarray, by: str | None = None) -> pd.DataFrame:
    """Per arm (and ``by`` group): RPM, fill, CPM, lift vs static and share of the oracle's lift,
    each with its bootstrap 95% interval."""
    groups = [None] if by is None else sorted(sums[by].unique())
    clusters = weights.shape[1]
    out = []
    for g in groups:
        part = sums if g is None else sums[sums[by] == g]
        per = part.groupby(["arm", "cluster"])[["auctions", "fills", "revenue", "paid"]].sum()

        def totals(arm: str, column: str, per: pd.DataFrame = per) -> np.ndarray:
            v = per.loc[arm][column].reindex(range(clusters), fill_value=0).to_numpy(np.float64)
            return np.concatenate([[v.sum()], weights @ v])  # point estimate, then replicates

        auctions = totals("static", "auctions")
        # A replicate that drew no cluster of a small group (one hour of the day) has no auctions
        # there: NaN, left out of its percentiles.
        auctions = np.where(auctions > 0, auctions, np.nan)
        rpm = {arm: totals(arm, "revenue") / auctions for arm in per.index.get_level_values(0).unique()}
        for arm, r in rpm.items():
            fills, paid = totals(arm, "fills"), totals(arm, "paid")
            lift = r / rpm["static"] - 1.0
            ceiling = rpm["oracle"] - rpm["static"] if "oracle" in rpm else np.full_like(r, np.nan)
            share = (r - rpm["static"]) / np.where(ceiling > 0, ceiling, np.nan)
            row = {"arm": arm, "auctions": int(np.nan_to_num(auctions[0]))}
            if by is not None:
                row[by] = g
            for name, v in (("rpm", r), ("fill", fills / auctions), ("cpm", paid / np.maximum(fills, 1.0)),
                            ("lift", lift), ("share", share)):
                row[name] = v[0]
                row[name + "_lo"], row[name + "_hi"] = np.nanpercentile(v[1:], [2.5, 97.5])
            out.append(row)
    table = pd.DataFrame(out)
    table["arm"] = pd.Categorical(table["arm"], [a for a in ARMS if a in set(table["arm"])], ordered=True)
    return table.sort_values(([by] if by else []) + ["arm"]).reset_index(drop=True)


def paired_difference(sums: pd.DataFrame, weights: np.ndarray, a: str, b: str) -> tuple[float, float, float]:
    """RPM of arm a minus arm b over the same auctions, with its bootstrap 95% interval."""
    per = sums.groupby(["arm", "cluster"])[["auctions", "revenue"]].sum()
    n = weights.shape[1]
    auctions = per.loc["static"]["auctions"].reindex(range(n), fill_value=0).to_numpy(np.float64)
    diff = (per.loc[a]["revenue"].reindex(range(n), fill_value=0) - per.loc[b]["revenue"].reindex(
        range(n), fill_value=0)).to_numpy(np.float64)
    point = diff.sum() / auctions.sum()
    reps = (weights @ diff) / (weights @ auctions)
    lo, hi = np.percentile(reps, [2.5, 97.5])
    return float(point), float(lo), float(hi)


def loop_summary(loop: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for arm, part in loop.groupby("arm", sort=False):
        daily = part.groupby(["segment_key", "day"])["floor"].mean().unstack("day")
        change = (daily.shift(-1, axis=1) / daily - 1.0).abs().iloc[:, :-1].stack()
        rpm = part["revenue"].sum() / len(part)
        by_day = part.groupby("day")["floor"].median()
        rows.append({"arm": arm, "rpm": rpm, "median_daily_floor_drift": float(change.median()),
                     "median_floor_first_day": float(by_day.iloc[0]), "median_floor_last_day": float(by_day.iloc[-1])})
    return pd.DataFrame(rows)


def fmt_ci(v: float, lo: float, hi: float, pct: bool = False, digits: int = 3) -> str:
    if pct:
        return f"{v:+.1%} [{lo:+.1%}, {hi:+.1%}]"
    return f"{v:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def markdown(overall: pd.DataFrame, by_tier: pd.DataFrame, by_format: pd.DataFrame, by_hour: pd.DataFrame,
             loop: pd.DataFrame, checks: list[tuple[str, bool, str]], meta: dict[str, Any]) -> str:
    lines = [f"# Floor A/B: {meta['auctions']:,} auctions per arm ({meta['days']} days x seeds "
             f"{', '.join(map(str, meta['seeds']))}, {meta['rate']} auctions/s), {meta['mechanism']}-price market",
             "", f"Command: `{meta['command']}` ({meta['elapsed_s']:.0f} s). Best single global floor in "
             f"hindsight: {meta['global_floor']:.2f} EUR. 95% CI: bootstrap over {meta['clusters']:,} "
             "(seed, day, hour) clusters.", "",
             "| arm | RPM (EUR) | fill | CPM of filled | lift vs static | share of the oracle's lift |",
             "|---|---|---|---|---|---|"]
    for r in overall.itertuples():
        lines.append(f"| {r.arm} | {fmt_ci(r.rpm, r.rpm_lo, r.rpm_hi)} | {r.fill:.1%} | {r.cpm:.3f} | "
                     f"{fmt_ci(r.lift, r.lift_lo, r.lift_hi, pct=True)} | "
                     f"{fmt_ci(r.share, r.share_lo, r.share_hi, True)} |")
    for title, table, col in (("tier", by_tier, "tier"), ("format", by_format, "format")):
        lines += ["", f"## Lift vs static by {title}", "", f"| {title} | arm | RPM | fill | lift | share of oracle |",
                  "|---|---|---|---|---|---|"]
        for r in table[table["arm"].isin(["brief", "global", "model", "truth", "oracle"])].itertuples():
            lines.append(f"| {getattr(r, col)} | {r.arm} | {r.rpm:.3f} | {r.fill:.1%} | "
                         f"{fmt_ci(r.lift, r.lift_lo, r.lift_hi, pct=True)} | {r.share:+.0%} |")
    hours = by_hour.pivot(index="hour_of_day", columns="arm", values="lift")
    lines += ["", "## Lift vs static by hour of day (UTC)", "",
              "| hour | " + " | ".join(a for a in ("brief", "global", "model", "truth", "oracle") if a in hours) + " |",
              "|---|" + "---|" * len([a for a in ("brief", "global", "model", "truth", "oracle") if a in hours])]
    for hour, r in hours.iterrows():
        lines.append(f"| {hour:02d} | " + " | ".join(f"{r[a]:+.1%}" for a in ("brief", "global", "model", "truth",
                                                                               "oracle") if a in hours) + " |")
    lines += ["", f"## Closed loop ({meta['loop_days']} days, seed {meta['seeds'][0]}, floors shape the data)", "",
              "| arm | RPM | vs open loop | median day-over-day floor drift | median floor day 1 -> last |",
              "|---|---|---|---|---|"]
    for r in loop.itertuples():
        lines.append(f"| {r.arm} | {r.rpm:.3f} | {r.vs_open:.1%} | {r.median_daily_floor_drift:.1%} | "
                     f"{r.median_floor_first_day:.2f} -> {r.median_floor_last_day:.2f} |")
    lines += ["", "## Acceptance", ""] + [f"- {'PASS' if ok else 'FAIL'}: {text} ({detail})"
                                          for text, ok, detail in checks]
    return "\n".join(lines) + "\n"


def chart(overall: pd.DataFrame, by_tier: pd.DataFrame, by_hour: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(19, 4.5))
    o = overall
    x = np.arange(len(o))
    axes[0].bar(x, o["lift"] * 100, yerr=[(o["lift"] - o["lift_lo"]) * 100, (o["lift_hi"] - o["lift"]) * 100],
                capsize=4, color=["#999", "#d62728", "#ff7f0e", "#2ca02c", "#98df8a", "#9467bd", "#1f77b4"][:len(o)])
    axes[0].set_xticks(x, o["arm"].astype(str))
    axes[0].axhline(0, color="black", lw=0.8)
    axes[0].set_ylabel("revenue per 1,000 auctions vs static 2.00 (%)")
    axes[0].set_title("Lift over static, 95% CI (cluster bootstrap)")
    arms = ["brief", "global", "model", "oracle"]
    tiers = sorted(by_tier["tier"].unique())
    width = 0.8 / len(arms)
    for i, arm in enumerate(arms):
        t = by_tier[by_tier["arm"] == arm].set_index("tier").loc[tiers]
        axes[1].bar(np.arange(len(tiers)) + (i - (len(arms) - 1) / 2) * width, t["lift"] * 100, width, label=arm,
                    yerr=[(t["lift"] - t["lift_lo"]) * 100, (t["lift_hi"] - t["lift"]) * 100], capsize=3)
    axes[1].set_xticks(np.arange(len(tiers)), [f"tier {t}" for t in tiers])
    axes[1].axhline(0, color="black", lw=0.8)
    axes[1].set_title("Lift over static by tier")
    axes[1].legend()
    for arm in arms:
        h = by_hour[by_hour["arm"] == arm].sort_values("hour_of_day")
        axes[2].plot(h["hour_of_day"], h["lift"] * 100, marker=".", label=arm)
        axes[2].fill_between(h["hour_of_day"], h["lift_lo"] * 100, h["lift_hi"] * 100, alpha=0.15)
    axes[2].axhline(0, color="black", lw=0.8)
    axes[2].set_xlabel("hour of day (UTC)")
    axes[2].set_title("Lift over static by hour")
    axes[2].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def acceptance(overall: pd.DataFrame, by_tier: pd.DataFrame, per_segment_vs_global: tuple[float, float, float],
               loop: pd.DataFrame) -> list[tuple[str, bool, str]]:
    arm = overall.set_index("arm")
    m, t, s = arm.loc["model"], arm.loc["truth"], arm.loc["static"]
    bad_tiers = by_tier[(by_tier["arm"] == "model") & (by_tier["lift_hi"] < 0)]["tier"].tolist()
    d, d_lo, d_hi = per_segment_vs_global
    lp = loop.set_index("arm")
    return [
        ("policy fed the truth gets >= 90% of the oracle's lift", t["share"] >= 0.9, f"{t['share']:.1%}"),
        ("model policy gets >= 80% of the oracle's lift", m["share"] >= 0.8, f"{m['share']:.1%}"),
        ("model policy lift: lower 95% bound > 0", m["lift_lo"] > 0, f"{m['lift_lo']:+.2%}"),
        ("model policy fill >= static's - 1 pp", m["fill"] >= s["fill"] - 0.01, f"{m['fill']:.1%} vs {s['fill']:.1%}"),
        ("no tier with a significantly negative model lift", not bad_tiers, f"tiers {bad_tiers or 'none'}"),
        ("per-segment floors beat the best global floor, CI excluding 0", d_lo > 0,
         f"model - global RPM {d:+.4f} [{d_lo:+.4f}, {d_hi:+.4f}] EUR"),
        ("closed loop: median floor drift < 5% per day", lp.loc["model", "median_daily_floor_drift"] < 0.05,
         f"{lp.loc['model', 'median_daily_floor_drift']:.1%}"),
        ("closed loop: revenue >= 95% of the open loop", lp.loc["model", "vs_open"] >= 0.95,
         f"{lp.loc['model', 'vs_open']:.1%}"),
    ]


def run(setup: Setup, out: Path, command: str) -> dict[str, Any]:
    t0 = time.perf_counter()
    model = train_model(setup)
    sums, meta = open_loop(setup, model)
    weights = bootstrap_weights(int(sums["cluster"].max()) + 1, setup.bootstrap)
    overall = summarise(sums, weights)
    by_tier = summarise(sums, weights, "tier")
    by_format = summarise(sums, weights, "format")
    by_hour = summarise(sums, weights, "hour_of_day")
    vs_global = paired_difference(sums, weights, "model", "global")
    loop_rows = closed_loop(setup, model, setup.seeds[0])
    loop = loop_summary(loop_rows)
    # The open loop's RPM of each arm on the same seed and days as the closed loop.
    first = sums[(sums["seed"] == setup.seeds[0]) & (sums["cluster"] < 24 * setup.loop_days)]
    open_rpm = first.groupby("arm")["revenue"].sum() / first[first["arm"] == "static"]["auctions"].sum()
    loop["vs_open"] = loop["rpm"] / loop["arm"].map(open_rpm)
    checks = acceptance(overall, by_tier, vs_global, loop)
    meta |= {"auctions": int(overall["auctions"].iloc[0]), "days": setup.days, "seeds": list(setup.seeds),
             "rate": setup.rate, "mechanism": setup.auction.mechanism, "loop_days": setup.loop_days,
             "clusters": weights.shape[1], "elapsed_s": time.perf_counter() - t0, "command": command}
    out.mkdir(parents=True, exist_ok=True)
    report = markdown(overall, by_tier, by_format, by_hour, loop, checks, meta)
    (out / "floor_ab.md").write_text(report, encoding="utf-8")
    chart(overall, by_tier, by_hour, out / "floor_ab.png")
    return {"overall": overall, "by_tier": by_tier, "by_format": by_format, "by_hour": by_hour, "loop": loop,
            "checks": checks,
            "report": report, "meta": meta}


def calibration(seed: int, rate: float, auction: bidders.AuctionRules, days: int = 1,
                start: datetime = DEFAULT_START) -> dict[str, float]:
    """For a simulated period: the oracle ceiling's lift over static 2.00 and the share of it the
    best single global floor gets (per fine segment and hour)."""
    market = Market(seed, auction=auction)
    sims = hours_of(market, start, 24 * days, rate)
    curves = market.curves(sims)
    static = curves.at(np.full(len(curves.auctions), rules.STATIC_FLOOR_EUR))[0].sum()
    ceiling = curves.revenue.max(axis=1).sum()
    by_floor = curves.revenue.sum(axis=0)
    n = curves.auctions.sum()
    return {"auctions": int(n), "static_rpm": static / n, "ceiling_rpm": ceiling / n,
            "ceiling_lift": ceiling / static - 1.0, "global_floor": float(curves.grid[by_floor.argmax()]),
            "global_share": (by_floor.max() - static) / (ceiling - static)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.floor_ab", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    p_run = sub.add_parser("run", help="the A/B of every arm, with the closed loop")
    p_run.add_argument("--days", type=int, default=7)
    p_run.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    p_run.add_argument("--train-days", type=int, default=7)
    p_run.add_argument("--loop-days", type=int, default=3)
    p_run.add_argument("--rate", type=float, default=2.0, help="mean auctions/s (default 2: ~170,000 a day)")
    p_run.add_argument("--train-rate", type=float, default=10.0, help="mean auctions/s of the training logs")
    p_run.add_argument("--fill-margin", type=float, default=PolicySettings().fill_margin)
    p_run.add_argument("--max-step", type=float, default=PolicySettings().max_step)
    p_run.add_argument("--out", type=Path, default=Path("bench/results"))
    p_cal = sub.add_parser("calibration", help="the oracle's lift and the best global floor's share of it")
    p_cal.add_argument("--days", type=int, default=1)
    p_cal.add_argument("--rate", type=float, default=2.0)
    for p in (p_run, p_cal):
        p.add_argument("--mechanism", choices=["first", "second"], default="first")
        p.add_argument("--shading", type=float, default=bidders.AuctionRules().shading)
        p.add_argument("--outside-option", type=float, default=0.0)
    p_cal.add_argument("--seed", type=int, default=1)
    p_cal.add_argument("--start", type=datetime.fromisoformat, default=DEFAULT_START,
                       help="first hour, ISO with offset (default 2026-01-05T00:00:00+00:00, a Monday)")
    args = parser.parse_args(argv)
    auction = bidders.AuctionRules(args.mechanism, args.shading, args.outside_option)
    if args.mode == "calibration":
        if args.start.tzinfo is None:
            parser.error("--start needs a UTC offset, e.g. 2026-01-10T00:00:00+00:00")
        c = calibration(args.seed, args.rate, auction, args.days, args.start)
        print(f"{c['auctions']:,} auctions: static RPM {c['static_rpm']:.3f}, oracle ceiling {c['ceiling_rpm']:.3f} "
              f"({c['ceiling_lift']:+.1%}); best global floor {c['global_floor']:.2f} gets "
              f"{c['global_share']:.0%} of the ceiling's lift")
        return 0
    settings = PolicySettings(fill_margin=args.fill_margin, max_step=args.max_step)
    setup = Setup(seeds=args.seeds, days=args.days, train_days=args.train_days,
                  loop_days=min(args.loop_days, args.days), rate=args.rate, train_rate=args.train_rate,
                  auction=auction, settings=settings, progress=lambda m: print(m, file=sys.stderr, flush=True))
    command = "python -m training.floor_ab " + " ".join(argv if argv is not None else sys.argv[1:])
    result = run(setup, args.out, command)
    print(result["report"])
    print(f"table: {args.out / 'floor_ab.md'}, chart: {args.out / 'floor_ab.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

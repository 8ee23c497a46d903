"""The revenue gate: would a candidate model's floors earn more than the champion's, judged on
held-out logs alone (no simulator, so it runs the same on AWS)?

The logs answer counterfactual questions through the exploration floors: a share of auctions ran
under a floor drawn log-uniformly between the clamp bounds (``simulator.market.Exploration``;
online, the publisher's random-floor share). For a policy that would have set floor t for an
auction's segment and hour, the exploration auctions whose random floor fell within a factor
exp(``BANDWIDTH``) of t are a fair sample of what t earns there; each is weighted by the inverse
of the chance its floor landed in that window (inverse propensity, with a box kernel in log
floor, truncated at the bounds). Averaged over the exploration auctions this estimates each
policy's revenue and fill per auction, with a small bias from R(f) varying inside the window.
Revenue per auction varies a hundredfold between segments, so the plain estimate is noisy; given
a model of the curves (the candidate's), the estimate is doubly robust: the model's prediction
at the policy's floor for every auction, plus the weighted residuals (outcome minus the model's
prediction at the floor the auction ran under) of the exploration auctions. The weights make it
unbiased whatever the model; a good model only narrows the interval. Policies are compared on
the same auctions (paired), with 95% intervals by bootstrap over (day, hour) clusters.

Decision: promote when the candidate's revenue lift over the champion has a lower bound above
0 and its fill stays within the policy's margin of the static floor's.

    gate = evaluate(events, {"champion": floors_a, "candidate": floors_b}, settings)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from udfs import rules
from udfs.floor_policy import FLOOR_GRID, PolicySettings, revenue_floors
from udfs.revenue_curves import RevenueCurveModel

BANDWIDTH = 0.15  # half-width of the window in log floor: floors within x/÷ 1.16 of the target
REPLICATES = 1000


def bootstrap_weights(clusters: int, replicates: int, seed: int = 0) -> np.ndarray:
    """Cluster bootstrap: per replicate, how many times each cluster is drawn (replicates x clusters)."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(clusters, np.full(clusters, 1.0 / clusters), size=replicates).astype(np.float64)


@dataclass
class AuctionCurves:
    """A model's R(f), F(f) on the grid per distinct segment and hour, and each auction's row."""

    revenue: np.ndarray  # rows x grid
    fill: np.ndarray
    row: np.ndarray  # per auction

    @classmethod
    def of(cls, curves: RevenueCurveModel, events: pd.DataFrame) -> AuctionCurves:
        """For each auction's fine segment (its coarse parts known from the event) and hour."""
        frame = events.assign(country_tier=events["country"].map(rules.country_tier)) \
            if "country_tier" not in events else events
        t = pd.to_datetime(frame["event_time"], utc=True)
        segments = pd.DataFrame({
            "level": rules.FINE, "segment_key": rules.segment_key_column(frame, rules.FINE).to_numpy(),
            "coarse_key": rules.segment_key_column(frame, rules.COARSE).to_numpy(),
            "hour_of_day": t.dt.hour.to_numpy(), "is_weekend": (t.dt.dayofweek >= 5).to_numpy(),
        })
        keys = ["segment_key", "coarse_key", "hour_of_day", "is_weekend"]
        row, distinct = pd.MultiIndex.from_frame(segments[keys]).factorize()
        revenue, fill, _known = curves.curves(distinct.to_frame(index=False, name=keys).assign(level=rules.FINE),
                                              FLOOR_GRID)
        return cls(revenue, fill, row)

    def at(self, floors: np.ndarray, which: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The model's expected revenue and fill of each auction (or of the auctions ``which``
        selects) at its floor, interpolated in log floor."""
        rows = self.row if which is None else self.row[which]
        x = np.log(np.clip(floors, FLOOR_GRID[0], FLOOR_GRID[-1]))
        grid = np.log(FLOOR_GRID)
        pos = np.clip(np.searchsorted(grid, x), 1, len(grid) - 1)
        w = (x - grid[pos - 1]) / (grid[pos] - grid[pos - 1])
        pick = lambda a: a[rows, pos - 1] * (1 - w) + a[rows, pos] * w  # noqa: E731
        return pick(self.revenue), pick(self.fill)

    def policy_floors(self, settings: PolicySettings) -> np.ndarray:
        """The revenue policy's floor for each auction (no move cap: one window at a time)."""
        return revenue_floors(FLOOR_GRID, self.revenue, self.fill, None, settings)[self.row]


def weights(explored_floor: np.ndarray, target: np.ndarray, settings: PolicySettings) -> np.ndarray:
    """Inverse-propensity weights of a box kernel in log floor, truncated at the clamp bounds."""
    lo, hi = np.log(settings.floor_min_eur), np.log(settings.floor_max_eur)
    t = np.log(np.clip(target, settings.floor_min_eur, settings.floor_max_eur))
    inside = np.abs(np.log(explored_floor) - t) <= BANDWIDTH
    mass = (np.minimum(t + BANDWIDTH, hi) - np.maximum(t - BANDWIDTH, lo)) / (hi - lo)
    return np.where(inside, 1.0 / mass, 0.0)


@dataclass
class GateResult:
    table: pd.DataFrame  # per arm: revenue, fill per auction (with intervals)
    lift: tuple[float, float, float]  # candidate vs champion revenue per auction: ratio - 1, 95% interval
    promote: bool
    reason: str
    explored_auctions: int

    def summary(self) -> dict:
        return {"promote": self.promote, "reason": self.reason, "explored_auctions": self.explored_auctions,
                "lift": {"point": self.lift[0], "lo": self.lift[1], "hi": self.lift[2]},
                "arms": self.table.round(5).to_dict(orient="index")}


def evaluate(events: pd.DataFrame, arms: Mapping[str, np.ndarray], settings: PolicySettings,
             model: AuctionCurves | None = None, seed: int = 0) -> GateResult:
    """Estimated revenue and fill per auction of each arm (a floor per row of ``events``), and the
    decision for the arm "candidate" against "champion" ("static" is added as the reference).
    ``model``: the outcome model of the doubly robust estimate (None: inverse propensity only)."""
    mask = ((events["floor_price_eur"] != settings.static_floor_eur)
            & (events["floor_price_eur"] >= settings.floor_min_eur)
            & (events["floor_price_eur"] <= settings.floor_max_eur)).to_numpy()
    explored = events[mask]
    if len(explored) < 1000:
        return GateResult(pd.DataFrame(), (np.nan, np.nan, np.nan), False,
                          f"only {len(explored)} exploration auctions in the held-out logs (need 1,000)", len(explored))
    floor = explored["floor_price_eur"].to_numpy(np.float64)
    revenue = np.where(explored["filled"].to_numpy(bool), explored["cpm_eur"].fillna(0.0).to_numpy(np.float64), 0.0)
    filled = explored["filled"].to_numpy(np.float64)
    hours = pd.to_datetime(events["event_time"], utc=True).dt.floor("h")
    cluster_all, cluster_index = pd.factorize(hours)
    cluster = cluster_all[mask]
    n_clusters = len(cluster_index)
    all_arms = {"static": np.full(len(events), settings.static_floor_eur), **arms}
    if model is not None:  # the exploration auctions' residuals against the model at their own floor
        at_logged_rev, at_logged_fill = model.at(floor, mask)
        resid_rev, resid_fill = revenue - at_logged_rev, filled - at_logged_fill
    explored_share = np.bincount(cluster, minlength=n_clusters) / np.maximum(
        np.bincount(cluster_all, minlength=n_clusters), 1)
    sums = {}
    for arm, target in all_arms.items():
        target = np.asarray(target, dtype=np.float64)
        w = weights(floor, target[mask], settings)
        if model is None:
            rev, fil = w * revenue, w * filled
            sums[arm] = (np.bincount(cluster, rev, n_clusters), np.bincount(cluster, fil, n_clusters))
            continue
        # Doubly robust, per cluster as a total over its auctions: the model's prediction for
        # every auction, plus the exploration residuals scaled up to the cluster's auctions.
        pred_rev, pred_fill = model.at(target)
        base_rev = np.bincount(cluster_all, pred_rev, n_clusters)
        base_fill = np.bincount(cluster_all, pred_fill, n_clusters)
        corr_rev = np.bincount(cluster, w * resid_rev, n_clusters)
        corr_fill = np.bincount(cluster, w * resid_fill, n_clusters)
        scale = 1.0 / np.where(explored_share > 0, explored_share, np.inf)
        sums[arm] = (base_rev + corr_rev * scale, base_fill + corr_fill * scale)
    count = (np.bincount(cluster_all, minlength=n_clusters) if model is not None
             else np.bincount(cluster, minlength=n_clusters)).astype(np.float64)
    boot = bootstrap_weights(n_clusters, REPLICATES, seed)

    def per_auction(v: np.ndarray) -> tuple[float, np.ndarray]:
        return float(v.sum() / count.sum()), (boot @ v) / (boot @ count)

    rows = {}
    for arm, (rev, fil) in sums.items():
        r, r_reps = per_auction(rev)
        f, f_reps = per_auction(fil)
        rows[arm] = {"rpm": r, "rpm_lo": float(np.percentile(r_reps, 2.5)),
                     "rpm_hi": float(np.percentile(r_reps, 97.5)),
                     "fill": f, "fill_lo": float(np.percentile(f_reps, 2.5)),
                     "fill_hi": float(np.percentile(f_reps, 97.5))}
    table = pd.DataFrame(rows).T
    if "candidate" not in sums or "champion" not in sums:
        return GateResult(table, (np.nan, np.nan, np.nan), False, "no candidate or champion arm", len(explored))
    cand, champ = sums["candidate"][0], sums["champion"][0]
    ratio = (boot @ cand) / (boot @ champ) - 1.0
    lift = (float(cand.sum() / champ.sum() - 1.0), float(np.percentile(ratio, 2.5)), float(np.percentile(ratio, 97.5)))
    fill_floor = rows["static"]["fill"] - settings.fill_margin
    if lift[1] <= 0:
        decision, reason = False, f"revenue lift over the champion {lift[0]:+.2%} [{lift[1]:+.2%}, {lift[2]:+.2%}]: " \
                                  "the lower bound is not above 0"
    elif rows["candidate"]["fill"] < fill_floor:
        decision, reason = False, f"fill {rows['candidate']['fill']:.1%} below the static floor's " \
                                  f"{rows['static']['fill']:.1%} minus the margin {settings.fill_margin:.0%}"
    else:
        decision, reason = True, f"revenue lift over the champion {lift[0]:+.2%} [{lift[1]:+.2%}, {lift[2]:+.2%}], " \
                                 f"fill {rows['candidate']['fill']:.1%} (static {rows['static']['fill']:.1%})"
    return GateResult(table, lift, decision, reason, len(explored))

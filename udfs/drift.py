"""Drift of the live auction distributions against the training baseline, from bin counts.

State is bins, never samples (DESIGN.md section 7): the baseline keeps, per feature, bin edges
and the training values' count per bin; the job counts each window's live values into the same
bins; the two-sample Kolmogorov-Smirnov statistic is read off the two binned CDFs.

Binning error. With edges e_1 < ... < e_k, bin i holds the values in (e_{i-1}, e_i] (bin 0 is
(-inf, e_1], bin k is (e_k, +inf)). The cumulative counts at the edges are the empirical CDFs
F (baseline) and G (live) *exactly* at the edges, so
    statistic = max_i |F(e_i) - G(e_i)|  <=  D = sup_x |F(x) - G(x)|     (what ks_2samp computes)
and inside bin i both CDFs are non-decreasing, so F(x) - G(x) lies between F(e_{i-1}) - G(e_i) and
F(e_i) - G(e_{i-1}), which gives
    D  <=  upper = max(statistic, max_i max(F(e_i) - G(e_{i-1}), G(e_i) - F(e_{i-1}))).
`error_bound = upper - statistic` is at most the largest share of either sample in one bin.
Edges are baseline quantiles, so each bin holds about 1/bins of the baseline: the bound is about
1/bins while the live data looks like the baseline, and grows only when the live values crowd
into few bins, i.e. when the drift is already large. Quantile edges make the binning
scale-free: a feature whose values span decades (CPM) gets log-like spacing without a log
transform, and an integer feature (bid count) gets one bin per value, where the statistic is exact.

Memory: (number of edges + 1) counters per feature and window, whatever the traffic.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

# The numeric event fields watched for drift (a setting: Drift.features overrides it).
# cpm_eur is the clearing price, present only on filled auctions: unfilled ones are no value.
DRIFT_FEATURES: tuple[str, ...] = (
    "user_engagement_score",
    "device_performance_score",
    "historical_ctr_avg",
    "cpm_eur",
    "bid_count",
    "floor_price_eur",
)
DEFAULT_BINS = 64
BASELINE_FORMAT_VERSION = 1

# Alert levels of the brief: strictly above the threshold.
LEVELS: tuple[tuple[float, str], ...] = ((0.7, "CRITICAL"), (0.5, "WARNING"), (0.3, "INFO"))
OK = "OK"
NO_DATA = "NO_DATA"


def drift_level(score: float | None) -> str:
    """CRITICAL > 0.7 (retrain now), WARNING > 0.5, INFO > 0.3, else OK; NO_DATA without a score."""
    if score is None:
        return NO_DATA
    for threshold, level in LEVELS:
        if score > threshold:
            return level
    return OK


def _finite(values: Iterable[float] | np.ndarray | pd.Series) -> np.ndarray:
    array = np.asarray(pd.to_numeric(pd.Series(values), errors="coerce"), dtype=float)
    return array[np.isfinite(array)]


def quantile_edges(values: Iterable[float] | np.ndarray | pd.Series, bins: int = DEFAULT_BINS) -> tuple[float, ...]:
    """Up to bins + 1 distinct edges at the sample's quantiles (always values of the sample)."""
    if bins < 1:
        raise ValueError(f"bins must be >= 1, got {bins}")
    sample = _finite(values)
    if sample.size == 0:
        raise ValueError("no finite values to place bin edges on")
    # 'inverted_cdf' returns sample values, so an atom (a repeated value) sits on an edge
    # and the CDF is exact there: integer features get one bin per value.
    edges = np.unique(np.quantile(sample, np.linspace(0.0, 1.0, bins + 1), method="inverted_cdf"))
    return tuple(float(e) for e in edges)


def bin_index(values: Iterable[float] | np.ndarray | pd.Series, edges: tuple[float, ...]) -> np.ndarray:
    """The bin of each finite value: i such that edges[i-1] < value <= edges[i] (0..len(edges))."""
    return np.searchsorted(np.asarray(edges, dtype=float), _finite(values), side="left")


def bin_counts(values: Iterable[float] | np.ndarray | pd.Series, edges: tuple[float, ...]) -> np.ndarray:
    """Count the finite values into the len(edges) + 1 bins of `edges` (missing values: no count)."""
    return np.bincount(bin_index(values, edges), minlength=len(edges) + 1).astype(np.int64)


@dataclass(frozen=True)
class FeatureBaseline:
    feature: str
    edges: tuple[float, ...]
    counts: tuple[int, ...]  # len(edges) + 1

    def __post_init__(self) -> None:
        if len(self.counts) != len(self.edges) + 1:
            raise ValueError(f"{self.feature}: {len(self.counts)} counts for {len(self.edges)} edges")
        if any(b <= a for a, b in zip(self.edges, self.edges[1:], strict=False)):
            raise ValueError(f"{self.feature}: edges must be strictly ascending")
        if sum(self.counts) <= 0:
            raise ValueError(f"{self.feature}: the baseline has no values")

    @property
    def size(self) -> int:
        return int(sum(self.counts))


@dataclass(frozen=True)
class Baseline:
    """Per feature: the bin edges and the training values' counts. Saved as baseline.json."""

    features: Mapping[str, FeatureBaseline]

    def to_json(self) -> str:
        return json.dumps(
            {
                "format_version": BASELINE_FORMAT_VERSION,
                "features": {
                    name: {"edges": list(f.edges), "counts": list(f.counts)} for name, f in self.features.items()
                },
            },
            indent=1,
        )

    @classmethod
    def from_json(cls, text: str) -> Baseline:
        raw = json.loads(text)
        if raw.get("format_version") != BASELINE_FORMAT_VERSION:
            found = raw.get("format_version")
            raise ValueError(f"baseline format_version {found!r}, expected {BASELINE_FORMAT_VERSION}")
        return cls(
            {
                name: FeatureBaseline(name, tuple(float(e) for e in f["edges"]), tuple(int(c) for c in f["counts"]))
                for name, f in raw["features"].items()
            }
        )


def build_baseline(
    events: pd.DataFrame, features: Iterable[str] = DRIFT_FEATURES, bins: int = DEFAULT_BINS
) -> Baseline:
    """The baseline of a training period: quantile edges and counts per feature, from raw events."""
    result = {}
    for feature in features:
        if feature not in events.columns:
            raise ValueError(f"drift feature {feature!r} is not a column of the events")
        edges = quantile_edges(events[feature], bins)
        result[feature] = FeatureBaseline(feature, edges, tuple(int(c) for c in bin_counts(events[feature], edges)))
    return Baseline(result)


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    statistic: float | None  # the binned KS statistic; None: no live values in the window
    error_bound: float | None  # ks_2samp's statistic lies in [statistic, statistic + error_bound]
    live_count: int
    baseline_count: int

    @property
    def has_data(self) -> bool:
        return self.statistic is not None


def ks_from_counts(baseline_counts: Iterable[int], live_counts: Iterable[int]) -> tuple[float, float]:
    """(statistic, error_bound) of the two-sample KS test from counts over the same bins."""
    base = np.asarray(list(baseline_counts), dtype=float)
    live = np.asarray(list(live_counts), dtype=float)
    if base.shape != live.shape:
        raise ValueError(f"bin counts differ in length: baseline {base.size}, live {live.size}")
    if base.sum() <= 0 or live.sum() <= 0:
        raise ValueError("both samples need at least one value")
    # CDFs at the edges, with F = G = 0 before the first bin; the last bin ends at +inf (F = G = 1).
    f = np.concatenate(([0.0], np.cumsum(base) / base.sum()))
    g = np.concatenate(([0.0], np.cumsum(live) / live.sum()))
    statistic = float(np.max(np.abs(f[1:-1] - g[1:-1]))) if base.size > 1 else 0.0
    within = np.maximum(f[1:] - g[:-1], g[1:] - f[:-1])
    upper = max(statistic, float(np.max(within)))
    return statistic, upper - statistic


def feature_drift(baseline: FeatureBaseline, live_counts: Iterable[int]) -> FeatureDrift:
    live = [int(c) for c in live_counts]
    if sum(live) == 0:
        return FeatureDrift(baseline.feature, None, None, 0, baseline.size)
    statistic, bound = ks_from_counts(baseline.counts, live)
    return FeatureDrift(baseline.feature, statistic, bound, sum(live), baseline.size)


def global_drift_score(drifts: Iterable[FeatureDrift]) -> float | None:
    """Mean statistic over the features that had live values; None when none had."""
    scores = [d.statistic for d in drifts if d.statistic is not None]
    return float(np.mean(scores)) if scores else None

"""Drift of the live auction distributions against the training baseline, from bin counts.

State is bins, never samples (DESIGN.md section 7). Every drift feature has a fixed bin grid,
defined once in `schemas/drift_features.json`: training counts the baseline's values into it
(`build_baseline`), the job counts each window's live values into the same bins in the JVM
(`DRIFT_HISTOGRAM`, connector jar), and the two-sample Kolmogorov-Smirnov statistic is read off
the two binned CDFs here, once per window.

Why a fixed grid rather than edges taken from each baseline (its quantiles): the edges are
literals in the job's SQL. With a grid fixed by definition, a model swap brings new counts over
the same edges and needs no new SQL and no restart; a baseline whose edges differ from the grid
is refused (GRID_MISMATCH), never compared bin by bin with the wrong bins. The price is that a
grid does not adapt to the data, so the grids are chosen fine where the values are (see the
JSON): linear for scores, round-number "log" edges for prices (values spanning decades; a round
price such as the 2.00 EUR static floor sits exactly on an edge), one bin per value for counts.

Cells. With edges e_0 < ... < e_{k-1}, a feature's counts are 2k + 1 cells, alternately an open
interval and an edge: cell 2i holds the values in (e_{i-1}, e_i) (e_{-1} = -inf), cell 2i + 1 the
values exactly equal to e_i, cell 2k the values above e_{k-1}. Counting a value that sits on an
edge apart costs one counter per edge and makes a repeated value (an integer count, a round price
like the 2.00 EUR static floor) exact instead of the largest error term.

Binning error. The cumulative counts give the empirical CDFs F (baseline) and G (live) exactly
at every edge, F(e_i), and just below it, F(e_i-). Those are values of |F - G| at real points, so
    statistic = max over those points of |F - G|  <=  D = sup_x |F(x) - G(x)|  (ks_2samp's statistic)
Inside an open cell (e_{i-1}, e_i) both CDFs are non-decreasing, so F(x) - G(x) lies between
F(e_{i-1}) - G(e_i-) and F(e_i-) - G(e_{i-1}); hence
    D  <=  upper = max(statistic, max over open cells of max(F(e_i-) - G(e_{i-1}), G(e_i-) - F(e_{i-1}))).
`error_bound = upper - statistic`, and F(e_i-) - G(e_{i-1}) - (F(e_i-) - G(e_i-)) is G's share of
the open cell, so the bound is at most the largest share of either sample in one open cell:
scipy's statistic lies in [statistic, statistic + error_bound]. Values on edges add no error, so
an integer feature over an integer grid is exact.

Memory: 2 x len(edges) + 1 counters (8 bytes each) per feature and window, whatever the traffic.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd

from udfs.drift_thresholds import (
    CALIBRATED,
    NO_CALIBRATION,
    Calibration,
    DriftSettings,
    calibrated_level,
    highest_level,
)

GRID_PATH = Path(__file__).resolve().parent.parent / "schemas" / "drift_features.json"

# The numeric event fields watched for drift, in the grid file's order (a setting:
# Monitoring.drift.features picks a subset). cpm_eur is the clearing price, present only on
# filled auctions: an unfilled auction is no value, not a zero.
DRIFT_FEATURES: tuple[str, ...] = (
    "user_engagement_score",
    "device_performance_score",
    "historical_ctr_avg",
    "cpm_eur",
    "bid_count",
    "floor_price_eur",
)
BASELINE_FORMAT_VERSION = 2  # 2: counts over the fixed grid of schemas/drift_features.json

# Alert levels of the brief: strictly above the threshold.
LEVELS: tuple[tuple[float, str], ...] = ((0.7, "CRITICAL"), (0.5, "WARNING"), (0.3, "INFO"))
OK = "OK"
# Why a feature (or a whole window) has no statistic: never reported as 0 or NaN drift.
NO_DATA = "NO_DATA"  # no live value of the feature in the window
NO_BASELINE = "NO_BASELINE"  # neither a model's baseline nor a lake baseline exists yet
GRID_MISMATCH = "GRID_MISMATCH"  # the baseline was counted over other edges than the grid
MEASURED = "MEASURED"


def drift_level(score: float | None) -> str:
    """CRITICAL > 0.7 (retrain now), WARNING > 0.5, INFO > 0.3, else OK; NO_DATA without a score."""
    if score is None:
        return NO_DATA
    for threshold, level in LEVELS:
        if score > threshold:
            return level
    return OK


# ---------------------------------------------------------------- the bin grid

def _decimal(value: object, where: str) -> Decimal:
    try:
        return Decimal(str(value))
    except ArithmeticError as err:
        raise ValueError(f"{where}: {value!r} is not a number") from err


def grid_edges(feature: str, spec: Mapping[str, object]) -> tuple[float, ...]:
    """The edges one grid definition describes (see schemas/drift_features.json).

    Edges are computed in decimal and converted once, so an edge is the same double as the
    same number written in an event (0.3 is 0.3, not 0.30000000000000004).
    """
    scale = spec.get("scale")
    low, high = _decimal(spec.get("min"), f"{feature}.min"), _decimal(spec.get("max"), f"{feature}.max")
    if not low < high:
        raise ValueError(f"{feature}: min {low} must be below max {high}")
    if scale == "linear":
        step = _decimal(spec.get("step"), f"{feature}.step")
        count = (high - low) / step
        if step <= 0 or count != count.to_integral_value():
            raise ValueError(f"{feature}: step {step} must divide max - min = {high - low}")
        values = [low + i * step for i in range(int(count) + 1)]
    elif scale == "log":
        digits = int(spec.get("digits", 0))
        if digits < 1 or low <= 0 or low.log10() != low.log10().to_integral_value() or (
            high.log10() != high.log10().to_integral_value()
        ):
            raise ValueError(f"{feature}: a log grid needs digits >= 1 and powers of ten as min and max")
        first, last = int(low.log10()), int(high.log10())
        mantissas = range(10 ** (digits - 1), 10**digits)
        values = [Decimal(m).scaleb(e - digits + 1) for e in range(first, last) for m in mantissas] + [high]
    elif scale == "integer":
        if low != low.to_integral_value() or high != high.to_integral_value():
            raise ValueError(f"{feature}: an integer grid needs whole min and max")
        values = [Decimal(i) for i in range(int(low), int(high) + 1)]
    else:
        raise ValueError(f"{feature}: scale {scale!r} is not one of linear, log, integer")
    return tuple(float(v) for v in values)


def load_grid(features: Iterable[str] = DRIFT_FEATURES, path: Path = GRID_PATH) -> dict[str, tuple[float, ...]]:
    """{feature: edges} for the features asked, from the grid file; an unknown feature is an error."""
    specs = json.loads(Path(path).read_text(encoding="utf-8"))["features"]
    grid = {}
    for feature in features:
        if feature not in specs:
            raise ValueError(f"drift feature {feature!r} has no bin grid in {path}")
        grid[feature] = grid_edges(feature, specs[feature])
    return grid


def edges_literal(edges: Sequence[float]) -> str:
    """The edges as the text the Java DriftHistogram is built with (Java reads Python's repr exactly)."""
    return ",".join(repr(float(e)) for e in edges)


def _finite(values: Iterable[float] | np.ndarray | pd.Series) -> np.ndarray:
    array = np.asarray(pd.to_numeric(pd.Series(values), errors="coerce"), dtype=float)
    return array[np.isfinite(array)]


def cell_index(values: Iterable[float] | np.ndarray | pd.Series, edges: Sequence[float]) -> np.ndarray:
    """The cell of each finite value: 2i for (e[i-1], e[i]), 2i + 1 for exactly e[i] (0..2 len(edges))."""
    grid = np.asarray(edges, dtype=float)
    sample = _finite(values)
    first_not_below = np.searchsorted(grid, sample, side="left")
    on_edge = first_not_below < grid.size
    on_edge[on_edge] = grid[first_not_below[on_edge]] == sample[on_edge]
    return 2 * first_not_below + on_edge


def cell_counts(values: Iterable[float] | np.ndarray | pd.Series, edges: Sequence[float]) -> np.ndarray:
    """Count the finite values into the 2 len(edges) + 1 cells of `edges` (missing values: no count)."""
    return np.bincount(cell_index(values, edges), minlength=2 * len(edges) + 1).astype(np.int64)


# ---------------------------------------------------------------- baselines

@dataclass(frozen=True)
class FeatureBaseline:
    feature: str
    edges: tuple[float, ...]
    counts: tuple[int, ...]  # 2 len(edges) + 1 cells

    def __post_init__(self) -> None:
        if len(self.counts) != 2 * len(self.edges) + 1:
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
    """Per feature: the grid's edges and the training values' counts. Saved as baseline.json.

    `calibration`: the drift-free null model of the calibrated mode, fitted against these very
    counts (udfs.drift_thresholds; written by python -m training.drift_calibration), or None.
    """

    features: Mapping[str, FeatureBaseline]
    calibration: Calibration | None = None

    def to_json(self) -> str:
        body: dict = {
            "format_version": BASELINE_FORMAT_VERSION,
            "features": {
                name: {"edges": list(f.edges), "counts": list(f.counts)} for name, f in self.features.items()
            },
        }
        if self.calibration is not None:
            body["calibration"] = self.calibration.to_dict()
        return json.dumps(body)

    @classmethod
    def from_json(cls, text: str) -> Baseline:
        raw = json.loads(text)
        if raw.get("format_version") != BASELINE_FORMAT_VERSION:
            found = raw.get("format_version")
            raise ValueError(f"baseline format_version {found!r}, expected {BASELINE_FORMAT_VERSION}")
        calibration = raw.get("calibration")
        return cls(
            {
                name: FeatureBaseline(name, tuple(float(e) for e in f["edges"]), tuple(int(c) for c in f["counts"]))
                for name, f in raw["features"].items()
            },
            Calibration.from_dict(calibration) if calibration is not None else None,
        )


def build_baseline(
    events: pd.DataFrame, features: Iterable[str] = DRIFT_FEATURES, grid: Mapping[str, Sequence[float]] | None = None
) -> Baseline:
    """The baseline of a training period: its raw events counted into the grid, per feature.

    A feature without a single value in the period has no baseline (it is left out, and the
    job reports it as NO_BASELINE).
    """
    features = tuple(features)
    grid = grid or load_grid(features)
    result = {}
    for feature in features:
        if feature not in events.columns:
            raise ValueError(f"drift feature {feature!r} is not a column of the events")
        edges = tuple(float(e) for e in grid[feature])
        counts = cell_counts(events[feature], edges)
        if counts.sum() > 0:
            result[feature] = FeatureBaseline(feature, edges, tuple(int(c) for c in counts))
    return Baseline(result)


# ---------------------------------------------------------------- the statistic

@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    status: str  # MEASURED, NO_DATA, NO_BASELINE or GRID_MISMATCH
    statistic: float | None  # the binned KS statistic; None unless MEASURED
    error_bound: float | None  # ks_2samp's statistic lies in [statistic, statistic + error_bound]
    live_count: int
    baseline_count: int
    verdict: str | None = None  # the level a mode gave it (window_drift with settings); None: the seed's levels
    threshold: float | None = None  # the WARNING threshold that applied to the statistic

    @property
    def has_data(self) -> bool:
        return self.statistic is not None

    @property
    def level(self) -> str:
        """The feature's own alert level, or why it has none."""
        if not self.has_data:
            return self.status
        return self.verdict if self.verdict is not None else drift_level(self.statistic)


def ks_from_counts(baseline_counts: Iterable[int], live_counts: Iterable[int]) -> tuple[float, float]:
    """(statistic, error_bound) of the two-sample KS test from counts over the same 2k + 1 cells."""
    base = np.asarray(list(baseline_counts), dtype=float)
    live = np.asarray(list(live_counts), dtype=float)
    if base.shape != live.shape:
        raise ValueError(f"cell counts differ in length: baseline {base.size}, live {live.size}")
    if base.size % 2 != 1:
        raise ValueError(f"{base.size} cells: expected 2k + 1 (open intervals and edges)")
    if base.sum() <= 0 or live.sum() <= 0:
        raise ValueError("both samples need at least one value")
    # CDFs after each cell, with F = G = 0 before the first; after the last both are 1.
    f = np.concatenate(([0.0], np.cumsum(base) / base.sum()))
    g = np.concatenate(([0.0], np.cumsum(live) / live.sum()))
    statistic = float(np.max(np.abs(f - g)))
    # Inside an open cell (the even ones) the CDFs are unknown between their values at its ends.
    start, end = slice(0, -1, 2), slice(1, None, 2)
    within = np.maximum(f[end] - g[start], g[end] - f[start])
    upper = max(statistic, float(np.max(within)))
    return statistic, upper - statistic


def feature_drift(
    feature: str, baseline: FeatureBaseline | None, live_counts: Sequence[int] | None, edges: Sequence[float]
) -> FeatureDrift:
    """One feature's drift in one window: live counts over `edges` (the grid) against the baseline."""
    live = [] if live_counts is None else [int(c) for c in live_counts]
    live_total = sum(live)
    if baseline is None:
        return FeatureDrift(feature, NO_BASELINE, None, None, live_total, 0)
    if tuple(baseline.edges) != tuple(float(e) for e in edges) or len(live) not in (0, len(baseline.counts)):
        return FeatureDrift(feature, GRID_MISMATCH, None, None, live_total, baseline.size)
    if live_total == 0:
        return FeatureDrift(feature, NO_DATA, None, None, 0, baseline.size)
    statistic, bound = ks_from_counts(baseline.counts, live)
    return FeatureDrift(feature, MEASURED, statistic, bound, live_total, baseline.size)


def global_drift_score(drifts: Iterable[FeatureDrift]) -> float | None:
    """Mean statistic over the features that had live values; None when none had."""
    scores = [d.statistic for d in drifts if d.statistic is not None]
    return float(np.mean(scores)) if scores else None


@dataclass(frozen=True)
class WindowDrift:
    """A window's verdict: per feature, the global score and the alert level."""

    features: tuple[FeatureDrift, ...]
    global_score: float | None
    level: str  # a level of the brief, or NO_DATA / NO_BASELINE when there is no score


def window_drift(
    baseline: Baseline | None, live: Mapping[str, Sequence[int] | None], grid: Mapping[str, Sequence[float]],
    settings: DriftSettings | None = None, window: tuple[datetime, datetime] | None = None,
) -> WindowDrift:
    """The one code path from bin counts to a verdict, shared by the job and offline checks.

    Without `settings`: the seed's levels of the brief. With settings of the calibrated mode,
    `window` (start, end) is required: the thresholds depend on its hour and length.
    """
    drifts = tuple(
        feature_drift(feature, baseline.features.get(feature) if baseline else None, live.get(feature), edges)
        for feature, edges in grid.items()
    )
    if settings is not None and settings.mode == CALIBRATED:
        if window is None:
            raise ValueError("the calibrated mode needs the window's start and end")
        return _calibrated_window(baseline, drifts, settings, window)
    levels = settings.seed if settings is not None else None
    if levels is not None:
        drifts = tuple(
            _with_level(d, levels.level(d.statistic), levels.warning) if d.has_data else d for d in drifts)
    score = global_drift_score(drifts)
    if score is None and baseline is None:
        return WindowDrift(drifts, None, NO_BASELINE)
    if score is None:
        return WindowDrift(drifts, None, NO_DATA)
    return WindowDrift(drifts, score, levels.level(score) if levels is not None else drift_level(score))


def _with_level(d: FeatureDrift, level: str, threshold: float | None) -> FeatureDrift:
    return FeatureDrift(d.feature, d.status, d.statistic, d.error_bound, d.live_count, d.baseline_count,
                        level, threshold)


def _calibrated_window(baseline: Baseline | None, drifts: tuple[FeatureDrift, ...], settings: DriftSettings,
                       window: tuple[datetime, datetime]) -> WindowDrift:
    """Each measured feature against its calibrated threshold; the window takes the highest level.

    A feature below the minimum sample size becomes NO_DATA (no statistic: it publishes nothing).
    """
    start, end = window
    window_s = int(round((end - start).total_seconds()))
    calibration = baseline.calibration if baseline is not None else None
    usable = calibration is not None and calibration.window_s == window_s
    judged = []
    for d in drifts:
        if d.has_data and d.live_count < settings.min_count:
            d = FeatureDrift(d.feature, NO_DATA, None, None, d.live_count, d.baseline_count)
        elif d.has_data and usable and d.feature in calibration.features:
            found = calibrated_level(calibration.features[d.feature], d.statistic, start, d.live_count,
                                     d.baseline_count, settings, window_s, len(drifts))
            d = _with_level(d, found.level, found.threshold)
        elif d.has_data:
            d = _with_level(d, NO_CALIBRATION, None)
        judged.append(d)
    features = tuple(judged)
    score = global_drift_score(features)
    if baseline is None:
        return WindowDrift(features, score, NO_BASELINE)
    level = highest_level(d.level for d in features if d.has_data)
    if level is None:
        level = NO_CALIBRATION if any(d.has_data for d in features) else NO_DATA
    return WindowDrift(features, score, level)


def window_drift_of_events(
    baseline: Baseline | None, events: pd.DataFrame, grid: Mapping[str, Sequence[float]],
    settings: DriftSettings | None = None, window: tuple[datetime, datetime] | None = None,
) -> WindowDrift:
    """The same verdict from a window's raw events (offline: the counts the job would make)."""
    live = {f: cell_counts(events[f], edges) if f in events.columns else None for f, edges in grid.items()}
    return window_drift(baseline, live, grid, settings, window)

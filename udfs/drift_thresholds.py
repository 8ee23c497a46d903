"""Drift alert levels: the seed's fixed levels, or thresholds calibrated on drift-free days.

Two modes (property `Monitoring.drift.mode`):

- `seed`: the brief's levels on the KS statistic, > 0.7 CRITICAL, > 0.5 WARNING, > 0.3 INFO
  (properties `drift.seed.critical|warning|info`), the window's level from the mean over features.
  At the sample sizes of an hour the KS critical value is ~0.02-0.06, so these fire only on
  catastrophic shifts.
- `calibrated`: per feature a threshold that depends on the window's hour and sample size,
  set so that a drift-free network raises a chosen number of false alarms per day
  (`drift.false.alarms.per.day` for WARNING, `drift.critical.false.alarms.per.day` for CRITICAL).

The calibrated threshold of feature f for a window starting at hour h (UTC, weekday or weekend)
with n live values against a baseline of m values:

    threshold = offset[f][day type][h] + scale[f] * x(p) / sqrt(n m / (n + m))

- offset: how far a drift-free window at that hour sits from the baseline anyway. The baseline
  is the whole training period, a window is one hour, and some features follow the clock
  (clearing prices are lower at night), so a drift-free 03:00 window shows a KS distance of
  ~0.15 in cpm_eur that no sample size removes. Estimated on the calibration days as the median
  statistic of that hour, less the median of the sampling noise (scale x K's median / sqrt(n_eff)).
- x(p): the upper p-quantile of the Kolmogorov distribution (the asymptotic law of
  sqrt(n_eff) x D between two samples of one distribution), p = the false alarms per day
  spread evenly over the day's windows and the features;
- scale >= 1: how much wider than that law the drift-free statistics spread about their hour's
  median (day-to-day variation of the hour's offset), matched between the 50th and 90th
  percentiles; each window is taken against the median of the other days at its hour (leave
  one out), so that a few calibration days do not narrow it.

The window's level is the highest level any feature reaches (an alarm is "some feature crossed
its threshold"). A feature with fewer than `drift.min.count` live values in the window has no
verdict (NO_DATA): the asymptotic law and the offsets are not to be trusted below it. For
per-segment verdicts `pool_segments` gives the rule: a segment below the minimum pools into its
coarse segment, a coarse segment below it is NO_DATA.

The calibration is stored in the baseline it was made against (`baseline.json`, key
"calibration"), so a model swap brings matching thresholds; the job computes the thresholds from
it and the false-alarm properties every window. A baseline without a calibration, or one made
for another window length, gives the level NO_CALIBRATION in calibrated mode (never a silent
fall-back to the seed's levels). `python -m training.drift_calibration` writes it.

Pure functions only: no I/O, no Flink.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

SEED = "seed"
CALIBRATED = "calibrated"
MODES: tuple[str, ...] = (SEED, CALIBRATED)
NO_CALIBRATION = "NO_CALIBRATION"  # calibrated mode, but the baseline has no calibration for this window length
CALIBRATION_FORMAT_VERSION = 1
SECONDS_PER_DAY = 86_400
WEEKDAY, WEEKEND = 0, 1
# Matching quantile of the residuals against the Kolmogorov law (see module docstring).
SCALE_QUANTILE = 0.9
# Ordered levels: the window's level is the highest any feature reaches.
SEVERITY = {"OK": 0, "INFO": 1, "WARNING": 2, "CRITICAL": 3}


@dataclass(frozen=True)
class SeedLevels:
    """The brief's levels on the KS statistic: strictly above a level's value reaches it."""

    info: float = 0.3
    warning: float = 0.5
    critical: float = 0.7

    def __post_init__(self) -> None:
        if not 0.0 < self.info < self.warning < self.critical <= 1.0:
            raise ValueError(f"seed levels must satisfy 0 < info < warning < critical <= 1: {self}")

    def level(self, score: float) -> str:
        for threshold, name in ((self.critical, "CRITICAL"), (self.warning, "WARNING"), (self.info, "INFO")):
            if score > threshold:
                return name
        return "OK"


@dataclass(frozen=True)
class DriftSettings:
    """What Monitoring.drift.* says: the mode and its numbers."""

    mode: str = SEED
    seed: SeedLevels = field(default_factory=SeedLevels)
    warning_per_day: float = 0.1  # calibrated: expected false WARNINGs per drift-free day
    critical_per_day: float = 0.01  # calibrated: expected false CRITICALs per drift-free day
    min_count: int = 1000  # calibrated: live values of a feature below which the verdict is NO_DATA

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"drift mode {self.mode!r}: expected one of {', '.join(MODES)}")
        if not 0.0 < self.critical_per_day <= self.warning_per_day:
            raise ValueError("need 0 < critical false alarms per day <= warning false alarms per day")
        if self.min_count < 1:
            raise ValueError("the minimum sample size must be >= 1")


# ---------------------------------------------------------------- the Kolmogorov law

def kolmogorov_sf(x: float) -> float:
    """P(K > x) for the Kolmogorov distribution: 2 sum_{k>=1} (-1)^(k-1) exp(-2 k^2 x^2)."""
    if x <= 0.0:
        return 1.0
    if x < 0.2:  # the alternating series converges slowly there, and the answer is 1 to 1e-16
        return 1.0
    k = np.arange(1, 101)
    return float(min(1.0, 2.0 * np.sum((-1.0) ** (k - 1) * np.exp(-2.0 * k * k * x * x))))


def kolmogorov_isf(p: float) -> float:
    """The x with P(K > x) = p (0 < p < 1), by bisection on kolmogorov_sf (decreasing in x)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"probability {p} must be in (0, 1)")
    lo, hi = 0.2, 10.0
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if kolmogorov_sf(mid) > p:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


KOLMOGOROV_MEDIAN = kolmogorov_isf(0.5)
KOLMOGOROV_SCALE_POINT = kolmogorov_isf(1.0 - SCALE_QUANTILE)


def effective_size(live: float, baseline: float) -> float:
    """n m / (n + m): the sample size the two-sample KS statistic behaves like."""
    if live <= 0 or baseline <= 0:
        raise ValueError("both samples need values")
    return live * baseline / (live + baseline)


def per_window_probability(per_day: float, window_s: int, features: int) -> float:
    """The false-alarm budget per feature and window that gives `per_day` alarms per day."""
    if window_s <= 0 or features <= 0 or per_day <= 0:
        raise ValueError("window length, feature count and rate must be positive")
    windows_per_day = SECONDS_PER_DAY / window_s
    return min(0.5, per_day / (windows_per_day * features))


def day_type(window_start: datetime) -> int:
    """WEEKEND on Saturday and Sunday (UTC), else WEEKDAY."""
    return WEEKEND if window_start.weekday() >= 5 else WEEKDAY


# ---------------------------------------------------------------- calibration

@dataclass(frozen=True)
class FeatureCalibration:
    feature: str
    offsets: tuple[tuple[float, ...], tuple[float, ...]]  # [day type][hour 0..23]
    scale: float  # >= 1
    windows: int  # calibration windows it was fitted on

    def __post_init__(self) -> None:
        if len(self.offsets) != 2 or any(len(o) != 24 for o in self.offsets):
            raise ValueError(f"{self.feature}: offsets must be 2 x 24 values")
        if not all(math.isfinite(v) and 0.0 <= v <= 1.0 for o in self.offsets for v in o):
            raise ValueError(f"{self.feature}: offsets must be in [0, 1]")
        if not (math.isfinite(self.scale) and self.scale >= 1.0):
            raise ValueError(f"{self.feature}: scale {self.scale} must be >= 1")

    def threshold(self, window_start: datetime, live: int, baseline: int, probability: float) -> float:
        """The statistic above which this window's feature alarms at `probability` per window."""
        offset = self.offsets[day_type(window_start)][window_start.hour]
        return offset + self.scale * kolmogorov_isf(probability) / math.sqrt(effective_size(live, baseline))


@dataclass(frozen=True)
class Calibration:
    """Per feature the fitted null model, for windows of `window_s` seconds."""

    window_s: int
    features: Mapping[str, FeatureCalibration]
    days: int  # drift-free days it was fitted on
    source: str  # where they came from (e.g. "simulator seed 21, 20 events/s")

    def to_dict(self) -> dict:
        return {
            "format_version": CALIBRATION_FORMAT_VERSION, "window_s": self.window_s, "days": self.days,
            "source": self.source,
            "features": {name: {"offsets": [list(o) for o in f.offsets], "scale": f.scale, "windows": f.windows}
                         for name, f in self.features.items()},
        }

    @classmethod
    def from_dict(cls, raw: Mapping) -> Calibration:
        if raw.get("format_version") != CALIBRATION_FORMAT_VERSION:
            raise ValueError(f"calibration format_version {raw.get('format_version')!r}, "
                             f"expected {CALIBRATION_FORMAT_VERSION}")
        window_s = int(raw["window_s"])
        if window_s <= 0 or SECONDS_PER_DAY % window_s:
            raise ValueError(f"calibration window_s {window_s} must divide a day")
        features = {
            name: FeatureCalibration(name, (tuple(map(float, f["offsets"][0])), tuple(map(float, f["offsets"][1]))),
                                     float(f["scale"]), int(f["windows"]))
            for name, f in raw["features"].items()
        }
        return cls(window_s, features, int(raw["days"]), str(raw.get("source", "")))


@dataclass(frozen=True)
class WindowStatistic:
    """One drift-free calibration window of one feature."""

    window_start: datetime
    statistic: float
    live: int
    baseline: int


def fit_feature(feature: str, stats: Sequence[WindowStatistic]) -> FeatureCalibration:
    """Offsets per (day type, hour) and the residual scale, from drift-free windows.

    An hour (of a day type) with no calibration window takes the largest offset of the others
    (conservative); a feature needs at least 24 windows.
    """
    stats = [s for s in stats if s.live > 0 and s.baseline > 0]
    if len(stats) < 24:
        raise ValueError(f"{feature}: {len(stats)} calibration windows, need at least 24")
    cells: dict[tuple[int, int], list[tuple[float, float]]] = {}  # (statistic, sqrt n_eff) per window
    for s in stats:
        cells.setdefault((day_type(s.window_start), s.window_start.hour), []).append(
            (s.statistic, math.sqrt(effective_size(s.live, s.baseline))))
    # The scale, from the spread of each window about the median of the OTHER days at its hour
    # (leave one out: a median that saw the window would absorb part of its noise): under the
    # model D = offset + scale K / sqrt(n_eff), the 90th minus the 50th percentile of
    # sqrt(n_eff) (D - median of the others) is scale x (K's 90th - 50th percentile).
    spread = [root * (d - float(np.median([o for j, (o, _) in enumerate(values) if j != i])))
              for values in cells.values() if len(values) > 1 for i, (d, root) in enumerate(values)]
    if len(spread) < 24:
        raise ValueError(f"{feature}: too few hours seen on more than one calibration day")
    q50, q90 = np.quantile(spread, [0.5, SCALE_QUANTILE])
    scale = max(1.0, float(q90 - q50) / (KOLMOGOROV_SCALE_POINT - KOLMOGOROV_MEDIAN))
    # The offset: the hour's median statistic less the median of its noise at that scale.
    known = {key: max(0.0, float(np.median([d for d, _ in v]) - scale * KOLMOGOROV_MEDIAN
                                 / np.median([r for _, r in v]))) for key, v in cells.items()}
    fill = max(known.values())
    offsets = tuple(tuple(min(1.0, known.get((d, h), fill)) for h in range(24)) for d in (WEEKDAY, WEEKEND))
    return FeatureCalibration(feature, offsets, scale, len(stats))  # type: ignore[arg-type]


def calibrate(stats: Mapping[str, Sequence[WindowStatistic]], window_s: int, days: int, source: str) -> Calibration:
    return Calibration(window_s, {f: fit_feature(f, s) for f, s in stats.items()}, days, source)


# ---------------------------------------------------------------- verdicts

@dataclass(frozen=True)
class FeatureLevel:
    level: str  # OK, WARNING, CRITICAL (calibrated), or also INFO (seed)
    threshold: float | None  # the WARNING threshold that applied


def calibrated_level(cal: FeatureCalibration, statistic: float, window_start: datetime, live: int, baseline: int,
                     settings: DriftSettings, window_s: int, features: int) -> FeatureLevel:
    """A measured feature's level in calibrated mode (the caller has checked live >= min_count)."""
    warning = cal.threshold(window_start, live, baseline,
                            per_window_probability(settings.warning_per_day, window_s, features))
    critical = cal.threshold(window_start, live, baseline,
                             per_window_probability(settings.critical_per_day, window_s, features))
    if statistic > critical:
        return FeatureLevel("CRITICAL", warning)
    if statistic > warning:
        return FeatureLevel("WARNING", warning)
    return FeatureLevel("OK", warning)


def highest_level(levels: Iterable[str]) -> str | None:
    """The most severe of the levels that are alert levels (None when there is none)."""
    ranked = [lv for lv in levels if lv in SEVERITY]
    return max(ranked, key=SEVERITY.__getitem__) if ranked else None


# ---------------------------------------------------------------- pooling

@dataclass(frozen=True)
class PooledUnit:
    """Where a segment's verdict comes from: its own counts, its coarse segment's, or none."""

    segment: str
    unit: str | None  # the key whose counts are judged; None = NO_DATA
    level: str  # "fine", "coarse" or "NO_DATA"
    count: int  # values in the judged counts


def pool_segments(counts: Mapping[str, Sequence[int]], coarse_of: Mapping[str, str],
                  min_count: int) -> tuple[dict[str, PooledUnit], dict[str, np.ndarray]]:
    """Per fine segment: its own verdict when it has >= min_count values, else its coarse
    segment's (the sum over every fine segment of that coarse key), else NO_DATA.

    Returns the units and the counts of each pooled coarse key that some segment needs.
    """
    if min_count < 1:
        raise ValueError("the minimum sample size must be >= 1")
    pooled: dict[str, np.ndarray] = {}
    for segment, cells in counts.items():
        coarse = coarse_of[segment]
        cells = np.asarray(cells, dtype=np.int64)
        pooled[coarse] = pooled[coarse] + cells if coarse in pooled else cells.copy()
    units: dict[str, PooledUnit] = {}
    needed: dict[str, np.ndarray] = {}
    for segment, cells in counts.items():
        own = int(np.sum(cells))
        coarse = coarse_of[segment]
        if own >= min_count:
            units[segment] = PooledUnit(segment, segment, "fine", own)
        elif int(pooled[coarse].sum()) >= min_count:
            units[segment] = PooledUnit(segment, coarse, "coarse", int(pooled[coarse].sum()))
            needed[coarse] = pooled[coarse]
        else:
            units[segment] = PooledUnit(segment, None, "NO_DATA", int(pooled[coarse].sum()))
    return units, needed

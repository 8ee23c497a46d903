"""The revenue model at work: expected revenue per auction R(f) and fill F(f) on the floor grid,
for segments and the hour their floor is for. Training is ``training/revenue_model.py``; this is
the part the job's Python workers and the A/B replay call, with the one feature definition both
use.

Inputs per segment: its coarse parts (tier, device, format, inventory: competition differs by
segment, not only price), hour of day and weekend of the window the floor is for, the segment's
price level, and the floor relative to it (log f - log level). The level is the coarse segment's
(from the training logs), plus the hour's network-wide effect, plus the fine segment's premium
over its coarse segment (shrunk toward 0 when its history is short, so a fine segment with
little data gets its coarse segment's curve). The revenue booster predicts revenue / level.

The predicted revenue curve is averaged over ``SMOOTHING`` neighbouring grid floors (about +-12%
in floor): a booster's curve is a step function carrying noise, and an argmax over it chases the
spikes (measured on one simulated day: 76% of the oracle's lift without, 81% with).

A fine segment never seen in training has no known coarse parts: its rows are reported as
unknown and its floor is left to the coarse segment (the reader's fallback).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from schemas.events import DEVICES, FORMATS, INVENTORY
from udfs import rules
from udfs.model_features import key_parts

FEATURES = ("country_tier", "device", "format", "inventory", "hour_of_day", "is_weekend", "log_level",
            "relative_floor")
REVENUE_FILE = "revenue.ubj"
FILL_FILE = "fill.ubj"
SEGMENTS_FILE = "segments.json"
FILES = (REVENUE_FILE, FILL_FILE, SEGMENTS_FILE)
NETWORK_LEVEL = ""  # the levels entry for coarse segments never seen
SMOOTHING = 5  # grid floors averaged (centred) in a predicted revenue curve


def smooth(curves: np.ndarray, width: int = SMOOTHING) -> np.ndarray:
    """Centred moving average along each row (edges repeat the end values)."""
    if width <= 1 or curves.shape[1] == 0:
        return curves
    half = width // 2
    padded = np.pad(curves, ((0, 0), (half, half)), mode="edge")
    cumulative = np.cumsum(np.pad(padded, ((0, 0), (1, 0))), axis=1)
    return (cumulative[:, width:] - cumulative[:, :-width]) / width


def hour_key(hour: int) -> str:
    return f"hour:{int(hour):02d}"


def log_floor(floor: np.ndarray) -> np.ndarray:
    return np.log(np.maximum(np.asarray(floor, dtype=np.float64), 0.01))


def _codes(values: pd.Series, vocabulary: tuple[str, ...]) -> np.ndarray:
    return pd.Categorical(values, categories=list(vocabulary)).codes.astype(np.float64)


def features(coarse_keys: pd.Series, fine_keys: pd.Series | None, hour: np.ndarray, weekend: np.ndarray,
             floors: np.ndarray, levels: dict[str, float], premiums: dict[str, float]) -> np.ndarray:
    """The feature matrix (rows, FEATURES) of segments at floors; keys as rules.segment_key makes them.
    Rows repeat few segments (an auction log, or a segment at every grid floor), so everything but
    the floor is computed once per distinct segment and hour, then spread to the rows."""
    segments = pd.DataFrame({
        "coarse": coarse_keys.to_numpy(),
        "fine": "" if fine_keys is None else fine_keys.fillna("").to_numpy(),  # "": no premium
        "hour": np.asarray(hour, dtype=np.int64), "weekend": np.asarray(weekend, dtype=bool),
    })
    row, distinct = pd.MultiIndex.from_frame(segments).factorize()
    distinct = distinct.to_frame(index=False, name=list(segments.columns))
    parts = key_parts(distinct["coarse"])
    parts.columns = list(rules.SEGMENT_KEY_FIELDS[rules.COARSE])
    premium = distinct["fine"].map(premiums).fillna(0.0).to_numpy(np.float64)
    coarse_level = distinct["coarse"].map(levels).fillna(levels[NETWORK_LEVEL]).to_numpy(np.float64)
    hour_effect = distinct["hour"].map(lambda h: levels.get(hour_key(h), 0.0)).to_numpy(np.float64)
    log_level = coarse_level + hour_effect + premium
    per_segment = {
        "country_tier": pd.to_numeric(parts["country_tier"], errors="coerce").to_numpy(np.float64),
        "device": _codes(parts["device_category"], DEVICES),
        "format": _codes(parts["format"], FORMATS),
        "inventory": _codes(parts["inventory_type"], INVENTORY),
        "hour_of_day": distinct["hour"].to_numpy(np.float64), "is_weekend": distinct["weekend"].to_numpy(np.float64),
        "log_level": log_level,
    }
    cols = {name: values[row] for name, values in per_segment.items()}
    cols["relative_floor"] = log_floor(floors) - cols["log_level"]
    return np.column_stack([cols[f] for f in FEATURES])


@dataclass
class RevenueCurveModel:
    revenue_booster: object  # xgboost.Booster: revenue / level
    fill_booster: object  # xgboost.Booster: P(filled), monotone in the floor
    levels: dict[str, float]  # coarse key -> log level; hour:HH -> the hour's effect; "" -> network
    premiums: dict[str, float]  # fine key -> premium over its coarse segment
    fine_coarse: dict[str, str]  # fine key -> its coarse key, as seen in training

    def coarse_keys(self, level: pd.Series, segment_key: pd.Series) -> pd.Series:
        """The coarse key of each row (NaN for a fine segment never seen in training)."""
        fine = level.to_numpy() == rules.FINE
        return pd.Series(np.where(fine, segment_key.map(self.fine_coarse), segment_key), index=segment_key.index)

    def curves(self, segments: pd.DataFrame, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """R(f), F(f) on the grid for each row of ``segments`` (columns level, segment_key,
        hour_of_day, is_weekend; optional coarse_key), and which rows are known. Unknown rows
        have NaN curves."""
        import xgboost as xgb

        grid = np.asarray(grid, dtype=np.float64)
        n, k = len(segments), len(grid)
        coarse = (segments["coarse_key"] if "coarse_key" in segments
                  else self.coarse_keys(segments["level"], segments["segment_key"]))
        known = coarse.notna().to_numpy()
        revenue, fill = np.full((n, k), np.nan), np.full((n, k), np.nan)
        if known.any():
            rows = segments[known]
            fine = rows["segment_key"].where(rows["level"] == rules.FINE)
            rep = lambda s: pd.Series(np.repeat(s.to_numpy(), k))  # noqa: E731 - one row per segment and floor
            x = features(rep(coarse[known]), rep(fine), np.repeat(rows["hour_of_day"].to_numpy(), k),
                         np.repeat(rows["is_weekend"].to_numpy(), k), np.tile(grid, len(rows)), self.levels,
                         self.premiums)
            matrix = xgb.DMatrix(x)
            scale = np.exp(x[:, FEATURES.index("log_level")])
            revenue[known] = smooth((np.maximum(self.revenue_booster.predict(matrix), 0.0) * scale).reshape(-1, k))
            fill[known] = np.clip(self.fill_booster.predict(matrix), 0.0, 1.0).reshape(-1, k)
        return revenue, fill, known

    def to_files(self) -> dict[str, bytes]:
        segments = {"levels": self.levels, "premiums": self.premiums, "fine_coarse": self.fine_coarse}
        return {REVENUE_FILE: bytes(self.revenue_booster.save_raw("ubj")),
                FILL_FILE: bytes(self.fill_booster.save_raw("ubj")),
                SEGMENTS_FILE: json.dumps(segments, sort_keys=True).encode("utf-8")}

    @classmethod
    def from_files(cls, files: dict[str, bytes]) -> RevenueCurveModel:
        import xgboost as xgb

        boosters = []
        for name in (REVENUE_FILE, FILL_FILE):
            booster = xgb.Booster()
            booster.load_model(bytearray(files[name]))
            if booster.num_features() != len(FEATURES):
                raise ValueError(f"{name}: booster takes {booster.num_features()} features, not {len(FEATURES)}")
            boosters.append(booster)
        segments = json.loads(files[SEGMENTS_FILE])
        if NETWORK_LEVEL not in segments["levels"]:
            raise ValueError(f"{SEGMENTS_FILE}: no network level")
        return cls(boosters[0], boosters[1], segments["levels"], segments["premiums"], segments["fine_coarse"])

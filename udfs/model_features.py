"""The model's inputs: one function turns segment-window rows into the feature matrix.

Training (training/train.py, over processed/features/ rows) and scoring in the job
(udfs/scoring.py, over segment_windows rows) both call `model_inputs`, so the model sees the
same features in both places. It reads only the row's own window (window h) and what is known
before window h+1 starts (the next window's hour and day), never anything of window h+1 itself.

Rows need the columns of WINDOW_COLUMNS: the window's key, its auctions and fills, and the features
schemas/segment_windows.py marks as model inputs; the time fields are recomputed from the window bounds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from schemas import segment_windows
from schemas.events import DEVICES, FORMATS, INVENTORY
from udfs import rules

# Aggregates the model takes as they are.
WINDOW_AGGREGATES: tuple[str, ...] = segment_windows.model_input_names()

# segment_windows columns the model reads, in the order the scoring function receives them.
WINDOW_COLUMNS: tuple[str, ...] = (
    *(f.name for f in segment_windows.WINDOW_KEY), "auctions", "fills", *WINDOW_AGGREGATES)

# The features, in the order the booster was trained on (saved with every model version).
FEATURES: tuple[str, ...] = (
    "is_fine",
    "country_tier",
    "device",
    "format",  # coarse segments only (NaN on fine ones: XGBoost treats it as missing)
    "inventory",  # coarse segments only
    "log_auctions",
    "fill_rate",
    *WINDOW_AGGREGATES,
    "hour_of_day",
    "next_hour_of_day",
    "next_is_weekend",
    "next_is_prime_time",
)


def _code(values: pd.Series, vocabulary: tuple[str, ...]) -> pd.Series:
    """Index in the vocabulary, NaN when absent or unknown."""
    return values.map({name: float(i) for i, name in enumerate(vocabulary)}).astype(float)


def key_parts(keys: pd.Series) -> pd.DataFrame:
    """The fields of each segment key, one column per field, unescaped (rules.split_segment_key):
    a separator inside a domain stays in the domain and never shifts the other columns."""
    text = keys.astype(str)
    if not text.str.contains(rules.KEY_ESCAPE, regex=False).any():
        return text.str.split(rules.KEY_SEPARATOR, expand=True, regex=False)  # nothing escaped: the fast path
    return pd.DataFrame([rules.split_segment_key(k) for k in text], index=keys.index)


def model_inputs(rows: pd.DataFrame, features: tuple[str, ...] | list[str] = FEATURES) -> pd.DataFrame:
    """The feature matrix (float64, columns in `features` order) of segment-window rows."""
    parts = key_parts(rows["segment_key"])
    # Both levels end with device_category|country_tier; coarse keys start with format|inventory.
    fine = (rows["level"] == rules.FINE).to_numpy()
    start = pd.to_datetime(rows["window_start"])
    end = pd.to_datetime(rows["window_end"])
    auctions = rows["auctions"].astype(float)
    next_day = end.dt.dayofweek + 1  # ISO, Monday 1
    out = pd.DataFrame(
        {
            "is_fine": fine.astype(float),
            "country_tier": pd.to_numeric(parts.iloc[:, -1], errors="coerce"),
            "device": _code(parts.iloc[:, -2], DEVICES),
            "format": _code(parts.iloc[:, 0], FORMATS).where(~fine),
            "inventory": _code(parts.iloc[:, 1], INVENTORY).where(~fine),
            "log_auctions": np.log1p(auctions),
            "fill_rate": rows["fills"].astype(float) / auctions.where(auctions > 0),
            **{c: rows[c].astype(float) for c in WINDOW_AGGREGATES},
            "hour_of_day": start.dt.hour.astype(float),
            "next_hour_of_day": end.dt.hour.astype(float),
            "next_is_weekend": (next_day >= 6).astype(float),
            "next_is_prime_time": end.dt.hour.map(rules.is_prime_time).astype(float),
        },
        index=rows.index,
    )
    missing = [f for f in features if f not in out.columns]
    if missing:
        raise ValueError(f"unknown model features {missing}; this code computes {list(out.columns)}")
    return out[list(features)].astype(np.float64)

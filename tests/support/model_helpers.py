"""Small real XGBoost models for the model tests (seconds to train, distinct per version)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import xgboost as xgb

from udfs import model_store
from udfs.drift import build_baseline
from udfs.model_features import FEATURES


def tiny_booster(scale: float, seed: int = 0) -> xgb.Booster:
    """A booster whose prediction is about `scale` x the window's mean CPM (so versions differ)."""
    rng = np.random.default_rng(seed)
    x = pd.DataFrame(rng.uniform(0.0, 5.0, (2000, len(FEATURES))), columns=list(FEATURES))
    y = scale * x["mean_cpm_eur"] + 0.05 * x["hour_of_day"]
    matrix = xgb.DMatrix(x.to_numpy(), label=y.to_numpy(), feature_names=list(FEATURES))
    return xgb.train({"max_depth": 4, "eta": 0.3, "nthread": 1, "seed": seed}, matrix, num_boost_round=30)


def version_files(booster_bytes: bytes) -> dict[str, bytes]:
    baseline = build_baseline(pd.DataFrame({"cpm_eur": [0.5, 1.0, 2.0, 4.0]}), ["cpm_eur"])
    return {
        model_store.BOOSTER_FILE: booster_bytes,
        model_store.FEATURES_FILE: json.dumps({"features": list(FEATURES)}).encode(),
        model_store.TRAINING_FILE: b"{}",
        model_store.BASELINE_FILE: baseline.to_json().encode(),
    }


def write_challenger(lake: str, version: str, scale: float) -> xgb.Booster:
    booster = tiny_booster(scale)
    model_store.write_version(lake, "challenger", version, version_files(bytes(booster.save_raw("ubj"))))
    return booster


def write_corrupt_challenger(lake: str, version: str) -> None:
    """A version whose booster file is not a model (a truncated upload, say)."""
    model_store.write_version(lake, "challenger", version, version_files(b"{\"learner\": truncated"))

"""Small real XGBoost models for the model tests (seconds to train, distinct per version)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from udfs import model_store
from udfs.drift import build_baseline
from udfs.model_features import FEATURES, WINDOW_COLUMNS


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


def revenue_curve_files(seed: int = 1, hours: int = 4, rate: float = 12.0) -> dict[str, bytes]:
    """Revenue curves trained on a few hours of simulated logs with exploration floors."""
    from datetime import timedelta

    from simulator.market import DEFAULT_START, Exploration, Market
    from training import revenue_model

    market = Market(seed, exploration=Exploration(share=0.2, holdout=0.05))
    start = DEFAULT_START + timedelta(hours=14)
    events = pd.concat([s.frame() for s in market.span(start, start + timedelta(hours=hours), rate, truth=False)],
                       ignore_index=True)
    return revenue_model.train(events).to_files()


def write_challenger_with_curves(lake: str, version: str, curve_files: dict[str, bytes]) -> None:
    booster = tiny_booster(1.0)
    files = version_files(bytes(booster.save_raw("ubj"))) | curve_files
    model_store.write_version(lake, "challenger", version, files)


def fresh_s3_lake(monkeypatch: Any, model_store_endpoint: str) -> str:
    """A new bucket on the S3 stand-in as a lake; the model store reaches it at ``model_store_endpoint``
    (the stand-in itself, or a fault proxy in front of it)."""
    import uuid

    from local_kinesis import standins
    from udfs.aws import aws_client

    monkeypatch.setenv(model_store.S3_ENDPOINT_ENV, model_store_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    bucket = f"models-{uuid.uuid4().hex[:8]}"
    aws_client("s3", standins.MOTO_ENDPOINT, "eu-west-1").create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    return f"s3://{bucket}"


def windows(n: int = 4) -> pd.DataFrame:
    start = pd.Timestamp("2026-01-05 20:00")
    return pd.DataFrame({
        "level": ["coarse", "fine"] * (n // 2),
        "segment_key": ["video|premium|mobile|1", "a.es|top|desktop|2"] * (n // 2),
        "window_start": [start] * n, "window_end": [start + pd.Timedelta("1h")] * n,
        "auctions": np.arange(n) * 500 + 5, "fills": [3] * n, "mean_cpm_eur": np.linspace(0.8, 3.0, n),
        "mean_bid_count": [3.0] * n, "mean_floor_price_eur": [2.0] * n, "mean_top_bid_eur": [2.5] * n,
        "mean_user_engagement_score": [0.4] * n, "mean_device_performance_score": [1.0] * n,
        "mean_historical_ctr_avg": [0.01] * n, "premium_share": [1.0, 0.0] * (n // 2),
    })[list(WINDOW_COLUMNS)]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

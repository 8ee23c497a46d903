"""Training set construction (point in time), the time split, and training on simulated history."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simulator.market import Exploration, Market, backfill
from training import train as training
from udfs import model_store
from udfs.model_features import FEATURES, model_inputs

HOUR = pd.Timedelta("1h")


def feature_rows(segment: str, hours: list[int], cpm: list[float], fills: list[int]) -> pd.DataFrame:
    start = pd.Timestamp("2026-01-05 00:00")
    ws = [start + h * HOUR for h in hours]
    n = len(hours)
    return pd.DataFrame({
        "level": "coarse", "segment_key": segment, "window_start": ws, "window_end": [w + HOUR for w in ws],
        "auctions": [100 + h for h in hours], "fills": fills, "mean_cpm_eur": cpm,
        "sum_cpm_eur": [c * f for c, f in zip(cpm, fills, strict=True)],
        "mean_bid_count": [3.0] * n, "mean_floor_price_eur": [2.0] * n, "mean_top_bid_eur": [2.5] * n,
        "mean_user_engagement_score": [0.4] * n, "mean_device_performance_score": [1.0] * n,
        "mean_historical_ctr_avg": [0.01] * n, "premium_share": [1.0] * n,
    })


def test_training_pairs_take_features_from_window_h_and_only_the_label_from_h_plus_1():
    rows = feature_rows("video|premium|mobile|1", [0, 1, 2, 4, 5, 6], [1.0, 1.5, 2.0, 3.0, 3.5, 4.0],
                        [10, 10, 10, 10, 0, 10])
    # Plant a future value: window 2's every feature is extreme. It may only ever be a label.
    planted = rows["window_start"] == pd.Timestamp("2026-01-05 02:00")
    rows.loc[planted, ["mean_cpm_eur", "mean_user_engagement_score", "mean_top_bid_eur"]] = [99.0, 0.999, 999.0]
    pairs = training.training_pairs(rows).set_index("window_start")

    # h=0 -> label of 01:00; h=1 -> the planted 99 is its label; h=2 has no 03:00 window;
    # h=4's next window had no fill (no clearing price): no label; h=5 had no fill itself.
    assert list(pairs.index.hour) == [0, 1]
    assert list(pairs["label"]) == [1.5, 99.0]
    assert list(pairs["label_window_start"].dt.hour) == [1, 2]
    # The features of every pair equal those of its own window alone: nothing of h+1 in them.
    own = model_inputs(rows.set_index("window_start").loc[pairs.index].reset_index())
    got = model_inputs(pairs.reset_index())
    pd.testing.assert_frame_equal(got.reset_index(drop=True), own.reset_index(drop=True))
    assert not (got.to_numpy() >= 99.0).any() and not np.isclose(got.to_numpy(), 0.999).any()


def test_time_split_holds_out_the_last_days():
    days = [feature_rows(f"s{d}", [24 * d + h for h in range(24)], [1.0] * 24, [5] * 24) for d in range(5)]
    pairs = training.training_pairs(pd.concat(days, ignore_index=True))
    train, held_out, boundary = training.split_by_time(pairs, eval_days=2)
    assert boundary == pd.Timestamp("2026-01-08")
    assert train["label_window_start"].max() < boundary <= held_out["label_window_start"].min()
    assert len(train) + len(held_out) == len(pairs)
    with pytest.raises(training.TrainingError, match="day"):
        training.split_by_time(pairs, eval_days=5)


def test_metrics_of_a_perfect_and_a_constant_prediction():
    y = np.array([1.0, 2.0, 3.0])
    assert training.regression_metrics(y, y) == {"rmse": 0.0, "mae": 0.0, "r2": 1.0}
    m = training.regression_metrics(y, np.full(3, 2.0))
    assert m["r2"] == pytest.approx(0.0) and m["mae"] == pytest.approx(2 / 3)


def test_an_empty_lake_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture):
    assert training.main(["--lake", tmp_path.as_uri()]) == 2
    assert "no feature history" in capsys.readouterr().err


def test_trained_on_simulated_history_the_model_beats_persistence_and_is_promoted(tmp_path: Path):
    """The simulated market has a known signal (prices by tier, format, inventory, hour): four
    days of it with exploration floors, three to train, one held out. The CPM model must beat
    persistence (the historical mean is reported; on the first-price market it is as good); the
    CLI writes a complete version, revenue curves included, and promotes it."""
    lake = (tmp_path / "lake").as_uri()
    market = Market(seed=3, exploration=Exploration(share=0.10, holdout=0.02))
    backfill(market, lake.removeprefix("file://"), datetime(2026, 1, 5, tzinfo=UTC), days=4, mean_rate=4.0)
    assert training.main(["--lake", lake, "--eval-days", "1", "--version", "20260109T000000Z", "--promote"]) == 0

    ref = model_store.current_model(lake)
    assert ref is not None and ref.version == "20260109T000000Z"
    summary = json.loads(model_store.read_bytes(ref.artifact(model_store.TRAINING_FILE)))
    m = summary["metrics"]["all"]
    assert m["model"]["rmse"] < m["persistence"]["rmse"]
    assert m["model"]["r2"] > m["persistence"]["r2"]
    assert summary["revenue_curves"]["auctions"] > 100_000
    gate = summary["revenue_gate"]  # the held-out day's logs, against the static floor (no model yet)
    assert gate["promote"] and gate["champion"] == "static floor" and gate["lift"]["lo"] > 0
    assert summary["train_window"]["to"] == "2026-01-08 00:00:00"
    model = model_store.load_model(ref)
    assert model.features == FEATURES and model.curves is not None
    baseline = model_store.load_baseline(ref)
    assert set(baseline.features) >= {"cpm_eur", "bid_count"}
    # Promotion keeps a champion copy for rollbacks; the challenger stays where training put it.
    assert model_store.read_version(lake, "champion", ref.version) == model_store.read_version(
        lake, "challenger", ref.version)
    # The same curves as a candidate against the promoted version: the same floors, no lift, refused.
    window = summary["revenue_gate"]["window"]
    again = training.revenue_gate_decision(lake, model.curves, pd.Timestamp(window["from"]), pd.Timestamp(window["to"]))
    assert not again["promote"] and again["champion"] == "20260109T000000Z" and again["lift"]["point"] == 0.0

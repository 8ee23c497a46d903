"""The revenue model: expected revenue per auction R(f) and fill F(f) as functions of the floor,
for any segment and hour, learned from logged auctions.

What it learns from. Every logged auction carries the floor it ran under (``floor_price_eur``),
whether it filled and what it paid. Most auctions run under the production floor, so on their
own they say nothing about other floors; the exploration floors (a share of auctions with a
random floor between the clamp bounds, and a no-floor holdout, ``simulator.market.Exploration``
and Prebid's skipRate online) are what show the curve.

Censoring. A bid below the floor is never seen: an auction that did not fill at floor f says only
that no bidder valued it at f. The model therefore never reconstructs bids below the floor; it
regresses the outcomes themselves on the floor: revenue (the price paid, 0 when unfilled) with
squared error, whose minimiser is exactly E[revenue | segment, hour, floor] = R(f), and fill with
a logistic loss and a monotone constraint (fill never rises with the floor). Both are unbiased
under censoring because the floor is an input, not a threshold on the label.

Scale. Revenue curves of segments at different price levels have nearly the same shape once
floors and revenue are measured in units of the segment's level, so the model learns that
shape: its inputs are the floor relative to the level (log f - log level) and the level itself,
its revenue target is revenue / level. The level of a fine segment is its coarse segment's
(mean log top bid of the filled auctions that ran under a floor below ``LEVEL_FLOOR_MAX``, the
holdout and the low exploration floors, so the production floor does not censor it) plus the
fine segment's premium (the mean log top bid of its filled auctions minus its coarse segment's,
shrunk toward 0 by n / (n + ``PREMIUM_SHRINK``)). A fine segment with little history thus gets
its coarse segment's curve. The other inputs: tier, device, format, inventory (competition
differs by segment, not only price), hour of day and weekend.

RMSE is a diagnostic; what counts is revenue against the oracle (``training.ab_test``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from schemas.events import DEVICES, FORMATS, INVENTORY
from udfs import rules

PREMIUM_SHRINK = 50.0
LEVEL_FLOOR_MAX = 1.0
FEATURES = ("country_tier", "device", "format", "inventory", "hour_of_day", "is_weekend", "log_level",
            "relative_floor")
PARAMS = {"eta": 0.1, "max_depth": 6, "min_child_weight": 50, "subsample": 0.8, "lambda": 5.0, "nthread": 2,
          "seed": 7, "tree_method": "hist"}
ROUNDS = 200


def _codes(values: pd.Series, vocabulary: tuple[str, ...]) -> np.ndarray:
    return pd.Categorical(values, categories=list(vocabulary)).codes.astype(np.float64)


def segment_parts(frame: pd.DataFrame) -> pd.DataFrame:
    """The model's segment features of events (or of segment rows with the same columns)."""
    tier = frame["country_tier"] if "country_tier" in frame else frame["country"].map(rules.country_tier)
    return pd.DataFrame({
        "country_tier": np.asarray(tier, dtype=np.float64),
        "device": _codes(frame["device_category"], DEVICES),
        "format": _codes(frame["format"], FORMATS),
        "inventory": _codes(frame["inventory_type"], INVENTORY),
    }, index=frame.index)


def log_floor(floor: np.ndarray) -> np.ndarray:
    return np.log(np.maximum(np.asarray(floor, dtype=np.float64), 0.01))


@dataclass
class RevenueModel:
    revenue_booster: object
    fill_booster: object
    levels: dict[str, float]  # coarse segment key -> log level ("" -> the network's, for unseen segments)
    premiums: dict[str, float]  # fine segment key -> premium (missing: 0, the coarse curve)

    @classmethod
    def train(cls, events: pd.DataFrame, outside_option_eur: float = 0.0) -> RevenueModel:
        """Fit on logged auctions (the raw event columns; ``event_time`` as datetime or ISO text)."""
        import xgboost as xgb

        if events.empty:
            raise ValueError("no logged auctions to learn from")
        levels, premiums = coarse_levels(events), fine_premiums(events)
        x = _features(events, levels, premiums, events["floor_price_eur"].to_numpy(np.float64))
        filled = events["filled"].to_numpy(bool)
        revenue = np.where(filled, events["cpm_eur"].fillna(0.0).to_numpy(np.float64), outside_option_eur)
        scale = np.exp(x[:, FEATURES.index("log_level")])
        monotone = "(" + ",".join("-1" if f == "relative_floor" else "0" for f in FEATURES) + ")"
        rev = xgb.train(PARAMS | {"objective": "reg:squarederror"}, xgb.DMatrix(x, label=revenue / scale), ROUNDS)
        fill = xgb.train(PARAMS | {"objective": "binary:logistic", "monotone_constraints": monotone},
                         xgb.DMatrix(x, label=filled.astype(np.float64)), ROUNDS)
        return cls(rev, fill, levels, premiums)

    def curves(self, segments: pd.DataFrame, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """R(f) and F(f) on the grid for each row of ``segments`` (columns: fine key as
        ``segment_key`` or absent for coarse rows, country_tier, device_category, format,
        inventory_type, hour_of_day, is_weekend): arrays (rows, len(grid))."""
        import xgboost as xgb

        n, k = len(segments), len(grid)
        rows = segments.loc[segments.index.repeat(k)]
        floors = np.tile(np.asarray(grid, dtype=np.float64), n)
        x = _features(rows, self.levels, self.premiums, floors)
        matrix = xgb.DMatrix(x)
        scale = np.exp(x[:, FEATURES.index("log_level")])
        revenue = (np.maximum(self.revenue_booster.predict(matrix), 0.0) * scale).reshape(n, k)
        fill = np.clip(self.fill_booster.predict(matrix), 0.0, 1.0).reshape(n, k)
        return revenue, fill

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.revenue_booster.save_model(str(folder / "revenue.ubj"))
        self.fill_booster.save_model(str(folder / "fill.ubj"))
        (folder / "segments.json").write_text(json.dumps({"levels": self.levels, "premiums": self.premiums},
                                                          sort_keys=True), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> RevenueModel:
        import xgboost as xgb

        rev, fill = xgb.Booster(), xgb.Booster()
        rev.load_model(str(folder / "revenue.ubj"))
        fill.load_model(str(folder / "fill.ubj"))
        segments = json.loads((folder / "segments.json").read_text(encoding="utf-8"))
        return cls(rev, fill, segments["levels"], segments["premiums"])


def coarse_levels(events: pd.DataFrame) -> dict[str, float]:
    """Per coarse segment: mean log top bid of its filled auctions under a floor below
    LEVEL_FLOOR_MAX; "" holds the network's, for segments never seen."""
    low = events[events["filled"] & events["top_bid_eur"].gt(0) & events["floor_price_eur"].lt(LEVEL_FLOOR_MAX)]
    if low.empty:
        raise ValueError(f"no filled auction under a floor below {LEVEL_FLOOR_MAX} EUR: the logs need exploration "
                         "floors or a no-floor holdout")
    log_top = pd.Series(np.log(low["top_bid_eur"].to_numpy(np.float64)), index=low.index)
    levels = {k: round(float(v), 5) for k, v in log_top.groupby(_keys(low, rules.COARSE)).mean().items()}
    return levels | {"": round(float(log_top.mean()), 5)}


def fine_premiums(events: pd.DataFrame) -> dict[str, float]:
    """Per fine segment: shrunk mean log top bid of its filled auctions minus its coarse segment's."""
    filled = events[events["filled"] & events["top_bid_eur"].gt(0)]
    frame = pd.DataFrame({
        "fine": _keys(filled, rules.FINE), "coarse": _keys(filled, rules.COARSE),
        "log_top": np.log(filled["top_bid_eur"].to_numpy(np.float64)),
    })
    coarse_mean = frame.groupby("coarse")["log_top"].transform("mean")
    g = (frame["log_top"] - coarse_mean).groupby(frame["fine"]).agg(["sum", "size"])
    shrunk = g["sum"] / (g["size"] + PREMIUM_SHRINK)
    return {k: round(float(v), 5) for k, v in shrunk.items()}


def _keys(frame: pd.DataFrame, level: str) -> pd.Series:
    if "country_tier" not in frame:
        frame = frame.assign(country_tier=frame["country"].map(rules.country_tier))
    return rules.segment_key_column(frame, level)


def _features(rows: pd.DataFrame, levels: dict[str, float], premiums: dict[str, float], floors: np.ndarray
              ) -> np.ndarray:
    parts = segment_parts(rows)
    if "hour_of_day" in rows:
        hour, weekend = rows["hour_of_day"].to_numpy(np.float64), rows["is_weekend"].to_numpy(np.float64)
    else:
        t = pd.to_datetime(rows["event_time"], utc=True)
        hour, weekend = t.dt.hour.to_numpy(np.float64), (t.dt.dayofweek >= 5).to_numpy(np.float64)
    if "segment_key" in rows:
        keys = rows["segment_key"]
    elif "domain" in rows:
        keys = _keys(rows, rules.FINE)
    else:
        keys = pd.Series([""] * len(rows), index=rows.index)
    premium = keys.map(premiums).fillna(0.0).to_numpy(np.float64)
    coarse = _keys(rows, rules.COARSE).map(levels).fillna(levels[""]).to_numpy(np.float64)
    log_level = coarse + premium
    cols = {**{c: parts[c].to_numpy() for c in parts}, "hour_of_day": hour, "is_weekend": weekend,
            "log_level": log_level, "relative_floor": log_floor(floors) - log_level}
    return np.column_stack([cols[f] for f in FEATURES])

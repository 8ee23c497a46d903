"""Training the revenue model: expected revenue per auction R(f) and fill F(f) as functions of
the floor, learned from logged auctions (``udfs/revenue_curves.py`` holds the model and its
features, which the job and the A/B replay use).

What it learns from. Every logged auction carries the floor it ran under (``floor_price_eur``),
whether it filled and what it paid. Most auctions run under the production floor, so on their
own they say nothing about other floors; the exploration floors (a share of auctions with a
random floor between the clamp bounds, and a no-floor holdout: ``simulator.market.Exploration``,
Prebid's skipRate online) are what show the curve.

Censoring. A bid below the floor is never seen: an auction that did not fill at floor f says only
that no bidder valued it at f. The model therefore never reconstructs bids below the floor; it
regresses the outcomes themselves on the floor: revenue (the price paid, the outside option when
unfilled) with squared error, whose minimiser is E[revenue | segment, hour, floor] = R(f), and
fill with a logistic loss and a monotone constraint (fill never rises with the floor). Both stay
unbiased under censoring because the floor is an input, not a threshold on the label.

Scale. Revenue curves of segments at different price levels have nearly the same shape once
floors and revenue are measured in units of the segment's level, so the model learns that shape:
the floor enters relative to the level and revenue is divided by it. The level of a segment: the
mean log top bid of its coarse segment's filled auctions that ran under a floor below
``LEVEL_FLOOR_MAX`` (the holdout and the low exploration floors, so the production floor does not
censor it), plus the hour of day's effect (the same auctions' mean log top bid by hour after
their coarse level: advertisers pay more at prime time across the network), plus the fine
segment's premium (its filled auctions' mean log top bid minus its coarse segment's, shrunk
toward 0 by n / (n + ``PREMIUM_SHRINK``)).

RMSE is a diagnostic; what counts is revenue against the oracle (``training.floor_ab``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from udfs import rules
from udfs.revenue_curves import FEATURES, NETWORK_LEVEL, RevenueCurveModel, features, hour_key

PREMIUM_SHRINK = 50.0
LEVEL_FLOOR_MAX = 1.0
PARAMS = {"eta": 0.05, "max_depth": 5, "min_child_weight": 50, "subsample": 0.8, "lambda": 5.0, "nthread": 2,
          "seed": 7, "tree_method": "hist"}
ROUNDS = 300


def train(events: pd.DataFrame, outside_option_eur: float = 0.0) -> RevenueCurveModel:
    """Fit on logged auctions (the raw event columns; ``event_time`` as datetime or ISO text)."""
    import xgboost as xgb

    if events.empty:
        raise ValueError("no logged auctions to learn from")
    events = events.assign(country_tier=events["country"].map(rules.country_tier)) \
        if "country_tier" not in events else events
    coarse, fine = (rules.segment_key_column(events, lvl) for lvl in (rules.COARSE, rules.FINE))
    hours = pd.to_datetime(events["event_time"], utc=True)
    levels = coarse_levels(events, coarse, hours.dt.hour)
    premiums = fine_premiums(events, coarse, fine)
    x = features(coarse, fine, hours.dt.hour.to_numpy(), (hours.dt.dayofweek >= 5).to_numpy(),
                 events["floor_price_eur"].to_numpy(np.float64), levels, premiums)
    filled = events["filled"].to_numpy(bool)
    revenue = np.where(filled, events["cpm_eur"].fillna(0.0).to_numpy(np.float64), outside_option_eur)
    scale = np.exp(x[:, FEATURES.index("log_level")])
    monotone = "(" + ",".join("-1" if f == "relative_floor" else "0" for f in FEATURES) + ")"
    rev = xgb.train(PARAMS | {"objective": "reg:squarederror"}, xgb.DMatrix(x, label=revenue / scale), ROUNDS)
    fill = xgb.train(PARAMS | {"objective": "binary:logistic", "monotone_constraints": monotone},
                     xgb.DMatrix(x, label=filled.astype(np.float64)), ROUNDS)
    fine_coarse = dict(zip(fine, coarse, strict=True))
    return RevenueCurveModel(rev, fill, levels, premiums, fine_coarse)


def coarse_levels(events: pd.DataFrame, coarse: pd.Series, hour: pd.Series) -> dict[str, float]:
    """Per coarse segment: mean log top bid of its filled auctions under a floor below
    LEVEL_FLOOR_MAX; per hour of day the mean residual after it; "" the network's level."""
    low = (events["filled"] & events["top_bid_eur"].gt(0) & events["floor_price_eur"].lt(LEVEL_FLOOR_MAX)).to_numpy()
    if not low.any():
        raise ValueError(f"no filled auction under a floor below {LEVEL_FLOOR_MAX} EUR: the logs need exploration "
                         "floors or a no-floor holdout")
    log_top = pd.Series(np.log(events["top_bid_eur"].to_numpy(np.float64)[low]))
    keys = pd.Series(coarse.to_numpy()[low])
    levels = {k: round(float(v), 5) for k, v in log_top.groupby(keys).mean().items()}
    residual = log_top - keys.map(levels)
    by_hour = residual.groupby(hour.to_numpy()[low]).mean()
    return levels | {NETWORK_LEVEL: round(float(log_top.mean()), 5)} | {
        hour_key(h): round(float(v), 5) for h, v in by_hour.items()}


def fine_premiums(events: pd.DataFrame, coarse: pd.Series, fine: pd.Series) -> dict[str, float]:
    """Per fine segment: shrunk mean log top bid of its filled auctions minus its coarse segment's."""
    filled = (events["filled"] & events["top_bid_eur"].gt(0)).to_numpy()
    frame = pd.DataFrame({"fine": fine.to_numpy()[filled], "coarse": coarse.to_numpy()[filled],
                          "log_top": np.log(events["top_bid_eur"].to_numpy(np.float64)[filled])})
    relative = frame["log_top"] - frame.groupby("coarse")["log_top"].transform("mean")
    g = relative.groupby(frame["fine"]).agg(["sum", "size"])
    return {k: round(float(v), 5) for k, v in (g["sum"] / (g["size"] + PREMIUM_SHRINK)).items()}

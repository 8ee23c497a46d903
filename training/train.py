"""Training: an XGBoost model of next-window clearing CPM, from the feature history in the lake.

    python -m training.train --lake URI [--eval-days 3] [--version V] [--promote] [--backfill-if-empty DAYS]
    python -m training.train promote --lake URI --version V [--from champion]

1. Read processed/features/ (one row per segment and window, as the job writes them).
2. Training set, point in time: the features of a segment's window h, and as label the same
   segment's mean clearing CPM in window h+1, only where window h+1 exists and had fills.
   Nothing of window h+1 but the label enters a row (udfs/model_features.py reads window h
   and the calendar of h+1 only).
3. Split by time: the last `--eval-days` days of label windows are held out; the model trains
   on the earlier ones. Metrics on the held-out rows (RMSE, MAE, R^2) against two baselines:
   persistence (the segment's CPM of window h) and the segment's historical mean (fill-weighted,
   over the training days).
4. Write the version into models/production/challenger/<version>/: the booster (UBJ), the
   ordered feature list, training.json (window, metrics), and baseline.json (drift bins of the
   raw events of the training days, udfs.drift.build_baseline), and, when the training days'
   raw auctions carry exploration floors, the revenue curves (training/revenue_model.py) the
   job's revenue floor policy needs. `--promote` then makes it the current model, if it beats
   persistence (the rule the job uses without a model).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlparse

import numpy as np
import pandas as pd
import pyarrow.dataset as ds

from training import lake, revenue_gate, revenue_model
from udfs import drift, model_store, revenue_curves, rules
from udfs.floor_policy import PolicySettings
from udfs.model_features import FEATURES, WINDOW_COLUMNS, model_inputs

FEATURES_PREFIX = "processed/features"
RAW_PREFIX = "raw"
KEY = ["level", "segment_key"]
GOAL_RMSE_EUR = 0.45

XGB_PARAMS = {
    "objective": "reg:squarederror",
    "eta": 0.08,
    "max_depth": 6,
    "min_child_weight": 20,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "lambda": 5.0,
    "nthread": 2,
    "seed": 7,
}
BOOST_ROUNDS = 250


class TrainingError(RuntimeError):
    """The lake holds no usable history (the message says what is missing)."""


def progress(message: str) -> None:
    print(f"[train {datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- reading the lake


def read_features(lake_uri: str) -> pd.DataFrame:
    cols = list(dict.fromkeys([*WINDOW_COLUMNS, "sum_cpm_eur"]))
    frame = lake.read(lake_uri, FEATURES_PREFIX, cols)
    for c in ("window_start", "window_end"):
        frame[c] = pd.to_datetime(frame[c])
    return frame


# --------------------------------------------------------------------------- the training set


def training_pairs(features: pd.DataFrame) -> pd.DataFrame:
    """Rows of window h with `label` = the segment's mean clearing CPM in window h+1.

    Point in time: window h+1 is the window that starts where h ends; rows without one, or
    whose h+1 had no fill (no clearing price), get no label and are dropped. Only `label`,
    `label_window_start` and `label_fills` (for the evaluation's subsets, never a feature) come
    from h+1; every other column is window h's own.
    """
    if features.empty:
        return features.assign(label=pd.Series(dtype=float), label_window_start=pd.Series(dtype="datetime64[ns]"))
    current = features.drop_duplicates([*KEY, "window_start"], keep="last")
    following = current.loc[current["fills"] > 0, [*KEY, "window_start", "mean_cpm_eur", "fills"]].rename(
        columns={"window_start": "label_window_start", "mean_cpm_eur": "label", "fills": "label_fills"})
    pairs = current.merge(following, left_on=[*KEY, "window_end"], right_on=[*KEY, "label_window_start"],
                          how="inner", validate="one_to_one")
    # The model and both baselines need a CPM of window h.
    return pairs[pairs["fills"] > 0].reset_index(drop=True)


def split_by_time(pairs: pd.DataFrame, eval_days: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.Timestamp]:
    """(train, held out, boundary): labels from the last `eval_days` days are held out."""
    days = pairs["label_window_start"].dt.floor("D")
    distinct = sorted(days.unique())
    if len(distinct) < eval_days + 1:
        raise TrainingError(f"{len(distinct)} day(s) of labelled history; need more than --eval-days {eval_days}")
    boundary = pd.Timestamp(distinct[-eval_days])
    return pairs[days < boundary], pairs[days >= boundary], boundary


# --------------------------------------------------------------------------- baselines and metrics


def historical_means(train: pd.DataFrame) -> pd.DataFrame:
    """Per segment, the fill-weighted mean clearing CPM of its training windows."""
    g = train.groupby(KEY)[["sum_cpm_eur", "fills"]].sum()
    return (g["sum_cpm_eur"] / g["fills"]).rename("historical_mean").reset_index()


def baseline_predictions(train: pd.DataFrame, held_out: pd.DataFrame) -> dict[str, np.ndarray]:
    """Persistence (window h's CPM) and the segment's historical mean (else its level's)."""
    means = historical_means(train)
    level_mean = train.groupby("level").apply(lambda g: g["sum_cpm_eur"].sum() / g["fills"].sum(),
                                             include_groups=False)
    hist = held_out[KEY].merge(means, on=KEY, how="left")["historical_mean"]
    hist = hist.fillna(held_out["level"].map(level_mean).reset_index(drop=True))
    return {"persistence": held_out["mean_cpm_eur"].to_numpy(float), "historical_mean": hist.to_numpy(float)}


def regression_metrics(truth: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    error = predicted - truth
    ss_res = float(np.sum(error**2))
    ss_tot = float(np.sum((truth - truth.mean()) ** 2))
    return {
        "rmse": float(np.sqrt(np.mean(error**2))),
        "mae": float(np.mean(np.abs(error))),
        "r2": 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan"),
    }


# A label of few fills is mostly bid noise: the evaluation also reports the rows whose label
# window had at least this many fills (a well-measured clearing price).
WELL_MEASURED_FILLS = 30


def metrics_table(held_out: pd.DataFrame, predictions: dict[str, np.ndarray]) -> dict[str, dict[str, dict]]:
    """{subset: {predictor: metrics}}: all held-out rows, per level, and well-measured labels."""
    subsets = {"all": np.ones(len(held_out), bool)}
    subsets |= {level: (held_out["level"] == level).to_numpy() for level in sorted(held_out["level"].unique())}
    subsets[f"fills>={WELL_MEASURED_FILLS}"] = (held_out["label_fills"] >= WELL_MEASURED_FILLS).to_numpy()
    table: dict[str, dict[str, dict]] = {}
    for subset, mask in subsets.items():
        if not mask.any():
            continue
        y = held_out["label"].to_numpy(float)[mask]
        table[subset] = {name: regression_metrics(y, p[mask]) | {"rows": int(mask.sum())}
                         for name, p in predictions.items()}
    return table


def format_metrics(table: dict[str, dict[str, dict]]) -> str:
    lines = [f"{'rows':<10} {'predictor':<16} {'n':>8} {'RMSE EUR':>9} {'MAE EUR':>8} {'R^2':>7}"]
    for subset, by_name in table.items():
        for name, m in by_name.items():
            lines.append(f"{subset:<10} {name:<16} {m['rows']:>8,} {m['rmse']:>9.4f} {m['mae']:>8.4f} {m['r2']:>7.3f}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- training


@dataclass
class TrainedModel:
    version: str
    booster: object  # xgboost.Booster
    features: tuple[str, ...]
    summary: dict
    held_out: pd.DataFrame

    curves: revenue_curves.RevenueCurveModel | None = None

    @property
    def beats_persistence(self) -> bool:
        """The promotion gate: a better CPM prediction than the window's own mean CPM (what the
        job uses without a model). The historical mean is reported beside it, not required: on
        the first-price market a segment's mean clearing CPM is stable, and the floors come from
        the revenue curves, whose worth training.floor_ab measures in revenue."""
        m = self.summary["metrics"]["all"]
        return m["model"]["rmse"] < m["persistence"]["rmse"]


def fit_booster(train: pd.DataFrame, features: tuple[str, ...] = FEATURES, rounds: int = BOOST_ROUNDS):  # noqa: ANN201
    import xgboost as xgb

    matrix = xgb.DMatrix(model_inputs(train, features).to_numpy(), label=train["label"].to_numpy(float),
                         feature_names=list(features), missing=np.nan)
    return xgb.train(XGB_PARAMS, matrix, num_boost_round=rounds)


def train_model(features: pd.DataFrame, eval_days: int, version: str) -> TrainedModel:
    pairs = training_pairs(features)
    if pairs.empty:
        raise TrainingError("no segment has two consecutive windows with fills: nothing to learn from")
    train, held_out, boundary = split_by_time(pairs, eval_days)
    progress(f"training set: {len(train):,} rows (labels before {boundary:%Y-%m-%d}), "
             f"held out: {len(held_out):,} rows; {len(FEATURES)} features")
    t0 = time.perf_counter()
    booster = fit_booster(train)
    progress(f"boosted {BOOST_ROUNDS} rounds in {time.perf_counter() - t0:.1f} s")
    model = model_store.LoadedModel(version, booster, FEATURES)
    predictions = {"model": model.predict(model_inputs(held_out)), **baseline_predictions(train, held_out)}
    summary = {
        "version": version,
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "features": list(FEATURES),
        "params": XGB_PARAMS | {"rounds": BOOST_ROUNDS},
        "train_window": {"from": str(train["window_start"].min()), "to": str(boundary)},
        "eval_window": {"from": str(boundary), "to": str(held_out["label_window_start"].max())},
        "rows": {"train": len(train), "held_out": len(held_out)},
        "label": "mean clearing CPM (EUR) of the segment's next window",
        "goal_rmse_eur": GOAL_RMSE_EUR,
        "metrics": metrics_table(held_out, predictions),
    }
    return TrainedModel(version, booster, FEATURES, summary, held_out)


def label_noise_rmse(lake_uri: str, held_out: pd.DataFrame) -> float | None:
    """The RMSE a perfect predictor of the expected clearing CPM would still show on these labels.

    A label is the mean of the window's `fills` clearing prices, so it carries sampling noise of
    variance s^2 / fills (s^2: the variance of those prices, from raw/). No model can predict that
    noise: sqrt(mean(s^2 / fills)) over the held-out rows is the floor under any RMSE here.
    """
    start, end = held_out["label_window_start"].min(), held_out["label_window_start"].max() + pd.Timedelta("1h")
    where = (ds.field("event_time") >= start.to_pydatetime()) & (ds.field("event_time") < end.to_pydatetime())
    fields = sorted({f for names in rules.SEGMENT_KEY_FIELDS.values() for f in names})
    raw = lake.read(lake_uri, RAW_PREFIX, [*fields, "impression_id", "event_time", "filled", "cpm_eur"], where)
    raw = raw[raw["filled"]].drop_duplicates("impression_id")
    if raw.empty:
        return None
    window = held_out["label_window_start"].iloc[0] - held_out["window_start"].iloc[0]
    raw["label_window_start"] = raw["event_time"].dt.floor(window)
    frames = []
    for level in rules.SEGMENT_KEY_FIELDS:
        keyed = raw.assign(level=level, segment_key=rules.segment_key_column(raw, level))
        frames.append(keyed.groupby(["level", "segment_key", "label_window_start"])["cpm_eur"].agg(["var", "count"]))
    spread = pd.concat(frames).reset_index()
    rows = held_out[[*KEY, "label_window_start"]].merge(spread, on=[*KEY, "label_window_start"], how="left")
    # A single fill has no observable spread: it gets its level's median variance.
    variance = rows["var"].fillna(rows.groupby("level")["var"].transform("median"))
    noise = (variance / rows["count"]).to_numpy(float)
    return float(np.sqrt(np.nanmean(noise)))


def training_baseline(lake_uri: str, start: pd.Timestamp, end: pd.Timestamp) -> drift.Baseline:
    """Drift bins of the raw events of the training window [start, end)."""
    where = (ds.field("event_time") >= start.to_pydatetime()) & (ds.field("event_time") < end.to_pydatetime())
    raw = lake.read(lake_uri, RAW_PREFIX, list(drift.DRIFT_FEATURES), where)
    if raw.empty:
        raise TrainingError(f"no raw events in {lake_uri}/{RAW_PREFIX} between {start} and {end} "
                            "for the drift baseline")
    progress(f"drift baseline from {len(raw):,} raw events")
    return drift.build_baseline(raw)


def raw_auctions(lake_uri: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """The distinct auctions of raw/ in [start, end) with what the revenue model and gate read."""
    where = (ds.field("event_time") >= start.to_pydatetime()) & (ds.field("event_time") < end.to_pydatetime())
    columns = ["impression_id", "event_time", "country", "device_category", "format", "inventory_type", "domain",
               "ad_unit", "floor_price_eur", "filled", "cpm_eur", "top_bid_eur"]
    return lake.read(lake_uri, RAW_PREFIX, columns, where).drop_duplicates("impression_id").reset_index(drop=True)


def train_revenue_curves(lake_uri: str, start: pd.Timestamp, end: pd.Timestamp
                         ) -> tuple[revenue_curves.RevenueCurveModel | None, dict]:
    """Revenue curves from the raw auctions of [start, end) (training/revenue_model.py); None
    when the logs hold no exploration floors to learn the floor's effect from."""
    raw = raw_auctions(lake_uri, start, end)
    explored = float((raw["floor_price_eur"] != rules.STATIC_FLOOR_EUR).mean()) if len(raw) else 0.0
    info = {"auctions": len(raw), "share_not_at_static_floor": round(explored, 4)}
    try:
        t0 = time.perf_counter()
        curves = revenue_model.train(raw)
    except ValueError as err:
        progress(f"no revenue curves: {err}")
        return None, info | {"skipped": str(err)}
    progress(f"revenue curves from {len(raw):,} auctions ({explored:.1%} not at the static floor) "
             f"in {time.perf_counter() - t0:.1f} s")
    return curves, info


def revenue_gate_decision(lake_uri: str, curves: revenue_curves.RevenueCurveModel, start: pd.Timestamp,
                          end: pd.Timestamp) -> dict:
    """training/revenue_gate.py on the held-out days' raw auctions: the candidate's floors against
    the current model's (its revenue curves; the static floor when it has none)."""
    raw = raw_auctions(lake_uri, start, end)
    settings = PolicySettings()
    if raw.empty:
        return {"promote": False, "reason": f"no raw auctions between {start} and {end}", "champion": None}
    candidate = revenue_gate.AuctionCurves.of(curves, raw)
    champion_ref = model_store.current_model(lake_uri)
    champion_curves = None
    if champion_ref is not None:
        try:
            champion_curves = model_store.load_model(champion_ref).curves
        except model_store.ModelStoreError as err:
            progress(f"the current model {champion_ref.version} does not load ({err}); the gate compares with static")
    champion = (revenue_gate.AuctionCurves.of(champion_curves, raw).policy_floors(settings)
                if champion_curves is not None else np.full(len(raw), settings.static_floor_eur))
    gate = revenue_gate.evaluate(raw, {"champion": champion, "candidate": candidate.policy_floors(settings)},
                                 settings, candidate)
    named = champion_ref.version if champion_curves is not None and champion_ref else "static floor"
    progress(f"revenue gate against {named} on {len(raw):,} held-out auctions: "
             f"{'promote' if gate.promote else 'refuse'}: {gate.reason}")
    return gate.summary() | {"champion": named, "window": {"from": str(start), "to": str(end)}}


def new_version() -> str:
    """Versions are UTC timestamps: they sort in time and read as a number in the version gauge."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def version_files(trained: TrainedModel, baseline: drift.Baseline) -> dict[str, bytes]:
    files = {
        model_store.BOOSTER_FILE: bytes(trained.booster.save_raw("ubj")),
        model_store.FEATURES_FILE: json.dumps({"features": list(trained.features)}).encode(),
        model_store.TRAINING_FILE: json.dumps(trained.summary, indent=1, default=str).encode(),
        model_store.BASELINE_FILE: baseline.to_json().encode(),
    }
    return files | (trained.curves.to_files() if trained.curves is not None else {})


def backfill_if_empty(lake_uri: str, days: float, rate: float) -> None:
    """On a fresh machine: simulated history (simulator.market) for a local lake with none."""
    if not lake.read(lake_uri, FEATURES_PREFIX, ["window_start"]).empty:
        return
    from simulator.market import Exploration, Market, backfill

    if urlparse(lake_uri).scheme != "file":
        raise TrainingError(f"{lake_uri} has no feature history, and simulated history is only written to local lakes")
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - pd.Timedelta(days=days)
    progress(f"no feature history in {lake_uri}: backfilling {days:g} simulated days at {rate:g} events/s")
    # The publisher's logs carry exploration floors (10% random, 2% no floor), so a revenue
    # model can learn how revenue answers the floor.
    market = Market(exploration=Exploration(share=0.10, holdout=0.02))
    stats = backfill(market, urlparse(lake_uri).path, start, days, rate, progress=progress)
    progress(f"backfilled {stats['events']:,} events, {stats['feature_rows']:,} segment windows")


def run_training(lake_uri: str, eval_days: int, version: str | None = None,
                 recent_days: float | None = None) -> TrainedModel:
    """Train a version into the challenger slot. `recent_days`: only the feature windows of the
    lake's last that many whole UTC days (back from the end of its latest window) are used: the
    MLOps loop's retraining on the recent window (training/mlops.py)."""
    version = version or new_version()
    progress(f"reading {lake_uri}/{FEATURES_PREFIX}")
    features = read_features(lake_uri)
    if recent_days is not None and not features.empty:
        since = features["window_end"].max().ceil("D") - pd.Timedelta(days=recent_days)
        features = features[features["window_start"] >= since].reset_index(drop=True)
        progress(f"the recent window: feature windows from {since}")
    if features.empty:
        raise TrainingError(f"no feature history under {lake_uri}/{FEATURES_PREFIX}: run the job or backfill first "
                            "(make train backfills simulated history when the lake has none)")
    progress(f"{len(features):,} segment windows, {features['window_start'].min()} .. {features['window_end'].max()}")
    trained = train_model(features, eval_days, version)
    progress("label noise floor from raw/ of the held-out days")
    trained.summary["label_noise_rmse"] = label_noise_rmse(lake_uri, trained.held_out)
    window = trained.summary["train_window"]
    baseline = training_baseline(lake_uri, pd.Timestamp(window["from"]), pd.Timestamp(window["to"]))
    trained.curves, trained.summary["revenue_curves"] = train_revenue_curves(
        lake_uri, pd.Timestamp(window["from"]), pd.Timestamp(window["to"]))
    if trained.curves is not None:
        held = trained.summary["eval_window"]
        trained.summary["revenue_gate"] = revenue_gate_decision(
            lake_uri, trained.curves, pd.Timestamp(held["from"]), pd.Timestamp(held["to"]) + pd.Timedelta("1h"))
    folder = model_store.write_version(lake_uri, "challenger", version, version_files(trained, baseline))
    progress(f"wrote {folder}")
    return trained


# --------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in ("train", "promote"):
        argv = ["train", *argv]
    parser = argparse.ArgumentParser(prog="python -m training.train", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_train = sub.add_parser("train", help="train a version into the challenger slot (the default command)")
    p_train.add_argument("--lake", required=True, help="lake root: file:///... or s3://bucket")
    p_train.add_argument("--eval-days", type=int, default=3, help="latest days held out for evaluation")
    p_train.add_argument("--version", default=None, help="version name (default: UTC timestamp)")
    p_train.add_argument("--promote", action="store_true", help="make it current if it passes the gate")
    p_train.add_argument("--gate", choices=("revenue", "persistence"), default="revenue",
                         help="revenue: the revenue gate on the held-out days (training/revenue_gate.py; "
                              "persistence when the version has no revenue curves); persistence: the CPM model "
                              "beats persistence")
    p_train.add_argument("--backfill-if-empty", type=float, default=0.0, metavar="DAYS",
                         help="a local lake with no feature history gets DAYS of simulated history first")
    p_train.add_argument("--backfill-rate", type=float, default=29.0,
                         help="mean events/s of that history (default 29: 5%% of the 50M/day volume)")
    p_promote = sub.add_parser("promote", help="make a version the current model (manifest written last)")
    p_promote.add_argument("--lake", required=True)
    p_promote.add_argument("--version", required=True)
    p_promote.add_argument("--from", dest="source", choices=("challenger", "champion"), default="challenger",
                           help="champion: roll back to a version promoted before")
    args = parser.parse_args(argv)

    try:
        if args.command == "promote":
            ref = model_store.promote(args.lake, args.version, args.source)
            progress(f"current model is now {ref.version} ({ref.uri})")
            return 0
        if args.backfill_if_empty > 0:
            backfill_if_empty(args.lake, args.backfill_if_empty, args.backfill_rate)
        trained = run_training(args.lake, args.eval_days, args.version)
    except (TrainingError, lake.LakeError, model_store.ModelStoreError) as err:
        print(f"training failed: {err}", file=sys.stderr)
        return 2
    print(format_metrics(trained.summary["metrics"]))
    rmse = trained.summary["metrics"]["all"]["model"]["rmse"]
    noise = trained.summary.get("label_noise_rmse")
    if noise is not None:
        print(f"label noise floor (sampling noise of the held-out labels, no model can beat it): RMSE {noise:.4f} EUR")
    print(f"version {trained.version}: held-out RMSE {rmse:.4f} EUR (goal < {GOAL_RMSE_EUR}); "
          f"beats persistence: {trained.beats_persistence}; revenue curves: "
          f"{'yes' if trained.curves is not None else 'no (no exploration floors in the logs)'}")
    gate = trained.summary.get("revenue_gate")
    if gate is not None:
        verdict = "promote" if gate["promote"] else "refuse"
        print(f"revenue gate against {gate['champion']}: {verdict}: {gate['reason']}")
    if args.promote:
        if args.gate == "revenue" and gate is not None:
            if not gate["promote"]:
                print(f"not promoted: the revenue gate refused ({gate['reason']})", file=sys.stderr)
                return 3
        elif not trained.beats_persistence:
            print("not promoted: the model does not beat persistence", file=sys.stderr)
            return 3
        ref = model_store.promote(args.lake, trained.version)
        print(f"promoted: current model is now {ref.version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

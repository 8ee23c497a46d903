"""Scoring in the stream: the floor of each closed segment window, from the current model.

`score_floor(<the segment_windows columns of model_features.WINDOW_COLUMNS>)` is a vectorised
(pandas) function: Flink hands it batches of segment-window rows (one row per segment and
window, never per event). For each row it predicts the next window's clearing CPM with the
current booster (reported, and the input of the brief's rule), and sets the floor with the
policy of `Model.floor.policy` (udfs/floor_policy.py):
- `revenue`: the floor that maximises the model's expected revenue curve for the segment and the
  next window's hour, within the clamp bounds, the fill guardrail and the move cap (the cap is
  taken from the last floor this worker set for the segment: a segment's windows always reach
  the same worker while the parallelism stays; after a restart or rescale the first window of
  each segment is not capped). A fine segment the model never saw gets no fine floor (NULL,
  not written): readers use its coarse segment's, which the model does know. A version without
  revenue curves, and the provisional rule, fall back to `brief`;
- `brief`: the brief's rule (rules.floor_price) on the predicted CPM.
It returns ROW(floor_eur, predicted_cpm_eur, model_version, policy, challenger_floor_eur,
challenger_model_version).

Champion and challenger: the manifest names the champion ("version") and may name a challenger
(udfs/model_store.py `read_arms`). The challenger is loaded beside the champion with the same
checks, failure handling and backoff (counted apart, in ChallengerLoadFailures and
ChallengerLoadRetries); a challenger that is not loaded means the champion alone. Each row then
also gets the challenger's floor, from the same policy and settings on the challenger's model, with
its own move-cap memory: challenger_floor_eur and challenger_model_version, NULL where the
challenger did not make the floor (no challenger, a broken prediction, a fine segment its curves
do not know). Without a challenger both are NULL and every other output is unchanged. A row
whose champion floor is NULL is not written at all (pipeline.py), its challenger floor with it.

Model swaps without a restart: a background thread of each worker reads the manifest
(models/production/current/manifest.json) once per `Model.manifest.poll.interval` and loads a
new version beside the one in use, which it then replaces by one reference swap; scoring calls
never read the model store, so an S3 that is slow or swallows connections delays no floor (the
first load happens in `open`, before the first window). What happens when something is wrong:
- no manifest (never promoted): the provisional rule, the window's mean CPM as the prediction,
  version `provisional-mean-cpm`;
- a manifest or version that cannot be read or loaded (corrupt booster, bad feature list, a
  booster that predicts NaN on a probe row), at start or at a swap: the last good model stays
  (or the provisional rule when there is none); logged and counted in ModelLoadFailures. A
  version that failed to load is tried again on later polls with exponential backoff (2, 4,
  8, ... poll intervals, capped), since its files may still be arriving or be repaired in
  place; each new try counts in ModelLoadRetries (and, if it fails too, in ModelLoadFailures).
  A new manifest is tried at once. A manifest that does not parse is not retried (the same
  bytes fail the same way): write it again;
- a prediction that is NaN, infinite or not positive: that row falls back to the provisional
  rule, so no floor ever comes from a broken prediction (counted in FallbackFloors).

Metrics, in the group `kinesisanalytics` (MSF forwards that group to CloudWatch): FloorsScored,
FallbackFloors, ModelLoadFailures, ModelLoadRetries (counters) and ModelVersion (gauge: the version's timestamp
digits, e.g. 20261125170102; 0 = provisional rule; -1 = a version not named by a timestamp), all of the
champion; for the challenger ChallengerFloorsScored (rows given a challenger floor),
ChallengerLoadFailures, ChallengerLoadRetries (counters) and ChallengerModelVersion (gauge, same
digits; 0 = no challenger loaded).

Shipped to the Python workers by value: no repository path on MSF workers.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from pyflink.table import DataTypes, TableEnvironment
from pyflink.table.udf import FunctionContext, ScalarFunction, udf

import udfs
from udfs import floor_policy, model_store, revenue_curves, rules
from udfs.model_features import WINDOW_COLUMNS, model_inputs

PROVISIONAL_MODEL_VERSION = "provisional-mean-cpm"
DEFAULT_SETTINGS = floor_policy.PolicySettings()
METRIC_GROUP = "kinesisanalytics"
FUNCTION_NAME = "score_floor"
_TIMESTAMP_VERSION = re.compile(r"^(\d{8})T(\d{6})Z")

log = logging.getLogger("yield.scoring")

SCORED_TYPE = DataTypes.ROW([
    DataTypes.FIELD("floor_eur", DataTypes.DOUBLE()),
    DataTypes.FIELD("predicted_cpm_eur", DataTypes.DOUBLE()),
    DataTypes.FIELD("model_version", DataTypes.STRING()),
    DataTypes.FIELD("policy", DataTypes.STRING()),
    DataTypes.FIELD("challenger_floor_eur", DataTypes.DOUBLE()),
    DataTypes.FIELD("challenger_model_version", DataTypes.STRING()),
])


def version_gauge(version: str) -> int:
    """The number the ModelVersion gauge shows for a version (CloudWatch takes numbers only)."""
    if version == PROVISIONAL_MODEL_VERSION:
        return 0
    match = _TIMESTAMP_VERSION.match(version)
    return int(match.group(1) + match.group(2)) if match else -1


def floors(rows: pd.DataFrame, predicted_cpm_eur: np.ndarray) -> list[float]:
    """The brief's floor per row: prediction x confidence (data points) x competition
    (prime time of the window, premium share >= 0.5), clamped and rounded."""
    prime = pd.to_datetime(rows["window_start"]).dt.hour.map(rules.is_prime_time)
    return floor_policy.brief_floors(predicted_cpm_eur, rows["auctions"], prime, rows["premium_share"] >= 0.5).tolist()


@dataclass
class ArmState:
    """One arm's model, its load failures and retry backoff, and the floors it set last (the
    memory of its move cap)."""

    name: str
    model: model_store.LoadedModel | None = None
    load_failures: int = 0
    load_retries: int = 0
    last_floors: dict[tuple[str, str], float] = field(default_factory=dict)  # (level, key) -> floor
    # The manifest's version that failed to load: how often in a row, and when to try again.
    failed_ref: model_store.ModelRef | None = None
    failed_loads: int = 0
    retry_at: float = float("inf")

    def clear_failure(self) -> None:
        self.failed_ref, self.failed_loads, self.retry_at = None, 0, float("inf")


class ModelWatcher:
    """The models in use (the champion, and the challenger when the manifest names one), refreshed
    from the manifest at most once per poll interval."""

    def __init__(self, lake_uri: str, poll_interval_s: float, clock: Callable[[], float] = time.monotonic,
                 max_retry_backoff_s: float = 900.0, policy: str = floor_policy.REVENUE,
                 settings: floor_policy.PolicySettings = DEFAULT_SETTINGS,
                 read_manifest: Callable[[str], bytes | None] | None = None):
        self.lake_uri = lake_uri
        # How the manifest's bytes are read (None: model_store.read_bytes); tests give a store that hangs.
        self.read_manifest = read_manifest
        self.policy = floor_policy.check_policy(policy)
        self.settings = settings
        self.poll_interval_s = poll_interval_s
        self.clock = clock
        self.max_retry_backoff_s = max_retry_backoff_s
        self.champion = ArmState("champion")
        self.challenger = ArmState("challenger")
        self._next_poll = float("-inf")
        self._last_manifest: bytes | None = None
        self._poller: threading.Thread | None = None
        self._stop_polling = threading.Event()

    def start_background(self) -> None:
        """From now on the manifest is polled by a daemon thread and `score` never polls: a
        scoring call never waits on the model store. The thread only swaps references (an arm's
        model), which `score` reads once per batch, so a batch is scored by one version."""
        if self._poller is None:
            self._poller = threading.Thread(target=self._poll_loop, name="model-manifest-poll", daemon=True)
            self._poller.start()

    def stop_background(self) -> None:
        self._stop_polling.set()

    def _poll_loop(self) -> None:
        while not self._stop_polling.wait(self.poll_interval_s):
            try:
                self.refresh(force=True)
            except Exception:  # noqa: BLE001 - the poller must outlive any surprise; the next poll tries again
                log.exception("model manifest poll failed")

    # The champion's state under the names the job and its tests have always used.
    @property
    def model(self) -> model_store.LoadedModel | None:
        return self.champion.model

    @model.setter
    def model(self, loaded: model_store.LoadedModel | None) -> None:
        self.champion.model = loaded

    @property
    def load_failures(self) -> int:
        return self.champion.load_failures

    @property
    def load_retries(self) -> int:
        return self.champion.load_retries

    @property
    def last_floors(self) -> dict[tuple[str, str], float]:
        return self.champion.last_floors

    @property
    def version(self) -> str:
        return self.model.version if self.model else PROVISIONAL_MODEL_VERSION

    @property
    def challenger_version(self) -> str | None:
        return self.challenger.model.version if self.challenger.model else None

    def refresh(self, force: bool = False) -> None:
        """Look at the manifest if the poll interval has passed (`force`: now)."""
        now = self.clock()
        if now < self._next_poll and not force:
            return
        self._next_poll = now + self.poll_interval_s
        try:
            uri = model_store.manifest_uri(self.lake_uri)
            raw = self.read_manifest(uri) if self.read_manifest else model_store.read_bytes(uri, missing_ok=True)
        except model_store.ModelStoreError as err:
            self._failed(self.champion, f"manifest unreadable: {err}")
            return
        if raw is None:
            return  # never promoted
        if raw == self._last_manifest:
            for arm in (self.champion, self.challenger):
                if arm.failed_ref is not None and now >= arm.retry_at:
                    arm.load_retries += 1
                    self._load(arm, arm.failed_ref, now)
            return  # nothing changed since the last look (or not yet time to try again)
        self._last_manifest = raw
        self.champion.clear_failure()
        self.challenger.clear_failure()
        try:
            ref = model_store.parse_manifest(self.lake_uri, raw)
        except Exception as err:  # noqa: BLE001 - whatever is wrong with a manifest, the job keeps scoring
            self._failed(self.champion, str(err))
            return
        if ref is not None and not (self.model and ref.version == self.model.version):
            self._load(self.champion, ref, now)
        self._refresh_challenger(raw, now)

    def _refresh_challenger(self, raw: bytes, now: float) -> None:
        """The challenger the manifest names: loaded when new, dropped when no longer named."""
        try:
            arms = model_store.parse_arms(self.lake_uri, raw)
            ref = arms.challenger if arms is not None else None
        except Exception as err:  # noqa: BLE001 - a bad challenger entry means the champion alone
            self._failed(self.challenger, str(err))
            ref = None
        if ref is None:
            if self.challenger.model is not None:
                log.info("challenger %s stopped", self.challenger.model.version)
            self.challenger.model = None
            self.challenger.last_floors.clear()
        elif not (self.challenger.model and ref.version == self.challenger.model.version):
            self._load(self.challenger, ref, now)

    def _load(self, arm: ArmState, ref: model_store.ModelRef, now: float) -> None:
        try:
            loaded = model_store.load_model(ref)
        except Exception as err:  # noqa: BLE001 - whatever is wrong with a model, the job keeps scoring
            if arm is self.challenger:
                self.challenger.model = None  # not the challenger the manifest names: the champion alone
            self._failed(arm, str(err))
            # Backoff: a version that is still uploading or being repaired is looked at again
            # soon, one that stays broken ever more rarely.
            arm.failed_ref = ref
            arm.failed_loads += 1
            backoff = min(self.max_retry_backoff_s, self.poll_interval_s * 2**arm.failed_loads)
            arm.retry_at = now + backoff
            return
        log.info("%s model %s loaded (was %s)", arm.name, loaded.version,
                 arm.model.version if arm.model else "none")
        arm.model = loaded
        arm.clear_failure()

    def _failed(self, arm: ArmState, reason: str) -> None:
        arm.load_failures += 1
        if arm is self.challenger:
            log.error("challenger model not loaded, scoring with the champion alone: %s", reason)
        else:
            log.error("model not loaded, keeping %s: %s", self.version, reason)

    def score(self, rows: pd.DataFrame) -> tuple[pd.DataFrame, int]:
        """(floor_eur, predicted_cpm_eur, model_version, policy, challenger_floor_eur,
        challenger_model_version) per row, and how many rows fell back to the provisional rule."""
        if self._poller is None:
            self.refresh()
        out, fallback = self._score_arm(self.champion, rows)
        challenger = self.challenger.model
        if challenger is None:
            out["challenger_floor_eur"] = np.full(len(rows), np.nan)
            out["challenger_model_version"] = np.full(len(rows), None, dtype=object)
        else:
            theirs, _ = self._score_arm(self.challenger, rows)
            made = (theirs["model_version"] == challenger.version).to_numpy() & \
                np.isfinite(theirs["floor_eur"].to_numpy(np.float64))
            out["challenger_floor_eur"] = np.where(made, theirs["floor_eur"].to_numpy(np.float64), np.nan)
            out["challenger_model_version"] = np.where(made, challenger.version, None).astype(object)
        return out, fallback

    def _score_arm(self, arm: ArmState, rows: pd.DataFrame) -> tuple[pd.DataFrame, int]:
        """One arm's (floor_eur, predicted_cpm_eur, model_version, policy) per row, and its fallbacks."""
        model = arm.model
        predicted = rows["mean_cpm_eur"].to_numpy(np.float64, copy=True)
        versions = np.full(len(rows), PROVISIONAL_MODEL_VERSION, dtype=object)
        fallback = len(rows)
        if model is not None:
            try:
                model_cpm = model.predict(model_inputs(rows, model.features))
            except Exception as err:  # noqa: BLE001 - a failed prediction means the provisional rule, not a crash
                log.error("model %s failed to predict %d rows: %s", model.version, len(rows), err)
                model_cpm = np.full(len(rows), np.nan)
            good = np.isfinite(model_cpm) & (model_cpm > 0)
            predicted[good] = model_cpm[good]
            versions[good] = model.version
            fallback = int((~good).sum())
        floor = np.asarray(floors(rows, predicted), dtype=np.float64)
        policy = np.full(len(rows), floor_policy.BRIEF, dtype=object)
        curves = model.curves if model is not None else None
        if self.policy == floor_policy.REVENUE and curves is not None and len(rows):
            floor, policy = self._revenue_floors(arm, rows, curves, floor, policy)
            versions = np.where(policy == floor_policy.REVENUE, model.version, versions)
        out = pd.DataFrame({"floor_eur": floor, "predicted_cpm_eur": predicted, "model_version": versions,
                            "policy": policy})
        return out, fallback

    def _revenue_floors(self, arm: ArmState, rows: pd.DataFrame, curves: revenue_curves.RevenueCurveModel,
                        floor: np.ndarray, policy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The revenue policy where the model knows the segment; NULL for fine segments it does not."""
        next_window = pd.to_datetime(rows["window_end"])  # the floor is for the window that starts here
        segments = pd.DataFrame({"level": rows["level"].to_numpy(), "segment_key": rows["segment_key"].to_numpy(),
                                 "hour_of_day": next_window.dt.hour.to_numpy(),
                                 "is_weekend": (next_window.dt.dayofweek >= 5).to_numpy()})
        try:
            revenue, fill, known = curves.curves(segments, floor_policy.FLOOR_GRID)
        except Exception as err:  # noqa: BLE001 - broken curves mean the brief's rule, not a crash
            log.error("revenue curves of the %s arm failed on %d rows: %s", arm.name, len(rows), err)
            return floor, policy
        good = known & np.isfinite(revenue).all(axis=1) & np.isfinite(fill).all(axis=1)
        keys = list(zip(segments["level"], segments["segment_key"], strict=True))
        previous = np.array([arm.last_floors.get(k, np.nan) for k in keys])
        floor = floor.copy()
        if good.any():
            chosen = floor_policy.revenue_floors(floor_policy.FLOOR_GRID, revenue[good], fill[good], previous[good],
                                                 self.settings)
            floor[good] = chosen
            policy = np.where(good, floor_policy.REVENUE, policy)
            arm.last_floors.update((keys[i], f) for i, f in zip(np.flatnonzero(good), chosen, strict=True))
        unknown_fine = ~known & (segments["level"].to_numpy() == rules.FINE)
        floor[unknown_fine] = np.nan  # left to the coarse segment's floor
        return floor, policy


class ScoreFloor(ScalarFunction):
    """The SQL function: a ModelWatcher per parallel instance, and its metrics."""

    def __init__(self, lake_uri: str, poll_interval_ms: int, s3_endpoint: str | None = None,
                 policy: str = floor_policy.REVENUE,
                 settings: floor_policy.PolicySettings = DEFAULT_SETTINGS):
        self.lake_uri = lake_uri
        self.poll_interval_ms = poll_interval_ms
        self.s3_endpoint = s3_endpoint
        self.policy = policy
        self.settings = settings

    def open(self, function_context: FunctionContext) -> None:
        if self.s3_endpoint:  # the S3 stand-in locally; on MSF unset (default endpoint, the app's role)
            os.environ.setdefault(model_store.S3_ENDPOINT_ENV, self.s3_endpoint)
        self.watcher = ModelWatcher(self.lake_uri, self.poll_interval_ms / 1000.0, policy=self.policy,
                                    settings=self.settings)
        group = function_context.get_metric_group().add_group(METRIC_GROUP)
        self.scored = group.counter("FloorsScored")
        self.fallbacks = group.counter("FallbackFloors")
        self.failures = group.counter("ModelLoadFailures")
        self.retries = group.counter("ModelLoadRetries")
        group.gauge("ModelVersion", lambda: version_gauge(self.watcher.version))
        self.challenger_scored = group.counter("ChallengerFloorsScored")
        self.challenger_failures = group.counter("ChallengerLoadFailures")
        self.challenger_retries = group.counter("ChallengerLoadRetries")
        group.gauge("ChallengerModelVersion", lambda: version_gauge(self.watcher.challenger_version or
                                                                    PROVISIONAL_MODEL_VERSION))
        self._reported_failures = 0
        self._reported_retries = 0
        self._reported_challenger = (0, 0)
        # Load (or fail to load) at start, not at the first window. A failure here is counted
        # with the first batch: metrics updated outside a batch never reach Flink.
        self.watcher.refresh()
        self.watcher.start_background()

    def close(self) -> None:
        self.watcher.stop_background()

    def _report_failures(self) -> None:
        self.failures.inc(self.watcher.load_failures - self._reported_failures)
        self._reported_failures = self.watcher.load_failures
        self.retries.inc(self.watcher.load_retries - self._reported_retries)
        self._reported_retries = self.watcher.load_retries

    def _report_challenger(self) -> None:
        challenger, (failures, retries) = self.watcher.challenger, self._reported_challenger
        self.challenger_failures.inc(challenger.load_failures - failures)
        self.challenger_retries.inc(challenger.load_retries - retries)
        self._reported_challenger = (challenger.load_failures, challenger.load_retries)

    def is_deterministic(self) -> bool:
        return False  # the answer depends on the model in use: never fold or duplicate the call

    def eval(self, *columns: pd.Series) -> pd.DataFrame:
        rows = pd.DataFrame(dict(zip(WINDOW_COLUMNS, columns, strict=True)))
        out, fallback = self.watcher.score(rows)
        self._report_failures()
        self._report_challenger()
        self.scored.inc(len(rows))
        self.fallbacks.inc(fallback)
        self.challenger_scored.inc(int(out["challenger_model_version"].notna().sum()))
        return out


def score_floor_function(lake_uri: str, poll_interval_ms: int, s3_endpoint: str | None = None,  # noqa: ANN201
                         policy: str = floor_policy.REVENUE,
                         settings: floor_policy.PolicySettings = DEFAULT_SETTINGS):
    udfs.ship_by_value()
    return udf(ScoreFloor(lake_uri, poll_interval_ms, s3_endpoint, policy, settings), result_type=SCORED_TYPE,
               func_type="pandas")


def register(t_env: TableEnvironment, lake_uri: str, poll_interval_ms: int, s3_endpoint: str | None = None,
             policy: str = floor_policy.REVENUE,
             settings: floor_policy.PolicySettings = DEFAULT_SETTINGS) -> None:
    t_env.create_temporary_function(FUNCTION_NAME, score_floor_function(lake_uri, poll_interval_ms, s3_endpoint,
                                                                        policy, settings))


def call_sql(source_alias: str = "") -> str:
    """The SQL call on a segment_windows row: score_floor(level, segment_key, ...)."""
    prefix = f"{source_alias}." if source_alias else ""
    return f"{FUNCTION_NAME}({', '.join(prefix + c for c in WINDOW_COLUMNS)})"

"""The drift operator: once per window, bin counts in, drift records and CloudWatch metrics out.

The job counts each window's live values into the grid's cells in the JVM (DRIFT_HISTOGRAM) and
calls `DriftVerdict` once per window with those counts (flink_jobs/drift_graph.py). It compares
them with the current baseline (udfs.drift.window_drift, the same code the offline checks use),
publishes GlobalDriftScore and FeatureDriftScore (dimension FeatureName) with batched
PutMetricData, and returns one drift record per feature for the Parquet sink.

Where the baseline comes from, re-read every window (a few small files per window):
1. the current model version's baseline.json (udfs.model_store): a model swap brings a new
   baseline without a restart, and since every baseline is counted over the same fixed grid, no
   new SQL either;
2. until a model exists, the lake baseline `models/lake_baseline/baseline.json`, computed from
   the lake's raw events by the same code (`python -m training.baseline`);
3. with neither, every record says NO_BASELINE and no metric is published.

CloudWatch is best effort: after `max_attempts` (botocore's standard retry mode) a window's
metrics are logged as lost and the job goes on; the Parquet drift record is the durable copy.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pyflink.table import DataTypes
from pyflink.table.udf import TableFunction, udtf

import udfs
from udfs import drift, model_store
from udfs.aws import aws_client, basic_credentials
from udfs.drift_thresholds import DriftSettings

log = logging.getLogger("yield.drift")

LAKE_BASELINE = "models/lake_baseline/baseline.json"
LAKE_BASELINE_VERSION = "lake-baseline"
GLOBAL_METRIC = "GlobalDriftScore"
FEATURE_METRIC = "FeatureDriftScore"
FEATURE_DIMENSION = "FeatureName"
PUT_METRIC_DATA_BATCH = 1000  # the API's limit of metric data items per request
# CloudWatch refuses data points older than two weeks or more than two hours ahead.
METRIC_MAX_AGE = timedelta(days=14) - timedelta(hours=1)
METRIC_MAX_AHEAD = timedelta(hours=2) - timedelta(minutes=5)

# One drift record per feature and window (schemas/sql/drift_records.sql without the window
# and partition columns, which SQL adds).
RECORD_FIELDS: tuple[tuple[str, Any], ...] = (
    ("feature", DataTypes.STRING()),
    ("status", DataTypes.STRING()),
    ("level", DataTypes.STRING()),
    ("statistic", DataTypes.DOUBLE()),
    ("error_bound", DataTypes.DOUBLE()),
    ("live_count", DataTypes.BIGINT()),
    ("baseline_count", DataTypes.BIGINT()),
    ("cells", DataTypes.INT()),
    ("baseline_version", DataTypes.STRING()),
    ("global_score", DataTypes.DOUBLE()),
    ("global_level", DataTypes.STRING()),
    ("threshold", DataTypes.DOUBLE()),
)


def lake_baseline_uri(lake_uri: str) -> str:
    return model_store.join(lake_uri, LAKE_BASELINE)


class BaselineSource:
    """The baseline to compare with now: the current model's, else the lake's, else none."""

    def __init__(self, lake_uri: str):
        self.lake_uri = lake_uri
        self._model_version: str | None = None
        self._model_baseline: drift.Baseline | None = None

    def current(self) -> tuple[str | None, drift.Baseline | None]:
        try:
            ref = model_store.current_model(self.lake_uri)
            if ref is not None:
                if ref.version != self._model_version:  # a swap: read the new version's baseline once
                    self._model_baseline = model_store.load_baseline(ref)
                    self._model_version = ref.version
                    log.info("drift baseline: model version %s", ref.version)
                return ref.version, self._model_baseline
            raw = model_store.read_bytes(lake_baseline_uri(self.lake_uri), missing_ok=True)
            if raw is None:
                return None, None
            return LAKE_BASELINE_VERSION, drift.Baseline.from_json(raw.decode("utf-8"))
        except (model_store.ModelStoreError, ValueError, KeyError) as err:
            # A broken baseline must not stop the floors: the records say NO_BASELINE and the log says why.
            log.error("drift baseline unreadable, reporting NO_BASELINE: %s", err)
            self._model_version = None
            return None, None


def metric_timestamp(window_end: datetime, now: datetime) -> datetime:
    """The window's end, moved into what CloudWatch accepts (replays of old data land at the edge)."""
    return min(max(window_end, now - METRIC_MAX_AGE), now + METRIC_MAX_AHEAD)


def metric_data(verdict: drift.WindowDrift, timestamp: datetime) -> list[dict[str, Any]]:
    """The window's data points; a feature without a statistic (NO_DATA, ...) publishes nothing."""
    data: list[dict[str, Any]] = []
    if verdict.global_score is not None:
        data.append({"MetricName": GLOBAL_METRIC, "Value": verdict.global_score, "Timestamp": timestamp,
                     "Unit": "None"})
    for feature in verdict.features:
        if feature.statistic is not None:
            data.append({"MetricName": FEATURE_METRIC, "Value": feature.statistic, "Timestamp": timestamp,
                         "Unit": "None", "Dimensions": [{"Name": FEATURE_DIMENSION, "Value": feature.feature}]})
    return data


def publish(client: Any, namespace: str, data: Sequence[dict[str, Any]]) -> bool:
    """PutMetricData in batches; False (and a log line) if a batch still fails after the client's retries."""
    ok = True
    for start in range(0, len(data), PUT_METRIC_DATA_BATCH):
        batch = list(data[start:start + PUT_METRIC_DATA_BATCH])
        try:
            client.put_metric_data(Namespace=namespace, MetricData=batch)
        except Exception as err:  # noqa: BLE001 - any failure: the Parquet record keeps the figures
            log.error("PutMetricData to %s failed after retries, %d data points lost: %s", namespace, len(batch), err)
            ok = False
    return ok


def cloudwatch_client(settings: Mapping[str, Any]) -> Any:
    return aws_client(
        "cloudwatch", settings.get("endpoint") or None, settings["region"],
        credentials=basic_credentials(settings.get("credentials", {})),
        max_attempts=int(settings["max_attempts"]), read_timeout=10)


def drift_rows(version: str | None, verdict: drift.WindowDrift, grid: Mapping[str, Sequence[float]]) -> Iterator[tuple]:
    for feature in verdict.features:
        yield (feature.feature, feature.status, feature.level, feature.statistic, feature.error_bound,
               feature.live_count, feature.baseline_count, 2 * len(grid[feature.feature]) + 1, version,
               verdict.global_score, verdict.level, feature.threshold)


class DriftVerdict(TableFunction):
    """drift_verdict(window_start, window_end, cells_1, ..., cells_n) -> one row per feature.

    Arguments after the window are the features' cell counts in the order of `grid`. `settings`
    (Monitoring.drift.*) picks the levels: the seed's, or thresholds calibrated with the baseline.
    """

    def __init__(self, lake_uri: str, grid: dict[str, tuple[float, ...]], cloudwatch: dict[str, Any],
                 settings: DriftSettings | None = None):
        self.lake_uri = lake_uri
        self.grid = grid
        self.cloudwatch = cloudwatch  # namespace, region, endpoint, credentials, max_attempts
        self.settings = settings or DriftSettings()

    def open(self, function_context: Any) -> None:
        self._baselines = BaselineSource(self.lake_uri)
        self._client = cloudwatch_client(self.cloudwatch)

    def eval(self, window_start: datetime, window_end: datetime, *cells: Sequence[int] | None) -> Iterator[tuple]:
        version, baseline = self._baselines.current()
        verdict = drift.window_drift(baseline, dict(zip(self.grid, cells, strict=True)), self.grid,
                                     self.settings, (window_start, window_end))
        now = datetime.now(UTC)
        publish(self._client, self.cloudwatch["namespace"],
                metric_data(verdict, metric_timestamp(window_end.replace(tzinfo=UTC), now)))
        yield from drift_rows(version, verdict, self.grid)


def drift_verdict_function(lake_uri: str, grid: dict[str, tuple[float, ...]], cloudwatch: dict[str, Any],
                           settings: DriftSettings | None = None) -> Any:
    udfs.ship_by_value()
    return udtf(DriftVerdict(lake_uri, grid, cloudwatch, settings), result_types=[t for _, t in RECORD_FIELDS])

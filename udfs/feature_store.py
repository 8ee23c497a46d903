"""Online feature records: each closed window's segment features, written with boto3 PutRecord.

The Feature Store has no Flink connector, so the writer is a vectorized (pandas) Python
function that the job calls once per segment row of a closed window. Each call gets a
batch of rows (an Arrow batch of the Python bundle) and:

- writes the batch concurrently, at most `max_in_flight` PutRecord calls at a time;
- retries throttling, 5xx and connection errors with exponential backoff and full jitter;
- returns only once every row of the batch is written.

That last point is what makes it safe: a checkpoint barrier waits for the Python bundle
to finish, so no checkpoint acknowledges a record that is not in the Feature Store, and
a slow or throttled Feature Store blocks the bundle, which backpressures the job instead
of queueing or dropping records. A record that still fails after `retry_deadline_s`
fails the task: Flink restarts from the last checkpoint and the replay writes the same
record again (PutRecord is an upsert keyed by the record identifier; an equal event time
replaces the same values).

Like udfs/scoring.py, the function is shipped to the Python workers by value: they need
neither this repository nor the job's config, only boto3 and pandas.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from pyflink.table import DataTypes
from pyflink.table.udf import FunctionContext, ScalarFunction, udf

import udfs
from schemas import SCHEMA_DIR, segment_windows
from udfs.aws import aws_client

FEATURE_GROUP_FILE = SCHEMA_DIR / "feature_group.json"
GROUP_PLACEHOLDER = "${feature_group}"

# Error codes worth another attempt: the service is busy or briefly broken, the record is fine.
RETRYABLE_CODES = frozenset({
    "ThrottlingException", "Throttling", "ThrottledException", "RequestThrottled", "TooManyRequestsException",
    "ServiceUnavailable", "InternalFailure", "InternalServerError", "RequestTimeout",
})
BACKOFF_BASE_S = 0.05
BACKOFF_CAP_S = 5.0
METRIC_GROUP = "kinesisanalytics"  # the group MSF forwards to CloudWatch


# --------------------------------------------------------------------------- the feature group


@dataclass(frozen=True)
class FeatureGroupSpec:
    """The parts of schemas/feature_group.json the writer needs."""

    name: str
    record_identifier: str
    event_time: str
    separator: str
    features: tuple[tuple[str, str], ...]  # (FeatureName, FeatureType), in definition order

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.features)


def feature_group_definition(group_name: str, path: Path = FEATURE_GROUP_FILE) -> dict[str, Any]:
    """The schema file with the group name filled in (our own keys included)."""
    text = path.read_text(encoding="utf-8").replace(GROUP_PLACEHOLDER, group_name)
    definition = dict(json.loads(text))
    definition["FeatureDefinitions"] = [*definition["FeatureDefinitions"], *segment_windows.feature_definitions()]
    return definition


def load_spec(group_name: str, path: Path = FEATURE_GROUP_FILE) -> FeatureGroupSpec:
    raw = feature_group_definition(group_name, path)
    return FeatureGroupSpec(
        name=raw["FeatureGroupName"],
        record_identifier=raw["RecordIdentifierFeatureName"],
        event_time=raw["EventTimeFeatureName"],
        separator=raw["RecordIdentifierSeparator"],
        features=tuple((f["FeatureName"], f["FeatureType"]) for f in raw["FeatureDefinitions"]),
    )


# --------------------------------------------------------------------------- records (pure)


def segment_id(level: str, segment_key: str, separator: str = "#") -> str:
    """The record identifier: a segment key is unique only within its level.

    A key may contain the separator (fields are free text; only the key separator is escaped),
    the level never does: the first separator always ends the level, so distinct (level, key)
    pairs give distinct ids without escaping the key. The job's SQL builds the same string.
    """
    if separator in level:
        raise ValueError(f"a level must not contain the record separator {separator!r}: {level!r}")
    return f"{level}{separator}{segment_key}"


def feature_value(value: Any, feature_type: str) -> str | None:
    """A feature as the Feature Store's ValueAsString; None for a missing value (left out of the record).

    Fractional uses repr, the shortest string that reads back as the same double.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    if feature_type == "Integral":
        return str(int(value))
    if feature_type == "Fractional":
        return repr(float(value))
    return str(value)


def put_record_request(spec: FeatureGroupSpec, values: Sequence[Any]) -> dict[str, Any]:
    """PutRecord parameters for one row whose values follow spec.features."""
    record = []
    for (name, feature_type), value in zip(spec.features, values, strict=True):
        text = feature_value(value, feature_type)
        if text is not None:
            record.append({"FeatureName": name, "ValueAsString": text})
    return {"FeatureGroupName": spec.name, "Record": record}


def is_retryable(error: BaseException) -> bool:
    """Throttling, 5xx and connection errors are retried; anything else is the record's or config's fault."""
    from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

    if isinstance(error, ConnectionError | HTTPClientError):
        return True
    if isinstance(error, ClientError):
        code = str(error.response.get("Error", {}).get("Code", ""))
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        return code in RETRYABLE_CODES or status >= 500 or status == 429
    return False


def is_throttle(error: BaseException) -> bool:
    from botocore.exceptions import ClientError

    return isinstance(error, ClientError) and "thrott" in str(error.response.get("Error", {}).get("Code", "")).lower()


def backoff_s(attempt: int, rng: random.Random, base_s: float = BACKOFF_BASE_S, cap_s: float = BACKOFF_CAP_S) -> float:
    """Full jitter: uniform in [0, min(cap, base * 2^(attempt-1))], so retrying writers spread out."""
    return rng.uniform(0.0, min(cap_s, base_s * 2 ** (attempt - 1)))


# --------------------------------------------------------------------------- writing


@dataclass(frozen=True)
class WriterSettings:
    """What a worker needs to reach the Feature Store (from the FeatureStore property group)."""

    region: str
    endpoint: str | None
    access_key: str | None  # None: the default credential chain (the MSF application role)
    secret_key: str | None
    max_in_flight: int
    retry_deadline_s: float


def runtime_client(settings: WriterSettings) -> Any:
    """A Feature Store runtime client that does not retry by itself: the writer owns retries and counts them."""
    keys = (settings.access_key, settings.secret_key or "") if settings.access_key else None
    return aws_client("sagemaker-featurestore-runtime", settings.endpoint, settings.region, credentials=keys,
                      max_attempts=0, max_pool_connections=settings.max_in_flight)


@dataclass
class WriteOutcome:
    attempts: int
    throttled: int


class RecordWriteFailed(RuntimeError):
    """A record kept failing past the retry deadline, or failed for a reason retrying cannot fix."""


def write_with_retries(put: Callable[..., Any], request: dict[str, Any], deadline_s: float,
                       rng: random.Random, sleep: Callable[[float], None] = time.sleep) -> WriteOutcome:
    """One PutRecord until it succeeds; raises RecordWriteFailed when it cannot."""
    started = time.monotonic()
    attempts = throttled = 0
    while True:
        attempts += 1
        try:
            put(**request)
            return WriteOutcome(attempts, throttled)
        except Exception as err:  # noqa: BLE001 - classified right below
            record_id = next((fv["ValueAsString"] for fv in request["Record"]), "?")
            if not is_retryable(err):
                raise RecordWriteFailed(
                    f"PutRecord of {record_id!r} to {request['FeatureGroupName']} failed and is not retryable: "
                    f"{type(err).__name__}: {err}") from err
            throttled += is_throttle(err)
            if time.monotonic() - started > deadline_s:
                raise RecordWriteFailed(
                    f"PutRecord of {record_id!r} to {request['FeatureGroupName']} still failing after "
                    f"{attempts} attempts in {deadline_s:.0f} s (FeatureStore.retry.deadline): "
                    f"{type(err).__name__}: {err}") from err
            sleep(backoff_s(attempts, rng))


class BatchWriter:
    """Writes batches of PutRecord requests, at most `max_in_flight` at a time, each until it succeeds.

    Requests for the same record (a segment's windows) go one after the other, in batch order:
    the store ignores a put older than the record it holds, so a window written after its
    successor would never show up, not even in the Feature Store's offline copy.
    """

    def __init__(self, settings: WriterSettings, record_identifier: str, client: Any = None,
                 rng: random.Random | None = None) -> None:
        self.settings = settings
        self.record_identifier = record_identifier
        self.client = client or runtime_client(settings)
        self.rng = rng or random.Random()
        self.pool = ThreadPoolExecutor(settings.max_in_flight, thread_name_prefix="put-record")

    def _record_id(self, request: dict[str, Any]) -> str:
        return next(fv["ValueAsString"] for fv in request["Record"] if fv["FeatureName"] == self.record_identifier)

    def _write_in_order(self, requests: list[dict[str, Any]]) -> list[WriteOutcome]:
        return [write_with_retries(self.client.put_record, request, self.settings.retry_deadline_s, self.rng)
                for request in requests]

    def write(self, requests: list[dict[str, Any]]) -> list[WriteOutcome]:
        """Returns once every request is written (outcomes in request order); raises the first
        RecordWriteFailed once all writes have ended."""
        by_record: dict[str, list[int]] = {}
        for i, request in enumerate(requests):
            by_record.setdefault(self._record_id(request), []).append(i)
        futures = {self.pool.submit(self._write_in_order, [requests[i] for i in positions]): positions
                   for positions in by_record.values()}
        outcomes: list[WriteOutcome | None] = [None] * len(requests)
        failure = None
        for future, positions in futures.items():
            try:
                for i, outcome in zip(positions, future.result(), strict=True):
                    outcomes[i] = outcome
            except RecordWriteFailed as err:
                failure = failure or err
        if failure is not None:
            raise failure
        return [o for o in outcomes if o is not None]

    def close(self) -> None:
        self.pool.shutdown(wait=True)


class OnlineFeatureWriter(ScalarFunction):
    """Writes a batch of rows (values in spec.features order) and returns each row's attempt count."""

    def __init__(self, spec: FeatureGroupSpec, settings: WriterSettings) -> None:
        self.spec = spec
        self.settings = settings

    def is_deterministic(self) -> bool:
        # It has an effect: the planner must neither fold nor deduplicate its calls.
        return False

    def open(self, function_context: FunctionContext) -> None:
        self.writer = BatchWriter(self.settings, self.spec.record_identifier)
        metrics = function_context.get_metric_group().add_group(METRIC_GROUP)
        self.records_written = metrics.counter("featureStoreRecordsWritten")
        self.retries = metrics.counter("featureStoreRetries")
        self.throttled = metrics.counter("featureStoreThrottled")

    def eval(self, *columns: pd.Series) -> pd.Series:
        requests = [put_record_request(self.spec, row) for row in zip(*columns, strict=True)]
        outcomes = self.writer.write(requests)  # a failure fails the task: Flink replays from the checkpoint
        self.records_written.inc(len(outcomes))
        self.retries.inc(sum(o.attempts - 1 for o in outcomes))
        self.throttled.inc(sum(o.throttled for o in outcomes))
        return pd.Series([o.attempts for o in outcomes], dtype="int64")

    def close(self) -> None:
        self.writer.close()


def writer_function(spec: FeatureGroupSpec, settings: WriterSettings) -> Any:
    """The SQL-callable writer."""
    udfs.ship_by_value()
    return udf(OnlineFeatureWriter(spec, settings), result_type=DataTypes.BIGINT(), func_type="pandas")


# --------------------------------------------------------------------------- reading back


def read_online_records(group_name: str, endpoint: str | None, region: str,
                        segment_ids: Iterable[str]) -> dict[str, dict[str, str]]:
    """The online records of these segments, {segment_id: {feature: value}} (absent ones left out)."""
    ids = sorted(set(segment_ids))
    client = aws_client("sagemaker-featurestore-runtime", endpoint, region)
    found: dict[str, dict[str, str]] = {}
    for i in range(0, len(ids), 100):  # BatchGetRecord takes up to 100 identifiers per call
        answer = client.batch_get_record(Identifiers=[
            {"FeatureGroupName": group_name, "RecordIdentifiersValueAsString": ids[i:i + 100]}])
        if answer["Errors"] or answer["UnprocessedIdentifiers"]:
            raise RuntimeError(f"BatchGetRecord on {group_name}: {answer['Errors'] or 'unprocessed'}")
        found |= {r["RecordIdentifierValueAsString"]: {fv["FeatureName"]: fv["ValueAsString"] for fv in r["Record"]}
                  for r in answer["Records"]}
    return found

"""Online feature records: each closed window's segment features, written with boto3 PutRecord.

The Feature Store has no Flink connector, so the writer is a vectorized (pandas) Python
function that the job calls once per segment row of a closed window. Each call gets a
batch of rows (an Arrow batch of the Python bundle) and:

- writes the batch concurrently, at most `max_in_flight` PutRecord calls at a time, a
  segment's windows one after the other;
- retries throttling, 5xx and connection errors with exponential backoff and full jitter,
  but only until the call's deadline (`write_deadline_s`, FeatureStore.write.deadline,
  default 2 s per batch);
- sheds what is still unwritten then to a bounded retry queue, which a background thread
  of the worker drains (same backoff), and returns.

Why: the writer shares the segment-window operator with the floors. While a call blocks,
the Python bundle blocks, which backpressures that operator and holds FLOORS back; an
outage must never do that (DESIGN.md section 11). Waiting for every row, as this writer
once did, held floors back for as long as the outage lasted (up to the retry deadline
times the batch). Now an outage costs each batch at most `write_deadline_s`.

The queue keeps one record per record identifier: the online record is an upsert of the
segment's latest window, so a newer window supersedes a queued older one (and a write of
a newer window removes it). When it holds `retry_queue_size` records the oldest is
dropped and counted; so is a queued record still failing after `retry_deadline_s`
(FeatureStore.retry.deadline) or rejected by the store. Metrics, in the group MSF
forwards: FeatureStoreRecordsShed (queued for later), FeatureStoreRecordsDropped,
FeatureStoreRetryQueueSize (gauge), beside featureStoreRecordsWritten (the drain's
writes included), featureStoreRetries and featureStoreThrottled.

What this gives up: the call no longer returns only once every row is written, so a
checkpoint may cover a window whose online record is only in the queue, and a record
queued when the job fails, stops or is drained is in no checkpoint and is not replayed.
The exactly-once record of every window is the Parquet history (processed/features/);
the online store holds the latest window of each segment and converges with the
segment's next window or the queue's drain, not with a replay. A record the store
rejects on the hot path (validation, access denied) still fails the task, and Flink
replays from the last checkpoint (PutRecord is an upsert keyed by the record
identifier; an equal event time replaces the same values).

Like udfs/scoring.py, the function is shipped to the Python workers by value: they need
neither this repository nor the job's config, only boto3 and pandas.
"""

from __future__ import annotations

import json
import logging
import math
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
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
DEFAULT_WRITE_DEADLINE_S = 2.0
DEFAULT_RETRY_QUEUE_SIZE = 10_000
LOG = logging.getLogger(__name__)


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
    retry_deadline_s: float  # how long a shed record is retried by the queue before it is dropped
    write_deadline_s: float = DEFAULT_WRITE_DEADLINE_S  # how long one call (one batch) may take
    retry_queue_size: int = DEFAULT_RETRY_QUEUE_SIZE  # records waiting for the drain, at most


def runtime_client(settings: WriterSettings) -> Any:
    """A Feature Store runtime client that does not retry by itself: the writer owns retries and counts them.

    The pool has room for the hot path's calls and the drain's, which run at the same time.
    """
    keys = (settings.access_key, settings.secret_key or "") if settings.access_key else None
    return aws_client("sagemaker-featurestore-runtime", settings.endpoint, settings.region, credentials=keys,
                      max_attempts=0, max_pool_connections=2 * settings.max_in_flight)


@dataclass
class WriteOutcome:
    attempts: int
    throttled: int
    written: bool = True  # False: shed to the retry queue (not written when the call returned)


class RecordWriteFailed(RuntimeError):
    """A record kept failing past the retry deadline, or failed for a reason retrying cannot fix."""


class DeadlinePassed(RecordWriteFailed):
    """A record still failing (retryably) when its deadline came: the caller may queue it."""


def write_with_retries(put: Callable[..., Any], request: dict[str, Any], deadline_s: float,
                       rng: random.Random, sleep: Callable[[float], None] = time.sleep,
                       deadline_property: str = "FeatureStore.retry.deadline") -> WriteOutcome:
    """One PutRecord until it succeeds; raises DeadlinePassed when it is still failing at the deadline
    (no backoff pause runs past it) and RecordWriteFailed when retrying cannot help."""
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
            pause = backoff_s(attempts, rng)
            if time.monotonic() - started + pause > deadline_s:
                raise DeadlinePassed(
                    f"PutRecord of {record_id!r} to {request['FeatureGroupName']} still failing after "
                    f"{attempts} attempts in {deadline_s:g} s ({deadline_property}): "
                    f"{type(err).__name__}: {err}") from err
            sleep(pause)


class WriterStats:
    """Counts kept by any thread of the writer; the function's eval publishes them as metrics.

    (Flink's Python metrics count in the thread that runs the function, so the drain thread
    cannot touch them itself.)
    """

    FIELDS = ("written", "retries", "throttled", "shed", "dropped")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(self.FIELDS, 0)
        self._published = dict.fromkeys(self.FIELDS, 0)

    def add(self, **deltas: int) -> None:
        with self._lock:
            for name, delta in deltas.items():
                self._counts[name] += delta

    def get(self, name: str) -> int:
        with self._lock:
            return self._counts[name]

    def unpublished(self) -> dict[str, int]:
        """What was counted since the last call."""
        with self._lock:
            deltas = {name: self._counts[name] - self._published[name] for name in self.FIELDS}
            self._published = dict(self._counts)
        return deltas


@dataclass
class QueuedRecord:
    request: dict[str, Any]
    event_time: str  # ISO-8601 UTC strings of one format: they compare in time order
    shed_at: float  # time.monotonic() when it was first shed (superseding restarts it)
    attempts: int = 0


class RetryQueue:
    """What the hot path could not write in time, one record per record identifier, oldest first.

    A record is an upsert of its segment's latest window: a newer window supersedes a queued
    older one (its place too: it goes to the back), an older one is not queued at all. Beyond
    `capacity` the oldest record is dropped and counted.
    """

    def __init__(self, capacity: int, stats: WriterStats) -> None:
        self.capacity = capacity
        self.stats = stats
        self._records: OrderedDict[str, QueuedRecord] = OrderedDict()
        self._changed = threading.Condition()

    def __len__(self) -> int:
        with self._changed:
            return len(self._records)

    def offer(self, record_id: str, event_time: str, request: dict[str, Any]) -> None:
        with self._changed:
            held = self._records.get(record_id)
            if held is not None and held.event_time > event_time:
                return  # a newer window of the segment already waits
            self._records.pop(record_id, None)
            self._records[record_id] = QueuedRecord(request, event_time, time.monotonic())
            while len(self._records) > self.capacity:
                self._records.popitem(last=False)
                self.stats.add(dropped=1)
            self._changed.notify_all()

    def written(self, record_id: str, event_time: str) -> None:
        """A window of the record was written: a queued window as old or older is obsolete."""
        with self._changed:
            held = self._records.get(record_id)
            if held is not None and held.event_time <= event_time:
                del self._records[record_id]

    def take(self, count: int, timeout_s: float) -> list[tuple[str, QueuedRecord]]:
        """Up to `count` records from the front (removed), waiting up to `timeout_s` for one."""
        with self._changed:
            if not self._records:
                self._changed.wait(timeout_s)
            return [self._records.popitem(last=False) for _ in range(min(count, len(self._records)))]

    def put_back(self, record_id: str, record: QueuedRecord) -> None:
        """A taken record that failed again goes back to the front, unless a newer one came meanwhile."""
        with self._changed:
            if record_id in self._records:
                return
            self._records[record_id] = record
            self._records.move_to_end(record_id, last=False)
            while len(self._records) > self.capacity:
                self._records.popitem(last=False)
                self.stats.add(dropped=1)

    def clear(self) -> int:
        with self._changed:
            count = len(self._records)
            self._records.clear()
            return count


class _Sequence:
    """One record identifier's requests of a batch, written in order by one pool thread."""

    def __init__(self, positions: list[int], requests: list[dict[str, Any]]) -> None:
        self.positions = positions
        self.requests = requests
        self.outcomes: list[WriteOutcome] = []
        self.lock = threading.Lock()
        self.abandoned = False
        self.failure: RecordWriteFailed | None = None


class BatchWriter:
    """Writes batches of PutRecord requests, at most `max_in_flight` at a time, for at most
    `write_deadline_s` per batch; what is not written by then goes to a RetryQueue that a
    background thread drains.

    Requests for the same record (a segment's windows) go one after the other, in batch order:
    the store ignores a put older than the record it holds, so a window written after its
    successor would never show up, not even in the Feature Store's offline copy.
    """

    def __init__(self, settings: WriterSettings, record_identifier: str, client: Any = None,
                 rng: random.Random | None = None, event_time: str = "event_time") -> None:
        self.settings = settings
        self.record_identifier = record_identifier
        self.event_time = event_time
        self.client = client or runtime_client(settings)
        self.rng = rng or random.Random()
        self.stats = WriterStats()
        self.queue = RetryQueue(settings.retry_queue_size, self.stats)
        self.pool = ThreadPoolExecutor(settings.max_in_flight, thread_name_prefix="put-record")
        self.drain_pool = ThreadPoolExecutor(settings.max_in_flight, thread_name_prefix="put-record-drain")
        self._closing = threading.Event()
        self._drain = threading.Thread(target=self._drain_forever, name="feature-store-drain", daemon=True)
        self._drain.start()

    def _field(self, request: dict[str, Any], name: str) -> str:
        return next((fv["ValueAsString"] for fv in request["Record"] if fv["FeatureName"] == name), "")

    def _record_id(self, request: dict[str, Any]) -> str:
        return self._field(request, self.record_identifier)

    # ------------------------------------------------------------------ the hot path

    def _write_sequence(self, sequence: _Sequence, deadline: float) -> None:
        for request in sequence.requests:
            with sequence.lock:
                if sequence.abandoned or time.monotonic() >= deadline:
                    return  # started too late (the pool was busy): the batch sheds it
            try:
                outcome = write_with_retries(self.client.put_record, request, deadline - time.monotonic(),
                                             self.rng, deadline_property="FeatureStore.write.deadline")
            except DeadlinePassed:
                return  # the batch sheds it (and what follows) when it gives up on this sequence
            except RecordWriteFailed as err:
                sequence.failure = err
                return
            with sequence.lock:
                sequence.outcomes.append(outcome)
                if sequence.abandoned:  # written after the batch gave up on it: no need to queue it
                    self.queue.written(self._record_id(request), self._field(request, self.event_time))
                    self.stats.add(written=1, retries=outcome.attempts - 1, throttled=outcome.throttled)
                    return

    def write(self, requests: list[dict[str, Any]]) -> list[WriteOutcome]:
        """Returns within about `write_deadline_s` (outcomes in request order): each request written,
        or shed to the retry queue (written=False). Raises the first RecordWriteFailed (a record
        the store rejects) once the batch has ended."""
        deadline = time.monotonic() + self.settings.write_deadline_s
        by_record: dict[str, list[int]] = {}
        for i, request in enumerate(requests):
            by_record.setdefault(self._record_id(request), []).append(i)
        sequences = [_Sequence(positions, [requests[i] for i in positions]) for positions in by_record.values()]
        futures = [self.pool.submit(self._write_sequence, s, deadline) for s in sequences]
        wait(futures, timeout=max(0.0, deadline - time.monotonic()))

        outcomes: list[WriteOutcome | None] = [None] * len(requests)
        failure = None
        for sequence in sequences:
            with sequence.lock:
                sequence.abandoned = True
                written = list(sequence.outcomes)
                failure = failure or sequence.failure
                for i, outcome in zip(sequence.positions, written, strict=False):
                    outcomes[i] = outcome
                unwritten = sequence.positions[len(written):]
                if unwritten and sequence.failure is None:
                    newest = requests[unwritten[-1]]  # the others are older windows of the same record
                    self.queue.offer(self._record_id(newest), self._field(newest, self.event_time), newest)
                    self.stats.add(shed=len(unwritten))
                for i in unwritten:
                    outcomes[i] = WriteOutcome(0, 0, written=False)
            for request in sequence.requests[:len(written)]:
                self.queue.written(self._record_id(request), self._field(request, self.event_time))
            self.stats.add(written=len(written), retries=sum(o.attempts - 1 for o in written),
                           throttled=sum(o.throttled for o in written))
        if failure is not None:
            raise failure
        return [o for o in outcomes if o is not None]

    # ------------------------------------------------------------------ the drain

    def _drain_one(self, record_id: str, record: QueuedRecord) -> bool:
        """One attempt; True when the record is done with (written, rejected or expired)."""
        if time.monotonic() - record.shed_at > self.settings.retry_deadline_s:
            self.stats.add(dropped=1)
            LOG.warning("dropped the online record %r (%s): still unwritten after %g s (FeatureStore.retry.deadline)",
                        record_id, record.event_time, self.settings.retry_deadline_s)
            return True
        record.attempts += 1
        try:
            self.client.put_record(**record.request)
        except Exception as err:  # noqa: BLE001 - classified right below
            if not is_retryable(err):
                self.stats.add(dropped=1)
                LOG.error("dropped the online record %r (%s): not retryable: %s: %s",
                          record_id, record.event_time, type(err).__name__, err)
                return True
            self.stats.add(retries=1, throttled=int(is_throttle(err)))
            return False
        self.stats.add(written=1)
        return True

    def _drain_forever(self) -> None:
        failures = 0
        while not self._closing.is_set():
            taken = self.queue.take(self.settings.max_in_flight, timeout_s=0.5)
            if not taken:
                continue
            done = list(self.drain_pool.map(lambda item: self._drain_one(*item), taken))
            for (record_id, record), ok in zip(taken, done, strict=True):
                if not ok:
                    self.queue.put_back(record_id, record)
            failures = 0 if all(done) else failures + 1
            if failures:
                self._closing.wait(backoff_s(failures, self.rng))

    def drain_until_empty(self, timeout_s: float) -> bool:
        """Waits for the queue to empty (tests, benchmarks); True if it did."""
        deadline = time.monotonic() + timeout_s
        while len(self.queue) and time.monotonic() < deadline:
            time.sleep(0.05)
        return not len(self.queue)

    def close(self) -> None:
        """Stops the drain; what is still queued is lost from the online store (the Parquet history has it)."""
        self._closing.set()
        self._drain.join(timeout=self.settings.write_deadline_s)
        lost = self.queue.clear()
        if lost:
            self.stats.add(dropped=lost)
            LOG.warning("closing with %d online records still queued: they are not in the Feature Store", lost)
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.drain_pool.shutdown(wait=False, cancel_futures=True)


class OnlineFeatureWriter(ScalarFunction):
    """Writes a batch of rows (values in spec.features order) and returns each row's attempt count
    (0: shed to the retry queue)."""

    def __init__(self, spec: FeatureGroupSpec, settings: WriterSettings) -> None:
        self.spec = spec
        self.settings = settings

    def is_deterministic(self) -> bool:
        # It has an effect: the planner must neither fold nor deduplicate its calls.
        return False

    def open(self, function_context: FunctionContext) -> None:
        self.writer = BatchWriter(self.settings, self.spec.record_identifier, event_time=self.spec.event_time)
        metrics = function_context.get_metric_group().add_group(METRIC_GROUP)
        self.counters = {
            "written": metrics.counter("featureStoreRecordsWritten"),
            "retries": metrics.counter("featureStoreRetries"),
            "throttled": metrics.counter("featureStoreThrottled"),
            "shed": metrics.counter("FeatureStoreRecordsShed"),
            "dropped": metrics.counter("FeatureStoreRecordsDropped"),
        }
        queue = self.writer.queue
        metrics.gauge("FeatureStoreRetryQueueSize", lambda: len(queue))

    def _publish(self) -> None:
        for name, delta in self.writer.stats.unpublished().items():
            if delta:
                self.counters[name].inc(delta)

    def eval(self, *columns: pd.Series) -> pd.Series:
        requests = [put_record_request(self.spec, row) for row in zip(*columns, strict=True)]
        try:
            outcomes = self.writer.write(requests)  # a rejected record fails the task: Flink replays
        finally:
            self._publish()  # the drain's counts too, since the last call
        return pd.Series([o.attempts for o in outcomes], dtype="int64")

    def close(self) -> None:
        self.writer.close()
        self._publish()


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

"""The floor API's CloudWatch metrics, namespace ``SSMAS/YieldPredictor/Production`` (the seed's):

- ``PredictionLatency`` (Milliseconds): the app's time per answered predict call (the value each
  answer carries as ``latency_ms``; a batch counts once). Sent as value/count pairs rounded to
  0.1 ms, so CloudWatch computes p50/p95/p99 over every request, not over averages.
- ``Predictions`` (Count) with dimension ``Level`` = fine / coarse / static: answers by level
  (a batch counts each of its answers).
- ``Errors`` (Count) with dimension ``Status`` = 400 / 401 / 403 / 413 / 429.
- ``ArmAssigned`` (Count) with dimension ``Arm`` = champion / challenger: predict answers by the arm
  the impression id hashes to (``udfs.arms.arm_for``), and ``ArmServed`` (Count), same dimension:
  answers whose floor came from that arm (a challenger impression gets the champion's floor where
  the item has no challenger floor; static answers count in neither).

``ArmCounts`` keeps the same two counts for the life of the process (never reset by a flush), for
``GET /v2/arms`` and its sample-ratio-mismatch check.

The request path only adds to in-memory counters under a lock; a daemon thread sends them every
``interval_s`` (PutMetricData through ``udfs.aws.aws_client``, with its deadline). A failed send is
counted in ``failures`` and the interval's figures are dropped: metrics never hold up or grow the
request path.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from udfs import arms

NAMESPACE = "SSMAS/YieldPredictor/Production"
LATENCY_METRIC = "PredictionLatency"
PREDICTIONS_METRIC = "Predictions"
ERRORS_METRIC = "Errors"
ARM_ASSIGNED_METRIC = "ArmAssigned"
ARM_SERVED_METRIC = "ArmServed"
MAX_VALUES = 150  # PutMetricData's limit of distinct values per datum
LOG = logging.getLogger(__name__)


class ArmCounts:
    """Predict answers per arm since the process started: the arm each impression was assigned
    (its hash) and the arm whose floor was served; and the sample-ratio-mismatch p-values of both
    against the configured weights."""

    def __init__(self, weights: Mapping[str, int]):
        self.weights = dict(weights)
        self._lock = threading.Lock()
        self.assigned: Counter[str] = Counter()
        self.served: Counter[str] = Counter()

    def add(self, assigned: Counter[str], served: Counter[str]) -> None:
        with self._lock:
            self.assigned.update(assigned)
            self.served.update(served)

    def status(self) -> dict[str, Any]:
        with self._lock:
            assigned, served = dict(self.assigned), dict(self.served)
        return {"weights": self.weights, "assigned": assigned, "served": served,
                "srm_p_value": arms.sample_ratio_mismatch(assigned, self.weights),
                "served_srm_p_value": arms.sample_ratio_mismatch(served, self.weights)}


class Metrics:
    """In-process counters, flushed to CloudWatch by ``flush`` (or the thread ``start`` runs)."""

    def __init__(self, client: Any, *, namespace: str = NAMESPACE, interval_s: float = 60.0,
                 dimensions: dict[str, str] | None = None, clock: Callable[[], float] = time.time):
        self.client = client
        self.namespace = namespace
        self.interval_s = interval_s
        self.dimensions = [{"Name": k, "Value": v} for k, v in (dimensions or {}).items()]
        self.clock = clock
        self.sent = 0
        self.failures = 0
        self._lock = threading.Lock()
        self._latency: Counter[float] = Counter()
        self._levels: Counter[str] = Counter()
        self._errors: Counter[int] = Counter()
        self._assigned: Counter[str] = Counter()
        self._served: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the request path ------------------------------------------------------------------------

    def answered(self, latency_ms: float, levels: Counter[str] | str) -> None:
        with self._lock:
            self._latency[round(latency_ms, 1)] += 1
            if isinstance(levels, str):
                self._levels[levels] += 1
            else:
                self._levels.update(levels)

    def error(self, status: int) -> None:
        with self._lock:
            self._errors[status] += 1

    def count_arms(self, assigned: Counter[str], served: Counter[str]) -> None:
        with self._lock:
            self._assigned.update(assigned)
            self._served.update(served)

    # -- sending ---------------------------------------------------------------------------------

    def _take(self) -> tuple[Counter[float], Counter[str], Counter[int], Counter[str], Counter[str]]:
        with self._lock:
            taken = self._latency, self._levels, self._errors, self._assigned, self._served
            self._latency, self._levels, self._errors = Counter(), Counter(), Counter()
            self._assigned, self._served = Counter(), Counter()
        return taken

    def data(self, latency: Counter[float], levels: Counter[str], errors: Counter[int],
             assigned: Counter[str] | None = None, served: Counter[str] | None = None) -> list[dict[str, Any]]:
        """The MetricData of one interval (empty when nothing happened)."""
        stamp = datetime.fromtimestamp(self.clock(), UTC)
        out: list[dict[str, Any]] = []
        values = sorted(latency.items())
        for i in range(0, len(values), MAX_VALUES):
            chunk = values[i : i + MAX_VALUES]
            out.append({"MetricName": LATENCY_METRIC, "Dimensions": self.dimensions, "Timestamp": stamp,
                        "Unit": "Milliseconds", "Values": [v for v, _ in chunk],
                        "Counts": [float(c) for _, c in chunk]})
        for level, count in sorted(levels.items()):
            out.append({"MetricName": PREDICTIONS_METRIC, "Timestamp": stamp, "Unit": "Count", "Value": float(count),
                        "Dimensions": [*self.dimensions, {"Name": "Level", "Value": level}]})
        for status, count in sorted(errors.items()):
            out.append({"MetricName": ERRORS_METRIC, "Timestamp": stamp, "Unit": "Count", "Value": float(count),
                        "Dimensions": [*self.dimensions, {"Name": "Status", "Value": str(status)}]})
        for name, counts in ((ARM_ASSIGNED_METRIC, assigned or {}), (ARM_SERVED_METRIC, served or {})):
            for arm, count in sorted(counts.items()):
                out.append({"MetricName": name, "Timestamp": stamp, "Unit": "Count", "Value": float(count),
                            "Dimensions": [*self.dimensions, {"Name": "Arm", "Value": arm}]})
        return out

    def flush(self) -> int:
        """Send what was counted since the last flush; the number of data sent (0 on failure)."""
        data = self.data(*self._take())
        if not data:
            return 0
        try:
            for i in range(0, len(data), 1000):  # PutMetricData takes up to 1,000 data per call
                self.client.put_metric_data(Namespace=self.namespace, MetricData=data[i : i + 1000])
        except Exception as err:  # noqa: BLE001 - metrics must never take the service down
            self.failures += 1
            LOG.warning("PutMetricData failed, %d data of this interval dropped: %s", len(data), err)
            return 0
        self.sent += len(data)
        return len(data)

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()

        def loop() -> None:
            while not self._stop.wait(self.interval_s):
                self.flush()

        self._thread = threading.Thread(target=loop, name="floor-api-metrics", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join(timeout=5)
        self._thread = None
        self.flush()

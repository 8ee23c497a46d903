"""The floor API's CloudWatch metrics (serving/metrics.py) sent to moto's CloudWatch: latency of every
answered call, answers by level, errors by status; a CloudWatch that is down costs the interval's
figures, never a request."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from flink_jobs.config import load_config
from serving import api
from serving.keys import ApiKeys, hash_key
from serving.metrics import ERRORS_METRIC, LATENCY_METRIC, NAMESPACE, PREDICTIONS_METRIC, Metrics
from serving.snapshot import FloorsSnapshot
from udfs.aws import aws_client

KEY = "metrics-key"
REQUEST = {"impression_id": "imp-1", "hour_of_day": 21, "day_of_week": 3, "country_tier": 1,
           "device_category": "mobile", "format": "banner", "inventory_type": "premium"}


def statistic(cloudwatch: Any, metric: str, dimensions: list[dict[str, str]], stat: str) -> float:
    now = datetime.now(UTC)
    points = cloudwatch.get_metric_statistics(
        Namespace=NAMESPACE, MetricName=metric, Dimensions=dimensions, StartTime=now - timedelta(minutes=10),
        EndTime=now + timedelta(minutes=10), Period=60, Statistics=[stat])["Datapoints"]
    return sum(p[stat] for p in points)


def test_latency_levels_and_errors_reach_cloudwatch(running_standins: None, tmp_path: Path) -> None:
    config = load_config()
    endpoint = config.monitoring.endpoint if config.monitoring else config.floors.endpoint
    cloudwatch = aws_client("cloudwatch", endpoint, config.floors.region)
    service = f"floor-api-{uuid.uuid4().hex[:8]}"  # this test's own dimension value
    metrics = Metrics(cloudwatch, dimensions={"Service": service})
    keys_file = tmp_path / "keys.json"
    keys_file.write_text(json.dumps({"keys": [{"name": "t", "sha256": hash_key(KEY), "rate_per_s": 1, "burst": 5}]}))
    settings = api.Settings(table="none", api_keys_path=keys_file)
    app = api.create_app(settings, snapshot=FloorsSnapshot("none", None), background_refresh=False,
                         keys=ApiKeys.from_file(keys_file, rate_per_s=1, burst=5), metrics=metrics)
    with TestClient(app) as client:
        headers = {"X-API-Key": KEY}
        assert client.post("/v2/predict", json=REQUEST, headers=headers).status_code == 200
        assert client.post("/v2/predict/batch", json=[REQUEST] * 3, headers=headers).status_code == 200
        assert client.post("/v2/predict", json={**REQUEST, "hour_of_day": 99}, headers=headers).status_code == 400
        assert client.post("/v2/predict", json=REQUEST).status_code == 401
        assert client.post("/v2/predict", json=REQUEST, headers=headers).status_code == 429  # burst of 5 spent
        assert metrics.flush() > 0
    base = [{"Name": "Service", "Value": service}]
    assert statistic(cloudwatch, LATENCY_METRIC, base, "SampleCount") == 2  # a call, a batch
    assert statistic(cloudwatch, PREDICTIONS_METRIC, [*base, {"Name": "Level", "Value": "static"}], "Sum") == 4
    for status, count in (("400", 1), ("401", 1), ("429", 1)):
        assert statistic(cloudwatch, ERRORS_METRIC, [*base, {"Name": "Status", "Value": status}], "Sum") == count


def test_cloudwatch_down_drops_the_interval_not_the_request(tmp_path: Path) -> None:
    dead = aws_client("cloudwatch", "http://127.0.0.1:9", "eu-west-1", max_attempts=1, connect_timeout=0.2,
                      read_timeout=0.2)
    metrics = Metrics(dead)
    app = api.create_app(api.Settings(table="none", auth="gateway"), snapshot=FloorsSnapshot("none", None),
                         background_refresh=False, metrics=metrics)
    with TestClient(app) as client:
        started = time.perf_counter()
        assert client.post("/v2/predict", json=REQUEST).status_code == 200
        assert time.perf_counter() - started < 1.0
    # the lifespan's last flush failed: counted, and nothing is kept for later
    assert metrics.failures == 1 and metrics.flush() == 0

"""The floor API (serving/api.py) through Starlette's TestClient, over a snapshot of a fresh floors
table on moto (the shared stand-in, never stopped; DynamoDB "down" through a FaultProxy)."""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from starlette.testclient import TestClient

from flink_jobs.config import load_config
from local_kinesis import resources
from serving import api, prebid
from serving.keys import ApiKey, ApiKeys, hash_key
from serving.snapshot import FloorsSnapshot
from tests.support.fault_proxy import FaultProxy
from udfs import rules
from udfs.aws import aws_client

NOW = 1_800_000_000.0
KEY, REVOKED_KEY = "key-good", "key-revoked"
FINE_KEY = "news.example.es|top|mobile|1"
COARSE_KEY = "banner|premium|mobile|1"
REQUEST = {"impression_id": "imp-1", "hour_of_day": 21, "day_of_week": 3, "country_tier": 1,
           "device_category": "mobile", "format": "banner", "inventory_type": "premium",
           "domain": "news.example.es", "ad_unit": "top", "user_engagement_score": 0.4}


@dataclass
class Clock:
    now: float = NOW

    def __call__(self) -> float:
        return self.now


@dataclass
class Stand:
    client: TestClient
    app: Any
    table: str
    dynamodb: Any  # a direct client to moto, for the test's own writes
    clock: Clock
    snapshot: FloorsSnapshot


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def put(dynamodb: Any, table: str, level: str, key: str, floor: float, expires_at: float,
        version: str = "m-1", window_end: str = "2027-01-15T08:05:00Z") -> None:
    dynamodb.put_item(TableName=table, Item={
        "level": {"S": level}, "segment_key": {"S": key}, "floor_eur": {"N": str(floor)},
        "predicted_cpm_eur": {"N": str(floor * 1.3)}, "model_version": {"S": version},
        "window_start": {"S": "2027-01-15T08:00:00Z"}, "window_end": {"S": window_end},
        "data_points": {"N": "420"}, "expires_at": {"N": str(int(expires_at))},
    })


@pytest.fixture
def proxy(running_standins: None) -> Iterator[FaultProxy]:
    moto = urlparse(load_config().floors.endpoint)
    with FaultProxy(moto.hostname, moto.port, listen_port=free_port()) as p:
        yield p


@pytest.fixture
def stand(proxy: FaultProxy, tmp_path: Path) -> Iterator[Stand]:
    config = load_config()
    dynamodb = aws_client("dynamodb", config.floors.endpoint, config.floors.region)
    params, ttl = resources.floors_table_params(f"floors-api-{uuid.uuid4().hex[:8]}")
    resources.create_table(dynamodb, params, ttl)
    table = params["TableName"]
    clock = Clock()
    keys_file = tmp_path / "api_keys.json"
    keys_file.write_text(json.dumps({"keys": [
        {"name": "adserver", "sha256": hash_key(KEY)},
        {"name": "old", "sha256": hash_key(REVOKED_KEY), "revoked": True},
    ]}), encoding="utf-8")
    settings = api.Settings(table=table, endpoint=proxy.url, region=config.floors.region, api_keys_path=keys_file,
                            max_staleness_s=30.0, rate_per_s=1.0, burst=3.0, connect_timeout_s=0.5,
                            read_timeout_s=1.0, max_attempts=0)
    # The snapshot reads through the proxy: blocking it takes DynamoDB "down" for the API only.
    snapshot = FloorsSnapshot(table, aws_client("dynamodb", proxy.url, config.floors.region, max_attempts=0,
                                                connect_timeout=0.5, read_timeout=1.0),
                              max_staleness_s=30.0, clock=clock, derive=prebid.index_floors)
    keys = ApiKeys.from_file(keys_file, rate_per_s=1.0, burst=3.0, clock=clock)
    app = api.create_app(settings, snapshot=snapshot, keys=keys, clock=clock, background_refresh=False)
    try:
        with TestClient(app) as client:
            yield Stand(client, app, table, dynamodb, clock, snapshot)
    finally:
        dynamodb.delete_table(TableName=table)


def predict(stand: Stand, body: Any = None, key: str | None = KEY) -> Any:
    headers = {"X-API-Key": key} if key is not None else {}
    return stand.client.post("/v2/predict", json=REQUEST if body is None else body, headers=headers)


def test_auth_missing_wrong_revoked(stand: Stand) -> None:
    stand.snapshot.refresh()
    missing = predict(stand, key=None)
    assert missing.status_code == 401 and missing.json()["field"] == "X-API-Key"
    assert predict(stand, key="not-a-key").status_code == 401
    assert predict(stand, key=REVOKED_KEY).status_code == 403
    batch = stand.client.post("/v2/predict/batch", json=[REQUEST], headers={"X-API-Key": REVOKED_KEY})
    assert batch.status_code == 403
    assert predict(stand).status_code == 200


def test_rate_limit_429_and_recovery(stand: Stand) -> None:
    stand.snapshot.refresh()
    assert [predict(stand).status_code for _ in range(3)] == [200, 200, 200]  # the burst of 3
    refused = predict(stand)
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"
    stand.clock.now += 1.0  # one token back at 1/s
    assert predict(stand).status_code == 200
    assert predict(stand).status_code == 429
    stand.clock.now += 2.0
    batch = stand.client.post("/v2/predict/batch", json=[REQUEST] * 2, headers={"X-API-Key": KEY})
    assert batch.status_code == 200 and len(batch.json()) == 2  # a batch costs a token per impression
    assert predict(stand).status_code == 429
    # a wrong key spends no tokens of another key, and is refused before any rate limit
    assert predict(stand, key="nope").status_code == 401


@pytest.mark.parametrize(("change", "field"), [
    ({"hour_of_day": 24}, "hour_of_day"),
    ({"day_of_week": 0}, "day_of_week"),
    ({"country_tier": "1"}, "country_tier"),
    ({"device_category": "watch"}, "device_category"),
    ({"format": None}, "format"),
    ({"user_engagement_score": 1.5}, "user_engagement_score"),
    ({"hour_of_day": True}, "hour_of_day"),
    ({"ad_unit": 7}, "ad_unit"),
])
def test_validation_names_the_field(stand: Stand, change: dict[str, Any], field: str) -> None:
    answer = predict(stand, {**REQUEST, **change})
    assert answer.status_code == 400
    assert answer.json()["field"] == field and answer.json()["error"] == "invalid_request"


def test_validation_of_bodies_and_batches(stand: Stand) -> None:
    stand.app.state.keys.rate_per_s = 1e6
    stand.app.state.keys._buckets.clear()
    stand.app.state.keys.burst = 1e6
    body = {k: v for k, v in REQUEST.items() if k != "inventory_type"}
    assert predict(stand, body).json()["field"] == "inventory_type"
    bad = stand.client.post("/v2/predict", content=b"{not json", headers={"X-API-Key": KEY})
    assert bad.status_code == 400 and bad.json()["field"] == "body"
    assert predict(stand, [REQUEST]).json()["field"] == "body"
    batch = [REQUEST, {**REQUEST, "format": "audio"}]
    answer = stand.client.post("/v2/predict/batch", json=batch, headers={"X-API-Key": KEY})
    assert answer.status_code == 400 and answer.json()["field"] == "[1].format"
    too_many = stand.client.post("/v2/predict/batch", json=[REQUEST] * 1001, headers={"X-API-Key": KEY})
    assert too_many.status_code == 400 and too_many.json()["field"] == "body"
    assert stand.client.post("/v2/predict/batch", json=[REQUEST] * 1000,
                             headers={"X-API-Key": KEY}).status_code == 200


def test_fallback_fine_coarse_static_and_expiry(stand: Stand) -> None:
    put(stand.dynamodb, stand.table, rules.FINE, FINE_KEY, 3.25, NOW + 10, version="m-2")
    put(stand.dynamodb, stand.table, rules.COARSE, COARSE_KEY, 1.5, NOW + 100)
    assert stand.snapshot.refresh()
    stand.app.state.keys.rate_per_s = 1e6
    stand.app.state.keys.burst = 1e6
    stand.app.state.keys._buckets.clear()

    first = predict(stand).json()
    assert first["floor_eur"] == 3.25 and first["level"] == "fine" and first["segment_key"] == FINE_KEY
    assert first["model_version"] == "m-2" and first["predicted_cpm"] == pytest.approx(3.25 * 1.3)
    assert (first["window_start"], first["window_end"]) == ("2027-01-15T08:00:00Z", "2027-01-15T08:05:00Z")
    assert first["impression_id"] == "imp-1" and first["prediction_timestamp"].endswith("Z")

    no_ad_unit = predict(stand, {k: v for k, v in REQUEST.items() if k != "ad_unit"}).json()
    assert (no_ad_unit["level"], no_ad_unit["floor_eur"]) == ("coarse", 1.5)
    other = predict(stand, {**REQUEST, "ad_unit": "side"}).json()
    assert (other["level"], other["floor_eur"]) == ("coarse", 1.5)

    stand.clock.now = NOW + 10  # the fine floor's expires_at <= now: skipped, no refresh needed
    assert predict(stand).json()["level"] == "coarse"
    stand.clock.now = NOW + 100
    static = predict(stand).json()
    assert (static["level"], static["floor_eur"], static["model_version"]) == ("static", 2.0, None)

    batch = stand.client.post("/v2/predict/batch", json=[REQUEST, {**REQUEST, "impression_id": "imp-2"}],
                              headers={"X-API-Key": KEY}).json()
    assert [b["impression_id"] for b in batch] == ["imp-1", "imp-2"] and {b["level"] for b in batch} == {"static"}


def test_health_reports_and_goes_503_when_stale(stand: Stand) -> None:
    empty = stand.client.get("/v2/health")
    assert empty.status_code == 503 and empty.json()["status"] == "empty"  # nothing loaded yet
    put(stand.dynamodb, stand.table, rules.FINE, FINE_KEY, 3.25, NOW + 3600, version="m-2")
    put(stand.dynamodb, stand.table, rules.COARSE, COARSE_KEY, 1.5, NOW + 3600, version="m-1")
    assert stand.snapshot.refresh()
    ok = stand.client.get("/v2/health")
    assert ok.status_code == 200
    body = ok.json()
    assert (body["status"], body["items"], body["model_versions"]) == ("ok", 2, ["m-1", "m-2"])
    assert body["snapshot_age_s"] == 0 and body["max_staleness_s"] == 30.0
    stand.clock.now += 30.5
    stale = stand.client.get("/v2/health")
    assert stale.status_code == 503 and stale.json()["status"] == "stale"
    assert stale.json()["snapshot_age_s"] == pytest.approx(30.5)
    assert predict(stand).json()["level"] == "fine"  # a stale snapshot still answers: health is the signal
    assert stand.snapshot.refresh()
    assert stand.client.get("/v2/health").status_code == 200


def test_dynamodb_down_during_refresh_keeps_the_last_snapshot(stand: Stand, proxy: FaultProxy) -> None:
    put(stand.dynamodb, stand.table, rules.FINE, FINE_KEY, 3.25, NOW + 3600)
    assert stand.snapshot.refresh()
    loaded = stand.snapshot.current
    put(stand.dynamodb, stand.table, rules.FINE, FINE_KEY, 4.75, NOW + 3600)  # a newer floor the API cannot see
    proxy.block("refuse")
    try:
        stand.clock.now += 5
        started = time.monotonic()
        assert stand.snapshot.refresh() is False
        assert time.monotonic() - started < 5  # the remote call's deadline, not an indefinite wait
        assert stand.snapshot.current is loaded
        answer = predict(stand).json()
        assert (answer["level"], answer["floor_eur"]) == ("fine", 3.25)
        health = stand.client.get("/v2/health").json()
        assert health["status"] == "ok" and health["last_refresh_error"] and health["refresh_failures"] == 1
        stand.clock.now += 30  # down for longer than the bound: still serving, health 503
        assert stand.snapshot.refresh() is False
        assert stand.client.get("/v2/health").status_code == 503
        assert predict(stand).json()["floor_eur"] == 3.25
    finally:
        proxy.unblock()
    assert stand.snapshot.refresh()
    assert predict(stand).json()["floor_eur"] == 4.75
    assert stand.client.get("/v2/health").json()["last_refresh_error"] is None


def test_background_refresh_swaps_in_new_floors(stand: Stand) -> None:
    """The app's lifespan runs the refresh thread; requests see the swapped snapshot."""
    stand.snapshot.refresh_interval_s = 0.05
    put(stand.dynamodb, stand.table, rules.COARSE, COARSE_KEY, 1.5, NOW + 3600)
    app = api.create_app(stand.app.state.settings, snapshot=stand.snapshot, keys=stand.app.state.keys,
                         clock=stand.clock, background_refresh=True)
    with TestClient(app) as client:
        assert stand.snapshot.current.get(rules.COARSE, COARSE_KEY, NOW).floor_eur == 1.5  # loaded at startup
        put(stand.dynamodb, stand.table, rules.COARSE, COARSE_KEY, 1.75, NOW + 3600)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            floor = stand.snapshot.current.get(rules.COARSE, COARSE_KEY, NOW)
            if floor is not None and floor.floor_eur == 1.75:
                break
            time.sleep(0.05)
        answer = client.post("/v2/predict", json={**REQUEST, "ad_unit": "x"}, headers={"X-API-Key": KEY}).json()
        assert (answer["level"], answer["floor_eur"]) == ("coarse", 1.75)
    assert stand.snapshot._thread is None  # the lifespan stopped it


def test_prebid_file_over_the_snapshot(stand: Stand) -> None:
    put(stand.dynamodb, stand.table, rules.FINE, FINE_KEY, 3.25, NOW + 3600, version="m-2")
    put(stand.dynamodb, stand.table, rules.COARSE, "banner|standard|mobile|1", 1.5, NOW + 3600, version="m-2")
    put(stand.dynamodb, stand.table, rules.COARSE, COARSE_KEY, 2.5, NOW + 3600, version="m-2")
    put(stand.dynamodb, stand.table, rules.FINE, "news.example.es|old|mobile|1", 9.0, NOW - 1)  # expired
    assert stand.snapshot.refresh()
    answer = stand.client.get("/v2/floors/prebid/news.example.es")  # public: no key
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "public, max-age=60"
    assert answer.headers["Access-Control-Allow-Origin"] == "*"
    data = answer.json()
    assert data["floorsSchemaVersion"] == 2 and data["currency"] == "EUR" and data["skipRate"] == 0
    [group] = data["modelGroups"]
    assert (group["modelVersion"], group["modelWeight"], group["default"]) == ("m-2", 100, 2.0)
    assert group["values"] == {"top|*|phone|1": 3.25, "*|banner|phone|1": 1.5, "*|*|*|*": 2.0}
    premium = stand.client.get("/v2/floors/prebid/news.example.es?inventory_type=premium").json()
    assert premium["modelGroups"][0]["values"]["*|banner|phone|1"] == 2.5
    bad = stand.client.get("/v2/floors/prebid/news.example.es?inventory_type=gold")
    assert bad.status_code == 400 and bad.json()["field"] == "inventory_type"
    put(stand.dynamodb, stand.table, rules.FINE, FINE_KEY, 3.5, NOW + 3600, version="m-3")
    assert stand.snapshot.refresh()  # a new snapshot: the file is rebuilt, not reused
    again = stand.client.get("/v2/floors/prebid/news.example.es").json()["modelGroups"][0]["values"]
    assert again["top|*|phone|1"] == 3.5
    # another domain: no fine rows, the coarse '*' rows and the default only
    assert stand.client.get("/v2/floors/prebid/nobody.example").json()["modelGroups"][0]["values"] == {
        "*|banner|phone|1": 1.5, "*|*|*|*": 2.0}
    stand.clock.now = NOW + 3600 - 30  # the floors expire within the file's max-age: left out
    late = stand.client.get("/v2/floors/prebid/news.example.es").json()["modelGroups"][0]["values"]
    assert late == {"*|*|*|*": 2.0}
    preflight = stand.client.options("/v2/floors/prebid/news.example.es")
    assert preflight.status_code == 204 and "GET" in preflight.headers["Access-Control-Allow-Methods"]


def test_openapi_served_equals_the_checked_in_document(stand: Stand) -> None:
    served = stand.client.get("/v2/openapi.yaml")
    assert served.status_code == 200
    assert served.content == api.OPENAPI_PATH.read_bytes()
    doc = api.load_openapi()[1]
    routes = {r.path for r in stand.app.routes}
    assert set(doc["paths"]) == routes  # every served path documented, every documented path served


def test_settings_from_env() -> None:
    settings = api.Settings.from_env({"YIELD_API_MODEL_WEIGHTS": "champion=80,challenger=20",
                                      "YIELD_API_SKIP_RATE": "5", "YIELD_API_MAX_STALENESS_S": "12"})
    assert settings.model_weights == {"champion": 80, "challenger": 20}
    assert (settings.skip_rate, settings.max_staleness_s) == (5, 12.0)
    assert settings.table == load_config().floors.table_name
    with pytest.raises(ValueError):
        api.parse_weights("champion=0")
    keys = ApiKeys([ApiKey("a", hash_key("x"))], rate_per_s=1, burst=1)
    assert keys.authenticate("x")[0] is not None


def test_keys_with_a_separator_inside_a_field(stand: Stand) -> None:
    """The API builds keys with the reader's function, so a field holding the separator finds its
    item (keys escape it) and never a neighbour's."""
    odd = {**REQUEST, "domain": "odd|news.es", "ad_unit": "top"}
    key = rules.segment_key(rules.FINE, {**odd, "country_tier": 1})
    put(stand.dynamodb, stand.table, rules.FINE, key, 4.5, NOW + 3600)
    assert stand.snapshot.refresh()
    answer = predict(stand, odd).json()
    assert (answer["level"], answer["floor_eur"], answer["segment_key"]) == ("fine", 4.5, key)
    assert predict(stand, {**REQUEST, "domain": "odd", "ad_unit": "news.es|top"}).json()["level"] == "static"


def test_oversized_body_is_refused(stand: Stand) -> None:
    huge = b"[" + b" " * (api.MAX_BODY_BYTES + 1) + b"]"
    answer = stand.client.post("/v2/predict/batch", content=huge, headers={"X-API-Key": KEY})
    assert answer.status_code == 413

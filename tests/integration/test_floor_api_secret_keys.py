"""The floor API's keys from a Secrets Manager secret (serving/keys.py SecretKeySource) on moto, the
shared stand-in (never stopped), read through a FaultProxy so Secrets Manager can be taken "down":
a key revoked in the secret is refused within the refresh interval, an outage keeps the last good
key set and shows in /v2/health, a secret that never loaded turns health 503, and the secret is
edited by `python -m serving.keys --secret`."""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from starlette.testclient import TestClient

from flink_jobs.config import load_config
from serving import api, keys
from serving.keys import ApiKey, ApiKeys, KeyStore, SecretKeySource, hash_key
from serving.snapshot import FloorsSnapshot, Snapshot
from tests.support.fault_proxy import FaultProxy
from udfs.aws import aws_client

KEY, OTHER_KEY = "secret-key-good", "secret-key-other"
REQUEST = {"impression_id": "imp-1", "hour_of_day": 21, "day_of_week": 3, "country_tier": 1,
           "device_category": "mobile", "format": "banner", "inventory_type": "premium"}
REFRESH_S = 0.3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def document(*entries: ApiKey) -> str:
    return keys.key_document(list(entries))


@pytest.fixture
def moto() -> tuple[str, str]:
    floors = load_config().floors
    return floors.endpoint, floors.region


@pytest.fixture
def proxy(running_standins: None, moto: tuple[str, str]) -> Iterator[FaultProxy]:
    url = urlparse(moto[0])
    with FaultProxy(url.hostname, url.port, listen_port=free_port()) as p:
        yield p


@pytest.fixture
def secret(running_standins: None, moto: tuple[str, str]) -> Iterator[tuple[Any, str]]:
    client = aws_client("secretsmanager", *moto)
    name = f"floor-api-keys-{uuid.uuid4().hex[:8]}"
    client.create_secret(Name=name, SecretString=document(ApiKey("adserver", hash_key(KEY))))
    try:
        yield client, name
    finally:
        client.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)


def make_app(proxy: FaultProxy, moto: tuple[str, str], name: str, refresh_s: float = REFRESH_S) -> Any:
    """The app as `make serve` builds it from settings, Secrets Manager read through the proxy."""
    settings = api.Settings(table="unused", region=moto[1], api_keys_secret=name, secrets_endpoint=proxy.url,
                            keys_refresh_s=refresh_s, connect_timeout_s=0.5, read_timeout_s=1.0,
                            api_keys_path=Path("/nonexistent/keys.json"))
    snapshot = FloorsSnapshot("unused", None, max_staleness_s=3600)
    snapshot.current = Snapshot({}, loaded_at=time.time())  # an empty table, loaded: the keys are under test
    snapshot.refresh = lambda: True  # type: ignore[method-assign]
    return api.create_app(settings, snapshot=snapshot)


def predict(client: TestClient, key: str) -> int:
    return client.post("/v2/predict", json=REQUEST, headers={"X-API-Key": key}).status_code


def wait_for(check: Callable[[], bool], timeout_s: float) -> float:
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < timeout_s, "not within the deadline"
        time.sleep(0.02)
    return time.monotonic() - started


def test_keys_come_from_the_secret_and_a_revoked_key_stops_within_the_interval(
        proxy: FaultProxy, moto: tuple[str, str], secret: tuple[Any, str]) -> None:
    client_sm, name = secret
    app = make_app(proxy, moto, name)
    with TestClient(app) as client:
        assert predict(client, KEY) == 200
        assert predict(client, OTHER_KEY) == 401
        health = client.get("/v2/health").json()["keys"]
        assert (health["source"], health["loaded"], health["count"]) == ("secretsmanager", True, 1)
        # add a key, then revoke the first: both show within about one refresh interval
        client_sm.put_secret_value(SecretId=name, SecretString=document(
            ApiKey("adserver", hash_key(KEY)), ApiKey("second", hash_key(OTHER_KEY))))
        wait_for(lambda: predict(client, OTHER_KEY) == 200, 3 * REFRESH_S + 1)
        client_sm.put_secret_value(SecretId=name, SecretString=document(
            ApiKey("adserver", hash_key(KEY), revoked=True), ApiKey("second", hash_key(OTHER_KEY))))
        took = wait_for(lambda: predict(client, KEY) == 403, 3 * REFRESH_S + 1)
        assert took <= 2 * REFRESH_S + 0.5
        assert predict(client, OTHER_KEY) == 200
        # removed from the secret altogether: unknown
        client_sm.put_secret_value(SecretId=name, SecretString=document(ApiKey("second", hash_key(OTHER_KEY))))
        wait_for(lambda: predict(client, KEY) == 401, 3 * REFRESH_S + 1)
    assert app.state.key_source._thread is None  # the lifespan stopped the refresh thread


def test_secrets_manager_down_keeps_the_last_good_keys_and_health_reports_it(
        proxy: FaultProxy, moto: tuple[str, str], secret: tuple[Any, str]) -> None:
    client_sm, name = secret
    app = make_app(proxy, moto, name)
    source: SecretKeySource = app.state.key_source
    with TestClient(app) as client:
        assert predict(client, KEY) == 200
        proxy.block("refuse")
        try:
            client_sm.put_secret_value(SecretId=name, SecretString=document(
                ApiKey("adserver", hash_key(KEY), revoked=True)))  # not readable while "down"
            failures = source.failures
            wait_for(lambda: source.failures >= failures + 2, 5)
            assert predict(client, KEY) == 200  # the last good set
            health = client.get("/v2/health")
            assert health.status_code == 200 and health.json()["status"] == "ok"
            reported = health.json()["keys"]
            assert reported["loaded"] and reported["count"] == 1 and reported["refresh_failures"] >= 2
            assert reported["last_refresh_error"] and reported["age_s"] >= REFRESH_S
        finally:
            proxy.unblock()
        wait_for(lambda: predict(client, KEY) == 403, 3 * REFRESH_S + 2)
        assert client.get("/v2/health").json()["keys"]["last_refresh_error"] is None


def test_a_malformed_secret_keeps_the_last_good_keys(moto: tuple[str, str], secret: tuple[Any, str]) -> None:
    client_sm, name = secret
    source = SecretKeySource(ApiKeys([], rate_per_s=10, burst=10), client_sm, name)
    assert source.refresh() and source.keys.authenticate(KEY)[0] is not None
    client_sm.put_secret_value(SecretId=name, SecretString="{not json " + KEY)
    assert source.refresh() is False
    assert KEY not in (source.last_error or "")  # the secret's text is never echoed
    client_sm.put_secret_value(SecretId=name, SecretString=json.dumps({"keys": [{"name": "x", "sha256": "00"}]}))
    assert source.refresh() is False and "sha256" in (source.last_error or "")
    assert source.keys.authenticate(KEY)[0] is not None and source.failures == 2


def test_a_secret_never_loaded_answers_401_and_health_503(proxy: FaultProxy, moto: tuple[str, str]) -> None:
    proxy.block("refuse")
    try:
        app = make_app(proxy, moto, f"missing-{uuid.uuid4().hex[:8]}")
        with TestClient(app) as client:
            health = client.get("/v2/health")
            assert health.status_code == 503 and health.json()["status"] == "no_keys"
            assert health.json()["keys"]["loaded"] is False
            assert predict(client, KEY) == 401
    finally:
        proxy.unblock()


def test_cli_adds_and_revokes_in_the_secret(moto: tuple[str, str], secret: tuple[Any, str],
                                            capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    client_sm, name = secret
    store = KeyStore(client=client_sm, secret_id=name)
    raw = keys.add_key(store, "dsp")
    stored = {k.name: k for k in keys.read_key_secret(client_sm, name)}
    assert set(stored) == {"adserver", "dsp"} and stored["dsp"].sha256 == hash_key(raw)
    assert raw not in client_sm.get_secret_value(SecretId=name)["SecretString"]  # only the digest
    assert keys.main(["revoke", "dsp", "--secret", name, "--endpoint", moto[0], "--region", moto[1]]) == 0
    assert {k.name: k.revoked for k in keys.read_key_secret(client_sm, name)} == {"adserver": False, "dsp": True}
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO("gateway-key-value\n"))
    assert keys.main(["add", "gw", "--key-stdin", "--secret", name, "--endpoint", moto[0],
                      "--region", moto[1]]) == 0
    assert capsys.readouterr().out == ""  # a given key is not printed back
    assert {k.name: k.sha256 for k in keys.read_key_secret(client_sm, name)}["gw"] == hash_key("gateway-key-value")


def test_settings_read_the_secret_from_env() -> None:
    settings = api.Settings.from_env({"YIELD_API_KEYS_SECRET": "arn:aws:secretsmanager:eu-west-1:1:secret:k",
                                      "YIELD_API_SECRETS_ENDPOINT": "aws", "YIELD_API_KEYS_REFRESH_S": "15",
                                      "YIELD_API_TABLE": "t"})
    assert settings.api_keys_secret.endswith(":k") and settings.secrets_endpoint is None
    assert settings.keys_refresh_s == 15.0
    local = api.Settings.from_env({"YIELD_API_KEYS_SECRET": "k"})
    assert local.secrets_endpoint == load_config().floors.endpoint  # locally moto, like the table

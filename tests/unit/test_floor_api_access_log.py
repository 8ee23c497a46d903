"""The floor API's structured access log (serving/access_log.py): one JSON line per request with
time, method, path, status, latency, the key's short id and the answers by level, and never the key
(not for a good, wrong, revoked or throttled key, a key in the query string or the body, nor in
gateway mode). No services: the snapshot is built in memory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from serving import api
from serving.keys import ApiKey, ApiKeys, hash_key, key_id
from serving.snapshot import Floor, FloorsSnapshot, Snapshot
from udfs import rules

NOW = 1_800_000_000.0
KEY, REVOKED_KEY = "k-" + "a" * 40, "k-" + "b" * 40
REQUEST = {"impression_id": "imp-1", "hour_of_day": 21, "day_of_week": 3, "country_tier": 1,
           "device_category": "mobile", "format": "banner", "inventory_type": "premium",
           "domain": "news.example.es", "ad_unit": "top"}


def snapshot() -> FloorsSnapshot:
    holder = FloorsSnapshot("t", None, max_staleness_s=3600, clock=lambda: NOW)
    holder.current = Snapshot.build([
        Floor(rules.FINE, "news.example.es|top|mobile|1", 3.25, NOW + 3600, 4.0, "m-1"),
        Floor(rules.COARSE, "banner|premium|mobile|1", 1.5, NOW + 3600, 2.0, "m-1"),
    ], loaded_at=NOW)
    return holder


class Lines(list[dict[str, Any]]):
    raw: list[bytes]

    def __init__(self) -> None:
        super().__init__()
        self.raw = []

    def __call__(self, line: bytes) -> None:
        assert line.endswith(b"\n") and line.count(b"\n") == 1
        self.raw.append(line)
        self.append(json.loads(line))


def client(tmp_path: Path, lines: Lines, **settings: Any) -> TestClient:
    keys = ApiKeys([ApiKey("adserver", hash_key(KEY)), ApiKey("old", hash_key(REVOKED_KEY), revoked=True)],
                   rate_per_s=1.0, burst=4.0, clock=lambda: NOW)
    options = {"table": "t", "api_keys_path": tmp_path / "none.json", **settings}
    app = api.create_app(api.Settings(**options), snapshot=snapshot(), keys=keys, clock=lambda: NOW,
                         background_refresh=False, access_log_sink=lines)
    return TestClient(app)


def test_one_line_per_request_with_levels_and_key_id_never_the_key(tmp_path: Path) -> None:
    lines = Lines()
    with client(tmp_path, lines) as c:
        good = {"X-API-Key": KEY}
        assert c.post("/v2/predict", json=REQUEST, headers=good).status_code == 200
        batch = [REQUEST, {**REQUEST, "ad_unit": "side"}, {**REQUEST, "device_category": "desktop"}]
        assert c.post("/v2/predict/batch", json=batch, headers=good).status_code == 200
        assert c.post("/v2/predict", json=REQUEST).status_code == 401
        assert c.post("/v2/predict", json=REQUEST, headers={"X-API-Key": KEY + "x"}).status_code == 401
        assert c.post("/v2/predict", json=REQUEST, headers={"X-API-Key": REVOKED_KEY}).status_code == 403
        assert c.post("/v2/predict", json=REQUEST, headers=good).status_code == 429  # burst of 4 spent
        assert c.post(f"/v2/predict?api_key={KEY}", content=b'{"k": "' + KEY.encode() + b'"',
                      headers={**good}).status_code in (400, 429)
        assert c.get("/v2/health").status_code == 200
        assert c.get("/v2/floors/prebid/news.example.es").status_code == 200
    assert len(lines) == 9
    for raw in lines.raw:
        assert KEY.encode() not in raw and REVOKED_KEY.encode() not in raw and hash_key(KEY).encode() not in raw
    the_id = key_id(hash_key(KEY))
    assert len(the_id) == 12 and the_id not in hash_key(KEY)
    one, many, missing, wrong, revoked, limited, query, health, prebid = lines
    assert {k: one[k] for k in ("method", "path", "status", "key_id", "levels")} == {
        "method": "POST", "path": "/v2/predict", "status": 200, "key_id": the_id, "levels": {"fine": 1}}
    assert one["time"].endswith("Z") and one["time"].startswith("2027-01-15T08:00:00")
    assert isinstance(one["latency_ms"], float) and 0 <= one["latency_ms"] < 1000
    assert (many["path"], many["levels"]) == ("/v2/predict/batch", {"fine": 1, "coarse": 1, "static": 1})
    assert [(x["status"], x["key_id"]) for x in (missing, wrong, revoked)] == [(401, None), (401, None), (403, None)]
    assert (limited["status"], limited["key_id"], "levels" in limited) == (429, the_id, False)
    assert query["path"] == "/v2/predict"  # no query string
    assert (health["path"], health["method"], health["key_id"]) == ("/v2/health", "GET", None)
    assert prebid["path"] == "/v2/floors/prebid/news.example.es" and "levels" not in prebid


def test_gateway_mode_logs_the_id_of_the_key_the_gateway_checked(tmp_path: Path) -> None:
    lines = Lines()
    with client(tmp_path, lines, auth="gateway") as c:
        assert c.post("/v2/predict", json=REQUEST, headers={"X-API-Key": "gw-" + "c" * 30}).status_code == 200
        assert c.post("/v2/predict", json=REQUEST).status_code == 200
    assert [x["key_id"] for x in lines] == [key_id(hash_key("gw-" + "c" * 30)), None]
    assert all(b"gw-ccc" not in raw for raw in lines.raw)


def test_sampling_keeps_every_error_and_off_writes_nothing(tmp_path: Path) -> None:
    lines = Lines()
    with client(tmp_path, lines, access_log_sample=0.0) as c:
        for _ in range(3):
            c.post("/v2/predict", json=REQUEST, headers={"X-API-Key": KEY})
        c.post("/v2/predict", json={**REQUEST, "hour_of_day": 99}, headers={"X-API-Key": KEY})  # 400
        c.post("/v2/predict", json=REQUEST)
    assert [x["status"] for x in lines] == [400, 401]
    silent = Lines()
    with client(tmp_path, silent, access_log="off") as c:
        c.post("/v2/predict", json=REQUEST, headers={"X-API-Key": KEY})
    assert silent == []
    with pytest.raises(ValueError, match="access_log"):
        client(tmp_path, Lines(), access_log="text")
    assert api.Settings.from_env({"YIELD_API_ACCESS_LOG": "off", "YIELD_API_ACCESS_LOG_SAMPLE": "0.01",
                                  "YIELD_API_TABLE": "t"}).access_log_sample == 0.01


def test_a_broken_sink_costs_no_request(tmp_path: Path) -> None:
    def broken(line: bytes) -> None:
        raise OSError("disk full")

    keys = ApiKeys([ApiKey("adserver", hash_key(KEY))], rate_per_s=10.0, burst=10.0)
    app = api.create_app(api.Settings(table="t"), snapshot=snapshot(), keys=keys, clock=lambda: NOW,
                         background_refresh=False, access_log_sink=broken)
    with TestClient(app) as c:
        assert c.post("/v2/predict", json=REQUEST, headers={"X-API-Key": KEY}).status_code == 200

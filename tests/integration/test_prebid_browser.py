"""Prebid.js itself reads our floors file: the real Prebid.js (npm `prebid.js`, pinned in
tests/browser/package-lock.json, bundled with its Price Floors Module by esbuild) runs in Debian's
headless Chromium, driven by playwright-core (tests/browser/run_page.mjs).

The floors sit in a fresh table on the DynamoDB stand-in (moto); the floor API runs as `make serve`
runs it (`python -m serving.api`, uvicorn, its own process); a small local server serves the page
and a test bid endpoint. The page configures `floors.endpoint.url` to the API's
`/v2/floors/prebid/{domain}`, supplies `deviceType` and `countryTier` through
`floors.additionalSchemaFields`, and runs one auction per device and country tier with two test
bidders per ad unit, one bidding just under the floor and one just over it. Asserted, per ad unit,
device and tier: the floor Prebid gives the adapter (`getFloor`) equals the floor our API answers on
`/v2/predict/batch` for the same impression (fine, coarse or static, expiry included); Prebid
rejects the bid under it ("Bid does not meet price floor") and keeps the one over it; the floor data
says Prebid fetched the file (`location: fetch`, `fetchStatus: success`, our model version).

Needs `make browser` (Chromium from Debian, the npm packages, the bundle); `make test` runs it.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from flink_jobs.config import load_config
from local_kinesis import resources
from serving import prebid
from serving.keys import hash_key
from udfs.aws import aws_client

ROOT = Path(__file__).resolve().parents[2]
BROWSER = ROOT / "tests" / "browser"
BUNDLE = BROWSER / "dist" / "prebid-floors.js"
CHROMIUM = os.environ.get("YIELD_CHROMIUM", "/usr/bin/chromium")
PREBID_VERSION = json.loads((BROWSER / "package.json").read_text(encoding="utf-8"))["dependencies"]["prebid.js"]

DOMAIN = "news.example.es"
API_KEY = "browser-test-key"
EXPIRES_IN_S = 3600
MODEL = "m-browser-7"

# (level, segment_key, floor_eur, expired)
FLOORS = [
    ("fine", f"{DOMAIN}|top|mobile|1", 3.25, False),
    ("fine", f"{DOMAIN}|top|desktop|1", 4.1, False),
    ("fine", f"{DOMAIN}|sidebar|mobile|2", 1.35, False),
    ("fine", f"{DOMAIN}|footer|mobile|1", 9.0, True),  # expired: coarse applies
    ("fine", "other.example.com|sidebar|mobile|1", 7.7, False),  # another domain's file
    ("coarse", "banner|standard|mobile|1", 1.5, False),
    ("coarse", "banner|standard|desktop|1", 2.6, False),
    ("coarse", "banner|standard|mobile|2", 1.1, False),
    ("coarse", "video|standard|mobile|1", 5.2, False),
    ("coarse", "banner|premium|mobile|1", 8.8, False),  # another inventory type than the page's
]
DEVICE_TYPES = {"mobile": "phone", "desktop": "desktop", "tablet": "tablet"}

# One auction per device and tier: (device_category, country_tier, [(ad_unit, format, expected floor, level)])
CASES = [
    ("mobile", 1, [("top", "banner", 3.25, "fine"), ("sidebar", "banner", 1.5, "coarse"),
                   ("footer", "banner", 1.5, "coarse"), ("preroll", "video", 5.2, "coarse")]),
    ("desktop", 1, [("top", "banner", 4.1, "fine"), ("sidebar", "banner", 2.6, "coarse")]),
    ("mobile", 2, [("sidebar", "banner", 1.35, "fine"), ("top", "banner", 1.1, "coarse")]),
    ("tablet", 3, [("top", "banner", 2.0, "static")]),
]
MARGIN = 0.05  # the test bidders bid this far under and over the floor


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_json(url: str, body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


@dataclass
class Api:
    url: str
    process: subprocess.Popen[bytes]


def require_browser_setup() -> None:
    missing = [str(p) for p in (Path(CHROMIUM), BROWSER / "node_modules" / "prebid.js",
                                BROWSER / "node_modules" / "playwright-core") if not p.exists()]
    if missing or shutil.which("node") is None:
        pytest.fail(f"the browser test needs `make browser` first (missing: {missing or ['node']})")
    subprocess.run(["node", str(BROWSER / "build.mjs")], check=True, capture_output=True, timeout=120)


@pytest.fixture
def floors_table(running_standins: None) -> Iterator[str]:
    config = load_config()
    dynamodb = aws_client("dynamodb", config.floors.endpoint, config.floors.region)
    params, ttl = resources.floors_table_params(f"floors-prebid-{uuid.uuid4().hex[:8]}")
    resources.create_table(dynamodb, params, ttl)
    table = params["TableName"]
    now = time.time()
    for level, key, floor, expired in FLOORS:
        expires_at = now - 60 if expired else now + EXPIRES_IN_S
        dynamodb.put_item(TableName=table, Item={
            "level": {"S": level}, "segment_key": {"S": key}, "floor_eur": {"N": str(floor)},
            "predicted_cpm_eur": {"N": str(round(floor * 1.4, 4))}, "model_version": {"S": MODEL},
            "window_start": {"S": "2027-01-15T08:00:00Z"}, "window_end": {"S": "2027-01-15T08:05:00Z"},
            "data_points": {"N": "500"}, "expires_at": {"N": str(int(expires_at))},
        })
    try:
        yield table
    finally:
        dynamodb.delete_table(TableName=table)


@pytest.fixture
def floor_api(floors_table: str, tmp_path: Path) -> Iterator[Api]:
    """`python -m serving.api` in its own process over the table, as `make serve` starts it."""
    keys_file = tmp_path / "api_keys.json"
    keys_file.write_text(json.dumps({"keys": [{"name": "browser-test", "sha256": hash_key(API_KEY)}]}),
                         encoding="utf-8")
    port = free_port()
    env = {**os.environ, "YIELD_API_TABLE": floors_table, "YIELD_API_KEYS_FILE": str(keys_file),
           "YIELD_API_PORT": str(port), "YIELD_API_HOST": "127.0.0.1", "YIELD_API_PREBID_INVENTORY_TYPE": "standard"}
    log = (tmp_path / "api.log").open("wb")
    process = subprocess.Popen([sys.executable, "-m", "serving.api"], cwd=ROOT, env=env, stdout=log,
                               stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                status, health = http_json(url + "/v2/health")
                if status == 200 and health["items"] == len(FLOORS):
                    break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the floor API did not come up: {(tmp_path / 'api.log').read_text()[-2000:]}")
            time.sleep(0.2)
        yield Api(url, process)
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


class PageHandler(BaseHTTPRequestHandler):
    """The test page, the Prebid bundle, and a bid endpoint answering each bid with its params' cpm."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        path = self.path.split("?", 1)[0]
        files = {"/floors.html": (BROWSER / "page" / "floors.html", "text/html"),
                 "/prebid-floors.js": (BUNDLE, "application/javascript")}
        if path not in files:
            self.send_error(404)
            return
        file, media_type = files[path]
        self.reply(200, file.read_bytes(), media_type)

    def do_POST(self) -> None:  # noqa: N802
        imps = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"[]")
        bids = [{"bidId": imp["bidId"], "cpm": imp["cpm"]} for imp in imps if imp.get("respond", True)]
        self.reply(200, json.dumps(bids).encode(), "application/json")

    def reply(self, status: int, body: bytes, media_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", media_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


@pytest.fixture
def page_server() -> Iterator[str]:
    require_browser_setup()
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), PageHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def api_floors(api: Api) -> dict[tuple[str, int, str], dict[str, Any]]:
    """Our API's answer for every (device, tier, ad unit) of the cases, in one batch."""
    requests, index = [], []
    for device, tier, units in CASES:
        for ad_unit, fmt, _, _ in units:
            requests.append({"impression_id": f"{device}-{tier}-{ad_unit}", "hour_of_day": 12, "day_of_week": 3,
                             "country_tier": tier, "device_category": device, "format": fmt,
                             "inventory_type": "standard", "domain": DOMAIN, "ad_unit": ad_unit})
            index.append((device, tier, ad_unit))
    status, answers = http_json(api.url + "/v2/predict/batch", requests, {"X-API-Key": API_KEY})
    assert status == 200, answers
    return dict(zip(index, answers, strict=True))


def test_prebid_js_applies_the_floors_of_our_file(floor_api: Api, page_server: str, tmp_path: Path) -> None:
    expected = api_floors(floor_api)
    for device, tier, units in CASES:  # the API itself answers fine -> coarse -> static as written
        for ad_unit, _, floor, level in units:
            answer = expected[(device, tier, ad_unit)]
            assert (answer["floor_eur"], answer["level"]) == (floor, level), (device, tier, ad_unit, answer)

    floors_url = f"{floor_api.url}/v2/floors/prebid/{DOMAIN}?inventory_type=standard"
    cases = [{"deviceType": DEVICE_TYPES[device], "countryTier": tier, "adUnits": [
        {"code": ad_unit, "mediaType": fmt, "respond": fmt == "banner",
         "lowCpm": round(expected[(device, tier, ad_unit)]["floor_eur"] - MARGIN, 4),
         "highCpm": round(expected[(device, tier, ad_unit)]["floor_eur"] + MARGIN, 4)}
        for ad_unit, fmt, _, _ in units]} for device, tier, units in CASES]
    cases_file = tmp_path / "cases.json"
    cases_file.write_text(json.dumps(cases), encoding="utf-8")
    page_url = f"{page_server}/floors.html?" + urllib.parse.urlencode({"floors": floors_url,
                                                                        "bidder": f"{page_server}/bid"})
    run = subprocess.run(["node", str(BROWSER / "run_page.mjs"), page_url, str(cases_file), CHROMIUM],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-4000:]
    report = json.loads(run.stdout)

    # It is Prebid.js itself, the pinned version, with the Price Floors Module
    assert report["version"] == f"v{PREBID_VERSION}"
    assert "priceFloors" in report["installedModules"]
    # The browser fetched our file from the API's origin, not the page's: a read that CORS allowed
    assert [r for r in report["requests"] if r["url"] == floors_url]
    file = report["file"]["body"]
    assert report["file"]["status"] == 200 and file["floorsSchemaVersion"] == 2
    assert {r["url"].split("/")[2] for r in report["requests"]} == {page_server.split("/")[2],
                                                                   floor_api.url.split("/")[2]}

    # Every bid request's floor, from Prebid's getFloor, equals our API's floor
    want = {(DEVICE_TYPES[device], str(tier), ad_unit): expected[(device, tier, ad_unit)]["floor_eur"]
            for device, tier, units in CASES for ad_unit, _, _, _ in units}
    probes = report["probes"]
    assert len(probes) == 2 * len(want)  # two bidders per ad unit
    for probe in probes:
        key = (probe["deviceType"], probe["countryTier"], probe["adUnitCode"])
        assert probe["floor"] == {"floor": want[key], "currency": "EUR"}, (key, probe)
        data = probe["floorData"]
        assert data["location"] == "fetch" and data["fetchStatus"] == "success" and not data["skipped"], data
        assert data["modelVersion"] == MODEL and data["floorProvider"] == "predictive-yield", data

    # serving.prebid.match, the Python reference of Prebid's rule order, agrees with Prebid on every case
    for (device_type, tier, ad_unit), floor in want.items():
        media_type = next(fmt for d, t, units in CASES for u, fmt, _, _ in units
                          if (DEVICE_TYPES[d], str(t), u) == (device_type, tier, ad_unit))
        values = {"adUnitCode": ad_unit, "mediaType": media_type, "deviceType": device_type, "countryTier": tier}
        assert prebid.match(file, 0, values) == floor, (values, floor)

    # Enforcement: under the floor rejected, over it kept, with the floor we wrote
    banner = {(DEVICE_TYPES[device], str(tier), ad_unit) for device, tier, units in CASES
              for ad_unit, fmt, _, _ in units if fmt == "banner"}
    rejected = {(r["deviceType"], r["countryTier"], r["adUnitCode"]): r for r in report["rejected"]}
    assert set(rejected) == banner
    assert all(r["bidder"] == "probelow" and r["reason"] == "Bid does not meet price floor"
               for r in rejected.values()), rejected
    received = {(r["deviceType"], r["countryTier"], r["adUnitCode"]): r for r in report["received"]}
    assert set(received) == banner and len(report["received"]) == len(banner)
    rules = {(DEVICE_TYPES[device], str(tier), ad_unit): {
        "fine": f"{ad_unit}|*|{DEVICE_TYPES[device]}|{tier}", "coarse": f"*|{fmt}|{DEVICE_TYPES[device]}|{tier}",
        "static": "*|*|*|*"}[level] for device, tier, units in CASES for ad_unit, fmt, _, level in units}
    for key, bid in received.items():
        assert bid["bidder"] == "probehigh" and bid["floorCurrency"] == "EUR", bid
        assert bid["floorRule"] == rules[key], (key, bid)  # the rule Prebid matched: fine, coarse or the static row
        assert bid["floorValue"] == pytest.approx(want[key]) and rejected[key]["floorValue"] == pytest.approx(want[key])

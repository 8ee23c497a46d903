"""What the tests of models in the running job share (test_model_e2e.py, test_challenger_job.py):
a window's events over the e2e segments, the mini cluster's REST API, the scoring function's
metrics, and one window's floors from the lake."""

from __future__ import annotations

import json
import time
import urllib.request
from datetime import datetime, timedelta

import pandas as pd

from flink_jobs.config import AppConfig
from tests.support.e2e_scenario import SEGMENTS, WINDOW, iso
from training import lake
from udfs import scoring


def window_events(t0: datetime, w: int, prefix: str) -> list[dict]:
    """Six filled auctions per segment, late in window w (offsets 6-9.9 s): with the 5 s lateness
    they move the watermark past the end of window w-1, which closes it. `prefix` keeps the
    impression ids of one test apart from another's."""
    events = []
    for s, (domain, ad_unit, device, country, fmt, inventory) in enumerate(SEGMENTS):
        for i in range(6):
            cpm = round(0.9 + 0.4 * s + 0.1 * w + 0.03 * i, 2)
            events.append({
                "impression_id": f"{prefix}{w}-s{s}-i{i}",
                "event_time": iso(t0 + w * WINDOW + timedelta(milliseconds=6_000 + 600 * i + 50 * s)),
                "country": country, "device_category": device, "format": fmt, "inventory_type": inventory,
                "domain": domain, "ad_unit": ad_unit, "bidder": "appnexus", "demand_channel": "prebid",
                "user_engagement_score": round(0.1 * i, 2), "device_performance_score": 1.0 + s,
                "historical_ctr_avg": 0.01, "floor_price_eur": 0.5, "bid_count": 3,
                "top_bid_eur": cpm + 0.3, "second_bid_eur": cpm, "filled": True, "cpm_eur": cpm,
            })
    return events


def get(url: str) -> object:
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.load(r)


def rest_base(job_id: str, ports: range, timeout_s: float = 60.0) -> str:
    """The mini cluster's REST endpoint (it answers a little after the job starts)."""
    deadline, errors = time.monotonic() + timeout_s, {}
    while time.monotonic() < deadline:
        for port in ports:
            try:
                if job_id in {j["id"] for j in get(f"http://127.0.0.1:{port}/jobs")["jobs"]}:
                    return f"http://127.0.0.1:{port}"
            except (OSError, ValueError) as err:
                errors[port] = repr(err)
        time.sleep(2.0)
    raise AssertionError(f"no Flink REST endpoint on ports {ports} knows job {job_id}: {errors}")


def scoring_metric(base: str, job_id: str, name: str) -> list[float]:
    """The scoring function's metric kinesisanalytics.<name>, one value per subtask."""
    values = []
    for vertex in get(f"{base}/jobs/{job_id}")["vertices"]:
        url = f"{base}/jobs/{job_id}/vertices/{vertex['id']}/metrics"
        ids = [m["id"] for m in get(url) if m["id"].endswith(f".{scoring.METRIC_GROUP}.{name}")]
        if ids:
            values += [float(m["value"]) for m in get(f"{url}?get={','.join(ids)}")]
    return values


def floors_of_window(config: AppConfig, start: datetime) -> pd.DataFrame:
    floors = lake.read(config.lake.path, "floors")
    if floors.empty:
        return floors
    return floors[pd.to_datetime(floors["window_start"]) == pd.Timestamp(start)]

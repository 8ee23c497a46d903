"""The end-to-end scenario both local Kinesis stand-ins run: known events in, exact outputs out.

Known events (several segments, several windows, out of order within the lateness),
producer-retry duplicates and malformed records go into the stream; the real job
runs, is drained, and its Parquet, DynamoDB and Feature Store outputs must equal an
independent recomputation (pandas over the same events).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from flink_jobs.config import AppConfig
from flink_jobs.pipeline import PROVISIONAL_MODEL_VERSION, kinesis_source_options
from local_runs.runner import RunningJob, start_job
from serving.floor_reader import floors_in_table
from simulator.bad_records import bad_records
from simulator.producer import produce
from tests.support.online_records import assert_latest_online_records_match_parquet
from tests.support.raw_errors import assert_raw_errors_readable, non_utf8_records
from training import lake
from udfs import rules
from udfs.aws import aws_client

WINDOW = timedelta(seconds=10)

SEGMENTS = [  # domain, ad_unit, device, country, format, inventory
    ("elpais.es", "top", "mobile", "ES", "banner", "premium"),
    ("elpais.es", "side", "desktop", "PT", "banner", "standard"),
    ("marca.com", "video1", "mobile", "MX", "video", "premium"),
    ("as.com", "top", "mobile", "FR", "banner", "premium"),  # same coarse segment as the first
]


def iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def known_events(t0: datetime) -> list[dict]:
    """Three windows x four segments with varied counts, fills and prices."""
    events = []
    for w in range(3):
        for s, (domain, ad_unit, device, country, fmt, inventory) in enumerate(SEGMENTS):
            for i in range(3 + 4 * s + w):
                filled = (i + w + s) % 3 != 0
                cpm = round(0.8 + 0.37 * s + 0.11 * w + 0.05 * i, 2)
                events.append({
                    "impression_id": f"w{w}-s{s}-i{i}",
                    "event_time": iso(t0 + w * WINDOW + timedelta(milliseconds=9_000 * i // (3 + 4 * s + w) + 7 * s)),
                    "country": country, "device_category": device, "format": fmt, "inventory_type": inventory,
                    "domain": domain, "ad_unit": ad_unit, "bidder": "appnexus", "demand_channel": "prebid",
                    "user_engagement_score": round(0.1 * (i % 10), 2), "device_performance_score": 1.5 + s,
                    "historical_ctr_avg": 0.01 * (w + 1), "floor_price_eur": 0.5 + 0.1 * s,
                    "bid_count": i % 5, "top_bid_eur": cpm + 0.4 if i % 5 else None,
                    "second_bid_eur": cpm if i % 5 > 1 else None,
                    "filled": filled, "cpm_eur": cpm if filled else None,
                })
    # Out of order, but by less than the allowed lateness (5 s): every other event is sent
    # as if it were 3 s younger, so it arrives after events up to 3 s newer than itself.
    def send_order(pair: tuple[int, dict]) -> tuple[str, int]:
        i, event = pair
        shifted = datetime.fromisoformat(event["event_time"].replace("Z", "")) + timedelta(seconds=3 * (i % 2))
        return iso(shifted), i

    return [e for _, e in sorted(enumerate(events), key=send_order)]


def expected_features(events: list[dict], window: timedelta = WINDOW) -> pd.DataFrame:
    """The oracle: the aggregates recomputed with pandas from the events (each counted once)."""
    df = pd.DataFrame(events)
    df["event_time"] = pd.to_datetime(df["event_time"]).dt.tz_localize(None)
    df["window_start"] = df["event_time"].dt.floor(pd.Timedelta(window))
    df["country_tier"] = df["country"].map(rules.country_tier)
    frames = []
    for level, fields in rules.SEGMENT_KEY_FIELDS.items():
        d = df.copy()
        d["level"] = level
        d["segment_key"] = d[list(fields)].astype(str).agg(rules.KEY_SEPARATOR.join, axis=1)
        frames.append(d)
    both = pd.concat(frames)
    both["cpm_if_filled"] = both["cpm_eur"].where(both["filled"])
    grouped = both.groupby(["level", "segment_key", "window_start"])
    return grouped.agg(
        auctions=("impression_id", "count"),
        fills=("filled", "sum"),
        sum_cpm_eur=("cpm_if_filled", lambda s: s.fillna(0).sum()),
        mean_cpm_eur=("cpm_if_filled", "mean"),
        mean_bid_count=("bid_count", "mean"),
        mean_floor_price_eur=("floor_price_eur", "mean"),
        mean_user_engagement_score=("user_engagement_score", "mean"),
        premium_share=("inventory_type", lambda s: (s == "premium").mean()),
    ).reset_index()


def send(config: AppConfig, payloads: list[bytes]) -> int:
    kinesis = aws_client("kinesis", config.stream.endpoint, config.stream.region)
    return produce(kinesis, config.stream.stream_arn, payloads).records_sent


def wait_for(predicate: Callable[[], bool], timeout_s: float, what: str, job: RunningJob) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        job.assert_running()
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(1.0)


@dataclass
class Scenario:
    events: list[dict]
    duplicates: list[dict]
    bad: list[tuple[bytes, str]]
    late: dict  # sent after the job has read everything else: behind the watermark by then
    sent: int


def run_scenario(config: AppConfig, work_dir: Path, bad_kinds: int | None = None) -> Scenario:
    """Produce the scenario's records, run the job over them, drain it."""
    t0 = datetime.now(UTC).replace(microsecond=0, tzinfo=None) - timedelta(minutes=5)
    t0 = t0 - timedelta(seconds=t0.second % 10)
    events = known_events(t0)
    duplicates = events[::7]  # a producer retry sends these twice: dedup must count them once
    bad = bad_records(events[0])[:bad_kinds] + non_utf8_records(events[0])[:bad_kinds]
    payloads = [json.dumps(e).encode() for e in events + duplicates] + [p for p, _ in bad]
    sent = send(config, payloads)
    assert sent == len(payloads)

    # An auction of the first window, produced once the job has read the last window: the
    # watermark has passed it, so it must land in raw_late/ and in no window.
    late = dict(events[0], impression_id="late-1")

    job = start_job(config, kinesis_source_options(config), work_dir)
    try:
        job.wait_running()
        accepted = len(events) + len(duplicates)
        wait_for(lambda: len(lake.read(config.lake.path, "raw")) >= accepted,
                 120, "every accepted event committed to raw/", job)
        sent += send(config, [json.dumps(late).encode()])
        wait_for(lambda: len(lake.read(config.lake.path, "raw")) >= accepted + 1,
                 60, "the late event committed to raw/", job)
        job.drain()
    finally:
        job.cancel()
    return Scenario(events, duplicates, bad, late, sent)


def assert_outputs_match_oracle(config: AppConfig, scenario: Scenario) -> None:
    # Every reader reads raw_errors/ whole, non-UTF-8 records included, bytes intact.
    assert_raw_errors_readable(config, scenario.bad)
    raw = lake.read(config.lake.path, "raw")
    errors = lake.read(config.lake.path, "raw_errors")
    # Nothing lost, nothing read twice: accepted + rejected = sent.
    assert len(raw) + len(errors) == scenario.sent
    assert Counter(raw["impression_id"]) == Counter(
        e["impression_id"] for e in scenario.events + scenario.duplicates + [scenario.late])
    late = lake.read(config.lake.path, "raw_late")
    # The late auction, and possibly retried copies that arrived after the watermark passed them
    # (their first copy was counted on time; dedup would have dropped them anyway).
    assert scenario.late["impression_id"] in set(late["impression_id"])
    assert set(late["impression_id"]) <= {scenario.late["impression_id"]} | {
        e["impression_id"] for e in scenario.duplicates}, late[["impression_id", "event_time", "watermark_at_arrival"]]
    assert (late["event_time"] <= late["watermark_at_arrival"]).all()
    assert sorted(errors.get("reason", [])) == sorted(reason for _, reason in scenario.bad)
    assert set(map(bytes, errors.get("payload", []))) == {p for p, _ in scenario.bad}

    assert_features_and_floors_match(config, scenario.events)


def assert_features_and_floors_match(config: AppConfig, events: list[dict]) -> None:
    """Features and floors equal the oracle over `events` (the distinct, on-time events):
    every window once, exact counts, sums and means; the last filled window's floor per segment."""
    window = timedelta(milliseconds=config.job.window_ms)
    features = lake.read(config.lake.path, "features")
    features["window_start"] = pd.to_datetime(features["window_start"])
    got = features.set_index(["level", "segment_key", "window_start"]).sort_index()
    want = expected_features(events, window).set_index(["level", "segment_key", "window_start"]).sort_index()
    assert list(got.index) == list(want.index), "a window is missing or repeated"
    assert (got["auctions"] == want["auctions"]).all(), got[["auctions"]].join(want[["auctions"]], rsuffix="_want")
    assert (got["fills"] == want["fills"]).all()
    for column in ("sum_cpm_eur", "mean_cpm_eur", "mean_bid_count", "mean_floor_price_eur",
                   "mean_user_engagement_score", "premium_share"):
        pd.testing.assert_series_equal(got[column].astype(float), want[column].astype(float),
                                       check_names=False, rtol=1e-9)

    # Floors: the last filled window of each segment wins the upsert; the rule on its mean CPM.
    items = {(i["level"]["S"], i["segment_key"]["S"]): i for i in floors_in_table(config)}
    last = want[want["fills"] > 0].reset_index().sort_values("window_start").groupby(["level", "segment_key"]).last()
    assert set(items) == set(last.index)
    ttl_s = config.job.window_ms * config.job.floor_ttl_windows // 1000
    for key, row in last.iterrows():
        item = items[key]
        prime = rules.is_prime_time(row["window_start"].hour)
        premium = row["premium_share"] >= 0.5
        assert float(item["predicted_cpm_eur"]["N"]) == pytest.approx(row["mean_cpm_eur"], rel=1e-12)
        # The rule exactly on the job's own prediction; on the oracle's mean within one rounding step:
        # the two means differ in the last bits (summation order), which flips a half-up tie such as
        # 1.4254 x 0.75 = 1.06905.
        floor = float(item["floor_eur"]["N"])
        assert floor == rules.floor_price(float(item["predicted_cpm_eur"]["N"]), int(row["auctions"]), prime, premium)
        assert floor == pytest.approx(rules.floor_price(row["mean_cpm_eur"], int(row["auctions"]), prime, premium),
                                      abs=1.0001e-4)
        assert int(item["data_points"]["N"]) == row["auctions"]
        assert item["model_version"]["S"] == PROVISIONAL_MODEL_VERSION
        window_end = row["window_start"] + window
        assert item["window_end"]["S"] == iso(window_end)
        assert int(item["expires_at"]["N"]) == int(window_end.replace(tzinfo=UTC).timestamp()) + ttl_s

    emitted = lake.read(config.lake.path, "floors")
    assert len(emitted) == int((want["fills"] > 0).sum())

    # Online feature records: each segment's is its last window's Parquet features.
    if config.feature_store is not None and config.feature_store.enabled:
        assert_latest_online_records_match_parquet(config)

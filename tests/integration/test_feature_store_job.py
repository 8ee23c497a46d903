"""The real job writing online feature records to a Feature Store stand-in of its own.

Each test runs the job (PyFlink + connector jar) over kinesis-local against its own stand-in
instance (ports 5160/5161), so it can throttle or kill it without touching the shared one.
What arrived is read from the stand-in's change log (one line per applied PutRecord) and
compared with the Parquet features of the same windows.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from flink_jobs.config import AppConfig
from flink_jobs.pipeline import kinesis_source_options
from local_runs.runner import start_job
from serving.floor_reader import floors_in_table
from tests.integration.test_feature_store_standin import StandIn
from tests.support.e2e_scenario import WINDOW, expected_features, iso, known_events, run_scenario, send, wait_for
from tests.support.online_records import (
    assert_every_window_written,
    assert_latest_online_records_match_parquet,
    assert_valid_put_records,
    logged_puts,
)
from training import lake

pytestmark = pytest.mark.e2e


def own_store(config: AppConfig, server: StandIn) -> AppConfig:
    """The job's config with its FeatureStore endpoint pointed at `server`."""
    return replace(config, feature_store=replace(config.feature_store, endpoint=server.endpoint))


@pytest.fixture
def throttled_store(tmp_path: Path) -> Iterator[StandIn]:
    server = StandIn(tmp_path / "store", tmp_path / "store.log", 5160, ("--throttle-share", "0.2"))
    server.start()
    yield server
    server.kill()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StandIn]:
    server = StandIn(tmp_path / "store", tmp_path / "store.log", 5161)
    server.start()
    yield server
    server.kill()


def test_every_window_arrives_once_with_20_percent_of_puts_throttled(
        job_config: AppConfig, throttled_store: StandIn, tmp_path: Path):
    config = own_store(job_config, throttled_store)
    group = config.feature_store.feature_group_name
    run_scenario(config, tmp_path / "job")

    puts = logged_puts(throttled_store.data_dir, group)
    counts = assert_every_window_written(config, puts)
    # A throttled call changes nothing and the writer retries it: each window's record is applied once.
    assert set(counts.values()) == {1}, {k: n for k, n in counts.items() if n != 1}
    assert len(counts) == len(expected_features(known_events(datetime(2026, 1, 1))))
    assert throttled_store.admin("GET", "/_health")["throttle"]["throttled"] > 0
    assert_latest_online_records_match_parquet(config)
    # What the job sent passes the boto3 client's own parameter validation.
    assert_valid_put_records(group, puts)


@pytest.mark.slow  # 45-60 s: in make test-all; the writer's outage handling is in test_feature_store_writer
def test_store_down_mid_run_floors_go_on_and_the_queue_catches_up(
        job_config: AppConfig, store: StandIn, tmp_path: Path):
    """Windows 0-1 are written, the store is killed, an event of a later window closes window 2
    into the outage: its floors arrive anyway and its records wait in the writer's retry queue
    (the writer no longer waits for the store). The store comes back, the queue writes them,
    the job is drained: every window is there, once each."""
    config = own_store(job_config, store)
    group = config.feature_store.feature_group_name
    t0 = datetime.now(UTC).replace(microsecond=0, tzinfo=None) - timedelta(minutes=5)
    t0 = t0 - timedelta(seconds=t0.second % 10)
    events = known_events(t0)
    per_window = expected_features(events).groupby("window_start").size().tolist()
    assert send(config, [json.dumps(e).encode() for e in events]) == len(events)
    # Window 4: the watermark (its time minus the 5 s lateness) passes window 2's end.
    later = dict(events[0], impression_id="later-1", event_time=iso(t0 + 4 * WINDOW + timedelta(seconds=1)))

    job = start_job(config, kinesis_source_options(config), tmp_path / "job")
    try:
        job.wait_running()
        wait_for(lambda: len(lake.read(config.lake.path, "raw")) >= len(events), 120, "every event in raw/", job)
        # The watermark has passed windows 0 and 1: their records reach the store.
        wait_for(lambda: len(logged_puts(store.data_dir, group)) >= sum(per_window[:2]), 120,
                 "the records of windows 0 and 1", job)
        store.kill()

        assert send(config, [json.dumps(later).encode()]) == 1
        window_2_end = t0 + 3 * WINDOW
        wait_for(lambda: len(floors_in_table(job_config, since=window_2_end - timedelta(seconds=5))) > 0, 60,
                 "window 2's floors, with the store down", job)
        time.sleep(config.feature_store.write_deadline_ms / 1000 + 2)
        job.assert_running()
        assert len(logged_puts(store.data_dir, group)) == sum(per_window[:2]), "a put reached a dead store"
        store.start()
        wait_for(lambda: len(logged_puts(store.data_dir, group)) >= sum(per_window), 60,
                 "the retry queue to write window 2 once the store is back", job)
        job.drain(timeout_s=240)
    finally:
        job.cancel()

    counts = assert_every_window_written(config, logged_puts(store.data_dir, group))
    assert set(counts.values()) == {1}, {k: n for k, n in counts.items() if n != 1}
    # Windows 0-2, each once. Window 4 (the later event) fires only if the drain comes before the
    # shards go idle (see RunningJob.drain); if it fired, it is in Parquet and was checked above.
    assert sum(1 for _, end in counts if end <= iso(window_2_end)) == sum(per_window)
    assert_latest_online_records_match_parquet(config)

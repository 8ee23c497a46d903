"""A Feature Store outage longer than the writer's deadline must not hold floors back.

The real job runs over the real stand-ins with live traffic (event times = the wall clock,
several hundred segments per 10 s window) and reaches the shared Feature Store stand-in
through a fault proxy of ours. The proxy is blocked for several windows: each window's floors
must still reach DynamoDB within a few seconds of the window's close (the window end plus the
watermark lateness), as before the outage. Once unblocked, the writer's retry queue drains
and every segment's online record converges to its last window's Parquet features.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from flink_jobs.config import AppConfig
from flink_jobs.pipeline import kinesis_source_options
from local_kinesis import standins
from local_runs.runner import start_job
from serving.floor_reader import floors_in_table
from simulator.events import generate_events
from tests.support.e2e_scenario import send, wait_for
from tests.support.fault_proxy import FaultProxy
from tests.support.online_records import assert_latest_online_records_match_parquet

# About 2.5 minutes: in make test-all (marked slow), keeping make test under 15 minutes.
pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PROXY_PORT = 5164
WINDOW_S = 10
EVENTS_PER_SECOND = 120  # ~600 segment rows per window (fine and coarse)
BEFORE_S, OUTAGE_S, AFTER_S = 20, 40, 10  # traffic before, during and after the outage
# A window closes when the watermark (newest event time minus the lateness) passes its end;
# its floors are due right after. Allowed on top: the writer's deadline and a margin.
FLOOR_MARGIN_S = 8.0  # the job and the poll on a loaded 2-core machine: the baseline itself reached 11 s


def epoch(text: str) -> float:
    return pd.Timestamp(text).tz_localize(None).tz_localize("UTC").timestamp()


class FloorWatch:
    """Polls the floors table; the wall time each window end was first seen there."""

    def __init__(self, config: AppConfig) -> None:
        self.config = config
        self.first_seen: dict[float, float] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            now = time.time()
            for item in floors_in_table(self.config):
                self.first_seen.setdefault(epoch(item["window_end"]["S"]), now)
            self.stop.wait(0.25)

    def delays(self, first_end: float, last_end: float) -> dict[float, float]:
        return {end: seen - end for end, seen in sorted(self.first_seen.items()) if first_end <= end <= last_end}


def live_producer(config: AppConfig, events: list[dict], stop: threading.Event) -> threading.Thread:
    """Sends each event once the wall clock reaches its event time."""
    times = [epoch(e["event_time"]) for e in events]

    def run() -> None:
        sent = 0
        while sent < len(events) and not stop.is_set():
            now = time.time()
            due = sent
            while due < len(events) and times[due] <= now:
                due += 1
            if due > sent:
                send(config, [json.dumps(e).encode() for e in events[sent:due]])
                sent = due
            stop.wait(0.2)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def run_outage(job_config: AppConfig, work_dir: Path) -> dict[str, dict[float, float]]:
    """Runs the scenario; returns the floor delays (s after the window end) before, during and after."""
    lateness_s = job_config.job.lateness_ms / 1000
    with FaultProxy(standins.HOST, standins.FEATURE_STORE_PORT, listen_port=PROXY_PORT) as proxy:
        config = replace(job_config, feature_store=replace(job_config.feature_store, endpoint=proxy.url))
        job = start_job(config, kinesis_source_options(config), work_dir)
        stop = threading.Event()
        watch = FloorWatch(job_config)
        try:
            job.wait_running()
            start = (int(time.time()) // WINDOW_S + 1) * WINDOW_S + WINDOW_S  # a window boundary, ahead
            total_s = BEFORE_S + OUTAGE_S + AFTER_S
            events = generate_events(total_s * EVENTS_PER_SECOND, seed=17,
                                     start=datetime.fromtimestamp(start, UTC), events_per_second=EVENTS_PER_SECOND)
            events = [e for e in events if epoch(e["event_time"]) < start + total_s]
            producer = live_producer(config, events, stop)
            watch.thread.start()

            # The outage spans the closes (end + lateness) of the windows ending in
            # (start + BEFORE_S, start + BEFORE_S + OUTAGE_S], and a little more.
            block_at = start + BEFORE_S + lateness_s / 2
            unblock_at = start + BEFORE_S + OUTAGE_S + lateness_s + 1
            time.sleep(max(0.0, block_at - time.time()))
            proxy.block("refuse")
            time.sleep(max(0.0, unblock_at - time.time()))
            job.assert_running()
            assert proxy.refused > 0, "the writer never met the outage"
            proxy.unblock()
            producer.join(AFTER_S + 30)

            # Events well after the traffic, on every shard (the watermark is the slowest shard's):
            # the watermark passes every traffic window without waiting for the idle timeout.
            last_end = start + total_s
            advance_at = datetime.fromtimestamp(last_end + 2 * WINDOW_S, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
            send(config, [json.dumps(dict(events[-1], impression_id=f"advance-{i}", event_time=advance_at)).encode()
                          for i in range(40)])
            wait_for(lambda: max(watch.first_seen, default=0) >= last_end, 60, "the last window's floors", job)

            def converged() -> bool:
                try:
                    assert_latest_online_records_match_parquet(job_config)
                except AssertionError:
                    return False
                return True

            # While the job still runs: the retry queue drained what the outage shed.
            wait_for(converged, 90, "the online records to converge to the last windows", job)
            watch.stop.set()
            job.drain()
        finally:
            stop.set()
            watch.stop.set()
            job.cancel()
    return {
        "before": watch.delays(start + WINDOW_S, start + BEFORE_S),
        "outage": watch.delays(start + BEFORE_S + WINDOW_S, start + BEFORE_S + OUTAGE_S),
        "after": watch.delays(start + BEFORE_S + OUTAGE_S + WINDOW_S, last_end),
    }


def test_floors_arrive_on_time_while_the_feature_store_is_down(job_config: AppConfig, tmp_path: Path):
    delays = run_outage(job_config, tmp_path / "job")
    print({phase: [round(d, 1) for d in by_end.values()] for phase, by_end in delays.items()})
    lateness_s = job_config.job.lateness_ms / 1000
    allowed = lateness_s + job_config.feature_store.write_deadline_ms / 1000 + FLOOR_MARGIN_S
    assert len(delays["before"]) == BEFORE_S // WINDOW_S and len(delays["outage"]) == OUTAGE_S // WINDOW_S
    for phase, by_end in delays.items():
        late = {datetime.fromtimestamp(end, UTC).isoformat(): round(d, 1) for end, d in by_end.items() if d > allowed}
        assert not late, f"{phase}: floors later than {allowed:.0f} s after the window end: {late}"
    # After the drain too, each segment's online record is its last window.
    assert_latest_online_records_match_parquet(job_config)


def test_window_ends_are_compared_in_utc():
    assert epoch("2026-12-01T04:11:20.000Z") == datetime(2026, 12, 1, 4, 11, 20, tzinfo=UTC).timestamp()
    assert epoch("2026-12-01T04:11:20") == epoch("2026-12-01T04:11:20.000Z")

"""An old savepoint restored after newer floors were written: no floor moves backwards.

The real job over kinesis-local and moto, three runs on one stream and one floors table:

1. windows 0-2 of the known events; once windows 0 and 1 have fired, stop with a savepoint S1
   (no drain: window 2 stays open in the savepoint);
2. from S1, windows 3-5 for the same segments, drained: the table holds every segment's newest
   floor;
3. from S1 again (the wrong snapshot restored, a blue/green switch back): the job re-reads what
   followed S1 and emits the floors of windows 2-5 once more (its own lake shows them). The
   DynamoDB sink writes conditionally on window_end, so the older windows are skipped
   (floorsSkippedAsOlder) and the newest rewrites the same values: the table never shows an
   older floor, and ends equal to run 2's.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from flink_jobs.config import AppConfig
from flink_jobs.pipeline import kinesis_source_options
from local_runs.runner import RunningJob, start_job
from serving.floor_reader import floors_in_table
from tests.support.e2e_scenario import WINDOW, iso, known_events, send, wait_for
from tests.support.fault_scenario import FAULT_IDLE_TIMEOUT_MS, scenario_start
from training import lake

# About 2 minutes: three job runs. In make test-all.
pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def stop_with_savepoint(job: RunningJob, timeout_s: float = 120.0) -> str:
    """Stop with a savepoint WITHOUT advancing event time: open windows stay open in it."""
    from pyflink.common.completable_future import CompletableFuture
    from pyflink.java_gateway import get_gateway

    j_client = job.result.get_job_client()._j_job_client  # PyFlink 2.2's wrapper lacks the format type
    canonical = get_gateway().jvm.org.apache.flink.core.execution.SavepointFormatType.CANONICAL
    future = CompletableFuture(j_client.stopWithSavepoint(False, job.savepoint_dir.as_uri(), canonical), str)
    deadline = time.monotonic() + timeout_s
    while not future.done():
        assert time.monotonic() < deadline, "no savepoint"
        time.sleep(0.2)
    return future.result()


def table(config: AppConfig) -> dict[tuple[str, str], tuple[str, str]]:
    """(level, segment_key) -> (window_end, floor_eur) as the ad server would read them."""
    return {(i["level"]["S"], i["segment_key"]["S"]): (i["window_end"]["S"], i["floor_eur"]["N"])
            for i in floors_in_table(config)}


def window_ends(config: AppConfig) -> set[str]:
    return {value[0] for value in table(config).values()}


def test_an_old_savepoint_restored_never_moves_a_floor_back(job_config: AppConfig, tmp_path: Path):
    config = replace(job_config, job=replace(job_config.job, idle_timeout_ms=FAULT_IDLE_TIMEOUT_MS))
    source = kinesis_source_options(config)
    t0 = scenario_start()
    first = known_events(t0)  # windows 0-2
    later = [dict(e, impression_id=f"later-{e['impression_id']}") for e in known_events(t0 + 3 * WINDOW)]  # 3-5

    # 1. Windows 0 and 1 fire; window 2 is open when the savepoint S1 is taken.
    assert send(config, [json.dumps(e).encode() for e in first]) == len(first)
    job = start_job(config, source, tmp_path / "run1")
    try:
        job.wait_running()
        wait_for(lambda: iso(t0 + 2 * WINDOW) in window_ends(config), 120, "window 1's floors", job)
        s1 = stop_with_savepoint(job)
    finally:
        job.cancel()
    restore = {"execution.state-recovery.path": s1}

    # 2. From S1: windows 3-5, drained. The newest floors.
    assert send(config, [json.dumps(e).encode() for e in later]) == len(later)
    job = start_job(config, source, tmp_path / "run2", settings=restore)
    try:
        job.wait_running()
        wait_for(lambda: iso(t0 + 5 * WINDOW) in window_ends(config), 120, "window 4's floors", job)
        job.drain()
    finally:
        job.cancel()
    newest = table(config)
    assert iso(t0 + 6 * WINDOW) in {end for end, _ in newest.values()}, "window 5 drained"

    # 3. From S1 again, after the newer floors: watch the table all along.
    replay = replace(config, lake=replace(config.lake, path=(tmp_path / "replay-lake").as_uri()))
    seen_back: list[str] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            now = table(config)
            seen_back.extend(f"{key}: {now[key]} after {newest[key]}" for key in newest if now.get(key) != newest[key])
            time.sleep(0.3)

    # Started once the job runs: planning the job while another Python thread exists failed in
    # Calcite (NullPointerException: metadataHandlerProvider, a thread-local of the planner).
    watcher = threading.Thread(target=watch, daemon=True)
    job = start_job(replay, source, tmp_path / "run3", settings=restore)
    try:
        job.wait_running()
        watcher.start()

        def replayed(end: str) -> bool:
            floors = lake.read(replay.lake.path, "floors")
            return len(floors) > 0 and end in {iso(t) for t in pd.to_datetime(floors["window_end"])}

        wait_for(lambda: replayed(iso(t0 + 5 * WINDOW)), 120, "the replay's window 4 floors", job)
        job.drain()
    finally:
        job.cancel()
        stop.set()
        if watcher.is_alive():
            watcher.join(timeout=10)

    emitted = lake.read(replay.lake.path, "floors")
    ends = {iso(t) for t in pd.to_datetime(emitted["window_end"])}
    assert {iso(t0 + n * WINDOW) for n in (3, 4, 5, 6)} <= ends, "the replay emitted the older windows again"
    assert not seen_back, "a floor moved: " + "; ".join(seen_back[:5])
    assert table(config) == newest

"""The end-to-end scenario under faults: the same known events, a fault while the job runs.

Wraps tests/e2e_scenario.py (its events, its oracle and its output checks) for the fault tests:
- the events are produced with the producer's log of acknowledged records, and the oracle is
  built from that log (what the stream really holds), not from what we meant to send;
- the job runs with restarts disabled, so a fault that fails the job fails the test instead of
  being papered over by a silent restore from the last checkpoint;
- a test supplies the fault as steps: produce some, break something, produce more, repair.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from flink_jobs.config import AppConfig
from flink_jobs.main import create_table_env
from flink_jobs.pipeline import build_statement_set, kinesis_source_options
from local_runs.runner import RunningJob
from simulator.producer import produce, read_log
from tests.support.e2e_scenario import Scenario, known_events, wait_for
from training import lake
from udfs.aws import aws_client

FAULT_IDLE_TIMEOUT_MS = 30 * 60_000


def scenario_start() -> datetime:
    """Event time of the first window: five minutes ago, on a 10 s boundary (as run_scenario)."""
    t0 = datetime.now(UTC).replace(microsecond=0, tzinfo=None) - timedelta(minutes=5)
    return t0 - timedelta(seconds=t0.second % 10)


def start_job_without_restarts(config: AppConfig, work_dir: Path) -> RunningJob:
    """local_runs.runner.start_job, but a failure ends the job instead of restoring it."""
    work_dir.mkdir(parents=True, exist_ok=True)
    t_env = create_table_env(config, on_msf=False, checkpoint_dir=(work_dir / "checkpoints").as_uri())
    t_env.get_config().set("restart-strategy.type", "none")
    statements = build_statement_set(t_env, config, kinesis_source_options(config))
    return RunningJob(result=statements.execute(), savepoint_dir=work_dir / "savepoints")


class LoggedProducer:
    """Sends events to the job's stream; every acknowledged record goes to one log (the oracle's input)."""

    def __init__(self, config: AppConfig, log_dir: Path):
        self.config = config
        self.kinesis = aws_client("kinesis", config.stream.endpoint, config.stream.region)
        self.log_dir = log_dir
        self.batches = 0

    def send(self, events: list[dict]) -> int:
        self.batches += 1
        path = self.log_dir / f"produced-{self.batches:02d}.jsonl"
        stats = produce(self.kinesis, self.config.stream.stream_arn, [json.dumps(e).encode() for e in events],
                        log=path)
        assert stats.records_sent == len(events)
        return stats.records_sent

    def acknowledged(self) -> list[dict[str, str]]:
        return [ack for path in sorted(self.log_dir.glob("produced-*.jsonl")) for ack in read_log(path)]


def oracle_scenario(events: list[dict], acknowledged: list[dict[str, str]], late: dict) -> Scenario:
    """What e2e_scenario.assert_outputs_match_oracle checks, from the producer's log.

    Every acknowledged impression is one auction; its first acknowledged copy is the event,
    every further copy a duplicate the job must read but count once.
    """
    by_id = {e["impression_id"]: e for e in events + [late]}
    seen: set[str] = set()
    first, again = [], []
    for ack in acknowledged:
        event = by_id[ack["impression_id"]]
        (again if ack["impression_id"] in seen else first).append(event)
        seen.add(ack["impression_id"])
    assert late in first, "the late auction was not acknowledged"
    first.remove(late)
    return Scenario(events=first, duplicates=again, bad=[], late=late, sent=len(acknowledged))


def run_with_fault(
    config: AppConfig,
    work_dir: Path,
    during: Callable[[LoggedProducer, list[dict], RunningJob], None],
    read_timeout_s: float = 240,
    before: Callable[[LoggedProducer, list[dict]], None] | None = None,
) -> tuple[Scenario, LoggedProducer]:
    """Start the job, let ``during`` produce the known events and inject its fault, then finish
    as run_scenario does: wait until raw/ holds every acknowledged record, send the late auction,
    drain. ``before`` may produce (and break things) before the job starts. Returns the oracle's
    scenario, built from the producer's log."""
    # A fault keeps the traffic waiting longer than the source's idle timeout; a drain while every
    # split is idle would not fire the last window (FLINK-40499, see runner.drain). Nothing in these
    # runs needs idleness (every reader has shards with traffic), so it is pushed out of reach.
    config = replace(config, job=replace(config.job, idle_timeout_ms=FAULT_IDLE_TIMEOUT_MS))
    events = known_events(scenario_start())
    late = dict(events[0], impression_id="late-1")
    producer = LoggedProducer(config, work_dir / "producer")
    producer.log_dir.mkdir(parents=True, exist_ok=True)
    if before is not None:
        before(producer, events)
    job = start_job_without_restarts(config, work_dir / "job")
    try:
        job.wait_running()
        during(producer, events, job)
        sent = len(producer.acknowledged())
        wait_for(lambda: len(lake.read(config.lake.path, "raw")) >= sent, read_timeout_s,
                 f"all {sent} acknowledged records committed to raw/", job)
        producer.send([late])
        wait_for(lambda: len(lake.read(config.lake.path, "raw")) >= sent + 1, 120,
                 "the late event committed to raw/", job)
        job.assert_running()
        job.drain(timeout_s=240)
    finally:
        job.cancel()
    return oracle_scenario(events, producer.acknowledged(), late), producer


def raw_matches_log(config: AppConfig, producer: LoggedProducer) -> None:
    """Every acknowledged record was read exactly once: raw/ holds each copy, no more, no less."""
    raw = lake.read(config.lake.path, "raw")
    assert Counter(raw["impression_id"]) == Counter(a["impression_id"] for a in producer.acknowledged())


def sleep_until(deadline: float) -> None:
    time.sleep(max(0.0, deadline - time.monotonic()))

"""A bad configuration stops the job at start with a message that names the property."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from flink_jobs.config import ConfigError, load_config, parse_duration_ms, write_properties
from flink_jobs.sql import interval_sql
from schemas import SQL_DIR
from tests.support import validation_sql as validation


def test_local_properties_load():
    config = load_config()
    assert config.stream.stream_name == "auction-events"
    assert config.job.window_ms == 10_000
    assert config.lake.path.startswith("file:///")
    assert config.model.floor_policy == "revenue"
    assert (config.model.policy.floor_min_eur, config.model.policy.floor_max_eur) == (0.50, 10.00)
    assert (config.model.policy.fill_margin, config.model.policy.max_step) == (0.10, 1.5)


@pytest.mark.parametrize(
    ("group", "key", "value", "named"),
    [
        ("AuctionStream", "stream.arn", "auction-events", "AuctionStream.stream.arn"),
        ("AuctionStream", "source.init.position", "EARLIEST", "AuctionStream.source.init.position"),
        ("AuctionStream", "aws.region", "", "AuctionStream.aws.region"),
        ("AuctionStream", "aws.trust.all.certificates", "yes", "AuctionStream.aws.trust.all.certificates"),
        ("Job", "window.size", "1 hour", "Job.window.size"),
        ("Job", "window.size", "0 s", "Job.window.size"),
        ("Job", "parallelism", "two", "Job.parallelism"),
        ("Job", "parallelism", "1000", "Job.parallelism"),
        ("Job", "watermark.lateness", "2 h", "Job.watermark.lateness"),
        ("FloorsTable", "table.name", " ", "FloorsTable.table.name"),
        ("Model", "floor.policy", "greedy", "Model.floor.policy"),
        ("Model", "floor.fill.margin", "1.5", "Model.floor.fill.margin"),
        ("Model", "floor.fill.margin", "nan", "Model.floor.fill.margin"),
        ("Model", "floor.max.step", "0.9", "Model.floor.max.step"),
        ("Model", "floor.min.eur", "12", "Model.floor.min.eur"),
        ("Model", "floor.max.eur", "ten", "Model.floor.max.eur"),
    ],
)
def test_bad_property_is_named(tmp_path: Path, group: str, key: str, value: str, named: str):
    path = write_properties(tmp_path / "props.json", {group: {key: value}})
    with pytest.raises(ConfigError, match=re.escape(named)):
        load_config(path)


def test_missing_group_and_bad_file(tmp_path: Path):
    groups = [g for g in json.loads(write_properties(tmp_path / "a.json", {}).read_text())
              if g["PropertyGroupId"] != "FloorsTable"]
    (tmp_path / "b.json").write_text(json.dumps(groups))
    with pytest.raises(ConfigError, match="FloorsTable"):
        load_config(tmp_path / "b.json")
    (tmp_path / "c.json").write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_config(tmp_path / "c.json")
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.json")


@pytest.mark.parametrize(("text", "ms"), [("500 ms", 500), ("10 s", 10_000), ("5 min", 300_000), ("1 h", 3_600_000),
                                          ("1 d", 86_400_000), ("10s", 10_000)])
def test_durations(text: str, ms: int):
    assert parse_duration_ms(text, "x") == ms


def test_raw_events_table_has_every_event_field():
    """The Parquet table and the JSON schema must not drift apart."""
    ddl = (SQL_DIR / "raw_events.sql").read_text()
    columns = set(re.findall(r"^\s+`?(\w+)`?\s+[A-Z]", ddl, flags=re.M))
    assert {f.name for f in validation.fields()} <= columns


def test_job_entry_point_stops_on_bad_config(tmp_path: Path):
    """`python flink_jobs/main.py` (as MSF runs it) exits non-zero, naming the property."""
    path = write_properties(tmp_path / "props.json", {"Job": {"window.size": "soon"}})
    result = subprocess.run(
        [sys.executable, str(Path(__file__).resolve().parents[2] / "flink_jobs" / "main.py")],
        env=os.environ | {"YIELD_PROPERTIES": str(path)}, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert "Job.window.size" in result.stderr


@pytest.mark.parametrize(("ms", "literal"), [
    (5_000, "INTERVAL '0 00:00:05.000' DAY TO SECOND(3)"),
    (3_600_000, "INTERVAL '0 01:00:00.000' DAY TO SECOND(3)"),
    (90_500, "INTERVAL '0 00:01:30.500' DAY TO SECOND(3)"),
    (2 * 86_400_000 + 61_000, "INTERVAL '2 00:01:01.000' DAY TO SECOND(3)"),
])
def test_interval_literals(ms: int, literal: str):
    """Windows and lateness of any size render as literals Flink accepts (1 h as '3600' SECOND fails)."""
    assert interval_sql(ms) == literal

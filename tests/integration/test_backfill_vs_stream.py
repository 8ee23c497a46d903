"""Backfilled history and streamed features agree: the same events through the backfill
(pandas) and through the real job (Flink, file source) give the same feature rows."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from flink_jobs.config import AppConfig, load_config
from flink_jobs.pipeline import file_source_options
from local_runs.runner import start_job
from simulator.market import DEFAULT_START, Market, backfill
from tests.conftest import e2e_config
from training import lake

pytestmark = pytest.mark.e2e

KEY = ["level", "segment_key", "window_start"]


@pytest.fixture
def hourly_config(tmp_path: Path, running_standins: None) -> AppConfig:
    arn = load_config().stream.stream_arn.rsplit("/", 1)[0] + f"/unused-{uuid.uuid4().hex[:8]}"
    config = e2e_config(tmp_path, {"stream.arn": arn})
    # Backfill writes hourly windows, as production does.
    return replace(config, job=replace(config.job, window_ms=3_600_000))


def test_backfilled_and_streamed_features_agree(hourly_config: AppConfig, tmp_path: Path):
    start, hours = DEFAULT_START + timedelta(hours=18), 2
    market = Market(seed=21)
    backfilled_lake = (tmp_path / "backfill").as_uri()
    stats = backfill(market, backfilled_lake, start, hours / 24, mean_rate=1.0)
    assert stats["hours"] == hours and stats["events"] > 2_000

    # The same events (a slice is the same whatever span generates it), as the stream carries them.
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"".join(s.jsonl() for s in market.span(start, start + timedelta(hours=hours), 1.0,
                                                                truth=False)))
    job = start_job(hourly_config, file_source_options(events.as_uri()), tmp_path / "job")
    job.result.wait()  # a bounded source: the job ends by itself, every window fired

    streamed = lake.read(hourly_config.lake.path, "features").drop(columns=["year", "month", "day", "hour"])
    filled = lake.read(backfilled_lake, "features").drop(columns=["year", "month", "day", "hour"])
    for frame in (streamed, filled):
        frame["window_start"] = pd.to_datetime(frame["window_start"])
    got = streamed.set_index(KEY).sort_index()
    want = filled.set_index(KEY).sort_index()
    assert len(got) > 100
    assert got.index.equals(want.index), "backfill and stream disagree on which segment-windows exist"
    for column in want.columns.drop("window_end"):
        if pd.api.types.is_numeric_dtype(want[column]) and not pd.api.types.is_bool_dtype(want[column]):
            np.testing.assert_allclose(got[column].astype(float), want[column].astype(float), rtol=1e-9,
                                       err_msg=column)
        else:
            assert (got[column] == want[column]).all(), column

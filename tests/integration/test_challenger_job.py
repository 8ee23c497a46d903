"""Champion and challenger in the real job (PyFlink + connector jar, kinesis-local, moto): one run,
two windows.

    before start    the manifest names a champion (v1) and a challenger (v2)
                    -> window 0: each floor item carries both arms' floors
    after window 0  the challenger is stopped (one manifest write)
                    -> window 1: the items carry the champion's floor alone, with exactly the
                       attributes they had before challengers existed

The DynamoDB items are read back with boto3; each challenger floor must equal what the
challenger's booster gives offline on the job's own feature rows (read from the lake), under the
same rule as the champion's.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from flink_jobs.config import AppConfig, ModelConfig
from flink_jobs.pipeline import kinesis_source_options
from local_runs.runner import start_job
from serving.floor_reader import floors_in_table
from tests.support.e2e_scenario import SEGMENTS, WINDOW, iso, send, wait_for
from tests.support.model_helpers import write_challenger
from tests.support.model_swap_job import floors_of_window, rest_base, scoring_metric, window_events
from training import lake
from udfs import model_store, scoring
from udfs.model_features import model_inputs

pytestmark = pytest.mark.e2e

REST_PORTS = range(5180, 5190)  # the mini cluster takes the first free one
CHAMPION, CHALLENGER = "20260201T000001Z", "20260201T000002Z"
FLOORS_PER_WINDOW = len(SEGMENTS) + len({(s[4], s[5], s[2], s[3]) for s in SEGMENTS}) - 1  # 4 fine + 3 coarse
# The attributes of a floor item without a challenger (the columns of floors_dynamodb before the arms).
CHAMPION_ATTRIBUTES = {"level", "segment_key", "floor_eur", "predicted_cpm_eur", "model_version", "policy",
                       "window_start", "window_end", "data_points", "expires_at"}


def test_both_arms_floors_reach_dynamodb(job_config: AppConfig, tmp_path: Path) -> None:
    config = replace(job_config, model=ModelConfig(manifest_poll_ms=1000))
    lake_uri = config.lake.path
    write_challenger(lake_uri, CHAMPION, scale=1.0)
    write_challenger(lake_uri, CHALLENGER, scale=2.0)
    model_store.promote(lake_uri, CHAMPION)
    model_store.start_challenger(lake_uri, CHALLENGER)

    t0 = datetime.now(UTC).replace(microsecond=0, tzinfo=None) - timedelta(minutes=10)
    t0 -= timedelta(seconds=t0.second % 10)
    send(config, [json.dumps(e).encode() for w in (0, 1) for e in window_events(t0, w, "c")])
    job = start_job(config, kinesis_source_options(config), tmp_path / "job",
                    settings={"rest.bind-address": "127.0.0.1",
                              "rest.bind-port": f"{REST_PORTS.start}-{REST_PORTS.stop - 1}"})
    try:
        job.wait_running()
        base = rest_base(job.job_id, REST_PORTS)
        wait_for(lambda: len(floors_of_window(config, t0)) >= FLOORS_PER_WINDOW, 180, "the floors of window 0", job)
        wait_for(lambda: len(floors_in_table(config)) >= FLOORS_PER_WINDOW, 60, "window 0 in DynamoDB", job)
        two_arm_items = floors_in_table(config)  # boto3 Scan of the table the job wrote
        wait_for(lambda: sum(scoring_metric(base, job.job_id, "ChallengerFloorsScored")) >= FLOORS_PER_WINDOW, 90,
                 "ChallengerFloorsScored to count window 0", job)
        assert set(scoring_metric(base, job.job_id, "ChallengerModelVersion")) == {20260201000002}

        model_store.stop_challenger(lake_uri)
        time.sleep(2.5)  # past the 1 s poll interval before window 1 closes
        send(config, [json.dumps(e).encode() for e in window_events(t0, 2, "c")])
        wait_for(lambda: len(floors_of_window(config, t0 + WINDOW)) >= FLOORS_PER_WINDOW, 180,
                 "the floors of window 1", job)
        wait_for(lambda: {i["window_end"]["S"] for i in floors_in_table(config)} == {iso(t0 + 2 * WINDOW)}, 60,
                 "window 1 in DynamoDB", job)
        champion_items = floors_in_table(config)
        # No challenger now (the REST API's metrics lag up to its fetch interval, 10 s by default).
        wait_for(lambda: set(scoring_metric(base, job.job_id, "ChallengerModelVersion")) == {0}, 40,
                 "ChallengerModelVersion 0 once the challenger is stopped", job)
        job.drain()
    finally:
        job.cancel()

    features = lake.read(lake_uri, "features")
    features["window_start"] = pd.to_datetime(features["window_start"])
    key = ["level", "segment_key", "window_start"]
    window0 = features[features["window_start"] == pd.Timestamp(t0)].set_index(["level", "segment_key"])
    champion_model, challenger_model = (
        model_store.load_model(model_store.ModelRef(v, model_store.slot_uri(lake_uri, "current", v)))
        for v in (CHAMPION, CHALLENGER))

    # Window 0 in DynamoDB: one item per segment (table key unchanged) with both arms' floors.
    assert len(two_arm_items) == FLOORS_PER_WINDOW
    for item in two_arm_items:
        assert set(item) == CHAMPION_ATTRIBUTES | {"challenger_floor_eur", "challenger_model_version"}
        assert (item["model_version"]["S"], item["challenger_model_version"]["S"]) == (CHAMPION, CHALLENGER)
        assert item["window_end"]["S"] == iso(t0 + WINDOW)
        row = window0.loc[[(item["level"]["S"], item["segment_key"]["S"])]].reset_index()
        offline_challenger = scoring.floors(row, challenger_model.predict(model_inputs(row)))[0]
        offline_champion = scoring.floors(row, champion_model.predict(model_inputs(row)))[0]
        assert float(item["challenger_floor_eur"]["N"]) == offline_challenger
        assert float(item["floor_eur"]["N"]) == offline_champion
    assert any(float(i["challenger_floor_eur"]["N"]) != float(i["floor_eur"]["N"]) for i in two_arm_items)

    # Window 1, after the stop: the champion's floor alone, no challenger attribute at all.
    assert len(champion_items) == FLOORS_PER_WINDOW
    assert all(set(i) == CHAMPION_ATTRIBUTES and i["model_version"]["S"] == CHAMPION for i in champion_items)

    # Floors Parquet: the same two columns, NULL after the stop.
    floors = lake.read(lake_uri, "floors")
    floors["window_start"] = pd.to_datetime(floors["window_start"])
    assert not floors.duplicated(key).any()
    first = floors[floors["window_start"] == pd.Timestamp(t0)]
    second = floors[floors["window_start"] == pd.Timestamp(t0 + WINDOW)]
    assert (first["challenger_model_version"] == CHALLENGER).all()
    stored = {(i["level"]["S"], i["segment_key"]["S"]): float(i["challenger_floor_eur"]["N"]) for i in two_arm_items}
    assert {(r.level, r.segment_key): r.challenger_floor_eur for r in first.itertuples()} == stored
    assert second["challenger_floor_eur"].isna().all() and second["challenger_model_version"].isna().all()

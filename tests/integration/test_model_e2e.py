"""Models in the real job (PyFlink + connector jar, kinesis-local, moto): one run, six windows.

    before start   a corrupt model is current      -> window 0: provisional floors, failure counted
    after window 0 a good model v1 is promoted     -> windows 1, 2: v1
    after window 1 a corrupt v2 is promoted        -> window 2 keeps v1, failure counted
    after window 2 a good model v3 is promoted     -> window 3: v3
    after window 3 v1 is promoted again from the champion slot (back to a named version) -> window 4: v1
    after window 4 `model_store.rollback` (one manifest write: the champion v1 replaced) -> window 5: v3

The job is never restarted (same job, no restart in its metrics), no window is lost (every
segment of every window has its floor), and each model-made floor equals the booster called
directly on the job's own feature rows.
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
from local_runs.runner import RunningJob, start_job
from serving.floor_reader import floors_in_table
from tests.support.e2e_scenario import SEGMENTS, WINDOW, send, wait_for
from tests.support.model_helpers import write_challenger, write_corrupt_challenger
from tests.support.model_swap_job import floors_of_window, get, rest_base, scoring_metric, window_events
from training import lake
from udfs import model_store, scoring
from udfs.model_features import model_inputs

pytestmark = pytest.mark.e2e

REST_PORTS = range(5140, 5150)  # this engineer's free ports; the mini cluster takes the first free one
CORRUPT_AT_START, V1, CORRUPT_V2, V3 = "20260101T000001Z", "20260101T000002Z", "20260101T000003Z", "20260101T000004Z"
PROVISIONAL = scoring.PROVISIONAL_MODEL_VERSION
# Model in force when each window closes (see the module docstring).
EXPECTED_VERSION = [PROVISIONAL, V1, V1, V3, V1, V3]
FLOORS_PER_WINDOW = len(SEGMENTS) + len({(s[4], s[5], s[2], s[3]) for s in SEGMENTS}) - 1  # 4 fine + 3 coarse


def test_models_swap_in_the_running_job(job_config: AppConfig, tmp_path: Path):
    config = replace(job_config, model=ModelConfig(manifest_poll_ms=1000))
    lake_uri = config.lake.path
    write_corrupt_challenger(lake_uri, CORRUPT_AT_START)
    model_store.promote(lake_uri, CORRUPT_AT_START)
    write_challenger(lake_uri, V1, scale=1.0)
    write_corrupt_challenger(lake_uri, CORRUPT_V2)
    write_challenger(lake_uri, V3, scale=2.0)
    # What happens to the manifest once that window's floors are out.
    after_window = {0: lambda: model_store.promote(lake_uri, V1),
                    1: lambda: model_store.promote(lake_uri, CORRUPT_V2),
                    2: lambda: model_store.promote(lake_uri, V3),
                    3: lambda: model_store.promote(lake_uri, V1, source="champion"),
                    4: lambda: model_store.rollback(lake_uri)}

    t0 = datetime.now(UTC).replace(microsecond=0, tzinfo=None) - timedelta(minutes=10)
    t0 -= timedelta(seconds=t0.second % 10)
    send(config, [json.dumps(e).encode() for e in window_events(t0, 0, "m")])
    job: RunningJob = start_job(config, kinesis_source_options(config), tmp_path / "job",
                                settings={"rest.bind-address": "127.0.0.1",
                                          "rest.bind-port": f"{REST_PORTS.start}-{REST_PORTS.stop - 1}"})
    try:
        job.wait_running()
        job_id = job.job_id
        base = rest_base(job_id, REST_PORTS)
        failures_seen = 0.0
        for w in range(1, len(EXPECTED_VERSION) + 1):
            send(config, [json.dumps(e).encode() for e in window_events(t0, w, "m")])
            closed = t0 + (w - 1) * WINDOW
            wait_for(lambda c=closed: len(floors_of_window(config, c)) >= FLOORS_PER_WINDOW, 180,
                     f"the floors of window {w - 1}", job)
            if w - 1 in (0, 2):  # a corrupt model was just met (at start, then at a swap): counted
                wait_for(lambda f=failures_seen: sum(scoring_metric(base, job_id, "ModelLoadFailures")) > f, 90,
                         "ModelLoadFailures to count the corrupt model", job)
                failures_seen = sum(scoring_metric(base, job_id, "ModelLoadFailures"))
            if w - 1 in after_window:
                after_window[w - 1]()
                time.sleep(2.5)  # past the 1 s poll interval before the next window closes
        assert job.job_id == job_id
        assert get(f"{base}/jobs/{job_id}/metrics?get=numRestarts")[0]["value"] == "0"
        wait_for(lambda: sum(scoring_metric(base, job_id, "FloorsScored")) >= 5 * FLOORS_PER_WINDOW, 90,
                 "FloorsScored to count every scored window", job)
        assert sum(scoring_metric(base, job_id, "ModelVersion")) > 0  # a model, not the provisional rule
        job.drain()
    finally:
        job.cancel()

    floors = lake.read(lake_uri, "floors")
    floors["window_start"] = pd.to_datetime(floors["window_start"])
    features = lake.read(lake_uri, "features")
    features["window_start"] = pd.to_datetime(features["window_start"])
    key = ["level", "segment_key", "window_start"]
    assert not floors.duplicated(key).any()
    rows = floors.merge(features, on=key, how="left", validate="one_to_one", suffixes=("", "_feature"))
    for w, version in enumerate(EXPECTED_VERSION):
        window = rows[rows["window_start"] == pd.Timestamp(t0 + w * WINDOW)]
        assert len(window) == FLOORS_PER_WINDOW, f"window {w} lost floors"
        assert set(window["model_version"]) == {version}, (w, window["model_version"].value_counts())

    # Model-made floors = the booster called directly on the job's own feature rows.
    for version in (V1, V3):
        made = rows[rows["model_version"] == version].reset_index(drop=True)
        folder = model_store.slot_uri(lake_uri, "current", version)
        model = model_store.load_model(model_store.ModelRef(version, folder))
        direct = model.predict(model_inputs(made))
        pd.testing.assert_series_equal(made["predicted_cpm_eur"], pd.Series(direct), check_names=False,
                                       rtol=1e-7)
        assert list(made["floor_eur"]) == scoring.floors(made, direct)
    provisional = rows[rows["model_version"] == PROVISIONAL]
    assert (provisional["predicted_cpm_eur"] == provisional["mean_cpm_eur"]).all()

    # DynamoDB holds the last window's floors: all from v3.
    items = floors_in_table(config)
    assert len(items) == FLOORS_PER_WINDOW and {i["model_version"]["S"] for i in items} == {V3}

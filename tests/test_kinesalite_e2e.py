"""End to end over kinesalite: the same job, with the Kinesis source behind the StreamARN shim.

kinesalite 3.3.3 only understands StreamName; the connector sends only StreamARN, so
the job talks to the shim (:4570), which rewrites each request for kinesalite (:4569).
The known events of test_job_e2e go in, plus malformed records; features must equal
the pandas oracle exactly and the floors must reach the DynamoDB stand-in (moto).
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from flink_jobs import lake
from flink_jobs.config import AppConfig, load_config
from flink_jobs.local_demo import floors_in_table
from flink_jobs.pipeline import PROVISIONAL_MODEL_VERSION, kinesis_source_options
from flink_jobs.runner import start_job
from local_kinesis import resources, standins
from local_kinesis.bad_records import bad_records
from local_kinesis.producer import produce
from tests.conftest import write_properties
from tests.test_job_e2e import WINDOW, expected_features, iso, known_events, wait_for
from udfs import rules

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def kinesalite(running_standins: None) -> Iterator[str]:
    """kinesalite + its shim next to kinesis-local and moto; stops only what it started."""
    with standins.running_standins(standins.KINESALITE_SET, stop_on_exit=True):
        yield standins.SHIM_ENDPOINT


@pytest.fixture
def kinesalite_config(tmp_path: Path, kinesalite: str) -> AppConfig:
    """Like conftest's job_config, but the stream lives in kinesalite, reached through the shim."""
    base = load_config()
    suffix = uuid.uuid4().hex[:8]
    name = f"auctions-{suffix}"
    client = resources.aws_client("kinesis", kinesalite, base.stream.region)
    shards = 4
    reported = resources.create_stream(client, name, shards)["stream_arn"]
    # kinesalite mints the ARN from AWS_REGION and its own account id, which need not be the
    # config's 000000000000: take the ARN it reports, but it must name the configured region.
    assert reported.split(":")[3] == base.stream.region, f"kinesalite files {name} under {reported}"
    assert reported.endswith(f":stream/{name}")
    props = write_properties(
        tmp_path / "application_properties.json",
        {
            "AuctionStream": {"stream.arn": reported, "aws.endpoint": kinesalite, "aws.trust.all.certificates": "false",
                              "shard.count": str(shards), "source.init.position": "TRIM_HORIZON"},
            "DataLake": {"path": (tmp_path / "lake").as_uri(), "bucket": f"lake-{suffix}"},
            "FloorsTable": {"table.name": f"floors-{suffix}"},
            "Job": {"window.size": "10 s", "watermark.lateness": "5 s", "checkpoint.interval": "2 s",
                    "source.idle.timeout": "10 s", "parallelism": "2"},
        },
    )
    config = load_config(props)
    # Idempotent for the stream (checks shard count and that its ARN equals the configured one);
    # creates the bucket and the floors table on moto.
    resources.create_all(config)
    return config


def test_job_over_kinesalite_gives_exact_features_and_floors(kinesalite_config: AppConfig, tmp_path: Path) -> None:
    config = kinesalite_config
    assert config.stream.endpoint == standins.SHIM_ENDPOINT and not config.stream.trust_all_certificates
    t0 = datetime.now(UTC).replace(microsecond=0, tzinfo=None) - timedelta(minutes=5)
    t0 = t0 - timedelta(seconds=t0.second % 10)
    events = known_events(t0)
    duplicates = events[::7]  # a producer retry sends these twice: dedup must count them once
    bad = bad_records(events[0])[:4]  # a few kinds are enough here; test_job_e2e covers them all
    payloads = [json.dumps(e).encode() for e in events + duplicates] + [p for p, _ in bad]
    kinesis = resources.aws_client("kinesis", config.stream.endpoint, config.stream.region)
    sent = produce(kinesis, config.stream.stream_arn, payloads).records_sent  # by ARN, through the shim
    assert sent == len(payloads)

    job = start_job(config, kinesis_source_options(config), tmp_path / "job")
    try:
        job.wait_running()
        wait_for(lambda: len(lake.read(config.lake.path, "raw")) >= len(events) + len(duplicates),
                 120, "every accepted event committed to raw/", job)
        job.drain()
    finally:
        job.cancel()

    raw = lake.read(config.lake.path, "raw")
    errors = lake.read(config.lake.path, "raw_errors")
    assert len(raw) + len(errors) == sent  # nothing lost, nothing read twice
    assert Counter(raw["impression_id"]) == Counter(e["impression_id"] for e in events + duplicates)
    assert sorted(errors["reason"]) == sorted(reason for _, reason in bad)
    assert set(errors["payload"]) == {p.decode() for p, _ in bad}

    features = lake.read(config.lake.path, "features")
    features["window_start"] = pd.to_datetime(features["window_start"])
    got = features.set_index(["level", "segment_key", "window_start"]).sort_index()
    want = expected_features(events).set_index(["level", "segment_key", "window_start"]).sort_index()
    assert list(got.index) == list(want.index), "a window is missing or repeated"
    assert got["auctions"].tolist() == want["auctions"].tolist()
    assert got["fills"].tolist() == want["fills"].tolist()
    for column in ("sum_cpm_eur", "mean_cpm_eur", "mean_bid_count", "mean_floor_price_eur",
                   "mean_user_engagement_score", "premium_share"):
        pd.testing.assert_series_equal(got[column].astype(float), want[column].astype(float),
                                       check_names=False, rtol=1e-9)

    # Floors in the DynamoDB stand-in: the last filled window of each segment wins the upsert.
    items = {(i["level"]["S"], i["segment_key"]["S"]): i for i in floors_in_table(config)}
    last = want[want["fills"] > 0].reset_index().sort_values("window_start").groupby(["level", "segment_key"]).last()
    assert set(items) == set(last.index)
    for key, row in last.iterrows():
        item = items[key]
        prime = rules.is_prime_time(row["window_start"].hour)
        assert float(item["floor_eur"]["N"]) == rules.floor_price(row["mean_cpm_eur"], int(row["auctions"]), prime,
                                                                   row["premium_share"] >= 0.5)
        assert int(item["data_points"]["N"]) == row["auctions"]
        assert item["model_version"]["S"] == PROVISIONAL_MODEL_VERSION
        assert item["window_end"]["S"] == iso(row["window_start"] + WINDOW)

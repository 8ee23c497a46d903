"""Shared fixtures: the real stand-ins, and a fresh job configuration per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from flink_jobs.config import AppConfig, load_config, write_properties
from local_kinesis import resources, standins


@pytest.fixture(scope="session")
def running_standins() -> Iterator[None]:
    """kinesis-local, moto_server and the Feature Store stand-in on loopback for the session (reused if up)."""
    with standins.running_standins(stop_on_exit=True):
        yield


def e2e_config(tmp_path: Path, stream: dict[str, str]) -> AppConfig:
    """A config for one end-to-end test: its own lake folder, bucket, table and feature group, small
    windows, the given AuctionStream overrides; bucket, table and group are created (the stream checked)."""
    suffix = uuid.uuid4().hex[:8]
    props = write_properties(
        tmp_path / "application_properties.json",
        {
            "AuctionStream": {"shard.count": "4", "source.init.position": "TRIM_HORIZON"} | stream,
            "DataLake": {"path": (tmp_path / "lake").as_uri(), "bucket": f"lake-{suffix}"},
            "FloorsTable": {"table.name": f"floors-{suffix}"},
            "FeatureStore": {"feature.group.name": f"features-{suffix}"},
            "Job": {"window.size": "10 s", "watermark.lateness": "5 s", "checkpoint.interval": "2 s",
                    "source.idle.timeout": "30 s", "parallelism": "2"},
        },
    )
    config = load_config(props)
    resources.create_all(config)
    return config


@pytest.fixture
def job_config(tmp_path: Path, running_standins: None) -> AppConfig:
    """A fresh stream on kinesis-local, and its own lake, bucket and table."""
    arn = load_config().stream.stream_arn.rsplit("/", 1)[0] + f"/auctions-{uuid.uuid4().hex[:8]}"
    return e2e_config(tmp_path, {"stream.arn": arn})

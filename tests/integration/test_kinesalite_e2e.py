"""End to end over kinesalite: the same job, with the Kinesis source behind the StreamARN shim.

kinesalite 3.3.3 only understands StreamName; the connector sends only StreamARN, so
the job talks to the shim (:4570), which rewrites each request for kinesalite (:4569).
The scenario of tests/e2e_scenario.py runs unchanged and must give the same exact outputs.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from flink_jobs.config import AppConfig, load_config
from local_kinesis import resources, standins
from tests.conftest import e2e_config
from tests.support.e2e_scenario import assert_outputs_match_oracle, run_scenario
from udfs.aws import aws_client

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
    name = f"auctions-{uuid.uuid4().hex[:8]}"
    client = aws_client("kinesis", kinesalite, base.stream.region)
    reported = resources.create_stream(client, name, 4)["stream_arn"]
    # kinesalite mints the ARN from AWS_REGION and its own account id, which need not be the
    # config's 000000000000: take the ARN it reports, but it must name the configured region.
    assert reported.split(":")[3] == base.stream.region, f"kinesalite files {name} under {reported}"
    assert reported.endswith(f":stream/{name}")
    return e2e_config(tmp_path, {"stream.arn": reported, "aws.endpoint": kinesalite,
                                 "aws.trust.all.certificates": "false"})


def test_job_over_kinesalite_gives_exact_features_and_floors(kinesalite_config: AppConfig, tmp_path: Path) -> None:
    config = kinesalite_config
    assert config.stream.endpoint == standins.SHIM_ENDPOINT and not config.stream.trust_all_certificates
    # A few malformed kinds are enough here; test_job_e2e covers them all.
    scenario = run_scenario(config, tmp_path / "job", bad_kinds=4)
    assert_outputs_match_oracle(config, scenario)

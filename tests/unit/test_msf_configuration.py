"""What the job asks of the MSF runtime is what MSF allows, and uses what MSF gives.

- MSF's Flink 2.2 runtime fails a job that sets a Flink configuration key outside its allowlist
  (deploy/msf_allowed_configuration.txt, copied from the MSF developer guide). The job's table
  environment, built as on MSF, sets only allowed keys; built locally it keeps its local
  settings (jar, parallelism, checkpoints, interpreter, bundle time).
- The Python workers' S3 client for models takes its region from the environment MSF sets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pyflink.table import EnvironmentSettings, TableEnvironment

from flink_jobs.config import AppConfig, load_config
from flink_jobs.main import create_table_env, local_jar
from udfs import model_store

ROOT = Path(__file__).resolve().parents[2]
ALLOWLIST = ROOT / "deploy" / "msf_allowed_configuration.txt"
# PyFlink's client gives every table environment it creates an address of its own for the Python
# workers to call back (local execution); the job never sets it.
PYFLINK_OWN_KEYS = {"python.loopback-server.address"}
# What the job sets outside MSF only (flink_jobs.main.local_settings), as before MSF 2.2's allowlist.
LOCAL_ONLY_KEYS = {
    "pipeline.jars", "parallelism.default", "execution.checkpointing.interval", "execution.checkpointing.mode",
    "python.executable", "python.client.executable", "python.fn-execution.bundle.time",
}


def allowed_keys() -> set[str]:
    lines = (line.split("#", 1)[0].strip() for line in ALLOWLIST.read_text(encoding="utf-8").splitlines())
    return {line for line in lines if line}


def configuration(t_env: TableEnvironment) -> dict[str, str]:
    return dict(t_env.get_config().get_configuration().to_dict())


def keys_set_since(before: dict[str, str], t_env: TableEnvironment) -> set[str]:
    """Keys whose value differs from `before` (a fresh environment's configuration)."""
    after = configuration(t_env)
    return {k for k, v in after.items() if before.get(k) != v} - PYFLINK_OWN_KEYS


@pytest.fixture(scope="module")
def config() -> AppConfig:
    return load_config()


@pytest.fixture(scope="module")
def fresh() -> dict[str, str]:
    return configuration(TableEnvironment.create(EnvironmentSettings.in_streaming_mode()))


def test_allowlist_names_its_source_and_is_not_empty() -> None:
    header = ALLOWLIST.read_text(encoding="utf-8").split("\n\n", 1)[0]
    assert "https://docs.aws.amazon.com/managed-flink/latest/java/programmatic-configuration.html" in header
    assert "Copied 20" in header
    keys = allowed_keys()
    assert len(keys) > 100 and all(" " not in k for k in keys)
    assert "python.fn-execution.bundle.time" not in keys  # why the job no longer sets it on MSF


def test_every_key_the_job_sets_on_msf_is_allowed(config: AppConfig, fresh: dict[str, str]) -> None:
    job_keys = keys_set_since(fresh, create_table_env(config, on_msf=True))
    # Not vacuous: the settings the job relies on are there.
    assert {"table.exec.state.ttl", "table.exec.source.idle-timeout", "pipeline.max-parallelism",
            "table.local-time-zone"} <= job_keys
    assert not job_keys - allowed_keys(), f"MSF refuses: {sorted(job_keys - allowed_keys())}"


def test_local_environment_keeps_its_local_settings(config: AppConfig, fresh: dict[str, str]) -> None:
    if not local_jar(config).exists():
        pytest.skip("connector jar not built (make jar)")
    msf_keys = keys_set_since(fresh, create_table_env(config, on_msf=True))
    t_env = create_table_env(config, on_msf=False)
    assert keys_set_since(fresh, t_env) == msf_keys | LOCAL_ONLY_KEYS
    assert configuration(t_env)["python.fn-execution.bundle.time"] == "100"
    assert configuration(t_env)["parallelism.default"] == str(config.job.parallelism)


def test_building_the_whole_job_sets_no_other_key(config: AppConfig, fresh: dict[str, str]) -> None:
    """The graph (sources, sinks, Java and Python functions) adds no configuration of its own."""
    from flink_jobs.pipeline import build_statement_set, kinesis_source_options

    jar = local_jar(config)
    if not jar.exists():
        pytest.skip("connector jar not built (make jar)")
    t_env = create_table_env(config, on_msf=True)
    before_graph = configuration(t_env)
    # On MSF the runtime puts lib/<jar> on the class path; here the test does, and it is its own key.
    t_env.get_config().set("pipeline.jars", jar.as_uri())
    build_statement_set(t_env, config, kinesis_source_options(config))
    assert keys_set_since(before_graph, t_env) == {"pipeline.jars"}


# --------------------------------------------------------------------------- the model store's region


class RecordingClients:
    """Stands in for udfs.aws.aws_client: records the region each S3 client is made for."""

    def __init__(self) -> None:
        self.regions: list[str | None] = []

    def __call__(self, service: str, endpoint: str | None, region: str | None, **_: Any) -> Any:
        assert service == "s3"
        self.regions.append(region)
        return self

    def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:  # noqa: N803 - boto3's names
        import io

        return {"Body": io.BytesIO(b'{"version": "v1"}')}


@pytest.fixture
def no_region_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in (*model_store.REGION_ENVS, model_store.S3_ENDPOINT_ENV):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.parametrize(
    ("env", "expected"),
    [({"AWS_REGION": "eu-west-1"}, "eu-west-1"),
     ({"AWS_DEFAULT_REGION": "eu-central-1"}, "eu-central-1"),
     ({"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "us-east-1"}, "eu-west-1"),
     ({}, None)],
    ids=["AWS_REGION", "AWS_DEFAULT_REGION", "AWS_REGION-first", "none"],
)
def test_model_reads_use_the_region_msf_sets(no_region_env: pytest.MonkeyPatch, env: dict[str, str],
                                             expected: str | None) -> None:
    for name, value in env.items():
        no_region_env.setenv(name, value)
    clients = RecordingClients()
    no_region_env.setattr(model_store, "aws_client", clients)
    assert model_store.read_bytes("s3://lake/models/production/current/manifest.json") == b'{"version": "v1"}'
    assert clients.regions == [expected]


def test_a_named_region_wins_over_the_environment(no_region_env: pytest.MonkeyPatch) -> None:
    no_region_env.setenv("AWS_REGION", "us-east-1")
    clients = RecordingClients()
    no_region_env.setattr(model_store, "aws_client", clients)
    model_store.read_bytes("s3://lake/models/x.json", region="eu-west-1")
    assert clients.regions == ["eu-west-1"]


def test_the_real_s3_client_is_made_in_that_region(no_region_env: pytest.MonkeyPatch) -> None:
    no_region_env.setenv("AWS_REGION", "eu-west-1")  # boto3 alone reads only AWS_DEFAULT_REGION
    assert model_store._s3_client().meta.region_name == "eu-west-1"

"""The lake on s3a:// (as on MSF) and S3 unreachable for the Parquet sinks mid-stream.

The job runs on the local Flink cluster with the connector's flink-s3-fs-hadoop loaded as a
plugin (MSF loads it the same way), writing raw/, features, floors and drift Parquet to the S3
stand-in through a fault proxy. The proxy refuses every connection for OUTAGE_S while traffic
keeps arriving: the file sinks cannot upload their parts, checkpoints fail, and the job restarts
from its last completed checkpoint (the file sink commits only what a checkpoint covered, so
nothing half-written is ever visible). Once S3 is back, the lake holds every acknowledged record
once, and features and floors equal the pandas oracle over the producer's log.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from flink_jobs.config import load_config, write_properties
from local_kinesis.standins import MOTO_ENDPOINT, MOTO_PORT
from local_runs import cluster as local_cluster
from local_runs.cluster import Cluster
from tests.integration.test_cluster_rescale import (
    RESENT_PER_PHASE,
    Traffic,
    assert_exact,
    cluster_config,
    phases,
    wait_for_raw,
)
from tests.support.fault_proxy import FaultProxy
from udfs.model_store import S3_ENDPOINT_ENV

pytestmark = pytest.mark.e2e

PROXY_PORT = 5187
OUTAGE_S = 40


@pytest.fixture(scope="module")
def s3_proxy() -> Iterator[FaultProxy]:
    with FaultProxy("127.0.0.1", MOTO_PORT, listen_port=PROXY_PORT) as proxy:
        yield proxy


@pytest.fixture(scope="module")
def s3_cluster(tmp_path_factory: pytest.TempPathFactory, running_standins: None,
               s3_proxy: FaultProxy) -> Iterator[Cluster]:
    own = Cluster(home=tmp_path_factory.mktemp("flink-s3"), rest_port=8193, jobmanager_rpc_port=6138,
                  taskmanager_rpc_ports="6139-6140", blob_port=5185, s3_endpoint=s3_proxy.url)
    local_cluster.start(own)
    try:
        yield own
    finally:
        local_cluster.stop(own)


@pytest.mark.slow  # 3-5 min here: the outage, the failed checkpoints, the restart and catch-up
def test_s3_down_for_the_parquet_sinks_nothing_lost_or_doubled(s3_cluster: Cluster, s3_proxy: FaultProxy,
                                                               tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(S3_ENDPOINT_ENV, MOTO_ENDPOINT)  # the test's own lake reads go straight to the stand-in
    config = cluster_config(tmp_path)
    props = tmp_path / "application_properties.json"
    write_properties(props, {"DataLake": {"path": f"s3a://{config.lake.bucket}/lake",
                                          "s3.endpoint": MOTO_ENDPOINT}}, base=props)
    config = load_config(props)
    assert config.lake.path.startswith("s3a://")
    _, (first, second, third) = phases(seed=12)
    log_path = tmp_path / "producer.jsonl"
    with log_path.open("a", encoding="utf-8") as log:
        traffic = Traffic(config, log)
        traffic.send(first)
        job = local_cluster.submit(s3_cluster, 2, props)
        wait_for_raw(s3_cluster, config, job, traffic.sent)

        s3_proxy.block("refuse")
        try:
            traffic.send(second, resent=first[-RESENT_PER_PHASE:])
            time.sleep(OUTAGE_S)
        finally:
            s3_proxy.unblock()
        traffic.send(third, resent=second[-RESENT_PER_PHASE:])
        wait_for_raw(s3_cluster, config, job, traffic.sent)
        failures = local_cluster.rest(s3_cluster, f"/jobs/{job}/exceptions")["exceptionHistory"]["entries"]
        assert failures, "the outage reached the job's S3 writes (it failed over at least once)"
        local_cluster.stop_with_savepoint(s3_cluster, job, drain=True)

    assert_exact(config, traffic, log_path)

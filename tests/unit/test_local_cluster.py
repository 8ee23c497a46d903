"""The local cluster's configuration and checks, without starting it (the cluster itself runs in
tests/integration/test_cluster_rescale.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from flink_jobs.config import ConfigError, load_config, write_properties
from local_runs import cluster as local_cluster
from local_runs.cluster import Cluster, ClusterError


@pytest.fixture
def cluster(tmp_path: Path) -> Cluster:
    # REST port 8199: nothing of this project listens there.
    return Cluster(home=tmp_path / "flink", rest_port=8199, jobmanager_rpc_port=6130, blob_port=5172)


def test_conf_has_explicit_ports_dirs_restart_strategy_and_the_venv_python(cluster: Cluster):
    conf = yaml.safe_load(local_cluster.write_conf(cluster).read_text())
    assert conf["rest.port"] == 8199 and conf["jobmanager.rpc.port"] == 6130 and conf["blob.server.port"] == 5172
    assert conf["rest.bind-address"] == conf["jobmanager.bind-host"] == conf["taskmanager.bind-host"] == "127.0.0.1"
    assert conf["execution.checkpointing.dir"] == cluster.checkpoints_dir.as_uri()
    assert conf["execution.checkpointing.savepoint-dir"] == cluster.savepoints_dir.as_uri()
    assert conf["restart-strategy.type"] == "fixed-delay"
    assert conf["state.backend.type"] == "rocksdb"
    assert Path(conf["python.executable"]).name.startswith("python")
    assert Path(conf["python.executable"]) == Path(conf["python.client.executable"])
    # The distribution's JVM options for Java 17 are kept, flattened.
    assert "--add-opens=java.base/java.util=ALL-UNNAMED" in conf["env.java.opts.all"]
    assert not any(isinstance(v, dict) for v in conf.values())
    # The Python operators need flink-python in the cluster's lib/, next to flink-dist.
    jars = {p.name for p in (cluster.home / "lib").iterdir()}
    assert any(n.startswith("flink-python-") for n in jars) and any(n.startswith("flink-dist-") for n in jars)


def test_submitted_properties_carry_the_parallelism(cluster: Cluster, tmp_path: Path):
    cluster.home.mkdir(parents=True)
    path = local_cluster.job_properties(cluster, 3)
    assert load_config(path).job.parallelism == 3


def test_parallelism_beyond_the_slots_or_max_parallelism_is_refused(cluster: Cluster, tmp_path: Path):
    cluster.home.mkdir(parents=True)
    with pytest.raises(ClusterError, match="parallelism 5 needs 5 slots; the cluster has 4"):
        local_cluster.job_properties(cluster, 5)
    small = write_properties(tmp_path / "props.json", {"Job": {"max.parallelism": "2", "parallelism": "1"}})
    with pytest.raises(ConfigError, match="Job.parallelism = 3: above Job.max.parallelism = 2"):
        local_cluster.job_properties(cluster, 3, small)


def test_no_cluster_running_is_a_clear_error(cluster: Cluster):
    with pytest.raises(ClusterError, match="no Flink cluster answers on http://127.0.0.1:8199.*make cluster-start"):
        local_cluster.submit(cluster, 2)
    with pytest.raises(ClusterError, match="no Flink cluster"):
        local_cluster.stop_with_savepoint(cluster)
    assert local_cluster.stop(cluster, say=lambda _m: None) == []

"""The floor UDF reaches the Python workers by value: it runs where the repository (or the
MSF zip's folders) is not on the workers' path, as on MSF's task managers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.pyflink_client import fresh_client_env

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = """
import sys
sys.path.insert(0, {root!r})  # the client only: the workers inherit neither this nor the cwd
from tests.pyflink_client import fresh_client_env
from flink_jobs.config import load_config
from flink_jobs.main import create_table_env
from udfs import floors
t_env = create_table_env(load_config(), on_msf=False)
floors.register(t_env)
query = "SELECT floor_from_cpm(CAST(3.0 AS DOUBLE), CAST(5000 AS BIGINT), TRUE, FALSE) FROM (VALUES (1)) AS v(x)"
with t_env.execute_sql(query).collect() as rows:
    print("FLOOR", [row[0] for row in rows])
"""


def test_floor_udf_runs_without_the_repository_on_the_worker_path(tmp_path: Path):
    # A fresh client: nothing of this pytest process's own PyFlink session (earlier tests set
    # e.g. PYFLINK_GATEWAY_DISABLED) and no PYTHONPATH.
    env = fresh_client_env()
    result = subprocess.run([sys.executable, "-c", SCRIPT.format(root=str(ROOT))], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=180)
    # 3.00 x 0.95 (data points > 1000) x 1.05 (prime time only) = 2.9925
    assert "FLOOR [2.9925]" in result.stdout, result.stderr[-3000:]

"""Run the job in this process's PyFlink mini cluster and stop it cleanly.

Used by the local demo (`make run`), the end-to-end tests and the benchmarks:
the same graph as `main.py`, with a handle to drain it. Draining
(stop-with-savepoint and MAX_WATERMARK) closes every open window and commits
every file, so what a bounded run produced can be read back completely.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from py4j.protocol import Py4JJavaError
from pyflink.common import JobStatus
from pyflink.common.completable_future import CompletableFuture
from pyflink.java_gateway import get_gateway
from pyflink.table import StatementSet, TableEnvironment, TableResult

from flink_jobs.config import AppConfig
from flink_jobs.main import create_table_env
from flink_jobs.pipeline import build_statement_set

log = logging.getLogger("yield.runner")

_FINAL = {JobStatus.FINISHED, JobStatus.CANCELED, JobStatus.FAILED}


@dataclass
class RunningJob:
    result: TableResult
    savepoint_dir: Path

    @property
    def job_id(self) -> str:
        return str(self.result.get_job_client().get_job_id())

    def status(self) -> JobStatus:
        return self.result.get_job_client().get_job_status().result()

    def assert_running(self) -> None:
        status = self.status()
        if status in _FINAL:
            # Surface the job's own failure cause, not a later symptom.
            self.result.get_job_client().get_job_execution_result().result()
            raise RuntimeError(f"job {self.job_id} ended early with status {status}")

    def wait_running(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while self.status() != JobStatus.RUNNING:
            self.assert_running()
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {self.job_id} not RUNNING after {timeout_s:.0f} s")
            time.sleep(0.5)

    def drain(self, timeout_s: float = 120.0) -> str:
        """Stop with a savepoint after advancing event time to the end: all windows fire.

        Drain before the shards go idle (Job.source.idle.timeout): when every source split is
        already idle, Flink 2.2 does not forward the final watermark and open windows stay open
        (FLINK-40499).
        """
        # PyFlink 2.2's JobClient.stop_with_savepoint calls a Java signature that no longer
        # exists (it lacks the format type), so call the Java client directly.
        j_client = self.result.get_job_client()._j_job_client
        canonical = get_gateway().jvm.org.apache.flink.core.execution.SavepointFormatType.CANONICAL
        future = CompletableFuture(j_client.stopWithSavepoint(True, self.savepoint_dir.as_uri(), canonical), str)
        deadline = time.monotonic() + timeout_s
        while not future.done():
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {self.job_id} did not drain within {timeout_s:.0f} s")
            time.sleep(0.2)
        path = future.result()
        log.info("job %s drained; savepoint %s", self.job_id, path)
        return path

    def cancel(self) -> None:
        """Cancel if still running; a no-op once the job (and its mini cluster) has ended."""
        try:
            if self.status() not in _FINAL:
                self.result.get_job_client().cancel().result()
        except Py4JJavaError as err:
            if "shut down" not in str(err.java_exception):
                raise


def start_job(
    config: AppConfig,
    source_options: dict[str, str],
    work_dir: Path,
    settings: dict[str, str] | None = None,
    extend: Callable[[TableEnvironment, StatementSet], None] | None = None,
) -> RunningJob:
    """Submit the full graph, reading from `source_options` (Kinesis or a file).

    `settings`: extra Flink options for this run (e.g. a REST port for a test reading metrics).
    `extend` may add statements to the graph before it is submitted (benchmark probes).
    """
    work_dir.mkdir(parents=True, exist_ok=True)
    t_env = create_table_env(config, on_msf=False, checkpoint_dir=(work_dir / "checkpoints").as_uri())
    for key, value in (settings or {}).items():
        t_env.get_config().set(key, value)
    statements = build_statement_set(t_env, config, source_options)
    if extend is not None:
        extend(t_env, statements)
    result = statements.execute()
    return RunningJob(result=result, savepoint_dir=work_dir / "savepoints")

"""Entry point of the predictive-yield job.

On MSF the zip carries this file a second time as `main.py` at its root (the `python` run
option), beside flink_jobs/, udfs/ and schemas/: run from there, the root is the script's folder
and so on the path. Locally the repository is installed in the venv: `python -m flink_jobs.main`
runs the job in a PyFlink mini cluster (`make run` also starts the stand-ins and produces traffic).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from pyflink.table import EnvironmentSettings, TableEnvironment

from flink_jobs.config import MSF_PROPERTIES, AppConfig, ConfigError, load_config, properties_path
from flink_jobs.pipeline import build_statement_set, kinesis_source_options

# The folder that holds flink_jobs/: the repository locally, the unpacked zip on MSF.
ROOT = Path(__file__).resolve().parent.parent

log = logging.getLogger("yield.main")


def local_jar(config: AppConfig) -> Path:
    """The connector jar built by `make jar` (connector/target); on MSF the runtime adds lib/<jar> itself."""
    return ROOT / "connector" / "target" / Path(config.jarfile).name


def create_table_env(config: AppConfig, on_msf: bool, checkpoint_dir: str | None = None) -> TableEnvironment:
    """The job's table environment and the Flink settings the job sets itself.

    MSF's Flink 2.2 runtime refuses a key the job sets outside its allowlist
    (deploy/msf_allowed_configuration.txt; tests/unit/test_msf_configuration.py holds the job to
    it), so on MSF the job sets only `job_settings`; the rest are the application's own settings
    there (parallelism, checkpoints, the jar, the Python interpreter) or not settable at all.
    """
    t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    settings = job_settings(config)
    if not on_msf:
        settings |= local_settings(config, checkpoint_dir)
    conf = t_env.get_config()
    for key, value in settings.items():
        conf.set(key, value)
    return t_env


def job_settings(config: AppConfig) -> dict[str, str]:
    """The settings the job needs wherever it runs: every key is one MSF lets a job set."""
    job = config.job
    return {
        "table.local-time-zone": "UTC",
        "pipeline.name": "predictive-yield",
        "table.exec.source.idle-timeout": f"{job.idle_timeout_ms} ms",
        # Bounds the dedup state (impression ids); window operators clean up by watermark.
        "table.exec.state.ttl": f"{job.dedup_ttl_ms} ms",
        # Several sinks read the same views: optimise a shared view once and reuse it, rather
        # than letting each sink's projection push down into its own copy of the aggregate.
        "table.optimizer.reuse-optimize-block-with-digest-enabled": "true",
        # Fixed for the life of the application (also on MSF): keyed state can only be restored
        # at a new parallelism when the number of key groups stays the same.
        "pipeline.max-parallelism": str(job.max_parallelism),
        # The file sinks' committers run at parallelism 1 (max parallelism 1): at job parallelism 1
        # they would chain to the writers, which changes the operators' ids, and a savepoint
        # taken at another parallelism could not be restored at 1 (or the other way round).
        "pipeline.operator-chaining.chain-operators-with-different-max-parallelism": "false",
        # Chained operators hand rows on without a deep copy each (the largest cost of the job in
        # bench.profile_job without it). Safe: Flink's SQL operators copy what they keep (state,
        # buffers), the Python operators copy the rows they hold while Python works, and the
        # connector's functions and DynamoDB sink never keep a row they were given
        # (docs/design-notes.md, "Object reuse").
        "pipeline.object-reuse": "true",
    }


def local_settings(config: AppConfig, checkpoint_dir: str | None) -> dict[str, str]:
    """Settings outside MSF only: MSF takes these from the application's configuration, or
    refuses them (the bundle time is not on its allowlist, so there a closed window's floors
    leave the Python functions within Flink's default 1 s)."""
    jar = local_jar(config)
    if not jar.exists():
        raise ConfigError(f"connector jar {jar} not found: build it with `make jar`")
    job = config.job
    settings = {
        "pipeline.jars": jar.as_uri(),
        "parallelism.default": str(job.parallelism),
        "execution.checkpointing.interval": f"{job.checkpoint_interval_ms} ms",
        "execution.checkpointing.mode": "EXACTLY_ONCE",
        "python.executable": sys.executable,
        "python.client.executable": sys.executable,
        # Python functions see one row per segment and window, not per event: flush their
        # bundles quickly (default 1 s) so that a closed window's floors are not held back.
        "python.fn-execution.bundle.time": "100",
    }
    if checkpoint_dir:
        settings["execution.checkpointing.dir"] = checkpoint_dir
    return settings


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    path = properties_path()
    try:
        config = load_config(path)
    except ConfigError as err:
        log.error("bad configuration in %s: %s", path, err)
        sys.exit(2)
    on_msf = path == MSF_PROPERTIES
    t_env = create_table_env(config, on_msf)
    statements = build_statement_set(t_env, config, kinesis_source_options(config))
    log.info("submitting predictive-yield job (stream %s)", config.stream.stream_arn)
    result = statements.execute()
    # `flink run` (a standalone cluster: execution.target = remote) owns the job; run as a plain
    # script, this process hosts the mini cluster: wait, so the cluster lives as long as the job.
    if not on_msf and t_env.get_config().get("execution.target", "local") != "remote":
        result.wait()


if __name__ == "__main__":
    main()

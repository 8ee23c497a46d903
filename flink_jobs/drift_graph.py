"""The drift branch of the job graph (DESIGN.md section 7): one call from pipeline.build_statement_set.

    deduped_events -> tumbling window (the features' window) -> DRIFT_HISTOGRAM per feature (JVM)
        -> drift_verdict (Python, once per window) -> drift_records (Parquet) + CloudWatch metrics

Per event, only the Java aggregate runs: it adds one to a counter of the feature's fixed grid
(a binary search over the edges). The state per feature and window is the grid's cells,
8 bytes each, whatever the traffic. Python runs once per window, on the counts.
"""

from __future__ import annotations

from pyflink.table import StatementSet, TableEnvironment

from flink_jobs.config import AppConfig, ConfigError
from flink_jobs.pipeline import _partition_columns, interval_sql, render_ddl
from udfs import drift, drift_monitor

HISTOGRAM_FUNCTION_DDL = (
    "CREATE TEMPORARY SYSTEM FUNCTION IF NOT EXISTS DRIFT_HISTOGRAM "
    "AS 'com.ssmas.yield.connectors.monitoring.DriftHistogram' LANGUAGE JAVA"
)


def drift_windows_sql(grid: dict[str, tuple[float, ...]], window_ms: int) -> str:
    """The view of per-window cell counts, one ARRAY<BIGINT> column per feature (named cells_<feature>)."""
    counts = ",\n    ".join(
        f"CAST(DRIFT_HISTOGRAM(CAST({feature} AS DOUBLE), '{drift.edges_literal(edges)}') AS ARRAY<BIGINT>)"
        f" AS cells_{feature}"
        for feature, edges in grid.items()
    )
    return f"""
CREATE TEMPORARY VIEW drift_windows AS
SELECT window_start, window_end,
    {counts}
FROM TABLE(TUMBLE(TABLE deduped_events, DESCRIPTOR(event_time), {interval_sql(window_ms)}))
GROUP BY window_start, window_end"""


def add_drift(t_env: TableEnvironment, config: AppConfig, statements: StatementSet) -> None:
    """Register the drift views, function and sink, and add the drift INSERT to the statement set."""
    monitoring = config.monitoring
    if monitoring is None:
        raise ConfigError("property group 'Monitoring' is missing")
    grid = drift.load_grid(monitoring.drift_features)
    t_env.execute_sql(HISTOGRAM_FUNCTION_DDL)
    t_env.execute_sql(render_ddl("drift_records", lake_path=config.lake.path))
    t_env.execute_sql(drift_windows_sql(grid, config.job.window_ms))
    cloudwatch = {"namespace": monitoring.namespace, "region": monitoring.region, "endpoint": monitoring.endpoint,
                  "credentials": monitoring.credentials, "max_attempts": monitoring.max_attempts}
    t_env.create_temporary_function(
        "drift_verdict", drift_monitor.drift_verdict_function(config.lake.path, grid, cloudwatch))
    columns = ", ".join(name for name, _ in drift_monitor.RECORD_FIELDS)
    cells = ", ".join(f"cells_{feature}" for feature in grid)
    statements.add_insert_sql(f"""
INSERT INTO drift_records
SELECT window_start, window_end, {columns}, {_partition_columns("window_start")}
FROM drift_windows, LATERAL TABLE(drift_verdict(window_start, window_end, {cells})) AS d({columns})""")

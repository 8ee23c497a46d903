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
from flink_jobs.sql import interval_sql, partition_columns, render_ddl
from udfs import drift, drift_monitor

HISTOGRAM_CLASS = "com.ssmas.yield.connectors.monitoring.DriftHistogram"


def register_java_instance(t_env: TableEnvironment, name: str, j_function: object) -> None:
    """Register an instance of a Java function as a temporary system function.

    PyFlink's public API registers Java functions by class name only
    (`create_java_temporary_system_function`, SQL's CREATE FUNCTION), which constructs them without
    arguments; an instance built with arguments can only go through the Java TableEnvironment that
    the Python one wraps. This is the one place the job reaches behind PyFlink's public API.
    """
    t_env._j_tenv.createTemporarySystemFunction(name, j_function)


def register_histograms(t_env: TableEnvironment, grid: dict[str, tuple[float, ...]]) -> None:
    """DRIFT_HISTOGRAM_<feature>(value): one Java aggregate per feature, built with its grid's edges.

    The edges go into the function's constructor, not into each call: a constant argument of an
    aggregate is projected into every input row, and the 25 KB literal per row and feature made
    the drift branch ~10x slower than a SUM (bench/drift_cost.py). SQL's CREATE FUNCTION takes no
    constructor arguments, so the instance is made through py4j and registered by
    register_java_instance.
    """
    from pyflink.java_gateway import get_gateway

    gateway = get_gateway()
    # The connector jar is on the table environment's class loader (pipeline.jars), not py4j's.
    histogram = gateway.jvm.Thread.currentThread().getContextClassLoader().loadClass(HISTOGRAM_CLASS)
    signature = gateway.new_array(gateway.jvm.Class, 1)
    signature[0] = gateway.jvm.Class.forName("java.lang.String")
    for feature, edges in grid.items():
        arguments = gateway.new_array(gateway.jvm.Object, 1)
        arguments[0] = drift.edges_literal(edges)
        j_function = histogram.getConstructor(signature).newInstance(arguments)
        register_java_instance(t_env, f"DRIFT_HISTOGRAM_{feature}", j_function)


def drift_windows_sql(grid: dict[str, tuple[float, ...]], window_ms: int) -> str:
    """The view of per-window cell counts, one ARRAY<BIGINT> column per feature (named cells_<feature>)."""
    counts = ",\n    ".join(
        f"CAST(DRIFT_HISTOGRAM_{feature}(CAST({feature} AS DOUBLE)) AS ARRAY<BIGINT>) AS cells_{feature}"
        for feature in grid
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
    register_histograms(t_env, grid)
    t_env.execute_sql(render_ddl("drift_records", lake_path=config.lake.path))
    t_env.execute_sql(drift_windows_sql(grid, config.job.window_ms))
    cloudwatch = {"namespace": monitoring.namespace, "region": monitoring.region, "endpoint": monitoring.endpoint,
                  "credentials": monitoring.credentials, "max_attempts": monitoring.max_attempts}
    t_env.create_temporary_function(
        "drift_verdict", drift_monitor.drift_verdict_function(config.lake.path, grid, cloudwatch, monitoring.drift))
    columns = ", ".join(name for name, _ in drift_monitor.RECORD_FIELDS)
    cells = ", ".join(f"cells_{feature}" for feature in grid)
    statements.add_insert_sql(f"""
INSERT INTO drift_records
SELECT window_start, window_end, {columns}, {partition_columns("window_start")}
FROM drift_windows, LATERAL TABLE(drift_verdict(window_start, window_end, {cells})) AS d({columns})""")

"""The graph part that writes each closed window's segment features to the Feature Store.

    segment_windows -> online_feature_values -> write_online_features(...) -> feature_store_writes

One row per segment and window, with the features named and typed as in
schemas/feature_group.json; the writer (udfs/feature_store.py) puts each row as the
segment's online record. It returns within FeatureStore.write.deadline per batch: what
it could not write by then waits in its retry queue, so a Feature Store outage never
holds back the segment windows the floors come from. Off when FeatureStore.enabled is
false (a deployment without a feature group).
"""

from __future__ import annotations

from pyflink.table import StatementSet, TableEnvironment

from flink_jobs.config import AppConfig, FeatureStoreConfig
from flink_jobs.sql import ISO_8601, render_ddl
from udfs import feature_store
from udfs.aws import basic_credentials

# Features stored in another form than their segment_windows column: the Feature Store has
# no timestamp or boolean type (ISO strings and 0/1 integers instead).
_DERIVED = {
    "window_start": f"DATE_FORMAT(window_start, '{ISO_8601}')",
    "window_end": f"DATE_FORMAT(window_end, '{ISO_8601}')",
    "is_weekend": "CASE WHEN is_weekend THEN 1 ELSE 0 END",
    "is_prime_time": "CASE WHEN is_prime_time THEN 1 ELSE 0 END",
}


def feature_columns_sql(spec: feature_store.FeatureGroupSpec) -> list[str]:
    """`<expression> AS <feature>` for every feature, in definition order."""
    derived = _DERIVED | {
        spec.record_identifier: f"level || '{spec.separator}' || segment_key",
        # The event time of a window's record is the window end: a later window replaces it.
        spec.event_time: f"DATE_FORMAT(window_end, '{ISO_8601}')",
    }
    return [f"{derived.get(name, name)} AS `{name}`" for name in spec.feature_names]


def writer_settings(store: FeatureStoreConfig) -> feature_store.WriterSettings:
    keys = basic_credentials(store.credentials)
    return feature_store.WriterSettings(
        region=store.region,
        endpoint=store.endpoint,
        access_key=keys[0] if keys else None,
        secret_key=keys[1] if keys else None,
        max_in_flight=store.max_in_flight,
        retry_deadline_s=store.retry_deadline_ms / 1000,
        write_deadline_s=store.write_deadline_ms / 1000,
        retry_queue_size=store.retry_queue_size,
    )


def add_online_feature_writes(t_env: TableEnvironment, config: AppConfig, statements: StatementSet) -> None:
    store = config.feature_store
    if store is None or not store.enabled:
        return
    spec = feature_store.load_spec(store.feature_group_name)
    columns = ",\n    ".join(feature_columns_sql(spec))
    t_env.execute_sql(f"CREATE TEMPORARY VIEW online_feature_values AS\nSELECT\n    {columns}\nFROM segment_windows")
    t_env.create_temporary_function(
        "write_online_features", feature_store.writer_function(spec, writer_settings(store)))
    t_env.execute_sql(render_ddl("feature_store_writes"))
    arguments = ", ".join(f"`{name}`" for name in spec.feature_names)
    statements.add_insert_sql(f"""
INSERT INTO feature_store_writes
SELECT `{spec.record_identifier}`, `{spec.event_time}`, write_online_features({arguments})
FROM online_feature_values""")

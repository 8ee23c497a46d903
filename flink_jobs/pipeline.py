"""The job graph (DESIGN.md section 2) as one Flink SQL statement set.

    auction_stream -> checked_events --+--> raw_errors (reason + payload bytes + readable text)
                                       +--> raw_events (Parquet, by hour)
                                       +--> raw_late (behind the watermark: kept, not windowed)
                                       +--> deduped -> segment_windows (fine + coarse)
                                              +--> segment_features (Parquet)
                                              +--> online feature records (Feature Store PutRecord)
                                              +--> floors -> floors_dynamodb + floors_parquet
                                              +--> drift_windows -> drift_records + CloudWatch (drift_graph.py)

Per-event work (parse, validate, derive, dedup, window) is SQL in the JVM;
Python runs once per segment and window (scoring: the model and the floor rule).
"""

from __future__ import annotations

import re

from pyflink.table import StatementSet, TableEnvironment

from flink_jobs.config import AppConfig
from flink_jobs.drift_graph import add_drift, register_java_instance
from flink_jobs.online_features import add_online_feature_writes
from flink_jobs.sql import (
    ISO_8601,
    country_tier_sql,
    interval_sql,
    iso_day_of_week_sql,
    partition_columns,
    prime_time_sql,
    render_ddl,
    segment_key_sql,
    with_options,
)
from schemas import segment_windows
from schemas.events import typed_column_names
from udfs import rules, scoring

# Floors made without a model (none promoted, or none loadable) name this version.
PROVISIONAL_MODEL_VERSION = scoring.PROVISIONAL_MODEL_VERSION

# Per-event parsing and validation: Java functions of the connector jar, driven by the same
# schemas/auction_event.schema.json (tests/support/validation_sql.py is their SQL specification).
# Built with Job.event.time.max.ahead (a later event time is FUTURE_EVENT_TIME): the tolerance goes
# into the constructor, not into every call as a constant argument.
VALIDATION_FUNCTIONS = {
    # the reject reason alone (the tests' and benchmarks' handle on the validator)
    "AUCTION_REJECT_REASON": "com.ssmas.yield.connectors.validation.AuctionRejectReason",
    # reason + every typed field from one parse (a table function: one call per record)
    "AUCTION_PARSE": "com.ssmas.yield.connectors.validation.AuctionEventParser",
    # the event time of a valid event, NULL for a rejected one
    "AUCTION_EVENT_TIME": "com.ssmas.yield.connectors.validation.AuctionEventTime",
    # the source's rowtime: a valid event's time, else the newest accepted one (watermark never stuck)
    "AUCTION_ROW_TIME": "com.ssmas.yield.connectors.validation.AuctionRowTime",
}
JAVA_FUNCTIONS = {
    # COUNT_IF(condition, 'name'): the condition, counted as the job metric `name` when TRUE
    "COUNT_IF": "com.ssmas.yield.connectors.monitoring.CountIf",
    # UTF8_TEXT(payload): a record's bytes as text every reader can hold (bad UTF-8 -> U+FFFD)
    "UTF8_TEXT": "com.ssmas.yield.connectors.validation.Utf8Text",
    # The lake's partition columns of a TIMESTAMP(3): DATE_FORMAT's 'yyyy', 'MM', 'dd', 'HH' (sql.partition_columns)
    "LAKE_YEAR": "com.ssmas.yield.connectors.lake.LakePartition$Year",
    "LAKE_MONTH": "com.ssmas.yield.connectors.lake.LakePartition$Month",
    "LAKE_DAY": "com.ssmas.yield.connectors.lake.LakePartition$Day",
    "LAKE_HOUR": "com.ssmas.yield.connectors.lake.LakePartition$Hour",
}
DEFAULT_EVENT_TIME_MAX_AHEAD_MS = 300_000


def register_functions(t_env: TableEnvironment, event_time_max_ahead_ms: int = DEFAULT_EVENT_TIME_MAX_AHEAD_MS) -> None:
    """The Java functions above; needs the connector jar on the environment's pipeline.jars."""
    from pyflink.java_gateway import get_gateway

    gateway = get_gateway()
    # The connector jar is on the table environment's class loader (pipeline.jars), not py4j's.
    loader = gateway.jvm.Thread.currentThread().getContextClassLoader()
    signature = gateway.new_array(gateway.jvm.Class, 1)
    signature[0] = gateway.jvm.Long.TYPE
    for name, java_class in VALIDATION_FUNCTIONS.items():
        arguments = gateway.new_array(gateway.jvm.Object, 1)
        arguments[0] = gateway.jvm.Long(event_time_max_ahead_ms)
        j_function = loader.loadClass(java_class).getConstructor(signature).newInstance(arguments)
        register_java_instance(t_env, name, j_function)
    for name, java_class in JAVA_FUNCTIONS.items():
        t_env.execute_sql(f"CREATE TEMPORARY SYSTEM FUNCTION IF NOT EXISTS {name} AS '{java_class}' LANGUAGE JAVA")


def kinesis_source_options(config: AppConfig) -> dict[str, str]:
    stream = config.stream
    options = {
        "connector": "kinesis",
        "stream.arn": stream.stream_arn,
        "aws.region": stream.region,
        "source.init.position": stream.init_position,
        "format": "raw",
    }
    if stream.endpoint:
        options["aws.endpoint"] = stream.endpoint
    if stream.trust_all_certificates:
        options["aws.trust.all.certificates"] = "true"
    return options | stream.credentials


def file_source_options(path: str) -> dict[str, str]:
    """A bounded file of JSON lines read exactly like the stream (benchmarks and tests)."""
    return {"connector": "filesystem", "path": path, "format": "raw"}


def auction_stream_ddl(source_options: dict[str, str], lateness_ms: int) -> str:
    """The source table: raw payloads, event time parsed from them, the watermark.

    Needs register_functions(): the event time is AUCTION_ROW_TIME(payload), one streaming
    parse; it equals the SQL specification's event time on every valid event. A rejected record
    carries the newest accepted event time instead, so that a shard of rejected records never
    holds the watermark back nor moves it ahead (AuctionRowTime says why); it never reaches a window.
    """
    return render_ddl(
        "auction_stream",
        event_time_expr="AUCTION_ROW_TIME(payload)",
        lateness_interval=interval_sql(lateness_ms),
        source_options=with_options(source_options),
    )


def register_tables(t_env: TableEnvironment, config: AppConfig, source_options: dict[str, str]) -> None:
    register_functions(t_env, config.job.event_time_max_ahead_ms)
    t_env.execute_sql(auction_stream_ddl(source_options, config.job.lateness_ms))
    lake = config.lake.path
    for name in ("raw_events", "raw_errors", "raw_late", "floors_parquet"):
        t_env.execute_sql(render_ddl(name, lake_path=lake))
    t_env.execute_sql(render_ddl("segment_features", lake_path=lake, window_columns=segment_windows.ddl_columns()))
    access = {"aws.endpoint": config.floors.endpoint} if config.floors.endpoint else {}
    access |= config.floors.credentials
    t_env.execute_sql(
        render_ddl(
            "floors_dynamodb",
            floors_table=config.floors.table_name,
            floors_region=config.floors.region,
            floors_access_options="".join(f",\n  '{k}' = '{v}'" for k, v in access.items()),
        )
    )


def register_views(t_env: TableEnvironment, config: AppConfig) -> None:
    # One parse per record gives the reject reason and the typed fields (AUCTION_PARSE, the Java
    # twin of tests/support/validation_sql.py; tests/integration/test_validation_udf.py holds the
    # two equal over thousands of mutated records). Parsing with JSON_VALUE per column cost ~25 parses per event.
    # Registered as a planned Table, not as SQL text: every reference to a SQL view is expanded
    # anew, with a new correlation id, so the planner could not see that the branches share the
    # parse (one parse per branch, and every aggregate below it computed once per sink).
    columns = ", ".join(f"p.{name}" for name in ["reject_reason", *typed_column_names()])
    t_env.create_temporary_view("checked_events", t_env.sql_query(f"""
SELECT s.payload, s.proc_time, s.event_time, {columns}
FROM auction_stream AS s, LATERAL TABLE(AUCTION_PARSE(s.payload)) AS p"""))

    t_env.execute_sql(f"""
CREATE TEMPORARY VIEW accepted_events AS
SELECT *,
    {country_tier_sql()} AS country_tier,
    CAST(HOUR(event_time) AS INT) AS hour_of_day,
    {iso_day_of_week_sql("event_time")} AS day_of_week,
    CURRENT_WATERMARK(event_time) AS watermark_at_arrival
FROM checked_events WHERE reject_reason IS NULL""")

    # Late = behind the watermark when read. Decided here, once, so that an event is either
    # counted by its window or kept in raw_late/, never both and never neither.
    late = "watermark_at_arrival IS NOT NULL AND event_time <= watermark_at_arrival"
    t_env.execute_sql(
        f"CREATE TEMPORARY VIEW late_events AS SELECT * FROM accepted_events WHERE COUNT_IF({late}, 'recordsLate')")

    # Producers retry, so the stream repeats impressions: keep the first seen.
    # Proctime order keeps the result append-only; state is bounded by table.exec.state.ttl.
    # Only what the windows and the drift branch read crosses the network shuffle by
    # impression_id (the payload and the fields only raw/ keeps stay behind).
    kept = ", ".join(["proc_time", "event_time", "impression_id", *columns_after_dedup(config)])
    t_env.execute_sql(deduped_events_sql(kept, f"NOT ({late})"))

    aggregates = ",".join(f"\n    {f.aggregate} AS {f.name}" for f in segment_windows.aggregated())
    # One window aggregate for both levels (GROUPING SETS over the key fields): each event is
    # deduplicated and windowed once, then counted into its fine and its coarse segment. The key
    # strings are built from the grouped fields after the window, once per segment, not per event.
    fine_fields = rules.SEGMENT_KEY_FIELDS[rules.FINE]
    coarse_fields = rules.SEGMENT_KEY_FIELDS[rules.COARSE]
    # A field of the fine key only: NULL in the coarse rows of the grouping sets.
    fine_only = next(f for f in fine_fields if f not in coarse_fields)
    key_fields = ", ".join(dict.fromkeys(fine_fields + coarse_fields))
    # The features derived from the window (fill rate, calendar) are computed here, once, for
    # every sink that writes them (Parquet history, Feature Store online records).
    derived = ",".join(f"\n    {expression} AS {name}" for name, expression in derived_features_sql().items())
    t_env.execute_sql(f"""
CREATE TEMPORARY VIEW segment_windows AS
SELECT level,
    CASE WHEN level = '{rules.FINE}' THEN {segment_key_sql(fine_fields)} ELSE {segment_key_sql(coarse_fields)} END
        AS segment_key,
    window_start, window_end, {", ".join(f.name for f in segment_windows.aggregated())},{derived}
FROM (
  SELECT CASE WHEN GROUPING({fine_only}) = 0 THEN '{rules.FINE}' ELSE '{rules.COARSE}' END AS level,
      {key_fields}, window_start, window_end,{aggregates}
  FROM TABLE(TUMBLE(TABLE deduped_events, DESCRIPTOR(event_time), {interval_sql(config.job.window_ms)}))
  GROUP BY window_start, window_end, GROUPING SETS (({", ".join(fine_fields)}), ({", ".join(coarse_fields)}))
)""")

    ttl_s = config.job.window_ms * config.job.floor_ttl_windows // 1000
    scoring.register(t_env, config.lake.path, config.model.manifest_poll_ms, config.lake.s3_endpoint,
                     config.model.floor_policy, config.model.policy)
    # Segments with no fill in the window have no clearing price: no new floor;
    # the previous one expires and readers fall back.
    # One scoring call per segment and window (XGBoost, or the provisional rule without a
    # model, udfs/scoring.py); the fields are read from its result, never by calling it again.
    t_env.execute_sql(f"""
CREATE TEMPORARY VIEW scored_windows AS
SELECT level, segment_key, window_start, window_end, auctions, {scoring.call_sql()} AS scored
FROM segment_windows WHERE fills > 0""")
    t_env.execute_sql(f"""
CREATE TEMPORARY VIEW floors AS
SELECT level, segment_key,
    scored.floor_eur AS floor_eur,
    scored.predicted_cpm_eur AS predicted_cpm_eur,
    scored.model_version AS model_version,
    scored.policy AS policy,
    -- The challenger arm's floor from the same window (NULL without a challenger): same item.
    scored.challenger_floor_eur AS challenger_floor_eur,
    scored.challenger_model_version AS challenger_model_version,
    window_start, window_end,
    auctions AS data_points,
    UNIX_TIMESTAMP(DATE_FORMAT(window_end, 'yyyy-MM-dd HH:mm:ss')) + {ttl_s} AS expires_at
FROM scored_windows
-- NULL: a fine segment the revenue model does not know; readers use its coarse segment's floor.
WHERE scored.floor_eur IS NOT NULL""")


def deduped_events_sql(kept: str, on_time: str) -> str:
    """The view of the first occurrence of each impression among the on-time accepted events,
    with the `kept` columns (bench.job_throughput --without-dedup replaces it to measure its cost)."""
    return f"""
CREATE TEMPORARY VIEW deduped_events AS
SELECT {kept} FROM (
  SELECT {kept}, ROW_NUMBER() OVER (PARTITION BY impression_id ORDER BY proc_time ASC) AS occurrence
  FROM accepted_events WHERE {on_time}
) WHERE occurrence = 1"""


def columns_after_dedup(config: AppConfig) -> list[str]:
    """The typed and derived event columns read after dedup, in event order: the segment key
    fields, the columns the window aggregates name, and the drift features."""
    aggregates = " ".join(f.aggregate or "" for f in segment_windows.aggregated())
    needed = {*rules.SEGMENT_KEY_FIELDS[rules.FINE], *rules.SEGMENT_KEY_FIELDS[rules.COARSE]}
    needed |= set(config.monitoring.drift_features if config.monitoring else ())
    candidates = [*typed_column_names(), "country_tier", "hour_of_day", "day_of_week"]
    return [c for c in candidates if c in needed or re.search(rf"\b{c}\b", aggregates)]


def derived_features_sql() -> dict[str, str]:
    """SQL over an aggregated window row for each feature of schemas/segment_windows.py without an aggregate."""
    day_of_week = iso_day_of_week_sql("window_start")
    expressions = {
        "fill_rate": "CAST(fills AS DOUBLE) / auctions",
        "hour_of_day": "CAST(HOUR(window_start) AS INT)",
        "day_of_week": day_of_week,
        "is_weekend": f"{day_of_week} >= 6",
        "is_prime_time": prime_time_sql("HOUR(window_start)"),
    }
    missing = set(segment_windows.derived_names()) - set(expressions)
    if missing:
        raise ValueError(f"segment window features without an aggregate or a derivation: {sorted(missing)}")
    return {name: expressions[name] for name in segment_windows.derived_names()}


def build_statement_set(t_env: TableEnvironment, config: AppConfig, source_options: dict[str, str]) -> StatementSet:
    register_tables(t_env, config, source_options)
    register_views(t_env, config)
    statements = t_env.create_statement_set()
    statements.add_insert_sql(f"""
INSERT INTO raw_errors
SELECT reject_reason, CAST(payload AS BYTES), UTF8_TEXT(payload), CAST(proc_time AS TIMESTAMP(3)),
    {partition_columns("CAST(proc_time AS TIMESTAMP(3))")}
FROM checked_events WHERE reject_reason IS NOT NULL""")
    statements.add_insert_sql(f"""
INSERT INTO raw_late
SELECT impression_id, event_time, watermark_at_arrival, payload, CAST(proc_time AS TIMESTAMP(3)),
    {partition_columns("CAST(proc_time AS TIMESTAMP(3))")}
FROM late_events""")
    statements.add_insert_sql(f"""
INSERT INTO raw_events
SELECT impression_id, event_time, country, country_tier, device_category, format, inventory_type,
    domain, ad_unit, bidder, demand_channel, user_engagement_score, device_performance_score,
    historical_ctr_avg, floor_price_eur, bid_count, top_bid_eur, second_bid_eur, filled, cpm_eur,
    hour_of_day, day_of_week, day_of_week >= 6, {prime_time_sql("hour_of_day")}, country_tier = 1,
    {partition_columns("event_time")}
FROM accepted_events""")
    statements.add_insert_sql(f"""
INSERT INTO segment_features
SELECT {", ".join(segment_windows.column_names())},
    {partition_columns("window_start")}
FROM segment_windows""")
    statements.add_insert_sql(f"""
INSERT INTO floors_dynamodb
SELECT level, segment_key, floor_eur, predicted_cpm_eur, model_version, policy,
    DATE_FORMAT(window_start, '{ISO_8601}'), DATE_FORMAT(window_end, '{ISO_8601}'), data_points, expires_at,
    challenger_floor_eur, challenger_model_version
FROM floors""")
    statements.add_insert_sql(f"""
INSERT INTO floors_parquet
SELECT level, segment_key, floor_eur, predicted_cpm_eur, model_version, policy, window_start, window_end,
    data_points, expires_at, challenger_floor_eur, challenger_model_version, {partition_columns("window_start")}
FROM floors""")
    add_online_feature_writes(t_env, config, statements)

    add_drift(t_env, config, statements)
    return statements

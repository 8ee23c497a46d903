"""The features of a segment window, each declared once.

One row per segment (fine and coarse level) and closed window. Every sink and reader of that row
takes its columns from WINDOW_FEATURES: the job's aggregate and its INSERT into the feature
history (flink_jobs/pipeline.py), the history's DDL (schemas/sql/segment_features.sql), the
feature group definition (udfs/feature_store.py, and the CloudFormation template, which a test
holds equal), the simulator's Parquet schema for backfills, and the model's inputs
(udfs/model_features.py). Adding a feature: one WindowFeature here, with its aggregation.

`aggregate` is Flink SQL over the window's deduplicated events (their typed columns); a feature
without one is computed from the aggregated row by the job (fill rate and calendar fields, which
follow business rules in udfs/rules.py).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WindowFeature:
    name: str
    sql_type: str  # the Flink SQL type of the column
    aggregate: str | None = None  # SQL aggregate over the window's events; None: derived from the row
    model_input: bool = False  # the model reads the value as it is


# The row's identity: what every feature is a feature of.
WINDOW_KEY: tuple[WindowFeature, ...] = (
    WindowFeature("level", "STRING"),
    WindowFeature("segment_key", "STRING"),
    WindowFeature("window_start", "TIMESTAMP(3)"),
    WindowFeature("window_end", "TIMESTAMP(3)"),
)

WINDOW_FEATURES: tuple[WindowFeature, ...] = (
    WindowFeature("auctions", "BIGINT", "COUNT(*)"),
    WindowFeature("fills", "BIGINT", "SUM(CASE WHEN filled THEN 1 ELSE 0 END)"),
    WindowFeature("fill_rate", "DOUBLE"),
    WindowFeature("sum_cpm_eur", "DOUBLE", "SUM(CASE WHEN filled THEN cpm_eur ELSE 0 END)"),
    WindowFeature("mean_cpm_eur", "DOUBLE", "AVG(CASE WHEN filled THEN cpm_eur END)", model_input=True),
    WindowFeature("mean_bid_count", "DOUBLE", "AVG(CAST(bid_count AS DOUBLE))", model_input=True),
    WindowFeature("mean_floor_price_eur", "DOUBLE", "AVG(floor_price_eur)", model_input=True),
    WindowFeature("mean_top_bid_eur", "DOUBLE", "AVG(top_bid_eur)", model_input=True),
    WindowFeature("mean_user_engagement_score", "DOUBLE", "AVG(user_engagement_score)", model_input=True),
    WindowFeature("mean_device_performance_score", "DOUBLE", "AVG(device_performance_score)", model_input=True),
    WindowFeature("mean_historical_ctr_avg", "DOUBLE", "AVG(historical_ctr_avg)", model_input=True),
    WindowFeature("premium_share", "DOUBLE", "AVG(CASE WHEN inventory_type = 'premium' THEN 1.0 ELSE 0.0 END)",
                  model_input=True),
    WindowFeature("hour_of_day", "INT"),
    WindowFeature("day_of_week", "INT"),
    WindowFeature("is_weekend", "BOOLEAN"),
    WindowFeature("is_prime_time", "BOOLEAN"),
)

# The Feature Store has no boolean or timestamp type: 0/1 integers and ISO-8601 strings instead.
_FEATURE_STORE_TYPES = {"STRING": "String", "TIMESTAMP(3)": "String", "BIGINT": "Integral", "INT": "Integral",
                        "BOOLEAN": "Integral", "DOUBLE": "Fractional"}


def columns() -> tuple[WindowFeature, ...]:
    """The row as the feature history stores it: the key, then the features."""
    return WINDOW_KEY + WINDOW_FEATURES


def column_names() -> tuple[str, ...]:
    return tuple(f.name for f in columns())


def aggregated() -> tuple[WindowFeature, ...]:
    return tuple(f for f in WINDOW_FEATURES if f.aggregate is not None)


def derived_names() -> tuple[str, ...]:
    return tuple(f.name for f in WINDOW_FEATURES if f.aggregate is None)


def model_input_names() -> tuple[str, ...]:
    return tuple(f.name for f in WINDOW_FEATURES if f.model_input)


def ddl_columns() -> str:
    """The columns of a table of segment-window rows, for a CREATE TABLE."""
    return ",\n  ".join(f"{f.name} {f.sql_type}" for f in columns())


def feature_definitions() -> list[dict[str, str]]:
    """The SageMaker FeatureDefinitions of the window's columns, in row order."""
    return [{"FeatureName": f.name, "FeatureType": _FEATURE_STORE_TYPES[f.sql_type]} for f in columns()]

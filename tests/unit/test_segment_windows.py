"""Every reader and writer of a segment-window row takes its columns from schemas/segment_windows.py."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from flink_jobs.pipeline import derived_features_sql
from flink_jobs.sql import render_ddl
from local_kinesis.resources import feature_group_params
from schemas import segment_windows
from simulator.market import FEATURES_SCHEMA
from udfs import feature_store, model_features

ROOT = Path(__file__).resolve().parents[2]
NAMES = list(segment_windows.column_names())


def test_names_are_unique_and_every_feature_is_computed() -> None:
    assert len(NAMES) == len(set(NAMES))
    assert set(derived_features_sql()) == set(segment_windows.derived_names())
    for feature in segment_windows.aggregated():
        assert re.match(r"^(COUNT|SUM|AVG|MIN|MAX)\(", feature.aggregate), feature


def test_the_history_ddl_has_the_declared_columns_in_order() -> None:
    ddl = render_ddl("segment_features", lake_path="file:///lake", window_columns=segment_windows.ddl_columns())
    columns = re.findall(r"^\s+(\w+) ([A-Z]+(?:\(\d\))?),?$", ddl.split("`year`")[0], flags=re.M)
    assert columns == [(f.name, f.sql_type) for f in segment_windows.columns()]


def test_the_backfill_writes_the_declared_columns() -> None:
    assert FEATURES_SCHEMA.names == NAMES


def test_the_feature_group_is_the_record_fields_then_the_declared_columns() -> None:
    definitions = feature_store.feature_group_definition("g")["FeatureDefinitions"]
    assert [d["FeatureName"] for d in definitions] == ["segment_id", "event_time", *NAMES]
    types = {d["FeatureName"]: d["FeatureType"] for d in definitions}
    assert types["is_weekend"] == "Integral" and types["window_start"] == "String"
    assert types["auctions"] == "Integral" and types["mean_cpm_eur"] == "Fractional"


def test_cloudformation_creates_the_same_feature_group() -> None:
    # The template's YAML uses CloudFormation tags (!Sub, !Ref): read it with a loader that keeps them as text.
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, tag, node: None)
    template = yaml.load((ROOT / "deploy" / "cloudformation" / "yield-data.yaml").read_text(encoding="utf-8"),
                         Loader=Loader)
    groups = [r for r in template["Resources"].values() if r["Type"] == "AWS::SageMaker::FeatureGroup"]
    assert len(groups) == 1
    assert groups[0]["Properties"]["FeatureDefinitions"] == feature_group_params("g", "b")["FeatureDefinitions"]


def test_the_model_reads_declared_columns() -> None:
    assert set(model_features.WINDOW_COLUMNS) <= set(NAMES)
    assert set(model_features.WINDOW_AGGREGATES) == {f.name for f in segment_windows.WINDOW_FEATURES if f.model_input}
    assert set(model_features.WINDOW_AGGREGATES) <= set(model_features.FEATURES)

"""What the Feature Store should hold after a run: the Parquet features, record by record.

The offline history (processed/features/ Parquet) and the online records come from the same
window rows through two different sinks; these helpers turn a Parquet row into the online
record it must have produced and compare.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
from botocore.model import ServiceModel
from botocore.session import get_session
from botocore.validate import ParamValidator

from flink_jobs.config import AppConfig
from training import lake
from udfs.feature_store import FeatureGroupSpec, load_spec, put_record_request, read_online_records, segment_id


def iso_ms(ts: pd.Timestamp) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def expected_record(spec: FeatureGroupSpec, row: pd.Series) -> dict[str, str]:
    """The online record a Parquet feature row must have become, as {feature: ValueAsString}."""
    start, end = pd.Timestamp(row["window_start"]), pd.Timestamp(row["window_end"])
    values = {name: row[name] for name in spec.feature_names if name in row.index}
    values |= {
        spec.record_identifier: segment_id(row["level"], row["segment_key"], spec.separator),
        spec.event_time: iso_ms(end),  # the window end
        "window_start": iso_ms(start),
        "window_end": iso_ms(end),
        "is_weekend": int(bool(row["is_weekend"])),
        "is_prime_time": int(bool(row["is_prime_time"])),
    }
    request = put_record_request(spec, [values.get(name) for name in spec.feature_names])
    return as_dict(request["Record"])


def as_dict(record: list[dict[str, str]]) -> dict[str, str]:
    return {fv["FeatureName"]: fv["ValueAsString"] for fv in record}


def parquet_features(config: AppConfig) -> pd.DataFrame:
    return lake.read(config.lake.path, "features")


def expected_by_window(config: AppConfig) -> dict[tuple[str, str], dict[str, str]]:
    """{(segment_id, event_time): record} for every window row in Parquet."""
    spec = load_spec(config.feature_store.feature_group_name)
    records = [expected_record(spec, row) for _, row in parquet_features(config).iterrows()]
    return {(r[spec.record_identifier], r[spec.event_time]): r for r in records}


def logged_puts(data_dir: Path, group: str) -> list[list[dict[str, str]]]:
    """Every PutRecord a stand-in applied to `group`, in order (its records.jsonl change log)."""
    lines = (data_dir / "records.jsonl").read_text(encoding="utf-8").splitlines()
    entries = [json.loads(line) for line in lines if line.strip()]
    return [e["rec"] for e in entries if e["t"] == "put" and e["g"] == group]


def assert_valid_put_records(group: str, records: list[list[dict[str, str]]]) -> None:
    """botocore's own parameter validation accepts each request (what the client checks before sending)."""
    model = ServiceModel(get_session().get_service_data("sagemaker-featurestore-runtime"))
    shape = model.operation_model("PutRecord").input_shape
    for record in records:
        report = ParamValidator().validate({"FeatureGroupName": group, "Record": record}, shape)
        assert not report.has_errors(), report.generate_report()


def online_records(config: AppConfig, endpoint: str | None = None) -> dict[str, dict[str, str]]:
    """The latest online record of every segment in Parquet, read back with BatchGetRecord."""
    store = config.feature_store
    if endpoint:
        store = replace(store, endpoint=endpoint)
    spec = load_spec(store.feature_group_name)
    features = parquet_features(config)[["level", "segment_key"]]
    ids = (segment_id(level, key, spec.separator) for level, key in features.itertuples(index=False))
    return read_online_records(store.feature_group_name, store.endpoint, store.region, ids)


def assert_latest_online_records_match_parquet(config: AppConfig, endpoint: str | None = None) -> None:
    """Each segment's online record is its last window's Parquet features, value for value."""
    spec = load_spec(config.feature_store.feature_group_name)
    latest: dict[str, dict[str, str]] = {}
    for (record_id, _), record in sorted(expected_by_window(config).items(), key=lambda kv: kv[0][1]):
        latest[record_id] = record  # later windows replace earlier ones, as in the store
    online = online_records(config, endpoint)
    assert set(online) == set(latest), set(online) ^ set(latest)
    for record_id, want in latest.items():
        assert online[record_id] == want, (record_id, online[record_id], want)
    assert all(r[spec.event_time] for r in online.values())


def window_keys(records: list[list[dict[str, str]]], spec: FeatureGroupSpec) -> list[tuple[str, str]]:
    return [(d[spec.record_identifier], d[spec.event_time]) for d in map(as_dict, records)]


def assert_every_window_written(config: AppConfig, puts: list[list[dict[str, str]]]) -> dict[Any, int]:
    """Every Parquet window row was put, with its exact values; returns the put count per window."""
    spec = load_spec(config.feature_store.feature_group_name)
    expected = expected_by_window(config)
    counts: dict[Any, int] = {}
    for record in puts:
        key = window_keys([record], spec)[0]
        counts[key] = counts.get(key, 0) + 1
        assert key in expected, f"a record for no Parquet window: {key}"
        assert as_dict(record) == expected[key], (key, as_dict(record), expected[key])
    assert set(counts) == set(expected), f"windows never written: {set(expected) - set(counts)}"
    return counts

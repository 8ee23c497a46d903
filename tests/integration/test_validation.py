"""The job's validation, run by the real Flink runtime over a file of records.

Faster than the Kinesis end-to-end test and broader: every malformed kind gets
its own reason, and the valid edge cases (nullable bids, integer-valued
numbers, boundary values) are accepted.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flink_jobs import pipeline
from flink_jobs.config import load_config
from flink_jobs.main import create_table_env
from simulator.bad_records import bad_records
from tests.support import validation_sql as validation

VALID = {
    "impression_id": "imp-1", "event_time": "2026-11-23T20:15:30.250Z", "country": "ES",
    "device_category": "mobile", "format": "video", "inventory_type": "premium", "domain": "elpais.es",
    "ad_unit": "preroll", "bidder": "appnexus", "demand_channel": "prebid", "user_engagement_score": 0.4,
    "device_performance_score": 3.2, "historical_ctr_avg": 0.02, "floor_price_eur": 1.5, "bid_count": 2,
    "top_bid_eur": 3.1, "second_bid_eur": 2.4, "filled": True, "cpm_eur": 2.4,
}

VALID_EDGES = [
    VALID,
    VALID | {"impression_id": "imp-2", "bid_count": 0, "top_bid_eur": None, "second_bid_eur": None,
             "filled": False, "cpm_eur": None},
    {k: v for k, v in VALID.items() if k not in ("top_bid_eur", "second_bid_eur", "cpm_eur")}
    | {"impression_id": "imp-3", "filled": False},
    VALID | {"impression_id": "imp-4", "user_engagement_score": 0, "historical_ctr_avg": 1, "floor_price_eur": 0},
    VALID | {"impression_id": "imp-5", "event_time": "2026-11-23T20:15:30Z", "device_performance_score": 7},
    VALID | {"impression_id": "imp-6", "event_time": "2024-02-29T23:59:59.999Z"},
]

MORE_BAD = [
    (VALID | {"bid_count": 2.5}, "WRONG_TYPE:bid_count"),
    (VALID | {"country": "es"}, "UNKNOWN_VALUE:country"),
    (VALID | {"inventory_type": None}, "MISSING_FIELD:inventory_type"),  # null counts as absent
    (VALID | {"domain": ""}, "OUT_OF_RANGE:domain"),
    (VALID | {"device_performance_score": -1}, "OUT_OF_RANGE:device_performance_score"),
    (VALID | {"top_bid_eur": "3.1"}, "WRONG_TYPE:top_bid_eur"),
    (VALID | {"impression_id": 42}, "WRONG_TYPE:impression_id"),
    (VALID | {"event_time": "2026-11-23T24:00:00.000Z"}, "BAD_EVENT_TIME"),
    (VALID | {"event_time": "2026-11-23 20:15:30.250"}, "BAD_EVENT_TIME"),
    (VALID | {"event_time": "2026-11-23T20:15:30.250+01:00"}, "BAD_EVENT_TIME"),
    (VALID | {"filled": 1}, "WRONG_TYPE:filled"),
    (VALID | {"user_engagement_score": {"v": 1}}, "WRONG_TYPE:user_engagement_score"),
    # beyond Job.event.time.max.ahead of the clock: a producer clock gone wrong, quarantined
    (VALID | {"event_time": "9999-12-31T23:59:59.999Z"}, "FUTURE_EVENT_TIME"),
    # the sane maxima of the schema (every sink stores them; 1e400 would read as Infinity)
    (VALID | {"floor_price_eur": 10_000.5}, "OUT_OF_RANGE:floor_price_eur"),
    (VALID | {"bid_count": 2**31}, "OUT_OF_RANGE:bid_count"),
]


@pytest.fixture(scope="module")
def checked(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str | None, str | None]]:
    """payload -> (reject reason, impression_id as typed) for every record, via the job's own view."""
    bad = bad_records(VALID) + [(json.dumps(e).encode(), reason) for e, reason in MORE_BAD]
    lines = [json.dumps(e) for e in VALID_EDGES] + [p.decode() for p, _ in bad]
    path: Path = tmp_path_factory.mktemp("validation") / "records.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = load_config()
    t_env = create_table_env(config, on_msf=False)  # the job's environment, connector jar loaded
    t_env.get_config().set("parallelism.default", "1")
    pipeline.register_functions(t_env)
    t_env.execute_sql(pipeline.auction_stream_ddl(pipeline.file_source_options(path.as_uri()), 5_000))
    pipeline.register_views(t_env, config)
    with t_env.execute_sql("SELECT payload, reject_reason, impression_id FROM checked_events").collect() as rows:
        got = {row[0]: (row[1], row[2]) for row in rows}
    assert len(got) == len(lines), "a record was lost"
    return got


def test_valid_edge_cases_are_accepted(checked):
    for event in VALID_EDGES:
        reason, impression_id = checked[json.dumps(event)]
        assert reason is None, f"{event['impression_id']} rejected as {reason}"
        assert impression_id == event["impression_id"]


@pytest.mark.parametrize("case", range(len(bad_records(VALID)) + len(MORE_BAD)))
def test_each_malformed_record_gets_its_reason(checked, case):
    bad = bad_records(VALID) + [(json.dumps(e).encode(), reason) for e, reason in MORE_BAD]
    payload, reason = bad[case]
    assert checked[payload.decode()][0] == reason


def test_every_schema_field_is_checked():
    sql = validation.reject_reason_sql()
    for field in validation.fields():
        assert f"WRONG_TYPE:{field.name}" in sql
        if field.required:
            assert f"MISSING_FIELD:{field.name}" in sql

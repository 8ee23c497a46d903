"""Segment keys never collide or shift, whatever the fields contain (BRIEF "Segments and floors").

The same key is built in Python (rules.segment_key, rules.segment_key_column), in the job's SQL
(sql.segment_key_sql) and parsed back for the model (model_features.key_parts / model_inputs).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from flink_jobs.sql import segment_key_sql
from udfs import feature_store, rules
from udfs.model_features import WINDOW_COLUMNS, key_parts, model_inputs

# Any text, with the separator, the escape character and '#' made frequent.
field = st.text(alphabet=st.one_of(st.sampled_from(["|", "\\", "#", "'", "é", "段"]), st.characters()), max_size=8)
four_fields = st.tuples(field, field, field, field)

TRICKY = ["plain", "", "a|b", "a\\", "\\|", "|", "\\", "a\\|b", "||\\\\", "#x#", "ünï|cødé", "o'brien"]


@given(four_fields)
def test_any_fields_round_trip(parts: tuple[str, ...]):
    assert rules.split_segment_key(rules.join_segment_key(parts)) == list(parts)


@given(four_fields, four_fields)
def test_distinct_fields_give_distinct_keys(a: tuple[str, ...], b: tuple[str, ...]):
    if a != b:
        assert rules.join_segment_key(a) != rules.join_segment_key(b)


@given(st.lists(four_fields, min_size=1, max_size=20))
def test_column_wise_keys_match_row_keys_and_split_back(rows: list[tuple[str, ...]]):
    names = rules.SEGMENT_KEY_FIELDS[rules.FINE]
    frame = pd.DataFrame(rows, columns=list(names))
    keys = rules.segment_key_column(frame, rules.FINE)
    assert list(keys) == [rules.segment_key(rules.FINE, dict(zip(names, r, strict=True))) for r in rows]
    parts = key_parts(keys)
    assert [list(r) for r in parts.itertuples(index=False)] == [list(r) for r in rows]


def test_plain_keys_are_unchanged():
    # Keys without a separator or escape inside a field read as before (stored floors stay valid).
    assert rules.fine_segment_key("elpais.es", "top_728x90", "desktop", 1) == "elpais.es|top_728x90|desktop|1"
    assert rules.fine_segment_key("a|b.es", "top", "mobile", 2) == "a\\|b.es|top|mobile|2"
    assert rules.fine_segment_key("a\\", "top", "mobile", 2) == "a\\\\|top|mobile|2"


@given(field, field)
def test_feature_store_ids_cannot_collide(key_a: str, key_b: str):
    # The level never contains '#', so the first '#' ends it: a '#' inside a key cannot make
    # another level's id.
    ids = {(lv, k): feature_store.segment_id(lv, k) for lv in (rules.FINE, rules.COARSE) for k in (key_a, key_b)}
    assert len(set(ids.values())) == len(ids)
    for (lv, k), sid in ids.items():
        assert sid.split("#", 1) == [lv, k]


def test_a_level_with_the_separator_is_refused():
    with pytest.raises(ValueError, match="must not contain"):
        feature_store.segment_id("fi#ne", "x")


def scoring_batch() -> pd.DataFrame:
    start = pd.Timestamp("2026-01-05 20:00")
    keys = ["video|premium|mobile|1", "a\\|b.es|top|desktop|2", "x.es|mid|tablet|3", "banner|standard|desktop|2"]
    n = len(keys)
    return pd.DataFrame({
        "level": ["coarse", "fine", "fine", "coarse"], "segment_key": keys,
        "window_start": [start] * n, "window_end": [start + pd.Timedelta("1h")] * n,
        "auctions": [10, 20, 30, 40], "fills": [3] * n, "mean_cpm_eur": [1.0] * n,
        "mean_bid_count": [3.0] * n, "mean_floor_price_eur": [2.0] * n, "mean_top_bid_eur": [2.5] * n,
        "mean_user_engagement_score": [0.4] * n, "mean_device_performance_score": [1.0] * n,
        "mean_historical_ctr_avg": [0.01] * n, "premium_share": [1.0] * n,
    })[list(WINDOW_COLUMNS)]


def test_a_separator_in_a_domain_does_not_shift_any_row():
    batch = scoring_batch()
    escaped = model_inputs(batch)
    # The same batch with the domain plain: every feature must be identical.
    plain = model_inputs(batch.assign(segment_key=batch["segment_key"].str.replace("a\\|b.es", "ab.es", regex=False)))
    pd.testing.assert_frame_equal(escaped, plain)
    assert list(escaped["country_tier"]) == [1.0, 2.0, 3.0, 2.0]
    assert not np.isnan(escaped.loc[1, "device"])


def test_sql_twin_builds_the_python_key():
    """A tiny batch Flink SQL query over tricky values gives the same keys as rules.segment_key."""
    from pyflink.table import DataTypes, EnvironmentSettings, TableEnvironment

    t_env = TableEnvironment.create(EnvironmentSettings.in_batch_mode())
    t_env.get_config().set("parallelism.default", "1")
    names = rules.SEGMENT_KEY_FIELDS[rules.FINE]
    rows = [(d, u, dev, tier) for d, u, dev, tier in zip(TRICKY, reversed(TRICKY), TRICKY[3:] + TRICKY[:3],
                                                           range(len(TRICKY)), strict=True)]
    schema = DataTypes.ROW([DataTypes.FIELD("i", DataTypes.INT()),
                            *(DataTypes.FIELD(n, DataTypes.STRING()) for n in names[:3]),
                            DataTypes.FIELD(names[3], DataTypes.INT())])
    t_env.create_temporary_view("tricky", t_env.from_elements([(i, *r) for i, r in enumerate(rows)], schema))
    result = t_env.execute_sql(f"SELECT i, {segment_key_sql(names)} AS k FROM tricky")
    with result.collect() as collected:
        from_sql = {r[0]: r[1] for r in collected}
    assert len(from_sql) == len(rows)
    for i, r in enumerate(rows):
        assert from_sql[i] == rules.segment_key(rules.FINE, dict(zip(names, r, strict=True))), r
        assert rules.split_segment_key(from_sql[i]) == [str(v) for v in r]

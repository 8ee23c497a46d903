"""The market simulator: determinism, market structure, drift, schema, lake backfill, A/B arithmetic."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import numpy as np
import pandas as pd
import pyarrow.dataset as ds
import pytest

from flink_jobs.sql import render_ddl
from local_kinesis import REPO_ROOT
from schemas import segment_windows
from simulator.market import DEFAULT_START, Drift, Market, backfill, features_frame
from tests.support.e2e_scenario import expected_features
from training import ab_test, lake
from udfs import rules

SCHEMA = json.loads((REPO_ROOT / "schemas" / "auction_event.schema.json").read_text(encoding="utf-8"))
CATEGORIES = ("country", "device_category", "format", "inventory_type", "domain", "ad_unit", "bidder",
              "demand_channel")


def sample(seed: int = 1, n: int = 20_000, drifts: tuple[Drift, ...] = ()) -> pd.DataFrame:
    return Market(seed, drifts=drifts).count(n, DEFAULT_START, 500.0, truth=False).frame()


def test_same_seed_same_events_different_seed_different() -> None:
    a = Market(5).count(3_000, DEFAULT_START, 500.0, truth=False).jsonl()
    assert a == Market(5).count(3_000, DEFAULT_START, 500.0, truth=False).jsonl()
    assert a != Market(6).count(3_000, DEFAULT_START, 500.0, truth=False).jsonl()
    end = DEFAULT_START + timedelta(minutes=30)
    spans = [b"".join(s.jsonl() for s in Market(seed).span(DEFAULT_START, end, 5.0, truth=False))
             for seed in (5, 5, 6)]
    assert spans[0] == spans[1] != spans[2]


def test_events_validate_against_the_schema_and_the_auction_rule() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker())
    lines = Market(2).count(3_000, DEFAULT_START, 200.0, truth=False).jsonl().splitlines()
    events = [json.loads(line) for line in lines]
    assert len({e["impression_id"] for e in events}) == len(events) == 3_000
    for e in events:
        validator.validate(e)
        assert list(e) == list(SCHEMA["properties"])  # every field, schema order
        assert len(e["event_time"]) == 24 and e["event_time"].endswith("Z")
        assert e["filled"] == (e["bid_count"] > 0 and e["top_bid_eur"] >= e["floor_price_eur"])
        if e["filled"]:  # first price: the winner pays its bid, at least the floor
            assert e["cpm_eur"] == e["top_bid_eur"] >= e["floor_price_eur"]
        for bid in (e["top_bid_eur"], e["second_bid_eur"]):
            assert bid is None or bid >= e["floor_price_eur"]  # bids under the floor are never seen
        assert (e["second_bid_eur"] is not None) == (e["bid_count"] >= 2)


@pytest.fixture(scope="module")
def two_days() -> pd.DataFrame:
    """Two shaped days at a low floor (0.50), so the clearing price is mostly the second bid."""
    sims = list(Market(3).span(DEFAULT_START, DEFAULT_START + timedelta(days=2), 2.0, floor=0.5, truth=False))
    df = pd.concat([s.frame() for s in sims], ignore_index=True)
    df["tier"] = df["country"].map(rules.country_tier)
    df["hour"] = pd.to_datetime(df["event_time"]).dt.hour
    return df


def test_market_structure(two_days: pd.DataFrame) -> None:
    df = two_days
    cpm = df[df["filled"]].groupby("tier")["cpm_eur"].mean()
    assert cpm[1] > cpm[2] > cpm[3]
    by_format = df[df["filled"]].groupby("format")["cpm_eur"].mean()
    assert by_format["video"] > by_format["interstitial"] > by_format["banner"]
    prime = df[df["filled"] & df["hour"].between(19, 23)]["cpm_eur"].mean()
    night = df[df["filled"] & df["hour"].between(2, 5)]["cpm_eur"].mean()
    assert prime > 1.2 * night
    # Traffic: night trough, prime-time peak.
    per_hour = df.groupby("hour").size()
    assert per_hour.loc[19:23].mean() > 3 * per_hour.loc[2:5].mean()
    shares = df["tier"].value_counts(normalize=True)
    assert shares[1] > 0.5 and shares[2] > 0.03 and shares[3] > 0.15
    assert set(df["device_category"]) == {"mobile", "tablet", "desktop"}
    coarse = df["format"] + df["inventory_type"] + df["device_category"] + df["tier"].astype(str)
    assert coarse.nunique() == 108  # every coarse segment occurs


def test_truth_is_per_segment_and_hour_with_the_rule_keys() -> None:
    sim = Market(4).count(5_000, DEFAULT_START, 100.0)
    frame = sim.frame()
    truth = sim.truth
    assert truth is not None and set(truth["level"]) == {rules.FINE, rules.COARSE}
    events = frame.assign(country_tier=frame["country"].map(rules.country_tier)).to_dict(orient="records")
    for level in (rules.FINE, rules.COARSE):
        keys = {rules.segment_key(level, e) for e in events}
        assert set(truth.loc[truth["level"] == level, "segment_key"]) == keys
        assert truth.loc[truth["level"] == level, "auctions"].sum() == len(frame)
    assert (truth["expected_cpm_eur"].dropna() >= rules.STATIC_FLOOR_EUR - 1e-9).all()  # the floor is a minimum
    assert "expected_cpm_eur" not in frame  # truth beside the events, never in them


START = DEFAULT_START + timedelta(seconds=20)  # half-way through sample()'s 40 s


def _split(base: pd.DataFrame, drifted: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    after = pd.to_datetime(base["event_time"]) >= pd.Timestamp(START)
    pd.testing.assert_frame_equal(base[~after], drifted[~after])  # nothing changes before the start
    return after, ~after


def test_score_drift_shifts_that_score_only() -> None:
    base = sample()
    drifted = sample(drifts=(Drift(START, "user_engagement_score", 0.1),))
    after, _ = _split(base, drifted)
    want = np.minimum(base.loc[after, "user_engagement_score"] + 0.1, 1.0)
    np.testing.assert_allclose(drifted.loc[after, "user_engagement_score"], want, atol=1.5e-4)
    unchanged = ["impression_id", "event_time", *CATEGORIES, "device_performance_score", "historical_ctr_avg",
                 "floor_price_eur"]
    pd.testing.assert_frame_equal(base[unchanged], drifted[unchanged])


def test_drift_moves_values_never_who_takes_part() -> None:
    """The bidders taking part come from their own draws; only values (and hence the bids a floor
    lets through, ``bid_count``) follow a drift."""
    def bidders(drifts: tuple[Drift, ...]) -> np.ndarray:
        cols = Market(1, drifts=drifts).count(20_000, DEFAULT_START, 500.0, truth=False).cols
        return cols["bidders"]

    base = bidders(())
    for drift in (Drift(START, "user_engagement_score", 0.1), Drift(START, "bid_level_tier_1", 0.25)):
        np.testing.assert_array_equal(bidders((drift,)), base)


def test_tier_bid_level_drift_scales_that_tier_only() -> None:
    base = sample()
    drifted = sample(drifts=(Drift(START, "bid_level_tier_1", 0.25),))
    after, _ = _split(base, drifted)
    tier1 = base["country"].map(rules.country_tier) == 1
    # Where the winning bid was above the floor (not raised to it), it scales with the values.
    hit = after & tier1 & base["filled"] & (base["top_bid_eur"] > base["floor_price_eur"])
    assert hit.sum() > 100
    np.testing.assert_allclose(drifted.loc[hit, "top_bid_eur"], base.loc[hit, "top_bid_eur"] * 1.25,
                               rtol=1e-3, atol=2e-4)
    assert drifted.loc[after & tier1, "filled"].mean() > base.loc[after & tier1, "filled"].mean()
    untouched = ~(after & tier1)
    pd.testing.assert_frame_equal(base[untouched], drifted[untouched])
    same = ["impression_id", "event_time", *CATEGORIES, "user_engagement_score"]
    pd.testing.assert_frame_equal(base[same], drifted[same])


def test_device_mix_drift_moves_devices_to_mobile_only() -> None:
    base = sample(n=40_000)
    drifted = sample(n=40_000, drifts=(Drift(START, "device_mix_mobile", 0.3),))
    after, _ = _split(base, drifted)
    changed = base["device_category"] != drifted["device_category"]
    assert changed.any() and (drifted.loc[changed, "device_category"] == "mobile").all()
    assert not (changed & ~after).any()
    p = (base.loc[after, "device_category"] == "mobile").mean()
    got = (drifted.loc[after, "device_category"] == "mobile").mean()
    assert got == pytest.approx(p + (1 - p) * 0.3, abs=0.015)
    same = ["impression_id", "event_time", "country", "format", "domain", "ad_unit", "user_engagement_score",
            "device_performance_score", "historical_ctr_avg"]
    pd.testing.assert_frame_equal(base[same], drifted[same])


def test_unknown_drift_feature_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown drift feature"):
        Drift(START, "cpm", 1.0)


def _ddl_columns(name: str) -> list[str]:
    sql = render_ddl(name, lake_path="file:///lake", window_columns=segment_windows.ddl_columns())
    sql = sql.split("PARTITIONED BY")[0]
    return [m.group(1) for m in re.finditer(r"^\s+`?(\w+)`?\s+[A-Z]", sql, re.M)
            if m.group(1) not in ("year", "month", "day", "hour", "CREATE")]


def test_backfill_writes_the_lake_layout_with_the_job_definitions(tmp_path) -> None:
    uri = (tmp_path / "lake").as_uri()
    stats = backfill(Market(8), uri, DEFAULT_START + timedelta(hours=20), 3 / 24, 0.5, duplicate_share=0.05)
    assert stats["hours"] == 3 and stats["raw_rows"] > stats["events"] > 1_000
    raw = lake.read(uri, "raw")
    assert list(raw.columns)[: len(_ddl_columns("raw_events"))] == _ddl_columns("raw_events")
    assert sorted(int(h) for h in raw["hour"].unique()) == [20, 21, 22]
    physical = ds.dataset(f"{tmp_path}/lake/raw", format="parquet", partitioning="hive").schema
    assert str(physical.field("country_tier").type) == "int32" and str(physical.field("bid_count").type) == "int32"
    features = lake.read(uri, "features")
    assert list(features.columns)[: len(_ddl_columns("segment_features"))] == _ddl_columns("segment_features")
    assert len(features) == stats["feature_rows"]
    # The same aggregates as the end-to-end oracle (independent code), over the deduplicated events.
    events = raw.drop(columns=["year", "month", "day", "hour"]).drop_duplicates("impression_id")
    events["event_time"] = events["event_time"].dt.strftime("%Y-%m-%dT%H:%M:%S.%f").str[:-3] + "Z"
    events = events.astype(object).where(events.notna(), None).to_dict(orient="records")
    oracle = expected_features(events)
    mine = features_frame(raw, window="10s")
    got = mine.set_index(["level", "segment_key", "window_start"]).sort_index()
    want = oracle.set_index(["level", "segment_key", "window_start"]).sort_index()
    assert got.index.equals(want.index)
    for col in want.columns:
        np.testing.assert_allclose(got[col].astype(float), want[col].astype(float), rtol=1e-9, err_msg=col)


def test_ab_table_matches_hand_computation() -> None:
    auctions = pd.DataFrame({
        "country": ["ES", "ES", "MX", "MX"],
        "top_value": [5.0, 1.5, 3.0, np.nan],
        "second_value": [1.0, np.nan, 2.5, np.nan],
        "shading": [0.5, 0.5, 0.5, 0.5],
    })
    static = np.full(4, 2.0)
    dynamic = np.array([3.0, 1.2, 2.0, 0.5])
    table = ab_test.evaluate(auctions, {"static": static, "dynamic": dynamic}).set_index(["tier", "arm"])
    # First price, half the value bid, raised to a floor the value reaches:
    # static: #1 pays max(2.5, 2.0) = 2.5; #2 1.5 < 2 no bid; #3 pays max(1.5, 2.0) = 2.0; #4 no bidders.
    # dynamic: #1 max(2.5, 3.0) = 3.0; #2 max(0.75, 1.2) = 1.2; #3 2.0; #4 no bidders.
    s, d = table.loc[("all", "static")], table.loc[("all", "dynamic")]
    assert s["auctions"] == d["auctions"] == 4
    assert s["fill_rate"] == pytest.approx(0.5) and d["fill_rate"] == pytest.approx(0.75)
    assert s["avg_cpm"] == pytest.approx(2.25) and d["avg_cpm"] == pytest.approx((3.0 + 1.2 + 2.0) / 3)
    assert s["rev_per_1000"] == pytest.approx(4.5 / 4) and d["rev_per_1000"] == pytest.approx(6.2 / 4)
    assert d["lift"] == pytest.approx((0.5 + 1.2 + 0.0 + 0.0) / 4)
    # Normal-approximation interval of the fill rate: p +- 1.96 sqrt(p (1-p) / n).
    assert d["fill_hi"] - d["fill_rate"] == pytest.approx(1.959964 * np.sqrt(0.75 * 0.25 / 4))
    t1 = table.loc[("1", "dynamic")]
    assert t1["auctions"] == 2 and t1["rev_per_1000"] == pytest.approx((3.0 + 1.2) / 2)
    assert table.loc[("3", "static")]["avg_cpm"] == pytest.approx(2.0)

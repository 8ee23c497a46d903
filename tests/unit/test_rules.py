"""Unit tests of the business rules of the brief (udfs/rules.py)."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from udfs import rules


@pytest.mark.parametrize(
    ("country", "tier"),
    [("ES", 1), ("US", 1), ("GB", 1), ("es", 1), ("PT", 2), ("SE", 2), ("CH", 2), ("MX", 3), ("JP", 3), ("", 3)],
)
def test_country_tier(country, tier):
    assert rules.country_tier(country) == tier


def test_is_eu_means_tier_one():
    assert rules.is_eu(1) and not rules.is_eu(2) and not rules.is_eu(3)


@pytest.mark.parametrize(("points", "expected"), [(0, 0.60), (10, 0.60), (11, 0.75), (100, 0.75), (101, 0.85),
                                                  (1000, 0.85), (1001, 0.95), (10**7, 0.95)])
def test_confidence_boundaries(points, expected):
    assert rules.confidence(points) == expected


@pytest.mark.parametrize(("prime", "premium", "expected"),
                         [(True, True, 1.10), (True, False, 1.05), (False, True, 1.05), (False, False, 1.00)])
def test_competition(prime, premium, expected):
    assert rules.competition(prime, premium) == expected


@pytest.mark.parametrize(("value", "expected"), [(0.1, 0.5), (0.5, 0.5), (12.0, 10.0), (10.0, 10.0),
                                                 (2.00005, 2.0001), (2.00004999, 2.0), (3.123456, 3.1235)])
def test_clamp_and_round(value, expected):
    assert rules.clamp_and_round(value) == expected


def test_floor_price_composes_the_rules():
    # 3.00 x 0.95 x 1.10 = 3.135
    assert rules.floor_price(3.0, 5000, prime_time=True, premium=True) == 3.135
    # 2.50 x 0.60 x 1.00 = 1.5
    assert rules.floor_price(2.5, 3, prime_time=False, premium=False) == 1.5
    # clamped at both ends
    assert rules.floor_price(0.2, 5000, True, True) == 0.5
    assert rules.floor_price(40.0, 5000, False, False) == 10.0


@pytest.mark.parametrize(("hour", "prime"), [(18, False), (19, True), (23, True), (0, False), (12, False)])
def test_prime_time(hour, prime):
    assert rules.is_prime_time(hour) is prime


def test_time_fields_are_utc_and_iso_weekday():
    monday = datetime(2026, 11, 23, 20, 30, tzinfo=UTC)
    assert rules.time_fields(monday) == {"hour_of_day": 20, "day_of_week": 1, "is_weekend": False,
                                         "is_prime_time": True}
    sunday_madrid = datetime(2026, 11, 30, 0, 30, tzinfo=timezone(timedelta(hours=1)))  # 23:30 UTC Sunday
    assert rules.time_fields(sunday_madrid) == {"hour_of_day": 23, "day_of_week": 7, "is_weekend": True,
                                                "is_prime_time": True}
    saturday = datetime(2026, 11, 28, 7, 0, tzinfo=UTC)
    assert rules.time_fields(saturday)["day_of_week"] == 6 and rules.time_fields(saturday)["is_weekend"]


def test_segment_keys():
    assert rules.fine_segment_key("elpais.es", "top_728x90", "desktop", 1) == "elpais.es|top_728x90|desktop|1"
    assert rules.coarse_segment_key("video", "premium", "mobile", 3) == "video|premium|mobile|3"


def test_coarse_segment_count_is_108():
    keys = {rules.coarse_segment_key(f, i, d, t) for f in ("banner", "video", "native", "interstitial")
            for i in ("premium", "standard", "remnant") for d in ("mobile", "tablet", "desktop") for t in (1, 2, 3)}
    assert len(keys) == 108

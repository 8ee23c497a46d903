"""Market v2: the exact revenue curves against a brute-force re-draw of the bidders, the auction
rules, exploration, and the market's structure (levels and competition ordered as cited)."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from simulator.bidders import AuctionRules, RevenueCurves, draw_values, outcome
from simulator.market import DEFAULT_START, Exploration, Market
from training import floor_ab
from udfs import rules
from udfs.floor_policy import FLOOR_GRID

FLOORS = (0.5, 1.0, 2.0, 4.0)
# Measured by one_day_replay below (python -m training.floor_ab gives the same arm): in open loop
# the rule gains on this market because static 2.00 is far above the best floor of cheap segments.
BRIEF_LIFT_SEED_1 = 0.0385


@pytest.mark.parametrize("auction", [AuctionRules(), AuctionRules("second", outside_option_eur=0.1),
                                     AuctionRules("first", shading=0.8, outside_option_eur=0.05)])
def test_truth_matches_a_brute_force_redraw_within_half_a_percent(auction: AuctionRules) -> None:
    market = Market(3, auction=auction)
    sim = market.count(1_500, DEFAULT_START + timedelta(hours=20), 50.0, truth=False)
    c = sim.cols
    curves = RevenueCurves(auction)
    draws = 400
    rng = np.random.default_rng(99)
    idx = np.tile(np.arange(len(sim)), draws)
    values = draw_values(c["log_scale"][idx], c["lam"][idx], c["p_adx"][idx], rng)
    for floor in FLOORS:
        exact_revenue, exact_fill = curves.expected(c["log_scale"], c["lam"], c["p_adx"], np.full(len(sim), floor))
        drawn = outcome(auction, values.top, values.second, np.full(len(idx), floor), c["shading"][idx])
        assert drawn["revenue"].mean() == pytest.approx(exact_revenue.mean(), rel=0.005), floor
        assert drawn["filled"].mean() == pytest.approx(exact_fill.mean(), rel=0.005, abs=0.001), floor


def test_curves_sum_the_auctions_of_each_segment_hour() -> None:
    market = Market(4)
    sims = list(market.span(DEFAULT_START, DEFAULT_START + timedelta(hours=2), 3.0, truth=False))
    curves = market.curves(sims)
    frame = pd.concat([s.frame() for s in sims], ignore_index=True)
    keys = rules.segment_key_column(frame.assign(country_tier=frame["country"].map(rules.country_tier)), rules.FINE)
    hours = pd.to_datetime(frame["event_time"]).dt.floor("h").dt.tz_localize(None)
    counts = pd.DataFrame({"segment_key": keys, "hour": hours}).value_counts()
    got = pd.Series(curves.auctions, index=pd.MultiIndex.from_frame(curves.keys)).sort_index()
    pd.testing.assert_series_equal(got, counts.sort_index().rename(None), check_names=False)
    assert curves.revenue.shape == (len(got), len(FLOOR_GRID))
    assert (np.diff(curves.fills, axis=1) <= 1e-9).all()  # fill never rises with the floor
    oracle = curves.oracle()
    assert ((oracle >= rules.FLOOR_MIN_EUR) & (oracle <= rules.FLOOR_MAX_EUR)).all()


def test_first_price_rules_on_hand_values() -> None:
    top, second = np.array([5.0, 1.5, 3.0, np.nan]), np.array([1.0, np.nan, 2.5, np.nan])
    shading = np.full(4, 0.5)
    first = outcome(AuctionRules(outside_option_eur=0.2), top, second, np.full(4, 2.0), shading)
    assert first["filled"].tolist() == [True, False, True, False]
    np.testing.assert_allclose(first["revenue"], [2.5, 0.2, 2.0, 0.2])  # max(bid, floor); outside option
    np.testing.assert_allclose(first["second_bid"], [np.nan, np.nan, 2.0, np.nan])  # 1.0 < floor: not seen
    second_price = outcome(AuctionRules("second"), top, second, np.full(4, 2.0), shading)
    np.testing.assert_allclose(second_price["cpm"], [2.0, np.nan, 2.5, np.nan])
    with pytest.raises(ValueError, match="mechanism"):
        AuctionRules("english")


def test_exploration_share_is_what_was_configured() -> None:
    market = Market(5, exploration=Exploration(share=0.15, holdout=0.03))
    sim = market.count(40_000, DEFAULT_START, 500.0, truth=False)
    floors = sim.cols["floor_price_eur"]
    holdout = floors == 0.0
    explored = (floors != rules.STATIC_FLOOR_EUR) & ~holdout
    assert holdout.mean() == pytest.approx(0.03, abs=0.004)
    assert explored.mean() == pytest.approx(0.15, abs=0.008)
    logs = np.log(floors[explored])  # log-uniform between the clamp bounds
    assert logs.min() >= np.log(rules.FLOOR_MIN_EUR) - 1e-3 and logs.max() <= np.log(rules.FLOOR_MAX_EUR) + 1e-3
    quartiles = np.quantile(logs, [0.25, 0.5, 0.75])
    expected = np.log(rules.FLOOR_MIN_EUR) + np.array([0.25, 0.5, 0.75]) * np.log(20.0)
    np.testing.assert_allclose(quartiles, expected, atol=0.05)
    with pytest.raises(ValueError, match="exploration"):
        Exploration(share=0.9, holdout=0.2)


def test_structure_levels_and_competition_ordered_as_cited() -> None:
    market = Market(6)
    sim = market.count(60_000, DEFAULT_START + timedelta(hours=12), 500.0, truth=False)
    c, net = sim.cols, market.network
    frame = pd.DataFrame({
        "level": c["bid_level"], "bidders": c["bidders"], "tier": net.country_tier[c["country"]],
        "format": net.unit_format[c["unit"]], "inventory": net.unit_inventory[c["unit"]], "device": c["device"],
    })
    level = frame.groupby("tier")["level"].median()
    assert level[1] > level[2] > level[3]
    by_format = frame.groupby("format")["level"].median()  # banner, video, native, interstitial
    assert by_format[1] > by_format[3] > by_format[2] > by_format[0]
    assert frame.groupby("device")["level"].median()[2] > frame.groupby("device")["level"].median()[0]
    premium_video = frame[(frame.tier == 1) & (frame.format == 1) & (frame.inventory == 0) & (frame.device == 2)]
    remnant_banner = frame[(frame.tier == 3) & (frame.format == 0) & (frame.inventory == 2) & (frame.device == 0)]
    assert premium_video["level"].median() > 50 * remnant_banner["level"].median()  # two orders of magnitude
    assert frame.groupby("tier")["bidders"].mean().is_monotonic_decreasing
    assert frame.groupby("inventory")["bidders"].mean().is_monotonic_decreasing


def test_one_global_floor_gets_at_most_60_percent_of_the_ceilings_lift() -> None:
    got = floor_ab.calibration(seed=2, rate=1.0, auction=AuctionRules())
    assert got["ceiling_lift"] > 0.03
    assert got["global_share"] <= 0.60


@pytest.fixture(scope="module")
def one_day_replay() -> pd.DataFrame:
    """One simulated day (seed 1, ~86,000 auctions), every arm but the trained model's."""
    setup = floor_ab.Setup(seeds=(1,), days=1, rate=1.0, bootstrap=300)
    sums, meta = floor_ab.open_loop(setup, None)
    weights = floor_ab.bootstrap_weights(int(sums["cluster"].max()) + 1, setup.bootstrap)
    return floor_ab.summarise(sums, weights).set_index("arm")


def test_the_briefs_rule_as_an_arm_keeps_its_measured_result(one_day_replay: pd.DataFrame) -> None:
    """A regression pin on a fixed seed (within 2 pp), so the comparison stays honest: the brief's
    rule on the window's mean clearing CPM, floors of window h applied to h+1."""
    assert one_day_replay.loc["brief", "lift"] == pytest.approx(BRIEF_LIFT_SEED_1, abs=0.02)


def test_policy_fed_the_truth_gets_90_percent_of_the_ceiling(one_day_replay: pd.DataFrame) -> None:
    arm = one_day_replay
    assert arm.loc["truth", "share"] >= 0.90
    for other in ("static", "brief", "global", "truth", "literal"):
        assert arm.loc["oracle", "rpm"] >= arm.loc[other, "rpm"] - 1e-9  # nothing beats the ceiling
    assert arm.loc["truth", "fill"] >= arm.loc["static", "fill"] - 0.01
    assert arm.loc["literal", "lift"] < 0.01  # the literal reading leaves (almost) nothing

"""The revenue gate's estimates from held-out logs against the simulator's truth: for several
floor policies the truth lies inside the estimate's 95% interval (the paired lift within a point
of it), with and without the outcome model, and the doubly robust interval of the paired lift is
narrower than the plain one."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from simulator.market import DEFAULT_START, Exploration, Market
from tests.support.model_helpers import revenue_curve_files
from training import floor_ab, revenue_gate
from udfs.floor_policy import PolicySettings
from udfs.revenue_curves import RevenueCurveModel

SETTINGS = PolicySettings()
# About 45 s (a simulated day, a model, two estimators): in make test-all, keeping make test under 15 minutes.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def held_out() -> tuple[Market, pd.DataFrame, dict[str, np.ndarray]]:
    market = Market(7, exploration=Exploration(share=0.10, holdout=0.02))
    sim = floor_ab.merged(floor_ab.hours_of(market, DEFAULT_START + timedelta(days=3), 24, 4.0))
    return market, sim.frame(), sim.cols


@pytest.fixture(scope="module")
def model() -> RevenueCurveModel:
    return RevenueCurveModel.from_files(revenue_curve_files(seed=100))


def test_estimates_contain_the_truth(held_out, model: RevenueCurveModel) -> None:
    market, events, cols = held_out
    n = len(events)
    curves = revenue_gate.AuctionCurves.of(model, events)
    arms = {"one": np.full(n, 1.0), "three": np.full(n, 3.0), "champion": np.full(n, 2.0),
            "candidate": curves.policy_floors(SETTINGS)}
    widths = {}
    for outcome_model in (None, curves):
        gate = revenue_gate.evaluate(events, arms, SETTINGS, outcome_model)
        for arm, target in {"static": np.full(n, SETTINGS.static_floor_eur), **arms}.items():
            revenue, fill = market.curves_model.expected(cols["log_scale"], cols["lam"], cols["p_adx"], target)
            row = gate.table.loc[arm]
            assert row["rpm_lo"] <= revenue.mean() <= row["rpm_hi"], (arm, outcome_model is not None)
            assert row["fill_lo"] - 0.01 <= fill.mean() <= row["fill_hi"] + 0.01, arm
        true_lift = (market.curves_model.expected(cols["log_scale"], cols["lam"], cols["p_adx"], arms["candidate"])[0]
                     .mean() / market.curves_model.expected(cols["log_scale"], cols["lam"], cols["p_adx"],
                                                            arms["champion"])[0].mean() - 1.0)
        # The box kernel averages R over +-15% of floor around each target: a bias of up to about
        # a point of lift, allowed for here.
        assert gate.lift[1] - 0.01 <= true_lift <= gate.lift[2] + 0.01, (gate.lift, true_lift)
        widths[outcome_model is not None] = gate.lift[2] - gate.lift[1]
    assert widths[True] < widths[False]  # the outcome model narrows the interval


def test_too_few_exploration_auctions_never_promote(held_out) -> None:
    _market, events, _cols = held_out
    few = events[events["floor_price_eur"].isin([0.0, SETTINGS.static_floor_eur])].head(5000)
    n = len(few)
    gate = revenue_gate.evaluate(few, {"champion": np.full(n, 2.0), "candidate": np.full(n, 1.0)}, SETTINGS)
    assert not gate.promote and "exploration auctions" in gate.reason

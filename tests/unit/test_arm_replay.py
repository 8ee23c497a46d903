"""The per-arm replay (training.ab_test.arm_replay): auctions split as the floor API splits them,
each arm's floors as the API serves them, per-arm figures against the static floor on the same
auctions, and the split checked with scipy."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binom

from serving.snapshot import Floor, Snapshot
from simulator.market import Market
from training import ab_test
from udfs import arms, rules

SALT, WEIGHTS = "test-salt", {"champion": 80, "challenger": 20}
NOW = datetime(2026, 1, 5, 20, tzinfo=UTC).timestamp()


def coarse_key(row: pd.Series) -> str:
    return rules.coarse_segment_key(row["format"], row["inventory_type"], row["device_category"],
                                    rules.country_tier(row["country"]))


@pytest.fixture(scope="module")
def auctions() -> pd.DataFrame:
    return ab_test.replay_frame(Market(5).count(6_000, datetime.fromtimestamp(NOW, UTC), 200.0, truth=False))


def snapshot_of(auctions: pd.DataFrame, with_challenger: set[str]) -> Snapshot:
    """Coarse floors only: 1.00 for the champion everywhere, 0.40 for the challenger on some keys."""
    keys = sorted({coarse_key(r) for _, r in auctions.iterrows()})
    floors = [Floor(rules.COARSE, k, 1.0, NOW + 3600, model_version="v1",
                    challenger_floor_eur=0.4 if k in with_challenger else None,
                    challenger_model_version="v2" if k in with_challenger else None) for k in keys]
    return Snapshot.build(floors, NOW)


def test_each_auction_gets_its_arms_floor_and_the_split_holds(auctions: pd.DataFrame) -> None:
    keys = sorted({coarse_key(r) for _, r in auctions.iterrows()})
    half = set(keys[::2])
    table, split = ab_test.arm_replay(auctions, snapshot_of(auctions, half), NOW, 2.0, SALT, WEIGHTS)

    # Independent reading: the arm of each impression by arms.arm_for, the floor by hand.
    arm = auctions["impression_id"].map(lambda i: arms.arm_for(i, SALT, WEIGHTS))
    key = auctions.apply(coarse_key, axis=1)
    expected = np.where((arm == "challenger") & key.isin(half), 0.4, 1.0)
    n, challengers = len(auctions), int((arm == "challenger").sum())
    assert split["assigned"] == {"champion": n - challengers, "challenger": challengers}
    lo, hi = binom.ppf([0.0005, 0.9995], n, 0.2)
    assert lo <= challengers <= hi
    assert split["srm_p_value"] > 0.001
    assert split["served"]["challenger"] == int(((arm == "challenger") & key.isin(half)).sum())

    by = table.set_index(["tier", "arm"])
    for name in ("champion", "challenger"):
        mask = (arm == name).to_numpy()
        out = ab_test.arm_outcomes(auctions[mask], expected[mask])
        revenue = np.where(out["filled"], out["cpm"], 0.0)
        assert by.loc[("all", name), "auctions"] == mask.sum()
        assert by.loc[("all", name), "rev_per_1000"] == pytest.approx(revenue.mean())
        assert by.loc[("all", name), "fill_rate"] == pytest.approx(out["filled"].mean())
        static = ab_test.arm_outcomes(auctions[mask], np.full(mask.sum(), 2.0))
        lift = revenue - np.where(static["filled"], static["cpm"], 0.0)
        assert by.loc[("all", name), "lift"] == pytest.approx(lift.mean())


def test_a_broken_split_shows_as_a_sample_ratio_mismatch(auctions: pd.DataFrame) -> None:
    # The replay assigns 80/20, but the configured weights claim 50/50: the check must object.
    _, split = ab_test.arm_replay(auctions, snapshot_of(auctions, set()), NOW, 2.0, SALT, WEIGHTS)
    assert arms.sample_ratio_mismatch(split["assigned"], {"champion": 50, "challenger": 50}) < 1e-6
    assert set(split["served"]) == {"champion"}  # no challenger floors: every answer is the champion's

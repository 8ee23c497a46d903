"""The bidders of the simulated market: who takes part, what they value an impression at, what
they bid under a floor, what the publisher earns, and the exact revenue curve R(f) that follows.

Values. Every auction has a price level (``log_scale``: the segment, hour, day and the user and
device scores, see ``simulator.market``) and a shock common to its bidders (interest in this
impression, lognormal with ``COMMON_SIGMA``). Two kinds of demand answer it:

- Prebid header bidders: a Poisson number (mean ``lam``) of iid lognormal values around the
  level (``PREBID_SIGMA``);
- Google AdX: present with probability ``p_adx``; one value, more dispersed (``ADX_SIGMA``) and a
  little below the Prebid median (``ADX_OFFSET``): AdX wins rarely but sometimes very high.

How many bidders come and whether AdX does depend on the segment (``demand``), so segments
differ in competition, not only in price level: with few bidders a floor earns most (Ostrovsky
and Schwarz's Yahoo experiment found the largest gains where bidders were few).

Bids. First price (the default, as Prebid and Google Ad Manager have run since 2019): a bidder
bids a share of its value (bid shading; one published study of a first-price exchange puts the
price paid near 55% of the unshaded bid) and shades more where it expects fewer rivals, as
first-price equilibrium bids do ((N-1)/N of the value for N symmetric uniform bidders): the
share is ``shading`` at 3 expected bidders, scaled by N/(N+1) (``AuctionRules.shading_at``).
A bidder whose value reaches the floor bids at least the floor: ``max(share x value, floor)``;
a bidder whose value is below the floor does not bid, so bids under the floor are never seen
(the logs are censored at the floor). The highest bid wins and pays its bid. Second price
(selectable): bids are the values, the winner pays ``max(second value, floor)``. An impression
nobody buys earns the outside option (house or backfill CPM, default 0).

Revenue curve. For an auction of level ``m`` with demand (``lam``, ``p_adx``), the highest value
V has the CDF ``P(V <= x) = (1 - p_adx q_adx(x)) exp(-lam q_prebid(x))``, where ``q`` is the
chance one bidder of that kind values above x; given the common shock this is exact. Expected
revenue at floor f:

- first price: ``E[max(f, s V) 1{V >= f}] = f (G(f/s) - G(f)) + s int_{f/s}^inf x dG(x)``;
- second price: ``f P(exactly one value >= f) + int_f^inf x dH(x)``, H the CDF of the second value;

plus the outside option times ``G(f)``; fill is ``1 - G(f)``. The integrals are taken on a fine
log grid and the common shock by Gauss-Hermite quadrature; ``tests/unit/test_market.py`` holds
them to a brute-force re-draw of the bidders.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.polynomial.hermite_e import hermegauss
from scipy.special import ndtr

from udfs import rules

COMMON_SIGMA = 0.30
PREBID_SIGMA = 0.45
ADX_SIGMA = 0.80
ADX_OFFSET = -0.10  # log of AdX's median value relative to the Prebid median
MAX_PREBID_BIDDERS = 20


# Expected Prebid bidders and AdX presence by segment. Index: tier (1..3), inventory, format, hour.
BASE_PREBID_BIDDERS = 2.0
TIER_DEMAND = np.array([0.0, 1.0, 0.6, 0.35])
INVENTORY_DEMAND = np.array([1.4, 1.0, 0.55])  # premium, standard, remnant
FORMAT_DEMAND = np.array([1.0, 0.55, 0.8, 0.65])  # banner, video, native, interstitial: video has few buyers
HOUR_DEMAND = np.array([0.65, 0.55, 0.5, 0.5, 0.5, 0.55, 0.65, 0.8, 0.9, 1.0, 1.0, 1.0,
                        1.02, 1.02, 1.0, 1.0, 1.02, 1.08, 1.15, 1.3, 1.4, 1.4, 1.3, 0.95])
ADX_TIER = np.array([0.0, 0.9, 0.65, 0.4])
ADX_INVENTORY = np.array([1.0, 0.85, 0.6])

# Log-grid of the CDF integrals (relative to the level) and of the unit curves.
_U = np.arange(-12.0, 12.0 + 1e-9, 0.004)
_LY = np.arange(-9.0, 9.0 + 1e-9, 0.005)
_GH_Z, _GH_W = hermegauss(24)
_GH_W = _GH_W / _GH_W.sum()


@dataclass(frozen=True)
class AuctionRules:
    """How the auction clears: ``mechanism`` "first" or "second"; ``shading`` the share of its
    value a first-price bidder bids when it expects 3 bidders; ``outside_option_eur`` what an
    unsold impression earns."""

    mechanism: str = "first"
    shading: float = 0.50
    outside_option_eur: float = 0.0

    def __post_init__(self) -> None:
        if self.mechanism not in ("first", "second"):
            raise ValueError(f"auction mechanism must be 'first' or 'second', not {self.mechanism!r}")
        if not 0.05 <= self.shading <= 1.0:
            raise ValueError(f"shading must be in [0.05, 1], not {self.shading}")
        if not 0.0 <= self.outside_option_eur <= rules.FLOOR_MAX_EUR:
            raise ValueError(f"outside option must be in [0, {rules.FLOOR_MAX_EUR}] EUR, not {self.outside_option_eur}")

    def shading_at(self, lam: np.ndarray | float, p_adx: np.ndarray | float) -> np.ndarray:
        """The share of value bid in first price, given the expected bidders N = lam + p_adx."""
        expected = np.asarray(lam) + np.asarray(p_adx)
        return np.clip(self.shading * (expected / (expected + 1.0)) / 0.75, 0.3, 0.95)


def demand(tier: np.ndarray, inventory: np.ndarray, ad_format: np.ndarray, hour: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray]:
    """(expected Prebid bidders, AdX presence probability) per auction."""
    lam = BASE_PREBID_BIDDERS * TIER_DEMAND[tier] * INVENTORY_DEMAND[inventory] * FORMAT_DEMAND[ad_format] \
        * HOUR_DEMAND[hour]
    return np.round(lam, 6), np.round(ADX_TIER[tier] * ADX_INVENTORY[inventory], 6)


@dataclass
class Values:
    """The bidders' values of a batch of auctions: the two highest (NaN when absent) and every
    Prebid value (flat, grouped by auction) plus AdX's, to count the bids a floor lets through."""

    top: np.ndarray
    second: np.ndarray
    prebid: np.ndarray  # flat, auction by auction
    prebid_count: np.ndarray
    adx: np.ndarray  # NaN when AdX did not take part

    def bids_at(self, floor: np.ndarray) -> np.ndarray:
        """Bidders whose value reaches the floor: the bids the ad server receives."""
        owner = np.repeat(np.arange(len(self.top)), self.prebid_count)
        above = np.bincount(owner, weights=self.prebid >= floor[owner], minlength=len(self.top))
        return above.astype(np.int64) + (np.nan_to_num(self.adx, nan=-1.0) >= floor)


def draw_values(log_scale: np.ndarray, lam: np.ndarray, p_adx: np.ndarray, rng: np.random.Generator) -> Values:
    n = len(log_scale)
    level = log_scale + COMMON_SIGMA * rng.standard_normal(n)
    count = np.minimum(rng.poisson(lam), MAX_PREBID_BIDDERS)
    owner = np.repeat(np.arange(n), count)
    prebid = np.exp(level[owner] + PREBID_SIGMA * rng.standard_normal(len(owner)))
    adx_in = rng.random(n) < p_adx
    adx_draw = np.exp(level + ADX_OFFSET + ADX_SIGMA * rng.standard_normal(n))
    adx = np.where(adx_in, adx_draw, np.nan)
    # The two highest Prebid values per auction: the max, then the max with the max removed.
    first_pb = _group_max(prebid, owner, n)
    first_at = prebid == first_pb[owner]
    second_pb = _group_max(np.where(first_at, -np.inf, prebid), owner, n)
    a, b, c = (np.where(np.isfinite(x), x, np.nan) for x in (first_pb, second_pb, adx))
    top = np.fmax(a, c)
    # The second of {a, b, c}: with AdX absent it is b; with Prebid absent there is none.
    second = np.where(np.isnan(c), b, np.where(np.isnan(a), np.nan, np.fmax(np.fmin(a, c), b)))
    return Values(top, second, prebid, count, adx)


def _group_max(values: np.ndarray, owner: np.ndarray, n: int) -> np.ndarray:
    out = np.full(n, -np.inf)
    np.maximum.at(out, owner, values)
    return out


def outcome(auction: AuctionRules, top: np.ndarray, second: np.ndarray, floor: np.ndarray, shading: np.ndarray
            ) -> dict[str, np.ndarray]:
    """What happens at these floors, given the two highest values and the bidders' shading:
    filled, the price paid (NaN when unfilled), revenue (the outside option when unfilled), and
    the top two bids seen."""
    floor = np.asarray(floor, dtype=np.float64)
    filled = np.nan_to_num(top, nan=-1.0) >= floor
    second_seen = np.nan_to_num(second, nan=-1.0) >= floor
    if auction.mechanism == "first":
        top_bid = np.where(filled, np.maximum(shading * np.nan_to_num(top), floor), np.nan)
        second_bid = np.where(second_seen, np.maximum(shading * np.nan_to_num(second), floor), np.nan)
        price = top_bid
    else:
        top_bid = np.where(filled, top, np.nan)
        second_bid = np.where(second_seen, second, np.nan)
        price = np.where(filled, np.fmax(second_bid, floor), np.nan)
    price = np.round(price, 4)
    return {"filled": filled, "cpm": price, "revenue": np.where(filled, price, auction.outside_option_eur),
            "top_bid": np.round(top_bid, 4), "second_bid": np.round(second_bid, 4)}


class RevenueCurves:
    """Exact expected revenue and fill per auction at any floors, from the bidders' distributions
    (no sampling). Unit curves (level 0) are computed once per demand (lam, p_adx) and scaled."""

    def __init__(self, auction: AuctionRules):
        self.auction = auction
        self._unit: dict[tuple[float, float], tuple[np.ndarray, np.ndarray]] = {}

    def _no_shock(self, lam: float, p_adx: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """On the grid _U (log value): P(nobody >= x), P(exactly one >= x), and the tail integral
        int_x^inf y dK(y) of K: the top value's CDF (first price) or the second's (second price)."""
        x = np.exp(_U)
        q_pb = 1.0 - ndtr(_U / PREBID_SIGMA)
        q_adx = p_adx * (1.0 - ndtr((_U - ADX_OFFSET) / ADX_SIGMA))
        e = np.exp(-lam * q_pb)
        none = (1.0 - q_adx) * e
        one = q_adx * e + (1.0 - q_adx) * lam * q_pb * e
        cdf = none if self.auction.mechanism == "first" else none + one
        mass = np.diff(cdf) * 0.5 * (x[1:] + x[:-1])
        tail = np.concatenate([np.cumsum(mass[::-1])[::-1], [0.0]])
        return none, one, tail

    def unit(self, lam: float, p_adx: float) -> tuple[np.ndarray, np.ndarray]:
        """(bid revenue, P(unfilled)) on the log-floor grid _LY for an auction of level 0,
        the common shock integrated out."""
        key = (float(lam), float(p_adx))
        if key not in self._unit:
            none, one, tail = self._no_shock(*key)
            s = float(self.auction.shading_at(*key))
            revenue, unfilled = np.zeros_like(_LY), np.zeros_like(_LY)
            for z, w in zip(_GH_Z, _GH_W, strict=True):
                shift = COMMON_SIGMA * z
                ly = _LY - shift  # the floor relative to this shock's level
                f = np.exp(ly)
                g_f = np.interp(ly, _U, none)
                if self.auction.mechanism == "first":
                    ly_s = ly - np.log(s)
                    r = f * (np.interp(ly_s, _U, none) - g_f) + s * np.interp(ly_s, _U, tail)
                else:
                    r = f * np.interp(ly, _U, one) + np.interp(ly, _U, tail)
                revenue += w * np.exp(shift) * r
                unfilled += w * g_f
            self._unit[key] = (revenue, unfilled)
        return self._unit[key]

    def expected(self, log_scale: np.ndarray, lam: np.ndarray, p_adx: np.ndarray, floors: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
        """Expected revenue and fill of each auction at each floor: floors of shape (n,) or (n, k)."""
        floors = np.asarray(floors, dtype=np.float64)
        shape = floors.shape
        f2 = floors.reshape(len(log_scale), -1)
        revenue, fill = np.empty_like(f2), np.empty_like(f2)
        pairs, which = np.unique(np.stack([lam, p_adx], axis=1), axis=0, return_inverse=True)
        which = which.reshape(-1)
        for i, (lam_i, p_i) in enumerate(pairs):
            rows = np.flatnonzero(which == i)
            r_unit, g_unit = self.unit(lam_i, p_i)
            m = log_scale[rows][:, None]
            ly = np.log(np.maximum(f2[rows], 1e-12)) - m
            unfilled = np.interp(ly, _LY, g_unit)
            revenue[rows] = np.exp(m) * np.interp(ly, _LY, r_unit) + self.auction.outside_option_eur * unfilled
            fill[rows] = 1.0 - unfilled
        return revenue.reshape(shape), fill.reshape(shape)

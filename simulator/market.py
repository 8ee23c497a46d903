"""A seeded, vectorised simulator of the publisher network's auction market.

Every field of ``schemas/auction_event.schema.json`` is produced, column-wise in numpy:

- a fixed network (its own seed): domains with a quality and a traffic weight, each with
  ad units of a format and inventory type; countries weighted over the three tiers
  (``udfs.rules.country_tier`` decides the tier), devices, bidders and their demand channel;
- traffic with a daily and weekly shape (night trough, prime time 19-23 UTC, weekends later
  and flatter), as Poisson counts per hour;
- per auction a price level from tier, device, format, inventory, domain quality, hour,
  weekend and the user/device scores, and bidders drawn around it (``simulator.bidders``:
  Prebid bidders and AdX, their number and presence set by the segment);
- the outcome under the floor applied, first price by default (bids shaded, raised to the
  floor when the value reaches it; second price selectable), see ``AuctionRules``;
- optional exploration: a share of auctions with a random floor and a no-floor holdout.

Why segments differ (what makes a per-segment floor worth more than one global floor): price
levels span two orders of magnitude, as published CPM ranges do: desktop pre-roll video near
18 USD and outstream near 12, interstitials 8.5, a 320x50 mobile banner near 0.50 (CPM
statistics compiled by WifiTalents, 2024); open-exchange display prices paid of 0-0.63 USD and
online video 0.02-2.58 (Augustine Fou, programmatic CPMs, August 2023); desktop about 20% above
mobile web; tier 1 countries dearest (Gourmet Ads, programmatic ad CPM rates: CPM depends on
format, country and inventory quality, there is no single figure). Here tier 1 desktop premium
video has a median value near 23 EUR (bids about half that) and tier 3 mobile remnant banner
near 0.2 EUR. Competition differs too: premium banner in tier 1 draws about 2.8 Prebid bidders
and AdX 90% of the time, remnant video in tier 3 about 0.2 and AdX 24% of the time; bidders
shade more where rivals are few, which is where a floor earns most. With these settings one
simulated day at the default seed gives: the oracle ceiling (per fine segment and hour) +8.4%
revenue over static 2.00, and the best single global floor 37% of that lift
(``python -m training.ab_test calibration``).

The TRUTH for evaluation is returned beside the events, never in them: per segment (fine
and coarse key, built by ``rules.segment_key``) and hour, the expected revenue, fill and
clearing CPM at the floors applied, exact over the bidders' distributions given the realised
auctions (``simulator.bidders.RevenueCurves``); and on request (``Market.curves``) R(f) and
F(f) on the floor grid, from which the oracle ceiling follows.

Traffic to a stream: simulator/traffic.py.

Drift on demand: ``Drift(start, feature, amount)`` shifts one distribution from ``start``.
Each field draws from its own random stream (common random numbers), so a drift changes
that field and what depends on it, nothing else.

CLI::

    python -m simulator.market backfill --days N --out <file:// lake uri or folder> [--rate R]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlparse

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from schemas import segment_windows
from schemas.events import DEVICES, FORMATS, INVENTORY, load_schema
from simulator import bidders
from udfs import rules
from udfs.floor_policy import FLOOR_GRID

# Field order of the schema = key order of every JSON record.
EVENT_FIELDS: tuple[str, ...] = tuple(load_schema()["properties"])


# Spanish network: Spain dominates, Latin America is most of tier 3. Tiers come from rules.
COUNTRY_WEIGHTS: dict[str, float] = {
    "ES": 50.0, "US": 4.0, "FR": 3.0, "DE": 2.5, "IT": 2.5, "GB": 2.5,
    "PT": 4.0, "NL": 1.0, "BE": 1.0, "CH": 0.8, "AT": 0.5, "SE": 0.5,
    "MX": 8.0, "AR": 5.0, "CO": 4.0, "CL": 2.0, "PE": 2.0, "VE": 1.0, "EC": 1.0,
    "BR": 1.0, "MA": 1.0, "IE": 0.5, "PL": 0.5, "RO": 0.5,
}

# name, format, inventory, relative traffic. All 12 format x inventory pairs exist somewhere,
# so every coarse segment (4 x 3 x 3 devices x 3 tiers = 108) can occur.
AD_UNIT_TEMPLATES: tuple[tuple[str, str, str, float], ...] = (
    ("top_billboard", "banner", "premium", 1.0),
    ("header_leaderboard", "banner", "standard", 1.4),
    ("sidebar_mpu", "banner", "standard", 1.0),
    ("footer_sticky", "banner", "remnant", 1.3),
    ("feed_native", "native", "premium", 0.6),
    ("in_article_1", "native", "standard", 1.2),
    ("in_article_2", "native", "remnant", 0.8),
    ("preroll", "video", "premium", 0.4),
    ("outstream", "video", "standard", 0.5),
    ("outstream_footer", "video", "remnant", 0.3),
    ("interstitial", "interstitial", "premium", 0.3),
    ("exit_interstitial", "interstitial", "standard", 0.3),
    ("rewarded_interstitial", "interstitial", "remnant", 0.2),
)
TOPICS = ("noticias", "deportes", "motor", "recetas", "viajes", "tecno", "finanzas", "cine", "moda", "salud",
          "tiempo", "futbol", "musica", "ciencia", "hogar", "mascotas", "juegos", "series", "economia", "cultura")
SUFFIXES = ("hoy", "diario", "plus", "24", "digital")

# name, demand channel, traffic weight (who wins most often).
BIDDERS: tuple[tuple[str, str, float], ...] = (
    ("appnexus", "prebid", 1.0), ("rubicon", "prebid", 1.1), ("pubmatic", "prebid", 0.9),
    ("criteo", "prebid", 1.0), ("ix", "prebid", 0.8), ("smartadserver", "prebid", 0.7),
    ("teads", "prebid", 0.5), ("openx", "prebid", 0.5), ("triplelift", "prebid", 0.4),
    ("adx", "adx", 2.2), ("ob_magnite", "open_bidding", 0.3), ("ob_index", "open_bidding", 0.3),
)

# Traffic per UTC hour (relative), weekdays and weekends; normalised so a week averages 1.
_WEEKDAY = np.array([0.55, 0.38, 0.28, 0.22, 0.22, 0.30, 0.55, 0.85, 1.00, 1.05, 1.05, 1.10,
                     1.15, 1.10, 1.00, 1.00, 1.05, 1.10, 1.25, 1.50, 1.70, 1.75, 1.50, 0.95])
_WEEKEND = np.array([0.70, 0.50, 0.35, 0.26, 0.22, 0.24, 0.35, 0.50, 0.70, 0.90, 1.05, 1.15,
                     1.20, 1.20, 1.10, 1.05, 1.10, 1.20, 1.30, 1.50, 1.65, 1.65, 1.40, 1.00])
_WEEK_MEAN = (5 * _WEEKDAY.mean() + 2 * _WEEKEND.mean()) / 7
TRAFFIC_SHAPE = np.stack([_WEEKDAY, _WEEKEND]) / _WEEK_MEAN  # [is_weekend, hour]

# Value level multipliers (EUR CPM of the median Prebid value = BASE_CPM x the product).
BASE_CPM = 2.0
TIER_PRICE = np.array([0.0, 1.0, 0.55, 0.25])  # index by tier
DEVICE_PRICE = np.array([0.8, 0.95, 1.2])  # mobile, tablet, desktop
FORMAT_PRICE = np.array([1.0, 6.0, 1.6, 3.5])  # banner, video, native, interstitial
INVENTORY_PRICE = np.array([1.6, 1.0, 0.45])  # premium, standard, remnant
# Advertiser budgets: cheap at night, dear at prime time; weekends a little cheaper.
HOUR_PRICE = np.array([0.85, 0.80, 0.78, 0.78, 0.78, 0.80, 0.85, 0.90, 0.95, 1.00, 1.00, 1.00,
                       1.02, 1.02, 1.00, 1.00, 1.02, 1.05, 1.10, 1.22, 1.28, 1.30, 1.25, 1.00])
WEEKEND_PRICE = 0.92

DEFAULT_START = datetime(2026, 1, 5, 0, 0, tzinfo=UTC)  # a Monday; fixed, for determinism
MS_PER_HOUR = 3_600_000
SLICE_MS = 600_000  # generation unit of span(): 10 minutes
# Random stream ids: one per field, so a change in one field never shifts another's draws.
_STREAMS = {name: i for i, name in enumerate((
    "count", "time", "country", "unit", "device", "device_drift", "bidder", "engagement", "device_perf",
    "ctr", "bid_count", "auction_noise", "bids", "id", "floor", "truth", "explore",
))}

SCORE_FEATURES = ("user_engagement_score", "device_performance_score", "historical_ctr_avg")
DRIFT_FEATURES = (*SCORE_FEATURES, "bid_level_tier_1", "bid_level_tier_2", "bid_level_tier_3", "device_mix_mobile")


@dataclass(frozen=True)
class Drift:
    """From ``start``, shift one distribution by ``amount``.

    - a score (``user_engagement_score``, ``device_performance_score``, ``historical_ctr_avg``):
      added to every value, then clipped to the score's range;
    - ``bid_level_tier_<k>``: every bid of tier k multiplied by (1 + amount);
    - ``device_mix_mobile``: each non-mobile auction becomes mobile with probability ``amount``
      (mobile share p -> p + (1 - p) x amount; the other devices keep their ratio).
    """

    start: datetime
    feature: str
    amount: float

    def __post_init__(self) -> None:
        if self.feature not in DRIFT_FEATURES:
            raise ValueError(f"unknown drift feature {self.feature!r}; one of {DRIFT_FEATURES}")
        if self.feature == "device_mix_mobile" and not 0.0 <= self.amount <= 1.0:
            raise ValueError("device_mix_mobile amount is a probability in [0, 1]")
        if self.feature.startswith("bid_level") and self.amount <= -1.0:
            raise ValueError("bid level amount must be > -1")


@dataclass(frozen=True)
class Network:
    """The publisher network: ad units (each on a domain, with format and inventory), countries, bidders."""

    domains: np.ndarray  # domain names
    domain_quality: np.ndarray
    unit_domain: np.ndarray  # per ad unit: index into domains
    unit_name: np.ndarray
    unit_format: np.ndarray  # index into FORMATS
    unit_inventory: np.ndarray  # index into INVENTORY
    unit_p: np.ndarray  # traffic share per ad unit
    countries: np.ndarray
    country_tier: np.ndarray
    country_p: np.ndarray
    device_p: np.ndarray
    bidders: np.ndarray
    bidder_channel: np.ndarray
    bidder_p: np.ndarray

    @classmethod
    def build(cls, seed: int = 7, n_domains: int = 40) -> Network:
        rng = np.random.default_rng(np.random.SeedSequence(entropy=seed, spawn_key=(0xBEEF,)))
        names = np.array([f"{t}{s}.example.es" for t in TOPICS for s in SUFFIXES])
        domains = rng.choice(names, size=n_domains, replace=False)
        quality = np.clip(rng.lognormal(0.0, 0.3, n_domains), 0.5, 2.0)
        traffic = 1.0 / np.arange(1, n_domains + 1) ** 0.9  # a few big sites, a long tail
        tmpl_w = np.array([t[3] for t in AD_UNIT_TEMPLATES])
        u_dom, u_tmpl, u_w = [], [], []
        for d in range(n_domains):
            k = int(rng.integers(4, 9))
            picks = rng.choice(len(AD_UNIT_TEMPLATES), size=k, replace=False, p=tmpl_w / tmpl_w.sum())
            share = tmpl_w[picks] / tmpl_w[picks].sum()
            u_dom += [d] * k
            u_tmpl += list(picks)
            u_w += list(traffic[d] * share)
        u_tmpl_a = np.array(u_tmpl)
        unit_p = np.array(u_w)
        countries = np.array(list(COUNTRY_WEIGHTS))
        country_p = np.array(list(COUNTRY_WEIGHTS.values()))
        bidder_p = np.array([b[2] for b in BIDDERS])
        return cls(
            domains=domains,
            domain_quality=quality,
            unit_domain=np.array(u_dom),
            unit_name=np.array([AD_UNIT_TEMPLATES[t][0] for t in u_tmpl_a]),
            unit_format=np.array([FORMATS.index(AD_UNIT_TEMPLATES[t][1]) for t in u_tmpl_a]),
            unit_inventory=np.array([INVENTORY.index(AD_UNIT_TEMPLATES[t][2]) for t in u_tmpl_a]),
            unit_p=unit_p / unit_p.sum(),
            countries=countries,
            country_tier=np.array([rules.country_tier(c) for c in countries]),
            country_p=country_p / country_p.sum(),
            device_p=np.array([0.63, 0.07, 0.30]),
            bidders=np.array([b[0] for b in BIDDERS]),
            bidder_channel=np.array([b[1] for b in BIDDERS]),
            bidder_p=bidder_p / bidder_p.sum(),
        )


# Columns of one batch of auctions: numpy arrays; categoricals as indices into the network.
Columns = dict[str, np.ndarray]
# A floor policy: a fixed floor, or a function of the auctions (and a random stream of its own).
FloorPolicy = float | Callable[[Columns, np.random.Generator], np.ndarray]


def mixed_floor(static_share: float, static_floor: float = rules.STATIC_FLOOR_EUR) -> FloorPolicy:
    """``static_share`` of auctions at the static floor, the rest near their expected bid
    (as a floor model would set it): the policy of the old simple generator."""

    def policy(cols: Columns, rng: np.random.Generator) -> np.ndarray:
        n = len(cols["time_ms"])
        dynamic = np.clip(np.round(cols["bid_level"] * rng.uniform(0.5, 1.1, n), 2), 0.5, 10.0)
        return np.where(rng.random(n) < static_share, static_floor, dynamic)

    return policy


@dataclass(frozen=True)
class Exploration:
    """The floors the publisher randomises so a model can learn how revenue and fill answer the
    floor from logs: ``share`` of auctions get a floor drawn log-uniformly between the brief's
    clamp bounds, ``holdout`` of auctions get no floor at all (Prebid's skipRate)."""

    share: float = 0.0
    holdout: float = 0.0

    def __post_init__(self) -> None:
        if min(self.share, self.holdout) < 0.0 or self.share + self.holdout > 1.0:
            raise ValueError(f"exploration shares must be >= 0 and sum to at most 1: {self}")

    def apply(self, floors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        n = len(floors)
        u = rng.random(n)
        lo, hi = np.log(rules.FLOOR_MIN_EUR), np.log(rules.FLOOR_MAX_EUR)
        shock = np.exp(lo + (hi - lo) * rng.random(n))
        return np.where(u < self.holdout, 0.0, np.where(u < self.holdout + self.share, shock, floors))


@dataclass
class Simulation:
    """Auctions as columns, their TRUTH per segment and hour (or None), and the network."""

    cols: Columns
    network: Network
    truth: pd.DataFrame | None = None

    def __len__(self) -> int:
        return len(self.cols["time_ms"])

    def table(self) -> pa.Table:
        """The events as an Arrow table, columns in schema order (null where absent)."""
        c, net = self.cols, self.network
        unit = c["unit"]
        # Categoricals: a take from the small vocabulary arrays (no per-event Python objects).
        cat = lambda vocab, ix: pc.take(pa.array(np.asarray(vocab)), pa.array(ix))  # noqa: E731
        nullable = lambda x: pa.array(x, from_pandas=True)  # noqa: E731 - NaN -> null
        data = {
            "impression_id": _ids_array(c["impression_id"]),
            "event_time": _iso_millis(c["time_ms"]),
            "country": cat(net.countries, c["country"]),
            "device_category": cat(DEVICES, c["device"]),
            "format": cat(FORMATS, net.unit_format[unit]),
            "inventory_type": cat(INVENTORY, net.unit_inventory[unit]),
            "domain": cat(net.domains, net.unit_domain[unit]),
            "ad_unit": cat(net.unit_name, unit),
            "bidder": cat(net.bidders, c["bidder"]),
            "demand_channel": cat(net.bidder_channel, c["bidder"]),
            "user_engagement_score": pa.array(c["user_engagement_score"]),
            "device_performance_score": pa.array(c["device_performance_score"]),
            "historical_ctr_avg": pa.array(c["historical_ctr_avg"]),
            "floor_price_eur": pa.array(c["floor_price_eur"]),
            "bid_count": pa.array(c["bid_count"].astype(np.int64)),
            "top_bid_eur": nullable(c["top_bid_eur"]),
            "second_bid_eur": nullable(c["second_bid_eur"]),
            "filled": pa.array(c["filled"]),
            "cpm_eur": nullable(c["cpm_eur"]),
        }
        return pa.table({k: data[k] for k in EVENT_FIELDS})

    def frame(self) -> pd.DataFrame:
        """The events as a DataFrame, columns in schema order (NaN = null)."""
        return self.table().to_pandas()

    def jsonl(self) -> bytes:
        """One compact JSON object per line, keys in schema order, null for absent values.
        Built column-wise with Arrow string kernels: a json.dumps per event would cap
        generation near 100,000 events/s. Strings come from fixed vocabularies (no escaping)."""
        if len(self) == 0:
            return b""
        t = self.table()
        parts: list[Any] = []
        for i, name in enumerate(EVENT_FIELDS):
            col = t.column(name).combine_chunks()
            if pa.types.is_string(col.type):
                text = pc.binary_join_element_wise('"', col, '"', "")
            else:
                text = pc.fill_null(pc.cast(col, pa.string()), "null")
            parts += [("{" if i == 0 else ",") + f'"{name}":', text]
        lines = pc.binary_join_element_wise(*parts, "}\n", "")
        return b"".join(buf.to_pybytes() for buf in _string_data(lines))

    def records(self) -> list[dict[str, Any]]:
        """The events as dicts (None for null), as ``simulator.events`` always returned them."""
        return self.table().to_pylist()

    def raw_table(self) -> pa.Table:
        """The events as the job's raw_events rows (schemas/sql/raw_events.sql, partition columns excluded)."""
        t = self.table()
        ms = self.cols["time_ms"]
        tier = self.network.country_tier[self.cols["country"]].astype(np.int32)
        hours = ((ms // MS_PER_HOUR) % 24).astype(np.int32)
        dow = ((ms // (24 * MS_PER_HOUR) + 3) % 7 + 1).astype(np.int32)  # 1970-01-01 was a Thursday (4)
        data = {
            **{name: t.column(name) for name in EVENT_FIELDS},
            "event_time": pa.array(ms.astype("datetime64[ms]").astype("datetime64[ns]")),
            "country_tier": pa.array(tier),
            "bid_count": pa.array(self.cols["bid_count"].astype(np.int32)),
            "hour_of_day": pa.array(hours),
            "day_of_week": pa.array(dow),
            "is_weekend": pa.array(dow >= 6),
            "is_prime_time": pa.array((hours >= rules.PRIME_TIME_HOURS.start) & (hours < rules.PRIME_TIME_HOURS.stop)),
            "is_eu": pa.array(tier == 1),
        }
        return pa.table({name: data[name] for name in RAW_SCHEMA.names}, schema=RAW_SCHEMA)


def _string_data(arr: pa.Array) -> list[pa.Buffer]:
    """The character data of a string array with no offset/nulls: the concatenated lines."""
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32)[arr.offset : arr.offset + len(arr) + 1]
    return [arr.buffers()[2][int(offsets[0]) : int(offsets[-1])]]


def _ids_array(hex_ids: np.ndarray) -> pa.Array:
    """Fixed-width ASCII ids (numpy S32) as an Arrow string array, without Python objects."""
    n = len(hex_ids)
    width = hex_ids.dtype.itemsize
    offsets = pa.py_buffer((np.arange(n + 1, dtype=np.int32) * width).tobytes())
    return pa.Array.from_buffers(pa.string(), n, [None, offsets, pa.py_buffer(hex_ids.tobytes())])


def _iso_millis(ms: np.ndarray) -> pa.Array:
    """Epoch ms -> '2026-01-05T08:00:00.123Z'. Per distinct hour one formatted prefix, then
    minutes/seconds/millis as padded digits: 5x faster than formatting every timestamp."""
    hours = ms // MS_PER_HOUR
    unique_hours, which = np.unique(hours, return_inverse=True)
    prefix = pa.array(np.datetime_as_string((unique_hours * MS_PER_HOUR).astype("datetime64[ms]"), unit="h"))
    rest = ms - hours * MS_PER_HOUR

    def pad(x: np.ndarray, width: int) -> pa.Array:
        return pc.utf8_lpad(pc.cast(pa.array(x), pa.string()), width, "0")

    return pc.binary_join_element_wise(pc.take(prefix, pa.array(which)), ":", pad(rest // 60_000, 2), ":",
                                       pad(rest // 1000 % 60, 2), ".", pad(rest % 1000, 3), "Z", "")


_D, _S, _I, _B = pa.float64(), pa.string(), pa.int32(), pa.bool_()
RAW_SCHEMA = pa.schema([
    ("impression_id", _S), ("event_time", pa.timestamp("ns")), ("country", _S), ("country_tier", _I),
    ("device_category", _S), ("format", _S), ("inventory_type", _S), ("domain", _S), ("ad_unit", _S),
    ("bidder", _S), ("demand_channel", _S), ("user_engagement_score", _D), ("device_performance_score", _D),
    ("historical_ctr_avg", _D), ("floor_price_eur", _D), ("bid_count", _I), ("top_bid_eur", _D),
    ("second_bid_eur", _D), ("filled", _B), ("cpm_eur", _D), ("hour_of_day", _I), ("day_of_week", _I),
    ("is_weekend", _B), ("is_prime_time", _B), ("is_eu", _B),
])


class Market:
    """Generates auctions. ``seed`` drives the events; the network has its own seed, so two
    event seeds share one network (floors learned on one replay apply to another)."""

    def __init__(
        self,
        seed: int = 0,
        drifts: Sequence[Drift] = (),
        network: Network | None = None,
        auction: bidders.AuctionRules | None = None,
        exploration: Exploration | None = None,
    ):
        self.seed = seed
        self.drifts = tuple(drifts)
        self.network = network or Network.build()
        self.auction = auction or bidders.AuctionRules()
        self.exploration = exploration
        self.curves_model = bidders.RevenueCurves(self.auction)

    # ------------------------------------------------------------------ time

    def _rng(self, chunk: int, stream: str) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence(entropy=self.seed, spawn_key=(chunk, _STREAMS[stream])))

    def span(
        self,
        start: datetime,
        end: datetime,
        mean_rate: float = 580.0,
        *,
        floor: FloorPolicy = rules.STATIC_FLOOR_EUR,
        truth: bool = True,
    ) -> Iterator[Simulation]:
        """Auctions of [start, end) with the daily/weekly traffic shape around ``mean_rate``
        events/s, one Simulation per 10-minute slice (bounded memory at 50M events/day).
        Each slice draws from its own seeded streams, so a slice is the same whatever span
        it is generated in (when fully covered)."""
        s_ms, e_ms = _epoch_ms(start), _epoch_ms(end)
        for piece in range(s_ms // SLICE_MS, -(-e_ms // SLICE_MS)):
            lo, hi = max(s_ms, piece * SLICE_MS), min(e_ms, (piece + 1) * SLICE_MS)
            hour = lo // MS_PER_HOUR
            weekend = int((hour // 24 + 3) % 7 >= 5)
            lam = mean_rate * TRAFFIC_SHAPE[weekend, hour % 24] * (hi - lo) / 1000.0
            n = int(self._rng(piece, "count").poisson(lam))
            times = np.sort(self._rng(piece, "time").integers(lo, hi, n))
            yield self.auctions(times, chunk=piece, floor=floor, truth=truth)

    def count(
        self,
        count: int,
        start: datetime,
        events_per_second: float,
        *,
        floor: FloorPolicy = rules.STATIC_FLOOR_EUR,
        truth: bool = True,
        chunk: int = 2**40,
    ) -> Simulation:
        """``count`` auctions from ``start`` at a constant rate (Poisson arrivals, ms resolution):
        event time advances like wall time when a producer sends at that rate."""
        gaps = self._rng(chunk, "time").exponential(1000.0 / events_per_second, count)
        times = _epoch_ms(start) + np.floor(np.cumsum(gaps)).astype(np.int64)
        return self.auctions(times, chunk=chunk, floor=floor, truth=truth)

    # ------------------------------------------------------------------ auctions

    def auctions(
        self, time_ms: np.ndarray, *, chunk: int, floor: FloorPolicy = rules.STATIC_FLOOR_EUR, truth: bool = True
    ) -> Simulation:
        """The auctions at the given event times (epoch ms, sorted)."""
        net, n = self.network, len(time_ms)
        rng = lambda stream: self._rng(chunk, stream)  # noqa: E731 - one stream per field
        cols: Columns = {"time_ms": np.asarray(time_ms, dtype=np.int64)}
        hour = (cols["time_ms"] // MS_PER_HOUR) % 24
        weekend = (cols["time_ms"] // (24 * MS_PER_HOUR) + 3) % 7 >= 5

        # Categorical draws by inverse CDF of one uniform each (cheaper than Generator.choice).
        cols["country"] = _pick(net.country_p, rng("country").random(n))
        cols["unit"] = _pick(net.unit_p, rng("unit").random(n))
        device = _pick(net.device_p, rng("device").random(n))
        cols["bidder"] = _pick(net.bidder_p, rng("bidder").random(n))
        scores = {
            "user_engagement_score": rng("engagement").beta(2.0, 3.0, n),
            "device_performance_score": rng("device_perf").gamma(4.0, 0.25, n),
            "historical_ctr_avg": rng("ctr").beta(1.5, 120.0, n),
        }
        level_drift = np.ones(n)
        flip = rng("device_drift").random(n)
        for d in self.drifts:
            after = cols["time_ms"] >= _epoch_ms(d.start)
            if d.feature in scores:
                scores[d.feature] = np.where(after, scores[d.feature] + d.amount, scores[d.feature])
            elif d.feature == "device_mix_mobile":
                device = np.where(after & (flip < d.amount), 0, device)
            else:
                tier_k = int(d.feature.rsplit("_", 1)[1])
                level_drift = np.where(after & (net.country_tier[cols["country"]] == tier_k),
                                       level_drift * (1.0 + d.amount), level_drift)
        cols["device"] = device
        cols["user_engagement_score"] = np.round(np.clip(scores["user_engagement_score"], 0.0, 1.0), 4)
        cols["device_performance_score"] = np.round(np.maximum(scores["device_performance_score"], 0.0), 4)
        cols["historical_ctr_avg"] = np.round(np.clip(scores["historical_ctr_avg"], 0.0, 1.0), 5)

        tier = net.country_tier[cols["country"]]
        fmt, inv = net.unit_format[cols["unit"]], net.unit_inventory[cols["unit"]]
        quality = net.domain_quality[net.unit_domain[cols["unit"]]]
        eng, perf, ctr = (cols[k] for k in SCORE_FEATURES)
        cols["bid_level"] = (
            BASE_CPM * TIER_PRICE[tier] * DEVICE_PRICE[device] * FORMAT_PRICE[fmt] * INVENTORY_PRICE[inv]
            * quality * HOUR_PRICE[hour] * np.where(weekend, WEEKEND_PRICE, 1.0)
            * (0.75 + 0.5 * eng) * (0.9 + 0.1 * np.minimum(perf, 3.0)) * np.clip(1.0 + 8.0 * (ctr - 0.012), 0.7, 1.5)
            * level_drift
        )
        cols["log_scale"] = np.log(cols["bid_level"])
        cols["lam"], cols["p_adx"] = bidders.demand(tier, inv, fmt, hour)
        values = bidders.draw_values(cols["log_scale"], cols["lam"], cols["p_adx"], rng("bids"))
        cols["top_value"], cols["second_value"] = values.top, values.second
        cols["bidders"] = values.prebid_count + np.isfinite(values.adx)

        floors = np.full(n, float(floor)) if isinstance(floor, (int, float)) else floor(cols, rng("floor"))
        if self.exploration is not None:
            floors = self.exploration.apply(np.asarray(floors, dtype=np.float64), rng("explore"))
        cols["floor_price_eur"] = np.round(np.asarray(floors, dtype=np.float64), 4)
        cols["shading"] = self.auction.shading_at(cols["lam"], cols["p_adx"])
        out = bidders.outcome(self.auction, values.top, values.second, cols["floor_price_eur"], cols["shading"])
        cols["bid_count"] = values.bids_at(cols["floor_price_eur"])
        cols["top_bid_eur"], cols["second_bid_eur"] = out["top_bid"], out["second_bid"]
        cols["filled"], cols["cpm_eur"] = out["filled"], out["cpm"]
        cols["impression_id"] = _impression_ids(rng("id"), chunk, n)
        sim = Simulation(cols, net)
        if truth:
            sim.truth = self._truth(cols)
        return sim

    def _truth(self, cols: Columns) -> pd.DataFrame:
        """Per segment and hour at the floors applied: expected fills and revenue (exact over the
        bidders' draws, given the realised auctions), and the expected clearing CPM of the fills."""
        revenue, fill = self.curves_model.expected(cols["log_scale"], cols["lam"], cols["p_adx"],
                                                   cols["floor_price_eur"])
        outside = self.auction.outside_option_eur * (1.0 - fill)
        frame = pd.DataFrame({"hour": _hours(cols), "fill_p": fill, "revenue": revenue, "paid": revenue - outside})
        out = []
        for lvl in (rules.FINE, rules.COARSE):
            g = frame.assign(level=lvl, segment_key=self.segment_keys(cols, lvl)).groupby(
                ["level", "segment_key", "hour"], sort=True)
            out.append(g.agg(auctions=("fill_p", "size"), expected_fills=("fill_p", "sum"),
                             revenue=("revenue", "sum"), paid=("paid", "sum")))
        return _truth_ratios(pd.concat(out).reset_index())

    def segment_parts(self, cols: Columns) -> pd.DataFrame:
        """The fields segment keys are made of, per auction (as the events carry them)."""
        net, unit = self.network, cols["unit"]
        return pd.DataFrame({
            "domain": net.domains[net.unit_domain[unit]], "ad_unit": net.unit_name[unit],
            "format": np.asarray(FORMATS)[net.unit_format[unit]],
            "inventory_type": np.asarray(INVENTORY)[net.unit_inventory[unit]],
            "device_category": np.asarray(DEVICES)[cols["device"]], "country_tier": net.country_tier[cols["country"]],
        })

    def segment_keys(self, cols: Columns, level: str) -> pd.Series:
        return rules.segment_key_column(self.segment_parts(cols), level)

    def curves(self, sims: Sequence[Simulation], level: str = rules.FINE, grid: np.ndarray = FLOOR_GRID
               ) -> Curves:
        """R(f) and F(f) per segment and hour on the floor grid: the sums over the auctions of
        their exact expected revenue and fill at each floor."""
        parts = []
        for sim in sims:
            c = sim.cols
            if not len(sim):
                continue
            revenue, fill = self.curves_model.expected(c["log_scale"], c["lam"], c["p_adx"],
                                                       np.broadcast_to(grid, (len(sim), len(grid))))
            keys = pd.DataFrame({"segment_key": self.segment_keys(c, level), "hour": _hours(c)})
            codes, uniques = pd.MultiIndex.from_frame(keys).factorize()
            n = len(uniques)
            parts.append((uniques.to_frame(index=False, name=list(keys.columns)), np.bincount(codes, minlength=n),
                          _sum_rows(revenue, codes, n), _sum_rows(fill, codes, n)))
        return Curves.combine(parts, np.asarray(grid, dtype=np.float64))


def _hours(cols: Columns) -> pd.Series:
    return pd.Series(pd.to_datetime(cols["time_ms"] // MS_PER_HOUR * MS_PER_HOUR, unit="ms"))


def _sum_rows(values: np.ndarray, codes: np.ndarray, groups: int) -> np.ndarray:
    out = np.zeros((groups, values.shape[1]))
    np.add.at(out, codes, values)
    return out


def _truth_ratios(t: pd.DataFrame) -> pd.DataFrame:
    t["expected_fill_rate"] = t["expected_fills"] / t["auctions"]
    t["expected_cpm_eur"] = t["paid"] / t["expected_fills"].where(t["expected_fills"] > 0)
    return t


@dataclass
class Curves:
    """Expected revenue and fills (sums over auctions) per segment-hour row and grid floor."""

    keys: pd.DataFrame  # segment_key, hour
    auctions: np.ndarray
    revenue: np.ndarray  # rows x grid
    fills: np.ndarray
    grid: np.ndarray

    @classmethod
    def combine(cls, parts: list[tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]], grid: np.ndarray) -> Curves:
        if not parts:
            empty = np.zeros((0, len(grid)))
            return cls(pd.DataFrame({"segment_key": [], "hour": []}), np.zeros(0, np.int64), empty, empty, grid)
        keys = pd.concat([p[0] for p in parts], ignore_index=True)
        codes, uniques = pd.MultiIndex.from_frame(keys).factorize()
        n = len(uniques)
        auctions = np.bincount(codes, np.concatenate([p[1] for p in parts]), n).astype(np.int64)
        return cls(uniques.to_frame(index=False, name=list(keys.columns)), auctions,
                   _sum_rows(np.vstack([p[2] for p in parts]), codes, n),
                   _sum_rows(np.vstack([p[3] for p in parts]), codes, n), grid)

    def oracle(self) -> np.ndarray:
        """The revenue-maximising grid floor of each row."""
        return self.grid[np.argmax(self.revenue, axis=1)]

    def at(self, floors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Expected revenue and fills of each row at its floor (interpolated on the grid)."""
        pos = np.clip(np.searchsorted(self.grid, floors), 1, len(self.grid) - 1)
        lo, hi = self.grid[pos - 1], self.grid[pos]
        w = np.clip((floors - lo) / (hi - lo), 0.0, 1.0)
        rows = np.arange(len(floors))
        pick = lambda a: a[rows, pos - 1] * (1 - w) + a[rows, pos] * w  # noqa: E731
        return pick(self.revenue), pick(self.fills)


def combine_truth(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """One TRUTH table from the tables of several slices (sums, then the ratios again)."""
    t = pd.concat(frames).groupby(["level", "segment_key", "hour"], as_index=False)[
        ["auctions", "expected_fills", "revenue", "paid"]].sum()
    return _truth_ratios(t)


def _epoch_ms(t: datetime) -> int:
    if t.tzinfo is None:
        raise ValueError("times must be timezone-aware (UTC)")
    return int(t.timestamp() * 1000)


def _pick(p: np.ndarray, u: np.ndarray) -> np.ndarray:
    cdf = np.cumsum(p)
    cdf[-1] = 1.0  # rounding must not leave u near 1 without a category
    return np.searchsorted(cdf, u, side="right")


def _impression_ids(rng: np.random.Generator, chunk: int, n: int) -> np.ndarray:
    """32 hex chars: 8 random bytes (differ by seed), the chunk and the index in it (unique)."""
    raw = np.empty((n, 16), dtype=np.uint8)
    raw[:, :8] = rng.integers(0, 256, (n, 8), dtype=np.uint8)
    raw[:, 8:12] = np.frombuffer((chunk % 2**32).to_bytes(4, "big"), dtype=np.uint8)
    raw[:, 12:] = np.arange(n, dtype=">u4").view(np.uint8).reshape(n, 4)
    return np.frombuffer(raw.tobytes().hex().encode("ascii"), dtype="S32")


def segment_keys(frame: pd.DataFrame, level: str) -> pd.Series:
    """Segment keys of a DataFrame of events (``country_tier`` added from ``country`` if absent)."""
    if "country_tier" not in frame:
        frame = frame.assign(country_tier=frame["country"].map(rules.country_tier))
    return rules.segment_key_column(frame, level)


# --------------------------------------------------------------------------- the lake (backfill)


def features_frame(raw: pd.DataFrame, window: str = "1h") -> pd.DataFrame:
    """segment_features rows from raw events, with the job's definitions (flink_jobs/pipeline.py):
    dedup by impression_id (first seen), tumbling windows on event_time, fine + coarse keys."""
    d = raw.drop_duplicates("impression_id", keep="first").copy()
    d["window_start"] = d["event_time"].dt.floor(window)
    d["window_end"] = d["window_start"] + pd.Timedelta(window)
    d["cpm_if_filled"] = d["cpm_eur"].where(d["filled"])
    d["premium"] = (d["inventory_type"] == "premium").astype(np.float64)
    d["bid_count_d"] = d["bid_count"].astype(np.float64)
    frames = []
    for level in (rules.FINE, rules.COARSE):
        g = d.assign(level=level, segment_key=rules.segment_key_column(d, level)).groupby(
            ["level", "segment_key", "window_start", "window_end"], sort=True)
        frames.append(g.agg(
            auctions=("impression_id", "size"),
            fills=("filled", "sum"),
            sum_cpm_eur=("cpm_if_filled", "sum"),  # SUM(CASE WHEN filled THEN cpm ELSE 0)
            mean_cpm_eur=("cpm_if_filled", "mean"),  # AVG over filled only (NULL when none)
            mean_bid_count=("bid_count_d", "mean"),
            mean_floor_price_eur=("floor_price_eur", "mean"),
            mean_top_bid_eur=("top_bid_eur", "mean"),  # AVG skips NULL, as SQL does
            mean_user_engagement_score=("user_engagement_score", "mean"),
            mean_device_performance_score=("device_performance_score", "mean"),
            mean_historical_ctr_avg=("historical_ctr_avg", "mean"),
            premium_share=("premium", "mean"),
        ))
    f = pd.concat(frames).reset_index()
    f["auctions"] = f["auctions"].astype(np.int64)
    f["fills"] = f["fills"].astype(np.int64)
    f["fill_rate"] = f["fills"] / f["auctions"]
    ws = f["window_start"]
    f["hour_of_day"] = ws.dt.hour.astype(np.int32)
    f["day_of_week"] = (ws.dt.dayofweek + 1).astype(np.int32)  # ISO: Monday 1
    f["is_weekend"] = f["day_of_week"] >= 6
    f["is_prime_time"] = f["hour_of_day"].map(rules.is_prime_time).astype(bool)
    return f[list(FEATURES_SCHEMA.names)]


# The Parquet types Flink's writer gives each SQL type of the feature history.
_ARROW_TYPES = {"STRING": _S, "TIMESTAMP(3)": pa.timestamp("ns"), "BIGINT": pa.int64(), "INT": _I, "DOUBLE": _D,
                "BOOLEAN": _B}
FEATURES_SCHEMA = pa.schema([(f.name, _ARROW_TYPES[f.sql_type]) for f in segment_windows.columns()])


def _lake_dir(out: str) -> Path:
    parsed = urlparse(out)
    if parsed.scheme in ("", "file"):
        return Path(parsed.path if parsed.scheme else out)
    raise ValueError(f"backfill writes a local lake (folder or file:// URI), not {out}")


def _partition(base: Path, prefix: str, t: datetime) -> Path:
    return base / prefix / f"year={t:%Y}" / f"month={t:%m}" / f"day={t:%d}" / f"hour={t:%H}"


def _write_parquet(table: pa.Table, path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    # INT96 timestamps, as Flink's Parquet writer stores TIMESTAMP(3): readers see one type.
    pq.write_table(table, path, compression="snappy", use_deprecated_int96_timestamps=True)
    return path.stat().st_size


def backfill(
    market: Market,
    out: str,
    start: datetime,
    days: float,
    mean_rate: float,
    *,
    duplicate_share: float = 0.0,
    floor: FloorPolicy = rules.STATIC_FLOOR_EUR,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Write ``days`` of history from ``start`` into the lake layout: raw/ by event hour (with
    ``duplicate_share`` producer re-sends, as raw/ holds them too) and processed/features/ hourly,
    computed after dedup. Returns counts and bytes written."""
    base = _lake_dir(out)
    stats = {"events": 0, "raw_rows": 0, "feature_rows": 0, "raw_bytes": 0, "feature_bytes": 0, "hours": 0}
    first = start.replace(minute=0, second=0, microsecond=0)
    end = start + timedelta(days=days)
    for h in range(int((end - first) / timedelta(hours=1))):
        hour = first + timedelta(hours=h)
        sims = [s for s in market.span(max(hour, start), min(hour + timedelta(hours=1), end), mean_rate,
                                       floor=floor, truth=False) if len(s)]
        if not sims:
            continue
        raw_dir = _partition(base, "raw", hour)
        tables = []
        for i, sim in enumerate(sims):  # one file per 10-minute slice, as a sink rolls files
            table = sim.raw_table()
            if duplicate_share > 0:
                dup_rng = np.random.default_rng(np.random.SeedSequence(entropy=market.seed, spawn_key=(h, i, 0xD0)))
                picks = np.sort(dup_rng.choice(len(sim), size=round(len(sim) * duplicate_share), replace=False))
                table = pa.concat_tables([table, table.take(picks)])
            stats["raw_bytes"] += _write_parquet(table, raw_dir / f"part-backfill-{i}.parquet")
            stats["raw_rows"] += table.num_rows
            stats["events"] += len(sim)
            tables.append(table)
        features = features_frame(pa.concat_tables(tables).to_pandas())
        ftable = pa.Table.from_pandas(features, schema=FEATURES_SCHEMA, preserve_index=False)
        stats["feature_bytes"] += _write_parquet(
            ftable, _partition(base, "processed/features", hour) / "part-backfill-0.parquet")
        stats["feature_rows"] += ftable.num_rows
        stats["hours"] += 1
        if progress and stats["hours"] % 24 == 0:
            progress(f"{hour:%Y-%m-%d} done: {stats['events']:,} events, {stats['raw_bytes'] / 1e6:,.1f} MB raw")
    return stats


# --------------------------------------------------------------------------- CLI


def _parse_time(text: str) -> datetime:
    t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulator.market", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    p_back = sub.add_parser("backfill", help="write days of history into the lake layout")
    p_back.add_argument("--days", type=float, required=True)
    p_back.add_argument("--out", required=True, help="lake folder or file:// URI")
    p_back.add_argument("--rate", type=float, default=50e6 / 86400, help="mean events/s (default 50M/day)")
    p_back.add_argument("--start", type=_parse_time, default=None, help="ISO time (default: --days before today 00Z)")
    p_back.add_argument("--seed", type=int, default=0)
    p_back.add_argument("--duplicate-share", type=float, default=0.0)
    args = parser.parse_args(argv)

    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = args.start or today - timedelta(days=args.days)
    t0 = time.perf_counter()
    stats = backfill(Market(args.seed), args.out, start, args.days, args.rate,
                     duplicate_share=args.duplicate_share, progress=lambda m: print(m, file=sys.stderr, flush=True))
    stats |= {"start": start.isoformat(), "days": args.days, "mean_rate": args.rate,
              "elapsed_s": round(time.perf_counter() - t0, 1)}
    print(json.dumps(stats, indent=2))
    return 0


def write_jsonl(sims: Iterator[Simulation], out: IO[bytes]) -> int:
    """Write simulations as JSON lines; returns the number of events."""
    n = 0
    for sim in sims:
        out.write(sim.jsonl())
        n += len(sim)
    return n


if __name__ == "__main__":
    sys.exit(main())

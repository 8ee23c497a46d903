"""FloorReader over the DynamoDB stand-in (moto): fallback order fine -> coarse -> static, expiry, batch."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import numpy as np
import pytest

from flink_jobs.config import load_config
from local_kinesis import resources
from serving import FloorReader
from simulator.market import DEFAULT_START
from training import ab_test
from udfs import rules
from udfs.aws import aws_client

NOW = 1_800_000_000.0
EVENT = {"domain": "d.example.es", "ad_unit": "top", "device_category": "mobile", "country": "ES",
         "format": "banner", "inventory_type": "premium"}
FINE_KEY = "d.example.es|top|mobile|1"
COARSE_KEY = "banner|premium|mobile|1"


@pytest.fixture
def table(running_standins: None) -> tuple[str, Any]:
    config = load_config()
    client = aws_client("dynamodb", config.floors.endpoint, config.floors.region)
    params, ttl = resources.floors_table_params(f"floors-reader-{uuid.uuid4().hex[:8]}")
    resources.create_table(client, params, ttl)
    yield params["TableName"], client
    client.delete_table(TableName=params["TableName"])


def put(client: Any, name: str, level: str, key: str, floor: float, expires_at: float) -> None:
    client.put_item(TableName=name, Item={
        "level": {"S": level}, "segment_key": {"S": key}, "floor_eur": {"N": str(floor)},
        "expires_at": {"N": str(int(expires_at))}, "model_version": {"S": "test"},
    })


def test_keys_are_the_rule_keys() -> None:
    event = {**EVENT, "country_tier": rules.country_tier("ES")}
    assert rules.segment_key(rules.FINE, event) == FINE_KEY
    assert rules.segment_key(rules.COARSE, event) == COARSE_KEY


def test_fallback_order_and_expiry(table: tuple[str, Any]) -> None:
    name, client = table
    clock = [NOW]
    reader = FloorReader(name, client, static_floor=2.0, clock=lambda: clock[0])
    assert reader.floor_for(EVENT) == (2.0, "static")  # empty table
    put(client, name, rules.COARSE, COARSE_KEY, 1.5, NOW + 100)
    assert reader.floor_for(EVENT) == (1.5, "coarse")
    put(client, name, rules.FINE, FINE_KEY, 3.25, NOW + 10)
    assert reader.floor_for(EVENT) == (3.25, "fine")
    clock[0] = NOW + 10  # expires_at <= now: expired, even though the item is still there
    assert reader.floor_for(EVENT) == (1.5, "coarse")
    clock[0] = NOW + 100
    assert reader.floor_for(EVENT) == (2.0, "static")
    other = {**EVENT, "country": "MX"}  # tier 3: other keys, nothing stored
    clock[0] = NOW
    assert reader.floor_for(other) == (2.0, "static")


def test_batch_matches_single_lookups(table: tuple[str, Any]) -> None:
    name, client = table
    events = [{**EVENT, "ad_unit": f"u{i}", "country": c} for i in range(120) for c in ("ES", "PT")]
    for i in range(0, 120, 3):
        put(client, name, rules.FINE, f"d.example.es|u{i}|mobile|1", 1.0 + i / 100, NOW + 60)
    put(client, name, rules.FINE, "d.example.es|u1|mobile|1", 9.0, NOW - 1)  # expired
    put(client, name, rules.COARSE, COARSE_KEY, 1.5, NOW + 60)
    reader = FloorReader(name, client, clock=lambda: NOW)
    batch = reader.floors_for(events)  # > 100 distinct keys: several BatchGetItem calls
    assert batch == [reader.floor_for(e) for e in events]
    sources = {s for _, s in batch}
    assert sources == {"fine", "coarse", "static"}


def test_ab_replay_over_the_table(table: tuple[str, Any]) -> None:
    name, client = table
    reader = FloorReader(name, client, clock=lambda: NOW)
    result, sources = ab_test.run(400, 3, reader, DEFAULT_START + timedelta(hours=20))
    # An empty table: the dynamic arm falls back to the static floor everywhere, so the arms agree.
    assert dict(sources) == {"static": 400}
    s = result.set_index(["tier", "arm"])
    for col in ("auctions", "fill_rate", "avg_cpm", "rev_per_1000"):
        assert np.isclose(s.loc[("all", "static"), col], s.loc[("all", "dynamic"), col], equal_nan=True)
    assert s.loc[("all", "dynamic"), "lift"] == 0.0

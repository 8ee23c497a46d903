"""Champion/challenger in the floor API (serving/api.py) through Starlette's TestClient, over a
snapshot of a fresh floors table on moto (the shared stand-in, never stopped) holding items with
and without a challenger floor, as the job writes them.

Checked against independent readings: each answer's arm against ``udfs.arms.arm_for`` and against
the JavaScript twin (node serving/js/arm_split.mjs) on the same ids; the split of 10,000 impressions
against a binomial bound from scipy; /v2/arms's p-value against scipy's chi-square; the Prebid
file's two model groups against the items' floors."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.stats import binom, chisquare
from starlette.testclient import TestClient

from flink_jobs.config import load_config
from local_kinesis import REPO_ROOT, resources
from serving import api, prebid
from serving.keys import ApiKey, ApiKeys, hash_key
from serving.metrics import Metrics
from serving.snapshot import Floor, FloorsSnapshot
from tests.integration.test_floor_api import NOW, Clock
from udfs import arms, rules
from udfs.aws import aws_client

KEY = "key-arms"
SALT = "test-salt-7"
WEIGHTS = {"champion": 80, "challenger": 20}
DOMAIN = "news.example.es"
FINE_KEY = rules.fine_segment_key(DOMAIN, "top", "mobile", 1)  # champion 3.25 (m-2), challenger 2.75 (c-3)
COARSE_KEY = rules.coarse_segment_key("banner", "standard", "mobile", 1)  # champion 1.5, challenger 1.25
PREMIUM_KEY = rules.coarse_segment_key("banner", "premium", "mobile", 1)  # champion 2.5 only: no challenger
FLOORS = {  # (level, key) -> (champion floor, challenger floor or None)
    (rules.FINE, FINE_KEY): (3.25, 2.75),
    (rules.COARSE, COARSE_KEY): (1.5, 1.25),
    (rules.COARSE, PREMIUM_KEY): (2.5, None),
}
BASE = {"hour_of_day": 21, "day_of_week": 3, "country_tier": 1, "device_category": "mobile", "format": "banner"}
FINE_REQUEST = {**BASE, "inventory_type": "standard", "domain": DOMAIN, "ad_unit": "top"}
PREMIUM_REQUEST = {**BASE, "inventory_type": "premium"}  # no ad unit: the coarse premium item
STATIC_REQUEST = {**BASE, "inventory_type": "remnant"}  # no item: the static floor


@dataclass
class Stand:
    client: TestClient
    app: Any


def put(dynamodb: Any, table: str, level: str, key: str, floor: float, challenger: float | None) -> None:
    item = {"level": {"S": level}, "segment_key": {"S": key}, "floor_eur": {"N": str(floor)},
            "predicted_cpm_eur": {"N": str(floor * 1.3)}, "model_version": {"S": "m-2"}, "policy": {"S": "revenue"},
            "window_start": {"S": "2027-01-15T08:00:00Z"}, "window_end": {"S": "2027-01-15T09:00:00Z"},
            "data_points": {"N": "420"}, "expires_at": {"N": str(int(NOW + 3600))}}
    if challenger is not None:  # the job writes both attributes or neither
        item |= {"challenger_floor_eur": {"N": str(challenger)}, "challenger_model_version": {"S": "c-3"}}
    dynamodb.put_item(TableName=table, Item=item)


@pytest.fixture
def stand(running_standins: None, tmp_path: Path) -> Iterator[Stand]:
    config = load_config()
    dynamodb = aws_client("dynamodb", config.floors.endpoint, config.floors.region)
    params, ttl = resources.floors_table_params(f"floors-arms-{uuid.uuid4().hex[:8]}")
    resources.create_table(dynamodb, params, ttl)
    table = params["TableName"]
    for (level, key), (floor, challenger) in FLOORS.items():
        put(dynamodb, table, level, key, floor, challenger)
    clock = Clock()
    settings = api.Settings(table=table, endpoint=config.floors.endpoint, region=config.floors.region,
                            arm_salt=SALT, access_log="off")
    snapshot = FloorsSnapshot(table, dynamodb, clock=clock, derive=prebid.index_floors)
    assert snapshot.refresh()
    keys = ApiKeys([ApiKey("adserver", hash_key(KEY))], rate_per_s=1e6, burst=1e6, clock=clock)
    app = api.create_app(settings, snapshot=snapshot, keys=keys, clock=clock, background_refresh=False)
    try:
        with TestClient(app) as client:
            yield Stand(client, app)
    finally:
        dynamodb.delete_table(TableName=table)


def impression_ids(n: int, seed: int = 11) -> list[str]:
    rng = np.random.default_rng(seed)
    return [rng.bytes(12).hex() for _ in range(n)]


def batch(stand: Stand, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    answer = stand.client.post("/v2/predict/batch", json=requests, headers={"X-API-Key": KEY})
    assert answer.status_code == 200, answer.text
    return answer.json()


def expected(request: dict[str, Any], arm: str) -> tuple[float, str | None, str | None]:
    """(floor, model_version, arm served) read from FLOORS, independently of the API's code."""
    if request is STATIC_REQUEST:
        return rules.STATIC_FLOOR_EUR, None, None
    key = (rules.FINE, FINE_KEY) if request is FINE_REQUEST else (rules.COARSE, PREMIUM_KEY)
    champion, challenger = FLOORS[key]
    if arm == "challenger" and challenger is not None:
        return challenger, "c-3", "challenger"
    return champion, "m-2", "champion"


def node_arms(ids: list[str]) -> list[str]:
    node = shutil.which("node")
    assert node, "node is required (the README lists Node 20)"
    done = subprocess.run([node, str(REPO_ROOT / "serving" / "js" / "arm_split.mjs")], check=True,
                          capture_output=True, text=True, timeout=120,
                          input=json.dumps({"salt": SALT, "weights": WEIGHTS, "ids": ids}))
    return [arm for _bucket, arm in json.loads(done.stdout)]


def test_ten_thousand_impressions_split_by_the_hash(stand: Stand) -> None:
    ids = impression_ids(10_000)
    # Batches of 1,000 of one segment with a challenger floor: the batch's per-segment memo must
    # still give each impression its own arm.
    answers = []
    for i in range(0, len(ids), 1000):
        answers += batch(stand, [{**FINE_REQUEST, "impression_id": x} for x in ids[i : i + 1000]])
    assert [a["impression_id"] for a in answers] == ids
    want = [arms.arm_for(x, SALT, WEIGHTS) for x in ids]
    assert [a["arm"] for a in answers] == want
    for a, arm in zip(answers, want, strict=True):
        floor, version, _ = expected(FINE_REQUEST, arm)
        assert (a["floor_eur"], a["model_version"], a["level"], a["segment_key"]) == (floor, version, "fine", FINE_KEY)
        assert a["predicted_cpm"] == (pytest.approx(3.25 * 1.3) if arm == "champion" else None)

    # The split: challenger count within the central 99.9% of Binomial(10,000, 0.2).
    n, k = len(ids), want.count("challenger")
    low, high = binom.ppf(0.0005, n, 0.2), binom.ppf(0.9995, n, 0.2)
    assert low <= k <= high, (k, low, high)

    # The JavaScript twin gives every id the arm the API served.
    assert node_arms(ids) == [a["arm"] for a in answers]

    # One at a time: the same arms.
    for x in ids[:200]:
        one = stand.client.post("/v2/predict", json={**FINE_REQUEST, "impression_id": x},
                                headers={"X-API-Key": KEY}).json()
        floor, version, served = expected(FINE_REQUEST, arms.arm_for(x, SALT, WEIGHTS))
        assert (one["floor_eur"], one["model_version"], one["arm"]) == (floor, version, served)


def test_mixed_batch_without_challenger_floors_and_static(stand: Stand) -> None:
    ids = impression_ids(3000, seed=5)
    kinds = [FINE_REQUEST, PREMIUM_REQUEST, STATIC_REQUEST]
    requests = [{**kinds[i % 3], "impression_id": x} for i, x in enumerate(ids)]
    answers = batch(stand, requests[:1000]) + batch(stand, requests[1000:2000]) + batch(stand, requests[2000:])
    for i, (x, a) in enumerate(zip(ids, answers, strict=True)):
        floor, version, served = expected(kinds[i % 3], arms.arm_for(x, SALT, WEIGHTS))
        assert (a["floor_eur"], a["model_version"], a["arm"]) == (floor, version, served), (i, a)

    status = stand.client.get("/v2/arms").json()
    assigned = Counter(arms.arm_for(x, SALT, WEIGHTS) for x in ids)
    assert status["assigned"] == dict(assigned)
    served = Counter(expected(kinds[i % 3], arms.arm_for(x, SALT, WEIGHTS))[2] for i, x in enumerate(ids))
    del served[None]
    assert status["served"] == dict(served)
    # The p-values, recomputed with scipy's chi-square on the same counts.
    total = sum(assigned.values())
    want = chisquare([assigned["challenger"], assigned["champion"]], f_exp=[0.2 * total, 0.8 * total]).pvalue
    assert status["srm_p_value"] == pytest.approx(want, rel=1e-9)
    assert status["srm_p_value"] > 0.001
    # Served: the premium segment has no challenger floor, so the challenger serves ~10%, not 20%.
    assert status["served_srm_p_value"] < 1e-6
    assert (status["weights"], status["salt"]) == (WEIGHTS, SALT)
    assert (status["model_versions"], status["challenger_model_versions"], status["challenger_items"]) == (
        ["m-2"], ["c-3"], 2)


def test_prebid_file_has_one_model_group_per_arm(stand: Stand) -> None:
    data = stand.client.get(f"/v2/floors/prebid/{DOMAIN}").json()
    champion, challenger = data["modelGroups"]
    assert champion["modelWeight"] + challenger["modelWeight"] == 100
    assert (champion["modelWeight"], challenger["modelWeight"]) == (80, 20)
    assert (champion["modelVersion"], challenger["modelVersion"]) == ("m-2", "c-3")
    assert champion["values"] == {"top|*|phone|1": 3.25, "*|banner|phone|1": 1.5, "*|*|*|*": 2.0}
    assert challenger["values"] == {"top|*|phone|1": 2.75, "*|banner|phone|1": 1.25, "*|*|*|*": 2.0}
    # The premium page: its coarse item has no challenger floor, the challenger's group uses the champion's.
    premium = stand.client.get(f"/v2/floors/prebid/{DOMAIN}?inventory_type=premium").json()["modelGroups"]
    assert [g["values"]["*|banner|phone|1"] for g in premium] == [2.5, 2.5]
    # Prebid Server's file: the same two groups.
    server = stand.client.get(f"/v2/floors/prebid/{DOMAIN}?client=server").json()["modelGroups"]
    assert [(g["modelVersion"], g["modelWeight"]) for g in server] == [("m-2", 80), ("c-3", 20)]
    assert server[1]["values"]["top|*|phone|ESP"] == 2.75 and server[0]["values"]["top|*|phone|ESP"] == 3.25


def test_prebid_file_without_challenger_floors_has_one_group() -> None:
    floors = [Floor(rules.FINE, FINE_KEY, 3.25, NOW + 3600, model_version="m-2")]
    [group] = prebid.prebid_floors_file(floors, DOMAIN, NOW, model_weights=WEIGHTS)["modelGroups"]
    assert (group["modelVersion"], group["modelWeight"]) == ("m-2", 100)
    with_challenger = [Floor(rules.FINE, FINE_KEY, 3.25, NOW + 3600, model_version="m-2",
                                    challenger_floor_eur=2.0, challenger_model_version="c-3")]
    [only] = prebid.prebid_floors_file(with_challenger, DOMAIN, NOW,
                                       model_weights={"champion": 100, "challenger": 0})["modelGroups"]
    assert (only["modelVersion"], only["values"]["top|*|phone|1"]) == ("m-2", 3.25)


def test_splitter_equals_arm_for() -> None:
    ids = impression_ids(5000, seed=3)
    for weights in (WEIGHTS, {"champion": 100, "challenger": 0}, {"champion": 0, "challenger": 5},
                    {"champion": 1, "challenger": 1}):
        split = arms.splitter(SALT, weights)
        assert [split(x) for x in ids] == [arms.arm_for(x, SALT, weights) for x in ids]


def test_settings_weights_salt_and_arm_metrics() -> None:
    defaults = api.Settings.from_env({})
    assert (defaults.model_weights, defaults.arm_salt) == ({"champion": 80, "challenger": 20}, api.DEFAULT_ARM_SALT)
    custom = api.Settings.from_env({"YIELD_API_ARM_SALT": "2027-q1",
                                    "YIELD_API_MODEL_WEIGHTS": "champion=9,challenger=1"})
    assert (custom.arm_salt, custom.model_weights) == ("2027-q1", {"champion": 9, "challenger": 1})
    keys = ApiKeys([], rate_per_s=1, burst=1)
    snapshot = FloorsSnapshot("t", None)
    with pytest.raises(ValueError, match="arms are"):
        api.create_app(api.Settings(table="t", model_weights={"champion": 80, "treatment": 20}),
                       snapshot=snapshot, keys=keys, background_refresh=False)
    data = Metrics(None, clock=lambda: NOW).data(Counter(), Counter(), Counter(), Counter(champion=8, challenger=2),
                                                   Counter(champion=9, challenger=1))
    got = {(d["MetricName"], d["Dimensions"][0]["Value"]): d["Value"] for d in data}
    assert got == {("ArmAssigned", "champion"): 8.0, ("ArmAssigned", "challenger"): 2.0,
                   ("ArmServed", "champion"): 9.0, ("ArmServed", "challenger"): 1.0}


def test_items_decode_both_challenger_attributes_or_none() -> None:
    from serving.snapshot import decode_item

    base = {"level": {"S": rules.FINE}, "segment_key": {"S": FINE_KEY}, "floor_eur": {"N": "3.25"},
            "expires_at": {"N": str(int(NOW + 60))}, "model_version": {"S": "m-2"}}
    both = decode_item(base | {"challenger_floor_eur": {"N": "2.75"}, "challenger_model_version": {"S": "c-3"}})
    assert (both.challenger_floor_eur, both.challenger_model_version) == (2.75, "c-3")
    assert both.for_arm("challenger") == ("challenger", 2.75, "c-3")
    assert both.for_arm("champion") == ("champion", 3.25, "m-2")
    for half in ({"challenger_floor_eur": {"N": "2.75"}}, {"challenger_model_version": {"S": "c-3"}}, {}):
        floor = decode_item(base | half)
        assert (floor.challenger_floor_eur, floor.challenger_model_version) == (None, None)
        assert floor.for_arm("challenger") == ("champion", 3.25, "m-2")

"""What the ad server runs at auction time: a key lookup, never a model.

``FloorReader.floor_for(event)`` reads the fine floor (``domain|ad_unit|device|tier``), else
the coarse one (``format|inventory|device|tier``), else the static floor. Items whose
``expires_at`` (epoch seconds) is at or before now are skipped: DynamoDB deletes expired
items lazily and the local stand-in never does (DESIGN.md section 5), so the reader checks.
Keys are built by ``udfs.rules.segment_key``, the same function the job's SQL twin mirrors.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from flink_jobs.config import AppConfig
from udfs import rules
from udfs.aws import aws_client

LEVELS = (rules.FINE, rules.COARSE)
STATIC = "static"
BATCH_GET_MAX_KEYS = 100  # DynamoDB BatchGetItem limit
# Only what the decision needs; names escaped in case they collide with reserved words.
_PROJECTION = {"ProjectionExpression": "#l, #k, #f, #e",
               "ExpressionAttributeNames": {"#l": "level", "#k": "segment_key", "#f": "floor_eur", "#e": "expires_at"}}


def _with_tier(event: Mapping[str, Any]) -> Mapping[str, Any]:
    if "country_tier" in event:
        return event
    return {**event, "country_tier": rules.country_tier(event["country"])}


def segment_keys(event: Mapping[str, Any]) -> dict[str, str]:
    """The event's key at each level, in lookup order."""
    e = _with_tier(event)
    return {level: rules.segment_key(level, dict(e)) for level in LEVELS}


class FloorReader:
    """Floors from the DynamoDB table ``table`` through a boto3 DynamoDB ``client``."""

    def __init__(
        self,
        table: str,
        client: Any,
        static_floor: float = rules.STATIC_FLOOR_EUR,
        clock: Callable[[], float] = time.time,
        *,
        max_batch_retries: int = 5,
    ):
        self.table = table
        self.client = client
        self.static_floor = static_floor
        self.clock = clock
        self.max_batch_retries = max_batch_retries

    def _fresh_floor(self, item: Mapping[str, Any] | None, now: float) -> float | None:
        if not item or "floor_eur" not in item:
            return None
        expires = item.get("expires_at")
        if expires is None or float(expires["N"]) <= now:  # no expiry = not trustworthy either
            return None
        return float(item["floor_eur"]["N"])

    def floor_for(self, event: Mapping[str, Any]) -> tuple[float, str]:
        """(floor_eur, source) with source "fine", "coarse" or "static"."""
        now = self.clock()  # one instant for the whole decision
        for level, key in segment_keys(event).items():
            response = self.client.get_item(
                TableName=self.table, Key={"level": {"S": level}, "segment_key": {"S": key}}, **_PROJECTION
            )
            floor = self._fresh_floor(response.get("Item"), now)
            if floor is not None:
                return floor, level
        return self.static_floor, STATIC

    def fetch(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        """Items by (level, segment_key), BatchGetItem 100 keys at a time; unprocessed keys retried."""
        wanted = list(dict.fromkeys(keys))
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for i in range(0, len(wanted), BATCH_GET_MAX_KEYS):
            request = {self.table: {"Keys": [{"level": {"S": lv}, "segment_key": {"S": k}}
                                             for lv, k in wanted[i : i + BATCH_GET_MAX_KEYS]], **_PROJECTION}}
            for attempt in range(self.max_batch_retries + 1):
                response = self.client.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self.table, []):
                    found[(item["level"]["S"], item["segment_key"]["S"])] = item
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
                if attempt == self.max_batch_retries:
                    raise RuntimeError(f"BatchGetItem left keys unprocessed after {attempt + 1} calls")
                time.sleep(min(1.0, 0.05 * 2**attempt))  # throttled: back off before the rest
        return found

    def floors_for(self, events: Sequence[Mapping[str, Any]]) -> list[tuple[float, str]]:
        """``floor_for`` for many events with one BatchGetItem per 100 distinct keys; one clock
        reading for the whole batch (an ad server resolving a page's slots at once)."""
        keyed = [segment_keys(e) for e in events]
        items = self.fetch((level, key) for keys in keyed for level, key in keys.items())
        now = self.clock()
        out = []
        for keys in keyed:
            for level, key in keys.items():
                floor = self._fresh_floor(items.get((level, key)), now)
                if floor is not None:
                    out.append((floor, level))
                    break
            else:
                out.append((self.static_floor, STATIC))
        return out


def floors_in_table(config: AppConfig, since: datetime | None = None) -> list[dict]:
    """Every floor item of the configured table (a full scan: for checks and replays, never the
    auction path), or those of windows that ended after `since`."""
    table = aws_client("dynamodb", config.floors.endpoint, config.floors.region)
    items, kwargs = [], {"TableName": config.floors.table_name}
    while True:
        page = table.scan(**kwargs)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    if since is None:
        return items
    # ISO-8601 UTC strings of one format compare in time order.
    since_text = since.strftime("%Y-%m-%dT%H:%M:%S")
    return [i for i in items if i["window_end"]["S"] > since_text]

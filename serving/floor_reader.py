"""What the ad server runs at auction time: a key lookup, never a model.

``FloorReader.floor_for(event)`` reads the fine floor (``domain|ad_unit|device|tier``), else
the coarse one (``format|inventory|device|tier``), else the static floor. Items whose
``expires_at`` (epoch seconds) is at or before now are skipped: DynamoDB deletes expired
items lazily and the local stand-in never does (DESIGN.md section 5), so the reader checks.
Keys are built by ``udfs.rules.segment_key``, the same function the job's SQL twin mirrors.

A lookup has a budget (``deadline_ms``, per reader and per call; DESIGN.md section 10): the
fine and coarse items are asked for in one round trip on a worker thread, and the caller waits
for it no longer than the budget. A store that is slow, down or failing gives the last coarse
floor this reader saw for the segment (while it has not expired), else the static floor: the
answer always says the level it came from. ``lookup_client`` builds the client the hot path
should use (no retries, tight timeouts), so abandoned lookups free their thread soon.
``floors_for`` (page batches and replays) waits without a budget unless given one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import datetime
from typing import Any

from flink_jobs.config import AppConfig
from udfs import rules
from udfs.aws import aws_client

LEVELS = (rules.FINE, rules.COARSE)
STATIC = "static"
BATCH_GET_MAX_KEYS = 100  # DynamoDB BatchGetItem limit
# The ad server's client gives up after 25 ms (BRIEF); a lookup must leave it time to decide.
DEFAULT_DEADLINE_MS = 10.0
# Coarse floors remembered for a slow store: 108 coarse segments exist, the bound only guards
# against free-text fields making up keys.
COARSE_MEMO_MAX = 4096
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


def lookup_client(endpoint: str | None, region: str | None, timeout_s: float = 0.2) -> Any:
    """A DynamoDB client for lookups under a budget: one attempt, short connect/read timeouts.
    The budget itself is kept by the reader; these only bound how long an abandoned call keeps
    its worker thread."""
    return aws_client("dynamodb", endpoint, region, max_attempts=0, connect_timeout=timeout_s,
                      read_timeout=timeout_s)


class FloorReader:
    """Floors from the DynamoDB table ``table`` through a boto3 DynamoDB ``client``.

    ``deadline_ms`` is the budget of one ``floor_for`` lookup (None: wait for the store, as
    replays and checks do); ``lookup_threads`` bounds the calls in flight to a slow store.
    ``FloorReader.for_auctions`` is the reader of the auction path: a budget by default.
    """

    def __init__(
        self,
        table: str,
        client: Any,
        static_floor: float = rules.STATIC_FLOOR_EUR,
        clock: Callable[[], float] = time.time,
        *,
        max_batch_retries: int = 5,
        deadline_ms: float | None = None,
        lookup_threads: int = 8,
    ):
        self.table = table
        self.client = client
        self.static_floor = static_floor
        self.clock = clock
        self.max_batch_retries = max_batch_retries
        self.deadline_ms = deadline_ms
        self._workers = ThreadPoolExecutor(max_workers=lookup_threads, thread_name_prefix="floor-lookup")
        # coarse key -> (floor_eur, expires_at) of the last coarse item the store returned.
        self._coarse_memo: dict[str, tuple[float, float]] = {}
        self.late_lookups = 0  # over budget: answered from memory or the static floor
        self.failed_lookups = 0  # the store answered with an error

    @classmethod
    def for_auctions(
        cls,
        table: str,
        endpoint: str | None,
        region: str | None,
        static_floor: float = rules.STATIC_FLOOR_EUR,
        *,
        deadline_ms: float = DEFAULT_DEADLINE_MS,
        timeout_s: float = 0.2,
        **options: Any,
    ) -> FloorReader:
        """A reader for the auction path: ``deadline_ms`` per lookup (the caller's property),
        on a ``lookup_client``."""
        return cls(table, lookup_client(endpoint, region, timeout_s), static_floor, deadline_ms=deadline_ms,
                   **options)

    def close(self) -> None:
        self._workers.shutdown(wait=False, cancel_futures=True)

    def _fresh_floor(self, item: Mapping[str, Any] | None, now: float) -> float | None:
        if not item or "floor_eur" not in item:
            return None
        expires = item.get("expires_at")
        if expires is None or float(expires["N"]) <= now:  # no expiry = not trustworthy either
            return None
        return float(item["floor_eur"]["N"])

    def _remember_coarse(self, key: str, item: Mapping[str, Any] | None) -> None:
        if item is None or "floor_eur" not in item or "expires_at" not in item:
            self._coarse_memo.pop(key, None)  # the store has no floor: neither does memory
            return
        if key not in self._coarse_memo and len(self._coarse_memo) >= COARSE_MEMO_MAX:
            self._coarse_memo.pop(next(iter(self._coarse_memo)), None)  # oldest first
        self._coarse_memo[key] = (float(item["floor_eur"]["N"]), float(item["expires_at"]["N"]))

    def _remembered_coarse(self, key: str, now: float) -> float | None:
        floor, expires = self._coarse_memo.get(key, (None, 0.0))
        return floor if floor is not None and expires > now else None

    def _lookup(self, keys: Mapping[str, str]) -> dict[str, dict[str, Any]]:
        """The event's items by level, fine and coarse in one round trip. Keys the store left
        unprocessed (throttling) count as missing: the hot path does not wait to retry them."""
        request = {self.table: {"Keys": [{"level": {"S": lv}, "segment_key": {"S": k}} for lv, k in keys.items()],
                                **_PROJECTION}}
        response = self.client.batch_get_item(RequestItems=request)
        items = {item["level"]["S"]: item for item in response.get("Responses", {}).get(self.table, [])
                 if keys.get(item["level"]["S"]) == item["segment_key"]["S"]}
        # Also when the caller has given up: a slow store still keeps the coarse memory current.
        self._remember_coarse(keys[rules.COARSE], items.get(rules.COARSE))
        return items

    def floor_for(self, event: Mapping[str, Any], deadline_ms: float | None = None) -> tuple[float, str]:
        """(floor_eur, source) with source "fine", "coarse" or "static", within ``deadline_ms``
        (default: the reader's budget)."""
        started = time.monotonic()
        budget_ms = self.deadline_ms if deadline_ms is None else deadline_ms
        keys = segment_keys(event)
        now = self.clock()  # one instant for the whole decision
        items: dict[str, dict[str, Any]] | None = None
        if budget_ms is None:
            items = self._lookup(keys)
        else:
            future: Future = self._workers.submit(self._lookup, keys)
            try:
                items = future.result(timeout=max(0.0, budget_ms / 1000 - (time.monotonic() - started)))
            except FutureTimeout:
                future.cancel()  # still queued behind slow calls: never sent
                self.late_lookups += 1
            except Exception:  # noqa: BLE001 - a failing store means the fallback, never an error to the ad server
                self.failed_lookups += 1
        if items is None:
            floor = self._remembered_coarse(keys[rules.COARSE], now)
            return (floor, rules.COARSE) if floor is not None else (self.static_floor, STATIC)
        for level in LEVELS:
            floor = self._fresh_floor(items.get(level), now)
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

    def floors_for(
        self, events: Sequence[Mapping[str, Any]], deadline_ms: float | None = None
    ) -> list[tuple[float, str]]:
        """``floor_for`` for many events with one BatchGetItem per 100 distinct keys; one clock
        reading for the whole batch (an ad server resolving a page's slots at once). With a
        ``deadline_ms``, a store that does not answer in time gives every event its fallback."""
        started = time.monotonic()
        keyed = [segment_keys(e) for e in events]
        wanted = [(level, key) for keys in keyed for level, key in keys.items()]
        now = self.clock()
        items: dict[tuple[str, str], dict[str, Any]] | None = None
        if deadline_ms is None:
            items = self.fetch(wanted)
        else:
            future: Future = self._workers.submit(self.fetch, wanted)
            try:
                items = future.result(timeout=max(0.0, deadline_ms / 1000 - (time.monotonic() - started)))
            except FutureTimeout:
                future.cancel()
                self.late_lookups += 1
            except Exception:  # noqa: BLE001 - as in floor_for
                self.failed_lookups += 1
        out = []
        for keys in keyed:
            if items is None:
                floor = self._remembered_coarse(keys[rules.COARSE], now)
                out.append((floor, rules.COARSE) if floor is not None else (self.static_floor, STATIC))
                continue
            self._remember_coarse(keys[rules.COARSE], items.get((rules.COARSE, keys[rules.COARSE])))
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

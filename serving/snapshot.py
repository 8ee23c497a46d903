"""The in-process floors snapshot the API answers from (DESIGN.md section 10).

The whole floors table is read by a Scan (through ``udfs.aws.aws_client``) in a background
thread every ``refresh_interval_s``; each refresh builds a new ``Snapshot`` and then replaces the
one reference readers hold, so a reader sees either the old table or the new one, never a mix.
A failed refresh (DynamoDB down, a timeout) keeps the last snapshot and records the error: the
request path never calls DynamoDB and never waits on it. Floors whose ``expires_at`` is at or
before the request's instant are skipped at read time (DESIGN.md section 5), so a snapshot that
ages does not serve expired floors. ``derive`` (optional) turns each new snapshot's floors into a
read-only structure built in the refresh thread too (the API's Prebid index), swapped with it.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from serving.refresh import PeriodicRefresh
from udfs import rules

log = logging.getLogger(__name__)

STATIC = "static"
LEVELS = (rules.FINE, rules.COARSE)
DEFAULT_ARM = "champion"
CHALLENGER_ARM = "challenger"
ARMS = (DEFAULT_ARM, CHALLENGER_ARM)


@dataclass(frozen=True, slots=True)
class Floor:
    """One floor item of the table, decoded from DynamoDB's attribute-value form."""

    level: str
    segment_key: str
    floor_eur: float
    expires_at: float
    predicted_cpm_eur: float | None = None
    model_version: str | None = None
    window_start: str | None = None
    window_end: str | None = None
    data_points: int | None = None
    # The challenger arm's floor of the same window and its model (None: no challenger floor).
    challenger_floor_eur: float | None = None
    challenger_model_version: str | None = None

    def fresh(self, now: float) -> bool:
        return self.expires_at > now

    def for_arm(self, arm: str) -> tuple[str, float, str | None]:
        """(the arm that serves, its floor, its model version): the challenger's floor when `arm`
        is the challenger and this item has one, else the champion's."""
        if arm == CHALLENGER_ARM and self.challenger_floor_eur is not None:
            return CHALLENGER_ARM, self.challenger_floor_eur, self.challenger_model_version
        return DEFAULT_ARM, self.floor_eur, self.model_version


def _number(item: Mapping[str, Any], name: str) -> float | None:
    value = item.get(name)
    return float(value["N"]) if value and "N" in value else None


def _text(item: Mapping[str, Any], name: str) -> str | None:
    value = item.get(name)
    return value["S"] if value and "S" in value else None


def decode_item(item: Mapping[str, Any]) -> Floor | None:
    """A Floor from a DynamoDB item, or None when it cannot be served (no floor, no expiry:
    a floor without ``expires_at`` is not trusted, as in ``FloorReader``)."""
    level, key = _text(item, "level"), _text(item, "segment_key")
    floor, expires = _number(item, "floor_eur"), _number(item, "expires_at")
    if level not in LEVELS or key is None or floor is None or expires is None:
        return None
    points = _number(item, "data_points")
    challenger, challenger_version = _number(item, "challenger_floor_eur"), _text(item, "challenger_model_version")
    if challenger is None or challenger_version is None or not math.isfinite(challenger):
        challenger, challenger_version = None, None  # half a challenger floor is none
    return Floor(
        level=level, segment_key=key, floor_eur=floor, expires_at=expires,
        predicted_cpm_eur=_number(item, "predicted_cpm_eur"), model_version=_text(item, "model_version"),
        window_start=_text(item, "window_start"), window_end=_text(item, "window_end"),
        data_points=None if points is None else int(points),
        challenger_floor_eur=challenger, challenger_model_version=challenger_version,
    )


@dataclass(frozen=True)
class Snapshot:
    """An immutable view of the table at ``loaded_at`` (epoch s; None: nothing loaded yet)."""

    floors: Mapping[tuple[str, str], Floor] = field(default_factory=dict)
    loaded_at: float | None = None
    derived: Any = None  # what the holder's `derive` made of the floors (e.g. the Prebid index)

    @classmethod
    def build(cls, floors: Iterable[Floor], loaded_at: float,
              derive: Callable[[list[Floor]], Any] | None = None) -> Snapshot:
        by_key = {(f.level, f.segment_key): f for f in floors}
        return cls(by_key, loaded_at, derive(list(by_key.values())) if derive is not None else None)

    def get(self, level: str, key: str, now: float) -> Floor | None:
        """The fresh floor at (level, key), or None (absent or expired)."""
        floor = self.floors.get((level, key))
        return floor if floor is not None and floor.fresh(now) else None

    def model_versions(self) -> list[str]:
        return sorted({f.model_version for f in self.floors.values() if f.model_version})

    def challenger_model_versions(self) -> list[str]:
        return sorted({f.challenger_model_version for f in self.floors.values() if f.challenger_model_version})


def scan_items(client: Any, table: str) -> list[dict[str, Any]]:
    """Every item of the table, page by page (a consistent read is not needed: floors are upserts)."""
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": table}
    while True:
        page = client.scan(**kwargs)
        items += page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


class FloorsSnapshot(PeriodicRefresh):
    """Holds the current ``Snapshot`` and refreshes it from ``table`` through ``client``.

    ``current`` is read without a lock: replacing one reference is atomic in CPython, and the
    Snapshot it points to is never changed after it is built.
    """

    thread_name = "floors-snapshot"

    def __init__(
        self,
        table: str,
        client: Any,
        *,
        refresh_interval_s: float = 5.0,
        max_staleness_s: float = 60.0,
        clock: Callable[[], float] = time.time,
        derive: Callable[[list[Floor]], Any] | None = None,
    ):
        self.table = table
        self.derive = derive
        self.client = client
        self.refresh_interval_s = refresh_interval_s
        self.max_staleness_s = max_staleness_s
        self.clock = clock
        self.current = Snapshot()
        self.last_error: str | None = None
        self.refreshes = 0
        self.failures = 0

    def refresh(self) -> bool:
        """One Scan and swap; on any error keep the last snapshot and return False."""
        started = self.clock()
        try:
            items = scan_items(self.client, self.table)
            floors = [f for f in map(decode_item, items) if f is not None]
            snapshot = Snapshot.build(floors, loaded_at=started, derive=self.derive)
        except Exception as err:  # any failure keeps serving the last snapshot
            self.failures += 1
            self.last_error = f"{type(err).__name__}: {err}"
            log.warning("floors snapshot refresh failed, keeping the last one: %s", self.last_error)
            return False
        self.current = snapshot  # the swap: one reference
        self.refreshes += 1
        self.last_error = None
        return True

    def age_s(self, now: float | None = None) -> float | None:
        loaded = self.current.loaded_at
        return None if loaded is None else (self.clock() if now is None else now) - loaded

    def is_stale(self, now: float | None = None) -> bool:
        age = self.age_s(now)
        return age is None or age > self.max_staleness_s


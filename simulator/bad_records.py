"""Malformed auction records, each with the reason the job must give it.

One sample of every kind of bad input the job has to survive; the demo mixes
them into the traffic and the end-to-end tests check each lands in raw_errors/
with its own reason.
"""

from __future__ import annotations

import json
from typing import Any

from schemas.events import load_schema


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def bad_records(valid: dict[str, Any]) -> list[tuple[bytes, str]]:
    """(payload, expected reason) pairs derived from one valid event."""
    def variant(**changes: Any) -> dict[str, Any]:
        event = dict(valid)
        event["impression_id"] = f"{valid['impression_id']}-bad-{len(cases)}"
        for key, value in changes.items():
            if value is _DROP:
                event.pop(key, None)
            else:
                event[key] = value
        return event

    max_chars = int(load_schema()["x-max-record-chars"])
    cases: list[tuple[bytes, str]] = []
    cases.append((b"this is not json {", "NOT_JSON"))
    cases.append((_dumps([valid]), "NOT_AN_OBJECT"))
    cases.append((_dumps(variant(domain=_DROP)), "MISSING_FIELD:domain"))
    cases.append((_dumps(variant(bid_count="three")), "WRONG_TYPE:bid_count"))
    cases.append((_dumps(variant(filled="yes")), "WRONG_TYPE:filled"))
    cases.append((_dumps(variant(floor_price_eur="1.5")), "WRONG_TYPE:floor_price_eur"))
    cases.append((_dumps(variant(user_engagement_score=1.7)), "OUT_OF_RANGE:user_engagement_score"))
    cases.append((_dumps(variant(historical_ctr_avg=-0.1)), "OUT_OF_RANGE:historical_ctr_avg"))
    cases.append((_dumps(variant(device_category="smart-tv")), "UNKNOWN_VALUE:device_category"))
    cases.append((_dumps(variant(format="audio")), "UNKNOWN_VALUE:format"))
    cases.append((_dumps(variant(country="Spain")), "UNKNOWN_VALUE:country"))
    cases.append((_dumps(variant(event_time="2026-13-45T25:00:00.000Z")), "BAD_EVENT_TIME"))
    cases.append((_dumps(variant(event_time="yesterday")), "BAD_EVENT_TIME"))
    cases.append((_dumps(variant(event_time="2026-02-30T10:00:00.000Z")), "BAD_EVENT_TIME"))
    cases.append((_dumps(variant(filled=True, cpm_eur=None)), "MISSING_FIELD:cpm_eur"))
    cases.append((_dumps(variant(domain="x" * max_chars)), "OVERSIZED"))
    return cases


class _Drop:
    """Marker: remove the field."""


_DROP = _Drop()

"""Flink SQL for parsing and validating auction events, generated from the JSON schema.

The specification the connector's Java parser (`AUCTION_PARSE`, `AUCTION_EVENT_TIME`) is held
to: tests run both over thousands of mutated records and compare them record by record. The job
itself runs only the Java functions; this module exists for the tests and benchmarks.

Why the shapes below: in Flink 2.2 `JSON_VALUE(... RETURNING DOUBLE NULL ON
ERROR)` throws a ClassCastException on a JSON string such as "1.5" instead of
returning NULL, which would fail the job on one bad record. So every field is
first looked at as JSON text (`JSON_QUERY ... WITH ARRAY WRAPPER` gives `["x"]`,
`[1.5]`, `[true]`, `[{...}]`) to decide its type, and only then read as text
and cast with TRY_CAST.

Reasons are stable strings: OVERSIZED, NOT_JSON, NOT_AN_OBJECT,
MISSING_FIELD:<f> (absent or null), WRONG_TYPE:<f>, OUT_OF_RANGE:<f>, UNKNOWN_VALUE:<f>,
BAD_EVENT_TIME. The first failing check wins, in schema order.

What this SQL cannot say, and the Java parser does (`beyond_sql` names it for a record, so the
comparison tests set such records aside by name and check the Java reason instead):
* anything but whitespace after the object (NOT_JSON): Flink's IS JSON reads the first value only;
* a key of the event object written twice (DUPLICATE_KEY): Flink's JSON functions keep the last;
* an event time further ahead of the clock than Job.event.time.max.ahead (FUTURE_EVENT_TIME): it
  depends on when the record is read.
"""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, datetime

from schemas.events import Field, fields, load_schema, typed_column_names  # noqa: F401 - the tests read them here too

# ISO-8601 UTC with optional milliseconds, as the brief fixes it.
EVENT_TIME_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}([.][0-9]{1,3})?Z$"


def end_anchored(pattern: str) -> str:
    """A final `$` as JSON Schema (ECMA-262) means it, the end of the text: `\\z` in Java regex.

    Java's `$` also matches before a final line terminator ("ES\\n"); the Java parser does the same.
    """
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        return pattern[:-1] + "\\z"
    return pattern


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _wrapped(name: str) -> str:
    return f"JSON_QUERY(payload, '$.{name}' WITH ARRAY WRAPPER)"


def _text(name: str) -> str:
    return f"JSON_VALUE(payload, '$.{name}')"


def value_sql(field: Field) -> str:
    """The typed value of a field, NULL when absent or JSON null (only used once valid)."""
    if field.json_type == "string":
        return _text(field.name)
    if field.json_type == "boolean":
        return f"({_wrapped(field.name)} = '[true]')"
    return f"TRY_CAST({_text(field.name)} AS {field.sql_type})"


def _type_mismatch(field: Field) -> str:
    """True when the field is present with a non-null value of the wrong JSON type."""
    w = _wrapped(field.name)
    if field.json_type == "string":
        return f"{w} NOT LIKE '[\"%'"
    if field.json_type == "boolean":
        return f"{w} NOT IN ('[true]', '[false]')"
    if field.json_type == "integer":
        return f"NOT REGEXP({w}, '^\\[-?[0-9]+\\]$')"
    return f"NOT REGEXP({w}, '^\\[-?[0-9]')"


def _range_violation(field: Field) -> str | None:
    spec, value = field.spec, value_sql(field)
    if field.json_type == "integer":
        # Compared as DOUBLE, not INT: TRY_CAST(... AS INT) is NULL beyond the 32-bit range, and
        # a NULL comparison would let 2147483648 through any bound.
        value = f"TRY_CAST({_text(field.name)} AS DOUBLE)"
    checks = []
    if "minimum" in spec:
        checks.append(f"{value} < {spec['minimum']}")
    if "maximum" in spec:
        checks.append(f"{value} > {spec['maximum']}")
    if field.json_type == "string":
        if "minLength" in spec:
            checks.append(f"CHAR_LENGTH({value}) < {spec['minLength']}")
        if "maxLength" in spec:
            checks.append(f"CHAR_LENGTH({value}) > {spec['maxLength']}")
    return " OR ".join(checks) or None


def _value_violation(field: Field) -> str | None:
    spec, value = field.spec, value_sql(field)
    if "enum" in spec:
        return f"{value} NOT IN ({', '.join(_lit(v) for v in spec['enum'])})"
    if "pattern" in spec:
        return f"NOT REGEXP({value}, {_lit(end_anchored(spec['pattern']))})"
    return None


def event_time_sql() -> str:
    """TIMESTAMP(3) of a well-formed event_time, NULL otherwise.

    TO_TIMESTAMP is lenient (2026-02-30 becomes 2026-02-28, 24:00 the next day), so the
    parsed value must print back to the same seconds it was read from.
    """
    text = _text("event_time")
    spaced = f"REPLACE(REPLACE({text}, 'T', ' '), 'Z', '')"
    parsed = f"TO_TIMESTAMP({spaced})"
    return (
        f"CASE WHEN REGEXP({text}, {_lit(EVENT_TIME_PATTERN)}) "
        f"AND DATE_FORMAT({parsed}, 'yyyy-MM-dd HH:mm:ss') = SUBSTRING({spaced} FROM 1 FOR 19) "
        f"THEN {parsed} END"
    )


def reject_reason_sql(schema: dict | None = None) -> str:
    """A CASE expression over `payload`: the first reason it is rejected, NULL if valid."""
    schema = schema or load_schema()
    whens = [
        (f"CHAR_LENGTH(payload) > {int(schema['x-max-record-chars'])}", "OVERSIZED"),
        ("payload IS NOT JSON", "NOT_JSON"),
        ("payload IS NOT JSON OBJECT", "NOT_AN_OBJECT"),
    ]
    by_name = {f.name: f for f in fields(schema)}
    for field in by_name.values():
        name = field.name
        # JSON_EXISTS is false for a JSON null too: a required null field is MISSING_FIELD.
        present = f"JSON_EXISTS(payload, '$.{name}')"
        is_null = f"{_wrapped(name)} IS NULL"
        condition = field.spec.get("x-required-when")
        if field.required:
            whens.append((f"NOT {present}", f"MISSING_FIELD:{name}"))
        if condition:
            whens.append((f"{value_sql(by_name[condition])} AND {is_null}", f"MISSING_FIELD:{name}"))
        whens.append((f"{present} AND NOT {is_null} AND {_type_mismatch(field)}", f"WRONG_TYPE:{name}"))
        for check, reason in ((_range_violation(field), "OUT_OF_RANGE"), (_value_violation(field), "UNKNOWN_VALUE")):
            if check:
                whens.append((f"{present} AND NOT {is_null} AND ({check})", f"{reason}:{name}"))
        if field.spec.get("format") == "date-time":
            whens.append((f"{present} AND ({event_time_sql()}) IS NULL", "BAD_EVENT_TIME"))
    body = "\n    ".join(f"WHEN {cond} THEN {_lit(reason)}" for cond, reason in whens)
    return f"CASE\n    {body}\n    ELSE CAST(NULL AS STRING)\n  END"


def typed_columns_sql(schema: dict | None = None) -> list[str]:
    """`<expr> AS <name>` for every event field, in schema order (event_time excluded: it is the rowtime)."""
    return [f"{value_sql(f)} AS {f.name}" for f in fields(schema) if f.name != "event_time"]


# The rules beyond the SQL, and the reason the Java parser gives for each.
BEYOND_SQL = {
    "content after the value": "NOT_JSON",
    "duplicate key": "DUPLICATE_KEY",
    "future event time": "FUTURE_EVENT_TIME",
}
_WHITESPACE = " \t\r\n"


class _Pairs(list):
    """An object's (key, value) pairs as written, duplicates kept."""


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def beyond_sql(payload: str, now: datetime, max_ahead_ms: int) -> str | None:
    """The rule of BEYOND_SQL that the SQL above cannot express and this record breaks, or None.

    For the comparison tests: a record named here is set aside (and counted) rather than compared
    with the SQL; its Java reason is checked to be the rule's, or the SQL's when an earlier check
    fails too. Python's json is close to, not the same as, Jackson: a payload it cannot read is
    left to the plain comparison.
    """
    decoder = json.JSONDecoder(object_pairs_hook=_Pairs, parse_constant=_refuse_constant)
    text = payload.lstrip(_WHITESPACE)
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 20_000))  # records nest up to a few thousand levels
    try:
        value, end = decoder.raw_decode(text)
    except (ValueError, RecursionError):
        return None
    finally:
        sys.setrecursionlimit(limit)
    if text[end:].strip(_WHITESPACE):
        return "content after the value"
    if not isinstance(value, _Pairs):
        return None
    keys = [k for k, _ in value]
    if len(set(keys)) != len(keys):
        return "duplicate key"
    event_time = dict(value).get("event_time")
    if isinstance(event_time, str) and re.fullmatch(EVENT_TIME_PATTERN[1:-1], event_time):
        try:
            when = datetime.strptime(event_time[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
        except ValueError:
            return None  # not a real instant: BAD_EVENT_TIME for both
        millis = (event_time[20:-1] + "00")[:3] if event_time[19] == "." else "0"
        if int(when.timestamp()) * 1000 + int(millis) > now.timestamp() * 1000 + max_ahead_ms:
            return "future event time"
    return None

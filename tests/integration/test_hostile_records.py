"""The connector's validator against an independent reading of the event schema (DESIGN.md 11).

Hypothesis builds auction records and mutates them the way a broken or hostile producer would
(types, ranges, encodings, nesting, numbers at and beyond double and DynamoDB limits, NaN and
Infinity literals, text before or after the object, duplicate keys, control characters, huge
strings, event times in the future), and every record's Java verdict (RejectReasonValidator,
what AUCTION_PARSE and AUCTION_EVENT_TIME run) must be the reference's:

* `jsonschema`'s Draft 2020-12 validator over schemas/auction_event.schema.json, plus
* the rules JSON Schema cannot say, written once below (`beyond_json_schema`).

The validator is called through PyFlink's py4j gateway, with the connector jar on the job's
class path, on a batch of records per call (a Flink query per batch would cost seconds).
Derandomized: the same records on every run. Needs the jar: make jar
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import jsonschema
import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from flink_jobs.config import load_config
from flink_jobs.main import create_table_env
from schemas.events import load_schema

SCHEMA = load_schema()
MAX_CHARS = int(SCHEMA["x-max-record-chars"])
PROPERTIES = list(SCHEMA["properties"])
# The validator's clock is fixed: the future rule must not depend on when the test runs.
NOW = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
MAX_AHEAD = timedelta(minutes=5)
BATCH = int(os.environ.get("HOSTILE_BATCH", "40"))
EXAMPLES = int(os.environ.get("HOSTILE_EXAMPLES", "75"))
JAVA_INT = 2**31

# Jackson's limits (StreamReadConstraints defaults), which the parser inherits: they are the
# parser's, not the schema's, so the reference states them rather than the generator avoiding them.
MAX_NESTING = 1000
MAX_NUMBER_CHARS = 1000

# --------------------------------------------------------------------------- the reference


class _Pairs(list):
    """An object's (key, value) pairs as written: duplicates kept."""


class _Number(float):
    """A JSON number with the text it was written as (for the integer rule)."""

    text: str


class NotOneJsonText(ValueError):
    pass


def _number(text: str) -> float:
    if len(text) > MAX_NUMBER_CHARS:
        raise NotOneJsonText("number longer than the parser reads")
    try:
        exponent = Decimal(text).as_tuple().exponent
    except InvalidOperation as err:
        raise NotOneJsonText(text) from err
    if not isinstance(exponent, int) or not -JAVA_INT <= exponent < JAVA_INT:
        raise NotOneJsonText("exponent beyond a Java BigDecimal's scale")
    value = _Number(float(text))
    value.text = text
    return value


def _constant(name: str) -> None:
    raise NotOneJsonText(f"{name} is not JSON")


def _depth(text: str) -> int:
    """Deepest nesting of arrays and objects (strings left out)."""
    deepest = depth = 0
    for ch in re.sub(r'"(?:[^"\\]|\\.)*"', '""', text):
        if ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def _plain(value: Any) -> Any:
    """Objects as dicts (nested duplicates: the last wins, as they are not checked)."""
    if isinstance(value, _Pairs):
        return {k: _plain(v) for k, v in value}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _ecma_pattern(pattern: str) -> str:
    """JSON Schema patterns are ECMA-262: `$` is the end of the text (Python's `\\Z`)."""
    return pattern[:-1] + r"\Z" if pattern.endswith("$") and not pattern.endswith(r"\$") else pattern


_EVENT_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,3})?Z")


def beyond_json_schema(payload: str) -> tuple[Any, str | None]:
    """The rules JSON Schema cannot say: (the event as dicts, or None; why it breaks one, or None)."""
    if len(payload) > MAX_CHARS:  # code points
        return None, "x-max-record-chars"
    text = payload.lstrip(" \t\r\n")
    if _depth(text) > MAX_NESTING:
        return None, "nested deeper than the parser reads"
    decoder = json.JSONDecoder(object_pairs_hook=_Pairs, parse_float=_number, parse_int=_number,
                               parse_constant=_constant)
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 20_000))  # records nest up to MAX_NESTING levels
    try:
        value, end = decoder.raw_decode(text)
        return _check_event(value, text[end:])
    except ValueError:
        return None, "not JSON"
    finally:
        sys.setrecursionlimit(limit)


def _check_event(value: Any, after: str) -> tuple[Any, str | None]:
    if after.strip(" \t\r\n"):
        return None, "not one JSON text: something after the value"
    if not isinstance(value, _Pairs):
        return None, "not an object"
    keys = [k for k, _ in value]
    if len(keys) != len(set(keys)):
        return None, "duplicate key"
    event = _plain(value)
    condition = {name: spec["x-required-when"] for name, spec in SCHEMA["properties"].items()
                 if "x-required-when" in spec}
    for name, when in condition.items():
        if event.get(when) is True and event.get(name) is None:
            return event, f"x-required-when: {name}"
    for name, spec in SCHEMA["properties"].items():
        v = event.get(name)
        # 2.0 and 1e3 are not written as integers (Decimal exponent 0: 1.5e1 is 15)
        if "integer" in spec["type"] and isinstance(v, _Number) and Decimal(v.text).as_tuple().exponent != 0:
            return event, f"integer written with a fraction or exponent: {name}"
        if "pattern" in spec and isinstance(v, str) and not re.search(_ecma_pattern(spec["pattern"]), v):
            return event, f"pattern (ECMA end anchor): {name}"
        if spec.get("format") == "date-time" and isinstance(v, str):
            if not _EVENT_TIME.fullmatch(v):
                return event, "event_time not yyyy-MM-ddTHH:mm:ss[.SSS]Z"
            try:
                when = datetime.strptime(v[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
            except ValueError:
                return event, "event_time not a real calendar date and time"
            millis = int((v[20:-1] + "00")[:3]) if v[19] == "." else 0
            if when + timedelta(milliseconds=millis) > NOW + MAX_AHEAD:
                return event, "event_time too far ahead"
    return event, None


_SCHEMA_VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def reference_accepts(payload: str) -> tuple[bool, str]:
    event, broken = beyond_json_schema(payload)
    if broken:
        return False, broken
    error = jsonschema.exceptions.best_match(_SCHEMA_VALIDATOR.iter_errors(event))
    return error is None, error.message[:120] if error else "valid"


# --------------------------------------------------------------------------- the records


class Raw:
    """JSON text written as is."""

    def __init__(self, text: str) -> None:
        self.text = text


def encode(pairs: list[tuple[Any, Any]], ascii_only: bool) -> str:
    def one(v: Any) -> str:
        if isinstance(v, Raw):
            return v.text
        if isinstance(v, list):
            return "[" + ",".join(one(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{" + ",".join(f"{one(k)}:{one(x)}" for k, x in v.items()) + "}"
        return json.dumps(v, ensure_ascii=ascii_only)
    text = "{" + ",".join(f"{one(k)}:{one(v)}" for k, v in pairs) + "}"
    try:
        text.encode("utf-8")  # what a producer can put on the stream (and py4j can send)
    except UnicodeEncodeError:  # a lone surrogate can only be written escaped
        return encode(pairs, ascii_only=True)
    return text


HOSTILE_NUMBERS = [
    "1e400", "-1e400", "1e200", "1e126", "-1e126", "1e-400", "NaN", "Infinity", "-Infinity", "nan", "inf",
    "10000", "10000.0", "10000.000000000001", "10000.01", "9999.999", "100", "100.5", "1000", "1001", "1.001e3",
    "2147483647", "2147483648", "-2147483649", "9223372036854775808", "1" + "0" * 400, "0." + "0" * 300 + "1",
    "-0", "-0.0", "0e0", "2.0", "1e3", "1.5e1", "1.0e1", "0.1e1", "01", "+1", ".5", "1.", "0x10", "1e2147483648",
    "-1", "0", "1", "0.5", "1.0000000000000002", "1E+2", "-1e-7",
]
HOSTILE_STRINGS = [
    "", " ", "DE", "de", "DE\n", "DE\r\n", "DE\u2028", "DE\u0085", "\nDE", "ＤＥ", "mobile", "Mobile", "banner",
    "premium", "1.5", "true", "null", "ñandú", "😀", "\u0000", "\x1f", "\ud800", "x\udfffy", "a\"b", "a\\b",
    "2026-11-25T13:59:59.999Z",
]
EVENT_TIMES = [
    "2026-11-25T14:05:00.000Z", "2026-11-25T14:05:00.001Z", "2026-11-25T14:04:59Z", "9999-12-31T23:59:59.999Z",
    "2026-02-30T00:00:00Z", "2026-11-25T24:00:00Z", "2026-11-25T23:59:60Z", "0000-01-01T00:00:00Z",
    "0001-01-01T00:00:00Z", "2024-02-29T00:00:00Z", "2026-11-25T14:00:00.1234Z", "2026-11-25T14:00:00+00:00",
    "2026-11-25T14:00:00Z\n", "2026-11-25 14:00:00Z", "2026-11-25t14:00:00z", "yesterday",
]
BEFORE = ["", " ", "\t\r\n", "\ufeff", "x", "[", "{}", "\u00a0", "\x00", "//"]
AFTER = ["", " ", "\n", "x", "}", "]", ",", "{}", " {}", "null", "\x00", "\u2028", "/* */", "#"]


@st.composite
def valid_events(draw: st.DrawFn) -> dict[str, Any]:
    """Records the schema accepts (the generator's own reading, not the parser's)."""
    price = st.floats(0, 10_000, allow_nan=False)
    bids = draw(st.integers(0, 1_000))
    filled = draw(st.booleans())
    event = {
        "impression_id": draw(st.text(min_size=1, max_size=128)),
        "event_time": (NOW - draw(st.timedeltas(timedelta(0), timedelta(days=3650)))).strftime(
            "%Y-%m-%dT%H:%M:%S.%f")[:23] + "Z",
        "country": draw(st.from_regex(r"\A[A-Z]{2}\Z")),
        "device_category": draw(st.sampled_from(["mobile", "tablet", "desktop"])),
        "format": draw(st.sampled_from(["banner", "video", "native", "interstitial"])),
        "inventory_type": draw(st.sampled_from(["premium", "standard", "remnant"])),
        "domain": draw(st.text(min_size=1, max_size=253)),
        "ad_unit": draw(st.text(min_size=1, max_size=128)),
        "bidder": draw(st.text(min_size=1, max_size=64)),
        "demand_channel": draw(st.text(min_size=1, max_size=64)),
        "user_engagement_score": draw(st.floats(0, 1)),
        "device_performance_score": draw(st.floats(0, 100)),
        "historical_ctr_avg": draw(st.floats(0, 1)),
        "floor_price_eur": draw(price),
        "bid_count": bids,
        "top_bid_eur": draw(st.none() | price),
        "second_bid_eur": draw(st.none() | price),
        "filled": filled,
        "cpm_eur": draw(price) if filled else draw(st.none() | price),
    }
    return {k: v for k, v in event.items() if v is not None or draw(st.booleans())}


def hostile_values() -> st.SearchStrategy[Any]:
    scalars = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
               | st.text(max_size=20) | st.sampled_from(HOSTILE_STRINGS)
               | st.sampled_from(HOSTILE_NUMBERS).map(Raw))
    nested = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5),
                                                                                              inner, max_size=3),
                          max_leaves=6)
    return (scalars | nested | st.sampled_from(EVENT_TIMES)
            | st.integers(0, MAX_CHARS + 10).map(lambda n: "x" * n)
            | st.sampled_from([998, 999, 1000, 1001]).map(lambda d: Raw("[" * d + "]" * d)))


@st.composite
def hostile_records(draw: st.DrawFn) -> str:
    pairs: list[tuple[Any, Any]] = list(draw(valid_events()).items())
    for _ in range(draw(st.integers(0, 3))):
        key = draw(st.sampled_from(PROPERTIES + ["extra"]))
        op = draw(st.sampled_from(["replace", "replace", "replace", "drop", "duplicate", "escaped key", "time"]))
        if op == "drop":
            pairs = [p for p in pairs if p[0] != key]
        elif op == "duplicate":
            pairs.append((key, draw(hostile_values())))
        elif op == "escaped key":  # the same key, written with a \\u escape: still a duplicate when added
            pairs.append((Raw(json.dumps(key).replace(key[0], f"\\u{ord(key[0]):04x}", 1)), draw(hostile_values())))
        else:
            value = draw(st.sampled_from(EVENT_TIMES)) if op == "time" else draw(hostile_values())
            key = "event_time" if op == "time" else key
            if any(k == key for k, _ in pairs):
                pairs = [(k, value if k == key else v) for k, v in pairs]
            else:
                pairs.append((key, value))
    text = encode(pairs, ascii_only=draw(st.booleans()))
    if draw(st.integers(0, 9)) == 0:  # a raw control character inside a string
        at = text.find('":"')
        if at > 0:
            text = text[: at + 3] + draw(st.sampled_from(["\x00", "\x01", "\n", "\t", "\x7f"])) + text[at + 3:]
    if draw(st.integers(0, 4)) == 0:
        text = draw(st.sampled_from(BEFORE)) + text + draw(st.sampled_from(AFTER))
    return text


# --------------------------------------------------------------------------- the test


@pytest.fixture(scope="module")
def java_validator() -> Any:
    """A RejectReasonValidator in the job's JVM (connector jar on the class path), clock fixed at NOW."""
    create_table_env(load_config(), on_msf=False)  # puts the jar on the context class loader
    from pyflink.java_gateway import get_gateway

    jvm = get_gateway().jvm
    validation = getattr(jvm.com.ssmas, "yield").connectors.validation  # `yield` is a Python keyword
    clock = jvm.java.time.Clock.fixed(jvm.java.time.Instant.parse(NOW.strftime("%Y-%m-%dT%H:%M:%SZ")),
                                      jvm.java.time.ZoneOffset.UTC)
    return validation.RejectReasonValidator(validation.EventSchema.fromClasspath(),
                                            int(MAX_AHEAD.total_seconds() * 1000), clock)


REASONS = re.compile(r"OVERSIZED|NOT_JSON|NOT_AN_OBJECT|DUPLICATE_KEY|BAD_EVENT_TIME|FUTURE_EVENT_TIME|"
                     r"(MISSING_FIELD|WRONG_TYPE|OUT_OF_RANGE|UNKNOWN_VALUE):(" + "|".join(PROPERTIES) + ")")


def test_java_verdicts_match_the_schema_on_hostile_records(java_validator):
    from pyflink.java_gateway import get_gateway

    gateway = get_gateway()
    seen = {"records": 0, "accepted": 0}
    by_reason: dict[str, int] = {}
    differ: list[str] = []

    # No shrinking: a batch is 40 records, a mismatch is reported with its record as found.
    @settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
              phases=[Phase.explicit, Phase.generate],
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example])
    @given(st.lists(hostile_records(), min_size=BATCH, max_size=BATCH))
    def check(records: list[str]) -> None:
        payloads = gateway.new_array(gateway.jvm.String, len(records))
        for i, record in enumerate(records):
            payloads[i] = record
        reasons = list(java_validator.rejectReasons(payloads))  # never throws: one reason or None each
        for record, reason in zip(records, reasons, strict=True):
            accepted, why = reference_accepts(record)
            if (reason is None) != accepted:
                differ.append(f"java={reason!r} reference={'accepts' if accepted else 'rejects: ' + why} "
                              f"record={record[:400]!r}")
            assert reason is None or REASONS.fullmatch(reason), reason
            seen["records"] += 1
            seen["accepted"] += reason is None
            by_reason[(reason or "accepted").split(":")[0]] = by_reason.get((reason or "accepted").split(":")[0], 0) + 1

    started = time.monotonic()
    check()
    print(f"\nhostile records: {seen['records']} checked ({seen['accepted']} accepted) in "
          f"{time.monotonic() - started:.1f} s; by reason: {dict(sorted(by_reason.items()))}")
    assert not differ, f"{len(differ)} verdicts differ:\n" + "\n".join(differ[:15])
    assert seen["records"] >= EXAMPLES * BATCH
    assert seen["accepted"] >= 0.1 * seen["records"], "the generator must also make valid records"


# --------------------------------------------------------------------------- the watermark


@pytest.mark.e2e
def test_a_shard_of_rejected_records_does_not_stop_windows_closing(job_config, tmp_path):
    """The real job over kinesis-local: shards 0-2 carry three windows of valid auctions, shard 3
    only invalid records and one dated a day ahead, and keeps receiving invalid ones (so it never
    goes idle). The first two windows must close while the job runs, not only at the drain."""
    from flink_jobs.pipeline import kinesis_source_options
    from local_runs.runner import start_job
    from tests.support.e2e_scenario import known_events, wait_for
    from training import lake
    from udfs.aws import aws_client

    kinesis = aws_client("kinesis", job_config.stream.endpoint, job_config.stream.region)
    arn = job_config.stream.stream_arn
    shards = sorted(kinesis.list_shards(StreamARN=arn)["Shards"],
                    key=lambda s: int(s["HashKeyRange"]["StartingHashKey"]))
    keys = [s["HashKeyRange"]["StartingHashKey"] for s in shards]
    rejected_shard = keys[-1]

    def put(payload: str, hash_key: str) -> None:
        kinesis.put_record(StreamARN=arn, Data=payload.encode(), PartitionKey="p", ExplicitHashKey=hash_key)

    t0 = datetime.now(UTC).replace(microsecond=0, tzinfo=None) - timedelta(minutes=5)
    t0 -= timedelta(seconds=t0.second % 10)
    events = known_events(t0)
    for i, event in enumerate(events):
        put(json.dumps(event), keys[i % (len(keys) - 1)])
    future = dict(events[0], impression_id="future-1",
                  event_time=(datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z"))
    put(json.dumps(future), rejected_shard)
    put("not json", rejected_shard)

    job = start_job(job_config, kinesis_source_options(job_config), tmp_path / "job")
    try:
        job.wait_running()
        window_starts = {t0 + timedelta(seconds=10 * w) for w in range(2)}

        def first_windows_closed() -> bool:
            put('{"impression_id": 1}', rejected_shard)  # shard 3 keeps receiving: never idle
            time.sleep(2)
            features = lake.read(job_config.lake.path, "features")
            if len(features) == 0:
                return False
            closed = {ts.to_pydatetime().replace(tzinfo=None) for ts in pd.to_datetime(features["window_start"])}
            return window_starts <= closed

        wait_for(first_windows_closed, 90, "the first two windows closed while shard 3 carries only rejects", job)
        wait_for(lambda: "FUTURE_EVENT_TIME" in set(lake.read(job_config.lake.path, "raw_errors").get("reason", [])),
                 30, "the future-dated record quarantined in raw_errors", job)
    finally:
        job.cancel()

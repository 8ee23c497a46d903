"""AUCTION_REJECT_REASON (the Java UDF in the connector jar) against the generated SQL validation.

The SQL CASE of tests/support/validation_sql.py is the specification. One Flink query over a file of
records computes both, the SQL reason (view checked_events) and the function's, for:

* every record of tests/integration/test_validation.py (valid edges, MORE_BAD, bad_records(VALID));
* about 2,400 seeded mutations of valid events: fields dropped, set to null, given values of
  other types, boundary and odd numbers written as raw JSON text (-0, 2.0, 1e3, 1E+3, 1e400,
  2147483648...), odd strings (quotes, backslashes, unicode, line separators, lengths at the
  limits in code points), nested values, duplicate keys, escaped keys, event_time variants
  and random dates;
* whole-payload oddities: not JSON, JSON scalars and arrays, trailing text, deep nesting,
  oversized records.

Records that break a rule the SQL cannot express (validation_sql.BEYOND_SQL: content after the
object, a duplicate key, an event time too far ahead) are set aside by name and counted, and
their Java reason is checked against the rule instead of the SQL.

Needs the jar: make jar
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from typing import Any

import pytest
from pyflink.table import TableEnvironment

from flink_jobs import pipeline
from flink_jobs.config import load_config
from flink_jobs.main import create_table_env
from simulator.bad_records import bad_records
from simulator.events import encode, generate_events
from tests.integration.test_validation import MORE_BAD, VALID, VALID_EDGES
from tests.support import validation_sql as validation

MUTATIONS = 2_400  # about 2,000 left for the SQL comparison once BEYOND_SQL records are set aside
SEED = 20261125
MAX_CHARS = int(validation.load_schema()["x-max-record-chars"])


class Raw:
    """JSON text written as is (numbers exactly as typed, nested garbage)."""

    def __init__(self, text: str) -> None:
        self.text = text


def to_json(pairs: list[tuple[str, Any]], ascii_only: bool = True) -> str:
    """An object from (key, value) pairs: keys may repeat, keys and values may be Raw."""
    def enc(v: Any) -> str:
        return v.text if isinstance(v, Raw) else json.dumps(v, ensure_ascii=ascii_only)
    text = "{" + ",".join(f"{enc(k)}:{enc(v)}" for k, v in pairs) + "}"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate can only be written escaped
        return to_json(pairs, ascii_only=True)
    return text


def _nested(depth: int) -> Raw:
    return Raw("[" * depth + "]" * depth)


NUMBERS = [  # valid JSON, written exactly so
    "0", "-0", "1", "-1", "2", "0.5", "1.0", "2.0", "-0.0", "0.0", "1e3", "1E3", "1e+3", "1E-3", "1e0", "0e0",
    "-0e0", "5e0", "1.5e1", "1.0e1", "-3e0", "2.50e1", "120e-1", "0E+5", "2e9", "3.0e9", "2147483647e0",
    "1.5e-1", "1e400", "-1e400", "1e-400", "1.0000000000000002", "0.9999999999999999999999", "1.00000000000000000001",
    "2147483647", "2147483648", "-2147483648", "-2147483649", "9223372036854775807", "9223372036854775808",
    "123456789012345678901234567890", "-123456789012345678901234567890", "12345678901234567890.5",
    "1" + "0" * 400, "1" + "0" * 999, "0." + "0" * 400 + "1", "1e2147483647",
]
RAW_NUMBERS = NUMBERS + ["1" + "0" * 1000, "1e9999999999", "01", "1.", ".5", "+1", "-", "NaN", "Infinity", "0x10"]
ODD_STRINGS = [
    "", " ", "x", "ES", "es", "Es", "ESP", "E", "ES\n", "ES\r\n", "ES\u2028", "ES\u0085", "\nES", " ES", "ES ",
    "mobile", "Mobile", "mobile ", "tablet", "desktop", "banner", "video", "native", "interstitial", "audio",
    "premium", "standard", "remnant", "1.5", "3", "true", "null", "{}", "[]", 'quo"te', "back\\slash", "tab\there",
    "ñandú", "日本", "😀", "a😀b", "\u2028", "\u0085", "\u0000", "\ud800", "\udfff", "\ud83d", "x\ud800y",
    "2026-11-23T20:15:30.250Z",
]
ODD_VALUES: list[Any] = [None, True, False, {}, [], {"v": 1}, [1], ["ES"], [True], [None], {"a": {"b": [1, 2]}},
                         _nested(3), *[Raw(n) for n in NUMBERS], *ODD_STRINGS]
EVENT_TIMES = [
    "2026-11-23T20:15:30.250Z", "2026-11-23T20:15:30Z", "2026-11-23T20:15:30.2Z", "2026-11-23T20:15:30.25Z",
    "2026-11-23T20:15:30.2500Z", "2026-11-23T20:15:30.Z", "2026-11-23T20:15:30.250z", "2026-11-23t20:15:30.250Z",
    "2026-11-23T20:15:30.250", "2026-11-23T20:15:30.250+00:00", "2026-11-23 20:15:30.250Z",
    "2026-11-23T20:15:30.250Z\n", "2026-11-23T20:15:30.250Z\r\n", "2026-11-23T20:15:30.250Z\r",
    "2026-11-23T20:15:30.250Z\u2028", "2026-11-23T20:15:30.250Z\u2029", "2026-11-23T20:15:30.250Z\u0085",
    "2026-11-23T20:15:30Z\n",
    "\n2026-11-23T20:15:30.250Z", " 2026-11-23T20:15:30.250Z", "2026-11-23T20:15:30.250Z ",
    "2026-11-23T24:00:00Z", "2026-11-23T24:00:00.000Z", "2026-11-23T23:59:60Z", "2026-11-23T23:60:00Z",
    "2026-11-23T25:00:00Z", "2026-02-29T10:00:00Z", "2028-02-29T10:00:00Z", "2028-02-30T10:00:00Z",
    "2100-02-29T00:00:00Z", "2000-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "1600-02-29T00:00:00Z",
    "2026-04-31T00:00:00Z", "2026-06-30T00:00:00Z", "2026-12-31T23:59:59.999Z", "2026-00-10T00:00:00Z",
    "2026-13-01T00:00:00Z", "2026-11-00T00:00:00Z", "2026-11-32T00:00:00Z", "0000-01-01T00:00:00Z",
    "0001-01-01T00:00:00Z", "0999-12-31T23:59:59Z", "1000-01-01T00:00:00Z", "1582-10-04T00:00:00Z",
    "1582-10-10T00:00:00Z", "1582-10-15T00:00:00Z", "1969-12-31T23:59:59.999Z", "1970-01-01T00:00:00Z",
    "9999-12-31T23:59:59.999Z", "２０２６-11-23T20:15:30Z", "2026-11-23T20:15:30.250ZZ", "2026-1-23T20:15:30Z",
    "20261123T201530Z", "yesterday", "", "TZ",
]


def _random_event_time(rng: random.Random) -> str:
    year = rng.choice([0, 1, 999, 1582, 1600, 1900, 1969, 1970, 2000, 2024, 2026, 2100, 9999, rng.randint(0, 9999)])
    parts = (year, rng.randint(0, 13), rng.randint(0, 32), rng.randint(0, 25), rng.randint(0, 61), rng.randint(0, 61))
    frac = rng.choice(["", ".0", ".12", ".999", ".1234"])
    return "{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}".format(*parts) + frac + "Z"


def _string_at_length(rng: random.Random, n: int) -> str:
    """n code points, sometimes with characters outside the BMP (two UTF-16 units each)."""
    alphabet = rng.choice(["a", "añ", "a😀", "😀"])
    return "".join(rng.choice(alphabet) for _ in range(n))


def mutate(rng: random.Random, base: dict[str, Any]) -> str:
    pairs: list[tuple[Any, Any]] = list(base.items())
    names = list(validation.load_schema()["properties"])
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        op = rng.random()
        key = rng.choice(names)
        if 0.30 <= op < 0.55:  # an event_time variant replaces event_time (no accidental duplicate key)
            key = "event_time"
        idx = next((i for i, (k, _) in enumerate(pairs) if k == key), None)
        if op < 0.10:
            pairs = [p for p in pairs if p[0] != key]
        elif op < 0.20:
            pairs = [(k, None if k == key else v) for k, v in pairs]
        elif op < 0.27:  # duplicate key: the later one is the value
            pairs.append((key, rng.choice(ODD_VALUES + [base.get(key)])))
        elif op < 0.30:  # the same key written with an escape
            pairs = [(Raw(json.dumps(k).replace("e", "\\u0065", 1)) if k == key else k, v) for k, v in pairs]
        elif op < 0.45:
            pairs.append(("event_time", rng.choice(EVENT_TIMES)))
        elif op < 0.55:
            pairs.append(("event_time", _random_event_time(rng)))
        elif op < 0.65:  # strings at their length limits
            spec = validation.load_schema()["properties"][key]
            limit = spec.get("maxLength", spec.get("minLength"))
            if limit is not None:
                pairs.append((key, _string_at_length(rng, limit + rng.choice([-1, 0, 1]))))
            else:
                pairs.append((key, rng.choice(ODD_STRINGS)))
        elif op < 0.80:
            pairs.append((key, Raw(rng.choice(RAW_NUMBERS))))
        elif op < 0.95:
            pairs.append((key, rng.choice(ODD_VALUES)))
        else:  # an unknown field, sometimes deep
            pairs.insert(rng.randint(0, len(pairs)), ("extra", rng.choice([_nested(rng.choice([5, 999, 1000, 1001])),
                                                                           {"k": "v"}, "x", Raw("1e9999999999")])))
        if idx is not None and pairs and pairs[-1][0] == key and op >= 0.30:
            # a replaced value: keep it where the field was, drop the duplicate at the end
            value = pairs.pop()[1]
            pairs = [(k, value if k == key else v) for k, v in pairs]
    return to_json(pairs, ascii_only=rng.random() < 0.5)


def whole_payload_cases(valid: str) -> list[str]:
    body = valid[1:-1]
    return [
        "null", "true", "1", "1.5", '"x"', "[]", "[1]", "{}", "{ }", " {}", "{} ", "{}x", "{} x", valid + " trailing",
        valid + "}", valid + "]", valid + valid, valid[:-1], valid[:-5], "[" + valid + "]", '"' + valid + '"',
        "{" + body, "{" + body + ",}", "{" + body + ",,}", "{," + body + "}", "{'a': 1}", "{a: 1}", "\ufeff" + valid,
        "\u00a0" + valid, "\t" + valid, "1e9999999999", "-", "nul", "tru", "[1,]", "[1 2]", '{"a" 1}', "{1: 2}",
        "{" + body + ',"extra":' + "[" * 999 + "]" * 999 + "}",
        "{" + body + ',"extra":' + "[" * 1000 + "]" * 1000 + "}",
        "{" + body + ',"extra":' + "[" * 1001 + "]" * 1001 + "}",
        "[" * 1000 + "]" * 1000, "[" * 1001 + "]" * 1001, "[" * 4000 + "]" * 4000,
        "{" + body + ',"extra":"' + "x" * (MAX_CHARS - len(valid) - 11) + '"}',  # exactly MAX_CHARS
        "{" + body + ',"extra":"' + "x" * (MAX_CHARS - len(valid) - 10) + '"}',  # one over
        "{" + body + ',"extra":"' + "😀" * (MAX_CHARS - len(valid) - 11) + '"}',  # MAX_CHARS code points
        "{" + body + ',"extra":"' + "😀" * (MAX_CHARS - len(valid) - 10) + '"}',
        "x" * (MAX_CHARS + 1), "😀" * MAX_CHARS,
    ]


def all_records() -> list[str]:
    rng = random.Random(SEED)
    fixed = [json.dumps(e) for e in VALID_EDGES]
    fixed += [p.decode() for p, _ in bad_records(VALID)]
    fixed += [json.dumps(e) for e, _ in MORE_BAD]
    bases = list(VALID_EDGES) + [json.loads(encode(e)) for e in generate_events(20, seed=7)]
    fixed += whole_payload_cases(json.dumps(VALID, separators=(",", ":")))
    mutated = [mutate(rng, rng.choice(bases)) for _ in range(MUTATIONS)]
    records = list(dict.fromkeys(fixed + mutated))  # unique, in order
    assert all("\n" not in r for r in records), "the file source splits records at newlines"
    return records


def _table_env() -> TableEnvironment:
    """The job's own environment (connector jar loaded) with the Java functions registered."""
    t_env = create_table_env(load_config(), on_msf=False)
    t_env.get_config().set("parallelism.default", "1")
    pipeline.register_functions(t_env)
    return t_env


@pytest.fixture(scope="module")
def parsed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """payload -> the SQL reference and the job's Java-parsed columns, for every record, from one query.

    Reference columns are prefixed `sql_`; the others are what the job's checked_events view gives
    (AUCTION_PARSE for the reason and the typed fields, AUCTION_EVENT_TIME for the event time).
    """
    records = all_records()
    path = tmp_path_factory.mktemp("validation_udf") / "records.jsonl"
    path.write_text("\n".join(records) + "\n", encoding="utf-8")
    t_env = _table_env()
    t_env.execute_sql(pipeline.auction_stream_ddl(pipeline.file_source_options(path.as_uri()), 5_000))
    pipeline.register_views(t_env, load_config())
    names = validation.typed_column_names()
    # Timestamps compared as text: PyFlink cannot hand year 0001 to Python's datetime.
    reference = [f"{validation.reject_reason_sql()} AS sql_reject_reason",
                 f"CAST({validation.event_time_sql()} AS STRING) AS sql_event_time"]
    reference += [sql.replace(f" AS {name}", f" AS sql_{name}") for sql, name in
                  zip(validation.typed_columns_sql(), names, strict=True)]
    columns = ["payload", "reject_reason", "event_time", *names]
    selected = ", ".join("CAST(event_time AS STRING)" if c == "event_time" else c for c in columns)
    query = f"SELECT {selected}, {', '.join(reference)} FROM checked_events"
    got = {}
    with t_env.execute_sql(query).collect() as rows:
        for row in rows:
            values = list(row)
            got[values[0]] = dict(zip(columns + ["sql_reject_reason", "sql_event_time"] + [f"sql_{n}" for n in names],
                                      values, strict=True))
    assert set(got) == set(records), "a record was lost or changed on the way"
    return got


# When the query ran, for the FUTURE_EVENT_TIME rule (the job's default tolerance).
_READ_AT = datetime.now(UTC)


@pytest.fixture(scope="module")
def set_aside(parsed: dict[str, dict[str, Any]]) -> dict[str, str]:
    """payload -> the rule beyond the SQL it breaks (validation_sql.BEYOND_SQL)."""
    max_ahead = load_config().job.event_time_max_ahead_ms
    rules = {p: validation.beyond_sql(p, _READ_AT, max_ahead) for p in parsed}
    return {p: rule for p, rule in rules.items() if rule}


@pytest.fixture(scope="module")
def compared(parsed: dict[str, dict[str, Any]], set_aside: dict[str, str]) -> dict[str, tuple[str | None, str | None]]:
    """payload -> (SQL reason, the job's reason), for the records the SQL can judge."""
    return {p: (row["sql_reject_reason"], row["reject_reason"]) for p, row in parsed.items() if p not in set_aside}


def test_records_beyond_the_sql_get_the_java_rule_reason(parsed, set_aside):
    by_rule: dict[str, int] = {}
    for payload, rule in set_aside.items():
        by_rule[rule] = by_rule.get(rule, 0) + 1
        row = parsed[payload]
        # The rule's reason, or the SQL's when a check that comes first fails too.
        expected = {validation.BEYOND_SQL[rule], row["sql_reject_reason"]} - {None}
        assert row["reject_reason"] in expected, (rule, row["reject_reason"], payload[:300])
    print(f"set aside from the SQL comparison: {by_rule}")
    assert set(by_rule) >= {"content after the value", "duplicate key"}, by_rule


def test_enough_records_compared(compared):
    assert len(compared) >= 2_000
    reasons = {sql for sql, _ in compared.values()}
    # The mutations reach every kind of reason, and valid records too.
    assert None in reasons
    for prefix in ("OVERSIZED", "NOT_JSON", "NOT_AN_OBJECT", "MISSING_FIELD:", "WRONG_TYPE:", "OUT_OF_RANGE:",
                   "UNKNOWN_VALUE:", "BAD_EVENT_TIME"):
        assert any(r and r.startswith(prefix) for r in reasons), prefix


def test_udf_gives_the_sql_reason_for_every_record(compared):
    differ = {p: reasons for p, reasons in compared.items() if reasons[0] != reasons[1]}
    shown = "\n".join(f"  sql={s!r} udf={u!r} payload={p[:300]!r}" for p, (s, u) in list(differ.items())[:20])
    assert not differ, f"{len(differ)} of {len(compared)} records differ:\n{shown}"


def test_valid_events_get_the_sql_typed_columns_and_event_time(parsed):
    valid = [row for row in parsed.values() if row["sql_reject_reason"] is None and row["reject_reason"] is None]
    assert len(valid) > 100
    for row in valid:
        for name in ["event_time", *validation.typed_column_names()]:
            assert row[name] == row[f"sql_{name}"], (name, row["payload"][:300])
    # A rejected record has its reason only: no half-typed event leaks out. Its row time is the
    # newest accepted one (AUCTION_ROW_TIME), never a time of its own that could move the watermark.
    newest = max(row["event_time"] for row in valid)
    for row in parsed.values():
        if row["reject_reason"] is not None:
            assert all(row[name] is None for name in validation.typed_column_names()), row["payload"][:300]
            assert row["event_time"] <= newest, ("a rejected record must not move the watermark", row["payload"][:300])


def test_known_cases_keep_their_reason(parsed):
    for event in VALID_EDGES:
        row = parsed[json.dumps(event)]
        assert (row["sql_reject_reason"], row["reject_reason"]) == (None, None)
    for payload, reason in bad_records(VALID):
        assert parsed[payload.decode()]["reject_reason"] == reason
    for event, reason in MORE_BAD:
        assert parsed[json.dumps(event)]["reject_reason"] == reason


def test_null_and_empty_payloads():
    """Not from a file (the source never gives NULL): the same expressions over VALUES."""
    t_env = _table_env()
    query = (f"SELECT payload, {validation.reject_reason_sql()}, AUCTION_REJECT_REASON(payload) "
             "FROM (VALUES (CAST(NULL AS STRING)), (''), (' '), ('{}')) AS t(payload)")
    with t_env.execute_sql(query).collect() as rows:
        for payload, sql_reason, udf_reason in rows:
            assert udf_reason == sql_reason, repr(payload)

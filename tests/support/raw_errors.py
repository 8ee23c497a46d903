"""Non-UTF-8 records for the end-to-end scenario, and the check that every Parquet reader reads
raw_errors/ whole with the rejected bytes intact (issue 17, item 3)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow.parquet as pq

from flink_jobs.config import AppConfig
from training import lake

NOT_UTF8 = "NOT_UTF8"


def non_utf8_records(valid: dict) -> list[tuple[bytes, str]]:
    """(payload, expected reason) pairs: records whose bytes are not UTF-8, with the reason the job gives.

    Each would otherwise be read with U+FFFD in place of its bad bytes: a Latin-1 byte in a free-text
    field (accepted with a changed domain), in an enumerated one (UNKNOWN_VALUE), an encoded UTF-16
    surrogate, an overlong encoding, a stray continuation byte before the object (NOT_JSON), a cut
    multi-byte sequence at the end.
    """
    def variant(n: int, **changes: str) -> bytes:
        event = dict(valid, impression_id=f"{valid['impression_id']}-not-utf8-{n}")
        marked = {key: f"@@{key}@@" for key in changes}
        text = json.dumps(event | marked).encode()
        for key, raw in changes.items():
            text = text.replace(f"@@{key}@@".encode(), raw.encode("latin-1"))
        return text

    return [
        (variant(0, domain="caf\xe9.es"), NOT_UTF8),  # Latin-1 é
        (variant(1, device_category="mobil\xe9"), NOT_UTF8),
        (variant(2, ad_unit="top\xed\xa0\x80"), NOT_UTF8),  # U+D800 encoded: no UTF-8 text holds it
        (variant(3, bidder="\xc0\xafappnexus"), NOT_UTF8),  # overlong '/'
        (b"\x80" + json.dumps(dict(valid, impression_id="not-utf8-4")).encode(), NOT_UTF8),
        (json.dumps(dict(valid, impression_id="not-utf8-5")).encode()[:-1] + b"\xe2\x82", NOT_UTF8),
    ]


def partitions(config: AppConfig) -> list[Path]:
    """The raw_errors/ partition folders (hour level) holding committed files."""
    root = Path(lake.path(config.lake.path, "raw_errors"))
    return sorted({f.parent for f in root.rglob("part-*") if not f.name.startswith(".")})


def assert_raw_errors_readable(config: AppConfig, bad: list[tuple[bytes, str]]) -> None:
    """pandas (pyarrow engine), pyarrow.parquet and DuckDB each read every raw_errors/ partition
    whole; the rows are exactly the rejected records, byte for byte, with their reasons."""
    folders = partitions(config)
    if not bad:
        assert lake.read(config.lake.path, "raw_errors").empty
        return
    assert folders, "no raw_errors/ partition committed"
    by_reader: dict[str, Counter] = {"pandas": Counter(), "pyarrow": Counter(), "duckdb": Counter()}
    texts: dict[bytes, str] = {}
    for folder in folders:
        files = [str(f) for f in sorted(folder.glob("part-*"))]
        frame = pd.concat([pd.read_parquet(f, engine="pyarrow") for f in files])
        by_reader["pandas"].update(zip(frame["reason"], map(bytes, frame["payload"]), strict=True))
        table = pq.ParquetDataset(files).read()
        rows = table.to_pylist()
        by_reader["pyarrow"].update((r["reason"], r["payload"]) for r in rows)
        texts |= {r["payload"]: r["payload_text"] for r in rows}
        with duckdb.connect() as db:
            result = db.execute("SELECT reason, payload, payload_text FROM read_parquet(?)", [files]).fetchall()
        by_reader["duckdb"].update((reason, bytes(payload)) for reason, payload, _ in result)
    want = Counter((reason, payload) for payload, reason in bad)
    for reader, got in by_reader.items():
        assert got == want, f"{reader} read {got - want} more and {want - got} fewer than the rejected records"
    for payload, text in texts.items():
        # Readable: the record as UTF-8 text, each invalid sequence replaced (Java's decoder and
        # Python's agree on how many U+FFFD a bad sequence gives: one per maximal invalid subpart).
        assert text == payload.decode("utf-8", errors="replace"), (payload, text)

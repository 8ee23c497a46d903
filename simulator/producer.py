"""Put records on a Kinesis stream: batched, rate-limited, retrying only what failed.

The library every producer of the project uses (the demo, the tests, the benchmarks, and the
command line of simulator/traffic.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

MAX_BATCH_RECORDS = 500  # PutRecords limit
MAX_BATCH_BYTES = 5 * 1024 * 1024  # PutRecords limit (data + partition keys)
MAX_RECORD_BYTES = 1024 * 1024  # per record (data + partition key)
MAX_PARTITION_KEY_CHARS = 256


class ProduceError(RuntimeError):
    """Records still failed after the last attempt."""


@dataclass
class ProduceStats:
    records_sent: int = 0  # acknowledged by the stream
    bytes_sent: int = 0
    calls: int = 0  # PutRecords calls made
    retries: int = 0  # record re-sends after a reported failure
    error_codes: Counter[str] = field(default_factory=Counter)
    shards: Counter[str] = field(default_factory=Counter)
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None

    @property
    def elapsed_s(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    @property
    def rate(self) -> float:
        """Acknowledged records per second so far."""
        return self.records_sent / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "records_sent": self.records_sent,
            "bytes_sent": self.bytes_sent,
            "calls": self.calls,
            "retries": self.retries,
            "error_codes": dict(self.error_codes),
            "records_per_shard": dict(sorted(self.shards.items())),
            "elapsed_s": round(self.elapsed_s, 3),
            "records_per_s": round(self.rate, 1),
        }


def impression_id_key(record: bytes) -> str:
    """Partition key = the event's impression_id: spreads evenly, and a re-sent duplicate
    lands on the same shard as its original. A record that is not an event with an id
    (malformed input is produced on purpose, to test rejection) is keyed by its digest."""
    try:
        event = json.loads(record)
        if isinstance(event, dict) and isinstance(event.get("impression_id"), str) and event["impression_id"]:
            return event["impression_id"][:256]
    except ValueError:
        pass
    return hashlib.sha256(record).hexdigest()


class TokenBucket:
    """Holds an average rate; bursts are at most ``capacity`` tokens."""

    def __init__(
        self,
        rate_per_s: float,
        capacity: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if rate_per_s <= 0:
            raise ValueError("rate_per_s must be > 0")
        self.rate = rate_per_s
        self.capacity = max(1.0, capacity)
        self.tokens = self.capacity
        self._clock = clock
        self._sleep = sleep
        self._last = clock()

    def acquire(self, n: float) -> None:
        n = min(n, self.capacity)  # a request larger than the bucket would wait forever
        while True:
            now = self._clock()
            self.tokens = min(self.capacity, self.tokens + (now - self._last) * self.rate)
            self._last = now
            if self.tokens >= n:
                self.tokens -= n
                return
            self._sleep((n - self.tokens) / self.rate)


def _batches(entries: Iterable[tuple[bytes, str]], max_records: int) -> Iterator[list[tuple[bytes, str]]]:
    batch: list[tuple[bytes, str]] = []
    size = 0
    for data, key in entries:
        rec_size = len(data) + len(key.encode("utf-8"))
        if rec_size > MAX_RECORD_BYTES:
            raise ValueError(f"record of {rec_size} bytes exceeds the 1 MiB Kinesis record limit")
        if not 1 <= len(key) <= MAX_PARTITION_KEY_CHARS:
            raise ValueError(f"partition key must be 1..256 characters, got {len(key)}")
        if batch and (len(batch) >= max_records or size + rec_size > MAX_BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append((data, key))
        size += rec_size
    if batch:
        yield batch


def produce(
    client: Any,
    stream_arn: str,
    records: Iterable[bytes],
    partition_key_fn: Callable[[bytes], str] | None = None,
    rate_per_s: float | None = None,
    progress: Callable[[ProduceStats], None] | None = None,
    *,
    max_attempts: int = 8,
    base_backoff_s: float = 0.05,
    max_backoff_s: float = 2.0,
    log: Path | IO[str] | None = None,
    id_fn: Callable[[bytes], str] | None = None,
    address_by_name: bool = False,
    progress_interval_s: float = 2.0,
) -> ProduceStats:
    """PutRecords everything in ``records``; return what was acknowledged.

    - batches of <= 500 records and <= 5 MiB; with ``rate_per_s``, smaller batches
      (~0.2 s worth) paced by a token bucket, so the rate holds without 500-record bursts;
    - records a call reports as failed (``ErrorCode``) are re-sent, alone, with exponential
      backoff and full jitter, at most ``max_attempts`` sends per record; then ProduceError;
    - ``progress(stats)`` every ``progress_interval_s`` and once at the end;
    - ``log``: JSONL, one line per acknowledged record (impression_id, partition_key,
      shard_id, sequence_number) — an oracle for what the stream holds;
    - ``address_by_name`` sends StreamName instead of StreamARN (kinesalite without the shim).
    """
    if max_attempts < 1:
        raise ValueError("max_attempts must be >= 1")
    key_fn = partition_key_fn or impression_id_key
    ident = id_fn or impression_id_key
    stream_param = {"StreamName": stream_arn.rsplit("/", 1)[-1]} if address_by_name else {"StreamARN": stream_arn}
    max_records = MAX_BATCH_RECORDS
    bucket: TokenBucket | None = None
    if rate_per_s is not None:
        max_records = max(1, min(MAX_BATCH_RECORDS, int(rate_per_s * 0.2)))
        bucket = TokenBucket(rate_per_s, capacity=max_records)

    stats = ProduceStats()
    last_report = time.monotonic()
    with contextlib.ExitStack() as stack:
        # A path is ours to open and close; a file object stays the caller's (flushed only).
        is_path = isinstance(log, (str, Path))
        log_file: IO[str] | None = stack.enter_context(Path(log).open("w", encoding="utf-8")) if is_path else log
        stack.callback(lambda: log_file.flush() if log_file is not None else None)
        stack.callback(lambda: setattr(stats, "finished", time.monotonic()))
        for batch in _batches(((r, key_fn(r)) for r in records), max_records):
            pending = batch
            attempt = 0
            while pending:
                attempt += 1
                if bucket is not None:
                    bucket.acquire(len(pending))
                response = client.put_records(
                    Records=[{"Data": d, "PartitionKey": k} for d, k in pending], **stream_param
                )
                stats.calls += 1
                failed: list[tuple[bytes, str]] = []
                for (data, key), result in zip(pending, response["Records"], strict=True):
                    code = result.get("ErrorCode")
                    if code:
                        stats.error_codes[code] += 1
                        failed.append((data, key))
                        continue
                    stats.records_sent += 1
                    stats.bytes_sent += len(data)
                    stats.shards[result["ShardId"]] += 1
                    if log_file is not None:
                        log_file.write(
                            json.dumps(
                                {
                                    "impression_id": ident(data),
                                    "partition_key": key,
                                    "shard_id": result["ShardId"],
                                    "sequence_number": result["SequenceNumber"],
                                },
                                separators=(",", ":"),
                            )
                            + "\n"
                        )
                if failed and response.get("FailedRecordCount", len(failed)) != len(failed):
                    # The count and the per-record codes disagree: trust the codes, count the mismatch.
                    stats.error_codes["FailedRecordCountMismatch"] += 1
                if failed:
                    if attempt >= max_attempts:
                        raise ProduceError(
                            f"{len(failed)} records still failed after {attempt} attempts "
                            f"(error codes so far: {dict(stats.error_codes)}); {stats.records_sent} were acknowledged"
                        )
                    stats.retries += len(failed)
                    # Full jitter: spreads retries of concurrent producers apart.
                    time.sleep(random.uniform(0, min(max_backoff_s, base_backoff_s * 2 ** (attempt - 1))))
                pending = failed
                now = time.monotonic()
                if progress is not None and now - last_report >= progress_interval_s:
                    progress(stats)
                    last_report = now
    if progress is not None:
        progress(stats)
    return stats


def print_progress(stats: ProduceStats) -> None:
    print(
        f"sent {stats.records_sent:,} records in {stats.elapsed_s:.1f} s "
        f"({stats.rate:,.0f}/s), {stats.calls} calls, {stats.retries} retries",
        file=sys.stderr,
        flush=True,
    )


def read_log(path: Path) -> list[dict[str, str]]:
    """The producer log as a list of acknowledgements."""
    with Path(path).open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]

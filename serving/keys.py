"""API keys (stored hashed) and a token bucket per key.

The key file (its path is a setting) is JSON; only sha256 hex digests of the keys are stored:

    {"keys": [{"name": "adserver-eu", "sha256": "<64 hex>", "revoked": false,
               "rate_per_s": 2000, "burst": 4000}]}

``rate_per_s`` and ``burst`` are optional (the API's defaults apply). ``python -m serving.keys add
NAME --file PATH`` creates a key, stores its digest and prints the key once; ``revoke NAME`` marks it
revoked (a revoked key answers 403, an unknown or missing one 401).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import math
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

MISSING, UNKNOWN, REVOKED = "missing", "unknown", "revoked"
DEFAULT_KEYS_FILE = Path(".local/serving/api_keys.json")
KEYS_FILE_ENV = "YIELD_API_KEYS_FILE"  # the API's setting of the key file (serving/api.py Settings)


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ApiKey:
    name: str
    sha256: str
    revoked: bool = False
    rate_per_s: float | None = None
    burst: float | None = None


class TokenBucket:
    """``burst`` tokens at most, refilled at ``rate_per_s``; ``take`` never blocks."""

    def __init__(self, rate_per_s: float, burst: float, clock: Callable[[], float] = time.monotonic):
        if rate_per_s <= 0 or burst < 1:
            raise ValueError(f"token bucket needs rate > 0 and burst >= 1, got {rate_per_s}, {burst}")
        self.rate = float(rate_per_s)
        self.capacity = float(burst)
        self.clock = clock
        self.tokens = self.capacity
        self.updated = clock()
        self._lock = threading.Lock()

    def take(self, n: float = 1.0) -> tuple[bool, float]:
        """(allowed, seconds to wait before ``n`` tokens are there). ``n`` above the capacity is
        charged as the capacity: a request larger than the burst is not refused forever."""
        n = min(float(n), self.capacity)
        with self._lock:
            now = self.clock()
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            if self.tokens >= n:
                self.tokens -= n
                return True, 0.0
            return False, (n - self.tokens) / self.rate


def retry_after_header(wait_s: float) -> str:
    """Retry-After takes whole seconds: round up, at least 1."""
    return str(max(1, math.ceil(wait_s)))


class ApiKeys:
    """The keys of one key file, by digest, and one token bucket per key."""

    def __init__(self, keys: list[ApiKey], *, rate_per_s: float, burst: float,
                 clock: Callable[[], float] = time.monotonic):
        self.by_digest = {k.sha256.lower(): k for k in keys}
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.clock = clock
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_file(cls, path: Path, **kwargs: object) -> ApiKeys:
        return cls(read_key_file(path), **kwargs)  # type: ignore[arg-type]

    def authenticate(self, raw: str | None) -> tuple[ApiKey | None, str | None]:
        """(key, None) when the key is valid, else (None, MISSING | UNKNOWN | REVOKED)."""
        if not raw:
            return None, MISSING
        digest = hash_key(raw)
        key = self.by_digest.get(digest)
        # compare_digest on the match: the dict lookup already decided, this keeps the check explicit
        if key is None or not hmac.compare_digest(key.sha256.lower(), digest):
            return None, UNKNOWN
        if key.revoked:
            return None, REVOKED
        return key, None

    def bucket(self, key: ApiKey) -> TokenBucket:
        bucket = self._buckets.get(key.sha256)
        if bucket is None:
            with self._lock:
                bucket = self._buckets.setdefault(key.sha256, TokenBucket(
                    key.rate_per_s or self.rate_per_s, key.burst or self.burst, self.clock))
        return bucket


def read_key_file(path: Path) -> list[ApiKey]:
    if not path.exists():
        return []
    raw = json.loads(path.read_text(encoding="utf-8"))
    keys = []
    for entry in raw.get("keys", []):
        digest = str(entry["sha256"]).lower()
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ValueError(f"{path}: key {entry.get('name')!r} has no sha256 hex digest")
        keys.append(ApiKey(name=str(entry["name"]), sha256=digest, revoked=bool(entry.get("revoked", False)),
                           rate_per_s=entry.get("rate_per_s"), burst=entry.get("burst")))
    return keys


def write_key_file(path: Path, keys: list[ApiKey]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    entries = [{k: v for k, v in vars(key).items() if v is not None} for key in keys]
    path.write_text(json.dumps({"keys": entries}, indent=2) + "\n", encoding="utf-8")


def add_key(path: Path, name: str, rate_per_s: float | None = None, burst: float | None = None) -> str:
    """A new random key under `name` (stored hashed); returns the key itself, shown once."""
    keys = [k for k in read_key_file(path) if k.name != name]
    raw = secrets.token_urlsafe(32)
    keys.append(ApiKey(name=name, sha256=hash_key(raw), rate_per_s=rate_per_s, burst=burst))
    write_key_file(path, keys)
    return raw


def revoke_key(path: Path, name: str) -> bool:
    keys = read_key_file(path)
    found = any(k.name == name for k in keys)
    write_key_file(path, [ApiKey(k.name, k.sha256, True, k.rate_per_s, k.burst) if k.name == name else k
                          for k in keys])
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m serving.keys", description="manage the floor API's keys")
    parser.add_argument("command", choices=["add", "revoke"])
    parser.add_argument("name")
    parser.add_argument("--file", type=Path, default=None,
                        help=f"key file (default: ${KEYS_FILE_ENV}, else {DEFAULT_KEYS_FILE})")
    args = parser.parse_args(argv)
    path = args.file or Path(os.environ.get(KEYS_FILE_ENV) or DEFAULT_KEYS_FILE)
    if args.command == "add":
        print(add_key(path, args.name))
        return 0
    return 0 if revoke_key(path, args.name) else 1


if __name__ == "__main__":
    raise SystemExit(main())

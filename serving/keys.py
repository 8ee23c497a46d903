"""API keys (stored hashed) and a token bucket per key.

The key file (its path is a setting) is JSON; only sha256 hex digests of the keys are stored:

    {"keys": [{"name": "adserver-eu", "sha256": "<64 hex>", "revoked": false,
               "rate_per_s": 2000, "burst": 4000}]}

``rate_per_s`` and ``burst`` are optional (the API's defaults apply). ``python -m serving.keys add
NAME --file PATH`` creates a key, stores its digest and prints the key once; ``revoke NAME`` marks it
revoked (a revoked key answers 403, an unknown or missing one 401).

The same document can live in an AWS Secrets Manager secret (its SecretString; setting
``YIELD_API_KEYS_SECRET``, on AWS the API stack's secret, locally moto): ``SecretKeySource`` reads it
at start and then every ``refresh_interval_s`` in a daemon thread, and swaps the key set in whole,
so a key revoked in the secret is refused within one interval. A failed read (Secrets Manager down,
a malformed document) keeps the last good key set and is reported (``status()``, shown by
``/v2/health``). ``add`` and ``revoke`` take ``--secret ID`` to edit the secret instead of a file.

Logs never carry a key: ``key_id`` is the first 12 hex digits of a sha256 over the stored digest,
a short id that names a key without revealing it (keys are 32 random bytes).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import logging
import math
import os
import secrets
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from serving.refresh import PeriodicRefresh

MISSING, UNKNOWN, REVOKED = "missing", "unknown", "revoked"
DEFAULT_KEYS_FILE = Path(".local/serving/api_keys.json")
KEYS_FILE_ENV = "YIELD_API_KEYS_FILE"  # the API's setting of the key file (serving/api.py Settings)
KEYS_SECRET_ENV = "YIELD_API_KEYS_SECRET"  # the API's setting of the key secret (takes precedence)
LOG = logging.getLogger(__name__)


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def key_id(digest: str) -> str:
    """A short id of a key for logs, from its stored sha256 digest (never from the key itself)."""
    return hashlib.sha256(b"floor-api-key-id:" + digest.lower().encode("ascii")).hexdigest()[:12]


@dataclass(frozen=True)
class ApiKey:
    name: str
    sha256: str
    revoked: bool = False
    rate_per_s: float | None = None
    burst: float | None = None

    @property
    def key_id(self) -> str:
        return key_id(self.sha256)


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
        self.by_digest: dict[str, ApiKey] = {k.sha256.lower(): k for k in keys}
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.clock = clock
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_file(cls, path: Path, **kwargs: object) -> ApiKeys:
        return cls(read_key_file(path), **kwargs)  # type: ignore[arg-type]

    def replace(self, keys: list[ApiKey]) -> None:
        """Swap in a new key set (one reference: a request sees the old set or the new one). A key
        that stays, with the same rate and burst, keeps its bucket; the others' buckets are dropped."""
        by_digest = {k.sha256.lower(): k for k in keys}
        with self._lock:
            self._buckets = {d: b for d, b in self._buckets.items() if d in by_digest and
                             (b.rate, b.capacity) == (by_digest[d].rate_per_s or self.rate_per_s,
                                                      by_digest[d].burst or self.burst)}
            self.by_digest = by_digest

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


def parse_keys(document: Any, where: str) -> list[ApiKey]:
    """The keys of a key document ``{"keys": [...]}`` (a file's or a secret's); ValueError naming
    `where` when it is not one."""
    if not isinstance(document, dict) or not isinstance(document.get("keys", []), list):
        raise ValueError(f"{where}: want a JSON object {{\"keys\": [...]}}")
    keys = []
    for entry in document.get("keys", []):
        if not isinstance(entry, dict) or "name" not in entry or "sha256" not in entry:
            raise ValueError(f"{where}: every key needs a name and a sha256")
        digest = str(entry["sha256"]).lower()
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ValueError(f"{where}: key {entry.get('name')!r} has no sha256 hex digest")
        keys.append(ApiKey(name=str(entry["name"]), sha256=digest, revoked=bool(entry.get("revoked", False)),
                           rate_per_s=entry.get("rate_per_s"), burst=entry.get("burst")))
    return keys


def read_key_file(path: Path) -> list[ApiKey]:
    if not path.exists():
        return []
    return parse_keys(json.loads(path.read_text(encoding="utf-8")), str(path))


def key_document(keys: list[ApiKey]) -> str:
    entries = [{k: v for k, v in vars(key).items() if v is not None} for key in keys]
    return json.dumps({"keys": entries}, indent=2) + "\n"


def write_key_file(path: Path, keys: list[ApiKey]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(key_document(keys), encoding="utf-8")


# ---------------------------------------------------------------------------------------------- the secret


def read_key_secret(client: Any, secret_id: str) -> list[ApiKey]:
    """The keys in a Secrets Manager secret (its SecretString holds the key file's document)."""
    value = client.get_secret_value(SecretId=secret_id)
    text = value.get("SecretString")
    if text is None:
        raise ValueError(f"secret {secret_id}: no SecretString (binary secrets are not key documents)")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"secret {secret_id}: not JSON ({err.msg})") from None  # never echo the text
    return parse_keys(document, f"secret {secret_id}")


def write_key_secret(client: Any, secret_id: str, keys: list[ApiKey]) -> None:
    client.put_secret_value(SecretId=secret_id, SecretString=key_document(keys))


class SecretKeySource(PeriodicRefresh):
    """Keeps `keys` equal to the key set in a Secrets Manager secret: one read at ``start`` (a
    failure leaves the set empty: every call 401, health 503), then one every ``refresh_interval_s``
    in a daemon thread. A failed read keeps the last good set and records the error."""

    thread_name = "api-key-secret"

    def __init__(self, keys: ApiKeys, client: Any, secret_id: str, *, refresh_interval_s: float = 30.0,
                 clock: Callable[[], float] = time.time):
        self.keys = keys
        self.client = client
        self.secret_id = secret_id
        self.refresh_interval_s = refresh_interval_s
        self.clock = clock
        self.loaded_at: float | None = None
        self.refreshes = 0
        self.failures = 0
        self.last_error: str | None = None

    def refresh(self) -> bool:
        try:
            keys = read_key_secret(self.client, self.secret_id)
        except Exception as err:  # noqa: BLE001 - any failure keeps the last good key set
            self.failures += 1
            self.last_error = f"{type(err).__name__}: {err}"
            LOG.warning("API key secret refresh failed, keeping the last key set: %s", self.last_error)
            return False
        self.keys.replace(keys)
        self.loaded_at = self.clock()
        self.refreshes += 1
        self.last_error = None
        return True

    @property
    def loaded(self) -> bool:
        return self.loaded_at is not None

    def status(self, now: float | None = None) -> dict[str, Any]:
        now = self.clock() if now is None else now
        return {"source": "secretsmanager", "loaded": self.loaded, "count": len(self.keys.by_digest),
                "age_s": None if self.loaded_at is None else round(now - self.loaded_at, 3),
                "refresh_interval_s": self.refresh_interval_s, "refreshes": self.refreshes,
                "refresh_failures": self.failures, "last_refresh_error": self.last_error}



# ---------------------------------------------------------------------------------------------- editing


class KeyStore:
    """Where ``add`` and ``revoke`` read and write the key document: a file, or a secret."""

    def __init__(self, path: Path | None = None, client: Any = None, secret_id: str | None = None):
        self.path, self.client, self.secret_id = path, client, secret_id

    def read(self) -> list[ApiKey]:
        if self.secret_id is not None:
            return read_key_secret(self.client, self.secret_id)
        assert self.path is not None
        return read_key_file(self.path)

    def write(self, keys: list[ApiKey]) -> None:
        if self.secret_id is not None:
            write_key_secret(self.client, self.secret_id, keys)
        else:
            assert self.path is not None
            write_key_file(self.path, keys)


def _store(where: Path | KeyStore) -> KeyStore:
    return where if isinstance(where, KeyStore) else KeyStore(path=where)


def add_key(where: Path | KeyStore, name: str, rate_per_s: float | None = None, burst: float | None = None,
            raw: str | None = None) -> str:
    """A new random key under `name` (stored hashed; `raw` registers a given key instead, e.g. API
    Gateway's); returns the key itself, shown once."""
    store = _store(where)
    keys = [k for k in store.read() if k.name != name]
    raw = raw or secrets.token_urlsafe(32)
    keys.append(ApiKey(name=name, sha256=hash_key(raw), rate_per_s=rate_per_s, burst=burst))
    store.write(keys)
    return raw


def revoke_key(where: Path | KeyStore, name: str) -> bool:
    store = _store(where)
    keys = store.read()
    found = any(k.name == name for k in keys)
    store.write([ApiKey(k.name, k.sha256, True, k.rate_per_s, k.burst) if k.name == name else k for k in keys])
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m serving.keys", description="manage the floor API's keys")
    parser.add_argument("command", choices=["add", "revoke"])
    parser.add_argument("name")
    parser.add_argument("--file", type=Path, default=None,
                        help=f"key file (default: ${KEYS_FILE_ENV}, else {DEFAULT_KEYS_FILE})")
    parser.add_argument("--secret", default=None,
                        help=f"edit this Secrets Manager secret instead of a file (default: ${KEYS_SECRET_ENV})")
    parser.add_argument("--endpoint", default=None, help="Secrets Manager endpoint (locally moto's URL)")
    parser.add_argument("--region", default=None)
    parser.add_argument("--key-stdin", action="store_true",
                        help="add: register the key read from stdin (e.g. API Gateway's) instead of a new one")
    args = parser.parse_args(argv)
    secret_id = args.secret or (None if args.file else os.environ.get(KEYS_SECRET_ENV) or None)
    if secret_id is not None:
        from udfs.aws import aws_client

        store = KeyStore(client=aws_client("secretsmanager", args.endpoint, args.region), secret_id=secret_id)
    else:
        store = KeyStore(path=args.file or Path(os.environ.get(KEYS_FILE_ENV) or DEFAULT_KEYS_FILE))
    if args.command == "add":
        raw = sys.stdin.readline().strip() if args.key_stdin else None
        shown = add_key(store, args.name, raw=raw)
        if raw is None:
            print(shown)
        return 0
    return 0 if revoke_key(store, args.name) else 1


if __name__ == "__main__":
    raise SystemExit(main())

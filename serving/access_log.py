"""Structured access log of the floor API: one JSON line per HTTP request, never the API key.

    {"time": "2027-01-15T08:00:00.123Z", "method": "POST", "path": "/v2/predict/batch", "status": 200,
     "latency_ms": 2.41, "key_id": "3f9a0c1d2b4e", "levels": {"fine": 61, "coarse": 30, "static": 9}}

- ``key_id``: ``serving.keys.key_id`` of the key's stored sha256 digest (12 hex digits; the keys
  are 32 random bytes, so it names a key without revealing it); ``null`` when no valid key was
  presented (a missing, unknown or revoked key: the line's status says which). Under
  ``YIELD_API_AUTH=gateway`` it is taken from the header API Gateway already checked.
- ``levels``: the answers by level (fine / coarse / static) of a predict call; absent elsewhere.
- No query string, headers or body are logged: only the path.
- ``latency_ms``: from the request reaching the app to the last byte of the answer handed to the server.

Handlers report what they know through a dict the middleware puts in the ASGI scope
(``scope[SCOPE_KEY]``). Lines of 2xx answers can be sampled (``sample_ok``, 0-1); every other
status is always logged. The sink takes one line of bytes (default: stdout).
"""

from __future__ import annotations

import contextlib
import random
import sys
import time
from collections.abc import Callable, MutableMapping
from datetime import UTC, datetime
from typing import Any

import orjson

SCOPE_KEY = "yield.access"
Sink = Callable[[bytes], None]


def stdout_sink(line: bytes) -> None:
    sys.stdout.buffer.write(line)
    sys.stdout.buffer.flush()


def annotate(scope: MutableMapping[str, Any], **fields: Any) -> None:
    """Add fields to this request's access log line (no-op when the log is off)."""
    note = scope.get(SCOPE_KEY)
    if note is not None:
        note.update(fields)


class AccessLogMiddleware:
    """Pure ASGI middleware (Starlette ``Middleware(AccessLogMiddleware, sink=..., sample_ok=...)``)."""

    def __init__(self, app: Any, sink: Sink | None = None, sample_ok: float = 1.0,
                 clock: Callable[[], float] = time.time, rand: Callable[[], float] = random.random):
        if not 0.0 <= sample_ok <= 1.0:
            raise ValueError(f"access log sample rate must be within 0-1, got {sample_ok}")
        self.app = app
        self.sink = stdout_sink if sink is None else sink
        self.sample_ok = sample_ok
        self.clock = clock
        self.rand = rand

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        note: dict[str, Any] = {}
        scope[SCOPE_KEY] = note
        status = 500  # an exception before the response started is answered 500 by the server

        async def send_status(message: MutableMapping[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            if status >= 300 or self.sample_ok >= 1.0 or self.rand() < self.sample_ok:
                self.write(scope, status, (time.perf_counter() - started) * 1000.0, note)

    def write(self, scope: MutableMapping[str, Any], status: int, latency_ms: float, note: dict[str, Any]) -> None:
        line = {"time": datetime.fromtimestamp(self.clock(), UTC).isoformat(timespec="milliseconds")
                .replace("+00:00", "Z"), "method": scope.get("method"), "path": scope.get("path"),
                "status": status, "latency_ms": round(latency_ms, 3), "key_id": note.get("key_id")}
        if "levels" in note:
            line["levels"] = note["levels"]
        with contextlib.suppress(Exception):  # a broken log sink never fails a request
            self.sink(orjson.dumps(line) + b"\n")

"""A thin HTTP shim that lets StreamARN-only Kinesis clients talk to kinesalite.

kinesalite 3.3.3 predates StreamARN: it silently drops unknown request members and then
answers ``Value null at 'streamName'``. The Flink source (Java SDK v2) sends only ARNs.
This shim takes each request (Kinesis JSON protocol ``application/x-amz-json-1.1`` or
CBOR ``application/x-amz-cbor-1.1``, which the Java SDK uses unless CBOR is disabled),
rewrites ``StreamARN`` into ``StreamName`` (and a ListShards ``ShardFilter`` of type
AFTER_SHARD_ID into ``ExclusiveStartShardId``) and forwards it as JSON. JSON responses
pass through unchanged; for CBOR clients the JSON answer is translated back to CBOR
(blobs as byte strings, timestamps as tag 1 + epoch milliseconds, as AWS does), because
kinesalite's own CBOR path mangles both. The SigV4 signature no longer matches the body,
which is fine: kinesalite does not verify signatures.

Run::

    python -m local_kinesis.kinesalite_shim --listen 127.0.0.1:4570 --upstream http://127.0.0.1:4569

stdlib only.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import signal
import struct
import sys
import threading
import urllib.parse
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

JSON_TYPE = "application/x-amz-json-1.1"
CBOR_TYPE = "application/x-amz-cbor-1.1"
# Hop-by-hop headers are the proxy's own; Content-Length is recomputed after the rewrite.
_SKIP_REQUEST_HEADERS = {"host", "content-length", "connection", "keep-alive", "transfer-encoding", "expect"}
# send_response() writes its own Date (and Server): copying kinesalite's gave clients two Date headers.
_SKIP_RESPONSE_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "date", "server"}


# --------------------------------------------------------------------------- minimal CBOR (RFC 8949)


@dataclass(frozen=True)
class CborTag:
    """A tagged item kept as-is (the Java SDK tags timestamps with 1) so it re-encodes identically."""

    tag: int
    value: Any


class _Break:
    pass


_BREAK = _Break()


class CborError(ValueError):
    pass


def cbor_loads(data: bytes) -> Any:
    value, pos = _decode(data, 0)
    if pos != len(data):
        raise CborError(f"trailing bytes after CBOR item at {pos}")
    return value


def _read_arg(data: bytes, pos: int, info: int) -> tuple[int | None, int]:
    if info < 24:
        return info, pos
    sizes = {24: 1, 25: 2, 26: 4, 27: 8}
    if info in sizes:
        n = sizes[info]
        if pos + n > len(data):
            raise CborError("truncated CBOR argument")
        return int.from_bytes(data[pos : pos + n], "big"), pos + n
    if info == 31:
        return None, pos  # indefinite length (Jackson writes maps this way)
    raise CborError(f"reserved additional info {info}")


def _decode(data: bytes, pos: int) -> tuple[Any, int]:
    if pos >= len(data):
        raise CborError("truncated CBOR")
    initial = data[pos]
    major, info = initial >> 5, initial & 0x1F
    pos += 1
    if major == 7:
        if info == 20:
            return False, pos
        if info == 21:
            return True, pos
        if info in (22, 23):
            return None, pos
        if info == 25:
            return struct.unpack(">e", data[pos : pos + 2])[0], pos + 2
        if info == 26:
            return struct.unpack(">f", data[pos : pos + 4])[0], pos + 4
        if info == 27:
            return struct.unpack(">d", data[pos : pos + 8])[0], pos + 8
        if info == 31:
            return _BREAK, pos
        if info < 24:
            return None, pos  # unassigned simple values: nothing Kinesis sends
        raise CborError(f"unsupported simple value {info}")
    arg, pos = _read_arg(data, pos, info)
    if major == 0:
        return arg, pos
    if major == 1:
        return -1 - (arg or 0), pos
    if major in (2, 3):
        if arg is None:  # indefinite string: concatenated definite chunks
            chunks: list[Any] = []
            while True:
                chunk, pos = _decode(data, pos)
                if chunk is _BREAK:
                    break
                chunks.append(chunk)
            return (b"".join(chunks) if major == 2 else "".join(chunks)), pos
        raw = data[pos : pos + arg]
        if len(raw) != arg:
            raise CborError("truncated CBOR string")
        return (bytes(raw) if major == 2 else raw.decode("utf-8")), pos + arg
    if major == 4:
        items: list[Any] = []
        while arg is None or len(items) < arg:
            item, pos = _decode(data, pos)
            if item is _BREAK:
                break
            items.append(item)
        return items, pos
    if major == 5:
        mapping: dict[Any, Any] = {}
        count = 0
        while arg is None or count < arg:
            key, pos = _decode(data, pos)
            if key is _BREAK:
                break
            mapping[key], pos = _decode(data, pos)
            count += 1
        return mapping, pos
    # major == 6: tag
    value, pos = _decode(data, pos)
    return CborTag(int(arg or 0), value), pos


def _head(major: int, n: int) -> bytes:
    if n < 24:
        return bytes([(major << 5) | n])
    for info, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if n < 1 << (8 * size):
            return bytes([(major << 5) | info]) + n.to_bytes(size, "big")
    raise CborError(f"integer too large for CBOR: {n}")


def cbor_dumps(value: Any) -> bytes:
    if value is None:
        return b"\xf6"
    if value is True:
        return b"\xf5"
    if value is False:
        return b"\xf4"
    if isinstance(value, int):
        return _head(0, value) if value >= 0 else _head(1, -1 - value)
    if isinstance(value, float):
        return b"\xfb" + struct.pack(">d", value)
    if isinstance(value, (bytes, bytearray)):
        return _head(2, len(value)) + bytes(value)
    if isinstance(value, str):
        raw = value.encode("utf-8")
        return _head(3, len(raw)) + raw
    if isinstance(value, (list, tuple)):
        return _head(4, len(value)) + b"".join(cbor_dumps(v) for v in value)
    if isinstance(value, dict):
        return _head(5, len(value)) + b"".join(cbor_dumps(k) + cbor_dumps(v) for k, v in value.items())
    if isinstance(value, CborTag):
        return _head(6, value.tag) + cbor_dumps(value.value)
    raise CborError(f"cannot CBOR-encode {type(value).__name__}")


# --------------------------------------------------------------------------- the rewrite


def stream_name_from_arn(arn: str) -> str:
    """arn:aws:kinesis:<region>:<account>:stream/<name> -> <name>."""
    _, _, resource = arn.partition(":stream/")
    if not resource:
        raise ValueError(f"not a Kinesis stream ARN: {arn!r}")
    return resource.split("/", 1)[0]  # consumer ARNs carry /consumer/... after the name


def rewrite_request(body: dict[str, Any]) -> bool:
    """Rewrite an ARN-addressed request in place for kinesalite. Returns True if changed."""
    changed = False
    arn = body.pop("StreamARN", None)
    if arn is not None:
        changed = True
        if not body.get("StreamName"):
            body["StreamName"] = stream_name_from_arn(str(arn))
    shard_filter = body.get("ShardFilter")
    if isinstance(shard_filter, dict):
        # kinesalite ignores ShardFilter (it would list every shard); AFTER_SHARD_ID maps onto
        # ExclusiveStartShardId. The other types on a stream that never reshards: all shards.
        body.pop("ShardFilter")
        changed = True
        if shard_filter.get("Type") == "AFTER_SHARD_ID" and shard_filter.get("ShardId"):
            body.setdefault("ExclusiveStartShardId", shard_filter["ShardId"])
    return changed


def _cbor_to_json_value(value: Any) -> Any:
    """CBOR request values -> the JSON protocol's: blobs as base64, tag(1) epoch millis as seconds."""
    if isinstance(value, CborTag):
        if value.tag == 1 and isinstance(value.value, (int, float)):
            return value.value / 1000.0  # AWS CBOR timestamps are epoch MILLIS, JSON ones seconds
        return _cbor_to_json_value(value.value)
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, dict):
        return {k: _cbor_to_json_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_cbor_to_json_value(v) for v in value]
    return value


def _json_to_cbor_value(value: Any, key: str = "") -> Any:
    """kinesalite's JSON answer -> what a CBOR client expects: Data as bytes, *Timestamp as tag(1) millis."""
    if isinstance(value, dict):
        return {k: _json_to_cbor_value(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_to_cbor_value(v, key) for v in value]
    if key == "Data" and isinstance(value, str):
        return base64.b64decode(value)
    if key.endswith("Timestamp") and isinstance(value, (int, float)) and not isinstance(value, bool):
        return CborTag(1, round(value * 1000))
    return value


def rewrite_body(body: bytes, content_type: str) -> tuple[bytes, bool]:
    """Rewrite a request body for kinesalite; returns (JSON body to forward, client spoke CBOR).

    kinesalite's own CBOR path is unusable (it stores CBOR blobs as serialized Buffers and
    writes timestamps as seconds), so CBOR requests are translated to JSON here and the
    answer back to CBOR in ``cbor_response``. Unparseable bodies pass unchanged.
    """
    ctype = content_type.split(";")[0].strip().lower()
    if not body:
        return body, ctype == CBOR_TYPE
    try:
        if ctype == CBOR_TYPE:
            data = _cbor_to_json_value(cbor_loads(body))
            if isinstance(data, dict):
                rewrite_request(data)
            return json.dumps(data, separators=(",", ":")).encode("utf-8"), True
        if ctype in (JSON_TYPE, "application/json"):
            data = json.loads(body)
            if isinstance(data, dict) and rewrite_request(data):
                return json.dumps(data, separators=(",", ":")).encode("utf-8"), False
    except (ValueError, CborError, UnicodeDecodeError):
        pass  # let kinesalite produce its own SerializationException
    return body, False


def cbor_response(payload: bytes) -> bytes | None:
    """kinesalite's JSON response as CBOR; None if it is not JSON (e.g. an XML 403)."""
    try:
        data = json.loads(payload) if payload else None
    except (ValueError, UnicodeDecodeError):
        return None
    return cbor_dumps(_json_to_cbor_value(data)) if data is not None else b""


# --------------------------------------------------------------------------- the server


class ShimServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # the stdlib default (5) drops connections under parallel clients

    def __init__(self, listen: tuple[str, int], upstream: str):
        super().__init__(listen, ShimHandler)
        parsed = urllib.parse.urlsplit(upstream)
        if parsed.scheme != "http" or not parsed.hostname:
            raise ValueError(f"upstream must be http://host:port, got {upstream!r}")
        self.upstream_host = parsed.hostname
        self.upstream_port = parsed.port or 80
        self._local = threading.local()

    def upstream_connection(self) -> http.client.HTTPConnection:
        """One keep-alive connection to kinesalite per handler thread."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=60)
            self._local.conn = conn
        return conn

    def drop_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
        self._local.conn = None


class ShimHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: boto3 and the Java SDK reuse connections
    server: ShimServer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per request would dwarf everything else in the log

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        body, cbor = rewrite_body(body, self.headers.get("Content-Type", ""))
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _SKIP_REQUEST_HEADERS}
        if cbor:
            headers = {k: v for k, v in headers.items() if k.lower() not in ("content-type", "accept")}
            headers["Content-Type"] = JSON_TYPE
        headers["Content-Length"] = str(len(body))
        headers["Host"] = f"{self.server.upstream_host}:{self.server.upstream_port}"
        for attempt in (1, 2):
            conn = self.server.upstream_connection()
            try:
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                payload = resp.read()
                break
            except (ConnectionError, http.client.HTTPException, OSError) as err:
                # A kept-alive upstream connection may have been closed: retry once on a fresh one.
                self.server.drop_connection()
                if attempt == 2:
                    self.send_error(502, f"kinesalite unreachable: {err}")
                    return
        skip = set(_SKIP_RESPONSE_HEADERS)
        if cbor:
            converted = cbor_response(payload)
            if converted is not None:
                payload = converted
                skip |= {"content-type", "x-amz-crc32"}  # both describe the JSON body
        self.send_response(resp.status, resp.reason)
        for key, value in resp.getheaders():
            if key.lower() not in skip:
                self.send_header(key, value)
        if cbor and "content-type" in skip:
            self.send_header("Content-Type", CBOR_TYPE)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_POST = _forward
    do_GET = _forward
    do_HEAD = _forward


def serve(listen: str, upstream: str) -> ShimServer:
    host, _, port = listen.rpartition(":")
    return ShimServer((host or "127.0.0.1", int(port)), upstream)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m local_kinesis.kinesalite_shim", description="StreamARN shim for kinesalite"
    )
    parser.add_argument("--listen", default="127.0.0.1:4570")
    parser.add_argument("--upstream", default="http://127.0.0.1:4569")
    args = parser.parse_args(argv)
    server = serve(args.listen, args.upstream)
    # SIGTERM (from `standins stop`) shuts down cleanly instead of a traceback.
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown, daemon=True).start())
    print(f"kinesalite shim on http://{args.listen} -> {args.upstream}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

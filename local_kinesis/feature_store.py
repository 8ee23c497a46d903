"""A local stand-in for the SageMaker Feature Store runtime (online store).

Neither moto nor any other emulator serves ``sagemaker-featurestore-runtime``; this
threaded stdlib HTTP server speaks its botocore rest-json contract so an unchanged
``boto3.client("sagemaker-featurestore-runtime", endpoint_url=...)`` works against it.

CLI::

    python -m local_kinesis.feature_store [--port 5060] [--data-dir .local/feature_store]
        [--control-plane http://127.0.0.1:5055] [--groups groups.json]
        [--throttle-share 0.2] [--throttle-seed 7] [--throttle-code ThrottlingException]

Operations: PutRecord, GetRecord, BatchGetRecord, DeleteRecord. Others answer ValidationError.

Semantics (as the real online store, where known):

- Records are keyed by (FeatureGroupName, RecordIdentifierValueAsString); an ARN as group
  name is reduced to its name.
- A group's record-identifier and event-time feature names come from ``--groups`` (JSON:
  ``{"name": {"RecordIdentifierFeatureName": ..., "EventTimeFeatureName": ...}}``), else
  from DescribeFeatureGroup on the control plane (moto), asked once per group in the
  region the request was signed for, then cached and persisted. Unknown group (or control
  plane unreachable): GetRecord answers ResourceNotFound (404); PutRecord / DeleteRecord
  answer ValidationError "Resource Not Found: ..." (400) - their service model has no
  ResourceNotFound, and that is what the real service sends.
- PutRecord: an EventTime newer than or equal to the stored one replaces the record
  (so a replay is idempotent); an older one is silently ignored. Features not in the
  group's definitions, or a missing identifier / event-time feature: ValidationError.
- GetRecord: the latest record (``FeatureName`` filter supported); an absent record is
  an empty 200 answer, as on AWS. TtlDuration is honoured: an expired record reads absent.
- BatchGetRecord: found records in Records; identifiers of unknown groups in Errors
  (ErrorCode ResourceNotFound); absent records are just left out; UnprocessedIdentifiers
  is always empty.
- DeleteRecord: applies only if its EventTime is >= the stored one. SoftDelete (default)
  keeps a tombstone with that EventTime, so an older replayed PutRecord stays ignored;
  HardDelete forgets the record entirely.

Persistence: every applied change is appended as one JSON line to
``<data-dir>/records.jsonl`` and flushed (not fsynced: a killed process loses nothing,
a power cut may); on start the log is replayed (a torn last line is skipped).

Fault injection: ``--throttle-share`` (or ``POST /_admin/throttle {"share": 0.2, "seed": 7}``)
answers that share of PutRecord calls with a throttling error botocore's standard/adaptive
retry modes retry: ``ThrottlingException`` (HTTP 400, in botocore's throttled-codes list)
or ``ServiceUnavailable`` (HTTP 503, modelled for PutRecord). Draws come from one seeded
RNG, so a given call order throttles the same calls.

Admin: ``GET /_health`` -> ``{"status": "ok", "records": n, ...}``. Binds 127.0.0.1 only.
Logs go to stdout (the stand-in manager redirects them to ``.local/logs/feature-store.log``).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from local_kinesis import REPO_ROOT

HOST = "127.0.0.1"
DEFAULT_PORT = 5060
DEFAULT_DATA_DIR = REPO_ROOT / ".local" / "feature_store"
DEFAULT_REGION = "eu-west-1"
LOG_FILE = "records.jsonl"
THROTTLE_CODES = {"ThrottlingException": 400, "ServiceUnavailable": 503}
TTL_UNIT_SECONDS = {"Seconds": 1, "Minutes": 60, "Hours": 3600, "Days": 86400, "Weeks": 604800}
_CREDENTIAL_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/([^/]+)/")


class ApiError(Exception):
    """An error answer in the rest-json shape botocore parses (code header + body)."""

    def __init__(self, code: str, status: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.message = message


def validation(message: str) -> ApiError:
    return ApiError("ValidationError", 400, message)


@dataclass(frozen=True)
class Group:
    name: str
    id_feature: str
    time_feature: str
    features: frozenset[str] | None  # None: definitions unknown (registry file), accept any name


@dataclass
class Stored:
    event_time: float
    record: list[dict[str, Any]] | None  # None: soft-deleted tombstone
    expires_at: float | None = None


def group_name(name_or_arn: str) -> str:
    # arn:aws:sagemaker:<region>:<account>:feature-group/<name>; moto lower-cases names in ARNs.
    return name_or_arn.rsplit("/", 1)[-1] if name_or_arn.startswith("arn:") else name_or_arn


def parse_event_time(value: str) -> float:
    """Seconds since the epoch from a Fractional epoch value or an ISO-8601 string (as AWS accepts)."""
    try:
        return float(value)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise validation(f"EventTime {value!r} is neither epoch seconds nor ISO-8601") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class GroupResolver:
    """Group metadata from a registry file, else from the control plane's DescribeFeatureGroup."""

    def __init__(self, control_plane: str | None, registry: dict[str, Group], default_region: str) -> None:
        self.control_plane = control_plane
        self.registry = registry
        self.default_region = default_region
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _client(self, region: str) -> Any:
        with self._lock:
            if region not in self._clients:
                from udfs.aws import aws_client

                # One attempt: moto answers an unknown group with a 500, which must not be retried.
                self._clients[region] = aws_client(
                    "sagemaker", self.control_plane, region, max_attempts=1, connect_timeout=1, read_timeout=5
                )
            return self._clients[region]

    def resolve(self, name: str, region: str | None) -> Group | None:
        if name in self.registry:
            return self.registry[name]
        if not self.control_plane:
            return None
        try:
            desc = self._client(region or self.default_region).describe_feature_group(FeatureGroupName=name)
        except Exception as err:  # noqa: BLE001 - unreachable or unknown: both mean "no such group" here
            print(f"DescribeFeatureGroup {name!r} on {self.control_plane} failed: {type(err).__name__}: {err}",
                  flush=True)
            return None
        features = frozenset(d["FeatureName"] for d in desc.get("FeatureDefinitions") or [])
        return Group(name, desc["RecordIdentifierFeatureName"], desc["EventTimeFeatureName"], features or None)


class FeatureStore:
    """The online store: records in memory, every applied change appended to a JSON-lines log."""

    def __init__(self, data_dir: Path, resolver: GroupResolver) -> None:
        self.resolver = resolver
        self.groups: dict[str, Group] = {}
        self.records: dict[tuple[str, str], Stored] = {}
        self.lock = threading.Lock()
        data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = data_dir / LOG_FILE
        self._replay()
        # Line-buffered append: each change reaches the OS before the caller gets its 200.
        self._log = self.log_path.open("a", encoding="utf-8", buffering=1)

    # ------------------------------------------------------------------ persistence

    def _replay(self) -> None:
        if not self.log_path.exists():
            return
        applied = skipped = 0
        with self.log_path.open(encoding="utf-8") as lines:
            for line in lines:
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    skipped += 1  # a torn write from a kill mid-line
                    continue
                self._apply(entry)
                applied += 1
        print(f"replayed {applied} log entries ({skipped} unreadable) from {self.log_path}: "
              f"{len(self.groups)} groups, {len(self.records)} records", flush=True)

    def _apply(self, entry: dict[str, Any]) -> None:
        kind = entry["t"]
        if kind == "group":
            feats = entry.get("features")
            self.groups[entry["name"]] = Group(
                entry["name"], entry["id"], entry["time"], frozenset(feats) if feats is not None else None
            )
        elif kind == "put":
            self.records[(entry["g"], entry["id"])] = Stored(entry["et"], entry["rec"], entry.get("exp"))
        elif kind == "del":
            if entry["mode"] == "HardDelete":
                self.records.pop((entry["g"], entry["id"]), None)
            else:
                self.records[(entry["g"], entry["id"])] = Stored(entry["et"], None)

    def _commit(self, entry: dict[str, Any]) -> None:
        """Apply and log one change; the caller holds the lock."""
        self._apply(entry)
        self._log.write(json.dumps(entry, separators=(",", ":")) + "\n")

    def close(self) -> None:
        with self.lock:
            self._log.close()

    # ------------------------------------------------------------------ groups

    def group(self, name_or_arn: str, region: str | None) -> Group | None:
        name = group_name(name_or_arn)
        with self.lock:
            known = self.groups.get(name)
        if known is not None:
            return known
        found = self.resolver.resolve(name, region)  # outside the lock: a network call
        if found is None:
            return None
        with self.lock:
            if name not in self.groups:
                self._commit({"t": "group", "name": name, "id": found.id_feature, "time": found.time_feature,
                              "features": sorted(found.features) if found.features is not None else None})
            return self.groups[name]

    # ------------------------------------------------------------------ operations

    def put(self, group: Group, record: list[dict[str, Any]], ttl: dict[str, Any] | None) -> bool:
        """Store the record unless an equal-or-newer one is there; True if it was applied."""
        values: dict[str, str] = {}
        for fv in record:
            name = fv["FeatureName"]
            if name in values:
                raise validation(f"Feature {name} appears more than once in the record")
            if group.features is not None and name not in group.features:
                raise validation(f"Feature {name} is not defined in FeatureGroup {group.name}")
            values[name] = fv.get("ValueAsString", "")
        for required in (group.id_feature, group.time_feature):
            if not values.get(required):
                raise validation(f"Record is missing a value for feature {required} of FeatureGroup {group.name}")
        event_time = parse_event_time(values[group.time_feature])
        expires = None
        if ttl:
            expires = event_time + float(ttl["Value"]) * TTL_UNIT_SECONDS.get(ttl["Unit"], 1)
        key = (group.name, values[group.id_feature])
        with self.lock:
            current = self.records.get(key)
            if current is not None and event_time < current.event_time:
                return False
            self._commit({"t": "put", "g": key[0], "id": key[1], "et": event_time, "rec": record, "exp": expires})
            return True

    def get(self, group: Group, record_id: str, feature_names: list[str] | None) -> Stored | None:
        with self.lock:
            stored = self.records.get((group.name, record_id))
        if stored is None or stored.record is None:
            return None
        if stored.expires_at is not None and stored.expires_at <= time.time():
            return None
        if not feature_names:
            return stored
        wanted = set(feature_names)
        picked = [fv for fv in stored.record if fv["FeatureName"] in wanted]
        return Stored(stored.event_time, picked, stored.expires_at) if picked else None

    def delete(self, group: Group, record_id: str, event_time: float, mode: str) -> bool:
        key = (group.name, record_id)
        with self.lock:
            current = self.records.get(key)
            if current is None and mode == "HardDelete":
                return False
            if current is not None and event_time < current.event_time:
                return False
            self._commit({"t": "del", "g": key[0], "id": key[1], "et": event_time, "mode": mode})
            return True

    def count(self) -> int:
        with self.lock:
            return sum(1 for s in self.records.values() if s.record is not None)


class Throttle:
    """Answers a share of calls with a throttling error; one seeded RNG makes it repeatable."""

    def __init__(self, share: float, seed: int, code: str) -> None:
        self.code = code
        self._lock = threading.Lock()
        self.configure(share, seed)

    def configure(self, share: float, seed: int | None = None) -> None:
        if not 0.0 <= share <= 1.0:
            raise validation(f"throttle share {share} is not within [0, 1]")
        with self._lock:
            self.share = share
            if seed is not None:
                self.seed = seed
                self._rng = random.Random(seed)
            self.throttled = 0

    def check(self) -> None:
        with self._lock:
            hit = self.share > 0 and self._rng.random() < self.share
            if hit:
                self.throttled += 1
        if hit:
            raise ApiError(self.code, THROTTLE_CODES[self.code], "Rate exceeded (stand-in fault injection)")


class Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 keep-alive: botocore reuses its pooled connections, which matters for records/s.
    protocol_version = "HTTP/1.1"
    # Headers and body leave in two writes; with Nagle on, the body of every answer that has one
    # (errors, GetRecord) waited ~40 ms for the client's delayed ACK, which made throttling look
    # far more expensive than it is.
    disable_nagle_algorithm = True
    server: FeatureStoreServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        if self.server.verbose:
            super().log_message(format, *args)

    # ------------------------------------------------------------------ plumbing

    def _send(self, status: int, body: dict[str, Any] | None, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", f"{random.getrandbits(64):016x}")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return {}
        try:
            body = json.loads(raw)
        except json.JSONDecodeError as err:
            raise validation(f"request body is not JSON: {err}") from None
        if not isinstance(body, dict):
            raise validation("request body is not a JSON object")
        return body

    def _region(self) -> str | None:
        # The signing region names the control-plane region the caller means.
        match = _CREDENTIAL_SCOPE.search(self.headers.get("Authorization", ""))
        return match.group(1) if match else None

    def _dispatch(self, method: str) -> None:
        try:
            parts = urllib.parse.urlsplit(self.path)
            query = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
            # Split before unquoting: an ARN label arrives with its '/' as %2F.
            segments = [urllib.parse.unquote(s) for s in parts.path.split("/")[1:]]
            status, body = self._route(method, segments, query)
            self._send(status, body)
        except ApiError as err:
            if err.status >= 500 or self.server.verbose:
                print(f"{method} {self.path}: {err.code} {err.message}", flush=True)
            self._send(err.status, {"__type": err.code, "Message": err.message}, {"x-amzn-ErrorType": err.code})
        except Exception as err:  # noqa: BLE001 - a bug must answer InternalFailure, not drop the connection
            print(f"{method} {self.path}: internal error {type(err).__name__}: {err}", flush=True)
            self._send(500, {"__type": "InternalFailure", "Message": str(err)}, {"x-amzn-ErrorType": "InternalFailure"})

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._dispatch("GET")

    def do_PUT(self) -> None:  # noqa: N802
        self._dispatch("PUT")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch("DELETE")

    # ------------------------------------------------------------------ routes

    def _route(self, method: str, seg: list[str], query: dict[str, list[str]]) -> tuple[int, dict[str, Any] | None]:
        store = self.server.store
        if seg == ["_health"] and method == "GET":
            throttle = self.server.throttle
            return 200, {"status": "ok", "records": store.count(), "groups": len(store.groups),
                         "throttle": {"share": throttle.share, "seed": throttle.seed, "code": throttle.code,
                                      "throttled": throttle.throttled}}
        if seg == ["_admin", "throttle"] and method == "POST":
            body = self._body()
            seed = body.get("seed")
            self.server.throttle.configure(float(body.get("share", 0.0)), int(seed) if seed is not None else None)
            print(f"throttle share set to {self.server.throttle.share}", flush=True)
            return 200, {"share": self.server.throttle.share, "seed": self.server.throttle.seed}
        if seg == ["BatchGetRecord"] and method == "POST":
            return 200, self._batch_get(self._body())
        if len(seg) == 2 and seg[0] == "FeatureGroup":
            if method == "PUT":
                self._put(seg[1], self._body())
                return 200, None
            if method == "GET":
                return 200, self._get(seg[1], query)
            if method == "DELETE":
                self._delete(seg[1], query)
                return 200, None
        raise validation(f"{method} {'/'.join(seg)} is not an operation this Feature Store stand-in serves")

    def _group_or_error(self, name: str, not_found: str) -> Group:
        group = self.server.store.group(name, self._region())
        if group is not None:
            return group
        message = f"Amazon SageMaker can't find a FeatureGroup with name {group_name(name)}"
        if not_found == "ResourceNotFound":
            raise ApiError("ResourceNotFound", 404, message)
        raise validation(f"Resource Not Found: {message}")

    def _put(self, name: str, body: dict[str, Any]) -> None:
        self.server.throttle.check()  # before any work: a throttled call must change nothing
        record = body.get("Record")
        if not isinstance(record, list) or not record:
            raise validation("Record must be a non-empty list of FeatureValue")
        group = self._group_or_error(name, "ValidationError")
        self.server.store.put(group, record, body.get("TtlDuration"))

    def _get(self, name: str, query: dict[str, list[str]]) -> dict[str, Any]:
        record_id = (query.get("RecordIdentifierValueAsString") or [""])[0]
        if not record_id:
            raise validation("RecordIdentifierValueAsString is required")
        group = self._group_or_error(name, "ResourceNotFound")
        stored = self.server.store.get(group, record_id, query.get("FeatureName"))
        if stored is None:
            return {}
        answer: dict[str, Any] = {"Record": stored.record}
        if (query.get("ExpirationTimeResponse") or [""])[0] == "Enabled" and stored.expires_at is not None:
            answer["ExpiresAt"] = iso(stored.expires_at)
        return answer

    def _batch_get(self, body: dict[str, Any]) -> dict[str, Any]:
        records: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        with_expiry = body.get("ExpirationTimeResponse") == "Enabled"
        for ident in body.get("Identifiers") or []:
            name = ident["FeatureGroupName"]
            group = self.server.store.group(name, self._region())
            for record_id in ident.get("RecordIdentifiersValueAsString") or []:
                if group is None:
                    errors.append({"FeatureGroupName": name, "RecordIdentifierValueAsString": record_id,
                                   "ErrorCode": "ResourceNotFound",
                                   "ErrorMessage": f"Amazon SageMaker can't find a FeatureGroup with name {name}"})
                    continue
                stored = self.server.store.get(group, record_id, ident.get("FeatureNames"))
                if stored is None:
                    continue
                item: dict[str, Any] = {"FeatureGroupName": name, "RecordIdentifierValueAsString": record_id,
                                        "Record": stored.record}
                if with_expiry and stored.expires_at is not None:
                    item["ExpiresAt"] = iso(stored.expires_at)
                records.append(item)
        return {"Records": records, "Errors": errors, "UnprocessedIdentifiers": []}

    def _delete(self, name: str, query: dict[str, list[str]]) -> None:
        record_id = (query.get("RecordIdentifierValueAsString") or [""])[0]
        event_time = (query.get("EventTime") or [""])[0]
        mode = (query.get("DeletionMode") or ["SoftDelete"])[0]
        if not record_id or not event_time:
            raise validation("RecordIdentifierValueAsString and EventTime are required")
        if mode not in ("SoftDelete", "HardDelete"):
            raise validation(f"DeletionMode {mode!r} is not SoftDelete or HardDelete")
        group = self._group_or_error(name, "ValidationError")
        self.server.store.delete(group, record_id, parse_event_time(event_time), mode)


class FeatureStoreServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, store: FeatureStore, throttle: Throttle, verbose: bool = False) -> None:
        self.store = store
        self.throttle = throttle
        self.verbose = verbose
        super().__init__((HOST, port), Handler)


def load_registry(path: Path | None) -> dict[str, Group]:
    if path is None:
        return {}
    raw = json.loads(path.read_text(encoding="utf-8"))
    return {
        name: Group(name, spec["RecordIdentifierFeatureName"], spec["EventTimeFeatureName"],
                    frozenset(spec["Features"]) if spec.get("Features") else None)
        for name, spec in raw.items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local_kinesis.feature_store", description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--control-plane", default=None,
                        help="SageMaker control-plane endpoint for DescribeFeatureGroup (moto), e.g. http://127.0.0.1:5055")
    parser.add_argument("--region", default=DEFAULT_REGION, help="control-plane region when a request is unsigned")
    parser.add_argument("--groups", type=Path, default=None, help="JSON registry of groups (skips the control plane)")
    parser.add_argument("--throttle-share", type=float, default=0.0)
    parser.add_argument("--throttle-seed", type=int, default=0)
    parser.add_argument("--throttle-code", choices=sorted(THROTTLE_CODES), default="ThrottlingException")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)

    resolver = GroupResolver(args.control_plane, load_registry(args.groups), args.region)
    store = FeatureStore(args.data_dir, resolver)
    throttle = Throttle(args.throttle_share, args.throttle_seed, args.throttle_code)
    server = FeatureStoreServer(args.port, store, throttle, args.verbose)
    print(f"feature store stand-in on http://{HOST}:{args.port} (data {args.data_dir}, control plane "
          f"{args.control_plane or 'none'}, throttle {args.throttle_share} {args.throttle_code})", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

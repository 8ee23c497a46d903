"""The model registry in the lake: one entry per model version, and an append-only decision log.

Layout, under the lake root (file:// locally, s3:// on AWS; every read and write goes through
udfs.model_store.read_bytes / write_bytes):

    models/registry/<version>.json                               the version's entry (rewritten on
                                                                 each change of status)
    models/registry/decisions/<utc>-<action>-<version>.json      one object per decision, never
                                                                 rewritten: the log is the listing

An entry:

    {"version", "status": candidate | challenger | champion | retired | refused,
     "created_at", "updated_at",
     "metrics": the gate's summary and the held-out metrics of training.json,
     "lineage": {"training_window": {from, to}, "eval_window": {from, to},
                 "data_hash": {"algorithm", "value", "objects", "bytes", "over"},
                 "code_version", "parent": the champion when it was trained (None: none yet)},
     "approval": {"by", "at", "note"} or None,
     "history": [{"at", "status", "reason"}, ...]}

Statuses: a trained version is a `candidate`; the revenue gate makes it a `challenger` (passed:
eligible to serve the challenger arm and to be promoted) or `refused` (with the gate's reason);
a promotion makes it `champion` and the champion it replaces `retired`; a rollback retires the
rolled-back version and makes the previous one `champion` again.

The data hash of the training inputs (`data_hash`): SHA-256 over the sorted lines
"<key relative to the lake root> <size> <content tag>" of every object under the prefixes the
training read (processed/features/ and raw/) whose hour partition lies in the training window
(and the held-out days: the gate reads them). The content tag is the object's ETag on S3 and the
MD5 of its bytes in a local lake (the ETag S3 gives a single-part upload), so the same data gives
the same hash in both, and an added, removed or rewritten file changes it, without reading
Parquet.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

import pandas as pd

from udfs import model_store

REGISTRY_PREFIX = "models/registry"
DECISIONS = "decisions"
STATUSES = ("candidate", "challenger", "champion", "retired", "refused")
HASHED_PREFIXES = ("processed/features", "raw")
CODE_VERSION_ENV = "YIELD_CODE_VERSION"  # set by the container image on AWS (the git commit it was built from)


class RegistryError(RuntimeError):
    """A registry entry is missing, unreadable or in the wrong status; the message names it."""


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def entry_uri(lake_uri: str, version: str) -> str:
    if not version or "/" in version:
        raise RegistryError(f"invalid model version {version!r}")
    return model_store.join(lake_uri, REGISTRY_PREFIX, f"{version}.json")


def decisions_uri(lake_uri: str) -> str:
    return model_store.join(lake_uri, REGISTRY_PREFIX, DECISIONS)


# --------------------------------------------------------------------------- listing


def list_objects(prefix_uri: str) -> list[tuple[str, int, str]]:
    """(key relative to `prefix_uri`, size, content tag) of every object under a file:// or s3://
    prefix, hidden files (in-progress sink files) excluded; sorted by key."""
    parsed = urlparse(prefix_uri)
    found: list[tuple[str, int, str]] = []
    if parsed.scheme == "file":
        base = Path(parsed.path)
        if not base.exists():
            return []
        for path in base.rglob("*"):
            rel = path.relative_to(base).as_posix()
            if path.is_file() and not any(part.startswith((".", "_")) for part in rel.split("/")):
                found.append((rel, path.stat().st_size, hashlib.md5(path.read_bytes()).hexdigest()))  # noqa: S324 - a content tag, as S3's ETag
    elif parsed.scheme in ("s3", "s3a"):
        bucket, key = parsed.netloc, parsed.path.strip("/")
        client = model_store._s3_client()  # noqa: SLF001 - the lake's one S3 client factory
        prefix = f"{key}/" if key else ""
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                rel = obj["Key"][len(prefix):]
                if rel and not any(part.startswith((".", "_")) for part in rel.split("/")):
                    found.append((rel, int(obj["Size"]), str(obj.get("ETag", "")).strip('"')))
    else:
        raise RegistryError(f"unsupported URI scheme {parsed.scheme!r} in {prefix_uri} (expected file:// or s3://)")
    return sorted(found)


def _partition_hour(rel: str) -> pd.Timestamp | None:
    """The hour of a key's year=/month=/day=/hour= partition (None when it has none)."""
    parts = dict(p.split("=", 1) for p in rel.split("/") if "=" in p)
    try:
        return pd.Timestamp(f"{parts['year']}-{parts['month']}-{parts['day']} {parts['hour']}:00", tz="UTC")
    except (KeyError, ValueError):
        return None


def _utc(value: object) -> pd.Timestamp:
    t = pd.Timestamp(value)
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")


def data_hash(lake_uri: str, start: object, end: object, prefixes: tuple[str, ...] = HASHED_PREFIXES) -> dict:
    """The hash of the training inputs: the objects of `prefixes` whose hour partition is in
    [start, end) (see the module docstring)."""
    lo, hi = _utc(start), _utc(end)
    digest = hashlib.sha256()
    objects = size = 0
    for prefix in prefixes:
        for rel, n, tag in list_objects(model_store.join(lake_uri, prefix)):
            hour = _partition_hour(rel)
            if hour is None or not lo.floor("h") <= hour < hi:
                continue
            digest.update(f"{prefix}/{rel} {n} {tag}\n".encode())
            objects += 1
            size += n
    return {"algorithm": "sha256", "value": digest.hexdigest(), "objects": objects, "bytes": size,
            "over": f"key, size and content tag of the objects under {', '.join(prefixes)} "
                    f"with hour partitions in [{lo.isoformat()}, {hi.isoformat()})"}


def code_version() -> str:
    """$YIELD_CODE_VERSION (the image's commit on AWS), else the git commit of this checkout
    (with "-dirty" when files differ from it), else the installed package's version."""
    if os.environ.get(CODE_VERSION_ENV):
        return os.environ[CODE_VERSION_ENV]
    root = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
        return f"git:{commit}{'-dirty' if dirty else ''}"
    except (OSError, subprocess.SubprocessError):
        from importlib.metadata import PackageNotFoundError, version

        try:
            return f"package:{version('predictive-yield')}"
        except PackageNotFoundError:
            return "unknown"


# --------------------------------------------------------------------------- entries


def read_entry(lake_uri: str, version: str, missing_ok: bool = False) -> dict | None:
    raw = model_store.read_bytes(entry_uri(lake_uri, version), missing_ok=True)
    if raw is None:
        if missing_ok:
            return None
        raise RegistryError(f"model version {version!r} is not in the registry ({entry_uri(lake_uri, version)})")
    try:
        entry = json.loads(raw)
    except ValueError as err:
        raise RegistryError(f"{entry_uri(lake_uri, version)}: not a registry entry ({err})") from err
    if entry.get("status") not in STATUSES:
        raise RegistryError(f"{entry_uri(lake_uri, version)}: unknown status {entry.get('status')!r}")
    return entry


def write_entry(lake_uri: str, entry: dict) -> dict:
    if entry.get("status") not in STATUSES:
        raise RegistryError(f"status {entry.get('status')!r} is not one of {STATUSES}")
    model_store.write_bytes(entry_uri(lake_uri, entry["version"]), json.dumps(entry, indent=1, default=str).encode())
    return entry


def entries(lake_uri: str) -> list[dict]:
    """Every entry, in the order they were registered."""
    found = []
    for rel, _size, _tag in list_objects(model_store.join(lake_uri, REGISTRY_PREFIX)):
        if "/" not in rel and rel.endswith(".json"):
            found.append(read_entry(lake_uri, rel[: -len(".json")]))
    return sorted(found, key=lambda e: (e["created_at"], e["version"]))


def register(lake_uri: str, version: str, metrics: dict, lineage: dict, reason: str) -> dict:
    """A new candidate (a version already registered is refused: versions are immutable)."""
    if read_entry(lake_uri, version, missing_ok=True) is not None:
        raise RegistryError(f"model version {version!r} is already registered")
    for field in ("training_window", "data_hash", "code_version", "parent"):
        if field not in lineage:
            raise RegistryError(f"lineage of {version!r} lacks {field!r}")
    at = now()
    return write_entry(lake_uri, {"version": version, "status": "candidate", "created_at": at, "updated_at": at,
                                  "metrics": metrics, "lineage": lineage, "approval": None,
                                  "history": [{"at": at, "status": "candidate", "reason": reason}]})


def set_status(lake_uri: str, version: str, status: str, reason: str, **fields: object) -> dict:
    entry = read_entry(lake_uri, version)
    if status not in STATUSES:
        raise RegistryError(f"status {status!r} is not one of {STATUSES}")
    at = now()
    entry |= fields | {"status": status, "updated_at": at}
    entry.setdefault("history", []).append({"at": at, "status": status, "reason": reason})
    return write_entry(lake_uri, entry)


def approve(lake_uri: str, version: str, by: str, note: str) -> dict:
    entry = read_entry(lake_uri, version)
    if not by.strip():
        raise RegistryError("an approval needs who approves (--by)")
    if entry["status"] not in ("candidate", "challenger"):
        raise RegistryError(f"model version {version!r} is {entry['status']}: only a candidate or a challenger "
                            "can be approved")
    entry["approval"] = {"by": by, "at": now(), "note": note}
    entry["updated_at"] = entry["approval"]["at"]
    return write_entry(lake_uri, entry)


# --------------------------------------------------------------------------- the decision log


def record_decision(lake_uri: str, action: str, version: str | None, outcome: str, reason: str,
                    by: str = "mlops", details: dict | None = None) -> dict:
    """Append one decision (one new object; nothing is ever rewritten). `outcome`: what was
    decided (e.g. retrain, schedule, none, passed, refused, promoted, rolled back, error)."""
    at = datetime.now(UTC)
    name = version or "-"
    key = f"{at:%Y%m%dT%H%M%S%fZ}-{action}-{name}.json"
    record = {"at": at.isoformat(timespec="microseconds"), "action": action, "version": version,
              "outcome": outcome, "reason": reason, "by": by, "details": details or {}}
    uri = model_store.join(decisions_uri(lake_uri), key)
    if model_store.read_bytes(uri, missing_ok=True) is not None:  # same microsecond: never overwrite
        raise RegistryError(f"decision {uri} exists already")
    model_store.write_bytes(uri, json.dumps(record, indent=1, default=str).encode())
    return record


def decisions(lake_uri: str) -> list[dict]:
    """The decision log, oldest first (keys start with the UTC time)."""
    base = decisions_uri(lake_uri)
    out = []
    for rel, _size, _tag in list_objects(base):
        raw = model_store.read_bytes(model_store.join(base, rel))
        out.append(json.loads(raw))
    return out


def format_decisions(records: list[dict], width: int = 100) -> str:
    lines = [f"{'time (UTC)':<20} {'action':<11} {'version':<22} {'outcome':<12} reason"]
    for r in records:
        reason = r["reason"] if len(r["reason"]) <= width else r["reason"][: width - 3] + "..."
        lines.append(f"{r['at'][:19]:<20} {r['action']:<11} {(r['version'] or '-'):<22} {r['outcome']:<12} {reason}")
    return "\n".join(lines)

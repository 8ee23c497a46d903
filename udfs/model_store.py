"""Model versions in the lake: where they live, and how the job finds the current one.

Layout (BRIEF.md "Data lake layout"), under the lake root (file:// locally, s3:// on AWS):

    models/production/current/manifest.json      {"version": "<version>", ...}: the one in use
    models/production/current/<version>/         booster, feature list, metrics, baseline.json
    models/production/champion/, challenger/     candidates and the previous current (see training)

The job reads the manifest at start and again while it runs (DESIGN.md section 6): a new
manifest is a model swap without a restart. Everything here reads and writes small text files
through one pair of functions, so the same code serves a local folder and an S3 bucket.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from udfs.drift import Baseline

MODELS_PREFIX = "models/production"
CURRENT = f"{MODELS_PREFIX}/current"
MANIFEST = "manifest.json"
BASELINE_FILE = "baseline.json"
# Locally the S3 stand-in; on AWS unset (the default endpoint and the application's role).
S3_ENDPOINT_ENV = "YIELD_S3_ENDPOINT"


class ModelStoreError(RuntimeError):
    """A manifest or artifact is missing or unreadable; the message names the URI."""


def join(base: str, *parts: str) -> str:
    return "/".join([base.rstrip("/"), *(p.strip("/") for p in parts)])


def _s3_client():  # noqa: ANN202 - boto3 clients have no importable type
    import boto3

    return boto3.client("s3", endpoint_url=os.environ.get(S3_ENDPOINT_ENV) or None)


def _s3_location(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    return parsed.netloc, parsed.path.lstrip("/")


def read_bytes(uri: str, missing_ok: bool = False) -> bytes | None:
    """The content of a file:// or s3:// (s3a://) URI; ModelStoreError if it cannot be read.

    With `missing_ok`, a file that does not exist is None (any other failure still raises).
    """
    scheme = urlparse(uri).scheme
    try:
        if scheme == "file":
            path = Path(urlparse(uri).path)
            if missing_ok and not path.exists():
                return None
            return path.read_bytes()
        if scheme in ("s3", "s3a"):
            bucket, key = _s3_location(uri)
            client = _s3_client()
            try:
                return client.get_object(Bucket=bucket, Key=key)["Body"].read()
            except client.exceptions.NoSuchKey:
                if missing_ok:
                    return None
                raise
    except Exception as err:  # noqa: BLE001 - any storage failure is "cannot read", named by URI
        raise ModelStoreError(f"cannot read {uri}: {type(err).__name__}: {err}") from err
    raise ModelStoreError(f"unsupported URI scheme {scheme!r} in {uri} (expected file:// or s3://)")


def write_bytes(uri: str, data: bytes) -> None:
    """Write a file:// or s3:// URI; a local file is replaced atomically (readers never see half)."""
    scheme = urlparse(uri).scheme
    if scheme == "file":
        path = Path(urlparse(uri).path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
    elif scheme in ("s3", "s3a"):
        bucket, key = _s3_location(uri)
        _s3_client().put_object(Bucket=bucket, Key=key, Body=data)  # S3 puts are atomic per object
    else:
        raise ModelStoreError(f"unsupported URI scheme {scheme!r} in {uri} (expected file:// or s3://)")


@dataclass(frozen=True)
class ModelRef:
    """The current model as the manifest names it."""

    version: str
    uri: str  # the version's folder

    def artifact(self, name: str) -> str:
        return join(self.uri, name)


def manifest_uri(lake_uri: str) -> str:
    return join(lake_uri, CURRENT, MANIFEST)


def current_model(lake_uri: str) -> ModelRef | None:
    """The version the manifest names, or None when no model was ever promoted."""
    uri = manifest_uri(lake_uri)
    raw = read_bytes(uri, missing_ok=True)
    if raw is None:
        return None
    try:
        version = str(json.loads(raw)["version"]).strip()
    except (ValueError, KeyError, TypeError) as err:
        raise ModelStoreError(f"{uri}: not a manifest with a 'version' ({err})") from err
    if not version or "/" in version:
        raise ModelStoreError(f"{uri}: invalid version {version!r}")
    return ModelRef(version, join(lake_uri, CURRENT, version))


def write_manifest(lake_uri: str, version: str, **extra: str) -> None:
    """Make `version` (already written under current/) the one the job uses."""
    write_bytes(manifest_uri(lake_uri), json.dumps({"version": version, **extra}, indent=1).encode())


def load_baseline(ref: ModelRef) -> Baseline:
    uri = ref.artifact(BASELINE_FILE)
    try:
        return Baseline.from_json((read_bytes(uri) or b"").decode("utf-8"))
    except (ValueError, KeyError, TypeError) as err:
        raise ModelStoreError(f"{uri}: not a valid baseline ({err})") from err

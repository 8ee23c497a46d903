"""Model versions in the lake: where they live, and how the job finds the current one.

Layout (BRIEF.md "Data lake layout"), under the lake root (file:// locally, s3:// on AWS):

    models/production/current/manifest.json      {"version": "<version>", ...}: the one in use
                                                 (the champion), and optionally
                                                 "challenger": "<version>", the challenger arm
    models/production/current/<version>/         booster, feature list, metrics, baseline.json
    models/production/champion/, challenger/     candidates and the previous current (see training)

The job reads the manifest at start and again while it runs (DESIGN.md section 6): a new
manifest is a model swap without a restart. Everything here reads and writes small text files
through one pair of functions, so the same code serves a local folder and an S3 bucket.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pandas as pd

from udfs import floor_policy, revenue_curves, rules
from udfs.aws import aws_client
from udfs.drift import Baseline
from udfs.model_features import FEATURES

MODELS_PREFIX = "models/production"
CURRENT = f"{MODELS_PREFIX}/current"
MANIFEST = "manifest.json"
BASELINE_FILE = "baseline.json"
# Locally the S3 stand-in; on AWS unset (the default endpoint and the application's role).
S3_ENDPOINT_ENV = "YIELD_S3_ENDPOINT"
# Where the lake's region comes from when no caller names it: the environment MSF gives the job's
# processes (the lake bucket is in the application's region). The first one set wins; boto3 by
# itself reads only AWS_DEFAULT_REGION.
REGION_ENVS = ("AWS_REGION", "AWS_DEFAULT_REGION")


class ModelStoreError(RuntimeError):
    """A manifest or artifact is missing or unreadable; the message names the URI."""


def join(base: str, *parts: str) -> str:
    return "/".join([base.rstrip("/"), *(p.strip("/") for p in parts)])


def lake_region(region: str | None = None) -> str | None:
    """`region` if given, else the region of the environment (AWS_REGION, AWS_DEFAULT_REGION)."""
    return region or next((os.environ[name] for name in REGION_ENVS if os.environ.get(name)), None)


# The job reads the manifest once in the scoring function's `open` (before the first window) and
# then from a background poller (udfs/scoring.py), so a read holds no floor; it still holds the
# start and delays a swap. With the client defaults (5 attempts, 30 s read timeout) an S3 that
# accepts connections and never answers held a read for about 150 s
# (tests/integration/test_model_store_outage.py). Models and manifests are small
# (KB to a few MB; the read timeout is per socket read, not for the whole object), so a read gets
# two attempts of a 2 s connect and 5 s read timeout: at most about READ_BUDGET_S, after which the
# job keeps its last good model (or the provisional rule) and looks again at the next poll.
READ_CONNECT_TIMEOUT_S = 2.0
READ_TIMEOUT_S = 5.0
READ_RETRIES = 1
READ_BUDGET_S = (READ_RETRIES + 1) * (READ_CONNECT_TIMEOUT_S + READ_TIMEOUT_S)


def _s3_client(region: str | None = None, *, for_reads: bool = False):  # noqa: ANN202 - boto3 clients have no importable type
    """An S3 client in the lake's region. Without a region it would address us-east-1 and
    follow S3's redirect to the bucket's region on every new client. `for_reads`: within the
    read budget above (writers, training and promotion, keep the client defaults)."""
    endpoint, region = os.environ.get(S3_ENDPOINT_ENV) or None, lake_region(region)
    if for_reads:
        return aws_client("s3", endpoint, region, max_attempts=READ_RETRIES,
                          connect_timeout=READ_CONNECT_TIMEOUT_S, read_timeout=READ_TIMEOUT_S)
    return aws_client("s3", endpoint, region)


def _s3_location(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    return parsed.netloc, parsed.path.lstrip("/")


def read_bytes(uri: str, missing_ok: bool = False, *, region: str | None = None) -> bytes | None:
    """The content of a file:// or s3:// (s3a://) URI; ModelStoreError if it cannot be read.

    With `missing_ok`, a file that does not exist is None (any other failure still raises).
    `region`: the bucket's, when the environment does not name it (see `lake_region`).
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
            client = _s3_client(region, for_reads=True)
            try:
                return client.get_object(Bucket=bucket, Key=key)["Body"].read()
            except client.exceptions.NoSuchKey:
                if missing_ok:
                    return None
                raise
    except Exception as err:  # noqa: BLE001 - any storage failure is "cannot read", named by URI
        raise ModelStoreError(f"cannot read {uri}: {type(err).__name__}: {err}") from err
    raise ModelStoreError(f"unsupported URI scheme {scheme!r} in {uri} (expected file:// or s3://)")


def write_bytes(uri: str, data: bytes, *, region: str | None = None) -> None:
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
        _s3_client(region).put_object(Bucket=bucket, Key=key, Body=data)  # S3 puts are atomic per object
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
    return parse_manifest(lake_uri, read_bytes(manifest_uri(lake_uri), missing_ok=True))


def parse_manifest(lake_uri: str, raw: bytes | None) -> ModelRef | None:
    """The ModelRef a manifest's content names (None for no manifest); ModelStoreError if invalid."""
    uri = manifest_uri(lake_uri)
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


@dataclass(frozen=True)
class Manifest:
    """Both arms the manifest names: the champion (its "version") and the challenger, if any."""

    champion: ModelRef
    challenger: ModelRef | None = None
    replaced: str = ""  # the champion before this one: what `rollback` goes back to


def parse_arms(lake_uri: str, raw: bytes | None) -> Manifest | None:
    """The Manifest a manifest's content names (None for no manifest); ModelStoreError if the
    champion or a named challenger is not a valid version."""
    champion = parse_manifest(lake_uri, raw)
    if champion is None:
        return None
    body = json.loads(raw)  # parse_manifest has checked it is a JSON object with a version
    challenger = str(body.get("challenger") or "").strip()
    if "/" in challenger:
        raise ModelStoreError(f"{manifest_uri(lake_uri)}: invalid challenger {challenger!r}")
    ref = ModelRef(challenger, join(lake_uri, CURRENT, challenger)) if challenger and challenger != champion.version \
        else None
    return Manifest(champion, ref, str(body.get("replaced") or ""))


def read_arms(lake_uri: str) -> Manifest | None:
    return parse_arms(lake_uri, read_bytes(manifest_uri(lake_uri), missing_ok=True))


def load_baseline(ref: ModelRef) -> Baseline:
    uri = ref.artifact(BASELINE_FILE)
    try:
        return Baseline.from_json((read_bytes(uri) or b"").decode("utf-8"))
    except (ValueError, KeyError, TypeError) as err:
        raise ModelStoreError(f"{uri}: not a valid baseline ({err})") from err


# --------------------------------------------------------------------------- versions and slots
# Training writes a candidate into challenger/<version>/; `promote` copies a version (from the
# challenger slot, or from champion/ to roll back) into current/<version>/ and champion/<version>/,
# then writes current/manifest.json LAST: the job never sees a manifest whose files are not there.

BOOSTER_FILE = "model.ubj"  # XGBoost's binary JSON
FEATURES_FILE = "features.json"  # {"features": [...]}: the booster's input columns, in order
TRAINING_FILE = "training.json"  # training window, held-out metrics against the baselines
VERSION_FILES = (BOOSTER_FILE, FEATURES_FILE, TRAINING_FILE, BASELINE_FILE)
# The revenue curves (udfs/revenue_curves.py), present when the training logs held exploration floors.
CURVE_FILES = revenue_curves.FILES
SLOTS = ("current", "champion", "challenger")


def slot_uri(lake_uri: str, slot: str, version: str | None = None) -> str:
    if slot not in SLOTS:
        raise ModelStoreError(f"unknown model slot {slot!r}; one of {SLOTS}")
    return join(lake_uri, MODELS_PREFIX, slot, *([version] if version else []))


def write_version(lake_uri: str, slot: str, version: str, files: dict[str, bytes]) -> str:
    """Write a version's files under <slot>/<version>/; returns the folder URI."""
    folder = slot_uri(lake_uri, slot, version)
    for name, data in files.items():
        write_bytes(join(folder, name), data)
    return folder


def read_version(lake_uri: str, slot: str, version: str) -> dict[str, bytes]:
    folder = slot_uri(lake_uri, slot, version)
    files = {name: read_bytes(join(folder, name)) or b"" for name in VERSION_FILES}
    for name in CURVE_FILES:
        data = read_bytes(join(folder, name), missing_ok=True)
        if data is not None:
            files[name] = data
    return files


def promote(lake_uri: str, version: str, source: str = "challenger") -> ModelRef:
    """Make `version` (from the challenger slot, or champion for a rollback) the current model.

    Copies its files into current/ and champion/ (every promoted version stays there for
    rollbacks), then swaps the manifest, the one write the job watches.
    """
    files = read_version(lake_uri, source, version)
    previous = current_model(lake_uri)
    write_version(lake_uri, "current", version, files)
    if source != "champion":
        write_version(lake_uri, "champion", version, files)
    write_bytes(join(slot_uri(lake_uri, "champion"), MANIFEST),
                json.dumps({"version": version, "replaced": previous.version if previous else None}).encode())
    write_manifest(lake_uri, version, promoted_from=source, replaced=previous.version if previous else "")
    ref = current_model(lake_uri)
    if ref is None or ref.version != version:
        raise ModelStoreError(f"{manifest_uri(lake_uri)} does not name {version} after the promotion")
    return ref


def start_challenger(lake_uri: str, version: str) -> Manifest:
    """Serve `version` (from the challenger slot) as the challenger arm beside the champion.

    Its files go to current/<version>/ first; the manifest, rewritten with the same champion and
    a "challenger", comes last. A promotion or a rollback ends the challenger arm.
    """
    raw = read_bytes(manifest_uri(lake_uri), missing_ok=True)
    if parse_arms(lake_uri, raw) is None:
        raise ModelStoreError(f"{manifest_uri(lake_uri)}: no champion yet; promote a version before a challenger")
    write_version(lake_uri, "current", version, read_version(lake_uri, "challenger", version))
    write_bytes(manifest_uri(lake_uri), json.dumps(json.loads(raw) | {"challenger": version}, indent=1).encode())
    return read_arms(lake_uri)


def stop_challenger(lake_uri: str) -> Manifest | None:
    """The champion alone again (one manifest write)."""
    raw = read_bytes(manifest_uri(lake_uri), missing_ok=True)
    if raw is None:
        return None
    body = {k: v for k, v in json.loads(raw).items() if k != "challenger"}
    write_bytes(manifest_uri(lake_uri), json.dumps(body, indent=1).encode())
    return read_arms(lake_uri)


def rollback(lake_uri: str) -> ModelRef:
    """Back to the champion the current one replaced: one manifest write (its files are still in
    current/<version>/ from its own promotion; copied back from champion/ if they are not)."""
    arms = read_arms(lake_uri)
    if arms is None or not arms.replaced:
        raise ModelStoreError(f"{manifest_uri(lake_uri)}: no previous champion to roll back to")
    previous = arms.replaced
    if read_bytes(join(slot_uri(lake_uri, "current", previous), BOOSTER_FILE), missing_ok=True) is None:
        write_version(lake_uri, "current", previous, read_version(lake_uri, "champion", previous))
    # The version before `previous` is in the champion slot's history; the rolled-back one is
    # what a second rollback would go back to, so two rollbacks undo each other.
    write_manifest(lake_uri, previous, promoted_from="rollback", replaced=arms.champion.version)
    ref = current_model(lake_uri)
    if ref is None or ref.version != previous:
        raise ModelStoreError(f"{manifest_uri(lake_uri)} does not name {previous} after the rollback")
    return ref


@dataclass(frozen=True)
class LoadedModel:
    """A booster ready to score, with the ordered feature list it was trained on, and the
    revenue curves when the version has them."""

    version: str
    booster: object  # xgboost.Booster (imported lazily: the job's client never needs it)
    features: tuple[str, ...]
    curves: revenue_curves.RevenueCurveModel | None = None

    def predict(self, inputs: pd.DataFrame) -> np.ndarray:
        """Predicted CPM (EUR) per row of a feature matrix with (at least) the model's features."""
        import xgboost as xgb

        matrix = xgb.DMatrix(inputs[list(self.features)].to_numpy(np.float64), feature_names=list(self.features),
                             missing=np.nan)
        return np.asarray(self.booster.predict(matrix), dtype=np.float64)


def load_model(ref: ModelRef) -> LoadedModel:
    """Read and check a version's booster and feature list; ModelStoreError if either is unusable.

    A model that loads but predicts NaN or inf on a probe row is refused too: it would only
    ever produce broken floors.
    """
    import xgboost as xgb

    try:
        features = tuple(json.loads(read_bytes(ref.artifact(FEATURES_FILE)) or b"")["features"])
    except (ValueError, KeyError, TypeError) as err:
        raise ModelStoreError(f"{ref.artifact(FEATURES_FILE)}: not a feature list ({err})") from err
    unknown = [f for f in features if f not in FEATURES]
    if not features or unknown:
        raise ModelStoreError(f"{ref.artifact(FEATURES_FILE)}: unknown or no features {unknown}")
    raw = read_bytes(ref.artifact(BOOSTER_FILE)) or b""
    try:
        booster = xgb.Booster()
        booster.load_model(bytearray(raw))
    except xgb.core.XGBoostError as err:
        raise ModelStoreError(f"{ref.artifact(BOOSTER_FILE)}: not an XGBoost model ({str(err)[:200]})") from err
    if booster.num_features() != len(features):
        raise ModelStoreError(f"{ref.artifact(BOOSTER_FILE)}: booster takes {booster.num_features()} features, "
                              f"{FEATURES_FILE} names {len(features)}")
    model = LoadedModel(ref.version, booster, features)
    probe = model.predict(pd.DataFrame(np.full((1, len(features)), np.nan), columns=list(features)))
    if not np.all(np.isfinite(probe)):
        raise ModelStoreError(f"{ref.uri}: the booster predicts {probe[0]} on a probe row")
    curves = load_curves(ref)
    return model if curves is None else dataclasses.replace(model, curves=curves)


def load_curves(ref: ModelRef) -> revenue_curves.RevenueCurveModel | None:
    """The version's revenue curves; None when it has none; ModelStoreError when they are
    incomplete, unreadable, or give non-finite curves on a probe segment."""
    files = {name: read_bytes(ref.artifact(name), missing_ok=True) for name in CURVE_FILES}
    present = {name: data for name, data in files.items() if data is not None}
    if not present:
        return None
    if len(present) != len(files):
        raise ModelStoreError(f"{ref.uri}: revenue curves incomplete, missing {sorted(set(files) - set(present))}")
    try:
        curves = revenue_curves.RevenueCurveModel.from_files(present)
        probe = pd.DataFrame({"level": [rules.COARSE],
                              "segment_key": [rules.coarse_segment_key("banner", "standard", "mobile", 1)],
                              "hour_of_day": [12], "is_weekend": [False]})
        revenue, fill, _known = curves.curves(probe, floor_policy.FLOOR_GRID)
    except Exception as err:  # noqa: BLE001 - any defect of the files means the version is unusable
        raise ModelStoreError(f"{ref.uri}: revenue curves unusable ({str(err)[:200]})") from err
    if not (np.all(np.isfinite(revenue)) and np.all(np.isfinite(fill))):
        raise ModelStoreError(f"{ref.uri}: revenue curves not finite on a probe segment")
    return curves

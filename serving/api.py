"""The floor API: an ASGI app (Starlette, JSON by orjson) that answers from the floors snapshot.

    POST /v2/predict          one impression  -> its floor, predicted CPM, level, model, window
    POST /v2/predict/batch    up to 1,000     -> one answer each, in order
    GET  /v2/health           snapshot age, items, model versions; 503 past the staleness bound
    GET  /v2/arms             champion/challenger: weights, answers per arm, sample-ratio-mismatch p-values
    GET  /v2/floors/prebid/{domain}           the domain's Prebid Floors Module file (public)
    GET  /v2/openapi.yaml     the checked-in OpenAPI document (serving/openapi.yaml)

The request path reads one in-memory dict (``FloorsSnapshot.current``): it never computes a floor
and never calls DynamoDB (DESIGN.md section 10). Each impression belongs to an arm, champion or
challenger, by ``udfs.arms.arm_for(impression_id, arm_salt, model_weights)``; a challenger
impression gets the item's challenger floor when it has one, else the champion's, and the answer
names the arm that served. Run it with ``make serve`` (``python -m
serving.api``); settings come from the job's application properties (the floors table) and
``YIELD_API_*`` environment variables (see ``Settings.from_env`` and docs/serving.md).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import yaml
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from serving import prebid
from serving.access_log import AccessLogMiddleware, Sink, annotate
from serving.floor_reader import segment_keys
from serving.keys import (
    DEFAULT_KEYS_FILE,
    MISSING,
    REVOKED,
    ApiKey,
    ApiKeys,
    SecretKeySource,
    hash_key,
    key_id,
    retry_after_header,
)
from serving.metrics import ArmCounts, Metrics
from serving.snapshot import ARMS, DEFAULT_ARM, STATIC, Floor, FloorsSnapshot, Snapshot
from udfs import arms, rules
from udfs.aws import aws_client

OPENAPI_PATH = Path(__file__).with_name("openapi.yaml")
BATCH_MAX = 1000
MAX_BODY_BYTES = 4 * 1024 * 1024  # a full batch of 1,000 requests is about 300 KB
PREBID_REUSE_S = 1.0  # a domain's Prebid file is rebuilt at most once a second per snapshot
PREBID_CACHE_MAX = 4096
ENV_PREFIX = "YIELD_API_"
# The champion/challenger split's salt: changing it reshuffles every impression between the arms.
DEFAULT_ARM_SALT = "predictive-yield-arms-1"


# ---------------------------------------------------------------------------------------------- settings


def parse_weights(text: str) -> dict[str, int]:
    """'champion=80,challenger=20' -> {'champion': 80, 'challenger': 20}."""
    weights = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, weight = part.partition("=")
        weights[name.strip()] = int(weight)
    if not weights or any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
        raise ValueError(f"model weights {text!r}: want name=weight pairs, weights >= 0, at least one > 0")
    return weights


@dataclass(frozen=True)
class Settings:
    table: str
    endpoint: str | None = None
    region: str | None = None
    api_keys_path: Path = DEFAULT_KEYS_FILE
    # A Secrets Manager secret holding the key document (name or ARN): when set, the keys come from it
    # (re-read every keys_refresh_s) instead of the file. secrets_endpoint None: the SDK's (on AWS).
    api_keys_secret: str | None = None
    secrets_endpoint: str | None = None
    keys_refresh_s: float = 30.0
    refresh_interval_s: float = 5.0  # how often the snapshot is reloaded
    max_staleness_s: float = 60.0  # health answers 503 past this age
    rate_per_s: float = 10_000.0  # token bucket per key (a key file entry may override)
    burst: float = 20_000.0
    static_floor: float = rules.STATIC_FLOOR_EUR
    floor_min: float = rules.FLOOR_MIN_EUR
    skip_rate: int = 0  # Prebid skipRate, 0-100 (a holdout without floors)
    # Champion/challenger weights (predict answers and the Prebid file's model groups) and the
    # salt of the impression hash that splits them (udfs/arms.py).
    model_weights: Mapping[str, int] = field(default_factory=lambda: dict(prebid.DEFAULT_MODEL_WEIGHTS))
    arm_salt: str = DEFAULT_ARM_SALT
    prebid_inventory_type: str = "standard"
    prebid_max_age_s: int = 60  # Cache-Control max-age of the Prebid file
    cors_origin: str = "*"
    # Prebid Server's floors fetch limits (?client=server): rules per model group (0: none), schema
    # fields, file size in KB (0: none); see serving/prebid.py.
    pbs_max_rules: int = prebid.PrebidServerLimits.max_rules
    pbs_max_schema_dims: int = prebid.PrebidServerLimits.max_schema_dims
    pbs_max_file_kb: int = prebid.PrebidServerLimits.max_file_kb
    # The deadline of the background Scan's calls: a hung DynamoDB never holds a refresh for long.
    connect_timeout_s: float = 1.0
    read_timeout_s: float = 2.0
    max_attempts: int = 1
    host: str = "127.0.0.1"
    port: int = 8080
    # "keys": X-API-Key checked against the key file, token bucket per key (local, and the last line).
    # "gateway": API Gateway's usage plan checked the key and throttled before the request got here
    # (deploy/cloudformation/api/yield-api.yaml); the app checks neither.
    auth: str = "keys"
    # CloudWatch metrics (serving/metrics.py): "off", or "cloudwatch" to send them every metrics_interval_s.
    metrics: str = "off"
    metrics_endpoint: str | None = None
    metrics_interval_s: float = 60.0
    # Access log (serving/access_log.py): "json" (one line per request on stdout, no key) or "off";
    # access_log_sample: the share of 2xx lines written (every other status is always written).
    access_log: str = "json"
    access_log_sample: float = 1.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The floors table from the application properties (``YIELD_API_PROPERTIES``, else the
        default file), everything else from ``YIELD_API_*`` variables or the defaults above."""
        from flink_jobs.config import load_config

        env = os.environ if environ is None else environ

        def get(name: str, default: Any, cast: Callable[[str], Any] = str) -> Any:
            value = env.get(ENV_PREFIX + name)
            return default if value is None or value == "" else cast(value)

        props = get("PROPERTIES", None, Path)
        floors = load_config(props).floors
        d = cls(table=floors.table_name)
        endpoint = get("DYNAMODB_ENDPOINT", floors.endpoint)  # "aws": the SDK's endpoint for the region
        metrics_endpoint = get("METRICS_ENDPOINT", None)
        # Secrets Manager: locally the stand-in that serves the floors table (moto), "aws" on AWS.
        secrets_endpoint = get("SECRETS_ENDPOINT", endpoint)
        return cls(
            table=get("TABLE", floors.table_name),
            endpoint=None if endpoint == "aws" else endpoint,
            region=get("REGION", floors.region), api_keys_path=get("KEYS_FILE", d.api_keys_path, Path),
            api_keys_secret=get("KEYS_SECRET", None),
            secrets_endpoint=None if secrets_endpoint in (None, "aws") else secrets_endpoint,
            keys_refresh_s=get("KEYS_REFRESH_S", d.keys_refresh_s, float),
            refresh_interval_s=get("REFRESH_S", d.refresh_interval_s, float),
            max_staleness_s=get("MAX_STALENESS_S", d.max_staleness_s, float),
            rate_per_s=get("RATE_PER_S", d.rate_per_s, float), burst=get("BURST", d.burst, float),
            static_floor=get("STATIC_FLOOR_EUR", d.static_floor, float),
            floor_min=get("FLOOR_MIN_EUR", d.floor_min, float), skip_rate=get("SKIP_RATE", d.skip_rate, int),
            model_weights=get("MODEL_WEIGHTS", d.model_weights, parse_weights), arm_salt=get("ARM_SALT", d.arm_salt),
            prebid_inventory_type=get("PREBID_INVENTORY_TYPE", d.prebid_inventory_type),
            prebid_max_age_s=get("PREBID_MAX_AGE_S", d.prebid_max_age_s, int),
            cors_origin=get("CORS_ORIGIN", d.cors_origin),
            pbs_max_rules=get("PBS_MAX_RULES", d.pbs_max_rules, int),
            pbs_max_schema_dims=get("PBS_MAX_SCHEMA_DIMS", d.pbs_max_schema_dims, int),
            pbs_max_file_kb=get("PBS_MAX_FILE_KB", d.pbs_max_file_kb, int),
            connect_timeout_s=get("CONNECT_TIMEOUT_S", d.connect_timeout_s, float),
            read_timeout_s=get("READ_TIMEOUT_S", d.read_timeout_s, float),
            max_attempts=get("MAX_ATTEMPTS", d.max_attempts, int),
            host=get("HOST", d.host), port=get("PORT", d.port, int), auth=get("AUTH", d.auth),
            metrics=get("METRICS", d.metrics),
            metrics_interval_s=get("METRICS_INTERVAL_S", d.metrics_interval_s, float),
            metrics_endpoint=None if metrics_endpoint in (None, "aws") else metrics_endpoint,
            access_log=get("ACCESS_LOG", d.access_log),
            access_log_sample=get("ACCESS_LOG_SAMPLE", d.access_log_sample, float),
        )


# ---------------------------------------------------------------------------------------------- validation


class RequestError(ValueError):
    def __init__(self, field_name: str, message: str):
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message


def _type_check(kind: str) -> Callable[[Any], bool]:
    if kind == "string":
        return lambda v: isinstance(v, str)
    if kind == "integer":
        return lambda v: (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer())
    if kind == "number":
        return lambda v: isinstance(v, int | float) and not isinstance(v, bool) and v == v and abs(v) != float("inf")
    if kind == "boolean":
        return lambda v: isinstance(v, bool)
    raise ValueError(f"unsupported schema type {kind!r}")


class RequestValidator:
    """Checks a request object against an OpenAPI object schema: required, type, enum, minimum,
    maximum (the keywords the PredictionRequest schema uses; unknown properties are allowed).
    Compiled once; each check names the first offending field."""

    def __init__(self, schema: Mapping[str, Any]):
        self.required = tuple(schema.get("required", ()))
        self.checks = []
        for name, prop in schema.get("properties", {}).items():
            self.checks.append((name, prop["type"], _type_check(prop["type"]), frozenset(prop.get("enum", ())),
                                prop.get("minimum"), prop.get("maximum")))

    def validate(self, obj: Any, where: str = "") -> None:
        if not isinstance(obj, dict):
            raise RequestError(where or "body", "must be a JSON object")
        for name in self.required:
            if name not in obj or obj[name] is None:
                raise RequestError(where + name, "is required")
        for name, kind, type_ok, enum, low, high in self.checks:
            if name not in obj or obj[name] is None:
                continue
            value = obj[name]
            if not type_ok(value):
                raise RequestError(where + name, f"must be of type {kind}")
            if enum and value not in enum:
                raise RequestError(where + name, f"must be one of {sorted(enum)}")
            if low is not None and value < low:
                raise RequestError(where + name, f"must be >= {low}")
            if high is not None and value > high:
                raise RequestError(where + name, f"must be <= {high}")


def load_openapi(path: Path = OPENAPI_PATH) -> tuple[bytes, dict[str, Any]]:
    raw = path.read_bytes()
    return raw, yaml.safe_load(raw)


# ---------------------------------------------------------------------------------------------- decisions


def _iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def lookup(request: Mapping[str, Any], snapshot: Snapshot, now: float) -> tuple[str, str | None, Floor | None]:
    """(level, segment key, floor) for one validated request: fine, else coarse, else (static, None,
    None) (dict lookups only)."""
    event = dict(request)
    event["country_tier"] = int(event["country_tier"])
    keys = segment_keys({"domain": "", "ad_unit": "", **event})  # the reader's keys, escaping included
    if not (event.get("domain") and event.get("ad_unit")):
        del keys[rules.FINE]  # no domain or ad unit: the fine segment cannot be named, start at coarse
    for level, key in keys.items():
        floor = snapshot.get(level, key, now)
        if floor is not None:
            return level, key, floor
    return STATIC, None, None


def answer_for(level: str, key: str | None, floor: Floor | None, arm: str, static_floor: float) -> dict[str, Any]:
    """The answer's fields (but the impression id) from a lookup, for an impression of `arm`."""
    if floor is None:
        return {"floor_eur": static_floor, "level": STATIC, "segment_key": None, "predicted_cpm": None,
                "model_version": None, "arm": None, "window_start": None, "window_end": None}
    served, floor_eur, version = floor.for_arm(arm)
    return {"floor_eur": floor_eur, "level": level, "segment_key": key,
            # the item holds the champion's prediction only
            "predicted_cpm": floor.predicted_cpm_eur if served == DEFAULT_ARM else None,
            "model_version": version, "arm": served, "window_start": floor.window_start,
            "window_end": floor.window_end}


def decide(request: Mapping[str, Any], snapshot: Snapshot, now: float, static_floor: float,
           arm: str = DEFAULT_ARM) -> dict[str, Any]:
    """The answer for one validated request of an impression of `arm`: fine, else coarse, else static."""
    return {"impression_id": request["impression_id"],
            **answer_for(*lookup(request, snapshot, now), arm, static_floor)}


# The request fields a decision depends on (segment_keys reads these and nothing else).
SEGMENT_FIELDS = ("domain", "ad_unit", "device_category", "country_tier", "format", "inventory_type")


def decide_batch(requests: list[Mapping[str, Any]], snapshot: Snapshot, now: float, static_floor: float,
                 timestamp: str, arms_of: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """`decide` for each validated request of a batch, one snapshot and one instant: requests of the
    same segment fields share one lookup (the keys are built and looked up once per segment) and
    one answer per arm; the arm is each impression's own (`arms_of[i]` for `requests[i]`, default
    champion)."""
    lookups: dict[tuple[Any, ...], tuple[str, str | None, Floor | None]] = {}
    answers: dict[tuple[tuple[Any, ...], str], dict[str, Any]] = {}
    out = []
    for i, request in enumerate(requests):
        signature = tuple(request.get(name) for name in SEGMENT_FIELDS)
        if signature[3] is not None:
            signature = (*signature[:3], int(signature[3]), *signature[4:])  # 1 and 1.0 are one tier
        arm = DEFAULT_ARM if arms_of is None else arms_of[i]
        base = answers.get((signature, arm))
        if base is None:
            found = lookups.get(signature)
            if found is None:
                found = lookups[signature] = lookup(request, snapshot, now)
            base = answers[(signature, arm)] = answer_for(*found, arm, static_floor)
        out.append({"impression_id": request["impression_id"], **base, "prediction_timestamp": timestamp})
    return out


# ---------------------------------------------------------------------------------------------- the app


class JSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def _error(status: int, field_name: str, message: str, error: str = "invalid_request",
           headers: Mapping[str, str] | None = None) -> JSON:
    return JSON({"error": error, "field": field_name, "message": message}, status_code=status, headers=headers)


def create_app(
    settings: Settings,
    *,
    snapshot: FloorsSnapshot | None = None,
    keys: ApiKeys | None = None,
    clock: Callable[[], float] = time.time,
    background_refresh: bool = True,
    metrics: Metrics | None = None,
    key_source: SecretKeySource | None = None,
    access_log_sink: Sink | None = None,
) -> Starlette:
    """The ASGI app. `snapshot` and `keys` default to ones built from `settings` (the keys from the
    key file, or from the secret `settings.api_keys_secret` through a `SecretKeySource`); with
    `background_refresh` the app's lifespan starts (and stops) the refresh threads."""
    if snapshot is None:
        client = aws_client("dynamodb", settings.endpoint, settings.region, max_attempts=settings.max_attempts,
                            connect_timeout=settings.connect_timeout_s, read_timeout=settings.read_timeout_s)
        snapshot = FloorsSnapshot(settings.table, client, refresh_interval_s=settings.refresh_interval_s,
                                  max_staleness_s=settings.max_staleness_s, clock=clock, derive=prebid.index_floors)
    if metrics is None and settings.metrics == "cloudwatch":
        metrics = Metrics(aws_client("cloudwatch", settings.metrics_endpoint, settings.region, max_attempts=2,
                                     connect_timeout=settings.connect_timeout_s, read_timeout=settings.read_timeout_s),
                          interval_s=settings.metrics_interval_s)
    elif settings.metrics not in ("off", "cloudwatch"):
        raise ValueError(f"metrics {settings.metrics!r}: want 'off' or 'cloudwatch'")
    if settings.auth not in ("keys", "gateway"):
        raise ValueError(f"auth {settings.auth!r}: want 'keys' or 'gateway'")
    unknown_arms = set(settings.model_weights) - set(ARMS)
    if unknown_arms:
        raise ValueError(f"model weights name {sorted(unknown_arms)}: the arms are {list(ARMS)}")
    weights = dict(settings.model_weights)
    arm_of = arms.splitter(settings.arm_salt, weights)  # arms.arm_for, its bucket ranges made once (here)
    arm_counts = ArmCounts(weights)

    def count_arms(answers: list[dict[str, Any]], assigned: list[str]) -> None:
        assigned_counts = Counter(assigned)
        served_counts = Counter(a["arm"] for a in answers if a["arm"] is not None)
        arm_counts.add(assigned_counts, served_counts)
        if metrics is not None:
            metrics.count_arms(assigned_counts, served_counts)
    gateway_auth = settings.auth == "gateway"
    if settings.access_log not in ("json", "off"):
        raise ValueError(f"access_log {settings.access_log!r}: want 'json' or 'off'")
    access_on = settings.access_log == "json"
    if key_source is not None:
        keys = key_source.keys
    elif keys is None and not gateway_auth and settings.api_keys_secret:
        keys = ApiKeys([], rate_per_s=settings.rate_per_s, burst=settings.burst)
        client = aws_client("secretsmanager", settings.secrets_endpoint, settings.region, max_attempts=1,
                            connect_timeout=settings.connect_timeout_s, read_timeout=settings.read_timeout_s)
        key_source = SecretKeySource(keys, client, settings.api_keys_secret,
                                     refresh_interval_s=settings.keys_refresh_s, clock=clock)
    if keys is None:
        keys = (ApiKeys([], rate_per_s=settings.rate_per_s, burst=settings.burst) if gateway_auth else
                ApiKeys.from_file(settings.api_keys_path, rate_per_s=settings.rate_per_s, burst=settings.burst))
    openapi_bytes, openapi = load_openapi()
    validator = RequestValidator(openapi["components"]["schemas"]["PredictionRequest"])
    inventory_types = frozenset(openapi["components"]["schemas"]["PredictionRequest"]["properties"]
                                ["inventory_type"]["enum"])
    prebid_cache: dict[tuple[str, str, str], tuple[Snapshot, float, bytes, int, dict[str, str]]] = {}
    pbs_limits = prebid.PrebidServerLimits(settings.pbs_max_rules, settings.pbs_max_schema_dims,
                                           settings.pbs_max_file_kb)
    cors = {"Access-Control-Allow-Origin": settings.cors_origin, "Access-Control-Allow-Methods": "GET, OPTIONS",
            "Access-Control-Max-Age": "86400"}

    def counted(response: Response) -> Response:
        if metrics is not None:
            metrics.error(response.status_code)
        return response

    def refusal(problem: str | None) -> Response:
        if problem == REVOKED:
            return counted(_error(403, "X-API-Key", "the API key is revoked", "forbidden"))
        message = "the X-API-Key header is missing" if problem == MISSING else "the API key is not valid"
        return counted(_error(401, "X-API-Key", message, "unauthorized"))

    def throttled(key: ApiKey, cost: int) -> Response | None:
        """None when the key's bucket holds `cost` tokens (they are taken), else the 429."""
        allowed, wait_s = keys.bucket(key).take(cost)
        if allowed:
            return None
        return counted(_error(429, "X-API-Key", "rate limit exceeded", "rate_limited",
                              headers={"Retry-After": retry_after_header(wait_s)}))

    async def body_json(request: Request) -> Any:
        try:
            return orjson.loads(await request.body())
        except orjson.JSONDecodeError as err:
            raise RequestError("body", f"not valid JSON: {err}") from err

    def answer(request: Mapping[str, Any], current: Snapshot, now: float, started: float, arm: str) -> dict[str, Any]:
        out = decide(request, current, now, settings.static_floor, arm)
        out["prediction_timestamp"] = _iso(now)
        out["latency_ms"] = round((time.perf_counter() - started) * 1000.0, 3)
        return out

    def log_key(request: Request, key: ApiKey | None) -> None:
        """The key's short id on the access log line (from the digest; the key itself is never logged)."""
        if not access_on:
            return
        if key is not None:
            annotate(request.scope, key_id=key.key_id)
        elif gateway_auth and (raw := request.headers.get("x-api-key")):
            annotate(request.scope, key_id=key_id(hash_key(raw)))  # API Gateway checked this one

    async def predict(request: Request) -> Response:
        started = time.perf_counter()
        key = None
        if not gateway_auth:
            key, problem = keys.authenticate(request.headers.get("x-api-key"))
            if key is None:
                return refusal(problem)
        log_key(request, key)
        if key is not None:
            refused = throttled(key, 1)
            if refused is not None:
                return refused
        try:
            payload = await body_json(request)
            validator.validate(payload)
        except RequestError as err:
            return counted(_error(400, err.field, err.message))
        arm = arm_of(payload["impression_id"])
        out = answer(payload, snapshot.current, clock(), started, arm)
        count_arms([out], [arm])
        if metrics is not None:
            metrics.answered(out["latency_ms"], out["level"])
        if access_on:
            annotate(request.scope, levels={out["level"]: 1})
        return JSON(out)

    async def predict_batch(request: Request) -> Response:
        started = time.perf_counter()
        # Authenticate before reading the body; the bucket is charged one token per impression.
        key, problem = (None, None) if gateway_auth else keys.authenticate(request.headers.get("x-api-key"))
        if key is None and not gateway_auth:
            return refusal(problem)
        log_key(request, key)
        try:
            payload = await body_json(request)
            if not isinstance(payload, list):
                raise RequestError("body", "must be a JSON array of prediction requests")
            if not 1 <= len(payload) <= BATCH_MAX:
                raise RequestError("body", f"must hold 1 to {BATCH_MAX} requests, got {len(payload)}")
        except RequestError as err:
            return counted(_error(400, err.field, err.message))
        refused = None if key is None else throttled(key, len(payload))
        if refused is not None:
            return refused
        try:
            for i, item in enumerate(payload):
                validator.validate(item, f"[{i}].")
        except RequestError as err:
            return counted(_error(400, err.field, err.message))
        current, now = snapshot.current, clock()  # one snapshot and one instant for the batch
        assigned = [arm_of(item["impression_id"]) for item in payload]
        answers = decide_batch(payload, current, now, settings.static_floor, _iso(now), assigned)
        count_arms(answers, assigned)
        latency_ms = round((time.perf_counter() - started) * 1000.0, 3)  # the batch's, on each answer
        for one in answers:
            one["latency_ms"] = latency_ms
        if metrics is not None or access_on:
            levels = Counter(a["level"] for a in answers)
            if metrics is not None:
                metrics.answered((time.perf_counter() - started) * 1000.0, levels)
            annotate(request.scope, levels=dict(levels))
        return JSON(answers)

    def keys_status(now: float) -> dict[str, Any]:
        if gateway_auth:
            return {"source": "gateway"}
        if key_source is not None:
            return key_source.status(now)
        return {"source": "file", "count": len(keys.by_digest)}

    async def health(request: Request) -> Response:
        now = clock()
        current = snapshot.current
        age = snapshot.age_s(now)
        status = "empty" if age is None else ("stale" if age > snapshot.max_staleness_s else "ok")
        if status == "ok" and key_source is not None and not key_source.loaded:
            status = "no_keys"  # the secret was never read: every predict call would answer 401
        body = {"status": status, "snapshot_age_s": None if age is None else round(age, 3),
                "max_staleness_s": snapshot.max_staleness_s, "items": len(current.floors),
                "fresh_items": sum(1 for f in current.floors.values() if f.fresh(now)),
                "model_versions": current.model_versions(), "refreshes": snapshot.refreshes,
                "refresh_failures": snapshot.failures, "last_refresh_error": snapshot.last_error,
                "keys": keys_status(now)}
        return JSON(body, status_code=200 if status == "ok" else 503, headers={"Cache-Control": "no-store"})

    async def arms_status(request: Request) -> Response:
        current = snapshot.current
        body = {**arm_counts.status(), "salt": settings.arm_salt,
                "model_versions": current.model_versions(),
                "challenger_model_versions": current.challenger_model_versions(),
                "challenger_items": sum(1 for f in current.floors.values() if f.challenger_floor_eur is not None)}
        return JSON(body, headers={"Cache-Control": "no-store"})

    async def prebid_file(request: Request) -> Response:
        if request.method == "OPTIONS":
            return Response(status_code=204, headers=cors)
        inventory = request.query_params.get("inventory_type", settings.prebid_inventory_type)
        if inventory not in inventory_types:
            return _error(400, "inventory_type", f"must be one of {sorted(inventory_types)}", headers=cors)
        target = request.query_params.get("client", "browser")
        if target not in ("browser", "server"):
            return _error(400, "client", "must be 'browser' (Prebid.js) or 'server' (Prebid Server)", headers=cors)
        domain, current, now = request.path_params["domain"], snapshot.current, clock()
        cached = prebid_cache.get((domain, inventory, target))
        if cached is not None and cached[0] is current and 0 <= now - cached[1] < PREBID_REUSE_S:
            _, _, body, status, extra = cached
        else:  # from the snapshot's Prebid index (the domain's rows), reused for a second per snapshot
            source = current.derived if isinstance(current.derived, prebid.FloorIndex) else current.floors.values()
            options = dict(static_floor=settings.static_floor, floor_min=settings.floor_min,
                           skip_rate=settings.skip_rate, model_weights=weights,
                           inventory_type=inventory, max_age_s=settings.prebid_max_age_s)
            status, extra = 200, {}
            if target == "browser":
                body = orjson.dumps(prebid.prebid_floors_file(source, domain, now, **options))
            else:
                try:
                    data, trimmed = prebid.prebid_server_floors_file(source, domain, now, limits=pbs_limits, **options)
                    body, extra = orjson.dumps(data), {"X-Floors-Trimmed-Segments": str(trimmed)}
                except prebid.PrebidServerRefused as err:  # Prebid Server keeps its last good data
                    status = 422
                    body = orjson.dumps({"error": "prebid_server_limit", "field": err.field, "message": err.message})
            if len(prebid_cache) >= PREBID_CACHE_MAX:
                prebid_cache.clear()
            prebid_cache[(domain, inventory, target)] = (current, now, body, status, extra)
        cache = {"Cache-Control": f"public, max-age={settings.prebid_max_age_s}"} if status == 200 else {}
        return Response(body, status_code=status, media_type="application/json", headers={**cors, **cache, **extra})

    async def openapi_document(request: Request) -> Response:
        return Response(openapi_bytes, media_type="application/yaml")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if background_refresh:
            snapshot.start()
            if key_source is not None:
                key_source.start()
        if metrics is not None:
            metrics.start()
        try:
            yield
        finally:
            if background_refresh:
                snapshot.stop()
                if key_source is not None:
                    key_source.stop()
            if metrics is not None:
                metrics.stop()

    app = Starlette(routes=[
        Route("/v2/predict", predict, methods=["POST"]),
        Route("/v2/predict/batch", predict_batch, methods=["POST"]),
        Route("/v2/health", health, methods=["GET"]),
        Route("/v2/arms", arms_status, methods=["GET"]),
        Route("/v2/floors/prebid/{domain}", prebid_file, methods=["GET", "OPTIONS"]),
        Route("/v2/openapi.yaml", openapi_document, methods=["GET"]),
    ], lifespan=lifespan, max_body_size=MAX_BODY_BYTES, middleware=[
        Middleware(AccessLogMiddleware, sink=access_log_sink, sample_ok=settings.access_log_sample, clock=clock),
    ] if access_on else [])
    app.state.snapshot = snapshot
    app.state.keys = keys
    app.state.key_source = key_source
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.arm_counts = arm_counts
    return app


def app_from_env() -> Starlette:
    """The app from ``Settings.from_env()``: uvicorn's factory (``serving.api:app_from_env``), which
    each worker process calls for itself (its own snapshot and its own token buckets)."""
    return create_app(Settings.from_env())


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m serving.api", description="the floor API (uvicorn)")
    parser.add_argument("--host", default=None)
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--workers", type=int, default=1,
                        help="uvicorn worker processes; each holds its own snapshot and token buckets")
    parser.add_argument("--loop", choices=["auto", "asyncio", "uvloop"], default="auto")
    parser.add_argument("--http", choices=["auto", "h11", "httptools"], default="auto")
    parser.add_argument("--no-access-log", action="store_true",
                        help="no access log line per request (YIELD_API_ACCESS_LOG=off)")
    args = parser.parse_args(argv)
    if args.no_access_log:
        os.environ[ENV_PREFIX + "ACCESS_LOG"] = "off"  # read by each worker's app_from_env
    settings = Settings.from_env()
    if settings.auth == "keys" and not settings.api_keys_secret and not settings.api_keys_path.exists():
        print(f"no key file at {settings.api_keys_path}: every predict call answers 401 "
              f"(create a key: python -m serving.keys add NAME)")
    uvicorn.run("serving.api:app_from_env", factory=True, host=args.host or settings.host,
                port=args.port or settings.port, workers=args.workers, loop=args.loop, http=args.http,
                access_log=False, log_level="info")  # the app writes its own JSON access log
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

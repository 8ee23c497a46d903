"""Application properties: the one place the job reads its configuration.

On MSF the runtime properties live in /etc/flink/application_properties.json;
locally a JSON file of the same shape (a list of property groups). Every value
the job needs is read and checked here, at start, so a bad config stops the job
with a message that names the group and the property.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from udfs.drift_thresholds import MODES, SEED, DriftSettings, SeedLevels
from udfs.floor_policy import POLICIES, REVENUE, PolicySettings

MSF_PROPERTIES = Path("/etc/flink/application_properties.json")
LOCAL_PROPERTIES = Path(__file__).resolve().parent / "application_properties.json"
PROPERTIES_ENV = "YIELD_PROPERTIES"

_DURATION = re.compile(r"^\s*(\d+)\s*(ms|s|min|h|d)\s*$")
_DURATION_MS = {"ms": 1, "s": 1_000, "min": 60_000, "h": 3_600_000, "d": 86_400_000}
_STREAM_ARN = re.compile(r"^arn:aws[a-z-]*:kinesis:[a-z0-9-]+:\d{12}:stream/[A-Za-z0-9_.-]+$")


class ConfigError(ValueError):
    """A property is missing or invalid; the message names it."""


def properties_path() -> Path:
    """The MSF file when running on MSF, else $YIELD_PROPERTIES, else the local file."""
    if os.environ.get(PROPERTIES_ENV):
        return Path(os.environ[PROPERTIES_ENV])
    if MSF_PROPERTIES.exists():
        return MSF_PROPERTIES
    return LOCAL_PROPERTIES


def load_groups(path: Path | None = None) -> dict[str, dict[str, str]]:
    """Read a property-group file into {group id: {key: value}}."""
    path = path or properties_path()
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise ConfigError(f"application properties file not found: {path}") from err
    except json.JSONDecodeError as err:
        raise ConfigError(f"application properties file {path} is not valid JSON: {err}") from err
    if not isinstance(raw, list):
        raise ConfigError(f"{path}: expected a list of property groups")
    groups: dict[str, dict[str, str]] = {}
    for group in raw:
        if not isinstance(group, dict) or "PropertyGroupId" not in group:
            raise ConfigError(f"{path}: every property group needs a PropertyGroupId")
        props = group.get("PropertyMap", {})
        groups[group["PropertyGroupId"]] = {str(k): str(v) for k, v in props.items()}
    return groups


def write_properties(path: Path, overrides: dict[str, dict[str, str]], base: Path = LOCAL_PROPERTIES) -> Path:
    """A copy of a property-group file with some values replaced (tests, benchmarks, variants)."""
    groups = json.loads(Path(base).read_text(encoding="utf-8"))
    for group in groups:
        group["PropertyMap"].update(overrides.get(group["PropertyGroupId"], {}))
    path.write_text(json.dumps(groups, indent=2), encoding="utf-8")
    return path


def parse_duration_ms(value: str, where: str) -> int:
    """'10 s', '1 h', '500 ms', '5 min', '1 d' -> milliseconds (> 0)."""
    match = _DURATION.match(value)
    if not match or int(match.group(1)) <= 0:
        raise ConfigError(f"{where} = {value!r}: expected a positive duration such as '10 s', '5 min' or '1 h'")
    return int(match.group(1)) * _DURATION_MS[match.group(2)]


class _Group:
    """Typed accessors over one property group, with errors that name the property."""

    def __init__(self, groups: dict[str, dict[str, str]], group_id: str):
        if group_id not in groups:
            raise ConfigError(f"property group {group_id!r} is missing")
        self.group_id = group_id
        self.props = groups[group_id]

    def where(self, key: str) -> str:
        return f"{self.group_id}.{key}"

    def text(self, key: str, default: str | None = None) -> str:
        value = self.props.get(key, default)
        if value is None or str(value).strip() == "":
            raise ConfigError(f"property {self.where(key)} is required")
        return str(value).strip()

    def optional(self, key: str) -> str | None:
        value = self.props.get(key)
        return value.strip() if value and value.strip() else None

    def integer(self, key: str, default: int | None = None, minimum: int = 1) -> int:
        raw = self.props.get(key)
        if raw is None:
            if default is None:
                raise ConfigError(f"property {self.where(key)} is required")
            return default
        try:
            value = int(raw)
        except ValueError as err:
            raise ConfigError(f"property {self.where(key)} = {raw!r}: expected an integer") from err
        if value < minimum:
            raise ConfigError(f"property {self.where(key)} = {value}: must be >= {minimum}")
        return value

    def number(self, key: str, default: float, minimum: float, maximum: float) -> float:
        raw = self.props.get(key)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError as err:
            raise ConfigError(f"property {self.where(key)} = {raw!r}: expected a number") from err
        if not minimum <= value <= maximum:  # also refuses NaN
            raise ConfigError(f"property {self.where(key)} = {raw}: must be in [{minimum}, {maximum}]")
        return value

    def choice(self, key: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.text(key, default)
        if value not in choices:
            raise ConfigError(f"property {self.where(key)} = {value!r}: expected one of {', '.join(choices)}")
        return value

    def duration_ms(self, key: str, default: str | None = None) -> int:
        return parse_duration_ms(self.text(key, default), self.where(key))

    def credentials(self) -> dict[str, str]:
        """The connector's `aws.credentials.*` options, passed through as they are.

        None on MSF (the application's IAM role); locally the stand-ins take any static keys.
        """
        options = {k: v for k, v in self.props.items() if k.startswith("aws.credentials.")}
        provider = options.get("aws.credentials.provider", "AUTO").upper()
        if provider == "BASIC":
            for key in ("aws.credentials.basic.accesskeyid", "aws.credentials.basic.secretkey"):
                self.text(key)
        return options

    def boolean(self, key: str, default: bool = False) -> bool:
        raw = self.props.get(key)
        if raw is None:
            return default
        if raw.strip().lower() in ("true", "false"):
            return raw.strip().lower() == "true"
        raise ConfigError(f"property {self.where(key)} = {raw!r}: expected true or false")


@dataclass(frozen=True)
class StreamConfig:
    stream_arn: str
    region: str
    endpoint: str | None
    trust_all_certificates: bool
    init_position: str
    shard_count: int
    credentials: dict[str, str]

    @property
    def stream_name(self) -> str:
        return self.stream_arn.rsplit("/", 1)[1]


@dataclass(frozen=True)
class LakeConfig:
    bucket: str
    path: str  # a URI: file:///... locally, s3a://bucket on MSF
    s3_endpoint: str | None


@dataclass(frozen=True)
class FloorsTableConfig:
    table_name: str
    region: str
    endpoint: str | None
    credentials: dict[str, str]


@dataclass(frozen=True)
class FeatureStoreConfig:
    """Where and how the job writes online feature records (udfs/feature_store.py)."""

    enabled: bool
    feature_group_name: str
    region: str
    endpoint: str | None  # the Feature Store runtime; None on AWS
    control_endpoint: str | None  # the SageMaker control plane (creating the group locally); None on AWS
    credentials: dict[str, str]
    max_in_flight: int  # concurrent PutRecord calls per writer subtask
    retry_deadline_ms: int  # how long a record shed to the retry queue is retried before it is dropped
    write_deadline_ms: int = 2_000  # how long one writer call (a batch) may take before it sheds the rest
    retry_queue_size: int = 10_000  # shed records waiting per writer subtask; beyond it the oldest is dropped


@dataclass(frozen=True)
class JobSettings:
    window_ms: int
    lateness_ms: int
    idle_timeout_ms: int
    dedup_ttl_ms: int
    floor_ttl_windows: int
    checkpoint_interval_ms: int
    parallelism: int
    max_parallelism: int
    static_floor_eur: float
    # How far an event time may be ahead of the clock when read; beyond it FUTURE_EVENT_TIME.
    event_time_max_ahead_ms: int = 300_000


@dataclass(frozen=True)
class ModelConfig:
    # How often the scoring function looks at the manifest for a new model version.
    manifest_poll_ms: int = 30_000
    # The floor policy (udfs/floor_policy.py): "revenue" (revenue-optimal with a fill guardrail
    # and a move cap; needs a model with revenue curves) or "brief" (the brief's rule).
    floor_policy: str = REVENUE
    policy: PolicySettings = PolicySettings()


@dataclass(frozen=True)
class MonitoringConfig:
    """Drift detection and its CloudWatch metrics (group `Monitoring`)."""

    drift_features: tuple[str, ...]  # each has a bin grid in schemas/drift_features.json
    namespace: str
    region: str
    endpoint: str | None
    credentials: dict[str, str]
    max_attempts: int  # PutMetricData attempts (botocore retries) before the window's metrics are logged as lost
    drift: DriftSettings = DriftSettings()  # drift.mode (seed | calibrated) and its levels


@dataclass(frozen=True)
class AppConfig:
    stream: StreamConfig
    lake: LakeConfig
    floors: FloorsTableConfig
    job: JobSettings
    jarfile: str
    model: ModelConfig = ModelConfig()
    # Always set by load_config; the default only keeps hand-built AppConfigs valid (None = off).
    feature_store: FeatureStoreConfig | None = None
    monitoring: MonitoringConfig | None = None


def load_model_config(model: _Group) -> ModelConfig:
    d = PolicySettings()
    floor_min = model.number("floor.min.eur", d.floor_min_eur, 0.01, 10_000.0)
    floor_max = model.number("floor.max.eur", d.floor_max_eur, 0.01, 10_000.0)
    if floor_min > floor_max:
        raise ConfigError(f"property {model.where('floor.min.eur')} = {floor_min}: above "
                          f"{model.where('floor.max.eur')} = {floor_max}")
    settings = PolicySettings(
        floor_min_eur=floor_min, floor_max_eur=floor_max,
        static_floor_eur=model.number("static.floor.eur", d.static_floor_eur, 0.0, 10_000.0),
        fill_margin=model.number("floor.fill.margin", d.fill_margin, 0.0, 1.0),
        max_step=model.number("floor.max.step", d.max_step, 1.0, 100.0),
    )
    return ModelConfig(manifest_poll_ms=model.duration_ms("manifest.poll.interval", "30 s"),
                       floor_policy=model.choice("floor.policy", REVENUE, POLICIES),
                       policy=settings)


def load_monitoring(groups: dict[str, dict[str, str]]) -> MonitoringConfig:
    from udfs.drift import DRIFT_FEATURES, load_grid  # the grid file is the list of what can be watched

    monitoring = _Group(groups, "Monitoring")
    features = tuple(f.strip() for f in monitoring.text("drift.features", ",".join(DRIFT_FEATURES)).split(","))
    try:
        load_grid(features)
    except ValueError as err:
        raise ConfigError(f"property {monitoring.where('drift.features')}: {err}") from err
    if len(set(features)) != len(features) or "" in features:
        raise ConfigError(f"property {monitoring.where('drift.features')}: empty or repeated feature name")
    return MonitoringConfig(
        drift_features=features,
        namespace=monitoring.text("cloudwatch.namespace", "SSMAS/YieldPredictor/Drift"),
        region=monitoring.text("aws.region"),
        endpoint=monitoring.optional("aws.endpoint"),
        credentials=monitoring.credentials(),
        max_attempts=monitoring.integer("cloudwatch.max.attempts", 5),
        drift=load_drift_settings(monitoring),
    )


def load_drift_settings(monitoring: _Group) -> DriftSettings:
    d, s = DriftSettings(), SeedLevels()
    levels = [monitoring.number(f"drift.seed.{name}", getattr(s, name), 0.0, 1.0) for name in ("info", "warning",
                                                                                              "critical")]
    if not 0.0 < levels[0] < levels[1] < levels[2]:
        raise ConfigError(f"properties {monitoring.where('drift.seed.info')} < {monitoring.where('drift.seed.warning')}"
                          f" < {monitoring.where('drift.seed.critical')} must rise from above 0: {levels}")
    warning = monitoring.number("drift.false.alarms.per.day", d.warning_per_day, 1e-6, 1000.0)
    critical = monitoring.number("drift.critical.false.alarms.per.day", d.critical_per_day, 1e-6, 1000.0)
    if critical > warning:
        raise ConfigError(f"property {monitoring.where('drift.critical.false.alarms.per.day')} = {critical}: above "
                          f"{monitoring.where('drift.false.alarms.per.day')} = {warning}")
    return DriftSettings(mode=monitoring.choice("drift.mode", SEED, MODES), seed=SeedLevels(*levels),
                         warning_per_day=warning, critical_per_day=critical,
                         min_count=monitoring.integer("drift.min.count", d.min_count))


def _lake_uri(path: str, base: Path) -> str:
    """A path without a scheme is a local folder, relative to the working directory."""
    if "://" in path:
        return path.rstrip("/")
    return (base / path).resolve().as_uri()


# PutRecord calls in flight per writer subtask: beyond this the Python worker only queues
# more threads (botocore's connection pool is sized to it).
MAX_IN_FLIGHT_LIMIT = 64


def _feature_store(groups: dict[str, dict[str, str]]) -> FeatureStoreConfig:
    store = _Group(groups, "FeatureStore")
    credentials = store.credentials()
    # The writer is boto3, not a connector: it knows static keys and the default chain only.
    provider = credentials.get("aws.credentials.provider", "AUTO").upper()
    if provider not in ("AUTO", "BASIC"):
        raise ConfigError(
            f"property {store.where('aws.credentials.provider')} = {provider!r}: expected AUTO or BASIC"
        )
    max_in_flight = store.integer("max.in.flight", 8)
    if max_in_flight > MAX_IN_FLIGHT_LIMIT:
        raise ConfigError(
            f"property {store.where('max.in.flight')} = {max_in_flight}: must be <= {MAX_IN_FLIGHT_LIMIT}"
        )
    return FeatureStoreConfig(
        enabled=store.boolean("enabled", True),
        feature_group_name=store.text("feature.group.name"),
        region=store.text("aws.region"),
        endpoint=store.optional("aws.endpoint"),
        control_endpoint=store.optional("control.endpoint"),
        credentials=credentials,
        max_in_flight=max_in_flight,
        retry_deadline_ms=store.duration_ms("retry.deadline", "5 min"),
        write_deadline_ms=store.duration_ms("write.deadline", "2 s"),
        retry_queue_size=store.integer("retry.queue.size", 10_000),
    )


def load_config(path: Path | None = None, cwd: Path | None = None) -> AppConfig:
    groups = load_groups(path)
    run = _Group(groups, "kinesis.analytics.flink.run.options")
    stream = _Group(groups, "AuctionStream")
    lake = _Group(groups, "DataLake")
    floors = _Group(groups, "FloorsTable")
    job = _Group(groups, "Job")
    model = _Group(groups, "Model")

    arn = stream.text("stream.arn")
    if not _STREAM_ARN.match(arn):
        raise ConfigError(f"property {stream.where('stream.arn')} = {arn!r}: not a Kinesis stream ARN")
    init_position = stream.text("source.init.position", "LATEST").upper()
    if init_position not in ("LATEST", "TRIM_HORIZON"):
        raise ConfigError(
            f"property {stream.where('source.init.position')} = {init_position!r}: expected LATEST or TRIM_HORIZON"
        )

    window_ms = job.duration_ms("window.size", "1 h")
    settings = JobSettings(
        window_ms=window_ms,
        lateness_ms=job.duration_ms("watermark.lateness", "30 s"),
        idle_timeout_ms=job.duration_ms("source.idle.timeout", "30 s"),
        dedup_ttl_ms=job.duration_ms("dedup.ttl", "1 h"),
        floor_ttl_windows=job.integer("floor.ttl.windows", 2),
        checkpoint_interval_ms=job.duration_ms("checkpoint.interval", "60 s"),
        parallelism=job.integer("parallelism", 1),
        max_parallelism=job.integer("max.parallelism", 720),
        static_floor_eur=float(job.text("static.floor.eur", "2.00")),
        event_time_max_ahead_ms=job.duration_ms("event.time.max.ahead", "5 min"),
    )
    if settings.parallelism > settings.max_parallelism:
        raise ConfigError(
            f"property {job.where('parallelism')} = {settings.parallelism}: above "
            f"{job.where('max.parallelism')} = {settings.max_parallelism}"
        )
    if settings.lateness_ms >= window_ms * 4:
        raise ConfigError(
            f"property {job.where('watermark.lateness')}: {settings.lateness_ms} ms is longer than "
            f"four windows ({window_ms} ms each); windows would wait too long to close"
        )

    return AppConfig(
        stream=StreamConfig(
            stream_arn=arn,
            region=stream.text("aws.region"),
            endpoint=stream.optional("aws.endpoint"),
            trust_all_certificates=stream.boolean("aws.trust.all.certificates"),
            init_position=init_position,
            shard_count=stream.integer("shard.count", 4),
            credentials=stream.credentials(),
        ),
        lake=LakeConfig(
            bucket=lake.text("bucket"),
            path=_lake_uri(lake.text("path"), cwd or Path.cwd()),
            s3_endpoint=lake.optional("s3.endpoint"),
        ),
        floors=FloorsTableConfig(
            table_name=floors.text("table.name"),
            region=floors.text("aws.region"),
            endpoint=floors.optional("aws.endpoint"),
            credentials=floors.credentials(),
        ),
        job=settings,
        jarfile=run.text("jarfile"),
        model=load_model_config(model),
        feature_store=_feature_store(groups),
        monitoring=load_monitoring(groups),
    )

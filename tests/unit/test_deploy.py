"""Deployment checks that need no AWS account: the MSF zip, the CloudFormation templates, and
every parameter set we send to an AWS API, checked against botocore's own service models.

- cfn-lint (offline) on every template in deploy/cloudformation/.
- The zip: layout (dep/ included), run options, the entry point importing from the unpacked zip
  alone, and the pins of dep/ (the xgboost that trains is the one that scores).
- The templates are resolved with the parameter defaults and stand-in values for what only
  AWS knows (account, ARNs of created resources); the resolved requests are validated with
  botocore's ParamValidator against the input shapes of the APIs CloudFormation calls.
- The application properties in the template are the ones the job reads, and the job's own
  config loader accepts them.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import zipfile
from functools import cache
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator
from cfnlint.api import ManualArgs, lint_file
from cfnlint.decode import decode

from deploy import package_msf
from deploy.cfn_resolve import Resolver, coerce
from flink_jobs.config import load_config
from tests.support.repo_free_python import repo_free_python

ROOT = Path(__file__).resolve().parents[2]
CFN_DIR = ROOT / "deploy" / "cloudformation"
DATA_TEMPLATE = CFN_DIR / "yield-data.yaml"
APP_TEMPLATE = CFN_DIR / "yield-app.yaml"
LOCAL_PROPERTIES = ROOT / "flink_jobs" / "application_properties.json"

REGION = "eu-west-1"
ACCOUNT = "123456789012"
DATA_STACK = "yield-data"  # the app template's DataStackName default
# Keys of the local property file that only make sense against the stand-ins: endpoint
# overrides, self-signed TLS and static keys. On MSF the connectors use the application's role.
LOCAL_ONLY_KEYS = {"aws.endpoint", "aws.trust.all.certificates", "s3.endpoint", "control.endpoint"}
LOCAL_ONLY_PREFIXES = ("aws.credentials.",)
BRIEF_PREFIXES = (
    "raw/",
    "raw_errors/",
    "processed/features/",
    "models/",
    "outputs/predictions/real_time/",
    "outputs/monitoring/",
)


# --------------------------------------------------------------------------- helpers


@cache
def template(path: Path) -> dict[str, Any]:
    tpl, matches = decode(path)
    assert not matches, matches
    return tpl


def resources(path: Path, kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template(path)["Resources"].items() if v["Type"] == kind}


def only(path: Path, kind: str) -> dict[str, Any]:
    found = resources(path, kind)
    assert len(found) == 1, f"{path.name}: expected one {kind}, found {list(found)}"
    return next(iter(found.values()))


def data_exports() -> dict[str, str]:
    """What the data stack exports, resolved like everything else (its outputs are the contract)."""
    resolver = Resolver(template(DATA_TEMPLATE), DATA_STACK, region=REGION, account=ACCOUNT)
    return {
        resolver.resolve(out["Export"]["Name"]): resolver.resolve(out["Value"])
        for out in template(DATA_TEMPLATE)["Outputs"].values()
        if "Export" in out
    }


def app_resolver() -> Resolver:
    return Resolver(template(APP_TEMPLATE), "yield-app", data_exports(), region=REGION, account=ACCOUNT)


@cache
def service_model(service: str) -> Any:
    return botocore.session.get_session().get_service_model(service)


def validate(service: str, operation: str, params: dict[str, Any]) -> dict[str, Any]:
    """Validate params against the operation's input shape; return them as typed for the API."""
    shape = service_model(service).operation_model(operation).input_shape
    typed = coerce(shape, params)
    report = ParamValidator().validate(typed, shape)
    assert not report.has_errors(), f"{service}.{operation}:\n{report.generate_report()}"
    return typed


def property_groups(groups: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    return {g["PropertyGroupId"]: dict(g["PropertyMap"]) for g in groups}


def local_groups() -> dict[str, dict[str, str]]:
    return property_groups(json.loads(LOCAL_PROPERTIES.read_text(encoding="utf-8")))


def production_groups() -> list[dict[str, Any]]:
    app = only(APP_TEMPLATE, "AWS::KinesisAnalyticsV2::Application")
    resolved = app_resolver().resolve(app["Properties"])
    return resolved["ApplicationConfiguration"]["EnvironmentProperties"]["PropertyGroups"]


def is_local_only(key: str) -> bool:
    return key in LOCAL_ONLY_KEYS or key.startswith(LOCAL_ONLY_PREFIXES)


# --------------------------------------------------------------------------- templates


@pytest.mark.parametrize("path", sorted(CFN_DIR.glob("*.yaml")), ids=lambda p: p.name)
def test_cfn_lint_clean(path: Path) -> None:
    matches = lint_file(path, config=ManualArgs(regions=[REGION]))
    assert not matches, "\n".join(str(m) for m in matches)


def test_templates_are_the_two_stacks() -> None:
    assert sorted(p.name for p in CFN_DIR.glob("*.yaml")) == ["yield-app.yaml", "yield-data.yaml"]


def test_runtime_is_flink_2_2_and_known_to_the_installed_models() -> None:
    app = only(APP_TEMPLATE, "AWS::KinesisAnalyticsV2::Application")
    assert app["Properties"]["RuntimeEnvironment"] == "FLINK-2_2"
    assert "FLINK-2_2" in service_model("kinesisanalyticsv2").shape_for("RuntimeEnvironment").enum


def test_every_import_is_exported_by_the_data_stack() -> None:
    text = APP_TEMPLATE.read_text(encoding="utf-8")
    imported = set(re.findall(r"\$\{DataStackName\}-(\w+)", text))
    exported = {name.removeprefix(f"{DATA_STACK}-") for name in data_exports()}
    assert imported and imported <= exported, imported - exported


def test_stream_has_100_shards_and_kms() -> None:
    resolver = Resolver(template(DATA_TEMPLATE), DATA_STACK, region=REGION, account=ACCOUNT)
    stream = resolver.resolve(only(DATA_TEMPLATE, "AWS::Kinesis::Stream")["Properties"])
    assert stream["ShardCount"] == "100"
    assert stream["StreamEncryption"]["EncryptionType"] == "KMS"
    name = stream["Name"]  # CloudFormation's Name is the API's StreamName
    validate("kinesis", "CreateStream",
             {"StreamName": name, "ShardCount": stream["ShardCount"], "StreamModeDetails": stream["StreamModeDetails"]})
    validate("kinesis", "StartStreamEncryption", {"StreamName": name} | stream["StreamEncryption"])
    validate("kinesis", "IncreaseStreamRetentionPeriod",
             {"StreamName": name, "RetentionPeriodHours": stream["RetentionPeriodHours"]})


def test_lake_bucket_is_private_encrypted_and_tiers_every_prefix_of_the_brief() -> None:
    resolver = Resolver(template(DATA_TEMPLATE), DATA_STACK, region=REGION, account=ACCOUNT)
    bucket = resolver.resolve(only(DATA_TEMPLATE, "AWS::S3::Bucket")["Properties"])
    assert all(v is True for v in bucket["PublicAccessBlockConfiguration"].values())
    assert len(bucket["PublicAccessBlockConfiguration"]) == 4
    sse = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert sse["SSEAlgorithm"] == "aws:kms"
    rules = {r.get("Prefix"): r for r in bucket["LifecycleConfiguration"]["Rules"]}
    for prefix in BRIEF_PREFIXES:
        assert prefix in rules, f"no lifecycle rule for {prefix}"
        rule = rules[prefix]
        assert rule.get("Transitions") or rule.get("NoncurrentVersionExpiration"), prefix
    assert any("AbortIncompleteMultipartUpload" in r for r in rules.values())


def test_floors_table_matches_the_schema_file_and_the_api() -> None:
    from local_kinesis.resources import floors_table_params

    schema = json.loads((ROOT / "schemas" / "floors_table.json").read_text(encoding="utf-8"))
    table = only(DATA_TEMPLATE, "AWS::DynamoDB::Table")["Properties"]
    for key in ("AttributeDefinitions", "KeySchema", "BillingMode"):
        assert table[key] == schema[key], key
    assert table["TimeToLiveSpecification"] == {"AttributeName": schema["TimeToLiveAttribute"], "Enabled": True}
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["BillingMode"] == "PAY_PER_REQUEST"

    # What local_kinesis.resources sends: CreateTable from the schema file, then UpdateTimeToLive.
    params, ttl_attribute = floors_table_params("yield-floors")
    assert "${" not in json.dumps(params) and ttl_attribute == "expires_at"
    validate("dynamodb", "CreateTable", params)
    validate("dynamodb", "UpdateTimeToLive", {
        "TableName": params["TableName"], "TimeToLiveSpecification": {"Enabled": True, "AttributeName": ttl_attribute},
    })
    validate("dynamodb", "UpdateContinuousBackups", {
        "TableName": params["TableName"], "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
    })


def test_other_local_resource_calls_match_the_api() -> None:
    config = load_config(LOCAL_PROPERTIES)
    stream = config.stream
    validate("kinesis", "CreateStream", {"StreamName": stream.stream_name, "ShardCount": stream.shard_count})
    validate("s3", "CreateBucket", {
        "Bucket": config.lake.bucket, "CreateBucketConfiguration": {"LocationConstraint": config.floors.region},
    })


def test_feature_group_is_valid_and_is_the_schema_file() -> None:
    group = Resolver(template(DATA_TEMPLATE), DATA_STACK, region=REGION, account=ACCOUNT).resolve(
        only(DATA_TEMPLATE, "AWS::SageMaker::FeatureGroup")["Properties"]
    )
    validate("sagemaker", "CreateFeatureGroup", group)
    # What local_kinesis.resources creates locally, from schemas/feature_group.json.
    from local_kinesis.resources import feature_group_params

    local = feature_group_params(group["FeatureGroupName"], "lake")
    for key in ("RecordIdentifierFeatureName", "EventTimeFeatureName", "FeatureDefinitions", "OnlineStoreConfig"):
        assert group[key] == local[key], key
    schema = json.loads((ROOT / "schemas" / "feature_group.json").read_text(encoding="utf-8"))
    assert group["OfflineStoreConfig"]["S3StorageConfig"]["S3Uri"].startswith("s3://ssmas-yield-lake-")
    assert group["OfflineStoreConfig"]["S3StorageConfig"]["S3Uri"].endswith("/" + schema["OfflineStorePrefix"])


def test_application_request_is_valid_for_the_api() -> None:
    resolver = app_resolver()
    app = resolver.resolve(only(APP_TEMPLATE, "AWS::KinesisAnalyticsV2::Application")["Properties"])
    logging = resolver.resolve(
        only(APP_TEMPLATE, "AWS::KinesisAnalyticsV2::ApplicationCloudWatchLoggingOption")["Properties"]
    )
    run_configuration = app.pop("RunConfiguration")  # StartApplication's, not CreateApplication's
    typed = validate("kinesisanalyticsv2", "CreateApplication", app)
    validate("kinesisanalyticsv2", "AddApplicationCloudWatchLoggingOption", {
        "ApplicationName": logging["ApplicationName"], "CurrentApplicationVersionId": 1,
        "CloudWatchLoggingOption": logging["CloudWatchLoggingOption"],
    })
    validate("kinesisanalyticsv2", "StartApplication",
             {"ApplicationName": app["ApplicationName"], "RunConfiguration": run_configuration})

    flink = typed["ApplicationConfiguration"]["FlinkApplicationConfiguration"]
    assert flink["CheckpointConfiguration"]["CheckpointingEnabled"] is True
    assert flink["ParallelismConfiguration"]["AutoScalingEnabled"] is True
    assert typed["ApplicationConfiguration"]["ApplicationSnapshotConfiguration"]["SnapshotsEnabled"] is True
    assert typed["ApplicationConfiguration"]["ApplicationCodeConfiguration"]["CodeContentType"] == "ZIPFILE"
    # The job's copies of interval and parallelism are the application's settings.
    job = property_groups(typed["ApplicationConfiguration"]["EnvironmentProperties"]["PropertyGroups"])["Job"]
    assert job["checkpoint.interval"] == f"{flink['CheckpointConfiguration']['CheckpointInterval']} ms"
    assert job["parallelism"] == str(flink["ParallelismConfiguration"]["Parallelism"])


def test_alarms_are_valid_for_the_api_and_notify_the_topic() -> None:
    resolver = app_resolver()
    alarms = resources(APP_TEMPLATE, "AWS::CloudWatch::Alarm")
    assert len(alarms) >= 5
    for name, alarm in alarms.items():
        params = resolver.resolve(alarm["Properties"])
        validate("cloudwatch", "PutMetricAlarm", params)
        assert params["AlarmActions"] == [resolver.refs["AlarmTopic"]], name
    names = {a["Properties"].get("MetricName") for a in alarms.values()} | {
        q["MetricStat"]["Metric"]["MetricName"]
        for a in alarms.values() for q in a["Properties"].get("Metrics", []) if "MetricStat" in q
    }
    assert {"GetRecords.IteratorAgeMilliseconds", "maxMillisBehindLatest", "restartingTime", "numRestarts",
            "recordsRejected"} <= names


def test_dashboard_is_json_and_shows_every_alarm() -> None:
    resolver = app_resolver()
    body = json.loads(resolver.resolve(only(APP_TEMPLATE, "AWS::CloudWatch::Dashboard")["Properties"])["DashboardBody"])
    shown = {a for w in body["widgets"] if w["type"] == "alarm" for a in w["properties"]["alarms"]}
    expected = {resolver.get_att(name, "Arn") for name in resources(APP_TEMPLATE, "AWS::CloudWatch::Alarm")}
    assert shown == expected


def test_role_reaches_only_named_resources() -> None:
    role = only(APP_TEMPLATE, "AWS::IAM::Role")["Properties"]
    assert "ManagedPolicyArns" not in role
    unscoped_by_design = {"PublishOwnMetrics", "FindLogGroups"}
    for policy in role["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            assert statement["Effect"] == "Allow"
            assert "*" not in str(statement["Action"]).replace("kms:GenerateDataKey*", ""), statement["Sid"]
            if statement["Sid"] in unscoped_by_design:
                continue
            # Each resource is an intrinsic naming a resource, an import, or the code object.
            resource = statement["Resource"]
            assert resource != "*" and isinstance(resource, dict), statement["Sid"]
    statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
    metrics = next(s for s in statements if s["Sid"] == "PublishOwnMetrics")
    assert metrics["Condition"]["StringLike"]["cloudwatch:namespace"] == "SSMAS/YieldPredictor/*"


# --------------------------------------------------------------------------- properties


def test_template_properties_are_the_local_ones_minus_local_only_keys() -> None:
    local = {g: {k for k in props if not is_local_only(k)} for g, props in local_groups().items()}
    production = {g: set(props) for g, props in property_groups(production_groups()).items()}
    assert production == local
    # The run options name files inside the zip: identical, not just the same keys.
    run = package_msf.RUN_OPTIONS
    assert property_groups(production_groups())[run] == local_groups()[run]


def test_production_properties_are_valid_for_the_api_and_accepted_by_the_job(tmp_path: Path) -> None:
    groups = production_groups()
    validate("kinesisanalyticsv2", "CreateApplication", {
        "ApplicationName": "predictive-yield", "RuntimeEnvironment": "FLINK-2_2",
        "ServiceExecutionRole": f"arn:aws:iam::{ACCOUNT}:role/predictive-yield",
        "ApplicationConfiguration": {"EnvironmentProperties": {"PropertyGroups": groups}},
    })
    path = tmp_path / "application_properties.json"
    path.write_text(json.dumps(groups), encoding="utf-8")
    config = load_config(path)
    assert config.stream.stream_arn == f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/auction-events"
    assert config.stream.shard_count == 100
    assert config.stream.endpoint is None and config.stream.credentials == {}
    assert not config.stream.trust_all_certificates
    assert config.floors.endpoint is None and config.floors.credentials == {}
    assert config.lake.path == f"s3a://ssmas-yield-lake-{ACCOUNT}-{REGION}" and config.lake.s3_endpoint is None
    assert config.job.window_ms == 3_600_000
    assert config.job.checkpoint_interval_ms == 60_000
    assert config.jarfile == "lib/yield-connectors-1.0.0.jar"


def test_local_properties_are_valid_for_the_api() -> None:
    groups = json.loads(LOCAL_PROPERTIES.read_text(encoding="utf-8"))
    validate("kinesisanalyticsv2", "UpdateApplication", {
        "ApplicationName": "predictive-yield", "CurrentApplicationVersionId": 1,
        "ApplicationConfigurationUpdate": {"EnvironmentPropertyUpdates": {"PropertyGroups": groups}},
    })


# --------------------------------------------------------------------------- the zip


def stand_in_dependencies(folder: Path) -> Path:
    """A small dep/ folder shaped like pip's --target output (the real one is built and run in
    tests/integration/test_msf_zip.py; here the layout rules need no download)."""
    files = {
        "boto3/__init__.py": "__version__ = '0'\n",
        "boto3-1.44.8.dist-info/WHEEL": "Tag: py3-none-any\n",
        "xgboost/lib/libxgboost.so": "not really a library",
        "bin/jp.py": "#!/some/machine/python\n",  # a console script: left out of the zip
        "boto3/__pycache__/__init__.cpython-311.pyc": "",  # compiled for this machine: left out
    }
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
    (folder / "xgboost/lib/libxgboost.so").chmod(0o755)
    return folder


@pytest.fixture(scope="module")
def msf_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The zip as `make package` builds it, with a stand-in jar and dep/ (the layout does not depend
    on their contents, and the test then needs neither a Maven build nor PyPI)."""
    work = tmp_path_factory.mktemp("package")
    jar = work / "yield-connectors-1.0.0.jar"
    with zipfile.ZipFile(jar, "w") as fake:
        fake.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\n")
    dependencies = stand_in_dependencies(work / "dep")
    return package_msf.build(work / "predictive-yield-msf.zip", jar=jar, dependencies=dependencies)


def test_zip_layout(msf_zip: Path) -> None:
    with zipfile.ZipFile(msf_zip) as archive:
        names = set(archive.namelist())
    options = package_msf.run_options()
    assert options == {"python": "main.py", "jarfile": "lib/yield-connectors-1.0.0.jar", "pyFiles": "dep/"}
    assert {options["python"], options["jarfile"], "flink_jobs/__init__.py", "flink_jobs/pipeline.py",
            "flink_jobs/config.py", "udfs/__init__.py", "udfs/rules.py",
            "schemas/auction_event.schema.json"} <= names
    # Every SQL file the job renders at runtime is there.
    assert {f"schemas/sql/{p.name}" for p in (ROOT / "schemas" / "sql").glob("*.sql")} <= names
    assert {n.split("/", 1)[0] for n in names} == {"main.py", "flink_jobs", "udfs", "schemas", "lib", "dep"}
    with zipfile.ZipFile(msf_zip) as archive:
        assert archive.read("main.py") == (ROOT / "flink_jobs" / "main.py").read_bytes()
    assert "flink_jobs/application_properties.json" not in names
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)


def test_zip_carries_dep_under_the_pyfiles_folder(msf_zip: Path) -> None:
    with zipfile.ZipFile(msf_zip) as archive:
        dep = {info.filename: info.external_attr >> 16
               for info in archive.infolist() if info.filename.startswith("dep/")}
    # pyFiles names the folder; console scripts and bytecode of this machine stay out.
    assert set(dep) == {"dep/boto3/__init__.py", "dep/boto3-1.44.8.dist-info/WHEEL", "dep/xgboost/lib/libxgboost.so"}
    assert dep["dep/xgboost/lib/libxgboost.so"] == 0o755 and dep["dep/boto3/__init__.py"] == 0o644


def requirement_pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        name, _, version = line.split("#", 1)[0].strip().partition("==")
        if version:
            pins[package_msf.normalized(name.split("[", 1)[0])] = version
    return pins


def test_local_training_pins_the_xgboost_the_zip_ships() -> None:
    """A model saved by one XGBoost is only sure to load in the same version: train as MSF scores."""
    local = requirement_pins(ROOT / "requirements.txt")
    shipped = package_msf.pinned_dependencies()
    assert shipped["xgboost-cpu"] == local["xgboost-cpu"], (
        f"requirements.txt pins xgboost-cpu=={local['xgboost-cpu']}, deploy/requirements-msf.txt ships "
        f"{shipped['xgboost-cpu']}: keep them equal")
    # boto3 too: the client the tests run against is the one the workers get.
    assert shipped["boto3"] == local["boto3"]


def test_dep_requirements_are_pinned_and_leave_the_runtime_packages_out(tmp_path: Path) -> None:
    pins = package_msf.pinned_dependencies()
    assert {"boto3", "xgboost-cpu", "scipy"} <= set(pins)
    assert not (set(pins) & (package_msf.RUNTIME_PACKAGES | {"apache-flink"}))
    for bad in ("boto3>=1.40\n", "numpy==2.1.3\n"):
        path = tmp_path / "requirements.txt"
        path.write_text(bad, encoding="utf-8")
        with pytest.raises(SystemExit):
            package_msf.pinned_dependencies(path)


def test_dep_is_installed_for_the_msf_platform_from_the_wheel_folder(tmp_path: Path) -> None:
    install = package_msf.pip_install_command(Path("req.txt"), tmp_path / "wheels", tmp_path / "dep")
    download = package_msf.pip_download_command(Path("req.txt"), tmp_path / "wheels")
    platform = ["--platform", "manylinux2014_x86_64", "--python-version", "3.12", "--implementation", "cp",
                "--abi", "cp312", "--only-binary=:all:"]
    for command in (install, download):
        assert " ".join(platform) in " ".join(command) and "--no-deps" in command
    # The install step never reaches an index: a second build works offline.
    assert {"--no-index", "--no-compile"} <= set(install)
    assert install[install.index("--find-links") + 1] == str(tmp_path / "wheels")


def test_zip_is_reproducible(msf_zip: Path, tmp_path: Path) -> None:
    again = package_msf.build(tmp_path / "again.zip", jar=msf_zip.parent / "yield-connectors-1.0.0.jar",
                              dependencies=msf_zip.parent / "dep")
    assert again.read_bytes() == msf_zip.read_bytes()


def test_entry_point_imports_from_the_unpacked_zip(msf_zip: Path, tmp_path: Path) -> None:
    unpacked = tmp_path / "app"
    with zipfile.ZipFile(msf_zip) as archive:
        archive.extractall(unpacked)
    probe = (
        "import json, sys, flink_jobs.main, flink_jobs.pipeline, schemas.events, udfs.rules\n"
        "from flink_jobs import sql\n"
        "from schemas import events\n"
        "print(json.dumps({'main': flink_jobs.main.__file__, 'rules': udfs.rules.__file__,\n"
        "  'root': str(flink_jobs.main.ROOT), 'sql': sql.render_ddl('raw_errors', lake_path='s3a://b'),\n"
        "  'schema': sorted(events.load_schema()),\n"
        "  'ours': sorted(m.__file__ for n, m in sys.modules.items()\n"
        "                 if n.split('.')[0] in ('flink_jobs', 'udfs', 'schemas') and getattr(m, '__file__', 0))}))\n"
    )
    # Only the unpacked folder on PYTHONPATH (pyflink comes from the venv's site-packages, without the
    # repository's editable install), run from inside it, so nothing of the repository can be imported.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "YIELD_PROPERTIES")}
    env["PYTHONPATH"] = str(unpacked)
    python = repo_free_python(tmp_path / "python")
    result = subprocess.run(
        [str(python), "-c", probe], cwd=unpacked, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert Path(out["main"]).resolve() == (unpacked / "flink_jobs" / "main.py").resolve()
    assert Path(out["rules"]).resolve().is_relative_to(unpacked.resolve())
    assert Path(out["root"]).resolve() == unpacked.resolve()
    assert "s3a://b/raw_errors" in out["sql"]
    assert out["schema"]
    assert all(Path(f).resolve().is_relative_to(unpacked.resolve()) for f in out["ours"]), out["ours"]

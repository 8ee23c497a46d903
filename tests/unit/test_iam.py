"""The application role grants what the job and MSF do with it, and nothing more.

CALLS below is the one table of every AWS call made with the role: by the job's connector jar
(Kinesis source, DynamoDB sink), by its Python workers (boto3 through udfs/aws.py), by the S3
file sinks (the S3 filesystem MSF gives the job), by the services that decrypt on the job's behalf
(KMS through Kinesis, S3 and DynamoDB) and by MSF itself (code, logs). Each row names the
permission the call needs, on which resource, and who makes it.

- The role in deploy/cloudformation/yield-app.yaml, resolved offline as CloudFormation would
  (deploy/cfn_resolve.py, as tests/unit/test_deploy.py does), must grant exactly the table:
  a call without a permission fails the job on AWS, a permission without a call is surplus.
- The table follows the code: the SDK operations found in connector/src/main/java and the boto3
  operations found in udfs/ are all in it (or named as not the job's), and its lake prefixes are
  the paths of the file sinks in schemas/sql/.

What the S3 file sinks call was read from Flink's S3 writer (flink-s3-fs-hadoop 2.2.0, Hadoop
3.3.4: multipart upload, PutObject, HEAD and GET of its own part files on recovery, DeleteObject)
and watched against moto with a partitioned Parquet sink like the job's: multipart uploads,
listings under the sink's own path, and deletes of "directory" markers up to the bucket root.
Those deletes are best effort in Hadoop's S3A (a refusal is ignored), so the role grants no
delete above the sink paths. Nothing probed a parent key such as `raw` or `outputs`.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import cache
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore import xform_name
from cfnlint.decode import decode

from deploy.cfn_resolve import Resolver

ROOT = Path(__file__).resolve().parents[2]
APP_TEMPLATE = ROOT / "deploy" / "cloudformation" / "yield-app.yaml"
DATA_TEMPLATE = ROOT / "deploy" / "cloudformation" / "yield-data.yaml"
JAVA_SOURCES = ROOT / "connector" / "src" / "main" / "java"
PYTHON_WORKERS = ROOT / "udfs"
SINK_DDL = ROOT / "schemas" / "sql"

REGION = "eu-west-1"
ACCOUNT = "123456789012"
OTHER_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0f0e0d0c-1111-2222-3333-444455556666"

# The file sinks of the job (schemas/sql/*.sql 'path'), under the lake root.
SINK_PREFIXES = (
    "raw",
    "raw_errors",
    "raw_late",
    "processed/features",
    "outputs/predictions/real_time",
    "outputs/monitoring/drift",
)


@dataclass(frozen=True)
class Call:
    """One call made with the role: the permission it needs, on what, and who makes it.

    `resource` uses the placeholders of `placeholders()`. `scope` is the condition the grant
    must carry: the service that uses a KMS key on the job's behalf (kms:ViaService), or the
    CloudWatch namespace a metric is published in (cloudwatch:namespace).
    """

    action: str
    resource: str
    caller: str
    scope: str = ""


def sink_calls(prefix: str) -> tuple[Call, ...]:
    sink = f"file sink under {prefix}/ (S3 filesystem)"
    return (
        Call("s3:PutObject", f"{{lake}}/{prefix}/*",
             f"{sink}: multipart upload of part files, temporary part objects, _SUCCESS files"),
        Call("s3:GetObject", f"{{lake}}/{prefix}/*",
             f"{sink}: HEAD of a committed part and GET of a temporary part after a restart"),
        Call("s3:DeleteObject", f"{{lake}}/{prefix}/*",
             f"{sink}: temporary part objects and directory markers"),
    )


CALLS: tuple[Call, ...] = (
    # MSF itself, with the role: the code and the application's logs.
    Call("s3:GetObject", "{code}", "MSF: reads the application zip"),
    Call("s3:GetObjectVersion", "{code}", "MSF: reads the zip's CodeObjectVersion"),
    Call("logs:PutLogEvents", "{log_group}", "MSF: the application's log stream"),
    Call("logs:DescribeLogStreams", "{log_group}", "MSF: the application's log stream"),
    Call("logs:DescribeLogGroups", "{log_groups}", "MSF: the log appender at start"),
    # The Kinesis source (connector: KinesisClientShardProxy), polling.
    Call("kinesis:ListShards", "{stream}", "Kinesis source: shard discovery"),
    Call("kinesis:GetShardIterator", "{stream}", "Kinesis source: start or resume a shard"),
    Call("kinesis:GetRecords", "{stream}", "Kinesis source: read a shard"),
    Call("kms:Decrypt", "{data_key}", "Kinesis: decrypts GetRecords of the encrypted stream", "kinesis"),
    # The DynamoDB sink (connector: DynamoDbSinkWriter): batches of puts; single conditional puts.
    Call("dynamodb:BatchWriteItem", "{floors_table}", "DynamoDB sink: floors in batches"),
    Call("dynamodb:PutItem", "{floors_table}", "DynamoDB sink: conditional put of one floor (only if newer)"),
    # DynamoDB using the floors table's customer managed key on the job's behalf.
    *(Call(action, "{floors_table_key}", "DynamoDB: the floors table's key", "dynamodb")
      for action in ("kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*",
                     "kms:DescribeKey", "kms:CreateGrant")),
    # The lake: models read by the Python workers, the file sinks' prefixes written.
    Call("s3:GetObject", "{lake}/models/*",
         "udfs/model_store.py read_bytes: manifest, booster, features, baselines (scoring, drift)"),
    Call("s3:ListBucket", "{lake_bucket}", "file sinks (S3 filesystem): status of a path before writing"),
    *(call for prefix in SINK_PREFIXES for call in sink_calls(prefix)),
    Call("kms:Decrypt", "{data_key}", "S3: model reads, part uploads and part reads under SSE-KMS", "s3"),
    Call("kms:GenerateDataKey", "{data_key}", "S3: new objects and multipart uploads under SSE-KMS", "s3"),
    # Feature Store online records (udfs/feature_store.py OnlineFeatureWriter).
    Call("sagemaker:PutRecord", "{feature_group}", "udfs/feature_store.py: one record per segment and window"),
    # Drift metrics (udfs/drift_monitor.py publish).
    Call("cloudwatch:PutMetricData", "*", "udfs/drift_monitor.py: drift scores", "{drift_namespace}"),
)

# Calls to the floors table's key exist only when the table is under a customer managed key.
FLOORS_TABLE_KEY_CALLS = {c for c in CALLS if c.resource == "{floors_table_key}"}

# SDK and boto3 operations in the code that the job does not make with the role, and why.
# SDK calls the connector can make that this job's graph never reaches, so the role does not grant them.
CONNECTOR_CALLS_THE_JOB_NEVER_MAKES = {
    # The sink turns a DELETE row into DeleteItem; the floors query is insert-only (closed windows).
    "dynamodb:DeleteItem": "DynamoDB sink: a retraction row",
}

NOT_THE_JOBS = {
    "s3:PutObject@udfs/model_store.py": "write_bytes: training and promotion, run by an operator",
    "sagemaker:BatchGetRecord@udfs/feature_store.py": "read_online_records: tests and operator checks",
}

# boto3 service name -> IAM prefix, for the services udfs/ creates clients of.
IAM_PREFIX = {"s3": "s3", "cloudwatch": "cloudwatch", "sagemaker-featurestore-runtime": "sagemaker",
              "kinesis": "kinesis", "dynamodb": "dynamodb"}


# --------------------------------------------------------------------------- the template, resolved


@cache
def template(path: Path) -> dict[str, Any]:
    tpl, matches = decode(path)
    assert not matches, matches
    return tpl


def data_exports() -> dict[str, str]:
    resolver = Resolver(template(DATA_TEMPLATE), "yield-data", region=REGION, account=ACCOUNT)
    return {resolver.resolve(out["Export"]["Name"]): resolver.resolve(out["Value"])
            for out in template(DATA_TEMPLATE)["Outputs"].values() if "Export" in out}


def app_resolver(parameters: dict[str, str] | None = None) -> Resolver:
    return Resolver(template(APP_TEMPLATE), "yield-app", data_exports(), region=REGION, account=ACCOUNT,
                    parameters=parameters)


def placeholders(resolver: Resolver) -> dict[str, str]:
    exports = data_exports()
    code_bucket, code_key = resolver.refs["CodeBucketName"], resolver.refs["CodeKey"]
    key_choice = resolver.refs["FloorsTableKmsKey"]
    return {
        "code": f"arn:aws:s3:::{code_bucket}/{code_key}",
        "log_group": resolver.get_att("ApplicationLogGroup", "Arn"),
        "log_groups": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:*",
        "stream": exports["yield-data-StreamArn"],
        "data_key": exports["yield-data-DataKeyArn"],
        "floors_table": exports["yield-data-FloorsTableArn"],
        "floors_table_key": exports["yield-data-DataKeyArn"] if key_choice == "data-stack" else key_choice,
        "lake": exports["yield-data-LakeBucketArn"],
        "lake_bucket": exports["yield-data-LakeBucketArn"],
        "feature_group": exports["yield-data-FeatureGroupArn"],
        "drift_namespace": drift_namespace(resolver),
    }


def drift_namespace(resolver: Resolver) -> str:
    app = next(r for r in template(APP_TEMPLATE)["Resources"].values()
               if r["Type"] == "AWS::KinesisAnalyticsV2::Application")
    groups = resolver.resolve(app["Properties"])["ApplicationConfiguration"]["EnvironmentProperties"]
    monitoring = next(g for g in groups["PropertyGroups"] if g["PropertyGroupId"] == "Monitoring")
    return monitoring["PropertyMap"]["cloudwatch.namespace"]


@dataclass(frozen=True)
class Grant:
    """One action on one resource, as a statement of the role allows it."""

    sid: str
    action: str
    resource: str
    scope: str


def _listed(value: Any) -> list[str]:
    return value if isinstance(value, list) else [value]


def role_statements(resolver: Resolver) -> list[dict[str, Any]]:
    """The statements of the role's inline policies and of the policies attached to it, resolved;
    a policy resource whose Condition is false is not deployed."""
    resources = template(APP_TEMPLATE)["Resources"]
    statements = []
    for name, res in resources.items():
        if res.get("Condition") and not resolver.condition(res["Condition"]):
            continue
        if res["Type"] == "AWS::IAM::Role" and name == "ApplicationRole":
            documents = [p["PolicyDocument"] for p in res["Properties"].get("Policies", [])]
        elif res["Type"] == "AWS::IAM::RolePolicy":
            assert res["Properties"]["RoleName"] == {"Ref": "ApplicationRole"}, name
            documents = [res["Properties"]["PolicyDocument"]]
        else:
            continue
        statements += [s for doc in documents for s in resolver.resolve(doc)["Statement"]]
    return statements


def grants(resolver: Resolver) -> set[Grant]:
    found = set()
    for statement in role_statements(resolver):
        assert statement["Effect"] == "Allow" and "NotAction" not in statement and "NotResource" not in statement
        scopes = [""]
        for operator, pairs in statement.get("Condition", {}).items():
            (key, value), = pairs.items()
            assert (operator, key) in {("StringEquals", "kms:ViaService"), ("StringLike", "cloudwatch:namespace")}, (
                f"{statement['Sid']}: unexpected condition {operator} {key}")
            scopes = _listed(value)
        for action in _listed(statement["Action"]):
            for resource in _listed(statement["Resource"]):
                found |= {Grant(statement["Sid"], action, resource, scope) for scope in scopes}
    return found


def needs(call: Call, names: dict[str, str]) -> tuple[str, str, str]:
    scope = call.scope.format(**names)
    if call.action.startswith("kms:"):
        scope = f"{scope}.{REGION}.amazonaws.com"
    return call.action, call.resource.format(**names), scope


def serves(grant: Grant, need: tuple[str, str, str]) -> bool:
    action, resource, scope = need
    return grant.action == action and grant.resource == resource and fnmatchcase(scope, grant.scope)


# --------------------------------------------------------------------------- the role is the table


@pytest.mark.parametrize(
    ("parameters", "floors_table_key"),
    [({}, "data"), ({"FloorsTableKmsKey": OTHER_KEY}, "other"), ({"FloorsTableKmsKey": ""}, None)],
    ids=["table-under-the-data-key", "table-under-another-key", "table-under-an-aws-key"],
)
def test_role_grants_every_call_and_nothing_else(parameters: dict[str, str], floors_table_key: str | None) -> None:
    resolver = app_resolver(parameters)
    names = placeholders(resolver)
    calls = [c for c in CALLS if floors_table_key or c not in FLOORS_TABLE_KEY_CALLS]
    granted = grants(resolver)

    missing = [c for c in calls if not any(serves(g, needs(c, names)) for g in granted)]
    surplus = [g for g in granted if not any(serves(g, needs(c, names)) for c in calls)]
    assert not missing, "calls the role does not allow:\n" + "\n".join(
        f"  {c.action} on {c.resource} ({c.caller})" for c in missing)
    assert not surplus, "permissions no call needs:\n" + "\n".join(
        f"  {g.sid}: {g.action} on {g.resource} {g.scope}" for g in sorted(surplus, key=str))

    key_grants = {g.resource for g in granted if g.sid == "UseFloorsTableKey"}
    expected = {"data": {names["data_key"]}, "other": {OTHER_KEY}, None: set()}[floors_table_key]
    assert key_grants == expected


def test_the_job_cannot_write_models_or_the_current_manifest() -> None:
    resolver = app_resolver()
    granted = grants(resolver)
    lake = placeholders(resolver)["lake"]
    manifest = f"{lake}/models/production/current/manifest.json"
    writes = {"s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:*"}
    assert not [g for g in granted if g.action in writes and fnmatchcase(manifest, g.resource)]
    assert any(g.action == "s3:GetObject" and fnmatchcase(manifest, g.resource) for g in granted)
    # Nor the Feature Store's offline copy, which SageMaker writes under processed/feature_store/.
    offline = f"{lake}/processed/feature_store/x.parquet"
    assert not [g for g in granted if g.action in writes and fnmatchcase(offline, g.resource)]


def test_key_use_goes_through_the_service_that_holds_the_data() -> None:
    for grant in grants(app_resolver()):
        if grant.action.startswith("kms:"):
            assert re.fullmatch(rf"(kinesis|s3|dynamodb)\.{REGION}\.amazonaws\.com", grant.scope), grant


# --------------------------------------------------------------------------- the table is the code


def test_lake_prefixes_are_the_file_sinks_paths() -> None:
    paths = set()
    for ddl in SINK_DDL.glob("*.sql"):
        paths |= set(re.findall(r"'path'\s*=\s*'\$\{lake_path\}/([^']+)'", ddl.read_text(encoding="utf-8")))
    assert paths == set(SINK_PREFIXES)
    written = {c.resource for c in CALLS if c.action == "s3:PutObject" and c.resource.startswith("{lake}/")}
    assert written == {f"{{lake}}/{p}/*" for p in SINK_PREFIXES}


@cache
def operations(service: str) -> frozenset[str]:
    return frozenset(botocore.session.get_session().get_service_model(service).operation_names)


def java_sdk_calls() -> set[str]:
    """`service:Operation` for every AWS SDK v2 operation the connector's sources name: as a
    request class (FooRequest) or as a client method (client.foo(...)) of an imported service."""
    found = set()
    for source in JAVA_SOURCES.rglob("*.java"):
        text = source.read_text(encoding="utf-8")
        for service in set(re.findall(r"import software\.amazon\.awssdk\.services\.(\w+)\.", text)):
            model = rf"import software\.amazon\.awssdk\.services\.{service}\.model\."
            names = set(re.findall(rf"{model}(\w+)Request;", text))
            names |= {m[0].upper() + m[1:] for m in re.findall(r"\b\w+\.([a-z]\w*)\(", text)}
            found |= {f"{service}:{n}" for n in names if n in operations(service)}
    return found


def test_every_sdk_call_of_the_connector_is_in_the_table() -> None:
    in_code = java_sdk_calls()
    assert in_code >= {"kinesis:ListShards", "kinesis:GetShardIterator", "kinesis:GetRecords",
                       "dynamodb:BatchWriteItem"}, in_code  # the finder still finds the known calls
    tabled = {c.action for c in CALLS}
    missing = in_code - tabled - set(CONNECTOR_CALLS_THE_JOB_NEVER_MAKES)
    assert not missing, f"connector calls missing from CALLS: {sorted(missing)}"
    assert set(CONNECTOR_CALLS_THE_JOB_NEVER_MAKES) <= in_code, "a call named below is no longer in the connector"


def python_aws_calls() -> set[str]:
    """`iam-action@file` for every boto3 operation a module of udfs/ calls on a client it creates
    through udfs.aws.aws_client (as `client.op(` or passed on as `client.op`)."""
    found = set()
    for module in PYTHON_WORKERS.glob("*.py"):
        tree = ast.parse(module.read_text(encoding="utf-8"))
        services = {node.args[0].value for node in ast.walk(tree)
                    if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "aws_client"
                    and node.args and isinstance(node.args[0], ast.Constant)}
        attributes = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
        for service in services:
            by_method = {xform_name(op): op for op in operations(service)}
            found |= {f"{IAM_PREFIX[service]}:{by_method[a]}@udfs/{module.name}" for a in attributes & set(by_method)}
    return found


def test_every_boto3_call_of_the_workers_is_in_the_table() -> None:
    in_code = python_aws_calls()
    assert in_code >= {"s3:GetObject@udfs/model_store.py", "sagemaker:PutRecord@udfs/feature_store.py",
                       "cloudwatch:PutMetricData@udfs/drift_monitor.py"}, in_code
    tabled = {c.action for c in CALLS}
    unexplained = {call for call in in_code - set(NOT_THE_JOBS) if call.split("@")[0] not in tabled}
    assert not unexplained, f"boto3 calls neither in CALLS nor in NOT_THE_JOBS: {sorted(unexplained)}"
    assert set(NOT_THE_JOBS) <= in_code, "NOT_THE_JOBS names a call the code no longer makes"

"""Clients for the stand-ins, and idempotent creation of the job's AWS resources.

Clients come from ``udfs.aws.aws_client``, the project's one boto3 factory.

CLI::

    python -m local_kinesis.resources create [--properties flink_jobs/application_properties.json]
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from local_kinesis import REPO_ROOT
from udfs.aws import aws_client

FLOORS_TABLE_SCHEMA = REPO_ROOT / "schemas" / "floors_table.json"
TABLE_PLACEHOLDER = "${floors_table}"
# Keys in floors_table.json that are ours, not CreateTable parameters.
NON_API_TABLE_KEYS = ("description", "TimeToLiveAttribute")


class ResourceError(RuntimeError):
    """A resource exists in a shape that does not match the config, or never became ready."""


def _error_code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


# --------------------------------------------------------------------------- stream


def wait_stream_active(client: Any, stream_name: str, timeout_s: float = 30.0) -> dict[str, Any]:
    """Poll DescribeStreamSummary until ACTIVE; returns the summary."""
    deadline = time.monotonic() + timeout_s
    while True:
        summary = client.describe_stream_summary(StreamName=stream_name)["StreamDescriptionSummary"]
        if summary["StreamStatus"] == "ACTIVE":
            return summary
        if time.monotonic() > deadline:
            raise ResourceError(f"stream {stream_name} still {summary['StreamStatus']} after {timeout_s:.0f} s")
        time.sleep(0.1)


def create_stream(client: Any, stream_name: str, shard_count: int, timeout_s: float = 30.0) -> dict[str, Any]:
    """Create a provisioned stream with ``shard_count`` shards unless it exists; wait for ACTIVE.

    An existing stream with another shard count is an error, not silently resharded:
    tests and the job's parallelism assume the configured count.
    """
    created = True
    try:
        # Only StreamName and ShardCount: kinesalite 3.3.3 rejects StreamModeDetails.
        client.create_stream(StreamName=stream_name, ShardCount=shard_count)
    except ClientError as err:
        if _error_code(err) != "ResourceInUseException":
            raise
        created = False
    summary = wait_stream_active(client, stream_name, timeout_s)
    open_shards = summary["OpenShardCount"]
    if open_shards != shard_count:
        raise ResourceError(
            f"stream {stream_name} exists with {open_shards} open shards, config says {shard_count}: "
            "delete it (or restart the stand-in) to recreate it"
        )
    return {
        "stream_name": stream_name,
        "stream_arn": summary["StreamARN"],
        "shards": open_shards,
        "created": created,
    }


# --------------------------------------------------------------------------- bucket


def create_bucket(client: Any, bucket: str, region: str) -> dict[str, Any]:
    """Create the bucket unless we already own it."""
    params: dict[str, Any] = {"Bucket": bucket}
    if region != "us-east-1":  # S3 rejects an explicit us-east-1 location constraint
        params["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        client.create_bucket(**params)
        created = True
    except ClientError as err:
        if _error_code(err) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise
        created = False
    client.head_bucket(Bucket=bucket)
    return {"bucket": bucket, "created": created}


# --------------------------------------------------------------------------- table


def floors_table_params(table_name: str, schema_path: Path = FLOORS_TABLE_SCHEMA) -> tuple[dict[str, Any], str | None]:
    """CreateTable parameters from the schema file, and its TTL attribute (if any)."""
    raw = json.loads(schema_path.read_text(encoding="utf-8"))

    def substitute(value: Any) -> Any:
        if isinstance(value, str):
            return value.replace(TABLE_PLACEHOLDER, table_name)
        if isinstance(value, list):
            return [substitute(v) for v in value]
        if isinstance(value, dict):
            return {k: substitute(v) for k, v in value.items()}
        return value

    params = substitute(copy.deepcopy(raw))
    ttl_attribute = params.pop("TimeToLiveAttribute", None)
    for key in NON_API_TABLE_KEYS:
        params.pop(key, None)
    return params, ttl_attribute


def create_table(
    client: Any, params: dict[str, Any], ttl_attribute: str | None, timeout_s: float = 30.0
) -> dict[str, Any]:
    """Create the table unless it exists (with the same key schema); enable TTL if asked."""
    name = params["TableName"]
    try:
        client.create_table(**params)
        created = True
    except ClientError as err:
        if _error_code(err) != "ResourceInUseException":
            raise
        created = False
    client.get_waiter("table_exists").wait(
        TableName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": max(1, int(timeout_s / 0.2))}
    )
    table = client.describe_table(TableName=name)["Table"]
    want_keys = sorted((k["AttributeName"], k["KeyType"]) for k in params["KeySchema"])
    have_keys = sorted((k["AttributeName"], k["KeyType"]) for k in table["KeySchema"])
    if want_keys != have_keys:
        raise ResourceError(f"table {name} exists with key schema {have_keys}, schema file says {want_keys}")

    ttl_status = None
    if ttl_attribute:
        ttl = client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        # UpdateTimeToLive on an already-enabled TTL is a ValidationException on AWS: skip it.
        if not (ttl.get("TimeToLiveStatus") in ("ENABLED", "ENABLING") and ttl.get("AttributeName") == ttl_attribute):
            client.update_time_to_live(
                TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl_attribute}
            )
        ttl_status = client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    return {"table": name, "created": created, "ttl": ttl_status}


# --------------------------------------------------------------------------- feature group

# Keys in feature_group.json that are ours, not CreateFeatureGroup parameters.
NON_API_GROUP_KEYS = ("description", "RecordIdentifierSeparator", "OfflineStorePrefix")
# Locally the offline store is never written (the stand-in serves the online store only), but
# moto's CreateFeatureGroup needs one; on AWS deploy/cloudformation/yield-data.yaml makes the real role.
LOCAL_OFFLINE_ROLE = "arn:aws:iam::000000000000:role/feature-store-offline"


def feature_group_params(group_name: str, bucket: str, role_arn: str = LOCAL_OFFLINE_ROLE) -> dict[str, Any]:
    """CreateFeatureGroup parameters from schemas/feature_group.json."""
    from udfs.feature_store import feature_group_definition

    params = feature_group_definition(group_name)
    prefix = params["OfflineStorePrefix"]
    for key in NON_API_GROUP_KEYS:
        params.pop(key, None)
    params["OfflineStoreConfig"] = {"S3StorageConfig": {"S3Uri": f"s3://{bucket}/{prefix}"}}
    params["RoleArn"] = role_arn
    return params


def create_feature_group(client: Any, params: dict[str, Any]) -> dict[str, Any]:
    """Create the feature group unless it exists with the same identifier and event time."""
    name = params["FeatureGroupName"]
    try:
        client.create_feature_group(**params)
        created = True
    except ClientError as err:
        if _error_code(err) != "ResourceInUse":
            raise
        created = False
    group = client.describe_feature_group(FeatureGroupName=name)
    for key in ("RecordIdentifierFeatureName", "EventTimeFeatureName"):
        if group[key] != params[key]:
            raise ResourceError(f"feature group {name} exists with {key} {group[key]}, schema file says {params[key]}")
    return {"feature_group": name, "created": created, "status": group.get("FeatureGroupStatus")}


# --------------------------------------------------------------------------- all of them


@dataclass(frozen=True)
class CreatedResources:
    stream: dict[str, Any]
    bucket: dict[str, Any]
    table: dict[str, Any]
    feature_group: dict[str, Any] | None = None


def create_all(config: Any = None) -> CreatedResources:
    """Create stream, bucket and floors table from an AppConfig (default: ``load_config()``)."""
    if config is None:
        from flink_jobs.config import load_config

        config = load_config()
    kinesis = aws_client("kinesis", config.stream.endpoint, config.stream.region)
    stream = create_stream(kinesis, config.stream.stream_name, config.stream.shard_count)
    if stream["stream_arn"] != config.stream.stream_arn:
        raise ResourceError(
            f"stream ARN {stream['stream_arn']} differs from the configured {config.stream.stream_arn}: "
            "check the region / account the stand-in files streams under"
        )
    # The lake config has no region of its own; the bucket lives with the table.
    s3 = aws_client("s3", config.lake.s3_endpoint, config.floors.region)
    bucket = create_bucket(s3, config.lake.bucket, config.floors.region)
    dynamodb = aws_client("dynamodb", config.floors.endpoint, config.floors.region)
    params, ttl_attribute = floors_table_params(config.floors.table_name)
    table = create_table(dynamodb, params, ttl_attribute)
    store = config.feature_store
    group = None
    if store is not None and store.enabled:
        sagemaker = aws_client("sagemaker", store.control_endpoint, store.region)
        group = create_feature_group(sagemaker, feature_group_params(store.feature_group_name, config.lake.bucket))
    return CreatedResources(stream=stream, bucket=bucket, table=table, feature_group=group)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local_kinesis.resources", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["create"])
    parser.add_argument("--properties", type=Path, default=None, help="application properties file (default: config's)")
    args = parser.parse_args(argv)
    from flink_jobs.config import load_config

    try:
        result = create_all(load_config(args.properties))
    except (ResourceError, ClientError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(json.dumps(asdict(result), indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())

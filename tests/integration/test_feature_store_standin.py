"""The Feature Store runtime stand-in, driven by the unchanged boto3 client against moto's control plane."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from local_kinesis import REPO_ROOT, standins
from udfs.aws import aws_client

REGION = "eu-west-1"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class StandIn:
    """One stand-in process on its own port and data dir (not the shared :5060 one)."""

    def __init__(self, data_dir: Path, log: Path, port: int | None = None, options: tuple[str, ...] = ()) -> None:
        self.port = port or _free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.data_dir = data_dir
        self.log = log
        self.options = options  # more CLI options, e.g. ("--throttle-share", "0.2")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        cmd = [sys.executable, "-m", "local_kinesis.feature_store", "--port", str(self.port),
               "--data-dir", str(self.data_dir), "--control-plane", standins.MOTO_ENDPOINT, "--throttle-seed", "7",
               *self.options]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT,
                                         env=dict(os.environ))
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()
            try:
                self.admin("GET", "/_health")
                return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"stand-in did not answer: {self.log.read_text()}")

    def kill(self) -> None:
        # SIGKILL: no clean shutdown, the log replay alone must restore the records.
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def admin(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.endpoint + path, data=data, method=method)
        with urllib.request.urlopen(req, timeout=3) as answer:
            return dict(json.load(answer))

    def client(self, max_attempts: int = 1) -> Any:
        return aws_client("sagemaker-featurestore-runtime", self.endpoint, REGION, max_attempts=max_attempts)


@pytest.fixture(scope="module")
def group(running_standins: None) -> str:
    """A feature group in moto: id ``floor_key``, event time ``event_time``, two features."""
    name = f"floors-{uuid.uuid4().hex[:8]}"
    aws_client("sagemaker", standins.MOTO_ENDPOINT, REGION).create_feature_group(
        FeatureGroupName=name,
        RecordIdentifierFeatureName="floor_key",
        EventTimeFeatureName="event_time",
        FeatureDefinitions=[
            {"FeatureName": "floor_key", "FeatureType": "String"},
            {"FeatureName": "event_time", "FeatureType": "Fractional"},
            {"FeatureName": "floor_cpm", "FeatureType": "Fractional"},
            {"FeatureName": "win_rate", "FeatureType": "Fractional"},
        ],
        OnlineStoreConfig={"EnableOnlineStore": True},
        # moto 5.2.5 fails (500) without an offline store config: it derives a resolved S3 URI from it.
        OfflineStoreConfig={"S3StorageConfig": {"S3Uri": "s3://feature-store-offline"}},
        RoleArn="arn:aws:iam::123456789012:role/feature-store",
    )
    return name


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandIn]:
    base = tmp_path_factory.mktemp("feature_store")
    stand_in = StandIn(base / "data", base / "feature_store.log")
    stand_in.start()
    yield stand_in
    stand_in.kill()


def record(key: str, event_time: float, cpm: float, win_rate: float = 0.5) -> list[dict[str, str]]:
    return [
        {"FeatureName": "floor_key", "ValueAsString": key},
        {"FeatureName": "event_time", "ValueAsString": repr(event_time)},
        {"FeatureName": "floor_cpm", "ValueAsString": repr(cpm)},
        {"FeatureName": "win_rate", "ValueAsString": repr(win_rate)},
    ]


def values(answer: dict[str, Any]) -> dict[str, str]:
    return {fv["FeatureName"]: fv["ValueAsString"] for fv in answer.get("Record", [])}


def test_put_get_batch_get_delete(server: StandIn, group: str) -> None:
    fs = server.client()
    fs.put_record(FeatureGroupName=group, Record=record("a", 100.0, 1.5))
    # TTL counts from the EventTime: "b" lives a day from now, "old" expired long ago and reads absent.
    ttl = {"Unit": "Days", "Value": 1}
    fs.put_record(FeatureGroupName=group, Record=record("b", time.time(), 2.5), TtlDuration=ttl)
    fs.put_record(FeatureGroupName=group, Record=record("old", 100.0, 2.5), TtlDuration=ttl)
    assert "Record" not in fs.get_record(FeatureGroupName=group, RecordIdentifierValueAsString="old")
    expiring = fs.get_record(
        FeatureGroupName=group, RecordIdentifierValueAsString="b", ExpirationTimeResponse="Enabled"
    )
    assert expiring["ExpiresAt"] > time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())

    assert values(fs.get_record(FeatureGroupName=group, RecordIdentifierValueAsString="a"))["floor_cpm"] == "1.5"
    only = fs.get_record(FeatureGroupName=group, RecordIdentifierValueAsString="a", FeatureNames=["floor_cpm"])
    assert values(only) == {"floor_cpm": "1.5"}
    assert "Record" not in fs.get_record(FeatureGroupName=group, RecordIdentifierValueAsString="nope")

    batch = fs.batch_get_record(
        Identifiers=[
            {"FeatureGroupName": group, "RecordIdentifiersValueAsString": ["a", "b", "old", "nope"]},
            {"FeatureGroupName": "no-such-group", "RecordIdentifiersValueAsString": ["a"]},
        ]
    )
    assert sorted(r["RecordIdentifierValueAsString"] for r in batch["Records"]) == ["a", "b"]
    assert [(e["FeatureGroupName"], e["ErrorCode"]) for e in batch["Errors"]] == [("no-such-group", "ResourceNotFound")]
    assert batch["UnprocessedIdentifiers"] == []

    # Soft delete: gone for reads, and an older replayed put stays ignored behind the tombstone.
    fs.delete_record(FeatureGroupName=group, RecordIdentifierValueAsString="a", EventTime="101")
    assert "Record" not in fs.get_record(FeatureGroupName=group, RecordIdentifierValueAsString="a")
    fs.put_record(FeatureGroupName=group, Record=record("a", 100.0, 1.5))
    assert "Record" not in fs.get_record(FeatureGroupName=group, RecordIdentifierValueAsString="a")
    fs.put_record(FeatureGroupName=group, Record=record("a", 102.0, 3.0))
    assert values(fs.get_record(FeatureGroupName=group, RecordIdentifierValueAsString="a"))["floor_cpm"] == "3.0"


def test_older_event_time_does_not_overwrite(server: StandIn, group: str) -> None:
    fs = server.client()
    fs.put_record(FeatureGroupName=group, Record=record("k", 200.0, 1.0))
    fs.put_record(FeatureGroupName=group, Record=record("k", 150.0, 9.0))  # older: ignored
    assert values(fs.get_record(FeatureGroupName=group, RecordIdentifierValueAsString="k"))["floor_cpm"] == "1.0"
    fs.put_record(FeatureGroupName=group, Record=record("k", 200.0, 2.0))  # equal: replaces (replay)
    assert values(fs.get_record(FeatureGroupName=group, RecordIdentifierValueAsString="k"))["floor_cpm"] == "2.0"
    iso = [*record("k", 0, 4.0)[:1], {"FeatureName": "event_time", "ValueAsString": "2100-01-01T00:00:00Z"}]
    fs.put_record(FeatureGroupName=group, Record=iso)  # ISO-8601 event times compare with epoch ones
    assert values(fs.get_record(FeatureGroupName=group, RecordIdentifierValueAsString="k"))["event_time"].startswith(
        "2100"
    )


def test_errors_as_the_service_model_says(server: StandIn, group: str) -> None:
    fs = server.client()
    with pytest.raises(fs.exceptions.ResourceNotFound):
        fs.get_record(FeatureGroupName="no-such-group", RecordIdentifierValueAsString="a")
    with pytest.raises(fs.exceptions.ValidationError, match="Resource Not Found"):
        fs.put_record(FeatureGroupName="no-such-group", Record=record("a", 1.0, 1.0))
    with pytest.raises(fs.exceptions.ValidationError, match="not defined"):
        extra = {"FeatureName": "x", "ValueAsString": "1"}
        fs.put_record(FeatureGroupName=group, Record=[*record("a", 1.0, 1.0), extra])
    with pytest.raises(fs.exceptions.ValidationError, match="event_time"):
        fs.put_record(FeatureGroupName=group, Record=record("a", 1.0, 1.0)[:1])


def test_throttled_puts_arrive_exactly_once_then_survive_a_kill(server: StandIn, group: str) -> None:
    fs = server.client(max_attempts=10)  # botocore standard retry mode
    keys = [f"t-{i:03d}" for i in range(200)]
    server.admin("POST", "/_admin/throttle", {"share": 0.2, "seed": 7})
    try:
        # Threads share the one client: botocore's backoff (up to seconds per retry) would make a
        # sequential run take ~40 s; the retries themselves are the same.
        with ThreadPoolExecutor(max_workers=25) as pool:
            list(pool.map(lambda i: fs.put_record(FeatureGroupName=group, Record=record(keys[i], 1000.0 + i, float(i))),
                          range(len(keys))))
        throttled = server.admin("GET", "/_health")["throttle"]["throttled"]
    finally:
        server.admin("POST", "/_admin/throttle", {"share": 0.0})
    assert 20 < throttled < 80, throttled  # ~20% of ~250 calls

    # Exactly once: a throttled call changes nothing, so the log holds one applied put per key.
    log = [json.loads(line) for line in (server.data_dir / "records.jsonl").read_text().splitlines()]
    puts = [e["id"] for e in log if e["t"] == "put" and e["g"] == group and e["id"].startswith("t-")]
    assert sorted(puts) == keys

    def all_back(fs: Any) -> dict[str, str]:
        got: dict[str, str] = {}
        for start in range(0, len(keys), 100):
            batch = fs.batch_get_record(
                Identifiers=[{"FeatureGroupName": group, "RecordIdentifiersValueAsString": keys[start : start + 100]}]
            )
            assert batch["Errors"] == []
            got.update({r["RecordIdentifierValueAsString"]: values(r)["floor_cpm"] for r in batch["Records"]})
        return got

    expected = {key: repr(float(i)) for i, key in enumerate(keys)}
    assert all_back(fs) == expected

    server.kill()
    server.start()
    assert all_back(server.client()) == expected


def test_unknown_operation_is_a_client_error(server: StandIn) -> None:
    with pytest.raises(ClientError):
        server.client().list_records(FeatureGroupName="whatever")


def test_registered_as_a_default_standin() -> None:
    # The job writes online feature records: every run needs it.
    spec = standins.STANDINS["feature-store"]
    assert spec.ports == (5060,) and "feature-store" in standins.selected(with_kinesalite=False)
    assert spec.command()[1:3] == ["-m", "local_kinesis.feature_store"]

"""Read a stream with the Kinesis Client Library, independently of the Flink job.

The KCL's MultiLangDaemon (Java; its jars ship in the pinned `kclpy-ext` wheel, under
``amazon_kclpy/jars``) leases the shards in DynamoDB (moto), and runs
``tests.support.kcl_record_logger`` once per shard lease; each logs the records it is given.
Tests compare that log with the producer's: an oracle for "the stream holds what was acknowledged"
that shares no code with the job's connector.

    with kcl_reader(stream_arn, kinesis_endpoint="http://127.0.0.1:4568",
                    dynamodb_endpoint="http://127.0.0.1:5055", work_dir=tmp) as reader:
        reader.wait_for(n_records, timeout_s=300)
        records = reader.records()

The KCL talks plain http here: it has no "trust all certificates" switch for kinesis-local's
self-signed TLS port. Metrics are off (``metricsLevel = NONE``): no CloudWatch calls.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import amazon_kclpy
from botocore.exceptions import ClientError

from simulator.producer import read_log
from udfs.aws import STANDIN_ACCESS_KEY, STANDIN_SECRET_KEY, aws_client

JARS_DIR = Path(amazon_kclpy.__file__).parent / "jars"
DAEMON_CLASS = "software.amazon.kinesis.multilang.MultiLangDaemon"

# Short timings so a test sees leases taken and children started in seconds, not minutes
# (defaults: 10 s failover, 60 s shard sync, 10 s parent poll).
FAST_TIMINGS = {
    "failoverTimeMillis": "2000",
    "shardSyncIntervalMillis": "5000",
    "parentShardPollIntervalMillis": "1000",
    "idleTimeBetweenReadsInMillis": "250",
}


def daemon_properties(stream_arn: str, application: str, region: str, kinesis_endpoint: str,
                      dynamodb_endpoint: str) -> dict[str, str]:
    return {
        "executableName": f"{sys.executable} -m tests.support.kcl_record_logger",
        "streamArn": stream_arn,
        "streamName": stream_arn.rsplit("/", 1)[1],
        "applicationName": application,  # also the lease table's name
        "AwsCredentialsProvider": "DefaultCredentialsProvider",
        "processingLanguage": f"python/{sys.version_info.major}.{sys.version_info.minor}",
        "initialPositionInStream": "TRIM_HORIZON",
        "regionName": region,
        "kinesisEndpoint": kinesis_endpoint,
        "dynamoDBEndpoint": dynamodb_endpoint,
        "metricsLevel": "NONE",
        "retrievalMode": "POLLING",  # enhanced fan-out (SubscribeToShard over HTTP/2) is not what the job uses
    } | FAST_TIMINGS


@dataclass
class KclReader:
    process: subprocess.Popen
    read_log: Path
    daemon_log: Path
    application: str

    def records(self) -> list[dict[str, str]]:
        return read_log(self.read_log) if self.read_log.exists() else []

    def wait_for(self, count: int, timeout_s: float) -> list[dict[str, str]]:
        """Until `count` records were read (then a few more seconds, to see any extra)."""
        deadline = time.monotonic() + timeout_s
        while len(self.records()) < count:
            if self.process.poll() is not None:
                raise RuntimeError(f"the KCL daemon exited ({self.process.returncode}); see {self.daemon_log}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"KCL read {len(self.records())} of {count} records in {timeout_s:.0f} s; "
                                   f"see {self.daemon_log}")
            time.sleep(1.0)
        time.sleep(3.0)
        return self.records()

    def log_lines(self, *needles: str) -> list[str]:
        text = self.daemon_log.read_text(encoding="utf-8", errors="replace")
        return [line for line in text.splitlines() if any(n in line for n in needles)]


@contextlib.contextmanager
def kcl_reader(stream_arn: str, *, kinesis_endpoint: str, dynamodb_endpoint: str, work_dir: Path,
               region: str = "eu-west-1", java_options: tuple[str, ...] = ()) -> Iterator[KclReader]:
    work_dir.mkdir(parents=True, exist_ok=True)
    application = f"kcl-oracle-{uuid.uuid4().hex[:8]}"
    props = daemon_properties(stream_arn, application, region, kinesis_endpoint, dynamodb_endpoint)
    properties = work_dir / "kcl.properties"
    properties.write_text("".join(f"{k} = {v}\n" for k, v in props.items()), encoding="utf-8")
    reader_log, daemon_log = work_dir / "kcl-read.jsonl", work_dir / "kcl-daemon.log"
    env = os.environ | {
        "KCL_READ_LOG": str(reader_log),
        "AWS_ACCESS_KEY_ID": STANDIN_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": STANDIN_SECRET_KEY,
    }
    command = ["java", *java_options, "-cp", f"{JARS_DIR}/*", DAEMON_CLASS, "--properties-file", str(properties)]
    with daemon_log.open("wb") as out:
        # Its own process group: stopping it stops the per-shard record processors too.
        process = subprocess.Popen(command, cwd=work_dir, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        yield KclReader(process, reader_log, daemon_log, application)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        _delete_kcl_tables(dynamodb_endpoint, region, application)


def _delete_kcl_tables(dynamodb_endpoint: str, region: str, application: str) -> None:
    """The KCL's own tables (leases, coordinator state, worker metrics): the stand-in is shared."""
    dynamodb = aws_client("dynamodb", dynamodb_endpoint, region)
    for table in (application, f"{application}-CoordinatorState", f"{application}-WorkerMetricStats"):
        with contextlib.suppress(ClientError):
            dynamodb.delete_table(TableName=table)

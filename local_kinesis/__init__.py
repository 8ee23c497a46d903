"""Local stand-ins for the AWS services the job uses, and creation of the job's resources on them.

- ``standins``: start / health-check / stop kinesis-local, moto_server, kinesalite (+ shim) and the
  Feature Store runtime stand-in
- ``resources``: idempotent creation of the stream, the lake bucket, the floors table and the
  feature group from the config
- ``feature_store``: the SageMaker Feature Store runtime stand-in (PutRecord / GetRecord / BatchGetRecord)
- ``kinesalite_shim``: StreamARN -> StreamName rewriting proxy in front of kinesalite

Clients for all of them come from ``udfs.aws.aws_client``.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent

__all__ = ["PACKAGE_DIR", "REPO_ROOT"]

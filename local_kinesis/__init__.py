"""Local stand-ins for the AWS services the job uses, and the tools around them.

- ``standins``: start / health-check / stop kinesis-local, moto_server, kinesalite (+ shim)
- ``resources``: ``aws_client`` (the one factory for stand-in clients) and idempotent
  creation of the stream, the lake bucket and the floors table from the config
- ``events``: a seeded auction-event generator
- ``producer``: PutRecords with partial-failure retry, rate limiting and an ack log
- ``kinesalite_shim``: StreamARN -> StreamName rewriting proxy in front of kinesalite
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent

# Dummy credentials: the stand-ins accept any; "test" is not a 12-digit account id,
# so kinesis-local files every stream under its default account 000000000000.
DUMMY_ACCESS_KEY = "test"
DUMMY_SECRET_KEY = "test"

__all__ = ["DUMMY_ACCESS_KEY", "DUMMY_SECRET_KEY", "PACKAGE_DIR", "REPO_ROOT"]

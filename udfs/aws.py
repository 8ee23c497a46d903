"""The one factory of boto3 clients, for the job's Python workers and for every local tool.

Every module that talks to AWS (or to a local stand-in of it) gets its client here, so the
retry mode, timeouts, path-style S3 and the stand-ins' credentials are decided once.
boto3 is imported inside the function: the job's workers load this module by value and
import boto3 only when a function that needs AWS opens.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse

# Stand-ins accept any key; these make calls signable without a credential chain. "test" is not a
# 12-digit account id, so kinesis-local files every stream under its default account 000000000000.
STANDIN_ACCESS_KEY = "test"
STANDIN_SECRET_KEY = "test"
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def basic_credentials(properties: Mapping[str, str]) -> tuple[str, str] | None:
    """(access key, secret key) when a property group names the BASIC provider, else None (the role)."""
    if properties.get("aws.credentials.provider", "AUTO").upper() != "BASIC":
        return None
    return properties["aws.credentials.basic.accesskeyid"], properties["aws.credentials.basic.secretkey"]


def aws_client(
    service: str,
    endpoint: str | None,
    region: str | None,
    *,
    credentials: tuple[str, str] | None = None,
    max_attempts: int = 4,
    connect_timeout: float = 5.0,
    read_timeout: float = 30.0,
    max_pool_connections: int = 10,
) -> Any:
    """A boto3 client for `service`, on a session of its own (boto3's default one is not thread-safe).

    - `endpoint` None: the service's AWS endpoint. A loopback endpoint (a stand-in) gets dummy
      credentials unless `credentials` are given, and an https one skips certificate checks
      (kinesis-local serves a self-signed certificate).
    - `credentials` None elsewhere: the default chain (on MSF, the application's role).
    - Retries: botocore's "standard" mode, `max_attempts` retries after the first call
      (0 = one call; callers that count their own retries pass 0).
    """
    import boto3
    from botocore.config import Config

    config = Config(
        region_name=region,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"total_max_attempts": max_attempts + 1, "mode": "standard"},
        max_pool_connections=max_pool_connections,
        # Stand-ins serve one host; virtual-host bucket addressing would need DNS.
        s3={"addressing_style": "path"},
    )
    host = urlparse(endpoint).hostname if endpoint else None
    if credentials is None and host in _LOOPBACK:
        credentials = (STANDIN_ACCESS_KEY, STANDIN_SECRET_KEY)
    keys = {"aws_access_key_id": credentials[0], "aws_secret_access_key": credentials[1]} if credentials else {}
    verify = not (endpoint or "").startswith("https://") or host not in _LOOPBACK
    if not verify:
        # The self-signed cert is expected locally; one warning per request would drown the logs.
        warnings.filterwarnings("ignore", message="Unverified HTTPS request")
    return boto3.session.Session().client(
        service, region_name=region, endpoint_url=endpoint or None, verify=verify, config=config, **keys)

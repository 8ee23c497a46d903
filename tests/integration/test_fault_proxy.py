"""The fault proxy in front of moto: forwards, refuses, black-holes, and forwards again."""

from __future__ import annotations

import uuid

import pytest
from botocore.exceptions import ConnectionClosedError, EndpointConnectionError, ReadTimeoutError

from local_kinesis import standins
from tests.support.fault_proxy import FaultProxy
from udfs.aws import aws_client

PROXY_PORT = 5181


@pytest.fixture
def proxy(running_standins: None):
    with FaultProxy(standins.HOST, standins.MOTO_PORT, listen_port=PROXY_PORT) as p:
        yield p


def one_shot_dynamodb(url: str):
    # One attempt, short timeouts: the test sees the fault itself, not the SDK retrying it away.
    return aws_client("dynamodb", url, "eu-west-1", max_attempts=1, connect_timeout=1, read_timeout=2)


def test_forwards_while_unblocked(proxy: FaultProxy):
    client = one_shot_dynamodb(proxy.url)
    name = f"proxy-{uuid.uuid4().hex[:8]}"
    client.create_table(TableName=name, KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
                        BillingMode="PAY_PER_REQUEST")
    # What went through the proxy is in moto itself.
    assert name in one_shot_dynamodb(standins.MOTO_ENDPOINT).list_tables()["TableNames"]
    assert proxy.connections >= 1 and proxy.refused == 0


@pytest.mark.parametrize("mode, error", [("refuse", (ConnectionClosedError, EndpointConnectionError)),
                                         ("blackhole", (ReadTimeoutError,))])
def test_block_fails_calls_and_unblock_restores_them(proxy: FaultProxy, mode: str, error: tuple):
    client = one_shot_dynamodb(proxy.url)
    client.list_tables()  # a pooled connection is open now: block() must cut it too
    proxy.block(mode)
    with pytest.raises(error):
        client.list_tables()
    assert proxy.refused >= 1
    # moto itself was never down.
    one_shot_dynamodb(standins.MOTO_ENDPOINT).list_tables()
    proxy.unblock()
    assert "TableNames" in client.list_tables()


def test_rejects_an_unknown_mode(proxy: FaultProxy):
    with pytest.raises(ValueError, match="refuse"):
        proxy.block("slow")  # type: ignore[arg-type]

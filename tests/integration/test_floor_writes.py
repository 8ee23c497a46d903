"""Floors never go backwards (issue 17 item 4): the job's floors_dynamodb sink against moto.

A small Flink SQL job (the job's own table environment and DDL) writes a window's floor; then a
replay (old snapshot, TRIM_HORIZON restart, backfill, blue/green) writes an older window's floor
for the same segment: the newer floor survives. The same window written again is rewritten
(idempotent), and an older replay among newer floors in one batch touches only its own item.
"""

from __future__ import annotations

import shutil
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from pyflink.table import TableEnvironment

from flink_jobs import main
from flink_jobs.config import AppConfig, load_config
from flink_jobs.main import create_table_env, local_jar
from flink_jobs.sql import render_ddl
from local_kinesis import resources
from udfs.aws import aws_client

SEGMENT = "d.example.es|top|mobile|1"
LEVEL = "fine"


def hour_window(hour: int) -> tuple[str, str]:
    return f"2026-11-25T{hour:02d}:00:00.000Z", f"2026-11-25T{hour + 1:02d}:00:00.000Z"


@pytest.fixture(scope="module")
def jar_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the connector jar: a `mvn package` running meanwhile (another session,
    another test) rewrites connector/target/ under the running job, whose class loader then fails."""
    jar = local_jar(load_config())
    copy = tmp_path_factory.mktemp("jar") / jar.name
    shutil.copy2(jar, copy)
    return copy


@pytest.fixture
def floors(running_standins: None, jar_copy: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[AppConfig, Any, Path]:
    """The job's configuration pointed at a fresh floors table on moto, and a client for it."""
    # create_table_env puts this copy on the path (PyFlink adds pipeline.jars to the gateway's class
    # loader, first come first served, so it must never see the shared target/ jar)
    monkeypatch.setattr(main, "local_jar", lambda config: jar_copy)
    config = load_config()
    name = f"floors-writes-{uuid.uuid4().hex[:8]}"
    config = replace(config, floors=replace(config.floors, table_name=name))
    client = aws_client("dynamodb", config.floors.endpoint, config.floors.region)
    params, ttl = resources.floors_table_params(name)
    resources.create_table(client, params, ttl)
    yield config, client, jar_copy
    client.delete_table(TableName=name)


CONDITIONAL_OPTION = ",\n  'sink.conditional-write.attribute' = 'window_end'"


def table_env(config: AppConfig, jar: Path, conditional: bool = True) -> TableEnvironment:
    """The job's environment (connector jar on the path) with floors_dynamodb as register_tables
    declares it (flink_jobs/pipeline.py); `conditional=False` drops the conditional-write option
    (the sink before issue 17, for the control test)."""
    t_env = create_table_env(config, on_msf=False)
    assert t_env.get_config().get("pipeline.jars", None) == jar.as_uri()
    t_env.get_config().set("parallelism.default", "1")
    access = {"aws.endpoint": config.floors.endpoint} if config.floors.endpoint else {}
    access |= config.floors.credentials
    ddl = render_ddl(
        "floors_dynamodb",
        floors_table=config.floors.table_name,
        floors_region=config.floors.region,
        floors_access_options="".join(f",\n  '{k}' = '{v}'" for k, v in access.items()),
    )
    assert CONDITIONAL_OPTION in ddl
    t_env.execute_sql(ddl if conditional else ddl.replace(CONDITIONAL_OPTION, ""))
    return t_env


def write_floors(floors: tuple[AppConfig, Any, Path], rows: list[tuple[str, int, float]],
                 conditional: bool = True) -> None:
    """One bounded Flink job writing (segment, window hour, floor) rows through the sink."""
    values = []
    for segment, hour, floor in rows:
        start, end = hour_window(hour)
        values.append(
            f"('{LEVEL}', '{segment}', CAST({floor} AS DOUBLE), CAST({floor * 1.4} AS DOUBLE), "
            f"'v-test', 'revenue', '{start}', '{end}', CAST(100 AS BIGINT), CAST(1800000000 AS BIGINT), "
            "CAST(NULL AS DOUBLE), CAST(NULL AS STRING))"  # no challenger
        )
    config, _, jar = floors
    t_env = table_env(config, jar, conditional)
    t_env.execute_sql("INSERT INTO floors_dynamodb VALUES " + ", ".join(values)).wait()


def stored(client: Any, config: AppConfig, segment: str = SEGMENT) -> dict[str, Any]:
    item = client.get_item(
        TableName=config.floors.table_name,
        Key={"level": {"S": LEVEL}, "segment_key": {"S": segment}},
        ConsistentRead=True,
    )["Item"]
    return {"floor_eur": float(item["floor_eur"]["N"]), "window_end": item["window_end"]["S"],
            "window_start": item["window_start"]["S"]}


def test_the_ddl_writes_conditionally_on_window_end() -> None:
    ddl = render_ddl("floors_dynamodb", floors_table="t", floors_region="eu-west-1", floors_access_options="")
    assert CONDITIONAL_OPTION in ddl


def test_moto_evaluates_the_sinks_condition(floors: tuple[AppConfig, Any, Path]) -> None:
    """The stand-in supports the exact ConditionExpression the sink sends (else the job tests
    below would prove nothing)."""
    config, client, _ = floors
    condition = "attribute_not_exists(#k) OR attribute_not_exists(#a) OR #a <= :a"

    def put(hour: int, floor: float) -> bool:
        start, end = hour_window(hour)
        try:
            client.put_item(
                TableName=config.floors.table_name,
                Item={"level": {"S": LEVEL}, "segment_key": {"S": "probe"}, "floor_eur": {"N": str(floor)},
                      "window_start": {"S": start}, "window_end": {"S": end}},
                ConditionExpression=condition,
                ExpressionAttributeNames={"#k": "level", "#a": "window_end"},
                ExpressionAttributeValues={":a": {"S": end}},
            )
            return True
        except client.exceptions.ConditionalCheckFailedException:
            return False

    assert put(15, 0.9)  # absent
    assert not put(14, 0.8)  # older
    assert put(15, 0.95)  # equal
    assert put(16, 1.0)  # newer
    assert stored(client, config, "probe")["floor_eur"] == 1.0


def test_a_replayed_older_floor_never_overwrites_a_newer_one(floors: tuple[AppConfig, Any, Path]) -> None:
    config, client, _ = floors
    write_floors(floors, [(SEGMENT, 15, 0.90)])
    assert stored(client, config) == {"floor_eur": 0.90, "window_start": "2026-11-25T15:00:00.000Z",
                                      "window_end": "2026-11-25T16:00:00.000Z"}

    # the replay: the previous window's floor for the same segment arrives after the newer one
    write_floors(floors, [(SEGMENT, 14, 0.80)])
    assert stored(client, config)["floor_eur"] == 0.90
    assert stored(client, config)["window_end"] == "2026-11-25T16:00:00.000Z"

    # the same window again (a replay of it, or its floor updated): rewritten, idempotently
    write_floors(floors, [(SEGMENT, 15, 0.90)])
    assert stored(client, config)["floor_eur"] == 0.90
    write_floors(floors, [(SEGMENT, 15, 0.95)])
    assert stored(client, config)["floor_eur"] == 0.95

    # a newer window still moves the floor forward
    write_floors(floors, [(SEGMENT, 16, 1.10)])
    assert stored(client, config) == {"floor_eur": 1.10, "window_start": "2026-11-25T16:00:00.000Z",
                                      "window_end": "2026-11-25T17:00:00.000Z"}


def test_a_replay_batch_only_moves_floors_forward(floors: tuple[AppConfig, Any, Path]) -> None:
    """A backfill writes many segments in one sink batch: each item is decided on its own."""
    config, client, _ = floors
    write_floors(floors, [("seg-a", 15, 1.0), ("seg-b", 15, 1.0)])
    write_floors(floors, [("seg-a", 14, 2.0), ("seg-b", 16, 2.0), ("seg-c", 13, 2.0)])
    assert stored(client, config, "seg-a")["floor_eur"] == 1.0  # older: kept the newer floor
    assert stored(client, config, "seg-b")["floor_eur"] == 2.0  # newer: written
    assert stored(client, config, "seg-c")["floor_eur"] == 2.0  # absent: written


def test_control_without_the_option_a_replay_moves_the_floor_back(floors: tuple[AppConfig, Any, Path]) -> None:
    """The same replay through the unconditional sink (BatchWriteItem) does overwrite: what the
    tests above see is the condition's doing, not an artefact of the stand-in."""
    config, client, _ = floors
    write_floors(floors, [(SEGMENT, 15, 0.90)], conditional=False)
    write_floors(floors, [(SEGMENT, 14, 0.80)], conditional=False)
    assert stored(client, config) == {"floor_eur": 0.80, "window_start": "2026-11-25T14:00:00.000Z",
                                      "window_end": "2026-11-25T15:00:00.000Z"}

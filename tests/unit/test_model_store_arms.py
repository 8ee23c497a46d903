"""The manifest's two arms, and the one-write rollback (udfs/model_store.py), on a file:// lake."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from udfs import model_store


def _candidate(lake: str, version: str) -> None:
    files = {name: f"{name} of {version}".encode() for name in model_store.VERSION_FILES}
    model_store.write_version(lake, "challenger", version, files)


@pytest.fixture
def lake(tmp_path: Path) -> str:
    uri = tmp_path.as_uri()
    for version in ("v1", "v2", "v3"):
        _candidate(uri, version)
    return uri


def test_champion_only_manifest_has_no_challenger(lake: str) -> None:
    model_store.promote(lake, "v1")
    arms = model_store.read_arms(lake)
    assert arms.champion.version == "v1" and arms.challenger is None and arms.replaced == ""


def test_challenger_arm_is_served_beside_the_champion_until_a_promotion(lake: str) -> None:
    model_store.promote(lake, "v1")
    arms = model_store.start_challenger(lake, "v2")
    assert (arms.champion.version, arms.challenger.version) == ("v1", "v2")
    # Its files are where the job reads versions from, before the manifest names it.
    assert model_store.read_bytes(arms.challenger.artifact(model_store.BOOSTER_FILE)) == b"model.ubj of v2"
    assert model_store.current_model(lake).version == "v1"  # readers of the champion alone see no change
    assert model_store.stop_challenger(lake).challenger is None
    model_store.start_challenger(lake, "v2")
    model_store.promote(lake, "v2")
    arms = model_store.read_arms(lake)
    assert (arms.champion.version, arms.challenger, arms.replaced) == ("v2", None, "v1")


def test_rollback_is_one_manifest_write_and_two_undo_each_other(lake: str) -> None:
    model_store.promote(lake, "v1")
    model_store.promote(lake, "v2")
    manifest = Path(model_store.manifest_uri(lake).removeprefix("file://"))
    before = {p for p in Path(lake.removeprefix("file://")).rglob("*") if p.is_file()}
    assert model_store.rollback(lake).version == "v1"
    after = {p for p in Path(lake.removeprefix("file://")).rglob("*") if p.is_file()}
    assert after == before  # no file but the manifest was written
    assert json.loads(manifest.read_text())["replaced"] == "v2"
    assert model_store.rollback(lake).version == "v2"


def test_rollback_without_history_names_the_manifest(lake: str) -> None:
    with pytest.raises(model_store.ModelStoreError, match="no previous champion"):
        model_store.rollback(lake)
    model_store.promote(lake, "v1")
    with pytest.raises(model_store.ModelStoreError, match="manifest.json: no previous champion"):
        model_store.rollback(lake)


def test_a_challenger_needs_a_champion_and_a_valid_name(lake: str) -> None:
    with pytest.raises(model_store.ModelStoreError, match="no champion yet"):
        model_store.start_challenger(lake, "v2")
    model_store.write_manifest(lake, "v1", challenger="../x/y")
    with pytest.raises(model_store.ModelStoreError, match="invalid challenger"):
        model_store.read_arms(lake)

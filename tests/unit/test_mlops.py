"""The MLOps loop's steps (training/mlops.py) on small local lakes, without training: the drift
decision at and around the levels, the schedule queue, lineage, promotion refused without the
gate's pass or a required approval, rollback as one manifest write, and the CLI's exit codes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from training import mlops, registry
from udfs import drift, model_store

T0 = datetime(2026, 1, 5, tzinfo=UTC)


def _lake(tmp_path: Path) -> str:
    return f"file://{tmp_path}/lake"


def write_windows(tmp_path: Path, scores: list[float], version: str = "v1", start: datetime = T0,
                  name: str = "part-0") -> None:
    """Drift records of consecutive hourly windows, the window level as the seed's levels give it."""
    for i, score in enumerate(scores):
        begin = start + timedelta(hours=i)
        frame = pd.DataFrame({
            "window_start": [pd.Timestamp(begin).tz_convert(None)], "window_end": [
                pd.Timestamp(begin + timedelta(hours=1)).tz_convert(None)],
            "feature": ["cpm_eur"], "global_score": [score], "global_level": [drift.drift_level(score)],
            "baseline_version": [version]})
        part = (tmp_path / "lake/outputs/monitoring/drift"
                / f"year={begin:%Y}/month={begin:%m}/day={begin:%d}/hour={begin:%H}")
        part.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), part / f"{name}.parquet")


@pytest.mark.parametrize(("score", "decision"), [
    (0.0, "none"), (0.3, "none"), (0.31, "none"), (0.5, "none"), (0.5 + 1e-9, "schedule"), (0.6, "schedule"),
    (0.7, "schedule"), (0.7 + 1e-9, "retrain"), (0.95, "retrain"),
])
def test_drift_decision_at_and_around_the_levels(tmp_path: Path, score: float, decision: str) -> None:
    write_windows(tmp_path, [0.1, 0.1, score])
    result = mlops.check_drift(_lake(tmp_path), wall=T0)
    assert result.outcome == decision, result.reason
    assert result.exit_code == mlops.OK
    (logged,) = registry.decisions(_lake(tmp_path))
    assert logged["action"] == "check-drift" and logged["outcome"] == decision and logged["reason"] == result.reason


def test_only_the_lookback_and_the_champions_baseline_count(tmp_path: Path) -> None:
    lake = _lake(tmp_path)
    write_windows(tmp_path, [0.9] + [0.1] * 8)  # CRITICAL 8 h before the latest window's end
    assert mlops.check_drift(lake, lookback_hours=6, wall=T0).outcome == "none"
    assert mlops.check_drift(lake, lookback_hours=12, wall=T0).outcome == "retrain"
    # Records measured against another baseline than the champion's are not the champion's drift.
    write_windows(tmp_path, [0.9], version="old", start=T0 + timedelta(hours=9), name="part-old")
    model_store.write_manifest(lake, "v1")
    result = mlops.check_drift(lake, lookback_hours=6, wall=T0)
    assert result.outcome == "none" and "1 window(s) of another baseline" in result.reason


def test_no_drift_records_is_no_decision_and_says_so(tmp_path: Path) -> None:
    result = mlops.check_drift(_lake(tmp_path), wall=T0)
    assert result.outcome == "none" and "no drift records under" in result.reason


def test_a_scheduled_retraining_waits_for_its_hour_then_retrains(tmp_path: Path) -> None:
    lake = _lake(tmp_path)
    write_windows(tmp_path, [0.6])
    wall = datetime(2026, 3, 1, 12, tzinfo=UTC)
    first = mlops.check_drift(lake, schedule_hour=3, wall=wall)
    assert first.outcome == "schedule" and first.details["due"] == "2026-03-02T03:00:00+00:00"
    assert mlops.check_drift(lake, schedule_hour=3, wall=wall + timedelta(hours=1)).outcome == "none"
    due = mlops.check_drift(lake, schedule_hour=3, wall=wall + timedelta(hours=16))
    assert due.outcome == "retrain" and "is due" in due.reason
    registry.record_decision(lake, "retrain", "v2", "candidate", "trained")
    assert mlops.pending_schedule(registry.decisions(lake)) is None


def test_lineage_has_window_hash_code_and_parent(tmp_path: Path) -> None:
    lake = _lake(tmp_path)
    part = tmp_path / "lake/raw/year=2026/month=01/day=05/hour=10/part-0.parquet"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"x")
    summary = {"train_window": {"from": "2026-01-05 00:00:00", "to": "2026-01-06 00:00:00"},
               "eval_window": {"from": "2026-01-06 00:00:00", "to": "2026-01-06 23:00:00"}}
    lineage = mlops.lineage_of(lake, summary, "v0")
    assert lineage["parent"] == "v0" and lineage["training_window"]["from"] == "2026-01-05 00:00:00"
    assert lineage["data_hash"]["objects"] == 1 and lineage["code_version"]
    part.write_bytes(b"y")
    assert mlops.lineage_of(lake, summary, "v0")["data_hash"]["value"] != lineage["data_hash"]["value"]


# --------------------------------------------------------------------------- promotion and rollback


def put_version(lake: str, version: str, gate_passed: bool | None, parent: str | None = None) -> None:
    """A registered version with placeholder files in the challenger slot (promote copies files
    without reading them) and, unless None, a gate result."""
    files = {name: version.encode() for name in model_store.VERSION_FILES}
    model_store.write_version(lake, "challenger", version, files)
    lineage = {"training_window": {"from": "a", "to": "b"}, "eval_window": {"from": "b", "to": "c"},
               "data_hash": {"value": "0" * 64}, "code_version": "test", "parent": parent}
    registry.register(lake, version, {}, lineage, "test")
    if gate_passed is not None:
        gate = {"promote": gate_passed, "reason": "lift +5% [+1%, +9%]" if gate_passed else "lower bound not above 0"}
        registry.set_status(lake, version, "challenger" if gate_passed else "refused", "gate",
                            metrics={"revenue_gate": gate})


def test_promotion_needs_the_gate_and_a_required_approval(tmp_path: Path) -> None:
    lake = _lake(tmp_path)
    put_version(lake, "v1", None)
    assert mlops.promote(lake, "v1").outcome == "refused"  # never evaluated
    put_version(lake, "v2", False)
    refused = mlops.promote(lake, "v2")
    assert refused.exit_code == mlops.REFUSED and "refused by the revenue gate" in refused.reason
    put_version(lake, "v3", True)
    needs = mlops.promote(lake, "v3", require_approval=True)
    assert needs.exit_code == mlops.REFUSED and "approval" in needs.reason
    assert model_store.current_model(lake) is None  # nothing was promoted
    mlops.approve(lake, "v3", "ana", "ok")
    assert mlops.promote(lake, "v3", require_approval=True).outcome == "promoted"
    assert model_store.current_model(lake).version == "v3"
    assert registry.read_entry(lake, "v3")["status"] == "champion"
    outcomes = [(d["action"], d["version"], d["outcome"]) for d in registry.decisions(lake)]
    assert outcomes == [("promote", "v1", "refused"), ("promote", "v2", "refused"), ("promote", "v3", "refused"),
                        ("approve", "v3", "approved"), ("promote", "v3", "promoted")]


def test_rollback_restores_the_previous_champion_in_one_manifest_write(tmp_path: Path, monkeypatch) -> None:
    lake = _lake(tmp_path)
    for version in ("v1", "v2"):
        put_version(lake, version, True)
        assert mlops.promote(lake, version).outcome == "promoted"
    assert registry.read_entry(lake, "v1")["status"] == "retired"
    manifest_writes = []
    write = model_store.write_bytes
    monkeypatch.setattr(model_store, "write_bytes", lambda uri, data, **kw: (
        manifest_writes.append(uri) if uri == model_store.manifest_uri(lake) else None, write(uri, data, **kw))[1])
    result = mlops.rollback(lake, "ana", "bad night")
    assert manifest_writes == [model_store.manifest_uri(lake)]
    assert model_store.current_model(lake).version == "v1" and result.details["rolled_back"] == "v2"
    assert registry.read_entry(lake, "v1")["status"] == "champion"
    assert registry.read_entry(lake, "v2")["status"] == "retired"
    last = registry.decisions(lake)[-1]
    assert (last["action"], last["version"], last["outcome"], last["by"]) == ("rollback", "v1", "rolled back", "ana")


def test_cli_exit_codes_and_results(tmp_path: Path, monkeypatch) -> None:
    lake = _lake(tmp_path)
    put_version(lake, "v2", False)
    printed: list[str] = []
    assert mlops.main(["promote", "--lake", lake, "--version", "v2"], out=printed.append) == mlops.REFUSED
    assert json.loads(printed[-1])["outcome"] == "refused"
    # An unknown version is an error naming it; with $MLOPS_RUN_ID the result lands under runs/.
    monkeypatch.setenv(mlops.RUN_ID_ENV, "run-1")
    assert mlops.main(["evaluate", "--lake", lake, "--version", "nope"], out=printed.append) == mlops.ERROR
    result = json.loads((tmp_path / "lake/models/registry/runs/run-1/evaluate.json").read_text())
    assert result["outcome"] == "error" and "'nope' is not in the registry" in result["reason"]
    monkeypatch.delenv(mlops.RUN_ID_ENV)
    monkeypatch.delenv(mlops.LAKE_ENV, raising=False)
    assert mlops.main(["status"], out=printed.append) == mlops.ERROR  # no lake
    assert mlops.main(["rollback", "--lake", lake], out=printed.append) == mlops.ERROR  # no champion yet
    assert "no previous champion" in json.loads(printed[-1])["reason"]
    monkeypatch.setenv(mlops.VERSION_ENV, "v2")
    assert mlops.main(["challenger", "--lake", lake], out=printed.append) == mlops.REFUSED  # version from env


def test_approval_with_a_task_token_resumes_the_state_machine(tmp_path: Path, monkeypatch) -> None:
    import udfs.aws

    lake = _lake(tmp_path)
    put_version(lake, "v3", True)
    calls = []

    class StepFunctions:
        def send_task_success(self, **kwargs: str) -> None:
            calls.append(kwargs)

    monkeypatch.setattr(udfs.aws, "aws_client", lambda service, *a, **kw: StepFunctions())
    result = mlops.approve(lake, "v3", "ana", "ok", task_token="token-1")
    assert result.outcome == "approved" and "state machine resumed" in result.reason
    (call,) = calls
    assert call["taskToken"] == "token-1" and json.loads(call["output"])["version"] == "v3"
    assert registry.read_entry(lake, "v3")["approval"]["by"] == "ana"

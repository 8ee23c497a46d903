"""The model registry in the lake (training/registry.py): entries with lineage, statuses,
approvals, the append-only decision log, and the data hash of the training inputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from training import registry

WINDOW = ("2026-01-05T00:00:00", "2026-01-07T00:00:00")


def _lake(tmp_path: Path) -> str:
    return f"file://{tmp_path}/lake"


def _write(tmp_path: Path, rel: str, data: bytes) -> Path:
    path = tmp_path / "lake" / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _fill(tmp_path: Path) -> None:
    for day in ("05", "06"):
        for prefix in ("raw", "processed/features"):
            _write(tmp_path, f"{prefix}/year=2026/month=01/day={day}/hour=10/part-0.parquet", f"{prefix}{day}".encode())


def _lineage(lake: str) -> dict:
    return {"training_window": {"from": WINDOW[0], "to": WINDOW[1]}, "data_hash": registry.data_hash(lake, *WINDOW),
            "code_version": registry.code_version(), "parent": None}


def test_data_hash_covers_the_window_and_changes_with_the_data(tmp_path: Path) -> None:
    lake = _lake(tmp_path)
    _fill(tmp_path)
    first = registry.data_hash(lake, *WINDOW)
    assert first["objects"] == 4 and first["algorithm"] == "sha256"
    assert registry.data_hash(lake, *WINDOW) == first  # deterministic
    # Outside the window, or hidden (an in-progress sink file): not an input.
    _write(tmp_path, "raw/year=2026/month=01/day=07/hour=00/part-0.parquet", b"later")
    _write(tmp_path, "raw/year=2026/month=01/day=06/hour=10/.part-1.inprogress", b"hidden")
    assert registry.data_hash(lake, *WINDOW)["value"] == first["value"]
    # An added file, a rewritten file of the same size: a different hash.
    added = _write(tmp_path, "raw/year=2026/month=01/day=06/hour=11/part-0.parquet", b"more")
    second = registry.data_hash(lake, *WINDOW)
    assert second["value"] != first["value"] and second["objects"] == 5
    added.write_bytes(b"MORE")
    assert registry.data_hash(lake, *WINDOW)["value"] not in (first["value"], second["value"])


def test_register_lineage_statuses_and_approval(tmp_path: Path) -> None:
    lake = _lake(tmp_path)
    _fill(tmp_path)
    entry = registry.register(lake, "v1", {"revenue_gate": {"promote": True}}, _lineage(lake), "trained")
    assert entry["status"] == "candidate"
    stored = registry.read_entry(lake, "v1")
    assert set(stored["lineage"]) >= {"training_window", "data_hash", "code_version", "parent"}
    assert stored["lineage"]["code_version"].startswith(("git:", "package:"))
    with pytest.raises(registry.RegistryError, match="already registered"):
        registry.register(lake, "v1", {}, _lineage(lake), "again")
    with pytest.raises(registry.RegistryError, match="lacks 'parent'"):
        registry.register(lake, "v2", {}, {k: v for k, v in _lineage(lake).items() if k != "parent"}, "x")
    registry.approve(lake, "v1", "ana", "looked at the lift")
    assert registry.read_entry(lake, "v1")["approval"]["by"] == "ana"
    registry.set_status(lake, "v1", "champion", "promoted")
    with pytest.raises(registry.RegistryError, match="only a candidate or a challenger"):
        registry.approve(lake, "v1", "ana", "")
    assert [h["status"] for h in registry.read_entry(lake, "v1")["history"]] == ["candidate", "champion"]
    with pytest.raises(registry.RegistryError, match="'nope' is not in the registry"):
        registry.read_entry(lake, "nope")
    assert [e["version"] for e in registry.entries(lake)] == ["v1"]


def test_decision_log_is_append_only_one_object_per_decision(tmp_path: Path) -> None:
    lake = _lake(tmp_path)
    registry.record_decision(lake, "check-drift", None, "retrain", "CRITICAL")
    registry.record_decision(lake, "evaluate", "v1", "refused", "lift not above 0")
    files = sorted((tmp_path / "lake" / "models/registry/decisions").iterdir())
    assert len(files) == 2 and "-evaluate-v1.json" in files[1].name
    log = registry.decisions(lake)
    assert [d["action"] for d in log] == ["check-drift", "evaluate"]
    assert json.loads(files[1].read_text())["reason"] == "lift not above 0"
    table = registry.format_decisions(log)
    assert "refused" in table and "check-drift" in table

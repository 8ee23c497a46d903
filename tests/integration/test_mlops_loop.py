"""The MLOps loop end to end on simulated data (issue 18, "Evidence"), as `make mlops-demo` runs
it: the simulator injects a +40% tier-1 bid drift, the drift verdict (the job's functions, offline)
reaches the retrain level, the loop retrains on the recent window, the revenue gate passes the
new model and it is promoted (after the required approval), a deliberately worse candidate is
refused by the same gate, and a rollback restores the previous champion in the manifest.

Not covered here: the running Flink job swapping models (tests/integration/test_model_swap*.py
and the challenger tests do that) and the job writing the drift records itself."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from training import mlops, registry
from udfs import model_store

# Four trainings' worth of work on 7 simulated days: 4-5 minutes on 2 cores, more under load.
pytestmark = pytest.mark.slow


def test_drift_retrains_promotes_the_better_refuses_the_worse_and_rolls_back(tmp_path: Path, capsys) -> None:
    root = tmp_path / "lake"
    assert mlops.demo(root) == mlops.OK
    lake = f"file://{root}"
    log = registry.decisions(lake)
    by = lambda action, outcome: [d for d in log if d["action"] == action and d["outcome"] == outcome]  # noqa: E731

    # The drift verdict reached the retrain level and the loop retrained.
    (check,) = [d for d in log if d["action"] == "check-drift"]
    assert check["outcome"] == "retrain" and check["details"]["level"] == "CRITICAL"
    first, second, worse = [d["version"] for d in by("retrain", "candidate")]
    assert worse == f"{second}-worse"
    # The gate passed the first champion (against the static floor) and the retrained model
    # (against that champion), with a lift whose lower bound is above 0.
    passed = {d["version"]: d for d in by("evaluate", "passed")}
    assert set(passed) == {first, second}
    assert passed[second]["details"]["champion"] == first and passed[second]["details"]["lift"]["lo"] > 0
    # The worse candidate was refused by the gate, and so was its promotion.
    (refused,) = by("evaluate", "refused")
    assert refused["version"] == worse
    assert [d["version"] for d in by("promote", "refused")] == [second, worse]  # no approval yet; the gate
    assert [d["version"] for d in by("promote", "promoted")] == [first, second]
    # Lineage: the retrained model's parent is the champion it was compared with; other data, other hash.
    entries = {e["version"]: e for e in registry.entries(lake)}
    assert entries[second]["lineage"]["parent"] == first
    assert entries[second]["lineage"]["data_hash"]["value"] != entries[first]["lineage"]["data_hash"]["value"]
    assert entries[second]["approval"]["by"] == "demo-operator"
    # The rollback restored the first champion in the manifest.
    manifest = json.loads(model_store.read_bytes(model_store.manifest_uri(lake)))
    assert manifest["version"] == first and manifest["promoted_from"] == "rollback" and manifest["replaced"] == second
    assert (entries[first]["status"], entries[second]["status"], entries[worse]["status"]) == (
        "champion", "retired", "refused")
    assert log[-1]["action"] == "rollback"
    out = capsys.readouterr().out
    assert "decision log" in out

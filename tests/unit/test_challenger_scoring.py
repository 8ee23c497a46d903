"""The scoring function's challenger arm, without Flink: the challenger is loaded beside the
champion when the manifest names one, scored with the same policy on its own model and its own
move-cap memory, refused (champion alone, counted) when broken, and dropped when no longer named.
(tests/integration/test_challenger_job.py runs the same function inside the real job.)"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from tests.support.model_helpers import Clock, windows, write_challenger, write_corrupt_challenger
from udfs import floor_policy, model_store, rules, scoring
from udfs.model_features import model_inputs

CHAMPION, CHALLENGER, BROKEN = "20260101T000001Z", "20260101T000002Z", "20260101T000003Z"


def two_arms(lake: str) -> None:
    write_challenger(lake, CHAMPION, scale=1.0)
    write_challenger(lake, CHALLENGER, scale=2.0)
    model_store.promote(lake, CHAMPION)
    model_store.start_challenger(lake, CHALLENGER)


def direct(lake: str, version: str, rows: pd.DataFrame) -> np.ndarray:
    ref = model_store.ModelRef(version, model_store.slot_uri(lake, "current", version))
    return model_store.load_model(ref).predict(model_inputs(rows))


def test_without_a_challenger_the_outputs_are_the_champions_alone(tmp_path: Path) -> None:
    lake, rows = tmp_path.as_uri(), windows()
    write_challenger(lake, CHAMPION, scale=1.0)
    model_store.promote(lake, CHAMPION)
    out, fallback = scoring.ModelWatcher(lake, 30.0, clock=Clock()).score(rows)
    assert fallback == 0
    assert list(out.columns) == [f.name for f in scoring.SCORED_TYPE.fields]
    assert out["challenger_floor_eur"].isna().all() and out["challenger_model_version"].isna().all()
    assert list(out["floor_eur"]) == scoring.floors(rows, direct(lake, CHAMPION, rows))


def test_a_named_challenger_gets_its_own_floors(tmp_path: Path) -> None:
    lake, clock, rows = tmp_path.as_uri(), Clock(), windows()
    two_arms(lake)
    watcher = scoring.ModelWatcher(lake, 30.0, clock=clock)
    out, _ = watcher.score(rows)
    assert (out["model_version"] == CHAMPION).all() and (out["challenger_model_version"] == CHALLENGER).all()
    assert list(out["floor_eur"]) == scoring.floors(rows, direct(lake, CHAMPION, rows))
    assert list(out["challenger_floor_eur"]) == scoring.floors(rows, direct(lake, CHALLENGER, rows))
    assert not np.allclose(out["floor_eur"], out["challenger_floor_eur"])  # the two models differ
    assert scoring.version_gauge(watcher.challenger_version) == 20260101000002

    # Stopped: the next poll drops it (the champion's floors unchanged).
    model_store.stop_challenger(lake)
    clock.now = 31.0
    out2, _ = watcher.score(rows)
    assert watcher.challenger_version is None and out2["challenger_floor_eur"].isna().all()
    pd.testing.assert_frame_equal(out2[["floor_eur", "model_version"]], out[["floor_eur", "model_version"]])


def test_a_broken_challenger_means_the_champion_alone_counted_and_retried(tmp_path: Path) -> None:
    lake, clock, rows = tmp_path.as_uri(), Clock(), windows()
    two_arms(lake)
    watcher = scoring.ModelWatcher(lake, 10.0, clock=clock)
    assert (watcher.score(rows)[0]["challenger_model_version"] == CHALLENGER).all()
    write_corrupt_challenger(lake, BROKEN)
    model_store.start_challenger(lake, BROKEN)
    clock.now = 11.0
    out, fallback = watcher.score(rows)
    assert fallback == 0 and (out["model_version"] == CHAMPION).all()  # the champion is untouched
    assert out["challenger_floor_eur"].isna().all() and watcher.challenger_version is None
    assert (watcher.challenger.load_failures, watcher.load_failures) == (1, 0)
    # Retried with the champion's backoff (2 poll intervals first), then repaired in place.
    clock.now = 22.0
    watcher.score(rows)
    assert watcher.challenger.load_retries == 0
    write_challenger(lake, BROKEN, scale=3.0)
    model_store.write_version(lake, "current", BROKEN, model_store.read_version(lake, "challenger", BROKEN))
    clock.now = 32.0
    out, _ = watcher.score(rows)
    assert watcher.challenger.load_retries == 1 and (out["challenger_model_version"] == BROKEN).all()
    assert list(out["challenger_floor_eur"]) == scoring.floors(rows, direct(lake, BROKEN, rows))


def test_a_challenger_entry_that_is_not_a_version_is_counted_and_ignored(tmp_path: Path) -> None:
    lake, rows = tmp_path.as_uri(), windows()
    write_challenger(lake, CHAMPION, scale=1.0)
    model_store.promote(lake, CHAMPION)
    model_store.write_manifest(lake, CHAMPION, challenger="../elsewhere")
    watcher = scoring.ModelWatcher(lake, 30.0, clock=Clock())
    out, _ = watcher.score(rows)
    assert (out["model_version"] == CHAMPION).all() and out["challenger_floor_eur"].isna().all()
    assert (watcher.load_failures, watcher.challenger.load_failures) == (0, 1)


class FlatCurves:
    """Revenue curves that know every segment; revenue peaks at `best` EUR (fill flat at 1)."""

    def __init__(self, best: float):
        self.best = best

    def curves(self, segments: pd.DataFrame, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        revenue = np.tile(-np.abs(np.asarray(grid) - self.best), (len(segments), 1))
        return revenue, np.ones_like(revenue), np.ones(len(segments), dtype=bool)


def test_each_arm_has_its_own_move_cap_memory(tmp_path: Path) -> None:
    """Same policy and settings, each arm capped from the floors it set itself."""
    lake, rows = tmp_path.as_uri(), windows(2)
    two_arms(lake)
    settings = floor_policy.PolicySettings(max_step=1.2)
    watcher = scoring.ModelWatcher(lake, 1e9, clock=Clock(), settings=settings)
    watcher.refresh()
    watcher.model = replace(watcher.model, curves=FlatCurves(2.0))
    watcher.challenger.model = replace(watcher.challenger.model, curves=FlatCurves(6.0))
    first, _ = watcher.score(rows)
    assert (first["policy"] == floor_policy.REVENUE).all()
    champion_first = first["floor_eur"].to_numpy()
    challenger_first = first["challenger_floor_eur"].to_numpy()
    assert np.allclose(champion_first, 2.0, atol=0.06) and np.allclose(challenger_first, 6.0, atol=0.15)
    # Both arms now want the other's floor: each moves at most x1.2 from its own last floor.
    watcher.model = replace(watcher.model, curves=FlatCurves(6.0))
    watcher.challenger.model = replace(watcher.challenger.model, curves=FlatCurves(2.0))
    second, _ = watcher.score(rows)
    assert np.all(second["floor_eur"] <= champion_first * 1.2 + 1e-9)
    assert np.all(second["floor_eur"] > champion_first)
    assert np.all(second["challenger_floor_eur"] >= challenger_first / 1.2 - 1e-9)
    assert np.all(second["challenger_floor_eur"] < challenger_first)
    keys = [(rules.COARSE, "video|premium|mobile|1"), (rules.FINE, "a.es|top|desktop|2")]
    assert [watcher.champion.last_floors[k] for k in keys] == list(second["floor_eur"])
    assert [watcher.challenger.last_floors[k] for k in keys] == list(second["challenger_floor_eur"])

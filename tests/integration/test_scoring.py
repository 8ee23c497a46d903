"""The scoring function's model handling, without Flink: swaps, corrupt models, broken predictions.
(tests/integration/test_model_e2e.py runs the same function inside the real job.)"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.support.model_helpers import (
    Clock,
    revenue_curve_files,
    version_files,
    windows,
    write_challenger,
    write_challenger_with_curves,
    write_corrupt_challenger,
)
from tests.support.pyflink_client import fresh_client_env
from tests.support.repo_free_python import repo_free_python
from udfs import floor_policy, model_store, revenue_curves, rules, scoring
from udfs.model_features import WINDOW_COLUMNS, model_inputs


def test_without_a_model_the_floor_is_the_provisional_rule(tmp_path: Path):
    rows = windows()
    out, fallback = scoring.ModelWatcher(tmp_path.as_uri(), 1.0).score(rows)
    assert fallback == len(rows)
    assert (out["model_version"] == scoring.PROVISIONAL_MODEL_VERSION).all()
    assert list(out["predicted_cpm_eur"]) == list(rows["mean_cpm_eur"])
    # 20:00 is prime time; premium share 1.0 on the coarse rows.
    assert out["floor_eur"][0] == rules.floor_price(float(rows["mean_cpm_eur"][0]), 5, True, True)
    assert out["floor_eur"][1] == rules.floor_price(float(rows["mean_cpm_eur"][1]), 505, True, False)


def test_swaps_keep_the_last_good_model_and_count_failures(tmp_path: Path):
    lake, clock, rows = tmp_path.as_uri(), Clock(), windows()
    watcher = scoring.ModelWatcher(lake, poll_interval_s=30.0, clock=clock)

    write_challenger(lake, "20260101T000001Z", scale=1.0)
    model_store.promote(lake, "20260101T000001Z")
    out, fallback = watcher.score(rows)
    v1 = model_store.load_model(model_store.current_model(lake))
    assert fallback == 0 and (out["model_version"] == "20260101T000001Z").all()
    np.testing.assert_array_equal(out["predicted_cpm_eur"], v1.predict(model_inputs(rows)))
    assert list(out["floor_eur"]) == scoring.floors(rows, v1.predict(model_inputs(rows)))

    # A corrupt version promoted: not before the poll interval, then refused, v1 stays.
    write_corrupt_challenger(lake, "20260101T000002Z")
    model_store.promote(lake, "20260101T000002Z")
    clock.now = 10.0
    assert watcher.score(rows)[0]["model_version"].eq("20260101T000001Z").all() and watcher.load_failures == 0
    clock.now = 31.0
    out, _ = watcher.score(rows)
    assert (out["model_version"] == "20260101T000001Z").all() and watcher.load_failures == 1
    clock.now = 62.0  # the same broken version is not retried at every poll: backoff (2 intervals first)
    watcher.score(rows)
    assert watcher.load_failures == 1

    write_challenger(lake, "20260101T000003Z", scale=2.0)
    model_store.promote(lake, "20260101T000003Z")
    clock.now = 93.0
    out, _ = watcher.score(rows)
    assert (out["model_version"] == "20260101T000003Z").all()
    assert scoring.version_gauge(watcher.version) == 20260101000003

    # A manifest that is not JSON: counted, the model in use stays.
    model_store.write_bytes(model_store.manifest_uri(lake), b"{oops")
    clock.now = 124.0
    assert (watcher.score(rows)[0]["model_version"] == "20260101T000003Z").all() and watcher.load_failures == 2


def test_corrupt_model_at_start_means_the_provisional_rule(tmp_path: Path):
    lake = tmp_path.as_uri()
    write_corrupt_challenger(lake, "20260101T000002Z")
    model_store.promote(lake, "20260101T000002Z")
    with pytest.raises(model_store.ModelStoreError, match="not an XGBoost model"):
        model_store.load_model(model_store.current_model(lake))
    watcher = scoring.ModelWatcher(lake, 1.0)
    out, fallback = watcher.score(windows())
    assert watcher.load_failures == 1 and fallback == 4
    assert (out["model_version"] == scoring.PROVISIONAL_MODEL_VERSION).all()


def test_a_version_that_failed_to_load_is_retried_with_backoff(tmp_path: Path):
    """A corrupt upload repaired in place (same manifest, same version) is picked up by a later
    poll, without a new promotion; retries back off 2, 4, 8 ... poll intervals, capped."""
    lake, clock, rows = tmp_path.as_uri(), Clock(), windows()
    watcher = scoring.ModelWatcher(lake, poll_interval_s=10.0, clock=clock, max_retry_backoff_s=40.0)
    write_corrupt_challenger(lake, "20260101T000004Z")
    model_store.promote(lake, "20260101T000004Z")
    manifest = model_store.read_bytes(model_store.manifest_uri(lake))

    tried_at = []
    for now in range(0, 200, 10):  # one poll every interval
        clock.now = float(now)
        before = watcher.load_failures
        watcher.score(rows)
        if watcher.load_failures > before:
            tried_at.append(now)
    # First load at 0, then retries after 20, 40 and then the 40 s cap.
    assert tried_at == [0, 20, 60, 100, 140, 180]
    assert watcher.load_failures == 6 and watcher.load_retries == 5
    assert watcher.version == scoring.PROVISIONAL_MODEL_VERSION

    # Repair the same version's files in place; the manifest is not touched.
    booster = write_challenger(lake, "20260101T000004Z", scale=1.0)
    model_store.write_version(lake, "current", "20260101T000004Z", version_files(bytes(booster.save_raw("ubj"))))
    assert model_store.read_bytes(model_store.manifest_uri(lake)) == manifest
    clock.now = 210.0  # before the next retry (220): still the provisional rule
    assert (watcher.score(rows)[0]["model_version"] == scoring.PROVISIONAL_MODEL_VERSION).all()
    clock.now = 220.0
    out, fallback = watcher.score(rows)
    assert fallback == 0 and (out["model_version"] == "20260101T000004Z").all()
    assert watcher.load_failures == 6 and watcher.load_retries == 6
    clock.now = 300.0  # loaded: no more retries
    watcher.score(rows)
    assert watcher.load_retries == 6


def test_retries_are_reported_as_a_metric(tmp_path: Path):
    class Counter:
        def __init__(self) -> None:
            self.count = 0

        def inc(self, n: int = 1) -> None:
            self.count += n

    lake, clock = tmp_path.as_uri(), Clock()
    write_corrupt_challenger(lake, "20260101T000005Z")
    model_store.promote(lake, "20260101T000005Z")
    function = scoring.ScoreFloor(lake, 10_000)
    function.watcher = scoring.ModelWatcher(lake, 10.0, clock=clock)
    function.failures, function.retries = Counter(), Counter()
    function._reported_failures = function._reported_retries = 0
    for now in (0.0, 20.0, 60.0):
        clock.now = now
        function.watcher.refresh()
        function._report_failures()
    assert function.failures.count == 3 and function.retries.count == 2


class HalfBroken:
    """Stands in for a booster that returns NaN/inf/negative for some rows: a real XGBoost
    model that loads and passes the probe cannot be made to do that on demand."""

    def predict(self, matrix) -> np.ndarray:  # noqa: ANN001
        return np.array([1.7, np.nan, np.inf, -0.5])[: matrix.num_row()]


def test_broken_predictions_fall_back_row_by_row(tmp_path: Path):
    from udfs.model_features import FEATURES

    watcher = scoring.ModelWatcher(tmp_path.as_uri(), 1.0)
    watcher.model = model_store.LoadedModel("20260101T000009Z", HalfBroken(), FEATURES)
    rows = windows()
    out, fallback = watcher.score(rows)
    assert fallback == 3
    assert list(out["model_version"]) == ["20260101T000009Z"] + [scoring.PROVISIONAL_MODEL_VERSION] * 3
    assert list(out["predicted_cpm_eur"]) == [1.7, *rows["mean_cpm_eur"][1:]]
    assert np.isfinite(out["floor_eur"]).all()


def test_version_gauge():
    assert scoring.version_gauge(scoring.PROVISIONAL_MODEL_VERSION) == 0
    assert scoring.version_gauge("20261125T170102Z") == 20261125170102
    assert scoring.version_gauge("my-model") == -1


def test_rollback_to_a_champion(tmp_path: Path):
    lake = tmp_path.as_uri()
    write_challenger(lake, "20260101T000001Z", scale=1.0)
    write_challenger(lake, "20260101T000002Z", scale=2.0)
    model_store.promote(lake, "20260101T000001Z")
    model_store.promote(lake, "20260101T000002Z")
    assert model_store.current_model(lake).version == "20260101T000002Z"
    ref = model_store.promote(lake, "20260101T000001Z", source="champion")
    assert ref.version == "20260101T000001Z"
    with pytest.raises(model_store.ModelStoreError, match="cannot read"):
        model_store.promote(lake, "20990101T000000Z")


SCRIPT = """
import sys
sys.path.insert(0, {root!r})  # the client only: the workers inherit neither this nor the cwd
import pandas as pd
from pyflink.table import DataTypes
from flink_jobs.config import load_config
from flink_jobs.main import create_table_env
from udfs import scoring
t_env = create_table_env(load_config(), on_msf=False)
scoring.register(t_env, {lake!r}, 1000)
# A real table (not literals: a pandas function on constants only gets an empty Arrow batch).
row = pd.DataFrame([["coarse", "video|premium|mobile|1", pd.Timestamp("2026-01-05 20:00"),
                     pd.Timestamp("2026-01-05 21:00"), 1500, 700, *[2.5] * 8]], columns=list(scoring.WINDOW_COLUMNS))
types = [DataTypes.STRING(), DataTypes.STRING(), DataTypes.TIMESTAMP(3), DataTypes.TIMESTAMP(3),
         DataTypes.BIGINT(), DataTypes.BIGINT(), *[DataTypes.DOUBLE()] * 8]
t_env.create_temporary_view("windows", t_env.from_pandas(row, DataTypes.ROW(
    [DataTypes.FIELD(c, t) for c, t in zip(scoring.WINDOW_COLUMNS, types)])))
query = f"SELECT s.predicted_cpm_eur, s.model_version FROM (SELECT {{scoring.call_sql()}} AS s FROM windows)"
with t_env.execute_sql(query).collect() as rows:
    print("SCORED", [(r[0], r[1]) for r in rows])
"""


def test_scoring_runs_without_the_repository_on_the_worker_path(tmp_path: Path):
    """As on MSF: the workers load the model with only what was shipped by value (and pip packages)."""
    import subprocess

    root = Path(__file__).resolve().parents[2]
    lake = (tmp_path / "lake").as_uri()
    write_challenger(lake, "20260101T000005Z", scale=1.0)
    model_store.promote(lake, "20260101T000005Z")
    row = pd.DataFrame([["coarse", "video|premium|mobile|1", pd.Timestamp("2026-01-05 20:00"),
                         pd.Timestamp("2026-01-05 21:00"), 1500, 700, *[2.5] * 8]], columns=list(WINDOW_COLUMNS))
    expected = model_store.load_model(model_store.current_model(lake)).predict(model_inputs(row))[0]
    env = fresh_client_env()
    work = tmp_path / "elsewhere"
    work.mkdir()
    python = repo_free_python(tmp_path / "python")  # the client's interpreter is also the workers'
    result = subprocess.run([str(python), "-c", SCRIPT.format(root=str(root), lake=lake)], cwd=work, env=env,
                            capture_output=True, text=True, timeout=240)
    assert f"SCORED [({float(expected)!r}, '20260101T000005Z')]" in result.stdout, result.stderr[-3000:]


@pytest.fixture(scope="module")
def curve_files() -> dict[str, bytes]:
    return revenue_curve_files()


def revenue_windows(curves: revenue_curves.RevenueCurveModel) -> pd.DataFrame:
    """Windows of three segments the model knows (a coarse one and a fine one) and a fine one it never saw."""
    fine_known = sorted(curves.fine_coarse)[0]
    rows = windows(4)
    rows["segment_key"] = ["video|premium|mobile|1", fine_known, "banner|remnant|desktop|3", "new.es|top|mobile|1"]
    rows["level"] = ["coarse", "fine", "coarse", "fine"]
    return rows


def test_revenue_policy_sets_the_floor_of_best_expected_revenue(tmp_path: Path, curve_files: dict[str, bytes]):
    lake = tmp_path.as_uri()
    write_challenger_with_curves(lake, "20260101T000011Z", curve_files)
    model_store.promote(lake, "20260101T000011Z")
    curves = model_store.load_model(model_store.current_model(lake)).curves
    assert curves is not None
    rows = revenue_windows(curves)
    watcher = scoring.ModelWatcher(lake, 30.0, clock=Clock())
    out, _ = watcher.score(rows)
    assert list(out["policy"]) == ["revenue", "revenue", "revenue", "brief"]
    assert np.isnan(out["floor_eur"][3])  # a fine segment the model never saw: left to its coarse floor
    # The floor is the best expected revenue among grid floors whose fill stays within the margin
    # of the static floor's (first window: no previous floor, no cap), inside the clamp bounds.
    settings = floor_policy.PolicySettings()
    next_hour = pd.to_datetime(rows["window_end"])
    segments = pd.DataFrame({"level": rows["level"], "segment_key": rows["segment_key"],
                             "hour_of_day": next_hour.dt.hour, "is_weekend": next_hour.dt.dayofweek >= 5})
    revenue, fill, known = curves.curves(segments, floor_policy.FLOOR_GRID)
    for i in np.flatnonzero(known):
        static_fill = np.interp(settings.static_floor_eur, floor_policy.FLOOR_GRID, fill[i])
        allowed = [j for j, f in enumerate(floor_policy.FLOOR_GRID)
                   if fill[i, j] >= static_fill - settings.fill_margin and 0.5 <= f <= 10.0]
        best = max(allowed, key=lambda j: revenue[i, j])
        assert out["floor_eur"][i] == pytest.approx(floor_policy.FLOOR_GRID[best])
    assert (out["model_version"][:3] == "20260101T000011Z").all()


def test_revenue_floors_move_at_most_the_step_per_window(tmp_path: Path, curve_files: dict[str, bytes]):
    lake = tmp_path.as_uri()
    write_challenger_with_curves(lake, "20260101T000012Z", curve_files)
    model_store.promote(lake, "20260101T000012Z")
    rows = revenue_windows(model_store.load_model(model_store.current_model(lake)).curves).iloc[:3]
    watcher = scoring.ModelWatcher(lake, 30.0, clock=Clock(), settings=floor_policy.PolicySettings(max_step=1.2))
    first = watcher.score(rows)[0]["floor_eur"].to_numpy()
    # Twelve hours later the market's hour differs; each floor may still move only x1.2 (or / 1.2).
    later = rows.assign(window_start=rows["window_start"] + pd.Timedelta("12h"),
                        window_end=rows["window_end"] + pd.Timedelta("12h"))
    second = watcher.score(later)[0]["floor_eur"].to_numpy()
    assert np.all(second <= first * 1.2 + 1e-9) and np.all(second >= first / 1.2 - 1e-9)
    fresh = scoring.ModelWatcher(lake, 30.0, clock=Clock()).score(later)[0]["floor_eur"].to_numpy()
    assert not np.allclose(fresh, second)  # without the cap the later hour would move further


def test_brief_policy_and_versions_without_curves_use_the_briefs_rule(tmp_path: Path, curve_files: dict[str, bytes]):
    lake = tmp_path.as_uri()
    write_challenger_with_curves(lake, "20260101T000013Z", curve_files)
    model_store.promote(lake, "20260101T000013Z")
    rows = revenue_windows(model_store.load_model(model_store.current_model(lake)).curves)
    out = scoring.ModelWatcher(lake, 30.0, clock=Clock(), policy="brief").score(rows)[0]
    assert (out["policy"] == "brief").all()
    prime = pd.to_datetime(rows["window_start"]).dt.hour.map(rules.is_prime_time)
    want = [rules.floor_price(c, int(n), bool(p), bool(s >= 0.5)) for c, n, p, s in
            zip(out["predicted_cpm_eur"], rows["auctions"], prime, rows["premium_share"], strict=True)]
    assert list(out["floor_eur"]) == want


def test_a_version_with_incomplete_curves_is_refused(tmp_path: Path, curve_files: dict[str, bytes]):
    lake = tmp_path.as_uri()
    partial = {k: v for k, v in curve_files.items() if k != revenue_curves.FILL_FILE}
    write_challenger_with_curves(lake, "20260101T000014Z", partial)
    model_store.promote(lake, "20260101T000014Z")
    with pytest.raises(model_store.ModelStoreError, match="incomplete"):
        model_store.load_model(model_store.current_model(lake))
    watcher = scoring.ModelWatcher(lake, 30.0, clock=Clock())
    out = watcher.score(windows())[0]
    assert watcher.load_failures == 1 and (out["model_version"] == scoring.PROVISIONAL_MODEL_VERSION).all()

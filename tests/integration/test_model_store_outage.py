"""S3 (the model store) unreachable, at start and during a model swap: floors keep coming.

The scoring function the job runs (udfs/scoring.py ModelWatcher, as in test_scoring.py) over an
s3:// lake on the S3 stand-in, through the fault proxy (tests/support/fault_proxy.py), so moto
itself is never stopped. While S3 refuses connections or swallows them (a black hole: the case
that waits on timeouts), every window still gets a floor: the provisional rule when no model was
ever loaded, the last good model when one was; each failed look is counted (ModelLoadFailures),
and each scoring call returns within the model store's time budget. Once S3 is back, the next
poll loads the current version.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from local_kinesis import standins
from tests.support.fault_proxy import FaultProxy
from tests.support.model_helpers import Clock, fresh_s3_lake, windows, write_challenger
from udfs import model_store, scoring

POLL_S = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def s3_lake(running_standins: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, FaultProxy]]:
    """An s3:// lake on a fresh bucket of the S3 stand-in, reached only through a fault proxy."""
    with FaultProxy(standins.HOST, standins.MOTO_PORT, free_port()) as proxy:
        yield fresh_s3_lake(monkeypatch, proxy.url), proxy


def timed_score(watcher: scoring.ModelWatcher) -> tuple[list[str], int, float]:
    rows = windows()
    started = time.monotonic()
    out, fallback = watcher.score(rows)
    assert len(out) == len(rows) and out["floor_eur"].notna().all(), "every window gets a floor"
    return list(out["model_version"]), fallback, time.monotonic() - started


# make test runs one mode of each (about 15 s and 11 s); the other two are in make test-all.
@pytest.mark.parametrize("mode", [pytest.param("refuse", marks=pytest.mark.slow), "blackhole"])
def test_s3_down_at_start_the_provisional_rule_then_the_model(s3_lake, mode):
    lake, proxy = s3_lake
    write_challenger(lake, "20260101T000001Z", scale=1.0)
    model_store.promote(lake, "20260101T000001Z")
    clock = Clock()
    watcher = scoring.ModelWatcher(lake, POLL_S, clock=clock)

    proxy.block(mode)
    versions, fallback, took = timed_score(watcher)
    assert set(versions) == {scoring.PROVISIONAL_MODEL_VERSION} and fallback == len(versions)
    assert watcher.load_failures == 1
    assert took < model_store.READ_BUDGET_S + 2, f"a scoring call waited {took:.1f} s on S3"
    clock.now += 5  # before the next poll: no new look at S3, no wait
    assert timed_score(watcher)[2] < 1.0 and watcher.load_failures == 1

    proxy.unblock()
    clock.now += POLL_S
    versions, fallback, _ = timed_score(watcher)
    assert set(versions) == {"20260101T000001Z"} and fallback == 0


@pytest.mark.parametrize("mode", ["refuse", pytest.param("blackhole", marks=pytest.mark.slow)])
def test_s3_down_during_a_swap_the_last_good_model_keeps_scoring(s3_lake, mode):
    lake, proxy = s3_lake
    write_challenger(lake, "20260101T000001Z", scale=1.0)
    model_store.promote(lake, "20260101T000001Z")
    clock = Clock()
    watcher = scoring.ModelWatcher(lake, POLL_S, clock=clock)
    assert set(timed_score(watcher)[0]) == {"20260101T000001Z"}

    write_challenger(lake, "20260101T000002Z", scale=2.0)
    model_store.promote(lake, "20260101T000002Z")  # the swap is due at the next poll, and S3 goes away
    proxy.block(mode)
    for poll in range(2):
        clock.now += POLL_S
        versions, fallback, took = timed_score(watcher)
        assert set(versions) == {"20260101T000001Z"} and fallback == 0, "the last good model scores"
        assert watcher.load_failures == poll + 1
        assert took < model_store.READ_BUDGET_S + 2, f"a scoring call waited {took:.1f} s on S3"

    proxy.unblock()
    clock.now += POLL_S
    assert set(timed_score(watcher)[0]) == {"20260101T000002Z"}, "the swap happens once S3 is back"

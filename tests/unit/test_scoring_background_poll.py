"""The scoring function's manifest poll runs in a background thread: a model store that hangs
never holds a scoring call, and a promotion still reaches the scores once the store answers."""

from __future__ import annotations

import sys
import threading
import traceback
from pathlib import Path

from tests.support.model_helpers import windows, write_challenger
from udfs import model_store, scoring

CHAMPION, CHALLENGER = "20260101T000001Z", "20260101T000002Z"


def poller_stack(watcher: scoring.ModelWatcher) -> str:
    """Where the watcher's poller thread is (for a failure message)."""
    thread = watcher._poller
    if thread is None or not thread.is_alive():
        return f"not running ({thread})"
    frame = sys._current_frames().get(thread.ident)
    return "".join(traceback.format_stack(frame)) if frame is not None else "no frame"


def test_a_hanging_model_store_never_holds_a_scoring_call(tmp_path: Path) -> None:
    lake, rows = tmp_path.as_uri(), windows()
    write_challenger(lake, CHAMPION, scale=1.0)
    write_challenger(lake, CHALLENGER, scale=2.0)
    model_store.promote(lake, CHAMPION)
    # The manifest reader is the watcher's own, not model_store.read_bytes patched: a test session
    # that ran the job in this process (PyFlink's loopback workers) holds copies of udfs' classes
    # whose methods see their own copy of model_store, so a patch of the module would be missed.
    hang, released, reading = threading.Event(), threading.Event(), threading.Event()

    def read_manifest(uri: str) -> bytes | None:
        if hang.is_set():  # from here every read hangs until released, as an S3 that swallows connections
            reading.set()
            released.wait()
        return model_store.read_bytes(uri, missing_ok=True)

    watcher = scoring.ModelWatcher(lake, poll_interval_s=0.05, read_manifest=read_manifest)
    watcher.refresh()  # what ScoreFloor.open does before the first window
    watcher.start_background()
    try:
        hang.set()
        assert reading.wait(10), f"the background poll reads the manifest; the poller: {poller_stack(watcher)}"
        results: list[str] = []
        scorer = threading.Thread(target=lambda: results.extend(watcher.score(rows)[0]["model_version"]))
        scorer.start()
        scorer.join(10)
        assert not scorer.is_alive(), "a scoring call waited on the hanging model store"
        assert set(results) == {CHAMPION}

        # The store answers again, with a new champion: the poll swaps it in, no scoring call involved.
        model_store.promote(lake, CHALLENGER)
        hang.clear()
        released.set()
        for _ in range(200):
            if watcher.version == CHALLENGER:
                break
            threading.Event().wait(0.05)
        assert watcher.version == CHALLENGER
        assert set(watcher.score(rows)[0]["model_version"]) == {CHALLENGER}
    finally:
        released.set()
        watcher.stop_background()

"""The scoring function's manifest poll runs in a background thread: a model store that hangs
never holds a scoring call, and a promotion still reaches the scores once the store answers."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tests.support.model_helpers import windows, write_challenger
from udfs import model_store, scoring

CHAMPION, CHALLENGER = "20260101T000001Z", "20260101T000002Z"


def test_a_hanging_model_store_never_holds_a_scoring_call(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lake, rows = tmp_path.as_uri(), windows()
    write_challenger(lake, CHAMPION, scale=1.0)
    write_challenger(lake, CHALLENGER, scale=2.0)
    model_store.promote(lake, CHAMPION)
    watcher = scoring.ModelWatcher(lake, poll_interval_s=0.05)
    watcher.refresh()  # what ScoreFloor.open does before the first window
    watcher.start_background()
    try:
        # From here every read of the store hangs until released, as an S3 that swallows connections.
        released, reading = threading.Event(), threading.Event()
        real_read = model_store.read_bytes

        def hanging_read(uri: str, *args: object, **kwargs: object) -> bytes | None:
            reading.set()
            released.wait()
            return real_read(uri, *args, **kwargs)

        monkeypatch.setattr(model_store, "read_bytes", hanging_read)
        assert reading.wait(10), "the background poll reads the manifest"
        results: list[str] = []
        scorer = threading.Thread(target=lambda: results.extend(watcher.score(rows)[0]["model_version"]))
        scorer.start()
        scorer.join(10)
        assert not scorer.is_alive(), "a scoring call waited on the hanging model store"
        assert set(results) == {CHAMPION}

        # The store answers again, with a new champion: the poll swaps it in, no scoring call involved.
        monkeypatch.setattr(model_store, "read_bytes", real_read)
        model_store.promote(lake, CHALLENGER)
        released.set()
        for _ in range(200):
            if watcher.version == CHALLENGER:
                break
            threading.Event().wait(0.05)
        assert watcher.version == CHALLENGER
        assert set(watcher.score(rows)[0]["model_version"]) == {CHALLENGER}
    finally:
        watcher.stop_background()

"""Background refresh, shared by what the API keeps in memory (the floors snapshot, the API keys
from Secrets Manager): a first refresh in the caller's thread, then one every interval on a
daemon thread, until stopped."""

from __future__ import annotations

import threading


class PeriodicRefresh:
    """Mix-in: subclasses define ``refresh()``, ``refresh_interval_s`` and ``thread_name``."""

    thread_name = "refresh"
    refresh_interval_s: float
    _stop: threading.Event | None = None
    _thread: threading.Thread | None = None

    def refresh(self) -> object:
        raise NotImplementedError

    def start(self):  # noqa: ANN201 - returns self, typed by the subclass
        """A first refresh (its failure is the subclass's to report), then the daemon thread."""
        if self._thread is not None:
            return self
        self.refresh()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        assert self._stop is not None
        while not self._stop.wait(self.refresh_interval_s):
            self.refresh()

    def stop(self, timeout_s: float = 5.0) -> None:
        if self._stop is not None:
            self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout_s)
            self._thread = None

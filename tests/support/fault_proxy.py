"""A TCP proxy that can take a service "down" on demand, without touching the service.

Tests put it between the job and a shared stand-in (moto, kinesis-local), which must never be
stopped: the job talks to the proxy's port, and ``block()`` makes the service look down to it.

    with FaultProxy("127.0.0.1", 5055, listen_port=5180) as proxy:
        ...point the job at proxy.url...
        proxy.block("refuse")      # connections are reset: "connection refused / reset" errors
        proxy.block("blackhole")   # connections are accepted and never answered: timeouts
        proxy.unblock()

Blocking also cuts every connection already open, so a client's pooled connection fails too.
The proxy runs its own asyncio loop in a daemon thread; every public method is thread-safe.
"""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType
from typing import Literal

Mode = Literal["refuse", "blackhole"]
_CHUNK = 64 * 1024


class FaultProxy:
    def __init__(self, target_host: str, target_port: int, listen_port: int, listen_host: str = "127.0.0.1"):
        self.target = (target_host, target_port)
        self.listen = (listen_host, listen_port)
        self._mode: Mode | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"fault-proxy-{listen_port}", daemon=True)
        self._server: asyncio.AbstractServer | None = None
        self._open: set[asyncio.StreamWriter] = set()  # both sides of every live connection
        self.connections = 0  # accepted since start (forwarded or not)
        self.refused = 0  # reset or black-holed while blocked

    @property
    def url(self) -> str:
        return f"http://{self.listen[0]}:{self.listen[1]}"

    @property
    def blocked(self) -> Mode | None:
        return self._mode

    # ------------------------------------------------------------------ control (any thread)

    def start(self) -> FaultProxy:
        self._thread.start()
        self._call(self._start_server())
        return self

    def block(self, mode: Mode = "refuse") -> None:
        if mode not in ("refuse", "blackhole"):
            raise ValueError(f"block mode must be 'refuse' or 'blackhole', got {mode!r}")
        self._mode = mode
        self._call(self._cut_all())

    def unblock(self) -> None:
        # Black-holed connections are cut: their clients time out or retry on a fresh connection.
        self._mode = None
        self._call(self._cut_all())

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        self._call(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def _call(self, coro) -> None:  # noqa: ANN001 - a coroutine
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)

    # ------------------------------------------------------------------ the loop's side

    async def _start_server(self) -> None:
        self._server = await asyncio.start_server(self._accept, *self.listen)

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        await self._cut_all()

    async def _cut_all(self) -> None:
        for writer in list(self._open):
            writer.transport.abort()
        self._open.clear()

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        if self._mode == "refuse":
            self.refused += 1
            client_writer.transport.abort()  # RST: the client sees a reset connection
            return
        self._open.add(client_writer)
        if self._mode == "blackhole":
            self.refused += 1
            await self._swallow(client_reader, client_writer)
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.transport.abort()
            self._open.discard(client_writer)
            return
        self._open.add(upstream_writer)
        await asyncio.gather(
            self._pipe(client_reader, upstream_writer, client_writer),
            self._pipe(upstream_reader, client_writer, upstream_writer),
        )

    async def _swallow(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Read and drop until the client gives up or the proxy cuts the connection."""
        try:
            while await reader.read(_CHUNK):
                pass
        except (ConnectionError, OSError):
            pass
        finally:
            self._open.discard(writer)
            writer.transport.abort()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    other: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(_CHUNK):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            # One side ended: close both (flushing what is buffered), so neither end waits on a
            # half-open connection. Only block() aborts.
            for w in (writer, other):
                self._open.discard(w)
                w.close()

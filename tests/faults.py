"""A small TCP proxy for fault tests: put it between a client and a server (TCP or a
unix socket), then take it down (existing connections reset, new ones refused) and
bring it back. Runs its own event loop in a thread."""

import asyncio
import contextlib
import socket
import threading
from urllib.parse import parse_qs, urlsplit, urlunsplit


class FaultProxy:
    def __init__(self, target: tuple[str, int] | str):
        self.target = target  # (host, port) or a unix socket path
        self.port = _free_port()
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.up()

    def _call(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    def up(self) -> None:
        self._call(self._start())

    def down(self) -> None:
        """Reset every open connection and refuse new ones."""
        self._call(self._stop())

    def close(self) -> None:
        self.down()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    async def _start(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            with contextlib.suppress(Exception):
                writer.transport.abort()
        self._writers.clear()

    async def _handle(self, reader, writer) -> None:
        try:
            if isinstance(self.target, str):
                up_reader, up_writer = await asyncio.open_unix_connection(self.target)
            else:
                up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))

        async def pipe(src, dst):
            with contextlib.suppress(Exception):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            with contextlib.suppress(Exception):
                dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers.difference_update((writer, up_writer))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proxied_postgres(url: str) -> tuple[FaultProxy, str]:
    """A proxy in front of the PostgreSQL server of `url`, and the URL that goes through it."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    socket_dir = (query.get("host") or [None])[0]
    if socket_dir and socket_dir.startswith("/"):
        port = (query.get("port") or [parts.port or 5432])[0]
        proxy = FaultProxy(f"{socket_dir}/.s.PGSQL.{port}")
    else:
        proxy = FaultProxy((parts.hostname or "127.0.0.1", parts.port or 5432))
    user = parts.username or ""
    password = f":{parts.password}" if parts.password else ""
    netloc = f"{user}{password}@127.0.0.1:{proxy.port}"
    return proxy, urlunsplit((parts.scheme, netloc, parts.path, "", ""))

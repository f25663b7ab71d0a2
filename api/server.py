"""The HTTP server: uvicorn on httptools, with the deadlines uvicorn does not have.

uvicorn times a connection out only when it idles between requests, and only once it has
answered one: a client that connects and never finishes its headers, or sends its body a
byte at a time, keeps its connection (and the request's task and buffers) as long as it
likes, and a few hundred such clients keep a few hundred. GuardedHttpProtocol gives each
request
  - a header deadline, from the connection's start (for its first request) or from the
    first byte of a further one, until its headers are complete (AIGW_HEADER_TIMEOUT_S);
  - a body deadline, from then until its body is complete (AIGW_BODY_TIMEOUT_S): the
    time the app then takes to answer is not bounded here;
  - a cap of MAX_HEADER_BYTES on its request line and headers (431);
and closes an idle connection after AIGW_KEEPALIVE_TIMEOUT_S. A request past a deadline is
answered 408 in the dialect of its path (api/dialects.py), unless its answer has begun or
nothing of it arrived, and its connection closed (after LINGER_S at the most, for the
answer to be read): the app sees the client gone at once (the gateway records a 499).

server_config() is the one uvicorn Config the app is served with (`aigw up`, the tests).
Under a process manager: `uvicorn --factory api.app:from_environment --http
api.server:GuardedHttpProtocol --ws none`, and the deadlines come from the environment.
"""

import functools
from dataclasses import dataclass

import uvicorn
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from api import dialects
from api.settings import Settings, load

# The request line and headers together. Identity tokens (a few KiB) and cookies fit with
# room to spare; without a cap httptools keeps whatever a client sends.
MAX_HEADER_BYTES = 64 * 1024
# How long a refused connection may linger, its answer sent, before it is closed (below).
LINGER_S = 2.0


@dataclass(frozen=True)
class Deadlines:
    header_s: float
    body_s: float
    keep_alive_s: float

    @classmethod
    def from_settings(cls, settings: Settings) -> "Deadlines":
        return cls(
            settings.header_timeout_s, settings.body_timeout_s, settings.keep_alive_timeout_s
        )


@functools.cache
def environment_deadlines() -> Deadlines:
    """For a server started by uvicorn's own command line: read once per process."""
    return Deadlines.from_settings(load())


class ServerConfig(uvicorn.Config):
    """uvicorn's Config, carrying the deadlines to the protocol of each connection."""

    def __init__(self, app, *, deadlines: Deadlines, **options):
        super().__init__(
            app,
            http=GuardedHttpProtocol,
            ws="none",  # no route takes a WebSocket
            timeout_keep_alive=deadlines.keep_alive_s,
            **options,
        )
        self.deadlines = deadlines


def server_config(app, *, host: str, port: int, deadlines: Deadlines | None = None, **options):
    """The uvicorn Config of the app: the guarded protocol, with `deadlines` or those of
    the settings; `options` are uvicorn's (log_level, …)."""
    deadlines = deadlines or Deadlines.from_settings(load())
    return ServerConfig(app, host=host, port=port, deadlines=deadlines, **options)


class HeadersTooLarge(Exception):
    """Raised from a parser callback: httptools stops, uvicorn calls send_400_response."""


class GuardedHttpProtocol(HttpToolsProtocol):
    def __init__(self, config, server_state, app_state, _loop=None):
        super().__init__(config, server_state, app_state, _loop)
        self.deadlines = (
            config.deadlines if isinstance(config, ServerConfig) else environment_deadlines()
        )
        self.timeout_keep_alive = self.deadlines.keep_alive_s
        self._timer = None
        self._header_bytes = 0
        self._refusal: tuple[int, str] | None = None
        self._refused = False

    # -- the deadlines --------------------------------------------------------------------

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._arm(self.deadlines.header_s, self._headers_late)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_bytes = 0
        if self._timer is None:  # a further request: the first one's deadline runs already
            self._arm(self.deadlines.header_s, self._headers_late)

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not None and cycle.scope is self.scope:  # not handed to a WebSocket
            self._arm(self.deadlines.body_s, functools.partial(self._body_late, cycle))

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def connection_lost(self, exc) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self, seconds: float, expired) -> None:
        self._disarm()
        self._timer = self.loop.call_later(seconds, expired)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _headers_late(self) -> None:
        self._timer = None
        previous = self.cycle
        if previous is not None and not previous.response_complete:
            # The next request came while this one is being answered (pipelined): it is
            # not this client's turn to be late yet.
            self._arm(self.deadlines.header_s, self._headers_late)
            return
        target = getattr(self, "url", b"")  # what arrived of this request's target
        if not target:  # nothing to answer: not even a path
            self.transport.close()
            return
        path = target.split(b"?", 1)[0].decode("latin-1")
        message = f"The request's headers did not arrive within {self.deadlines.header_s:g} s."
        self._refuse(408, message, path)

    def _body_late(self, cycle) -> None:
        self._timer = None
        if any(queued is cycle for queued, _ in self.pipeline):
            # Waiting behind a request still being answered: its body is not read yet.
            self._arm(self.deadlines.body_s, functools.partial(self._body_late, cycle))
            return
        if cycle.response_started:  # answered already (without its body): just end it
            self.transport.close()
            return
        # The app's next receive() says the client is gone; whatever it sends is dropped.
        cycle.disconnected = True
        cycle.message_event.set()
        message = f"The request's body did not arrive within {self.deadlines.body_s:g} s."
        self._refuse(408, message, cycle.scope["path"])

    # -- the size of the headers ----------------------------------------------------------

    def on_url(self, url: bytes) -> None:
        self._count_header_bytes(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_header_bytes(len(name) + len(value))
        super().on_header(name, value)

    def _count_header_bytes(self, count: int) -> None:
        self._header_bytes += count
        if self._header_bytes > MAX_HEADER_BYTES:
            limit = MAX_HEADER_BYTES // 1024
            self._refusal = (431, f"The request line and headers exceed {limit} KiB.")
            raise HeadersTooLarge

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to what httptools could not parse, or to a parser callback
        that refused (HeadersTooLarge): in the dialect of the path, when there is one."""
        status, message = self._refusal or (400, "The request is not valid HTTP/1.1.")
        target = getattr(self, "url", b"")
        self._refuse(status, message, target.split(b"?", 1)[0].decode("latin-1"))

    # -- the answer -----------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if not self._refused:  # after a refusal, what still arrives is dropped
            super().data_received(data)

    def _refuse(self, status: int, message: str, path: str) -> None:
        """Answer `status` (as the app would, in the path's dialect) and close."""
        self._disarm()
        if self.transport.is_closing():
            return
        response = dialects.error_response(path, status, message)
        head = [STATUS_LINE[status]]
        for name, value in [*self.server_state.default_headers, *response.raw_headers]:
            head += [name, b": ", value, b"\r\n"]
        head.append(b"connection: close\r\n\r\n")
        self.transport.write(b"".join(head) + response.body)
        # Close our side only, for now: closing with the client's bytes still unread makes
        # a reset, which can destroy the answer before the client has read it. What it
        # sends meanwhile is dropped; it has LINGER_S to read the answer and hang up.
        self._refused = True
        if self.transport.can_write_eof():
            self.transport.write_eof()
            self.loop.call_later(LINGER_S, self.transport.close)
        else:
            self.transport.close()

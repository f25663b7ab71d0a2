"""A server-sent event stream sent straight to the ASGI server.

Starlette's StreamingResponse runs each stream in an anyio task group (one task sending,
one listening for the client leaving, cancel scopes around both): on the gateway's
streaming path that cost more than the relay itself, before the first byte. This sends
from the request's own task, and a single plain task listens for the disconnect and
cancels the sender then, so a client that hangs up stops the provider's stream at once
and the request is still settled for what was produced.
"""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

from starlette.responses import Response


class EventStream(Response):
    media_type = "text/event-stream"

    def __init__(
        self,
        body: AsyncIterator[bytes],
        *,
        headers: dict[str, str] | None = None,
        on_close: Callable[[], Awaitable[None]] | None = None,
    ):
        self.body_iterator = body
        self.status_code = 200
        self.background = None
        self._on_close = on_close
        self.init_headers(headers)

    async def __call__(self, scope, receive, send) -> None:
        sender = asyncio.current_task()
        sending, left = True, False

        async def watch() -> None:
            nonlocal left
            while (await receive())["type"] != "http.disconnect":
                pass
            if sending:  # not once the stream is being closed anyway
                left = True
                sender.cancel()

        watcher = asyncio.create_task(watch())
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            async for chunk in self.body_iterator:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except asyncio.CancelledError:
            if not left:
                raise  # cancelled from outside: not ours to swallow
            sender.uncancel()
        finally:
            sending = False
            watcher.cancel()
            # The body's own cleanup (settlement), also when it never started.
            aclose = getattr(self.body_iterator, "aclose", None)
            if aclose is not None:
                await aclose()
            if self._on_close is not None:
                await self._on_close()

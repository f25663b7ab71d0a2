"""The durable event writer: every request's event reaches the event consumer, which
records it in events.requests exactly once.

The gateway hands events over with `emit`, which only appends to a queue: the response
never waits on the database. A background task sends the queue in batches through its
transport (by default COPY into the database's event queue, one round trip per batch;
see transports.py) every FLUSH_INTERVAL_S, or sooner when BATCH_SIZE events are waiting.

When PostgreSQL cannot be reached the events wait: in memory up to MEMORY_LIMIT, then in
an append-only spool file (JSON Lines, bounded by SPOOL_LIMIT_BYTES) in `spool_dir`.
They are sent, oldest first, once the database answers again; at shutdown whatever could
not be sent is written to the spool and sent by the next start. A batch whose
acknowledgement was lost is sent again, and the intake's trigger skips request ids it
already holds: nothing is lost, nothing is counted twice. Only when the spool itself is
full are events dropped, and that is logged with how many.
"""

import asyncio
import contextlib
import json
import logging
import os
import time
from collections import deque
from pathlib import Path

from api.events.transports import BatchRefused, PostgresQueueTransport, TransportUnavailable
from api.gateway.accounting import RequestEvent, clean_text

log = logging.getLogger("aigw.events")

BATCH_SIZE = 500
FLUSH_INTERVAL_S = 0.2
RETRY_INTERVAL_S = 1.0
MEMORY_LIMIT = 50_000
SPOOL_LIMIT_BYTES = 128 * 1024 * 1024
SPOOL_FILE = "events.jsonl"


SCRUBBED_TEXT_CHARS = 4096


def scrubbed(event: dict) -> dict:
    """The event with every text (nested ones too) cut and cleaned as clean_text does."""
    return {k: scrubbed_value(v) for k, v in event.items()}


def scrubbed_value(value):
    if isinstance(value, str):
        return clean_text(value, SCRUBBED_TEXT_CHARS)
    if isinstance(value, dict):
        return scrubbed(value)
    if isinstance(value, list):
        return [scrubbed_value(v) for v in value]
    return value


class EventWriter:
    def __init__(self, app_url: str | None, spool_dir: Path, transport=None):
        """Send to the event queue of the database at `app_url`, or through `transport`
        (see transports.py)."""
        self.transport = transport or PostgresQueueTransport(app_url)
        self.spool = Path(spool_dir) / SPOOL_FILE
        self.queue: deque[dict] = deque()
        self.dropped = 0  # spool full
        self.rejected = 0  # refused as malformed
        self.written = 0
        self._wake = asyncio.Event()
        # One batch in flight at a time: the background loop and flush() both send, and a
        # batch is removed from the queue by position once sent.
        self._sending = asyncio.Lock()
        self._task: asyncio.Task | None = None
        self._down_since: float | None = None

    @property
    def database_down(self) -> bool:
        return self._down_since is not None

    @property
    def waiting(self) -> int:
        """Events not yet in the database (the spool counted by lines, roughly)."""
        spooled = 0
        if self._spooled():
            with self.spool.open("rb") as f:
                spooled = sum(1 for _ in f)
        return len(self.queue) + spooled

    # -- the gateway's side ------------------------------------------------------------

    def emit(self, event: RequestEvent) -> None:
        self.queue.append(event.as_dict())
        if len(self.queue) >= BATCH_SIZE:
            self._wake.set()
        if len(self.queue) > MEMORY_LIMIT:
            self._overflow()

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        self.spool.parent.mkdir(parents=True, exist_ok=True)
        self._task = asyncio.create_task(self._run())

    async def stop(self, timeout_s: float = 5.0) -> None:
        """Send what is waiting; what cannot be sent in time goes to the spool."""
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        deadline = time.monotonic() + timeout_s
        while (self.queue or self._spooled()) and time.monotonic() < deadline:
            if not await self._send_once():
                break
        if self.queue:
            self._overflow(everything=True)
        with contextlib.suppress(Exception):
            await self.transport.close()

    async def flush(self) -> None:
        """Send everything waiting now (tests, shutdown); raises nothing."""
        while self.queue or self._spooled():
            if not await self._send_once():
                return

    # -- the writer's side -------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), FLUSH_INTERVAL_S)
            self._wake.clear()
            # What is waiting goes now; after it, only full batches. The rest waits for
            # the next wake (FLUSH_INTERVAL_S, or a full batch): a busy gateway then sends
            # a few large batches a second instead of a stream of tiny ones, each of
            # which would cost the same round trip and statement as a large one.
            first = True
            while (self.queue or self._spooled()) and (first or len(self.queue) >= BATCH_SIZE):
                first = False
                if not await self._send_once():
                    await asyncio.sleep(RETRY_INTERVAL_S)
                    break

    async def _send_once(self) -> bool:
        """Send one batch, spooled events first; False when the database is away."""
        async with self._sending:
            return await self._send_next()

    async def _send_next(self) -> bool:
        from_spool = self._spooled()
        batch = (
            self._read_spool()
            if from_spool
            else [self.queue[i] for i in range(min(BATCH_SIZE, len(self.queue)))]
        )
        if not batch:
            return True
        try:
            await self.transport.send(batch)
        except TransportUnavailable as exc:
            self._lost(exc)
            return False
        except BatchRefused as refused:
            lost = await self._send_scrubbed([batch[i] for i in refused.refused])
            if lost is None:
                return False
            self.rejected += lost
            self.written -= lost
        self._sent(batch, from_spool)
        return True

    async def _send_scrubbed(self, events: list[dict]) -> int | None:
        """Send refused events again with every text made recordable (clean_text).
        Events are sanitised where they are captured, so this is a last resort: an event
        is not dropped for what its request carried. Returns how many were still
        refused (then logged with their request ids), None when the far side went away."""
        try:
            await self.transport.send([scrubbed(event) for event in events])
        except TransportUnavailable as exc:
            self._lost(exc)
            return None
        except BatchRefused as refused:
            ids = [str(events[i].get("request_id")) for i in refused.refused]
            log.error("events: %d refused even when scrubbed, dropped: %s", len(ids), ids)
            return len(ids)
        return 0

    def _sent(self, batch: list[dict], from_spool: bool) -> None:
        if from_spool:
            self.spool.unlink(missing_ok=True)
        else:
            for _ in batch:
                self.queue.popleft()
        self.written += len(batch)
        if self._down_since is not None:
            log.warning(
                "events: database back after %.0f s; the waiting events are being sent",
                time.monotonic() - self._down_since,
            )
            self._down_since = None

    def _lost(self, exc: BaseException) -> None:
        if self._down_since is None:
            self._down_since = time.monotonic()
            log.warning(
                "events: cannot be sent (%s); they wait in memory, then in %s",
                exc,
                self.spool,
            )

    # -- the spool ---------------------------------------------------------------------

    def _spooled(self) -> bool:
        return self.spool.exists() and self.spool.stat().st_size > 0

    def _read_spool(self) -> list[dict]:
        """The whole spool as one batch (it is sent, then removed, as a unit)."""
        events = []
        for line in self.spool.read_text().splitlines():
            with contextlib.suppress(ValueError):  # a line cut by a crash mid-write
                events.append(json.loads(line))
        return events

    def _overflow(self, everything: bool = False) -> None:
        """Move the oldest events from memory to the spool file."""
        keep = 0 if everything else MEMORY_LIMIT // 2
        moving = [self.queue.popleft() for _ in range(max(0, len(self.queue) - keep))]
        if not moving:
            return
        size = self.spool.stat().st_size if self.spool.exists() else 0
        lines = [json.dumps(e, separators=(",", ":")) + "\n" for e in moving]
        with self.spool.open("a") as f:
            for line in lines:
                if size + len(line) > SPOOL_LIMIT_BYTES:
                    self.dropped += 1
                    continue
                f.write(line)
                size += len(line)
            f.flush()
            os.fsync(f.fileno())
        if self.dropped:
            log.error("events: spool full, %d events dropped so far", self.dropped)

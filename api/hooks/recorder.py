"""Hook events, recorded off the request's path.

A hook must never slow or block the developer (Claude Code waits for a PreToolUse hook
before it runs the tool), so the endpoint only appends the event to a bounded queue in
memory and answers. A task records what is queued in batches, one transaction a batch
and a savepoint an event, through api.record_hook_event: an event the database refuses
(a session that is someone else's) is dropped alone, the rest of its batch kept.

While the database is away, events wait in memory and are sent when it is back; at most
MAX_WAITING of them: past that the oldest are dropped (and counted in the log), and
whatever waits when the process stops is lost. Hook events feed session classification,
which reads them as a hint next to the request log (which is durable): losing some in an
outage costs precision, never money. That is why they are not spooled to disk like
request events.
"""

import asyncio
import contextlib
import logging
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg

log = logging.getLogger("aigw.hooks")

MAX_WAITING = 10_000
BATCH = 500
RETRY_S = 1.0
ACQUIRE_TIMEOUT_S = 2.0
MAX_OWNERS = 100_000  # sessions whose owner this process remembers
DATABASE_AWAY = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.CannotConnectNowError,
)
RECORD = "select api.record_hook_event($1, $2, $3, $4, $5, $6, $7, $8, $9)"


@dataclass(frozen=True, slots=True)
class HookEvent:
    key_id: str
    user_id: str | None
    service_account_id: str | None
    team_id: str
    session_id: str
    hook_event_name: str
    tool_name: str | None
    permission_mode: str | None
    received_at: float  # unix time: when the hook arrived, not when it was recorded

    @property
    def owner(self) -> tuple[str | None, str | None]:
        return self.user_id, self.service_account_id

    def row(self) -> tuple:
        return (
            self.key_id,
            self.user_id,
            self.service_account_id,
            self.team_id,
            self.session_id,
            self.hook_event_name,
            self.tool_name,
            self.permission_mode,
            datetime.fromtimestamp(self.received_at, UTC),
        )


class HookRecorder:
    def __init__(self, pool: asyncpg.Pool, *, max_waiting: int = MAX_WAITING):
        self.pool = pool
        self.waiting: deque[HookEvent] = deque()
        self.max_waiting = max_waiting
        self.dropped = 0  # for want of room, since the last log line saying so
        # session id -> (user, service account) of the sessions this process has taken
        # hooks for: a hook naming one of someone else's is refused at once (the database
        # is the authority, for sessions this process has not seen).
        self.owners: dict[str, tuple[str | None, str | None]] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._idle = asyncio.Event()
        self._idle.set()

    def add(self, event: HookEvent) -> bool:
        """Queue one event; never waits. False (and nothing queued) when the session is
        known to be someone else's."""
        owner = self.owners.get(event.session_id)
        if owner is None:
            if len(self.owners) >= MAX_OWNERS:
                self.owners.clear()
            self.owners[event.session_id] = event.owner
        elif owner != event.owner:
            return False
        if len(self.waiting) >= self.max_waiting:
            self.waiting.popleft()
            self.dropped += 1
        self.waiting.append(event)
        self._idle.clear()
        self._wake.set()
        return True

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self, timeout_s: float = 5.0) -> None:
        """Record what waits (for at most `timeout_s`), then stop."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.flush(), timeout_s)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self.waiting:
            log.warning("%d hook events not recorded at shutdown", len(self.waiting))

    async def flush(self) -> None:
        """Wait until everything queued so far is recorded (tests, shutdown)."""
        await self._idle.wait()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self.waiting:
                if self.dropped:
                    log.warning("%d hook events dropped: too many waiting", self.dropped)
                    self.dropped = 0
                batch = [self.waiting.popleft() for _ in range(min(BATCH, len(self.waiting)))]
                try:
                    await self._record(batch)
                except DATABASE_AWAY as exc:
                    log.warning("hook events wait for the database: %s", type(exc).__name__)
                    # Back at the front, in order; past the limit the oldest make room.
                    self.waiting.extendleft(reversed(batch))
                    while len(self.waiting) > self.max_waiting:
                        self.waiting.popleft()
                        self.dropped += 1
                    await asyncio.sleep(RETRY_S)
                except Exception:  # a batch that cannot be recorded must not stop the rest
                    log.exception("%d hook events could not be recorded", len(batch))
            self._idle.set()

    async def _record(self, batch: list[HookEvent]) -> None:
        async with self.pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn, conn.transaction():
            for event in batch:
                try:
                    async with conn.transaction():  # a savepoint: a refusal drops this one
                        await conn.execute(RECORD, *event.row())
                except asyncpg.PostgresError as exc:
                    state = exc.sqlstate or ""
                    if state != "42501" and state[:2] not in ("22", "23"):
                        raise
                    # 42501: the session is someone else's (known to another process, or
                    # from before this one started); 22/23: a value the table refuses.
                    log.warning("hook event of key %s refused: %s", event.key_id, state)
                    if self.owners.get(event.session_id) == event.owner:
                        del self.owners[event.session_id]

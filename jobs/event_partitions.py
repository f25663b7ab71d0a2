"""The monthly partitions of the request log, created ahead of need.

events.requests is partitioned by month (revision 0021). api.create_event_partitions
creates this month's partition and the next ones that do not exist yet; every gateway
process calls it when it starts and then daily, so that a month's partition exists weeks
before its first event (an event no partition covers lands in the default partition, and
is moved to its month when that is created). The function is idempotent and serialised
in the database, so several processes calling it at once are harmless.
"""

import asyncio
import contextlib
import logging

import asyncpg

log = logging.getLogger("aigw.jobs.partitions")

MONTHS_AHEAD = 2
EVERY_S = 24 * 3600.0
RETRY_S = 60.0  # after a failure (the database away): sooner than a day


async def create_partitions(pool_or_conn, months_ahead: int = MONTHS_AHEAD) -> int:
    """How many partitions were created (0: all were there)."""
    return await pool_or_conn.fetchval("select api.create_event_partitions($1)", months_ahead)


class PartitionJob:
    """create_partitions at start, then every EVERY_S, in the background."""

    def __init__(self, pool: asyncpg.Pool, *, every_s: float = EVERY_S):
        self.pool = pool
        self.every_s = every_s
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                created = await create_partitions(self.pool)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the job must outlive any one failure
                log.warning("event partitions not created: %s", type(exc).__name__)
                await asyncio.sleep(RETRY_S)
                continue
            if created:
                log.info("created %d monthly partitions of the request log", created)
            await asyncio.sleep(self.every_s)

"""The event consumer: moves request events from a queue into events.requests.

One consumer, two queues, the same events (RequestEvent as JSON):

- `PostgresQueue`, the local default: the gateway's writer COPYs events into the table
  events.queue of the same database. The gateway runs this consumer in-process unless
  AIGW_EVENTS_CONSUMER=external, in which case `aigw events consume` does.
- `ServiceBusQueue`, the cloud (AIGW_EVENTS_TRANSPORT=servicebus): an Azure Service Bus
  queue, drained by `aigw events consume` as a job of its own.

Both are read the same way (peek-lock): a batch is received and held, recorded with a
RequestLogTransport (COPY into api.request_event_intake, which prices each event and
skips request ids already recorded), and only then completed. When PostgreSQL cannot take
it, the batch is abandoned and comes back: PostgreSQL's row locks end with the claiming
transaction; Service Bus redelivers, and moves a message that keeps failing to its
dead-letter queue after the queue's max delivery count. An unreadable event is set aside
at once (dead-lettered), as is one the request log refuses; neither blocks the rest.

    aigw events consume    # the queue AIGW_EVENTS_TRANSPORT names
"""

import asyncio
import contextlib
import json
import logging

import asyncpg

from api.events.transports import (
    BatchRefused,
    DatabaseLink,
    RequestLogTransport,
    TransportUnavailable,
    from_message,
    unreachable,
)

log = logging.getLogger("aigw.jobs.events")

MAX_BATCH = 500
MAX_WAIT_S = 1.0
BACKOFF_S = 2.0
STOP_TIMEOUT_S = 5.0
CHANNEL = "aigw_events"


class ServiceBusQueue:
    """An Azure Service Bus queue receiver (azure.servicebus.aio.ServiceBusReceiver)."""

    def __init__(self, receiver):
        self.receiver = receiver

    async def receive(self, max_count: int, max_wait_s: float) -> list:
        return await self.receiver.receive_messages(
            max_message_count=max_count, max_wait_time=max_wait_s
        )

    @staticmethod
    def event(message) -> dict:
        return from_message(message)

    async def dead_letter(self, message, reason: str) -> None:
        await self.receiver.dead_letter_message(
            message, reason="not a recordable request event", error_description=reason[:200]
        )

    async def complete(self, messages: list) -> None:
        for message in messages:
            await self.receiver.complete_message(message)

    async def abandon(self, messages: list) -> None:
        for message in messages:
            await self.receiver.abandon_message(message)

    async def close(self) -> None:
        await self.receiver.close()


class PostgresQueue(DatabaseLink):
    """events.queue: a batch is claimed (FOR UPDATE SKIP LOCKED) in a transaction that
    stays open until the batch is settled: completing deletes the rows and commits,
    abandoning rolls back and frees them for the next claim. Waits for the writer's
    notification rather than polling."""

    def __init__(self, app_url: str):
        super().__init__(app_url)
        self._transaction = None
        self._arrived = asyncio.Event()

    async def receive(self, max_count: int, max_wait_s: float) -> list:
        try:
            conn = await self._connection()
            rows = await self._claim(conn, max_count)
            if not rows and max_wait_s > 0:
                await self._rollback()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._arrived.wait(), max_wait_s)
                self._arrived.clear()
                rows = await self._claim(conn, max_count)
        except (OSError, asyncpg.InterfaceError, TimeoutError) as exc:
            self._drop()
            raise TransportUnavailable(type(exc).__name__) from exc
        except asyncpg.PostgresError as exc:
            self._drop()
            if unreachable(exc):
                raise TransportUnavailable(type(exc).__name__) from exc
            raise
        if not rows:
            await self._rollback()
        return rows

    @staticmethod
    def event(row) -> dict:
        event = json.loads(row["event"])
        if not isinstance(event, dict) or not isinstance(event.get("request_id"), str):
            raise ValueError("not a request event: no request_id")
        return event

    async def dead_letter(self, row, reason: str) -> None:
        await self._conn.execute("select api.dead_letter_queued_event($1, $2)", row["id"], reason)

    async def complete(self, rows: list) -> None:
        try:
            await self._conn.execute(
                "select api.settle_queued_events($1)", [row["id"] for row in rows]
            )
            await self._transaction.commit()
        except (OSError, asyncpg.InterfaceError, asyncpg.PostgresError, TimeoutError) as exc:
            # Not settled: the rows come back, and the intake skips them as recorded.
            self._drop()
            raise TransportUnavailable(type(exc).__name__) from exc
        finally:
            self._transaction = None

    async def abandon(self, rows: list) -> None:
        await self._rollback()

    def wake(self) -> None:
        """End a wait for new events now (shutdown)."""
        self._arrived.set()

    def reset(self) -> None:
        """Drop the connection, and with it any claim (its rows are free again)."""
        self._drop()

    async def _claim(self, conn: asyncpg.Connection, max_count: int) -> list:
        if self._transaction is None:
            self._transaction = conn.transaction()
            await self._transaction.start()
        return await conn.fetch("select id, event from api.claim_queued_events($1)", max_count)

    async def _rollback(self) -> None:
        transaction, self._transaction = self._transaction, None
        if transaction is not None:
            try:
                await transaction.rollback()
            except (OSError, asyncpg.InterfaceError, asyncpg.PostgresError):
                self._drop()

    async def _opened(self, conn: asyncpg.Connection) -> None:
        await conn.add_listener(CHANNEL, lambda *_: self._arrived.set())

    def _drop(self) -> None:
        self._transaction = None  # the claim ends with the connection
        super()._drop()


async def consume_batch(queue, transport: RequestLogTransport, batch: list) -> int:
    """Record one received batch and settle it; returns how many events were recorded."""
    events, carriers = [], []
    for item in batch:
        try:
            events.append(queue.event(item))
            carriers.append(item)
        except ValueError as exc:
            await queue.dead_letter(item, str(exc))
    recorded = len(events)
    if events:
        try:
            await transport.send(events)
        except TransportUnavailable:
            await queue.abandon(carriers)
            raise
        except BatchRefused as refused:
            log.error("events: %d refused by the request log, set aside", len(refused.refused))
            for position, reason in refused.refused.items():
                await queue.dead_letter(carriers[position], reason)
            carriers = [c for i, c in enumerate(carriers) if i not in refused.refused]
            recorded -= len(refused.refused)
    await queue.complete(carriers)
    return recorded


async def consume_waiting(queue, transport: RequestLogTransport) -> int:
    """Record everything waiting now, without waiting for more (tests, shutdown)."""
    recorded = 0
    while batch := await queue.receive(MAX_BATCH, 0):
        recorded += await consume_batch(queue, transport, batch)
    return recorded


async def run(queue, transport: RequestLogTransport, stop: asyncio.Event | None = None) -> None:
    stop = stop or asyncio.Event()
    away = False
    while not stop.is_set():
        batch = []
        try:
            batch = await queue.receive(MAX_BATCH, MAX_WAIT_S)
            if batch:
                await consume_batch(queue, transport, batch)
        except TransportUnavailable as exc:
            if not away:
                log.warning("events: PostgreSQL unavailable (%s); they wait in the queue", exc)
            away = True
            await asyncio.sleep(BACKOFF_S)
            continue
        except Exception:  # a consumer that stopped would leave every later event queued
            log.exception("events: the consumer failed on a batch; it comes back")
            with contextlib.suppress(Exception):
                await queue.abandon(batch)
            await asyncio.sleep(BACKOFF_S)
            continue
        if away:
            log.warning("events: PostgreSQL back; recording the waiting events")
            away = False


class InProcessConsumer:
    """The local default: the gateway process drains events.queue itself."""

    def __init__(self, app_url: str):
        self.queue = PostgresQueue(app_url)
        self.transport = RequestLogTransport(app_url)
        self._stop = asyncio.Event()
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(run(self.queue, self.transport, self._stop))

    async def stop(self) -> None:
        """Record what is waiting, then close (what cannot be recorded stays queued)."""
        self._stop.set()
        self.queue.wake()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, STOP_TIMEOUT_S)
            except TimeoutError:  # cancelled mid-batch: its rows come back, the link is reset
                self.queue.reset()
        with contextlib.suppress(TransportUnavailable):
            await consume_waiting(self.queue, self.transport)
        await self.queue.close()
        await self.transport.close()


async def main_postgres(app_url: str) -> None:
    queue, transport = PostgresQueue(app_url), RequestLogTransport(app_url)
    try:
        await run(queue, transport)
    finally:
        await queue.close()
        await transport.close()


async def main_servicebus(connection_string: str, queue_name: str, app_url: str) -> None:
    from azure.servicebus.aio import ServiceBusClient

    transport = RequestLogTransport(app_url)
    async with (
        ServiceBusClient.from_connection_string(connection_string) as client,
        client.get_queue_receiver(queue_name) as receiver,
    ):
        try:
            await run(ServiceBusQueue(receiver), transport)
        finally:
            await transport.close()

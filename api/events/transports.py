"""Where request events travel. One event schema (RequestEvent as JSON), one consumer
(jobs/event_consumer.py), two transports between the gateway's writer and it:

- `PostgresQueueTransport` (the default): COPY into api.event_queue_intake, a queue table
  in the same database (events.queue). The gateway's hot path pays only for appending
  JSON; pricing and de-duplication happen in the consumer.
- `ServiceBusTransport` (AIGW_EVENTS_TRANSPORT=servicebus, for the cloud): each event a
  Service Bus message (message id = request id, so Service Bus duplicate detection and
  the intake both drop resends).

Whichever the transport, the consumer records events with `RequestLogTransport`: COPY
into api.request_event_intake, whose trigger prices each event and skips request ids
already recorded, so a batch delivered twice is counted once.

All raise TransportUnavailable when nothing can be sent now (the sender then keeps the
batch), and BatchRefused for events the far side refuses.
"""

import contextlib
import json
from collections.abc import Callable
from dataclasses import fields
from datetime import UTC, datetime

import asyncpg
import orjson

from api.gateway.accounting import RequestEvent

COLUMNS = [f.name for f in fields(RequestEvent) if f.name != "extra"]
UUID_COLUMNS = {"key_id", "team_id", "owner_user_id", "service_account_id"}
MESSAGE_SUBJECT = "aigw.request-event.v1"


class TransportUnavailable(Exception):
    """The far side cannot take anything now; try again later."""


class BatchRefused(Exception):
    """The far side took the batch but for some malformed events: `refused` maps their
    positions in the batch to the reason."""

    def __init__(self, refused: dict[int, str]):
        super().__init__(f"{len(refused)} events refused")
        self.refused = refused


def record(event: dict) -> tuple:
    """An event as a row of api.request_event_intake."""
    row = []
    for name in COLUMNS:
        value = event.get(name)
        if name == "started_at":
            value = datetime.fromtimestamp(value, UTC)
        elif name in UUID_COLUMNS and value is not None:
            value = str(value)
        row.append(value)
    return tuple(row)


def unreachable(exc: asyncpg.PostgresError) -> bool:
    """Errors that say the database cannot take anything now (connection, shutdown,
    resources), as opposed to refusing this batch."""
    state = exc.sqlstate or ""
    return state[:2] in ("08", "53", "57", "58") or isinstance(
        exc, asyncpg.exceptions.CannotConnectNowError
    )


class DatabaseLink:
    """A connection of its own to the database at `app_url`: opened when first needed,
    terminated when it fails (the next use opens a fresh one)."""

    def __init__(self, app_url: str):
        self.app_url = app_url
        self._conn: asyncpg.Connection | None = None

    async def _connection(self) -> asyncpg.Connection:
        if self._conn is None or self._conn.is_closed():
            self._conn = await asyncpg.connect(self.app_url, timeout=5)
            await self._opened(self._conn)
        return self._conn

    async def _opened(self, conn: asyncpg.Connection) -> None:
        """What a fresh connection needs before its first use (nothing here)."""

    def _drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.terminate()
            self._conn = None

    async def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()
            self._conn = None


class _CopyTransport(DatabaseLink):
    """COPY batches into one of the api intake views over a connection of its own."""

    async def send(self, batch: list[dict]) -> None:
        try:
            conn = await self._connection()
            await self._copy(conn, batch)
        except asyncpg.PostgresError as exc:
            if unreachable(exc):
                self._drop()
                raise TransportUnavailable(type(exc).__name__) from exc
            # The database refused the batch itself: send row by row, keep the rest.
            await self._send_singly(batch)
        except (OSError, asyncpg.InterfaceError, TimeoutError) as exc:
            self._drop()
            raise TransportUnavailable(type(exc).__name__) from exc

    async def _send_singly(self, batch: list[dict]) -> None:
        refused = {}
        try:
            conn = await self._connection()
            for position, event in enumerate(batch):
                try:
                    await self._copy(conn, [event])
                except asyncpg.PostgresError as exc:
                    if unreachable(exc):
                        raise
                    refused[position] = f"{type(exc).__name__}: {exc}"[:500]
        except (OSError, asyncpg.InterfaceError, TimeoutError, asyncpg.PostgresError) as exc:
            self._drop()
            raise TransportUnavailable(type(exc).__name__) from exc
        if refused:
            raise BatchRefused(refused)

    # set by each transport: the view in schema api, its columns, and an event's row
    view: str
    columns: list[str]
    row: Callable[[dict], tuple]

    async def _copy(self, conn: asyncpg.Connection, batch: list[dict]) -> None:
        await conn.copy_records_to_table(
            self.view, schema_name="api", columns=self.columns, records=map(self.row, batch)
        )


class RequestLogTransport(_CopyTransport):
    """Into events.requests, priced and once per request id (the consumer's writer)."""

    view, columns = "request_event_intake", COLUMNS
    row = staticmethod(record)


class PostgresQueueTransport(_CopyTransport):
    """Into the local queue events.queue, as JSON (the writer's default)."""

    view, columns = "event_queue_intake", ["event"]
    row = staticmethod(lambda event: (as_json(event),))


def as_json(event: dict) -> str:
    # orjson: a fifth of the stdlib's cost per event on the writer. It refuses text that is
    # not UTF-8 (a lone surrogate); the stdlib escapes it, and the database's refusal of
    # the batch then has the writer scrub the event (writer.py) rather than lose it.
    try:
        return orjson.dumps(event).decode()
    except TypeError:
        return json.dumps(event, separators=(",", ":"))


def to_message(event: dict):
    from azure.servicebus import ServiceBusMessage

    return ServiceBusMessage(
        as_json(event),
        message_id=event["request_id"],
        content_type="application/json",
        subject=MESSAGE_SUBJECT,
    )


def from_message(message) -> dict:
    """The event a message carries (a ServiceBusMessage or a received one)."""
    if message.subject != MESSAGE_SUBJECT:
        raise ValueError(f"not a request event: subject {message.subject!r}")
    return json.loads(b"".join(message.body))


class ServiceBusTransport:
    """Publishes batches to a Service Bus queue (azure-servicebus, async)."""

    def __init__(self, sender):
        self.sender = sender  # azure.servicebus.aio.ServiceBusSender

    @classmethod
    def from_connection_string(cls, connection_string: str, queue: str):
        from azure.servicebus.aio import ServiceBusClient

        client = ServiceBusClient.from_connection_string(connection_string)
        transport = cls(client.get_queue_sender(queue))
        transport._client = client
        return transport

    async def send(self, batch: list[dict]) -> None:
        from azure.servicebus.exceptions import MessageSizeExceededError, ServiceBusError

        try:
            message_batch = await self.sender.create_message_batch()
            for event in batch:
                message = to_message(event)
                try:
                    message_batch.add_message(message)
                except MessageSizeExceededError:
                    await self.sender.send_messages(message_batch)
                    message_batch = await self.sender.create_message_batch()
                    message_batch.add_message(message)
            await self.sender.send_messages(message_batch)
        except ServiceBusError as exc:
            raise TransportUnavailable(type(exc).__name__) from exc

    async def close(self) -> None:
        await self.sender.close()
        client = getattr(self, "_client", None)
        if client is not None:
            await client.close()

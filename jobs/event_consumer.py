"""The event consumer for the cloud transport: receives request events from an Azure
Service Bus queue and writes them to PostgreSQL with the same PostgresTransport the
gateway uses by default (COPY into api.request_event_intake, which skips request ids
already recorded).

A batch is completed on Service Bus only after PostgreSQL has taken it; when PostgreSQL is
away the messages are abandoned and come back (Service Bus redelivers them, and moves a
message that keeps failing to its dead-letter queue after the queue's max delivery
count). A message that is not a request event is dead-lettered at once.

    aigw events consume    # AZURE_SERVICEBUS_CONNECTION_STRING, AIGW_EVENTS_QUEUE
"""

import asyncio
import logging

from api.events.transports import (
    BatchRefused,
    PostgresTransport,
    TransportUnavailable,
    from_message,
)

log = logging.getLogger("aigw.jobs.events")

MAX_BATCH = 500
MAX_WAIT_S = 1.0
BACKOFF_S = 2.0


async def consume_batch(receiver, transport: PostgresTransport, messages: list) -> int:
    """Write one received batch; returns how many events were written."""
    events, carriers = [], []
    for message in messages:
        try:
            events.append(from_message(message))
            carriers.append(message)
        except ValueError as exc:
            await receiver.dead_letter_message(
                message, reason="not a request event", error_description=str(exc)[:200]
            )
    if not events:
        return 0
    try:
        await transport.send(events)
    except TransportUnavailable:
        for message in carriers:
            await receiver.abandon_message(message)
        raise
    except BatchRefused as refused:
        log.error("%d events refused as malformed and dropped", refused.rejected)
    for message in carriers:
        await receiver.complete_message(message)
    return len(events)


async def run(receiver, transport: PostgresTransport, stop: asyncio.Event | None = None) -> None:
    stop = stop or asyncio.Event()
    while not stop.is_set():
        messages = await receiver.receive_messages(
            max_message_count=MAX_BATCH, max_wait_time=MAX_WAIT_S
        )
        if not messages:
            continue
        try:
            await consume_batch(receiver, transport, messages)
        except TransportUnavailable as exc:
            log.warning("PostgreSQL unavailable (%s); messages returned to the queue", exc)
            await asyncio.sleep(BACKOFF_S)


async def main(connection_string: str, queue: str, app_url: str) -> None:
    from azure.servicebus.aio import ServiceBusClient

    transport = PostgresTransport(app_url)
    async with (
        ServiceBusClient.from_connection_string(connection_string) as client,
        client.get_queue_receiver(queue) as receiver,
    ):
        try:
            await run(receiver, transport)
        finally:
            await transport.close()

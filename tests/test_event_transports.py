"""The Service Bus transport, tested at the azure-servicebus SDK boundary (no emulator
runs here): the writer's batches become the SDK's own message objects, sent through the
sender's batch API, and the consumer turns exactly those messages back into events that
land in the real database once, completing them only then."""

import asyncio
import json
import time
import uuid
from dataclasses import asdict

import pytest
from azure.servicebus import ServiceBusMessageBatch
from azure.servicebus.exceptions import MessageLockLostError, ServiceBusConnectionError

from api.events.transports import (
    MESSAGE_SUBJECT,
    RequestLogTransport,
    ServiceBusTransport,
    TransportUnavailable,
    from_message,
)
from api.events.writer import EventWriter
from api.gateway.accounting import RequestEvent
from jobs import event_consumer
from jobs.event_consumer import ServiceBusQueue, consume_batch
from tests.helpers import operator_call


def event(**kw) -> RequestEvent:
    return RequestEvent(
        request_id="req_" + uuid.uuid4().hex,
        endpoint="/v1/chat/completions",
        wire="openai",
        status=kw.get("status", 200),
        started_at=time.time(),
        model_served="gpt-4o",
        input_tokens=10,
        output_tokens=5,
    )


class Sender:
    """Stands in for azure.servicebus.aio.ServiceBusSender: the SDK's real batches, kept
    instead of sent over AMQP."""

    def __init__(self, fail: bool = False):
        self.sent: list = []
        self.fail = fail

    async def create_message_batch(self, max_size_in_bytes: int | None = None):
        return ServiceBusMessageBatch(max_size_in_bytes=max_size_in_bytes or 262144)

    async def send_messages(self, batch):
        if self.fail:
            raise ServiceBusConnectionError(message="the namespace cannot be reached")
        self.sent.extend(batch._messages)

    async def close(self):
        pass


class Receiver:
    """Stands in for ServiceBusReceiver's settlement calls."""

    def __init__(self):
        self.completed, self.abandoned, self.dead_lettered = [], [], []

    async def complete_message(self, message):
        self.completed.append(message)

    async def abandon_message(self, message):
        self.abandoned.append(message)

    async def dead_letter_message(self, message, reason=None, error_description=None):
        self.dead_lettered.append((message, reason))


async def test_batches_become_service_bus_messages(tmp_path):
    sender = Sender()
    writer = EventWriter(None, tmp_path, transport=ServiceBusTransport(sender))
    await writer.start()
    events = [event() for _ in range(700)]  # larger than one Service Bus batch of 256 KB
    for e in events:
        writer.emit(e)
    await writer.flush()
    await writer.stop()
    assert len(sender.sent) == 700
    first = sender.sent[0]
    assert first.message_id == events[0].request_id  # duplicate detection key
    assert first.content_type == "application/json"
    assert first.subject == MESSAGE_SUBJECT
    assert from_message(first) == json.loads(json.dumps(asdict(events[0])))


async def test_an_unreachable_namespace_keeps_the_events(tmp_path):
    sender = Sender(fail=True)
    transport = ServiceBusTransport(sender)
    with pytest.raises(TransportUnavailable):
        await transport.send([asdict(event())])
    writer = EventWriter(None, tmp_path, transport=transport)
    await writer.start()
    writer.emit(event())
    await writer.flush()
    assert len(writer.queue) == 1 and writer.database_down
    sender.fail = False
    await writer.flush()
    await writer.stop()
    assert len(sender.sent) == 1


async def test_the_consumer_writes_what_the_transport_sent_once(db, tmp_path):
    sender = Sender()
    events = [event(status=s) for s in (200, 401, 429)]
    await ServiceBusTransport(sender).send([asdict(e) for e in events])
    stranger = sender.sent[0].__class__("{}", subject="something-else")
    receiver, postgres = Receiver(), RequestLogTransport(db.app)
    queue = ServiceBusQueue(receiver)
    written = await consume_batch(queue, postgres, [*sender.sent, stranger])
    # delivered again (at-least-once): written once
    await consume_batch(queue, postgres, sender.sent)
    await postgres.close()
    assert written == 3
    rows = operator_call(db.admin, "select request_id, status from events.requests")
    assert sorted(rows) == sorted((e.request_id, e.status) for e in events)
    assert len(receiver.completed) == 6
    assert [reason for _, reason in receiver.dead_lettered] == ["not a recordable request event"]


async def test_the_consumer_returns_messages_while_the_database_is_away(db):
    sender = Sender()
    await ServiceBusTransport(sender).send([asdict(event())])
    receiver = Receiver()
    away = RequestLogTransport("postgresql://aigw_app@127.0.0.1:1/nowhere")
    with pytest.raises(TransportUnavailable):
        await consume_batch(ServiceBusQueue(receiver), away, sender.sent)
    assert receiver.abandoned == sender.sent and receiver.completed == []


async def test_a_batch_the_consumer_fails_on_is_returned_and_recorded_once_later(
    db, monkeypatch, caplog
):
    """A failure the consumer did not foresee (here the message lock lost while completing
    a batch already recorded) returns the batch; its redelivery is recorded once, and the
    consumer carries on."""
    monkeypatch.setattr(event_consumer, "BACKOFF_S", 0.01)
    sender = Sender()
    events = [event() for _ in range(3)]
    await ServiceBusTransport(sender).send([asdict(e) for e in events])
    stop = asyncio.Event()

    class Redelivering(Receiver):
        deliveries = 0

        async def receive_messages(self, max_message_count, max_wait_time):
            self.deliveries += 1
            if self.deliveries > 2:
                stop.set()
                return []
            return list(sender.sent)  # until completed, a message comes back

        async def complete_message(self, message):
            if self.deliveries == 1:
                raise MessageLockLostError(message="the lock on the message was lost")
            await super().complete_message(message)

    receiver, postgres = Redelivering(), RequestLogTransport(db.app)
    await asyncio.wait_for(event_consumer.run(ServiceBusQueue(receiver), postgres, stop), 10)
    await postgres.close()
    assert receiver.abandoned == sender.sent
    assert receiver.completed == sender.sent
    rows = operator_call(db.admin, "select request_id from events.requests")
    assert sorted(r for (r,) in rows) == sorted(e.request_id for e in events)
    assert "the consumer failed on a batch" in caplog.text

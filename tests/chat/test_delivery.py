"""Delivery from the event's frame, and the database read after a gap.

A message's layer event carries its frame: a socket that expects exactly
that seq sends it with no database read. An event can still be lost (the
layer is at most once): the next event shows a gap and the socket reads
what it missed, or, for the last one, the process's reconcile does.
"""

import asyncio
import uuid

import pytest

from channels.db import database_sync_to_async
from channels.layers import InMemoryChannelLayer
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from chat import socket
from chat.services.messages import do_send_message
from console.consumers import StaffConsoleConsumer
from realtime import runtime
from realtime.events import collecting_events
from tests.factories import make_conversation, make_operator
from tests.helpers import claim, connect_staff, drain, receive_until, start_visitor
from tests.marks import SOCKET_TESTS

pytestmark = SOCKET_TESTS


@pytest.fixture
def reads(monkeypatch):
    """Count the socket's database reads of messages."""
    calls = []
    original = socket.list_message_frames_after

    def counting(conversation_id, after, *, for_staff):
        calls.append(after)
        return original(conversation_id, after, for_staff=for_staff)

    monkeypatch.setattr(socket, "list_message_frames_after", counting)
    return calls


@pytest.fixture
def dropped(monkeypatch):
    """Drop, on purpose, the operator socket's events of the seqs listed."""
    seqs: set[int] = set()
    original = StaffConsoleConsumer.chat_message

    async def lossy(self, event):
        if event["seq"] in seqs:
            seqs.discard(event["seq"])
            return
        await original(self, event)

    monkeypatch.setattr(StaffConsoleConsumer, "chat_message", lossy)
    return seqs


async def claimed_conversation(service):
    visitor, started = await start_visitor()
    user = await database_sync_to_async(make_operator)(service)
    operator, _hello = await connect_staff(user)
    claimed = await claim(operator)
    assert claimed["id"] == started["conversation"]
    await drain(visitor, wait=0.1)
    return visitor, operator, started["conversation"]


async def send_from_visitor(visitor, texts):
    for text in texts:
        await visitor.send_json_to(
            {"type": "message", "id": str(uuid.uuid4()), "text": text}
        )
        await receive_until(visitor, "ack")


async def messages(communicator, count):
    return [await receive_until(communicator, "message") for _ in range(count)]


async def test_the_next_message_is_delivered_from_the_event_without_a_read(
    national, reads
):
    visitor, operator, conversation_id = await claimed_conversation(national)
    await send_from_visitor(visitor, ["un", "deux", "trois"])
    received = await messages(operator, 3)
    assert [(m["seq"], m["text"]) for m in received] == [
        (1, "un"),
        (2, "deux"),
        (3, "trois"),
    ]
    assert all(m["conversation"] == conversation_id and m["id"] for m in received)
    assert reads == []
    await operator.send_json_to(
        {
            "type": "message",
            "conversation": conversation_id,
            "id": str(uuid.uuid4()),
            "text": "quatre",
        }
    )
    reply = await receive_until(visitor, "message")
    assert (reply["seq"], reply["text"], reply["from"]) == (4, "quatre", "operator")
    assert "conversation" not in reply and "id" not in reply
    assert reads == []
    await visitor.disconnect()
    await operator.disconnect()


async def test_a_missed_event_is_made_up_by_a_read_and_order_is_kept(
    national, reads, dropped, monkeypatch
):
    # Only this test reconciles: the process's periodic pass stays off.
    async def idle():
        await asyncio.Event().wait()

    monkeypatch.setattr(runtime, "_run_forever", idle)
    visitor, operator, _conversation_id = await claimed_conversation(national)
    dropped.update({2, 5})
    await send_from_visitor(visitor, ["un", "deux", "trois", "quatre"])
    received = await messages(operator, 4)
    # 2 is read when 3's event shows the gap (the read may bring 4 too).
    assert [(m["seq"], m["text"]) for m in received] == [
        (1, "un"),
        (2, "deux"),
        (3, "trois"),
        (4, "quatre"),
    ]
    # 5 is the last: nothing shows its gap until the reconcile reads it.
    await send_from_visitor(visitor, ["cinq"])
    assert reads == [1]
    # The operator is behind (the visitor may be too, on its own message,
    # which it skips without a read).
    assert await runtime.reconcile_now() >= 1
    last = await receive_until(operator, "message")
    assert (last["seq"], last["text"]) == (5, "cinq")
    assert reads == [1, 4]
    assert [f for f in await drain(operator, wait=0.2) if f["type"] == "message"] == []
    await visitor.disconnect()
    await operator.disconnect()


def test_storing_a_message_is_two_statements(national):
    conversation, _token = make_conversation(national)
    with CaptureQueriesContext(connection) as queries:
        message, created = do_send_message(
            conversation.id, sender="visitor", body="bonjour", client_id=uuid.uuid4()
        )
    assert created and message.seq == 1
    statements = [
        q["sql"]
        for q in queries
        if not q["sql"].startswith(("BEGIN", "SAVEPOINT", "RELEASE", "COMMIT"))
    ]
    assert len(statements) == 2, statements
    conversation.refresh_from_db()
    assert conversation.last_seq == 1


async def test_a_queue_change_is_read_once_for_every_operator_socket(
    national, feed_reads
):
    reads_of_queue = feed_reads("list_queue_snapshots")
    operators = []
    for index in range(4):
        user = await database_sync_to_async(make_operator)(
            national, pseudonym=f"Opérateur {index}"
        )
        operators.append((await connect_staff(user))[0])
    visitor, started = await start_visitor()
    for operator in operators:
        queue = await receive_until(operator, "queue")
        assert [item["conversation"] for item in queue["items"]] == [
            started["conversation"]
        ]
    assert reads_of_queue == [[national.id]]
    await visitor.disconnect()
    for operator in operators:
        await operator.disconnect()


def test_an_arrival_sends_one_queue_event_whatever_the_queue(national):
    """Places are no events: each process's feed reads them once."""
    for _ in range(3):
        make_conversation(national)
    with collecting_events() as collected:
        with transaction.atomic():
            make_conversation(national)
    assert [e["type"] for _g, e in collected] == ["console.queue_changed"]


async def test_the_frame_crosses_redis_encrypted(national):
    """The deployed layer (config/settings.py) encrypts every payload."""
    from realtime.layers import PipelinedRedisPubSubChannelLayer

    conversation, _token = await database_sync_to_async(make_conversation)(national)

    def store():
        with collecting_events() as collected, transaction.atomic():
            do_send_message(
                conversation.id,
                sender="visitor",
                body="secret words",
                client_id=uuid.uuid4(),
            )
        return collected

    collected = await database_sync_to_async(store)()
    (event,) = [e for _group, e in collected if e["type"] == "chat.message"]
    assert event["frame"]["text"] == "secret words"
    # Constructing the layer opens no connection; serialize is what publishes.
    layer = PipelinedRedisPubSubChannelLayer(
        hosts=["redis://127.0.0.1:6379/0"], symmetric_encryption_keys=["test key"]
    )
    payload = layer.serialize(event)
    assert b"secret" not in payload
    assert layer.deserialize(payload) == event


async def test_the_demo_layer_sweeps_expiry_at_most_once_a_second(monkeypatch):
    from realtime.layers import RationedInMemoryChannelLayer

    layer = RationedInMemoryChannelLayer(expiry=60)
    sweeps = []
    original = InMemoryChannelLayer._clean_expired

    def counting(self):
        sweeps.append(1)
        original(self)

    monkeypatch.setattr(InMemoryChannelLayer, "_clean_expired", counting)
    channel = await layer.new_channel()
    for index in range(5):
        await layer.send(channel, {"type": "x", "n": index})
    assert [(await layer.receive(channel))["n"] for _ in range(5)] == [0, 1, 2, 3, 4]
    assert len(sweeps) == 1
    # Expired messages still go, at the next sweep.
    await layer.send(channel, {"type": "x", "n": 5})
    layer.channels[channel]._queue[0] = (0, layer.channels[channel]._queue[0][1])
    layer._swept_at -= 1.0
    await layer.send(channel, {"type": "x", "n": 6})
    assert (await layer.receive(channel))["n"] == 6
    assert len(sweeps) == 2

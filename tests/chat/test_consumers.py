"""The visitor endpoint, frame by frame, against the real routing."""

import asyncio
import json
import uuid

import pytest

from channels.layers import get_channel_layer
from django.test import override_settings

from chat import events
from chat.models import Conversation, Message
from tests.factories import (
    make_commune,
    make_conversation,
    make_operator,
    make_service,
)
from tests.helpers import (
    assert_no_sealed_field,
    claim,
    connect_staff,
    drain,
    receive_until,
    send_raw,
    start_visitor,
    visitor_communicator,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("runtime_stopped"),
]


@pytest.fixture
def bordeaux(db):
    return make_commune()


@pytest.fixture
def national(db):
    return make_service("national", name="Plateforme nationale")


async def connect_operator(service, pseudonym="Opératrice 12"):
    from channels.db import database_sync_to_async

    user = await database_sync_to_async(make_operator)(service, pseudonym=pseudonym)
    communicator, _hello = await connect_staff(user)
    return communicator, user


async def count(model, **filters):
    from channels.db import database_sync_to_async

    return await database_sync_to_async(
        lambda: model.objects.filter(**filters).count()
    )()


async def test_start_opens_a_waiting_conversation(bordeaux, national):
    visitor, started = await start_visitor()
    assert started["type"] == "started"
    assert started["service"] == "national"
    assert started["service_name"] == "Plateforme nationale"
    assert started["queue"] == {"position": 1, "estimated_wait_s": 120}
    assert len(started["token"]) >= 40
    conversation = await Conversation.objects.aget(id=started["conversation"])
    assert conversation.status == "waiting"
    assert conversation.token_hash != started["token"]
    await visitor.disconnect()


async def test_token_is_stored_only_as_hash(bordeaux, national):
    visitor, started = await start_visitor()
    rows = [
        row
        async for row in Conversation.objects.filter(
            id=started["conversation"]
        ).values()
    ]
    stored = json.dumps([str(value) for value in rows[0].values()])
    assert started["token"] not in stored
    await visitor.disconnect()


async def test_first_frame_must_be_start_or_resume(bordeaux, national):
    visitor = visitor_communicator()
    await visitor.connect()
    for frame in (
        {"type": "message", "id": str(uuid.uuid4()), "text": "bonjour"},
        {"type": "sync", "after": 0},
        {"type": "typing", "active": True},
        {"type": "leave"},
    ):
        await visitor.send_json_to(frame)
        error = await visitor.receive_json_from()
        assert error["code"] == "bad_state", frame
    assert await count(Conversation) == 0
    assert await count(Message) == 0
    await visitor.disconnect()


@pytest.mark.parametrize(
    ("place", "role", "code"),
    [
        ("99999", "victim", "invalid_place"),
        ("", "victim", "invalid_place"),
        ("Atlantis-sur-Mer", "victim", "invalid_place"),
        (42, "victim", "invalid_place"),
        ("33000", "villain", "invalid_role"),
        ("33000", None, "invalid_role"),
    ],
)
async def test_bad_start_changes_nothing(bordeaux, national, place, role, code):
    visitor, error = await start_visitor(place=place, role=role)
    assert error["type"] == "error"
    assert error["code"] == code
    assert error["message"]
    assert await count(Conversation) == 0
    # The socket stays usable.
    await visitor.send_json_to({"type": "start", "place": "33000", "role": "victim"})
    assert (await visitor.receive_json_from())["type"] == "started"
    await visitor.disconnect()


async def test_ambiguous_postal_code_offers_choices(db, national):
    from channels.db import database_sync_to_async

    await database_sync_to_async(make_commune)(
        "01053", "Bourg-en-Bresse", postal_codes=("01000",), department="01"
    )
    await database_sync_to_async(make_commune)(
        "01344", "Saint-Denis-lès-Bourg", postal_codes=("01000",), department="01"
    )
    visitor, error = await start_visitor(place="01000")
    assert error["code"] == "ambiguous_place"
    assert {choice["code_insee"] for choice in error["choices"]} == {"01053", "01344"}
    assert await count(Conversation) == 0
    await visitor.send_json_to({"type": "start", "place": "01344", "role": "witness"})
    started = await visitor.receive_json_from()
    assert started["type"] == "started"
    conversation = await Conversation.objects.aget(id=started["conversation"])
    assert conversation.commune_id is not None
    await visitor.disconnect()


async def test_unknown_service_is_refused(bordeaux, national):
    visitor, error = await start_visitor(service="nope")
    assert error["code"] == "invalid_service"
    assert await count(Conversation) == 0
    await visitor.disconnect()


def conversation_groups() -> dict[str, set[str]]:
    """The in-memory layer's conversation and visitor groups, with members."""
    groups = get_channel_layer().groups
    return {
        name: set(members)
        for name, members in groups.items()
        if members and name.startswith(("conv.", "visitor."))
    }


async def test_a_start_joins_its_groups_first_and_a_refused_one_leaves_them(
    bordeaux, national
):
    """The socket picks the id and joins the groups before opening it."""
    visitor, error = await start_visitor(service="nope")
    assert error["code"] == "invalid_service"
    assert conversation_groups() == {}
    await visitor.send_json_to({"type": "start", "place": "33000", "role": "victim"})
    started = await receive_until(visitor, "started")
    conversation = uuid.UUID(started["conversation"])
    groups = conversation_groups()
    assert set(groups) == {
        events.conversation_group_name(conversation),
        events.visitor_group_name(conversation),
    }
    [members] = {frozenset(members) for members in groups.values()}
    assert len(members) == 1
    await visitor.disconnect()
    assert conversation_groups() == {}


async def test_closed_service_gives_hours_and_emergency_numbers(bordeaux, db):
    from channels.db import database_sync_to_async

    await database_sync_to_async(make_service)(
        "night",
        name="Ligne de nuit",
        is_default=True,
        opening_hours={
            day: [] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
        }
        | {"mon": [["03:00", "03:01"]]},
        hours_text="lundi 3 h – 3 h 01",
    )
    visitor, error = await start_visitor()
    assert error["code"] == "service_closed"
    for number in ("17", "112", "114"):
        assert number in error["message"]
    assert "lundi 3 h" in error["message"]
    assert await count(Conversation) == 0
    await visitor.disconnect()


async def test_message_is_acked_with_gapless_seq_and_stored_once(bordeaux, national):
    visitor, started = await start_visitor()
    ids = [str(uuid.uuid4()) for _ in range(3)]
    for index, client_id in enumerate(ids, start=1):
        await visitor.send_json_to(
            {"type": "message", "id": client_id, "text": f"m{index}"}
        )
        ack = await receive_until(visitor, "ack")
        assert ack == {"type": "ack", "id": client_id, "seq": index}
    # The same id again: the original ack, nothing stored twice.
    await visitor.send_json_to({"type": "message", "id": ids[1], "text": "m2 again"})
    ack = await receive_until(visitor, "ack")
    assert ack["seq"] == 2
    seqs = [
        m.seq
        async for m in Message.objects.filter(conversation_id=started["conversation"])
    ]
    assert seqs == [1, 2, 3]
    await visitor.disconnect()


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ({"type": "message", "text": "no id"}, "bad_request"),
        ({"type": "message", "id": "not-a-uuid", "text": "x"}, "bad_request"),
        ({"type": "message", "id": str(uuid.uuid4())}, "bad_request"),
        ({"type": "message", "id": str(uuid.uuid4()), "text": 12}, "bad_request"),
        ({"type": "message", "id": str(uuid.uuid4()), "text": "   "}, "bad_request"),
        ({"type": "message", "id": str(uuid.uuid4()), "text": "x" * 4001}, "too_large"),
        ({"type": "sync"}, "bad_request"),
        ({"type": "sync", "after": -1}, "bad_request"),
        ({"type": "sync", "after": "3"}, "bad_request"),
        ({"type": "typing", "active": "yes"}, "bad_request"),
        ({"type": "resume", "token": "x" * 43}, "bad_state"),
        ({"type": "start", "place": "33000", "role": "victim"}, "bad_state"),
        (
            {"type": "consent", "request": str(uuid.uuid4()), "accept": True},
            "not_found",
        ),
        ({"type": "consent", "request": 3, "accept": True}, "bad_request"),
        ({"type": "teleport"}, "unknown_type"),
        ({"no": "type"}, "bad_request"),
    ],
)
async def test_bad_frames_get_errors_and_change_nothing(
    bordeaux, national, frame, code
):
    visitor, started = await start_visitor()
    before = await Conversation.objects.aget(id=started["conversation"])
    await visitor.send_json_to(frame)
    error = await receive_until(visitor, "error")
    assert error["code"] == code
    if isinstance(frame.get("id"), str):
        assert error["ref"] == frame["id"]
    after = await Conversation.objects.aget(id=started["conversation"])
    assert (after.status, after.last_seq) == (before.status, before.last_seq)
    assert await count(Message) == 0
    await visitor.disconnect()


async def test_malformed_and_oversized_frames(bordeaux, national):
    visitor, started = await start_visitor()
    await send_raw(visitor, "{not json")
    assert (await receive_until(visitor, "error"))["code"] == "bad_json"
    await send_raw(visitor, json.dumps([1, 2]))
    assert (await receive_until(visitor, "error"))["code"] == "bad_request"
    await send_raw(
        visitor,
        json.dumps({"type": "message", "id": str(uuid.uuid4()), "text": "é" * 9000}),
    )
    assert (await receive_until(visitor, "error"))["code"] == "too_large"
    await visitor.send_to(bytes_data=b"\x00\x01")
    assert (await receive_until(visitor, "error"))["code"] == "bad_json"
    assert await count(Message) == 0
    # Still open and working.
    await visitor.send_json_to(
        {"type": "message", "id": str(uuid.uuid4()), "text": "ok"}
    )
    assert (await receive_until(visitor, "ack"))["seq"] == 1
    await visitor.disconnect()


@override_settings(
    CHAT_RATE_PER_SECOND=10.0, CHAT_RATE_BURST=20, CHAT_FLOOD_CLOSE_AFTER=30
)
async def test_flood_is_rate_limited_then_closed(bordeaux, national, clock):
    visitor, started = await start_visitor()
    for _ in range(25):
        await visitor.send_json_to({"type": "typing", "active": True})
    frames = await drain(visitor, 0.5)
    codes = [frame.get("code") for frame in frames if frame["type"] == "error"]
    assert "rate_limited" in codes
    # Rate-limited frames are dropped, the socket stays open; a second
    # later the bucket has refilled.
    clock.advance(1.1)
    await visitor.send_json_to(
        {"type": "message", "id": str(uuid.uuid4()), "text": "ok"}
    )
    assert (await receive_until(visitor, "ack"))["seq"] == 1
    for _ in range(80):
        await visitor.send_json_to({"type": "typing", "active": False})
    output = []
    while True:
        out = await visitor.receive_output(timeout=2)
        output.append(out)
        if out["type"] == "websocket.close":
            break
    assert output[-1]["code"] == 4429
    assert await count(Message) == 1


async def test_resume_after_drop_gets_exactly_the_missed_messages(bordeaux, national):
    visitor, started = await start_visitor()
    operator, _user = await connect_operator(national)
    claimed = await claim(operator, started["conversation"])
    conversation_id = claimed["id"]
    for index in range(5):
        sender = visitor if index % 2 == 0 else operator
        frame = {"type": "message", "id": str(uuid.uuid4()), "text": f"m{index + 1}"}
        if sender is operator:
            frame["conversation"] = conversation_id
        await sender.send_json_to(frame)
        assert (await receive_until(sender, "ack"))["seq"] == index + 1
    await visitor.disconnect()
    for index in range(3):
        await operator.send_json_to(
            {
                "type": "message",
                "conversation": conversation_id,
                "id": str(uuid.uuid4()),
                "text": f"later {index}",
            }
        )
        assert (await receive_until(operator, "ack"))["seq"] == 6 + index

    again = visitor_communicator()
    await again.connect()
    await again.send_json_to(
        {"type": "resume", "token": started["token"], "last_seq": 5}
    )
    resumed = await again.receive_json_from()
    assert resumed["type"] == "resumed"
    assert resumed["status"] == "active"
    frames = [await again.receive_json_from() for _ in range(3)]
    assert [frame["seq"] for frame in frames] == [6, 7, 8]
    assert [frame["text"] for frame in frames] == ["later 0", "later 1", "later 2"]
    assert all(frame["from"] == "operator" for frame in frames)
    assert all(frame["name"] == "Opératrice 12" for frame in frames)
    assert await drain(again) == []
    for frame in frames:
        assert_no_sealed_field(frame)
    await again.disconnect()
    await operator.disconnect()


async def test_resume_with_a_bad_token_closes_4404(bordeaux, national):
    visitor = visitor_communicator()
    await visitor.connect()
    await visitor.send_json_to({"type": "resume", "token": "x" * 43, "last_seq": 0})
    error = await visitor.receive_json_from()
    assert error["code"] == "not_found"
    closed = await visitor.receive_output()
    assert closed == {"type": "websocket.close", "code": 4404}


async def test_resume_rejects_bad_fields(bordeaux, national):
    visitor = visitor_communicator()
    await visitor.connect()
    await visitor.send_json_to({"type": "resume", "token": 42})
    assert (await visitor.receive_json_from())["code"] == "bad_request"
    await visitor.send_json_to({"type": "resume", "token": "x" * 43, "last_seq": "5"})
    assert (await visitor.receive_json_from())["code"] == "bad_request"
    await visitor.disconnect()


async def test_sync_returns_every_message_after(bordeaux, national):
    visitor, started = await start_visitor()
    for index in range(4):
        await visitor.send_json_to(
            {"type": "message", "id": str(uuid.uuid4()), "text": f"m{index}"}
        )
        await receive_until(visitor, "ack")
    await visitor.send_json_to({"type": "sync", "after": 2})
    frames = [await visitor.receive_json_from() for _ in range(2)]
    assert [(f["seq"], f["from"], f["text"]) for f in frames] == [
        (3, "visitor", "m2"),
        (4, "visitor", "m3"),
    ]
    assert await drain(visitor) == []
    await visitor.disconnect()


async def test_operator_and_visitor_exchange_messages_and_typing(bordeaux, national):
    visitor, started = await start_visitor()
    operator, _user = await connect_operator(national)
    claimed = await claim(operator)
    conversation_id = claimed["id"]
    assert conversation_id == started["conversation"]
    joined = await receive_until(visitor, "joined")
    assert joined == {"type": "joined", "role": "operator", "name": "Opératrice 12"}

    await visitor.send_json_to({"type": "typing", "active": True})
    typing = await receive_until(operator, "typing")
    assert typing == {
        "type": "typing",
        "conversation": conversation_id,
        "from": "visitor",
        "active": True,
    }

    client_id = str(uuid.uuid4())
    await visitor.send_json_to(
        {"type": "message", "id": client_id, "text": "J'ai besoin d'aide"}
    )
    assert (await receive_until(visitor, "ack"))["seq"] == 1
    received = await receive_until(operator, "message")
    assert received["text"] == "J'ai besoin d'aide"
    assert received["from"] == "visitor"
    assert received["conversation"] == conversation_id

    await operator.send_json_to(
        {"type": "typing", "conversation": conversation_id, "active": True}
    )
    assert (await receive_until(visitor, "typing")) == {
        "type": "typing",
        "from": "operator",
        "active": True,
    }
    await operator.send_json_to(
        {
            "type": "message",
            "conversation": conversation_id,
            "id": str(uuid.uuid4()),
            "text": "Je vous écoute.",
        }
    )
    assert (await receive_until(operator, "ack"))["seq"] == 2
    reply = await receive_until(visitor, "message")
    assert reply["from"] == "operator"
    assert reply["name"] == "Opératrice 12"
    assert reply["seq"] == 2
    assert "staff" not in json.dumps(reply)
    # The sender gets an ack, not a copy.
    assert [f for f in await drain(visitor) if f["type"] == "message"] == []
    assert [f for f in await drain(operator) if f["type"] == "message"] == []
    await visitor.disconnect()
    await operator.disconnect()


async def test_leave_closes_the_conversation_for_everyone(bordeaux, national):
    visitor, started = await start_visitor()
    operator, _ = await connect_operator(national)
    await claim(operator)
    await visitor.send_json_to({"type": "leave"})
    assert (await receive_until(visitor, "closed"))["reason"] == "visitor_left"
    closed = await receive_until(operator, "closed")
    assert closed["reason"] == "visitor_left"
    conversation = await Conversation.objects.aget(id=started["conversation"])
    assert conversation.status == "closed"
    assert conversation.outcome == "visitor_left"
    await visitor.send_json_to(
        {"type": "message", "id": str(uuid.uuid4()), "text": "encore"}
    )
    assert (await receive_until(visitor, "error"))["code"] == "bad_state"
    assert await count(Message) == 0
    await visitor.disconnect()
    await operator.disconnect()


async def test_queue_position_updates_when_someone_ahead_is_claimed(bordeaux, national):
    first, _ = await start_visitor()
    second, started = await start_visitor()
    assert started["queue"]["position"] == 2
    operator, _ = await connect_operator(national)
    await claim(operator)
    update = await receive_until(second, "queue")
    assert update["position"] == 1
    assert update["estimated_wait_s"] >= 0
    for communicator in (first, second, operator):
        await communicator.disconnect()


async def test_resume_of_a_waiting_conversation_sends_its_position(bordeaux, national):
    visitor, started = await start_visitor()
    await visitor.disconnect()
    again = visitor_communicator()
    await again.connect()
    await again.send_json_to(
        {"type": "resume", "token": started["token"], "last_seq": 0}
    )
    assert (await again.receive_json_from())["status"] == "waiting"
    queue = await again.receive_json_from()
    assert queue["type"] == "queue"
    assert queue["position"] == 1
    await again.disconnect()


async def test_origin_is_checked(bordeaux, national):
    from channels.testing import WebsocketCommunicator

    from config.asgi import build_websocket_app

    for origin in (b"http://evil.example", b"null", b"http://testserver.evil.example"):
        communicator = WebsocketCommunicator(
            build_websocket_app(), "/ws/chat/", headers=[(b"origin", origin)]
        )
        connected, _ = await communicator.connect()
        assert not connected, origin
    communicator = WebsocketCommunicator(build_websocket_app(), "/ws/chat/")
    connected, _ = await communicator.connect()
    assert not connected


async def test_estimated_wait_comes_from_recent_waits(bordeaux, national):
    from channels.db import database_sync_to_async
    from django.utils import timezone

    from chat.models import ClaimRecord

    def record():
        for waited in (30, 60, 90):
            ClaimRecord.objects.create(
                service=national,
                waited_seconds=waited,
                position_at_start=1,
                claimed_at=timezone.now(),
            )
        make_conversation(national)

    await database_sync_to_async(record)()
    visitor, started = await start_visitor()
    assert started["queue"] == {"position": 2, "estimated_wait_s": 120}
    await visitor.disconnect()


async def test_a_consumer_that_crashes_leaves_no_presence_row(
    bordeaux, national, monkeypatch
):
    """disconnect() does not run on a crash; the row must go all the same."""
    from chat.models import Connection
    from visitor.consumers import VisitorChatConsumer

    async def explode(self, text_data=None, bytes_data=None):
        raise RuntimeError("boom")

    visitor, started = await start_visitor()
    assert await count(Connection) == 1
    # Handlers' errors are survived (issue 11); a crash outside them is not.
    monkeypatch.setattr(VisitorChatConsumer, "receive", explode)
    await visitor.send_json_to({"type": "sync", "after": 0})
    # The application's task ends with the crash; waiting on it directly
    # returns then, where ``receive_output`` waits out its whole timeout.
    with pytest.raises(RuntimeError):
        await asyncio.wait_for(visitor.future, timeout=5)
    assert await count(Connection) == 0

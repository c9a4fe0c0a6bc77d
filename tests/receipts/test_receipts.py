"""Receipt codes over the visitor socket (issue 16), against real routing."""

import re
import uuid
from datetime import timedelta

import pytest

from channels.db import database_sync_to_async
from django.test import override_settings
from django.utils import timezone

from chat.models import Conversation
from receipts import services as receipt_services
from receipts.models import Receipt
from retention.purge import do_purge_expired
from tests.factories import make_commune, make_operator, make_service
from tests.helpers import (
    claim,
    connect_staff,
    drain,
    receive_until,
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


@pytest.fixture(autouse=True)
def fresh_throttle():
    receipt_services.global_failures.times.clear()
    yield
    receipt_services.global_failures.times.clear()


async def recover(code):
    visitor = visitor_communicator()
    await visitor.connect()
    await visitor.send_json_to({"type": "recover", "code": code})
    return visitor, await visitor.receive_json_from(timeout=10)


async def test_receipt_brings_the_closed_conversation_back_as_a_follow_up(
    bordeaux, national
):
    visitor, started = await start_visitor()
    user = await database_sync_to_async(make_operator)(national)
    operator, _hello = await connect_staff(user)
    conversation_id = started["conversation"]
    await claim(operator, conversation_id, timeout=10)
    await visitor.send_json_to(
        {"type": "message", "id": str(uuid.uuid4()), "text": "a"}
    )
    await receive_until(visitor, "ack")
    await operator.send_json_to(
        {
            "type": "message",
            "conversation": conversation_id,
            "id": str(uuid.uuid4()),
            "text": "b",
        }
    )
    await receive_until(operator, "ack")
    await operator.send_json_to(
        {"type": "note", "conversation": conversation_id, "text": "menaces par SMS"}
    )
    await receive_until(operator, "note")

    await visitor.send_json_to({"type": "receipt"})
    receipt = await receive_until(visitor, "receipt", timeout=10)
    assert re.fullmatch(r"\d{4} \d{4} \d{4} \d{4}", receipt["code"])
    stored = await database_sync_to_async(Receipt.objects.get)(
        conversation_id=conversation_id
    )
    digits = receipt["code"].replace(" ", "")
    assert digits not in stored.code_hash and stored.code_hash.startswith("$argon2")

    await operator.send_json_to(
        {"type": "close", "conversation": conversation_id, "outcome": "orientation"}
    )
    await receive_until(visitor, "closed", timeout=10)
    await visitor.disconnect()

    again, resumed = await recover(receipt["code"].replace(" ", "-"))
    assert resumed["type"] == "resumed", resumed
    assert resumed["conversation"] == conversation_id
    assert resumed["follow_up"] is True and resumed["status"] == "waiting"
    assert resumed["token"] != started["token"]
    frames = await drain(again)
    texts = [f["text"] for f in frames if f["type"] == "message"]
    assert texts == ["a", "b"]
    assert any(f["type"] == "queue" for f in frames)

    # The operator's console lists it as a follow-up, with the outcome.
    fresh, hello = await connect_staff(user)
    item = next(i for i in hello["queue"] if i["conversation"] == conversation_id)
    assert item["follow_up"]["previous_outcome"] == "orientation"
    view = await claim(fresh, conversation_id, timeout=10)
    assert view["follow_up"]["count"] == 1
    assert [n["text"] for n in view["notes"]] == ["menaces par SMS"]
    assert [m["text"] for m in view["history"]] == ["a", "b"]

    # The old token no longer opens it; the new one does.
    old = visitor_communicator()
    await old.connect()
    await old.send_json_to({"type": "resume", "token": started["token"]})
    assert (await old.receive_json_from())["code"] == "not_found"
    for socket in (again, operator, fresh):
        await socket.disconnect()


async def test_wrong_and_expired_codes_answer_alike(bordeaux, national):
    visitor, started = await start_visitor()
    await visitor.send_json_to({"type": "receipt"})
    code = (await receive_until(visitor, "receipt", timeout=10))["code"]
    await visitor.send_json_to({"type": "leave"})
    await receive_until(visitor, "closed", timeout=10)
    await visitor.disconnect()

    wrong_socket, wrong = await recover("0000 0000 0000 0001")
    # Expire it: closed long ago, then purged.
    long_ago = timezone.now() - timedelta(days=400)
    await database_sync_to_async(
        Conversation.objects.filter(id=started["conversation"]).update
    )(closed_at=long_ago)
    expired_socket, expired = await recover(code)
    await database_sync_to_async(do_purge_expired)()
    assert not await database_sync_to_async(Receipt.objects.exists)()
    purged_socket, purged = await recover(code)
    for answer in (wrong, expired, purged):
        assert answer == wrong
    assert wrong["type"] == "error" and wrong["code"] == "not_found"
    for socket in (wrong_socket, expired_socket, purged_socket):
        await socket.disconnect()


async def test_recover_rejects_malformed_codes(bordeaux, national):
    visitor = visitor_communicator()
    await visitor.connect()
    for code in (42, "1234", "abcd efgh ijkl mnop", "١٢٣٤٥٦٧٨٩٠١٢٣٤٥٦"):
        await visitor.send_json_to({"type": "recover", "code": code})
        assert (await visitor.receive_json_from(timeout=10))["code"] == "bad_request"
    await visitor.disconnect()


@override_settings(RECEIPT_ATTEMPTS_PER_SOCKET=3)
async def test_attempts_are_throttled_per_socket(bordeaux, national):
    visitor = visitor_communicator()
    await visitor.connect()
    for attempt in range(3):
        await visitor.send_json_to(
            {"type": "recover", "code": f"1111 2222 3333 444{attempt}"}
        )
        assert (await visitor.receive_json_from(timeout=10))["code"] == "not_found"
    await visitor.send_json_to({"type": "recover", "code": "1111 2222 3333 4449"})
    assert (await visitor.receive_json_from(timeout=10))["code"] == "rate_limited"
    assert (await visitor.receive_output())["type"] == "websocket.close"


@override_settings(RECEIPT_GLOBAL_FAILURES_PER_MINUTE=2)
async def test_attempts_are_throttled_globally_even_for_a_right_code(
    bordeaux, national
):
    visitor, _started = await start_visitor()
    await visitor.send_json_to({"type": "receipt"})
    code = (await receive_until(visitor, "receipt", timeout=10))["code"]
    await visitor.disconnect()
    for attempt in range(2):
        socket, answer = await recover(f"9999 2222 3333 444{attempt}")
        assert answer["code"] == "not_found"
        await socket.disconnect()
    socket, answer = await recover(code)
    assert answer["code"] == "rate_limited"
    await socket.disconnect()


@override_settings(RECEIPT_FOLLOW_UP_PRIORITY="behind")
async def test_follow_up_priority_behind_new_arrivals(bordeaux, national):
    first, started = await start_visitor()
    await first.send_json_to({"type": "receipt"})
    code = (await receive_until(first, "receipt", timeout=10))["code"]
    await first.send_json_to({"type": "leave"})
    await receive_until(first, "closed", timeout=10)
    await first.disconnect()
    newcomer, _ = await start_visitor()
    again, resumed = await recover(code)
    assert resumed["type"] == "resumed"
    queue = await receive_until(again, "queue", timeout=10)
    assert queue["position"] == 2
    for socket in (again, newcomer):
        await socket.disconnect()


async def test_follow_up_priority_ahead_by_default(bordeaux, national):
    first, started = await start_visitor()
    await first.send_json_to({"type": "receipt"})
    code = (await receive_until(first, "receipt", timeout=10))["code"]
    await first.send_json_to({"type": "leave"})
    await receive_until(first, "closed", timeout=10)
    await first.disconnect()
    newcomer, _ = await start_visitor()
    again, resumed = await recover(code)
    queue = await receive_until(again, "queue", timeout=10)
    assert queue["position"] == 1
    for socket in (again, newcomer):
        await socket.disconnect()


async def test_receipt_needs_a_conversation(bordeaux, national):
    visitor = visitor_communicator()
    await visitor.connect()
    await visitor.send_json_to({"type": "receipt"})
    assert (await visitor.receive_json_from(timeout=10))["code"] == "bad_state"
    await visitor.disconnect()


async def close_by_operator(visitor, started, national):
    user = await database_sync_to_async(make_operator)(national)
    operator, _hello = await connect_staff(user)
    conversation_id = started["conversation"]
    await claim(operator, conversation_id, timeout=10)
    await visitor.send_json_to(
        {"type": "message", "id": str(uuid.uuid4()), "text": "a"}
    )
    await receive_until(visitor, "ack")
    await operator.send_json_to(
        {"type": "close", "conversation": conversation_id, "outcome": "orientation"}
    )
    await receive_until(visitor, "closed", timeout=10)
    return operator


async def test_receipt_after_the_operator_closed_brings_it_back(bordeaux, national):
    visitor, started = await start_visitor()
    operator = await close_by_operator(visitor, started, national)

    # From the end screen, on the socket still attached.
    await visitor.send_json_to({"type": "receipt", "id": "receipt-1"})
    receipt = await receive_until(visitor, "receipt", timeout=10)
    assert re.fullmatch(r"\d{4} \d{4} \d{4} \d{4}", receipt["code"])
    await visitor.disconnect()

    again, resumed = await recover(receipt["code"])
    assert resumed["type"] == "resumed", resumed
    assert resumed["conversation"] == started["conversation"]
    assert resumed["follow_up"] is True and resumed["status"] == "waiting"
    frames = await drain(again)
    assert [f["text"] for f in frames if f["type"] == "message"] == ["a"]
    for socket in (again, operator):
        await socket.disconnect()


async def test_receipt_is_refused_once_the_closed_grace_is_over(bordeaux, national):
    visitor, started = await start_visitor()
    operator = await close_by_operator(visitor, started, national)
    await database_sync_to_async(
        Conversation.objects.filter(id=started["conversation"]).update
    )(closed_at=timezone.now() - timedelta(seconds=601))

    with override_settings(VISITOR_TOKEN_GRACE_SECONDS=600):
        await visitor.send_json_to({"type": "receipt", "id": "receipt-1"})
        error = await receive_until(visitor, "error", timeout=10)
    assert error["code"] == "receipt_too_late" and error["ref"] == "receipt-1"
    assert error["message"]
    assert not await database_sync_to_async(
        Receipt.objects.filter(conversation_id=started["conversation"]).exists
    )()
    for socket in (visitor, operator):
        await socket.disconnect()

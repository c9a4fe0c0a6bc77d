"""The staff endpoint: authorization, queue, claim and conversation actions."""

import uuid

import pytest

from channels.db import database_sync_to_async
from django.contrib.auth.models import User

from chat.models import Conversation, Message, Note
from console.models import StaffProfile
from tests.factories import (
    make_operator,
    make_service,
    make_session_cookie,
    make_staff,
)
from tests.helpers import (
    assert_no_sealed_field,
    claim,
    connect_staff,
    drain,
    open_conversation,
    receive_queue_showing,
    receive_until,
    send_raw,
    staff_communicator,
)
from tests.marks import SOCKET_TESTS

pytestmark = SOCKET_TESTS


@pytest.fixture
def other_service(db):
    return make_service("enfance", name="Cellule enfance", is_default=False)


async def new_operator(*services, pseudonym=None):
    return await database_sync_to_async(make_operator)(*services, pseudonym=pseudonym)


async def conversation_state(conversation_id):
    conversation = await Conversation.objects.aget(id=conversation_id)
    return conversation.status, conversation.operator_id, conversation.last_seq


async def test_anonymous_socket_is_closed_4401(national):
    staff = staff_communicator(b"sessionid=nope")
    connected, _ = await staff.connect()
    assert connected
    assert await staff.receive_output() == {"type": "websocket.close", "code": 4401}


async def test_logged_in_user_without_staff_profile_is_closed_4403(national):
    user = await database_sync_to_async(User.objects.create_user)(
        "visitor-ish", password="x" * 12
    )
    cookie = await database_sync_to_async(make_session_cookie)(user)
    staff = staff_communicator(cookie)
    await staff.connect()
    assert await staff.receive_output() == {"type": "websocket.close", "code": 4403}


async def test_inactive_staff_is_closed_4401(national):
    user = await new_operator(national)
    cookie = await database_sync_to_async(make_session_cookie)(user)
    user.is_active = False
    await user.asave(update_fields=["is_active"])
    staff = staff_communicator(cookie)
    await staff.connect()
    output = await staff.receive_output()
    assert output["type"] == "websocket.close"
    assert output["code"] in (4401, 4403)


async def test_hello_lists_user_queue_and_own_conversations(national):
    visitor, started = await open_conversation()
    user = await new_operator(national, pseudonym="Opérateur 7")
    staff, hello = await connect_staff(user)
    assert hello["user"] == {
        "name": "Opérateur 7",
        "roles": ["operator"],
        "services": ["national"],
    }
    assert [item["conversation"] for item in hello["queue"]] == [
        started["conversation"]
    ]
    item = hello["queue"][0]
    assert set(item) == {
        "conversation",
        "service",
        "role",
        "place",
        "waiting_s",
        "urgent",
        "minor",
    }
    assert item["place"] == "33000 Bordeaux"
    assert hello["conversations"] == []
    assert_no_sealed_field(hello)
    await staff.disconnect()
    await visitor.disconnect()


async def test_claim_next_specific_already_claimed_and_queue_empty(national):
    visitor, started = await open_conversation()
    first, _ = await connect_staff(await new_operator(national))
    second, _ = await connect_staff(await new_operator(national))
    claimed = await claim(first)
    assert claimed["id"] == started["conversation"]
    assert claimed["history"] == []
    await second.send_json_to(
        {"type": "claim", "conversation": started["conversation"]}
    )
    assert (await receive_until(second, "error"))["code"] == "already_claimed"
    await second.send_json_to({"type": "claim"})
    assert (await receive_until(second, "error"))["code"] == "queue_empty"
    status, operator_id, _ = await conversation_state(started["conversation"])
    assert status == "active"
    for communicator in (first, second, visitor):
        await communicator.disconnect()


async def test_psychologist_cannot_claim(national):
    visitor, started = await open_conversation()
    psychologist = await database_sync_to_async(make_staff)(
        roles=(StaffProfile.Role.PSYCHOLOGIST,), services=(national,)
    )
    staff, _ = await connect_staff(psychologist)
    for frame in (
        {"type": "claim"},
        {"type": "claim", "conversation": started["conversation"]},
    ):
        await staff.send_json_to(frame)
        assert (await receive_until(staff, "error"))["code"] == "forbidden"
    assert await conversation_state(started["conversation"]) == ("waiting", None, 0)
    await staff.disconnect()
    await visitor.disconnect()


async def test_operator_never_sees_or_claims_another_services_conversation(
    national, other_service
):
    visitor, started = await open_conversation("enfance")
    outsider, hello = await connect_staff(await new_operator(national))
    insider, inside_hello = await connect_staff(await new_operator(other_service))
    assert hello["queue"] == []
    assert [item["conversation"] for item in inside_hello["queue"]] == [
        started["conversation"]
    ]
    await outsider.send_json_to(
        {"type": "claim", "conversation": started["conversation"]}
    )
    error = await receive_until(outsider, "error")
    assert error["code"] == "not_found"
    # Same answer as for an id that does not exist at all.
    await outsider.send_json_to({"type": "claim", "conversation": str(uuid.uuid4())})
    assert (await receive_until(outsider, "error"))["message"] == error["message"]
    await outsider.send_json_to({"type": "claim"})
    assert (await receive_until(outsider, "error"))["code"] == "queue_empty"
    for frame_type in ("message", "typing", "sync", "note", "release", "close"):
        await outsider.send_json_to(
            {
                "type": frame_type,
                "conversation": started["conversation"],
                "id": str(uuid.uuid4()),
                "text": "x",
                "active": True,
                "after": 0,
                "outcome": "other",
            }
        )
        assert (await receive_until(outsider, "error"))["code"] == "not_found", (
            frame_type
        )
    await outsider.send_json_to(
        {"type": "flag", "conversation": started["conversation"], "urgent": True}
    )
    assert (await receive_until(outsider, "error"))["code"] == "not_found"
    conversation = await Conversation.objects.aget(id=started["conversation"])
    assert (conversation.status, conversation.urgent, conversation.last_seq) == (
        "waiting",
        False,
        0,
    )
    assert await Note.objects.acount() == 0
    for communicator in (outsider, insider, visitor):
        await communicator.disconnect()


async def claimed_pair(service, pseudonym="Opératrice 12"):
    visitor, started = await open_conversation()
    user = await new_operator(service, pseudonym=pseudonym)
    staff, _ = await connect_staff(user)
    await claim(staff, started["conversation"])
    await receive_until(visitor, "joined")
    return visitor, staff, started["conversation"], user


async def test_release_puts_it_back_at_the_head_of_the_queue(national):
    visitor, staff, conversation_id, _ = await claimed_pair(national)
    later, later_started = await open_conversation()
    await staff.send_json_to({"type": "release", "conversation": conversation_id})
    released = await receive_until(staff, "released")
    assert released["conversation"] == conversation_id
    left = await receive_until(visitor, "left")
    assert left["role"] == "operator"
    await receive_queue_showing(staff, [conversation_id, later_started["conversation"]])
    assert (await receive_until(visitor, "queue"))["position"] == 1
    assert (await conversation_state(conversation_id))[:2] == ("waiting", None)
    # Released: no more messages from this operator.
    await staff.send_json_to(
        {
            "type": "message",
            "conversation": conversation_id,
            "id": str(uuid.uuid4()),
            "text": "x",
        }
    )
    assert (await receive_until(staff, "error"))["code"] == "not_found"
    for communicator in (staff, visitor, later):
        await communicator.disconnect()


async def test_flag_urgent_jumps_the_queue(national):
    first, first_started = await open_conversation()
    second, second_started = await open_conversation()
    staff, _ = await connect_staff(await new_operator(national))
    await staff.send_json_to(
        {
            "type": "flag",
            "conversation": second_started["conversation"],
            "urgent": True,
            "minor": True,
        }
    )
    flagged = await receive_until(staff, "flagged")
    assert flagged == {
        "type": "flagged",
        "conversation": second_started["conversation"],
        "urgent": True,
        "minor": True,
    }
    assert (await receive_until(second, "queue"))["position"] == 1
    await staff.send_json_to(
        {
            "type": "flag",
            "conversation": second_started["conversation"],
            "urgent": "very",
        }
    )
    assert (await receive_until(staff, "error"))["code"] == "bad_request"
    claimed = await claim(staff)
    assert claimed["id"] == second_started["conversation"]
    assert claimed["urgent"] is True
    for communicator in (first, second, staff):
        await communicator.disconnect()


async def test_close_requires_an_outcome_and_tells_the_visitor(national):
    visitor, staff, conversation_id, _ = await claimed_pair(national)
    for bad in (
        {"outcome": "done"},
        {},
        {"outcome": "report", "categories": "x"},
        {"outcome": "report", "categories": [3]},
    ):
        await staff.send_json_to(
            {"type": "close", "conversation": conversation_id, **bad}
        )
        assert (await receive_until(staff, "error"))["code"] == "bad_request", bad
    assert (await conversation_state(conversation_id))[0] == "active"
    await staff.send_json_to(
        {
            "type": "close",
            "conversation": conversation_id,
            "outcome": "orientation",
            "categories": ["conjugal"],
        }
    )
    closed = await receive_until(staff, "closed")
    assert closed == {
        "type": "closed",
        "conversation": conversation_id,
        "reason": "closed_by_operator",
    }
    assert (await receive_until(visitor, "closed"))["reason"] == "closed_by_operator"
    conversation = await Conversation.objects.aget(id=conversation_id)
    assert (conversation.status, conversation.outcome, conversation.categories) == (
        "closed",
        "orientation",
        ["conjugal"],
    )
    await staff.disconnect()
    await visitor.disconnect()


async def test_private_note_never_reaches_the_visitor(national):
    visitor, staff, conversation_id, _ = await claimed_pair(national)
    await staff.send_json_to(
        {
            "type": "note",
            "conversation": conversation_id,
            "text": "NOTE-SECRETE",
            "id": "n1",
        }
    )
    noted = await receive_until(staff, "noted")
    assert noted["conversation"] == conversation_id
    assert noted["id"] == "n1"
    frames = await drain(visitor, 0.5)
    assert "NOTE-SECRETE" not in str(frames)
    assert await Note.objects.acount() == 1
    assert await Message.objects.acount() == 0
    await staff.disconnect()
    await visitor.disconnect()


async def test_transfer_hands_over_to_another_services_queue(national, other_service):
    visitor, staff, conversation_id, _ = await claimed_pair(national)
    await visitor.send_json_to(
        {"type": "message", "id": str(uuid.uuid4()), "text": "mon histoire"}
    )
    await receive_until(visitor, "ack")
    receiver, _ = await connect_staff(await new_operator(other_service))
    await staff.send_json_to(
        {"type": "transfer", "conversation": conversation_id, "service": "nowhere"}
    )
    assert (await receive_until(staff, "error"))["code"] == "invalid_service"
    await staff.send_json_to(
        {"type": "transfer", "conversation": conversation_id, "service": "enfance"}
    )
    assert (await receive_until(staff, "released"))["reason"] == "transferred"
    await receive_queue_showing(receiver, [conversation_id])
    claimed = await claim(receiver)
    assert [m["text"] for m in claimed["history"]] == ["mon histoire"]
    for communicator in (staff, receiver, visitor):
        await communicator.disconnect()


async def test_reconnecting_operator_gets_conversations_with_history(national):
    visitor, staff, conversation_id, user = await claimed_pair(national)
    await visitor.send_json_to(
        {"type": "message", "id": str(uuid.uuid4()), "text": "un"}
    )
    await receive_until(staff, "message")
    await staff.disconnect()
    await visitor.send_json_to(
        {"type": "message", "id": str(uuid.uuid4()), "text": "deux"}
    )
    await receive_until(visitor, "ack")
    again, hello = await connect_staff(user)
    [conversation] = hello["conversations"]
    assert conversation["id"] == conversation_id
    assert [m["text"] for m in conversation["history"]] == ["un", "deux"]
    assert [m["seq"] for m in conversation["history"]] == [1, 2]
    await visitor.send_json_to(
        {"type": "message", "id": str(uuid.uuid4()), "text": "trois"}
    )
    assert (await receive_until(again, "message"))["seq"] == 3
    await again.send_json_to(
        {"type": "sync", "conversation": conversation_id, "after": 1}
    )
    synced = [await receive_until(again, "message") for _ in range(2)]
    assert [m["seq"] for m in synced] == [2, 3]
    await again.disconnect()
    await visitor.disconnect()


async def test_second_console_tab_sees_the_operators_own_messages(national):
    visitor, staff, conversation_id, user = await claimed_pair(national)
    second_tab, hello = await connect_staff(user)
    assert [c["id"] for c in hello["conversations"]] == [conversation_id]
    await staff.send_json_to(
        {
            "type": "message",
            "conversation": conversation_id,
            "id": str(uuid.uuid4()),
            "text": "bonjour",
        }
    )
    await receive_until(staff, "ack")
    copy = await receive_until(second_tab, "message")
    assert (copy["from"], copy["text"]) == ("operator", "bonjour")
    for communicator in (staff, second_tab, visitor):
        await communicator.disconnect()


async def test_staff_bad_frames_change_nothing(national):
    visitor, staff, conversation_id, _ = await claimed_pair(national)
    before = await conversation_state(conversation_id)
    await send_raw(staff, "]]")
    assert (await receive_until(staff, "error"))["code"] == "bad_json"
    cases = [
        ({"type": "warp"}, "unknown_type"),
        (
            {
                "type": "message",
                "conversation": "nope",
                "id": str(uuid.uuid4()),
                "text": "x",
            },
            "bad_request",
        ),
        (
            {
                "type": "message",
                "conversation": conversation_id,
                "id": "nope",
                "text": "x",
            },
            "bad_request",
        ),
        (
            {
                "type": "message",
                "conversation": conversation_id,
                "id": str(uuid.uuid4()),
                "text": "y" * 4001,
            },
            "too_large",
        ),
        ({"type": "claim", "conversation": 5}, "bad_request"),
        (
            {"type": "sync", "conversation": conversation_id, "after": None},
            "bad_request",
        ),
        (
            {"type": "typing", "conversation": conversation_id, "active": 1},
            "bad_request",
        ),
        (
            {"type": "transfer", "conversation": conversation_id, "service": 3},
            "bad_request",
        ),
        ({"type": "flag", "conversation": 3, "urgent": True}, "bad_request"),
        (
            {"type": "invite", "conversation": conversation_id, "role": "psychologist"},
            "none_available",
        ),
        (
            {"type": "invite", "conversation": conversation_id, "role": "wizard"},
            "bad_request",
        ),
        (
            {
                "type": "invite",
                "conversation": conversation_id,
                "role": "operator",
                "service": 3,
            },
            "bad_request",
        ),
        (
            {
                "type": "invite",
                "conversation": conversation_id,
                "role": "psychologist",
                "summary": 5,
            },
            "bad_request",
        ),
        (
            {"type": "send_resource", "conversation": conversation_id, "resource": "x"},
            "not_found",
        ),
        (
            {"type": "request_consent", "conversation": conversation_id},
            "no_consent_text",
        ),
        ({"type": "join", "conversation": conversation_id}, "forbidden"),
        ({"type": "join", "conversation": "nope"}, "not_found"),
        ({"type": "leave", "conversation": conversation_id}, "bad_state"),
        (
            {"type": "whisper", "conversation": conversation_id, "text": ""},
            "bad_request",
        ),
        ({"type": "board"}, "forbidden"),
        (
            {"type": "canned_save", "service": "national", "title": "t", "text": "x"},
            "forbidden",
        ),
        ({"type": "auto_assign", "enabled": "yes"}, "bad_request"),
    ]
    for frame, code in cases:
        await staff.send_json_to(frame)
        assert (await receive_until(staff, "error"))["code"] == code, frame
    assert await conversation_state(conversation_id) == before
    assert await Message.objects.acount() == 0
    await staff.disconnect()
    await visitor.disconnect()

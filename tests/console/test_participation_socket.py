"""Staff console over its WebSocket: participation frames on the wire.

The services behind these frames, and the events they emit, are tested
without sockets in test_participation.py.

Every refusal is checked to change nothing; staff-only content (summaries,
whispers, silent joins) is checked never to reach the visitor's socket.
"""

import asyncio
import uuid

import pytest

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.contrib.sessions.models import Session
from django.utils import timezone

from chat import events
from chat.models import Connection, Conversation, Message
from console.models import CannedAnswer, Invitation, Participant, StaffProfile, Whisper
from console.services import do_auto_assign, do_create_login_session
from tests.factories import make_conversation, make_service, make_staff
from tests.helpers import (
    assert_no_sealed_field,
    claim,
    connect_staff,
    drain,
    open_conversation,
    receive_until,
    staff_communicator,
)
from tests.marks import SOCKET_TESTS

pytestmark = SOCKET_TESTS

OP = StaffProfile.Role.OPERATOR
PSY = StaffProfile.Role.PSYCHOLOGIST
SUP = StaffProfile.Role.SUPERVISOR


@pytest.fixture
def enfance(db):
    return make_service("enfance", name="Cellule enfance", is_default=False)


async def new_staff(*services, roles=(OP,), pseudonym=None, **profile):
    user = await database_sync_to_async(make_staff)(
        roles=roles, services=services, pseudonym=pseudonym
    )
    if profile:
        await StaffProfile.objects.filter(user=user).aupdate(**profile)
    return user


async def connect(user, *, verified=True):
    key = await database_sync_to_async(do_create_login_session)(user, verified=verified)
    staff = staff_communicator(f"sessionid={key}".encode())
    connected, _ = await staff.connect()
    assert connected
    return staff, key


async def start_visitor(service_slug=None):
    visitor, started = await open_conversation(service_slug)
    return visitor, started["conversation"]


async def claimed(service, pseudonym="Opératrice 12"):
    visitor, conversation_id = await start_visitor()
    operator = await new_staff(service, pseudonym=pseudonym)
    staff, _ = await connect_staff(operator)
    await claim(staff, conversation_id)
    await receive_until(visitor, "joined")
    return visitor, staff, conversation_id


async def state(conversation_id):
    conversation = await Conversation.objects.aget(id=conversation_id)
    return (
        conversation.status,
        conversation.operator_id,
        conversation.service_id,
        conversation.last_seq,
        await Participant.objects.filter(conversation_id=conversation_id).acount(),
        await Invitation.objects.filter(conversation_id=conversation_id).acount(),
    )


async def disconnect(*communicators):
    for communicator in communicators:
        await communicator.disconnect()


# -- authorization ---------------------------------------------------------------


async def test_session_without_second_factor_is_refused_4403(national):
    visitor, conversation_id = await start_visitor()
    operator = await new_staff(national)
    staff, _ = await connect(operator, verified=False)
    assert await staff.receive_output() == {"type": "websocket.close", "code": 4403}
    # Nothing happened: no presence, no claim.
    assert not await Connection.objects.filter(user=operator).aexists()
    assert (await state(conversation_id))[:2] == ("waiting", None)
    # The same account, verified, is let in.
    ok, hello = await connect_staff(operator)
    assert [item["conversation"] for item in hello["queue"]] == [conversation_id]
    await disconnect(ok, visitor)


async def test_expired_or_ended_session_closes_the_socket_4401(national, settings):
    settings.CONSOLE_AUTH_RECHECK_SECONDS = 0.2
    operator = await new_staff(national)
    staff, key = await connect(operator)
    assert (await staff.receive_json_from())["type"] == "hello"
    await Session.objects.filter(session_key=key).aupdate(
        expire_date=timezone.now() - timezone.timedelta(seconds=1)
    )
    output = await staff.receive_output(timeout=2)
    assert output == {"type": "websocket.close", "code": 4401}


async def test_removed_second_factor_closes_the_socket_4403(national, settings):
    settings.CONSOLE_AUTH_RECHECK_SECONDS = 0.2
    from django_otp.plugins.otp_totp.models import TOTPDevice

    operator = await new_staff(national)
    staff, _ = await connect(operator)
    assert (await staff.receive_json_from())["type"] == "hello"
    await TOTPDevice.objects.filter(user=operator).adelete()
    output = await staff.receive_output(timeout=2)
    assert output == {"type": "websocket.close", "code": 4403}


async def test_logout_closes_open_consoles_at_once(national):
    operator = await new_staff(national)
    staff, key = await connect(operator)
    assert (await staff.receive_json_from())["type"] == "hello"
    await Session.objects.filter(session_key=key).adelete()
    layer = get_channel_layer()
    await layer.group_send(
        events.user_group_name(operator.id), {"type": "console.session_check"}
    )
    assert await staff.receive_output(timeout=2) == {
        "type": "websocket.close",
        "code": 4401,
    }


async def test_only_supervisors_see_the_board(national, enfance):
    visitor, staff, conversation_id = await claimed(national)
    await staff.send_json_to({"type": "board"})
    assert (await receive_until(staff, "error"))["code"] == "forbidden"
    supervisor = await new_staff(national, roles=(SUP,), pseudonym="Superviseure 1")
    watcher, _ = await connect_staff(supervisor)
    board = await receive_until(watcher, "board")
    assert [c["id"] for c in board["conversations"]] == [conversation_id]
    assert board["conversations"][0]["operator"] == "Opératrice 12"
    names = {member["name"]: member for member in board["staff"]}
    assert names["Opératrice 12"]["load"] == 1
    assert names["Opératrice 12"]["online"] is True
    assert_no_sealed_field(board)
    # A supervisor of another service sees none of it and cannot join.
    elsewhere = await new_staff(enfance, roles=(SUP,))
    other, _ = await connect_staff(elsewhere)
    assert (await receive_until(other, "board"))["conversations"] == []
    before = await state(conversation_id)
    await other.send_json_to({"type": "join", "conversation": conversation_id})
    assert (await receive_until(other, "error"))["code"] == "not_found"
    assert await state(conversation_id) == before
    await disconnect(visitor, staff, watcher, other)


# -- psychologists ----------------------------------------------------------------


async def test_psychologist_joins_only_after_the_visitor_agrees(national):
    visitor, staff, conversation_id = await claimed(national)
    psychologist = await new_staff(national, roles=(PSY,), pseudonym="Psychologue 3")
    psy, psy_hello = await connect_staff(psychologist)
    assert psy_hello["invitations"] == []
    # Before any invitation, the psychologist can neither claim nor join.
    await psy.send_json_to({"type": "claim", "conversation": conversation_id})
    assert (await receive_until(psy, "error"))["code"] == "forbidden"
    await psy.send_json_to({"type": "join", "conversation": conversation_id})
    assert (await receive_until(psy, "error"))["code"] == "forbidden"
    summary = "RESUME-CONFIDENTIEL violences conjugales, a besoin d'écoute"
    await staff.send_json_to(
        {
            "type": "invite",
            "conversation": conversation_id,
            "role": "psychologist",
            "summary": summary,
        }
    )
    asking = await receive_until(staff, "invitation")
    assert (asking["status"], asking["summary"]) == ("asking", summary)
    request = await receive_until(visitor, "participant_request")
    assert request["role"] == "psychologist"
    assert "psychologue" in request["text"]
    assert summary not in str(request)
    # Not offered to the psychologist until the visitor says yes.
    assert "RESUME" not in str(await drain(psy, 0.3))
    await visitor.send_json_to(
        {"type": "participant_answer", "request": request["request"], "accept": True}
    )
    assert (await receive_until(visitor, "participant_answered"))["accept"] is True
    offered = await receive_until(psy, "invitation")
    assert (offered["status"], offered["summary"], offered["name"]) == (
        "offered",
        summary,
        "Opératrice 12",
    )
    assert (await receive_until(staff, "invitation"))["status"] == "offered"
    await visitor.send_json_to(
        {"type": "message", "id": str(uuid.uuid4()), "text": "je veux bien"}
    )
    await receive_until(visitor, "ack")
    await psy.send_json_to({"type": "join", "conversation": conversation_id})
    assigned = await receive_until(psy, "assigned")
    assert assigned["conversation"]["as"] == "psychologist"
    assert [m["text"] for m in assigned["conversation"]["history"]] == ["je veux bien"]
    joined = await receive_until(visitor, "joined")
    assert (joined["role"], joined["name"]) == ("psychologist", "Psychologue 3")
    assert (await receive_until(staff, "joined"))["role"] == "psychologist"
    await psy.send_json_to(
        {
            "type": "message",
            "conversation": conversation_id,
            "id": str(uuid.uuid4()),
            "text": "Bonjour, je suis psychologue.",
        }
    )
    await receive_until(psy, "ack")
    heard = await receive_until(visitor, "message")
    assert (heard["from"], heard["name"]) == ("psychologist", "Psychologue 3")
    assert (await receive_until(staff, "message"))["from"] == "psychologist"
    await psy.send_json_to({"type": "leave", "conversation": conversation_id})
    assert (await receive_until(psy, "released"))["reason"] == "left"
    left = await receive_until(visitor, "left")
    assert (left["role"], left["name"]) == ("psychologist", "Psychologue 3")
    participant = await Participant.objects.aget(conversation_id=conversation_id)
    assert participant.left_at is not None
    # Gone: cannot write any more.
    await psy.send_json_to(
        {
            "type": "message",
            "conversation": conversation_id,
            "id": str(uuid.uuid4()),
            "text": "x",
        }
    )
    assert (await receive_until(psy, "error"))["code"] == "not_found"
    await disconnect(visitor, staff, psy)


async def test_visitor_may_decline_and_then_nobody_joins(national):
    visitor, staff, conversation_id = await claimed(national)
    psychologist = await new_staff(national, roles=(PSY,))
    psy, _ = await connect_staff(psychologist)
    await staff.send_json_to(
        {
            "type": "invite",
            "conversation": conversation_id,
            "role": "psychologist",
            "summary": "SECRET-SUMMARY",
        }
    )
    request = await receive_until(visitor, "participant_request")
    await visitor.send_json_to(
        {"type": "participant_answer", "request": request["request"], "accept": False}
    )
    assert (await receive_until(visitor, "participant_answered"))["accept"] is False
    statuses = [
        frame["status"]
        for frame in await drain(staff, 0.4)
        if frame["type"] == "invitation"
    ]
    assert statuses[-1] == "declined"
    before = await state(conversation_id)
    await psy.send_json_to({"type": "join", "conversation": conversation_id})
    assert (await receive_until(psy, "error"))["code"] == "forbidden"
    # Answering twice changes nothing.
    await visitor.send_json_to(
        {"type": "participant_answer", "request": request["request"], "accept": True}
    )
    assert (await receive_until(visitor, "error"))["code"] == "bad_state"
    assert await state(conversation_id) == before
    assert "SECRET-SUMMARY" not in str(await drain(psy, 0.3))
    assert "SECRET-SUMMARY" not in str(await drain(visitor, 0.3))
    await disconnect(visitor, staff, psy)


async def test_no_psychologist_on_duty_means_no_invitation(national):
    visitor, staff, conversation_id = await claimed(national)
    # On duty only on a day that never matches today's slot list.
    off_duty = await new_staff(
        national,
        roles=(PSY,),
        duty_hours={
            "mon": [],
            "tue": [],
            "wed": [],
            "thu": [],
            "fri": [],
            "sat": [],
            "sun": [],
        },
    )
    psy, hello = await connect_staff(off_duty)
    assert hello["on_duty"] is False
    await staff.send_json_to(
        {"type": "invite", "conversation": conversation_id, "role": "psychologist"}
    )
    assert (await receive_until(staff, "error"))["code"] == "none_available"
    assert not await Invitation.objects.aexists()
    assert await drain(visitor, 0.3) == []
    await disconnect(visitor, staff, psy)


# -- warm handover ---------------------------------------------------------------------


async def test_warm_handover_to_a_colleague_of_another_service(national, enfance):
    visitor, staff, conversation_id = await claimed(national)
    await visitor.send_json_to(
        {"type": "message", "id": str(uuid.uuid4()), "text": "mon histoire"}
    )
    await receive_until(visitor, "ack")
    colleague_user = await new_staff(enfance, pseudonym="Opératrice 21")
    colleague, hello = await connect_staff(colleague_user)
    assert hello["queue"] == []
    # Not invited yet: the other service's operator cannot join.
    await colleague.send_json_to({"type": "join", "conversation": conversation_id})
    assert (await receive_until(colleague, "error"))["code"] == "not_found"
    await staff.send_json_to(
        {
            "type": "invite",
            "conversation": conversation_id,
            "role": "operator",
            "service": "enfance",
            "summary": "enfant exposé",
        }
    )
    request = await receive_until(visitor, "participant_request")
    assert request["role"] == "operator"
    await visitor.send_json_to(
        {"type": "participant_answer", "request": request["request"], "accept": True}
    )
    offered = await receive_until(colleague, "invitation")
    assert offered["summary"] == "enfant exposé"
    await colleague.send_json_to({"type": "join", "conversation": conversation_id})
    assigned = await receive_until(colleague, "assigned")
    assert assigned["conversation"]["as"] == "colleague"
    assert [m["text"] for m in assigned["conversation"]["history"]] == ["mon histoire"]
    assert (await receive_until(visitor, "joined"))["name"] == "Opératrice 21"
    await staff.send_json_to({"type": "leave", "conversation": conversation_id})
    assert (await receive_until(staff, "released"))["reason"] == "handed_over"
    left = await receive_until(visitor, "left")
    assert left["name"] == "Opératrice 12"
    handed = await receive_until(colleague, "handed_over")
    assert handed["you"] is True
    conversation = await Conversation.objects.aget(id=conversation_id)
    assert (conversation.operator_id, conversation.service_id, conversation.status) == (
        colleague_user.id,
        enfance.id,
        "active",
    )
    await colleague.send_json_to(
        {"type": "close", "conversation": conversation_id, "outcome": "orientation"}
    )
    assert (await receive_until(visitor, "closed"))["reason"] == "closed_by_operator"
    await disconnect(visitor, staff, colleague)


# -- supervisors -------------------------------------------------------------------------


async def test_supervisor_watches_silently_and_whispers_never_reach_the_visitor(
    national,
):
    visitor, staff, conversation_id = await claimed(national)
    supervisor = await new_staff(national, roles=(SUP,), pseudonym="Superviseure 1")
    watcher, _ = await connect_staff(supervisor)
    # Listen on the visitor's group itself: no staff-only event may go there.
    layer = get_channel_layer()
    spy = await layer.new_channel()
    await layer.group_add(events.conversation_group_name(conversation_id), spy)
    await watcher.send_json_to({"type": "join", "conversation": conversation_id})
    watched = await receive_until(watcher, "assigned")
    assert watched["conversation"]["as"] == "supervisor"
    seen = await receive_until(staff, "joined")
    assert (seen["role"], seen["silent"]) == ("supervisor", True)
    await watcher.send_json_to(
        {"type": "typing", "conversation": conversation_id, "active": True}
    )
    await watcher.send_json_to(
        {
            "type": "whisper",
            "conversation": conversation_id,
            "text": "WHISPER-42 propose le 3919",
            "id": "w1",
        }
    )
    assert (await receive_until(watcher, "whispered"))["id"] == "w1"
    whisper = await receive_until(staff, "whisper")
    assert (whisper["text"], whisper["name"], whisper["from"]) == (
        "WHISPER-42 propose le 3919",
        "Superviseure 1",
        "supervisor",
    )
    await staff.send_json_to(
        {"type": "whisper", "conversation": conversation_id, "text": "WHISPER-43 merci"}
    )
    whispers = [(await receive_until(watcher, "whisper"))["text"] for _ in range(2)]
    assert whispers == ["WHISPER-42 propose le 3919", "WHISPER-43 merci"]
    await staff.send_json_to(
        {"type": "note", "conversation": conversation_id, "text": "NOTE-44"}
    )
    assert (await receive_until(watcher, "note"))["text"] == "NOTE-44"
    visitor_frames = await drain(visitor, 0.5)
    assert visitor_frames == [], visitor_frames
    spied = []
    while len(spied) < 50:
        try:
            spied.append(await asyncio.wait_for(layer.receive(spy), 0.2))
        except TimeoutError:
            break
    assert "WHISPER" not in str(spied) and "NOTE-44" not in str(spied), spied
    assert all(event["type"].startswith("chat.") for event in spied), spied
    assert await Whisper.objects.acount() == 2
    assert await Message.objects.filter(conversation_id=conversation_id).acount() == 0
    # Writing into the conversation makes the supervisor visible.
    await watcher.send_json_to(
        {
            "type": "message",
            "conversation": conversation_id,
            "id": str(uuid.uuid4()),
            "text": "Bonjour, superviseure.",
        }
    )
    await receive_until(watcher, "ack")
    joined = await receive_until(visitor, "joined")
    assert (joined["role"], joined["name"]) == ("supervisor", "Superviseure 1")
    message = await receive_until(visitor, "message")
    assert (message["from"], message["text"]) == (
        "supervisor",
        "Bonjour, superviseure.",
    )
    await disconnect(visitor, staff, watcher)


async def test_canned_answers_are_edited_by_supervisors_only(national):
    operator = await new_staff(national)
    staff, hello = await connect_staff(operator)
    assert hello["canned"] == []
    await staff.send_json_to(
        {
            "type": "canned_save",
            "service": "national",
            "title": "Accueil",
            "text": "Bonjour",
        }
    )
    assert (await receive_until(staff, "error"))["code"] == "forbidden"
    assert not await CannedAnswer.objects.aexists()
    supervisor = await new_staff(national, roles=(SUP,))
    boss, _ = await connect_staff(supervisor)
    await boss.send_json_to(
        {
            "type": "canned_save",
            "service": "national",
            "title": "Accueil",
            "text": "Bonjour, je vous écoute.",
        }
    )
    saved = await receive_until(boss, "canned_saved")
    canned = await receive_until(staff, "canned")
    assert canned["items"] == [
        {
            "id": saved["id"],
            "service": "national",
            "title": "Accueil",
            "text": "Bonjour, je vous écoute.",
        }
    ]
    await boss.send_json_to(
        {"type": "canned_save", "service": "enfance", "title": "x", "text": "y"}
    )
    assert (await receive_until(boss, "error"))["code"] == "invalid_service"
    await boss.send_json_to({"type": "canned_delete", "id": saved["id"]})
    assert (await receive_until(staff, "canned"))["items"] == []
    await disconnect(staff, boss)


# -- capacity and automatic assignment ----------------------------------------------------


async def test_capacity_stops_claims_and_changes_nothing(national):
    first, first_id = await start_visitor()
    second, second_id = await start_visitor()
    operator = await new_staff(national, max_conversations=1)
    staff, hello = await connect_staff(operator)
    assert hello["capacity"] == 1
    await staff.send_json_to({"type": "claim"})
    assert (await receive_until(staff, "assigned"))["conversation"]["id"] == first_id
    for frame in ({"type": "claim"}, {"type": "claim", "conversation": second_id}):
        await staff.send_json_to(frame)
        assert (await receive_until(staff, "error"))["code"] == "at_capacity"
    assert (await state(second_id))[:2] == ("waiting", None)
    await disconnect(first, second, staff)


async def test_auto_assign_hands_out_waiting_conversations(national):
    visitor, conversation_id = await start_visitor()
    operator = await new_staff(national)
    staff, _ = await connect_staff(operator)
    await staff.send_json_to({"type": "auto_assign", "enabled": True})
    assert (await receive_until(staff, "auto_assign"))["enabled"] is True
    assigned = await receive_until(staff, "assigned")
    assert assigned["conversation"]["id"] == conversation_id
    assert (await receive_until(visitor, "joined"))["role"] == "operator"
    # A psychologist cannot opt in.
    psychologist = await new_staff(national, roles=(PSY,))
    psy, _ = await connect_staff(psychologist)
    await psy.send_json_to({"type": "auto_assign", "enabled": True})
    assert (await receive_until(psy, "error"))["code"] == "forbidden"
    assert not (await StaffProfile.objects.aget(user=psychologist)).auto_assign
    await disconnect(visitor, staff, psy)


def test_auto_assign_respects_capacity_and_prefers_the_least_loaded(national):
    conversations = [make_conversation(national)[0] for _ in range(5)]
    busy = make_staff(services=(national,))
    free = make_staff(services=(national,))
    StaffProfile.objects.filter(user__in=[busy, free]).update(
        auto_assign=True, max_conversations=2
    )
    for user in (busy, free):
        Connection.objects.create(
            channel_name=f"c{user.id}",
            server_id="t",
            user=user,
            heartbeat_at=timezone.now(),
        )
    assert do_auto_assign() == 4
    assert do_auto_assign() == 0
    loads = sorted(
        Conversation.objects.filter(status="active").values_list(
            "operator_id", flat=True
        )
    )
    assert loads == sorted([busy.id, busy.id, free.id, free.id])
    assert Conversation.objects.get(id=conversations[4].id).status == "waiting"

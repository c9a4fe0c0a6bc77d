"""What the console needs from the server (issue 10, items 4 and 5).

Psychologists' on-duty hours, the wrap-up after the visitor leaves, the
visitor's presence, a handover that refreshes the receiver's view, and a
logout that tells visitors the truth. Each refusal changes nothing.
"""

import uuid

import pytest

from channels.db import database_sync_to_async
from django.conf import settings
from django.utils import translation

from chat.models import Conversation
from console.models import Invitation, StaffProfile
from console.services.staff import do_release_all
from tests.factories import make_service, make_staff
from tests.helpers import (
    claim,
    connect_staff,
    drain,
    open_conversation,
    receive_until,
    visitor_communicator,
)
from tests.marks import SOCKET_TESTS

pytestmark = SOCKET_TESTS

PSY = StaffProfile.Role.PSYCHOLOGIST
NEVER = {day: [] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


async def claimed(service, *, capacity=3):
    visitor, started = await open_conversation()
    conversation_id = started["conversation"]
    user = await database_sync_to_async(make_staff)(
        services=(service,), pseudonym="Opératrice 12"
    )
    await StaffProfile.objects.filter(user=user).aupdate(max_conversations=capacity)
    staff, _hello = await connect_staff(user)
    view = await claim(staff, conversation_id)
    await receive_until(visitor, "joined")
    return visitor, staff, conversation_id, user, view, started


async def test_psychologist_outside_the_rota_cannot_be_invited(national):
    national.psychologist_hours = NEVER
    await national.asave()
    visitor, staff, conversation_id, _user, data, _ = await claimed(national)
    psy_user = await database_sync_to_async(make_staff)(
        roles=(PSY,), services=(national,), pseudonym="Psychologue 3"
    )
    psy, _ = await connect_staff(psy_user)
    # The view carries the rota: nobody is on duty. Who is online is asked
    # by the invite dialog when it opens.
    assert data["psychologists"]["on_duty"] is False
    assert data["psychologists"]["hours"]
    assert "available" not in data["psychologists"]
    await staff.send_json_to({"type": "psychologists", "conversation": conversation_id})
    duty = await receive_until(staff, "psychologists")
    assert (duty["on_duty"], duty["available"]) == (False, [])
    await staff.send_json_to(
        {"type": "invite", "conversation": conversation_id, "role": "psychologist"}
    )
    error = await receive_until(staff, "error")
    assert error["code"] == "psychologist_off_duty"
    assert "Permanence" in error["message"]
    assert not await Invitation.objects.aexists()
    assert await drain(visitor, 0.3) == []
    # Within the rota (none set: the service's hours) the same invitation works.
    national.psychologist_hours = {}
    await national.asave()
    await staff.send_json_to({"type": "psychologists", "conversation": conversation_id})
    duty = await receive_until(staff, "psychologists")
    assert (duty["on_duty"], duty["available"]) == (True, ["Psychologue 3"])
    await staff.send_json_to(
        {"type": "invite", "conversation": conversation_id, "role": "psychologist"}
    )
    assert (await receive_until(visitor, "participant_request"))["role"] == PSY
    for socket in (visitor, staff, psy):
        await socket.disconnect()


@pytest.mark.parametrize("quick_exit", [True, False])
async def test_visitor_leaving_frees_the_slot_and_waits_for_the_outcome(
    national, quick_exit
):
    visitor, staff, conversation_id, user, data, _ = await claimed(national, capacity=1)
    assert data["presence"] == "here"
    await visitor.send_json_to({"type": "leave", "quick_exit": quick_exit})
    closed = await receive_until(staff, "closed")
    assert closed["reason"] == ("quick_exit" if quick_exit else "visitor_left")
    assert closed["wrap_up"] is True
    # The slot is free at once: a capacity of one takes the next visitor.
    other, started = await open_conversation()
    await staff.send_json_to({"type": "claim", "conversation": started["conversation"]})
    assert (await receive_until(staff, "assigned"))["conversation"]["id"] == (
        started["conversation"]
    )
    # A reload still shows the conversation waiting for its outcome.
    again, hello = await connect_staff(user)
    waiting = [c for c in hello["conversations"] if c["id"] == conversation_id]
    assert waiting and waiting[0]["wrap_up"] is True
    assert waiting[0]["presence"] == "gone"
    # A bad outcome changes nothing; a good one is recorded once.
    await staff.send_json_to(
        {"type": "close", "conversation": conversation_id, "outcome": "nope"}
    )
    assert (await receive_until(staff, "error"))["code"] == "bad_request"
    await staff.send_json_to(
        {
            "type": "close",
            "conversation": conversation_id,
            "outcome": "orientation",
            "categories": ["conjugal"],
        }
    )
    done = await receive_until(staff, "closed")
    assert done["reason"] == "wrapped_up"
    conversation = await Conversation.objects.aget(id=conversation_id)
    assert (conversation.status, conversation.outcome, conversation.categories) == (
        "closed",
        "orientation",
        ["conjugal"],
    )
    await again.send_json_to(
        {"type": "close", "conversation": conversation_id, "outcome": "other"}
    )
    assert (await receive_until(again, "error"))["code"] == "bad_state"
    assert (await Conversation.objects.aget(id=conversation_id)).outcome == (
        "orientation"
    )
    for socket in (staff, other, again):
        await socket.disconnect()


async def test_staff_see_the_visitor_come_and_go(national):
    visitor, staff, conversation_id, _user, _data, started = await claimed(national)
    await visitor.disconnect()
    frame = await receive_until(staff, "presence")
    assert frame == {
        "type": "presence",
        "conversation": conversation_id,
        "presence": "reconnecting",
        "grace_s": round(settings.VISITOR_GRACE_SECONDS),
    }
    back = visitor_communicator()
    await back.connect()
    await back.send_json_to({"type": "resume", "token": started["token"]})
    await receive_until(back, "resumed")
    assert (await receive_until(staff, "presence"))["presence"] == "here"
    for socket in (back, staff):
        await socket.disconnect()


async def test_handover_refreshes_the_receiver_view(national):
    enfance = await database_sync_to_async(make_service)(
        "enfance", name="Cellule enfance", is_default=False
    )
    visitor, staff, conversation_id, _user, _data, _ = await claimed(national)
    colleague_user = await database_sync_to_async(make_staff)(
        services=(enfance,), pseudonym="Opératrice 21"
    )
    colleague, _ = await connect_staff(colleague_user)
    await staff.send_json_to(
        {
            "type": "invite",
            "conversation": conversation_id,
            "role": "operator",
            "service": "enfance",
        }
    )
    request = await receive_until(visitor, "participant_request")
    await visitor.send_json_to(
        {"type": "participant_answer", "request": request["request"], "accept": True}
    )
    await receive_until(colleague, "invitation")
    await colleague.send_json_to({"type": "join", "conversation": conversation_id})
    await receive_until(colleague, "assigned")
    await staff.send_json_to({"type": "leave", "conversation": conversation_id})
    handed = await receive_until(colleague, "handed_over")
    assert (handed["you"], handed["service"]) == (True, "enfance")
    fresh = await receive_until(colleague, "conversation")
    assert fresh["conversation"]["service"] == "enfance"
    assert fresh["conversation"]["service_name"] == "Cellule enfance"
    assert fresh["conversation"]["as"] == "operator"
    for socket in (visitor, staff, colleague):
        await socket.disconnect()


async def test_logout_requeues_conversations_and_says_so(national):
    visitor, staff, conversation_id, user, _data, _ = await claimed(national)
    await visitor.send_json_to(
        {"type": "message", "id": str(uuid.uuid4()), "text": "bonjour"}
    )
    await receive_until(visitor, "ack")
    assert await database_sync_to_async(do_release_all)(user) == 1
    left = await receive_until(visitor, "left")
    # Gone, not "reconnecting": the visitor is not told they will be back.
    assert "reconnecting" not in left
    conversation = await Conversation.objects.aget(id=conversation_id)
    assert (conversation.status, conversation.operator_id) == ("waiting", None)
    assert (await receive_until(staff, "released"))["reason"] == "logged_out"
    for socket in (visitor, staff):
        await socket.disconnect()


def test_console_strings_are_translated(db):
    from console.strings import get_console_strings

    with translation.override("en"):
        strings = get_console_strings()
    assert strings["directory"] == "Directory"
    assert strings["wrap_up_quick_exit"].startswith("The person left the page")
    assert strings["supervisor_speaks"].startswith("Careful")


def test_every_staff_role_has_a_label_on_the_console(db):
    """The board lists each staff member's roles through these labels: a
    role without one showed its code ("custodian") to a French reader."""
    from console.models import StaffProfile
    from console.strings import get_console_strings

    strings = get_console_strings()
    assert strings["custodian"] == "Dépositaire de clé"
    assert strings["load"] == "Charge"
    with translation.override("en"):
        english = get_console_strings()
    for role in StaffProfile.Role.values:
        assert strings[role] != role and english[role] != role, role
    assert english["custodian"] == "Key custodian"

"""Finding 4: revocation reaches open consoles within a second."""

import asyncio

import pytest

from channels.db import database_sync_to_async

from chat.models import Conversation
from console.models import StaffProfile
from console.services.staff import do_end_all_sessions
from tests.factories import make_conversation, make_operator, make_service
from tests.helpers import connect_staff

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("runtime_stopped"),
]


async def close_code(staff, within: float = 1.0) -> int:
    """Return the close code the socket gets within ``within`` seconds."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        remaining = deadline - asyncio.get_running_loop().time()
        assert remaining > 0, "the socket was not closed in time"
        output = await staff.receive_output(timeout=remaining)
        if output["type"] == "websocket.close":
            return output["code"]


@database_sync_to_async
def operator_and_waiting():
    service = make_service("national")
    user = make_operator(service)
    conversation, _token = make_conversation(service)
    return user, conversation


@database_sync_to_async
def deactivate(user):
    user.is_active = False
    user.save()


async def test_a_write_rechecks_the_account_in_its_transaction(monkeypatch):
    """Even if the notification were lost, the claim is refused."""
    from chat import events

    monkeypatch.setattr(events, "notify_session_check", lambda user_id: None)
    user, conversation = await operator_and_waiting()
    staff, _hello = await connect_staff(user)
    await deactivate(user)
    await staff.send_json_to({"type": "claim", "conversation": str(conversation.id)})
    frame = await staff.receive_json_from(timeout=1)
    while frame["type"] != "error":
        frame = await staff.receive_json_from(timeout=1)
    assert frame["code"] == "revoked", frame
    assert await close_code(staff) == 4401
    status = await database_sync_to_async(
        lambda: Conversation.objects.get(id=conversation.id).status
    )()
    assert status == Conversation.Status.WAITING


async def test_deactivation_alone_closes_within_a_second():
    user, _conversation = await operator_and_waiting()
    staff, _hello = await connect_staff(user)
    await deactivate(user)
    assert await close_code(staff) == 4401


async def test_password_change_and_end_all_sessions_close_within_a_second():
    user, _conversation = await operator_and_waiting()
    staff, _hello = await connect_staff(user)

    def change_password():
        user.set_password("un-nouveau-mot-de-passe-long")
        user.save()

    await database_sync_to_async(change_password)()
    assert await close_code(staff) == 4401

    staff, _hello = await connect_staff(user)
    ended = await database_sync_to_async(do_end_all_sessions)(user)
    assert ended >= 1
    assert await close_code(staff) == 4401


async def test_role_or_service_change_reconnects_within_a_second():
    user, conversation = await operator_and_waiting()
    staff, _hello = await connect_staff(user)

    def drop_operator_role():
        profile = StaffProfile.objects.get(user=user)
        profile.roles = ["psychologist"]
        profile.save()

    await database_sync_to_async(drop_operator_role)()
    assert await close_code(staff) == 4409

    staff, _hello = await connect_staff(user)
    await staff.send_json_to({"type": "claim", "conversation": str(conversation.id)})
    frame = await staff.receive_json_from(timeout=1)
    while frame["type"] != "error":
        frame = await staff.receive_json_from(timeout=1)
    assert frame["code"] == "forbidden"

    def remove_services():
        StaffProfile.objects.get(user=user).services.clear()

    await database_sync_to_async(remove_services)()
    assert await close_code(staff) == 4409


def test_end_all_sessions_is_an_admin_action(client, settings):
    from django.contrib.sessions.models import Session

    from console.services import do_create_login_session

    service = make_service("national")
    target = make_operator(service)
    admin = make_operator(service)
    admin.is_staff = admin.is_superuser = True
    admin.save()
    for _ in range(2):
        do_create_login_session(target)
    client.cookies[settings.SESSION_COOKIE_NAME] = do_create_login_session(admin)
    page = client.get("/admin/auth/user/")
    assert page.status_code == 200
    assert "end_all_sessions" in page.content.decode()
    response = client.post(
        "/admin/auth/user/",
        {"action": "end_all_sessions", "_selected_action": [str(target.pk)]},
        follow=True,
    )
    assert response.status_code == 200
    assert "2 sessions fermées" in response.content.decode()
    remaining = [
        s for s in Session.objects.all() if s.get_decoded().get("_auth_user_id")
    ]
    assert {s.get_decoded()["_auth_user_id"] for s in remaining} == {str(admin.pk)}

"""Console services and selectors, without sockets."""

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from django.utils import timezone

from chat.errors import ChatError
from chat.models import Connection, Conversation, Message
from chat.services import do_close_conversation
from console import access
from console.auth import get_console_access
from console.models import Invitation, Participant, StaffProfile
from console.selectors import get_invitation_frame, is_on_duty
from console.services import (
    check_answer_invitation,
    check_invite,
    check_join_conversation,
    check_send_staff_message,
    check_switch_auto_assign,
    do_auto_assign_for,
    do_claim_conversation,
    do_create_login_session,
)
from realtime.events import collecting_events
from tests.factories import make_commune, make_conversation, make_service, make_staff

pytestmark = pytest.mark.django_db


@pytest.fixture
def national(db):
    make_commune()
    return make_service("national")


def online(user):
    Connection.objects.create(
        channel_name=f"c{user.id}",
        server_id="t",
        user=user,
        heartbeat_at=timezone.now(),
    )


def profile_of(user):
    return StaffProfile.objects.get(user=user)


def test_console_access_codes():
    service = make_service()
    staff = make_staff(services=(service,))
    assert get_console_access(None) == (4401, None)
    assert get_console_access("not-a-session") == (4401, None)
    code, profile = get_console_access(do_create_login_session(staff))
    assert (code, profile.user_id) == (0, staff.id)
    assert get_console_access(do_create_login_session(staff, verified=False)) == (
        4403,
        None,
    )
    key = do_create_login_session(staff)
    staff.set_password("another-long-password")
    staff.save()
    assert get_console_access(key) == (4401, None)


def test_duty_hours_follow_paris_time():
    service = make_service()
    user = make_staff(services=(service,))
    profile = profile_of(user)
    assert is_on_duty(profile)
    profile.duty_hours = {"mon": [["09:00", "18:00"]]}
    # Monday 2 December 2024, winter time: Paris is UTC+1.
    monday_ten = datetime(2024, 12, 2, 9, 0, tzinfo=UTC)
    monday_night = datetime(2024, 12, 2, 20, 0, tzinfo=UTC)
    tuesday_ten = datetime(2024, 12, 3, 9, 0, tzinfo=UTC)
    assert is_on_duty(profile, at=monday_ten)
    assert not is_on_duty(profile, at=monday_night)
    assert not is_on_duty(profile, at=tuesday_ten)


def test_joining_after_the_close_withdraws_the_invitation(national):
    conversation, _token = make_conversation(national)
    operator = profile_of(make_staff(services=(national,)))
    psychologist_user = make_staff(
        roles=(StaffProfile.Role.PSYCHOLOGIST,), services=(national,)
    )
    online(psychologist_user)
    psychologist = profile_of(psychologist_user)
    do_claim_conversation(operator, conversation.id)
    invitation = check_invite(
        operator, str(conversation.id), role="psychologist", summary="court résumé"
    )
    assert get_invitation_frame(psychologist, invitation.id) is None
    check_answer_invitation(conversation, invitation_id=str(invitation.id), accept=True)
    assert get_invitation_frame(psychologist, invitation.id)["summary"] == (
        "court résumé"
    )
    do_close_conversation(conversation, outcome="information", categories=[])
    with pytest.raises(ChatError) as refused:
        check_join_conversation(psychologist, str(conversation.id))
    assert refused.value.code == "bad_state"
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.CANCELLED
    frame = get_invitation_frame(psychologist, invitation.id)
    assert frame["status"] == "cancelled" and "summary" not in frame
    assert Conversation.objects.get(id=conversation.id).status == "closed"


def test_summary_is_stored_encrypted(national):
    conversation, _token = make_conversation(national)
    operator = profile_of(make_staff(services=(national,)))
    online(make_staff(roles=(StaffProfile.Role.PSYCHOLOGIST,), services=(national,)))
    do_claim_conversation(operator, conversation.id)
    invitation = check_invite(
        operator, str(conversation.id), role="psychologist", summary="TRES-SECRET"
    )
    stored = bytes(Invitation.objects.get(id=invitation.id).summary_ciphertext)
    assert b"TRES-SECRET" not in stored and stored


def test_a_refused_message_leaves_a_silent_supervisor_silent(
    national, monkeypatch, django_capture_on_commit_callbacks
):
    """The reveal commits with the message, or not at all (issue 13)."""
    conversation, _token = make_conversation(national)
    do_claim_conversation(profile_of(make_staff(services=(national,))), conversation.id)
    supervisor = profile_of(
        make_staff(roles=(StaffProfile.Role.SUPERVISOR,), services=(national,))
    )
    participant = Participant.objects.create(
        conversation=conversation,
        user=supervisor.user,
        role=Participant.Role.SUPERVISOR,
        silent=True,
    )
    checked_role = access.staff_sender_role

    def closed_just_after_the_check(profile, checked):
        # The operator closes the conversation between the supervisor's
        # checks and the write: the store itself refuses the message.
        role = checked_role(profile, checked)
        do_close_conversation(conversation, outcome="information", categories=[])
        return role

    monkeypatch.setattr(access, "staff_sender_role", closed_just_after_the_check)
    with (
        django_capture_on_commit_callbacks(execute=True),
        collecting_events() as collected,
        pytest.raises(ChatError) as refused,
    ):
        check_send_staff_message(
            supervisor, str(conversation.id), text="Bonjour", client_id=str(uuid4())
        )
    assert refused.value.code == "bad_state"
    participant.refresh_from_db()
    assert participant.silent is True
    assert not [e for _g, e in collected if e["type"] == "chat.participant"]
    assert not Message.objects.filter(conversation=conversation).exists()


def test_opting_in_hands_out_what_waits_and_opting_out_nothing(national):
    """The assignment policy is the service's, not the console socket's."""
    conversation, _token = make_conversation(national)
    user = make_staff(services=(national,))
    online(user)
    assert check_switch_auto_assign(profile_of(user), enabled=False) is False
    assert do_auto_assign_for(profile_of(user)) == 0
    assert Conversation.objects.get(id=conversation.id).operator_id is None
    assert check_switch_auto_assign(profile_of(user), enabled=True) is True
    assert Conversation.objects.get(id=conversation.id).operator_id == user.id

"""Participation, supervision and assignment services, without sockets.

What the console services decide and which events they emit, captured
with ``chat.events.collecting_events`` (the ``capture_events`` fixture):
who may join, what each group is told, and that a refusal changes and
emits nothing. test_participation_socket.py keeps the frames on the wire.
"""

import pytest

from django.utils import timezone

from chat import events
from chat.errors import ChatError
from chat.models import Connection, Conversation, Message
from console.models import CannedAnswer, Invitation, Participant, StaffProfile, Whisper
from console.selectors import get_invitation_frame, list_canned_answers
from console.services import (
    check_add_note,
    check_answer_invitation,
    check_claim_conversation,
    check_delete_canned,
    check_invite,
    check_join_conversation,
    check_save_canned,
    check_send_whisper,
    check_set_auto_assign,
)
from tests.factories import make_conversation, make_service, make_staff

pytestmark = pytest.mark.django_db

OP = StaffProfile.Role.OPERATOR
PSY = StaffProfile.Role.PSYCHOLOGIST
SUP = StaffProfile.Role.SUPERVISOR


def new_staff(*services, roles=(OP,), pseudonym=None, online=True, **profile):
    """A staff member's profile, online (a console socket open) by default."""
    user = make_staff(roles=roles, services=services, pseudonym=pseudonym)
    if profile:
        StaffProfile.objects.filter(user=user).update(**profile)
    if online:
        Connection.objects.create(
            channel_name=f"c{user.id}",
            server_id="t",
            user=user,
            heartbeat_at=timezone.now(),
        )
    return StaffProfile.objects.get(user=user)


def claimed(service, pseudonym="Opératrice 12"):
    conversation, _token = make_conversation(service)
    operator = new_staff(service, pseudonym=pseudonym)
    check_claim_conversation(operator, str(conversation.id))
    return conversation, operator


def state(conversation_id):
    conversation = Conversation.objects.get(id=conversation_id)
    return (
        conversation.status,
        conversation.operator_id,
        conversation.service_id,
        conversation.last_seq,
        Participant.objects.filter(conversation_id=conversation_id).count(),
        Invitation.objects.filter(conversation_id=conversation_id).count(),
    )


def to_visitor(sent, conversation):
    """The events sent to the groups the visitor's socket listens on."""
    groups = {
        events.conversation_group_name(conversation.id),
        events.visitor_group_name(conversation.id),
    }
    return [event for name, event in sent if name in groups]


def refused(call, *args, **kwargs) -> str:
    with pytest.raises(ChatError) as caught:
        call(*args, **kwargs)
    return caught.value.code


# -- invitations -----------------------------------------------------------------


def test_psychologist_joins_only_after_the_visitor_agrees(national, capture_events):
    conversation, operator = claimed(national)
    psychologist = new_staff(national, roles=(PSY,), pseudonym="Psychologue 3")
    key = str(conversation.id)
    # Before any invitation, the psychologist can neither claim nor join.
    with capture_events() as sent:
        assert refused(check_claim_conversation, psychologist, key) == "forbidden"
        assert refused(check_join_conversation, psychologist, key) == "forbidden"
    assert sent == []
    summary = "RESUME-CONFIDENTIEL violences conjugales, a besoin d'écoute"
    with capture_events() as sent:
        invitation = check_invite(operator, key, role="psychologist", summary=summary)
    # The visitor is asked, never told the summary; the staff groups get ids.
    (asking,) = to_visitor(sent, conversation)
    assert (asking["type"], asking["status"], asking["role"]) == (
        "chat.invitation",
        "asking",
        "psychologist",
    )
    assert "psychologue" in asking["text"]
    assert summary not in str(sent)
    assert {name for name, event in sent if event["type"] == "console.invitation"} == {
        events.conversation_staff_group_name(conversation.id),
        events.service_staff_group_name(national.id),
    }
    # Not offered to the psychologist until the visitor says yes.
    assert get_invitation_frame(psychologist, invitation.id) is None
    assert refused(check_join_conversation, psychologist, key) == "forbidden"
    with capture_events() as sent:
        check_answer_invitation(
            conversation, invitation_id=str(invitation.id), accept=True
        )
    assert summary not in str(sent)
    offered = get_invitation_frame(psychologist, invitation.id)
    assert (offered["status"], offered["summary"], offered["name"]) == (
        "offered",
        summary,
        "Opératrice 12",
    )
    with capture_events() as sent:
        check_join_conversation(psychologist, key)
    joined = [
        e for e in to_visitor(sent, conversation) if e["type"] == "chat.participant"
    ]
    assert [(e["change"], e["role"], e["name"]) for e in joined] == [
        ("joined", "psychologist", "Psychologue 3")
    ]
    participant = Participant.objects.get(conversation=conversation)
    assert (participant.user_id, participant.left_at) == (psychologist.user_id, None)


def test_visitor_may_decline_and_then_nobody_joins(national, capture_events):
    conversation, operator = claimed(national)
    psychologist = new_staff(national, roles=(PSY,))
    key = str(conversation.id)
    invitation = check_invite(
        operator, key, role="psychologist", summary="SECRET-SUMMARY"
    )
    with capture_events() as sent:
        answered = check_answer_invitation(
            conversation, invitation_id=str(invitation.id), accept=False
        )
    assert answered.status == Invitation.Status.DECLINED
    assert "SECRET-SUMMARY" not in str(sent)
    before = state(conversation.id)
    assert refused(check_join_conversation, psychologist, key) == "forbidden"
    # Answering twice changes nothing, and tells nobody anything.
    with capture_events() as sent:
        code = refused(
            check_answer_invitation,
            conversation,
            invitation_id=str(invitation.id),
            accept=True,
        )
    assert (code, sent) == ("bad_state", [])
    assert state(conversation.id) == before
    assert "SECRET-SUMMARY" not in str(
        get_invitation_frame(psychologist, invitation.id)
    )


def test_no_psychologist_on_duty_means_no_invitation(national, capture_events):
    conversation, operator = claimed(national)
    # On duty only on a day that never matches today's slot list.
    new_staff(
        national,
        roles=(PSY,),
        duty_hours={
            day: [] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
        },
    )
    with capture_events() as sent:
        code = refused(
            check_invite, operator, str(conversation.id), role="psychologist"
        )
    assert (code, sent) == ("none_available", [])
    assert not Invitation.objects.exists()


# -- supervisors -----------------------------------------------------------------


def test_whispers_and_notes_reach_the_staff_group_only(national, capture_events):
    conversation, operator = claimed(national)
    supervisor = new_staff(national, roles=(SUP,), pseudonym="Superviseure 1")
    key = str(conversation.id)
    with capture_events() as sent:
        check_join_conversation(supervisor, key)
    # A silent watch: the visitor's group hears nothing of it.
    assert to_visitor(sent, conversation) == []
    with capture_events() as sent:
        check_send_whisper(supervisor, key, text="WHISPER-42 propose le 3919")
        check_send_whisper(operator, key, text="WHISPER-43 merci")
        check_add_note(operator, key, text="NOTE-44")
    staff_group = events.conversation_staff_group_name(conversation.id)
    assert [(name, event["type"]) for name, event in sent] == [
        (staff_group, "console.whisper"),
        (staff_group, "console.whisper"),
        (staff_group, "console.note"),
    ]
    # Events carry ids, never the words.
    assert "WHISPER" not in str(sent) and "NOTE-44" not in str(sent)
    assert Whisper.objects.count() == 2
    assert Message.objects.filter(conversation=conversation).count() == 0


# -- canned answers ----------------------------------------------------------------


def test_canned_answers_are_edited_by_supervisors_only(national, capture_events):
    operator = new_staff(national)
    assert list_canned_answers(operator) == []
    with capture_events() as sent:
        code = refused(
            check_save_canned,
            operator,
            answer_id=None,
            service_slug="national",
            title="Accueil",
            text="Bonjour",
        )
    assert (code, sent) == ("forbidden", [])
    assert not CannedAnswer.objects.exists()
    supervisor = new_staff(national, roles=(SUP,))
    with capture_events() as sent:
        saved = check_save_canned(
            supervisor,
            answer_id=None,
            service_slug="national",
            title="Accueil",
            text="Bonjour, je vous écoute.",
        )
    # Every console of the service re-reads its list.
    assert sent == [
        (
            events.service_staff_group_name(national.id),
            {"type": "console.canned_changed", "service": national.id},
        )
    ]
    assert list_canned_answers(operator) == [
        {
            "id": saved.id,
            "service": "national",
            "title": "Accueil",
            "text": "Bonjour, je vous écoute.",
        }
    ]
    make_service("enfance", is_default=False)
    with capture_events() as sent:
        code = refused(
            check_save_canned,
            supervisor,
            answer_id=None,
            service_slug="enfance",
            title="x",
            text="y",
        )
    assert (code, sent) == ("invalid_service", [])
    with capture_events() as sent:
        check_delete_canned(supervisor, answer_id=saved.id)
    assert [event["type"] for _name, event in sent] == ["console.canned_changed"]
    assert list_canned_answers(operator) == []


# -- capacity and automatic assignment -----------------------------------------------


def test_capacity_stops_claims_and_changes_nothing(national, capture_events):
    first, _ = make_conversation(national)
    second, _ = make_conversation(national)
    operator = new_staff(national, max_conversations=1)
    assert check_claim_conversation(operator).id == first.id
    for conversation_id in (None, str(second.id)):
        with capture_events() as sent:
            code = refused(check_claim_conversation, operator, conversation_id)
        assert (code, sent) == ("at_capacity", [])
    assert state(second.id)[:2] == ("waiting", None)


def test_only_operators_opt_in_to_automatic_assignment(national):
    operator = new_staff(national)
    assert check_set_auto_assign(operator, enabled=True) is True
    assert StaffProfile.objects.get(pk=operator.pk).auto_assign
    psychologist = new_staff(national, roles=(PSY,))
    assert refused(check_set_auto_assign, psychologist, enabled=True) == "forbidden"
    assert not StaffProfile.objects.get(pk=psychologist.pk).auto_assign


def test_who_is_on_duty_reads_only_staff_with_that_role(national):
    """A claim's view asks for psychologists: operators are not loaded.

    With hundreds of operators online, loading each to drop it in Python
    made every claim cost O(staff online) (issue 14).
    """
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from console.selectors import list_staff_on_duty

    for number in range(4):
        new_staff(national, pseudonym=f"Opératrice {number}")
    both = new_staff(national, roles=(OP, PSY), pseudonym="Les deux")
    psychologist = new_staff(national, roles=(PSY,), pseudonym="Psy")
    new_staff(national, roles=(PSY,), pseudonym="Absente", online=False)
    loaded: list[StaffProfile] = []
    original = StaffProfile.from_db

    def counting(cls, *args, **kwargs):
        profile = original.__func__(cls, *args, **kwargs)
        loaded.append(profile)
        return profile

    StaffProfile.from_db = classmethod(counting)
    try:
        with CaptureQueriesContext(connection) as queries:
            found = list_staff_on_duty(national.id, PSY)
    finally:
        StaffProfile.from_db = original
    assert {profile.id for profile in found} == {both.id, psychologist.id}
    assert len(loaded) == 2
    assert len(queries) == 1
    assert {p.id for p in list_staff_on_duty(national.id, OP)} >= {both.id}

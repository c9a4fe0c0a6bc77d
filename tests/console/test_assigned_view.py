"""The ``assigned`` view skips the reads its flags say are empty (issue 14).

``get_assigned_conversation`` asks, with the conversation, whether it has
participants, notes, whispers, an open invitation, a consent request, a
follow-up, and whether its visitor is here; a false flag spares a read.
Whatever the conversation holds, the view must equal the one read without
flags.
"""

import uuid
from datetime import timedelta

import pytest

from django.utils import timezone

from chat.models import Connection, ConsentText
from chat.services import do_register_connection
from chat.services.messages import do_send_message
from console.access import access_conversation_for_staff
from console.models import Invitation, StaffProfile
from console.selectors import get_assigned_conversation, render_conversation
from console.services import (
    check_add_note,
    check_claim_conversation,
    check_join_conversation,
    check_send_whisper,
)
from escalation.consent import check_request_consent
from receipts.models import Receipt
from receipts.services import do_issue_receipt
from tests.factories import make_commune, make_conversation, make_service, make_staff

pytestmark = pytest.mark.django_db


@pytest.fixture
def claimed(db):
    make_commune()
    national = make_service("national")
    conversation, _token = make_conversation(national)
    profile = StaffProfile.objects.get(user=make_staff(services=(national,)))
    check_claim_conversation(profile, str(conversation.id))
    return conversation, profile


def read_without_flags(profile, conversation):
    return render_conversation(
        access_conversation_for_staff(profile, conversation.id), viewer=profile
    )


def test_a_fresh_conversation_is_seen_as_without_flags(claimed):
    conversation, profile = claimed
    view = get_assigned_conversation(profile, conversation.id)
    assert view == read_without_flags(profile, conversation)
    assert view["presence"] == "reconnecting"
    assert view["history"] == view["notes"] == view["whispers"] == []
    assert view["invitation"] is None and view["consent"] is None
    assert "follow_up" not in view


def test_everything_a_conversation_holds_is_read(claimed):
    conversation, profile = claimed
    national = conversation.service
    do_register_connection("visitor", server_id="s1", conversation_id=conversation.id)
    do_send_message(
        conversation.id, sender="visitor", body="bonjour", client_id=uuid.uuid4()
    )
    check_add_note(profile, str(conversation.id), text="Une note")
    check_send_whisper(profile, str(conversation.id), text="Un aparté")
    supervisor = StaffProfile.objects.get(
        user=make_staff(roles=(StaffProfile.Role.SUPERVISOR,), services=(national,))
    )
    check_join_conversation(supervisor, str(conversation.id))
    Invitation.objects.create(
        conversation=conversation,
        role=Invitation.Role.PSYCHOLOGIST,
        service=national,
        invited_by=profile.user,
    )
    do_issue_receipt(conversation)
    Receipt.objects.filter(conversation=conversation).update(follow_ups=1)
    ConsentText.objects.create(service=national, version="1", text="Texte.")
    check_request_consent(profile, str(conversation.id))

    view = get_assigned_conversation(profile, conversation.id)

    assert view == read_without_flags(profile, conversation)
    assert view["presence"] == "here"
    assert [message["text"] for message in view["history"]] == ["bonjour"]
    assert [note["text"] for note in view["notes"]] == ["Une note"]
    assert [whisper["text"] for whisper in view["whispers"]] == ["Un aparté"]
    assert [p["role"] for p in view["participants"]] == ["supervisor"]
    assert view["invitation"]["status"] == "asking"
    assert view["follow_up"]["count"] == 1
    assert view["consent"] is not None


def test_a_visitor_socket_not_seen_lately_is_not_here(claimed, settings):
    """The flag's SQL is compiled once per process; the time a socket must
    have been seen since is the read's own, not the one it was compiled
    with."""
    conversation, profile = claimed
    do_register_connection("visitor", server_id="s1", conversation_id=conversation.id)
    assert get_assigned_conversation(profile, conversation.id)["presence"] == "here"
    Connection.objects.filter(channel_name="visitor").update(
        heartbeat_at=timezone.now()
        - timedelta(seconds=settings.PRESENCE_STALE_SECONDS + 5)
    )
    view = get_assigned_conversation(profile, conversation.id)
    assert view == read_without_flags(profile, conversation)
    assert view["presence"] == "reconnecting"

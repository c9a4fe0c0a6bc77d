"""A staff message from the operator in charge: the access rule is the write.

``check_send_staff_message`` first tries one UPDATE that matches only while
the operator is in charge of the open conversation in one of their
services (issue 14). Each case here must end exactly as the full access
rule would: refused with nothing stored, or stored once.
"""

import uuid

import pytest

from chat.errors import ChatError
from chat.models import Conversation, Message
from chat.services.messages import do_send_message
from console.models import StaffProfile
from console.services import (
    check_claim_conversation,
    check_close_conversation,
    check_join_conversation,
)
from console.services.participation import check_send_staff_message
from tests.console.test_participation import claimed, new_staff
from tests.factories import make_conversation, make_service

pytestmark = pytest.mark.django_db


def send(profile, conversation_id, client_id=None):
    return check_send_staff_message(
        profile,
        str(conversation_id),
        text="Bonjour",
        client_id=client_id or str(uuid.uuid4()),
    )


def last_seq(conversation):
    return Conversation.objects.get(id=conversation.id).last_seq


def test_the_operator_in_charge_writes_as_operator(national):
    conversation, operator = claimed(national)
    message, created = send(operator, conversation.id)
    assert created
    stored = Message.objects.get(id=message.id)
    assert (stored.seq, stored.sender, stored.author_id, stored.author_name) == (
        1,
        Message.Sender.OPERATOR,
        operator.user_id,
        operator.pseudonym,
    )
    assert stored.created_at is not None


def test_a_resend_is_acked_with_the_first_seq_and_stores_nothing(national):
    conversation, operator = claimed(national)
    client_id = str(uuid.uuid4())
    first, _ = send(operator, conversation.id, client_id)
    before = Conversation.objects.get(id=conversation.id)
    again, created = send(operator, conversation.id, client_id)
    assert not created and again.seq == first.seq
    assert last_seq(conversation) == 1
    assert Message.objects.filter(conversation=conversation).count() == 1
    # The seq the resend took is given back, and so are its counts.
    after = Conversation.objects.get(id=conversation.id)
    assert (after.staff_messages, after.visitor_messages) == (1, 0)
    assert after.first_staff_reply_at == before.first_staff_reply_at
    assert send(operator, conversation.id)[0].seq == 2


def test_a_staff_resend_of_a_visitor_id_does_not_invent_a_first_reply(national):
    """Only the increment that set the first reply time takes it back."""
    conversation, operator = claimed(national)
    client_id = uuid.uuid4()
    do_send_message(
        conversation.id, sender="visitor", body="bonjour", client_id=client_id
    )
    again, created = send(operator, conversation.id, str(client_id))
    assert not created and again.seq == 1
    after = Conversation.objects.get(id=conversation.id)
    assert after.first_staff_reply_at is None
    assert (after.last_seq, after.visitor_messages, after.staff_messages) == (1, 1, 0)


def not_in_charge(national):
    conversation, _operator = claimed(national)
    return conversation, new_staff(national, pseudonym="Opérateur 7")


def no_longer_of_the_service(national):
    conversation, operator = claimed(national)
    operator.services.set([make_service("other", name="Autre")])
    fresh = StaffProfile.objects.prefetch_related("services").get(id=operator.id)
    return conversation, fresh


def closed(national):
    conversation, operator = claimed(national)
    check_close_conversation(
        operator, str(conversation.id), outcome="other", categories=[]
    )
    return conversation, operator


def waiting(national):
    conversation, _token = make_conversation(national)
    return conversation, new_staff(national, pseudonym="Opératrice 3")


@pytest.mark.parametrize(
    ("writer", "code"),
    [
        pytest.param(not_in_charge, "bad_state", id="not_in_charge"),
        pytest.param(no_longer_of_the_service, "not_found", id="not_of_the_service"),
        # The full rule's answer: staff write only while it is active.
        pytest.param(closed, "bad_state", id="closed"),
        pytest.param(waiting, "bad_state", id="waiting"),
    ],
)
def test_an_operator_the_rule_refuses_is_refused_and_nothing_moves(
    national, writer, code
):
    conversation, operator = writer(national)
    with pytest.raises(ChatError) as refused:
        send(operator, conversation.id)
    assert refused.value.code == code
    assert last_seq(conversation) == 0


@pytest.mark.parametrize("bad", ["nope", "", "123"])
def test_a_malformed_id_is_a_conversation_not_found(national, bad):
    _conversation, operator = claimed(national)
    with pytest.raises(ChatError) as refused:
        send(operator, bad)
    assert refused.value.code == "not_found"


def test_an_operator_who_also_supervises_writes_as_the_supervisor_watching(
    national,
):
    conversation, _operator = claimed(national)
    both = new_staff(
        national,
        roles=(StaffProfile.Role.OPERATOR, StaffProfile.Role.SUPERVISOR),
        pseudonym="Superviseure 2",
    )
    check_join_conversation(both, str(conversation.id))
    message, created = send(both, conversation.id)
    assert created and message.sender == Message.Sender.SUPERVISOR


def test_the_operator_who_claims_after_a_release_writes_and_the_first_does_not(
    national,
):
    conversation, first = claimed(national)
    second = new_staff(national, pseudonym="Opérateur 9")
    Conversation.objects.filter(id=conversation.id).update(
        status=Conversation.Status.WAITING, operator=None
    )
    check_claim_conversation(second, str(conversation.id))
    with pytest.raises(ChatError):
        send(first, conversation.id)
    message, created = send(second, conversation.id)
    assert created and message.author_id == second.user_id

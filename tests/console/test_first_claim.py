"""Only the first claim of a conversation stamps it and records its wait.

The claim's UPDATE sets ``first_claimed_at`` only while it is empty, and
the claim records its wait (``ClaimRecord``, the queue estimates) only
when it was that first claim (issue 14: one statement less per claim).
"""

import pytest

from chat.models import ClaimRecord, Conversation
from console.models import StaffProfile
from console.services import check_claim_conversation, check_release_conversation
from tests.factories import make_commune, make_conversation, make_service, make_staff

pytestmark = pytest.mark.django_db


def test_a_claim_after_a_release_keeps_the_first_stamp_and_records_nothing():
    make_commune()
    national = make_service("national")
    conversation, _token = make_conversation(national)
    first, second = (
        StaffProfile.objects.get(user=make_staff(services=(national,)))
        for _ in range(2)
    )

    check_claim_conversation(first, str(conversation.id))
    stamped = Conversation.objects.get(id=conversation.id)
    assert stamped.first_claimed_at == stamped.claimed_at is not None
    assert ClaimRecord.objects.count() == 1

    check_release_conversation(first, str(conversation.id))
    again = check_claim_conversation(second, str(conversation.id))

    assert again.operator_id == second.user_id
    assert again.first_claimed_at == stamped.first_claimed_at
    assert again.claimed_at > stamped.claimed_at
    assert ClaimRecord.objects.count() == 1

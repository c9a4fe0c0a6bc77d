"""Visitor-only events never reach a staff socket (issue 13).

Queue positions, status changes and the visitor's invitation and consent
questions go to the visitor's own group; staff follow the same changes on
``console.*`` events. A staff consumer has no handler for them, so one
reaching it would be a bug, not a frame quietly dropped.
"""

import pytest

from console.consumers import StaffConsoleConsumer
from tests.helpers import (
    open_claimed_with_psychologist,
    receive_until,
)
from visitor.consumers import VisitorChatConsumer

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("runtime_stopped"),
]

# A waiting visitor's place is no event: its process's queue feed sends it.
VISITOR_ONLY = {"chat.status", "chat.invitation", "chat.consent"}


@pytest.fixture
def dispatched(monkeypatch):
    """Record the type of every message each kind of consumer dispatches."""
    seen: dict[str, list[str]] = {"visitor": [], "staff": []}
    for kind, consumer in (
        ("visitor", VisitorChatConsumer),
        ("staff", StaffConsoleConsumer),
    ):
        original = consumer.dispatch

        async def recording(self, message, _kind=kind, _original=original):
            seen[_kind].append(message["type"])
            return await _original(self, message)

        monkeypatch.setattr(consumer, "dispatch", recording)
    return seen


async def test_staff_never_receive_visitor_only_events(dispatched):
    visitor, started, staff, psy = await open_claimed_with_psychologist()
    conversation_id = started["conversation"]
    await receive_until(visitor, "joined")
    await staff.send_json_to(
        {"type": "invite", "conversation": conversation_id, "role": "psychologist"}
    )
    asking = await receive_until(staff, "invitation")
    await receive_until(visitor, "participant_request")
    await staff.send_json_to(
        {"type": "cancel_invitation", "invitation": asking["invitation"]}
    )
    await receive_until(visitor, "participant_request_cancelled")
    await staff.send_json_to(
        {"type": "request_consent", "conversation": conversation_id}
    )
    await receive_until(staff, "consent_requested")
    await receive_until(visitor, "consent_request")
    await staff.send_json_to({"type": "release", "conversation": conversation_id})
    await receive_until(staff, "released")
    await receive_until(visitor, "left")
    await receive_until(visitor, "queue")
    for communicator in (visitor, staff, psy):
        await communicator.disconnect()
    # The visitor got every kind of visitor-only event; no staff socket did.
    assert VISITOR_ONLY <= set(dispatched["visitor"])
    assert not VISITOR_ONLY & set(dispatched["staff"])

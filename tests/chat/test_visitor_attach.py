"""A visitor's resume: the same frames, in the same order, in few round trips.

The consumer attaches the socket and reads its resume view in one service
call (``visitor.services``), where it used to make one call per
service (issue 13).
"""

import uuid

import pytest

from chat import socket
from tests.helpers import (
    drain,
    open_claimed_with_psychologist,
    receive_until,
    visitor_communicator,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("runtime_stopped"),
]


@pytest.fixture
def database_calls(monkeypatch):
    """Count the consumers' trips to a database thread."""
    calls: list[str] = []
    for name in ("db", "db_read"):
        original = getattr(socket, name)

        def counting(fn, _original=original):
            calls.append(getattr(fn, "__name__", repr(fn)))
            return _original(fn)

        monkeypatch.setattr(socket, name, counting)
    return calls


async def test_resume_shows_history_then_the_pending_questions(database_calls):
    visitor, started, staff, psy = await open_claimed_with_psychologist()
    conversation_id = started["conversation"]
    await visitor.send_json_to(
        {"type": "message", "id": str(uuid.uuid4()), "text": "bonjour"}
    )
    await receive_until(visitor, "ack")
    await staff.send_json_to(
        {"type": "invite", "conversation": conversation_id, "role": "psychologist"}
    )
    await receive_until(visitor, "participant_request")
    await staff.send_json_to(
        {"type": "request_consent", "conversation": conversation_id}
    )
    await receive_until(visitor, "consent_request")
    await visitor.disconnect()

    back = visitor_communicator()
    assert (await back.connect())[0]
    database_calls.clear()
    await back.send_json_to({"type": "resume", "token": started["token"]})
    frames = await drain(back, 0.5)
    assert [frame["type"] for frame in frames] == [
        "resumed",
        "message",
        "participant_request",
        "consent_request",
    ]
    assert frames[1]["text"] == "bonjour"
    resumed = frames[0]
    assert (resumed["status"], resumed["conversation"]) == ("active", conversation_id)
    assert resumed["commune"] is not None
    # Resume, attach with its view, history: three trips, not one a service.
    assert len(database_calls) <= 3, database_calls
    for communicator in (back, staff, psy):
        await communicator.disconnect()

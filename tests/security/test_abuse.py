"""Finding 1 (abuse): an operator's mark refuses the client for a while."""

import pytest

from channels.db import database_sync_to_async

from chat.models import Conversation
from tests.anonymity.conftest import dump_database
from tests.factories import make_operator
from tests.helpers import (
    claim,
    connect_staff,
    drain,
    receive_until,
    visitor_from_address,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("runtime_stopped"),
]

START = {"type": "start", "place": "33000", "role": "victim"}


async def test_marking_abusive_blocks_that_client_only(bordeaux, national):
    abuser = visitor_from_address("198.51.100.66")
    assert (await abuser.connect())[0]
    await abuser.send_json_to(START)
    started = await abuser.receive_json_from()
    conversation = started["conversation"]

    user = await database_sync_to_async(make_operator)(national)
    staff, _hello = await connect_staff(user)
    await claim(staff, conversation)
    await staff.send_json_to({"type": "abusive", "conversation": conversation})
    closed = await receive_until(abuser, "closed")
    assert closed["reason"] == "closed_by_operator"
    await drain(abuser)
    await abuser.disconnect()

    again = visitor_from_address("198.51.100.66")
    assert (await again.connect())[0]
    await again.send_json_to(START)
    refused = await again.receive_json_from()
    assert refused["code"] == "blocked"
    assert "3919" in refused["message"] and refused["emergency"]

    other = visitor_from_address("203.0.113.200")
    assert (await other.connect())[0]
    await other.send_json_to(START)
    assert (await other.receive_json_from())["type"] == "started"

    row = await database_sync_to_async(Conversation.objects.get)(id=conversation)
    assert row.abusive and row.status == "closed"
    dump = await database_sync_to_async(dump_database)()
    assert "chat_conversation " in dump  # the rows were read
    assert "198.51.100.66" not in dump
    for socket in (again, other, staff):
        await socket.disconnect()


async def test_a_page_that_leaves_at_the_close_is_blocked_all_the_same(
    bordeaux, national
):
    """The key is blocked before the visitor hears "closed", not after."""
    abuser = visitor_from_address("198.51.100.68")
    assert (await abuser.connect())[0]
    await abuser.send_json_to(START)
    conversation = (await abuser.receive_json_from())["conversation"]
    user = await database_sync_to_async(make_operator)(national)
    staff, _hello = await connect_staff(user)
    await claim(staff, conversation)
    await staff.send_json_to({"type": "abusive", "conversation": conversation})
    await receive_until(abuser, "closed")
    await abuser.disconnect()  # at once, as a page closed on the spot

    again = visitor_from_address("198.51.100.68")
    assert (await again.connect())[0]
    await again.send_json_to(START)
    assert (await again.receive_json_from())["code"] == "blocked"
    for socket in (again, staff):
        await socket.disconnect()


async def test_only_the_operator_in_charge_may_mark(bordeaux, national):
    visitor = visitor_from_address("198.51.100.67")
    assert (await visitor.connect())[0]
    await visitor.send_json_to(START)
    conversation = (await visitor.receive_json_from())["conversation"]
    user = await database_sync_to_async(make_operator)(national)
    staff, _hello = await connect_staff(user)
    await staff.send_json_to({"type": "abusive", "conversation": conversation})
    error = await receive_until(staff, "error")
    assert error["code"] == "not_found"
    for socket in (visitor, staff):
        await socket.disconnect()

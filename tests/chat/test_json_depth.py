"""Deeply nested JSON is refused by an explicit depth limit, on both sockets.

Python 3.13 parses a 5,000-deep list without a RecursionError, so the
limit must not rely on the interpreter: it is counted before parsing.
"""

import json
import uuid

import pytest

from channels.db import database_sync_to_async

from chat.models import Message
from realtime.frames import MAX_JSON_DEPTH, load_json_frame
from tests.factories import make_commune, make_operator, make_service
from tests.helpers import connect_staff, receive_until, send_raw, start_visitor

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("runtime_stopped"),
]


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_depth_is_counted_outside_strings_only():
    assert load_json_frame(nested(MAX_JSON_DEPTH)) is not None
    with pytest.raises(ValueError, match="deeper"):
        load_json_frame(nested(MAX_JSON_DEPTH + 1))
    # Brackets inside strings, escaped quotes included, are text.
    text = json.dumps({"type": "message", "text": '\\"[' * 500 + "{" * 500})
    assert load_json_frame(text)["text"].endswith("{" * 500)
    with pytest.raises(ValueError):
        load_json_frame("{not json")


@pytest.fixture
def places(db):
    make_commune()
    return make_service("national")


async def test_visitor_socket_refuses_deep_nesting_and_stays_usable(places):
    visitor, started = await start_visitor()
    assert started["type"] == "started", started
    head = json.dumps({"type": "message", "id": str(uuid.uuid4()), "text": "x"})
    deep_in_frame = head[:-1] + ', "extra": ' + nested(MAX_JSON_DEPTH + 1) + "}"
    for text in (nested(5000), deep_in_frame):
        assert len(text.encode()) < 16 * 1024
        await send_raw(visitor, text)
        error = await receive_until(visitor, "error")
        assert error["code"] == "bad_json", error
    assert await database_sync_to_async(Message.objects.count)() == 0
    # Brackets inside the text are not nesting: the message goes through.
    await visitor.send_json_to(
        {"type": "message", "id": str(uuid.uuid4()), "text": "[" * 200}
    )
    assert (await receive_until(visitor, "ack"))["seq"] == 1
    await visitor.disconnect()


async def test_staff_socket_refuses_deep_nesting_and_stays_usable(places):
    user = await database_sync_to_async(make_operator)(places)
    staff, _hello = await connect_staff(user)
    await send_raw(staff, '{"type": "ping", "x": ' + nested(MAX_JSON_DEPTH + 1) + "}")
    assert (await receive_until(staff, "error"))["code"] == "bad_json"
    await send_raw(staff, nested(5000))
    assert (await receive_until(staff, "error"))["code"] == "bad_json"
    await staff.send_json_to({"type": "no-such-frame"})
    assert (await receive_until(staff, "error"))["code"] == "unknown_type"
    await staff.disconnect()

"""Finding 2: a lone surrogate or a NUL in any field never ends a socket."""

import json
import logging

import pytest

from chat.models import Message
from tests.helpers import drain, open_conversation, send_raw, visitor_communicator

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("runtime_stopped"),
]

SURROGATE_FRAMES = [
    '{"type": "start", "place": "33000", "role": "victim", "service": "\\ud800"}',
    '{"type": "nope\\ud800", "id": "\\ud800"}',
    '{"type": "resume", "token": "\\udfff"}',
    '{"type": "message", "id": "\\ud800", "text": "x"}',
    '{"type": "start", "place": "\\ud800", "role": "victim"}',
    '{"type": "start", "place": "33000", "role": "victim", "\\ud800": 1}',
]


@pytest.mark.parametrize("raw", SURROGATE_FRAMES)
async def test_lone_surrogate_before_start_is_bad_request(raw, caplog, national):
    visitor = visitor_communicator()
    assert (await visitor.connect())[0]
    with caplog.at_level(logging.WARNING):
        await send_raw(visitor, raw)
        frame = await visitor.receive_json_from()
    assert frame["type"] == "error" and frame["code"] == "bad_request", frame
    assert not any(record.exc_info or record.exc_text for record in caplog.records)
    assert len([r for r in caplog.records if r.name == "chat.socket"]) == 1
    # The socket is still usable.
    await visitor.send_json_to({"type": "sync", "after": 0})
    frame = await visitor.receive_json_from()
    assert frame["code"] == "bad_state"
    await visitor.disconnect()


async def test_surrogate_and_nul_in_message_text_store_nothing(
    caplog, bordeaux, national
):
    visitor, started = await open_conversation()
    await drain(visitor)
    for text in ("bonjour \\ud800", "a\\u0000b"):
        raw = json.dumps({"type": "message", "id": "x"})[:-1]
        raw += f', "text": "{text}"}}'
        await send_raw(visitor, raw)
        frame = await visitor.receive_json_from()
        assert frame["code"] == "bad_request", frame
    assert not any(record.exc_info for record in caplog.records)
    await visitor.send_json_to(
        {"type": "message", "id": "9b7e2c1e-4b8a-4d36-9d0b-0e8f7c6a5b41", "text": "ok"}
    )
    frame = await visitor.receive_json_from()
    assert frame["type"] == "ack"
    from channels.db import database_sync_to_async

    assert await database_sync_to_async(Message.objects.count)() == 1
    await visitor.disconnect()

"""A lagging process refuses new conversations, and nothing else (issue 14).

The loop is made late for real (``tests.helpers.LaggingLoop`` blocks it
with ``time.sleep``); the process's probe measures it, and ``start`` is
refused with ``overloaded`` while everything an open conversation does
goes on.
"""

import asyncio
import uuid

import pytest

from channels.db import database_sync_to_async

from chat.models import Conversation, Message
from realtime import lag
from tests.factories import make_operator
from tests.helpers import (
    LaggingLoop,
    claim,
    connect_staff,
    open_conversation,
    receive_until,
    visitor_communicator,
)
from tests.marks import SOCKET_TESTS

pytestmark = SOCKET_TESTS

START = {"type": "start", "place": "33000", "role": "victim"}
EMERGENCY = {"17", "112", "114", "3919", "119"}


@pytest.fixture
def shedding(settings):
    settings.OVERLOAD_LAG_SECONDS = 0.2
    settings.OVERLOAD_RETRY_AFTER_SECONDS = 7


async def count(model, **filters):
    return await database_sync_to_async(
        lambda: model.objects.filter(**filters).count()
    )()


async def test_a_lagging_process_refuses_new_conversations_only(national, shedding):
    visitor, started = await open_conversation()
    conversation = started["conversation"]
    user = await database_sync_to_async(make_operator)(national)
    operator, _hello = await connect_staff(user)
    newcomer = visitor_communicator()
    assert (await newcomer.connect())[0]

    async with LaggingLoop(block=0.35, every=0.1):
        await newcomer.send_json_to(START)
        refused = await newcomer.receive_json_from(timeout=10)
        assert lag.loop_lag_seconds() > 0.2

        # The open conversation goes on: the operator claims it, both
        # write, and the visitor can resume on another socket.
        await claim(operator, conversation, timeout=10)
        said = str(uuid.uuid4())
        await visitor.send_json_to({"type": "message", "id": said, "text": "Allô ?"})
        ack = await receive_until(visitor, "ack", timeout=10)
        answer = str(uuid.uuid4())
        await operator.send_json_to(
            {
                "type": "message",
                "conversation": conversation,
                "id": answer,
                "text": "Je vous écoute.",
            }
        )
        await receive_until(operator, "ack", timeout=10)
        again = visitor_communicator()
        assert (await again.connect())[0]
        await again.send_json_to(
            {"type": "resume", "token": started["token"], "last_seq": 0}
        )
        resumed = await receive_until(again, "resumed", timeout=10)

    assert refused["type"] == "error"
    assert refused["code"] == "overloaded"
    assert refused["retry_after"] == 7
    assert {item["number"] for item in refused["emergency"]} == EMERGENCY
    for number in EMERGENCY:
        assert number in refused["message"]
    assert ack["id"] == said and ack["seq"] == 1
    assert resumed["conversation"] == conversation
    assert await count(Conversation) == 1
    assert await count(Message, client_id=said) == 1
    assert await count(Message, client_id=answer) == 1

    # Once the loop is on time again, the same socket's start is accepted.
    await asyncio.sleep(lag.WINDOW_SECONDS + 0.3)
    await newcomer.send_json_to(START)
    assert (await newcomer.receive_json_from(timeout=10))["type"] == "started"
    assert await count(Conversation) == 2
    for communicator in (visitor, operator, newcomer, again):
        await communicator.disconnect()

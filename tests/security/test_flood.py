"""Finding 1: one client cannot flood the queues (admission control)."""

import asyncio
import logging
import time

import pytest

from channels.db import database_sync_to_async

from anonymity import clientkey
from chat.models import Conversation
from tests.anonymity.conftest import dump_database
from tests.helpers import visitor_from_address

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("runtime_stopped"),
]

FLOODER = "198.51.100.77"
NEIGHBOUR = "203.0.113.5"
START = {"type": "start", "place": "33000", "role": "victim"}
EMERGENCY = {"17", "112", "114", "3919", "119"}


def assert_emergency(frame):
    assert frame["type"] == "error", frame
    assert {item["number"] for item in frame["emergency"]} == EMERGENCY, frame
    for number in ("17", "112", "114", "3919", "119"):
        assert number in frame["message"], frame


async def open_socket(address, port):
    """Connect; return (communicator, None) or (None, refusal frame)."""
    communicator = visitor_from_address(address, port)
    connected, _ = await communicator.connect(timeout=20)
    assert connected
    if await communicator.receive_nothing(timeout=0.02):
        return communicator, None
    refused = await communicator.receive_json_from()
    closed = await communicator.receive_output()
    assert closed == {"type": "websocket.close", "code": 1013}, closed
    return None, refused


def client_key_texts(address):
    keys = clientkey._local_keys.values()
    return {clientkey._digest(key, address) for key in keys} | {address}


async def test_flood_from_one_client_is_refused_while_others_get_in(
    bordeaux, national, settings, caplog
):
    caplog.set_level(logging.DEBUG)
    limit_sockets = settings.ADMISSION_SOCKETS_PER_CLIENT
    limit_starts = settings.ADMISSION_STARTS_PER_CLIENT

    opened = await asyncio.gather(
        *(open_socket(FLOODER, 10000 + n) for n in range(200))
    )
    sockets = [socket for socket, _ in opened if socket is not None]
    refusals = [frame for _, frame in opened if frame is not None]
    assert len(sockets) == limit_sockets
    assert len(refusals) == 200 - limit_sockets
    for frame in refusals:
        assert frame["code"] == "too_many_connections"
        assert_emergency(frame)

    async def start(socket):
        await socket.send_json_to(START)
        return await socket.receive_json_from(timeout=10)

    # 50 starts: one on every open socket, then again on those refused.
    answers = await asyncio.gather(*(start(socket) for socket in sockets))
    refused_sockets = [
        s for s, a in zip(sockets, answers, strict=True) if a["type"] == "error"
    ]
    answers += await asyncio.gather(
        *(start(socket) for socket in refused_sockets[: 50 - len(sockets)])
    )
    assert len(answers) == 50
    started = [a for a in answers if a["type"] == "started"]
    assert len(started) == limit_starts
    for answer in answers:
        if answer["type"] != "started":
            assert answer["code"] == "busy", answer
            assert_emergency(answer)

    # Meanwhile a second client gets in at once.
    began = time.monotonic()
    neighbour = visitor_from_address(NEIGHBOUR)
    assert (await neighbour.connect())[0]
    await neighbour.send_json_to(START)
    answer = await neighbour.receive_json_from(timeout=5)
    assert answer["type"] == "started", answer
    assert time.monotonic() - began < 2

    waiting = await database_sync_to_async(
        lambda: Conversation.objects.filter(status="waiting").count()
    )()
    assert waiting == limit_starts + 1

    # Nothing identifying on disk or in the log.
    dump = await database_sync_to_async(dump_database)()
    assert "chat_conversation " in dump  # the rows were read
    log = caplog.text
    for text in client_key_texts(FLOODER) | client_key_texts(NEIGHBOUR):
        assert text not in dump
        assert text not in log

    for socket in [*sockets, neighbour]:
        await socket.disconnect()


async def test_closing_sockets_gives_their_places_back(national, settings):
    settings.ADMISSION_SOCKETS_PER_CLIENT = 2
    first, _ = await open_socket(FLOODER, 1)
    second, _ = await open_socket(FLOODER, 2)
    _, refused = await open_socket(FLOODER, 3)
    assert refused["code"] == "too_many_connections"
    await first.disconnect()
    third, refused = await open_socket(FLOODER, 4)
    assert refused is None
    await second.disconnect()
    await third.disconnect()


async def test_the_service_queue_has_a_ceiling(bordeaux, national, settings):
    settings.QUEUE_CEILING_PER_SERVICE = 3
    sockets = []
    for n in range(4):
        socket = visitor_from_address(f"192.0.2.{n + 1}")
        assert (await socket.connect())[0]
        await socket.send_json_to(START)
        sockets.append((socket, await socket.receive_json_from(timeout=5)))
    assert [a["type"] for _, a in sockets] == ["started"] * 3 + ["error"]
    assert sockets[3][1]["code"] == "queue_full"
    assert_emergency(sockets[3][1])
    for socket, _ in sockets:
        await socket.disconnect()

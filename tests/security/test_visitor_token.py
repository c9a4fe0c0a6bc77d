"""Finding 6 (token): rotated at resume, one socket, grace, throttled."""

import pytest

from channels.db import database_sync_to_async
from django.utils import timezone

from chat.models import Conversation
from tests.helpers import (
    drain,
    open_conversation,
    visitor_communicator,
    visitor_from_address,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("runtime_stopped"),
]


async def resume(token, address=None):
    visitor = visitor_from_address(address) if address else visitor_communicator()
    assert (await visitor.connect())[0]
    await visitor.send_json_to({"type": "resume", "token": token, "last_seq": 0})
    return visitor, await visitor.receive_json_from(timeout=3)


async def test_resume_rotates_the_token_and_the_old_one_dies(bordeaux, national):
    first, started = await open_conversation()
    await first.disconnect()
    second, resumed = await resume(started["token"])
    assert resumed["type"] == "resumed"
    new_token = resumed["token"]
    assert new_token != started["token"]
    await second.disconnect()
    # Using the new token retires the old one for good.
    third, again = await resume(new_token)
    assert again["type"] == "resumed"
    await third.disconnect()
    fourth, answer = await resume(started["token"])
    assert answer["code"] == "not_found"
    closed = await fourth.receive_output()
    assert closed["code"] == 4404


async def test_a_second_socket_replaces_the_first(bordeaux, national):
    first, started = await open_conversation()
    await drain(first)
    second, resumed = await resume(started["token"])
    assert resumed["type"] == "resumed"
    frame = await first.receive_json_from(timeout=2)
    assert frame == {"type": "replaced"}
    closed = await first.receive_output(timeout=2)
    assert closed == {"type": "websocket.close", "code": 4409}
    await second.disconnect()


async def test_no_transcript_replay_after_the_grace(bordeaux, national, settings):
    visitor, started = await open_conversation()
    await visitor.send_json_to({"type": "leave"})
    await drain(visitor)
    await visitor.disconnect()
    # Within the grace the visitor may still read it back.
    within, answer = await resume(started["token"])
    assert answer["type"] == "resumed"
    await within.disconnect()

    def age_the_close():
        Conversation.objects.update(
            closed_at=timezone.now()
            - timezone.timedelta(seconds=settings.VISITOR_TOKEN_GRACE_SECONDS + 1)
        )

    await database_sync_to_async(age_the_close)()
    late, answer = await resume(answer["token"])
    assert answer["code"] == "not_found"


async def test_wrong_tokens_are_throttled_per_client(bordeaux, national, settings):
    settings.ADMISSION_WRONG_TOKENS_PER_CLIENT = 3
    for _attempt in range(3):
        _, answer = await resume("x" * 43, address="198.51.100.9")
        assert answer["code"] == "not_found"
    visitor, answer = await resume("y" * 43, address="198.51.100.9")
    assert answer["code"] == "rate_limited"
    await visitor.disconnect()
    # Another client is not affected.
    _, answer = await resume("z" * 43, address="198.51.100.10")
    assert answer["code"] == "not_found"

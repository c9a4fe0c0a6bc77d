"""Staff reach visitors only under their pseudonym."""

import json
import uuid

import pytest

from channels.db import database_sync_to_async

from tests.factories import (
    make_commune,
    make_operator,
    make_service,
    make_session_cookie,
)
from tests.helpers import (
    claim,
    drain,
    receive_until,
    staff_communicator,
    visitor_communicator,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("runtime_stopped"),
]


async def test_visitor_frames_never_carry_real_names(db):
    def setup():
        make_commune()
        service = make_service("national")
        user = make_operator(service, pseudonym="Opératrice 12")
        user.first_name, user.last_name = "Camille", "Durand-Réel"
        user.email = "camille.durand@interieur.example"
        user.save()
        return user, make_session_cookie(user)

    user, cookie = await database_sync_to_async(setup)()
    visitor = visitor_communicator()
    await visitor.connect()
    await visitor.send_json_to({"type": "start", "place": "33000", "role": "victim"})
    started = await visitor.receive_json_from()
    operator = staff_communicator(cookie)
    await operator.connect()
    await operator.receive_json_from()
    await claim(operator)
    await operator.send_json_to(
        {"type": "typing", "conversation": started["conversation"], "active": True}
    )
    await operator.send_json_to(
        {
            "type": "message",
            "conversation": started["conversation"],
            "id": str(uuid.uuid4()),
            "text": "Bonjour",
        }
    )
    await receive_until(operator, "ack")
    frames = await drain(visitor, 0.5)
    await operator.disconnect()
    await visitor.disconnect()
    again = visitor_communicator()
    await again.connect()
    await again.send_json_to(
        {"type": "resume", "token": started["token"], "last_seq": 0}
    )
    frames += await drain(again, 0.5)
    await again.disconnect()
    text = json.dumps(frames, ensure_ascii=False)
    assert "Opératrice 12" in text
    for secret in ("Camille", "Durand", "camille.durand", user.username):
        assert secret not in text, secret
    for frame in frames:
        assert not {"user", "author", "email", "username"} & set(frame), frame

"""Through the real socket stack: sealed at start, gone from the scope."""

import json
import logging
import uuid

import pytest

from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from anonymity.models import SealedConnection
from anonymity.sealing import month_key_id
from anonymity.unsealing import unseal_ip_address
from config.asgi import build_websocket_app
from tests.anonymity.conftest import private_key_for
from tests.factories import (
    make_commune,
    make_operator,
    make_service,
    make_session_cookie,
)
from tests.helpers import ORIGIN, receive_until, staff_communicator

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("runtime_stopped"),
]

VISITOR_IP = "203.0.113.77"
seen_scopes = []


def with_client(app, client, extra_headers=()):
    """Play Daphne: set the socket peer, as the server does."""

    async def wrapper(scope, receive, send):
        scope = dict(scope, client=client)
        scope["headers"] = list(scope.get("headers", [])) + list(extra_headers)
        return await app(scope, receive, send)

    return wrapper


def spy_scope(consumer_class):
    original = consumer_class.websocket_connect

    async def connect(self, message):
        seen_scopes.append(dict(self.scope))
        return await original(self, message)

    return connect


async def test_visitor_address_is_sealed_and_never_seen_downstream(
    custodian_dir, settings, monkeypatch, caplog
):
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    caplog.set_level(logging.DEBUG)
    from visitor.consumers import VisitorChatConsumer

    monkeypatch.setattr(
        VisitorChatConsumer, "websocket_connect", spy_scope(VisitorChatConsumer)
    )
    await database_sync_to_async(make_commune)()
    service = await database_sync_to_async(make_service)("national")
    app = with_client(
        build_websocket_app(),
        ["127.0.0.1", 40000],
        [(b"x-forwarded-for", VISITOR_IP.encode()), (b"x-client-port", b"51515")],
    )
    visitor = WebsocketCommunicator(app, "/ws/chat/", headers=[ORIGIN])
    assert (await visitor.connect())[0]
    await visitor.send_json_to({"type": "start", "place": "33000", "role": "victim"})
    started = await visitor.receive_json_from()
    assert started["type"] == "started"

    user = await database_sync_to_async(make_operator)(service)
    operator = staff_communicator(
        await database_sync_to_async(make_session_cookie)(user)
    )
    await operator.connect()
    frames = [await operator.receive_json_from()]
    await operator.send_json_to({"type": "claim"})
    frames.append(await receive_until(operator, "assigned"))
    await visitor.send_json_to(
        {"type": "message", "id": str(uuid.uuid4()), "text": "aide"}
    )
    frames.append(await receive_until(operator, "message"))

    scope = seen_scopes[-1]
    assert scope["client"] is None
    header_names = {name for name, _ in scope["headers"]}
    assert b"x-forwarded-for" not in header_names
    assert b"x-client-port" not in header_names
    assert VISITOR_IP not in repr(scope)
    assert VISITOR_IP not in json.dumps(frames)
    assert VISITOR_IP not in caplog.text

    row = await SealedConnection.objects.aget()
    assert str(row.conversation_id) == started["conversation"]
    key = private_key_for(custodian_dir, month_key_id(row.sealed_at))
    record = unseal_ip_address(
        row.sealed,
        key_id=row.key_id,
        conversation_id=started["conversation"],
        private_key=key,
    )
    assert (record["ip"], record["port"]) == (VISITOR_IP, 51515)
    await visitor.disconnect()
    await operator.disconnect()


async def test_untrusted_peer_cannot_forge_its_address(custodian_dir, settings):
    settings.TRUSTED_PROXIES = []
    await database_sync_to_async(make_commune)()
    await database_sync_to_async(make_service)("national")
    app = with_client(
        build_websocket_app(),
        ["198.51.100.9", 40001],
        [(b"x-forwarded-for", b"6.6.6.6")],
    )
    visitor = WebsocketCommunicator(app, "/ws/chat/", headers=[ORIGIN])
    await visitor.connect()
    await visitor.send_json_to({"type": "start", "place": "33000", "role": "victim"})
    started = await visitor.receive_json_from()
    row = await SealedConnection.objects.aget()
    key = private_key_for(custodian_dir, row.key_id)
    record = unseal_ip_address(
        row.sealed,
        key_id=row.key_id,
        conversation_id=started["conversation"],
        private_key=key,
    )
    assert (record["ip"], record["port"]) == ("198.51.100.9", 40001)
    await visitor.disconnect()


async def test_a_missing_sealing_key_does_not_turn_the_visitor_away(db, caplog):
    await database_sync_to_async(make_commune)()
    await database_sync_to_async(make_service)("national")
    app = with_client(build_websocket_app(), ["198.51.100.9", 40002])
    visitor = WebsocketCommunicator(app, "/ws/chat/", headers=[ORIGIN])
    await visitor.connect()
    await visitor.send_json_to({"type": "start", "place": "33000", "role": "victim"})
    assert (await visitor.receive_json_from())["type"] == "started"
    assert await SealedConnection.objects.acount() == 0
    assert "connection record not kept" in caplog.text
    assert "198.51.100.9" not in caplog.text
    await visitor.disconnect()


async def test_visitor_socket_reads_no_session_cookie(db, monkeypatch):
    """Only staff sockets get the session and user: a visitor has no account.

    Even with a staff member's valid session cookie, a visitor socket's
    scope has no session, user or parsed cookies to keep open; the
    console socket beside it still gets the logged-in user.
    """
    from console.consumers import StaffConsoleConsumer
    from visitor.consumers import VisitorChatConsumer

    seen_scopes.clear()
    monkeypatch.setattr(
        VisitorChatConsumer, "websocket_connect", spy_scope(VisitorChatConsumer)
    )
    monkeypatch.setattr(
        StaffConsoleConsumer, "websocket_connect", spy_scope(StaffConsoleConsumer)
    )
    service = await database_sync_to_async(make_service)("national")
    user = await database_sync_to_async(make_operator)(service)
    cookie = await database_sync_to_async(make_session_cookie)(user)
    visitor = WebsocketCommunicator(
        build_websocket_app(), "/ws/chat/", headers=[ORIGIN, (b"cookie", cookie)]
    )
    connected, _ = await visitor.connect()
    assert connected
    staff = staff_communicator(cookie)
    connected, _ = await staff.connect()
    assert connected
    assert (await staff.receive_json_from())["type"] == "hello"
    visitor_scope, staff_scope = seen_scopes
    assert not {"session", "user", "cookies"} & set(visitor_scope)
    assert staff_scope["user"].pk == user.pk
    await visitor.disconnect()
    await staff.disconnect()

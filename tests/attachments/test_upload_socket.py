"""Upload tokens on the sockets, and the size gate in front of Django."""

import pytest

from channels.db import database_sync_to_async
from channels.testing import ApplicationCommunicator
from django.core.asgi import get_asgi_application
from django.test import override_settings

from attachments.asgi import UploadLimitMiddleware
from attachments.models import UploadToken
from tests.factories import make_commune, make_operator, make_service
from tests.helpers import claim, connect_staff, receive_until, start_visitor

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("runtime_stopped"),
]


def scope(headers):
    return {
        "type": "http",
        "http_version": "1.1",
        "method": "POST",
        "path": "/attachments/upload/",
        "raw_path": b"/attachments/upload/",
        "query_string": b"",
        "root_path": "",
        "scheme": "http",
        "headers": [(b"host", b"testserver"), *headers],
        "client": None,
        "server": ("testserver", 80),
    }


class CountingApp:
    """Django behind the gate, counting what it managed to read."""

    def __init__(self):
        self.inner = get_asgi_application()
        self.called = False

    async def __call__(self, scope, receive, send):
        self.called = True
        await self.inner(scope, receive, send)


@override_settings(ATTACHMENT_MAX_BYTES=1000)
async def test_declared_length_over_the_limit_is_refused_unread():
    app = CountingApp()
    communicator = ApplicationCommunicator(
        UploadLimitMiddleware(app),
        scope([(b"content-length", b"50000000"), (b"authorization", b"Upload x")]),
    )
    # Nothing of the body is ever sent: the answer must not wait for it.
    start = await communicator.receive_output(timeout=5)
    assert start["status"] == 413
    assert app.called is False
    await communicator.wait(timeout=5)


@override_settings(ATTACHMENT_MAX_BYTES=1000)
async def test_streamed_body_is_cut_once_past_the_limit():
    app = CountingApp()
    communicator = ApplicationCommunicator(
        UploadLimitMiddleware(app), scope([(b"authorization", b"Upload x")])
    )
    await communicator.send_input(
        {"type": "http.request", "body": b"a" * 600, "more_body": True}
    )
    await communicator.send_input(
        {"type": "http.request", "body": b"a" * 600, "more_body": True}
    )
    # More would follow; the gate answers without waiting for it.
    start = await communicator.receive_output(timeout=5)
    assert start["status"] == 413
    assert app.called is True
    await communicator.wait(timeout=5)


async def test_visitor_and_staff_get_one_time_upload_tokens():
    await database_sync_to_async(make_commune)()
    service = await database_sync_to_async(make_service)("national")
    visitor, started = await start_visitor()
    await visitor.send_json_to({"type": "upload_token"})
    frame = await receive_until(visitor, "upload_token")
    assert frame["url"] == "/attachments/upload/"
    assert frame["max_bytes"] == 10 * 1024 * 1024
    assert len(frame["token"]) >= 40

    user = await database_sync_to_async(make_operator)(service)
    staff, _hello = await connect_staff(user)
    conversation = started["conversation"]
    await staff.send_json_to({"type": "upload_token", "conversation": conversation})
    refused = await receive_until(staff, "error")
    assert refused["code"] == "not_found"  # not one of theirs yet
    await claim(staff, conversation)
    await staff.send_json_to({"type": "upload_token", "conversation": conversation})
    frame = await receive_until(staff, "upload_token")
    assert frame["conversation"] == conversation
    assert await database_sync_to_async(UploadToken.objects.count)() == 2
    for socket in (visitor, staff):
        await socket.disconnect()

"""Refuse an over-size upload before its body is read (issue 16).

Django's ASGI handler spools a whole request body before any view runs,
so the size limit has to sit in front of it: the declared
``Content-Length`` is checked first, then the body is counted as it
streams in, and the request is answered 413 as soon as either goes over
``ATTACHMENT_MAX_BYTES``. In production nginx's ``client_max_body_size``
for the upload location is the first gate (deploy/nginx).
"""

import json
from typing import Any

from django.conf import settings

from attachments.services import UPLOAD_PATH


class BodyTooLarge(Exception):
    pass


async def send_too_large(send: Any) -> None:
    body = json.dumps(
        {"error": "too_large", "max_bytes": settings.ATTACHMENT_MAX_BYTES}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
                (b"x-content-type-options", b"nosniff"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class UploadLimitMiddleware:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("path") != UPLOAD_PATH:
            await self.app(scope, receive, send)
            return
        limit = settings.ATTACHMENT_MAX_BYTES
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await send_too_large(send)
            return
        received = 0

        async def counted_receive() -> dict[str, Any]:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge
            return message

        try:
            await self.app(scope, counted_receive, send)
        except BodyTooLarge:
            await send_too_large(send)

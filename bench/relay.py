"""A minimal Channels relay: the floor the product's latency is compared to.

Same settings module and channel layer as the product (in-memory without
``REDIS_URL``, ``RedisPubSubChannelLayer`` with it), served by Daphne the
same way, but no database, no encryption at rest, no routing and no auth:
what is left is Daphne, the consumer machinery and the channel layer.

``/ws/relay/``:

- ``{"type":"join","room":"<id>"}`` joins group ``relay.<id>``. The first
  frame must be a join; later joins add rooms, so one socket can sit in
  several rooms like an operator console holding several conversations.
- ``{"type":"message","id":"...","text":"...","room":"<id, optional>"}`` is
  group_sent to the room (default: the first joined) and delivered to the
  other members as ``{"type":"message","room":...,"id":...,"text":...}``;
  the sender gets ``{"type":"ack","id":...}``.

Run: ``daphne -b 127.0.0.1 -p PORT bench.relay:application``.
"""

import json
import os
import re

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup(set_prefix=False)

from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

ROOM_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_ROOMS_PER_SOCKET = 64


def group_name(room: str) -> str:
    return f"relay.{room}"


class RelayConsumer(AsyncWebsocketConsumer):
    """Joins rooms and fans each message out to the room's other members."""

    async def connect(self) -> None:
        self.rooms: list[str] = []
        await self.accept()

    async def disconnect(self, code: int) -> None:
        for room in self.rooms:
            await self.channel_layer.group_discard(group_name(room), self.channel_name)

    async def error(self, code: str, ref: object = None) -> None:
        frame = {"type": "error", "code": code}
        if ref is not None:
            frame["ref"] = ref
        await self.send(text_data=json.dumps(frame))

    async def receive(self, text_data: str | None = None, bytes_data=None) -> None:
        try:
            frame = json.loads(text_data or "")
        except ValueError:
            await self.error("bad_json")
            return
        if not isinstance(frame, dict):
            await self.error("bad_request")
            return
        kind = frame.get("type")
        if kind == "join":
            await self.on_join(frame)
        elif not self.rooms:
            await self.error("bad_state")
        elif kind == "message":
            await self.on_message(frame)
        else:
            await self.error("unknown_type")

    async def on_join(self, frame: dict) -> None:
        room = frame.get("room")
        if not isinstance(room, str) or not ROOM_RE.match(room):
            await self.error("bad_request")
            return
        if room in self.rooms:
            return
        if len(self.rooms) >= MAX_ROOMS_PER_SOCKET:
            await self.error("too_many_rooms")
            return
        await self.channel_layer.group_add(group_name(room), self.channel_name)
        self.rooms.append(room)
        await self.send(text_data=json.dumps({"type": "joined", "room": room}))

    async def on_message(self, frame: dict) -> None:
        msg_id = frame.get("id")
        text = frame.get("text")
        room = frame.get("room", self.rooms[0])
        if not isinstance(msg_id, str) or not isinstance(text, str):
            await self.error("bad_request", msg_id if isinstance(msg_id, str) else None)
            return
        if room not in self.rooms:
            await self.error("bad_state", msg_id)
            return
        await self.channel_layer.group_send(
            group_name(room),
            {
                "type": "relay.message",
                "sender": self.channel_name,
                "room": room,
                "id": msg_id,
                "text": text,
            },
        )
        await self.send(text_data=json.dumps({"type": "ack", "id": msg_id}))

    async def relay_message(self, event: dict) -> None:
        if event["sender"] == self.channel_name:
            return
        await self.send(
            text_data=json.dumps(
                {
                    "type": "message",
                    "room": event["room"],
                    "id": event["id"],
                    "text": event["text"],
                }
            )
        )


application = ProtocolTypeRouter(
    {"websocket": URLRouter([path("ws/relay/", RelayConsumer.as_asgi())])}
)

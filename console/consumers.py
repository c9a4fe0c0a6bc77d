"""The staff WebSocket endpoint, ``/ws/console/`` (PROTOCOL.md)."""

import asyncio
from typing import Any
from uuid import UUID

from django.utils.translation import gettext as _

from channels.db import database_sync_to_async

from chat import events, runtime
from chat.errors import ChatError
from chat.services import (
    check_claim_conversation,
    check_close_conversation,
    check_flag_conversation,
    check_release_conversation,
    check_send_message,
    check_send_note,
    check_send_typing,
    check_transfer_conversation,
    do_drop_connection,
    do_register_connection,
)
from chat.socket import ProtocolConsumer
from console.selectors import (
    get_assigned_conversation,
    get_console_profile,
    get_hello,
    list_queue_items,
)

CLOSE_NOT_LOGGED_IN = 4401
CLOSE_NOT_ALLOWED = 4403
QUEUE_DEBOUNCE_SECONDS = 0.1


class StaffConsoleConsumer(ProtocolConsumer):
    """A staff member's console socket: queue, conversations, actions."""

    rate_setting = "CHAT_STAFF_RATE_PER_SECOND"
    for_staff = True
    handlers = {
        "claim": "handle_claim",
        "message": "handle_message",
        "typing": "handle_typing",
        "sync": "handle_sync",
        "note": "handle_note",
        "release": "handle_release",
        "flag": "handle_flag",
        "close": "handle_close",
        "transfer": "handle_transfer",
        "send_resource": "handle_later",
        "invite": "handle_later",
        "join": "handle_later",
        "request_consent": "handle_later",
    }

    async def connect(self) -> None:
        self.profile = None
        self.queue_refresh: asyncio.Task | None = None
        self.service_ids: list[int] = []
        user = self.scope.get("user")
        await self.accept()
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_NOT_LOGGED_IN)
            return
        profile = await database_sync_to_async(get_console_profile)(user)
        if profile is None:
            await self.close(code=CLOSE_NOT_ALLOWED)
            return
        self.profile = profile
        self.service_ids = [service.id for service in profile.services.all()]
        for group in self.groups_to_join():
            await self.channel_layer.group_add(group, self.channel_name)
        hello = await database_sync_to_async(get_hello)(profile)
        for conversation in hello["conversations"]:
            await self.watch(UUID(conversation["id"]), conversation["last_seq"])
        await self.call(
            do_register_connection,
            self.channel_name,
            server_id=runtime.SERVER_ID,
            user_id=profile.user_id,
        )
        runtime.register_socket(self)
        await self.send_json(hello)

    def groups_to_join(self) -> list[str]:
        groups = [events.user_group_name(self.profile.user_id)]
        groups += [events.service_staff_group_name(sid) for sid in self.service_ids]
        return groups

    async def disconnect(self, code: int) -> None:
        if self.profile is None:
            return
        for group in self.groups_to_join():
            await self.channel_layer.group_discard(group, self.channel_name)
        for conversation_id in list(self.delivered):
            await self.unwatch(conversation_id)
        await self.call(do_drop_connection, self.channel_name)

    async def watch(self, conversation_id: UUID, delivered: int) -> None:
        if conversation_id in self.delivered:
            return
        self.delivered[conversation_id] = delivered
        await self.channel_layer.group_add(
            events.conversation_group_name(conversation_id), self.channel_name
        )

    async def unwatch(self, conversation_id: UUID) -> None:
        self.delivered.pop(conversation_id, None)
        await self.channel_layer.group_discard(
            events.conversation_group_name(conversation_id), self.channel_name
        )

    def require_watched(self, frame: dict[str, Any]) -> UUID:
        try:
            conversation_id = UUID(str(frame.get("conversation")))
        except ValueError:
            raise ChatError("bad_request", _("conversation doit être un UUID.")) from None
        if conversation_id not in self.delivered:
            raise ChatError("not_found", _("Conversation introuvable."))
        return conversation_id

    # -- handlers ---------------------------------------------------------

    async def handle_claim(self, frame: dict[str, Any]) -> None:
        target = frame.get("conversation")
        if target is not None and not isinstance(target, str):
            raise ChatError("bad_request", _("conversation doit être un UUID."))
        conversation = await self.call(check_claim_conversation, self.profile, target)
        await self.send_assigned(conversation.id)

    async def send_assigned(self, conversation_id: UUID) -> None:
        data = await database_sync_to_async(get_assigned_conversation)(
            self.profile, conversation_id
        )
        if data is None or conversation_id in self.delivered:
            return
        await self.watch(conversation_id, data["last_seq"])
        await self.send_json({"type": "assigned", "conversation": data})

    async def handle_message(self, frame: dict[str, Any]) -> None:
        conversation_id = self.require_watched(frame)
        message, _created = await self.call(
            check_send_message,
            conversation_id,
            text=frame.get("text"),
            client_id=frame.get("id"),
            profile=self.profile,
        )
        self.note_own_message(message)
        ack = {
            "type": "ack",
            "id": str(message.client_id),
            "seq": message.seq,
            "conversation": str(conversation_id),
        }
        if events.layer_recently_failed():
            ack["live"] = False
        await self.send_json(ack)

    async def handle_typing(self, frame: dict[str, Any]) -> None:
        conversation_id = self.require_watched(frame)
        await self.call(
            check_send_typing,
            conversation_id,
            active=frame.get("active"),
            origin=self.channel_name,
            profile=self.profile,
        )

    async def handle_sync(self, frame: dict[str, Any]) -> None:
        after = frame.get("after")
        if not isinstance(after, int) or isinstance(after, bool) or after < 0:
            raise ChatError("bad_request", _("after doit être un entier positif."))
        conversation_id = self.require_watched(frame)
        await self.send_history(conversation_id, after)

    async def handle_note(self, frame: dict[str, Any]) -> None:
        conversation_id = self.require_watched(frame)
        note = await self.call(
            check_send_note, self.profile, conversation_id, text=frame.get("text")
        )
        reply = {"type": "noted", "conversation": str(conversation_id), "note": note.id}
        if isinstance(frame.get("id"), str):
            reply["id"] = frame["id"]
        await self.send_json(reply)

    async def handle_release(self, frame: dict[str, Any]) -> None:
        conversation_id = self.require_watched(frame)
        await self.call(check_release_conversation, self.profile, conversation_id)
        await self.unwatch(conversation_id)
        await self.send_json(
            {"type": "released", "conversation": str(conversation_id), "reason": "released"}
        )

    async def handle_flag(self, frame: dict[str, Any]) -> None:
        conversation = frame.get("conversation")
        if not isinstance(conversation, str):
            raise ChatError("bad_request", _("conversation doit être un UUID."))
        flagged = await self.call(
            check_flag_conversation,
            self.profile,
            conversation,
            urgent=frame.get("urgent"),
            minor=frame.get("minor"),
        )
        await self.send_json(
            {
                "type": "flagged",
                "conversation": str(flagged.id),
                "urgent": flagged.urgent,
                "minor": flagged.minor,
            }
        )

    async def handle_close(self, frame: dict[str, Any]) -> None:
        conversation_id = self.require_watched(frame)
        await self.call(
            check_close_conversation,
            self.profile,
            conversation_id,
            outcome=frame.get("outcome"),
            categories=frame.get("categories"),
        )

    async def handle_transfer(self, frame: dict[str, Any]) -> None:
        conversation_id = self.require_watched(frame)
        await self.call(
            check_transfer_conversation,
            self.profile,
            conversation_id,
            service_slug=frame.get("service"),
        )
        await self.unwatch(conversation_id)
        await self.send_json(
            {
                "type": "released",
                "conversation": str(conversation_id),
                "reason": "transferred",
            }
        )

    async def handle_later(self, frame: dict[str, Any]) -> None:
        raise ChatError(
            "not_implemented", _("Cette action arrive dans une prochaine version.")
        )

    # -- layer events -----------------------------------------------------

    async def chat_typing(self, event: dict[str, Any]) -> None:
        if event["origin"] == self.channel_name:
            return
        await self.send_json(
            {
                "type": "typing",
                "conversation": event["conversation"],
                "from": event["from"],
                "active": event["active"],
            }
        )

    async def chat_participant(self, event: dict[str, Any]) -> None:
        change = "left" if event["change"] == "reconnecting" else event["change"]
        frame = {
            "type": change,
            "conversation": event["conversation"],
            "role": event["role"],
            "name": event["name"],
        }
        if event["change"] == "reconnecting":
            frame["reconnecting"] = True
        await self.send_json(frame)

    async def chat_closed(self, event: dict[str, Any]) -> None:
        conversation_id = UUID(event["conversation"])
        if conversation_id not in self.delivered:
            return
        # Deliver what was stored before the close, then stop watching.
        await self.catch_up(conversation_id, 1 << 30)
        await self.unwatch(conversation_id)
        await self.send_json(
            {"type": "closed", "conversation": event["conversation"], "reason": event["reason"]}
        )

    async def chat_status(self, event: dict[str, Any]) -> None:
        return

    async def chat_queue_position(self, event: dict[str, Any]) -> None:
        return

    async def console_queue_changed(self, event: dict[str, Any]) -> None:
        if self.queue_refresh is None or self.queue_refresh.done():
            self.queue_refresh = asyncio.ensure_future(self.refresh_queue())

    async def refresh_queue(self) -> None:
        await asyncio.sleep(QUEUE_DEBOUNCE_SECONDS)
        items = await database_sync_to_async(list_queue_items)(self.profile)
        await self.send_json({"type": "queue", "items": items})

    async def console_assigned(self, event: dict[str, Any]) -> None:
        await self.send_assigned(UUID(event["conversation"]))

    async def console_unassigned(self, event: dict[str, Any]) -> None:
        conversation_id = UUID(event["conversation"])
        if conversation_id not in self.delivered:
            return
        await self.unwatch(conversation_id)
        await self.send_json(
            {
                "type": "released",
                "conversation": event["conversation"],
                "reason": event["reason"],
            }
        )


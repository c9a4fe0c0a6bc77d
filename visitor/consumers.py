"""The visitor's WebSocket endpoint, ``/ws/chat/`` (docs/protocol.md)."""

import contextlib
import uuid
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _

from attachments.services import check_issue_visitor_upload_token, token_frame
from chat import admission, events, refusals
from chat.errors import ChatError
from chat.models import Conversation
from chat.services import (
    check_send_message,
    check_send_typing,
    do_leave_conversation,
    do_resume_conversation,
    visitor_draft,
    writes_in_loop,
)
from chat.socket import ProtocolConsumer
from console import queue_feed
from console.services import check_answer_invitation
from directory.selectors import get_callback_options
from directory.services import check_request_callback
from escalation.consent import check_answer_consent, get_consent_frame
from realtime import events as rt_events
from realtime import runtime
from realtime.close_codes import (
    CLOSE_FLOOD,
    CLOSE_NOT_FOUND,
    CLOSE_REPLACED,
    CLOSE_TRY_AGAIN_LATER,
)
from realtime.frames import db_read, setup_slot
from realtime.loopdb import Unavailable
from receipts.services import check_recover_conversation, do_issue_receipt
from visitor.services import (
    AttachedView,
    check_start_and_attach,
    do_attach_visitor,
    do_detach_visitor,
)


class VisitorChatConsumer(ProtocolConsumer):
    """An anonymous visitor's socket; one conversation at most."""

    handlers = {
        "start": "handle_start",
        "resume": "handle_resume",
        "message": "handle_message",
        "sync": "handle_sync",
        "typing": "handle_typing",
        "consent": "handle_consent",
        "participant_answer": "handle_participant_answer",
        "leave": "handle_leave",
        "callback_options": "handle_callback_options",
        "callback": "handle_callback",
        "receipt": "handle_receipt",
        "recover": "handle_recover",
        "upload_token": "handle_upload_token",
    }

    async def connect(self) -> None:
        self.conversation: Conversation | None = None
        self.last_queue: tuple[int, int] | None = None
        self.recover_attempts = 0
        self.client_key = self.scope.get("client_key")
        self.admitted = False
        await self.accept()
        try:
            await admission.admit_socket(self.client_key)
        except ChatError as error:
            await self.send_error(error.code, error.message, **error.extra)
            await self.close(code=CLOSE_TRY_AGAIN_LATER)
            return
        self.admitted = True

    async def release_admission(self) -> None:
        if getattr(self, "admitted", False):
            self.admitted = False
            await admission.release_socket(self.client_key)

    async def disconnect(self, code: int) -> None:
        queue_feed.unfollow_place(self)
        await self.release_admission()
        conversation = getattr(self, "conversation", None)
        if conversation is not None:
            await self.channel_layer.group_discard(
                events.conversation_group_name(conversation.id), self.channel_name
            )
            await self.channel_layer.group_discard(
                events.visitor_group_name(conversation.id), self.channel_name
            )
            await self.call(do_detach_visitor, self.channel_name, conversation.id)

    def require_conversation(self) -> Conversation:
        if self.conversation is None:
            raise ChatError("bad_state", _("Commencez par start ou resume."))
        return self.conversation

    async def attach(self, conversation: Conversation, delivered: int) -> AttachedView:
        """Join a resumed conversation's groups, then attach in one call.

        The groups come first: whatever happens after the call's reads
        arrives as an event. (A start joins them before it opens the
        conversation: ``handle_start``.)
        """
        self.conversation = conversation
        self.delivered[conversation.id] = delivered
        # At most one visitor socket per conversation: the newest wins and
        # the others are told and closed (issue 11).
        await self.channel_layer.group_send(
            events.visitor_group_name(conversation.id),
            {"type": "chat.replaced", "by": self.channel_name},
        )
        await self.channel_layer.group_add(
            events.visitor_group_name(conversation.id), self.channel_name
        )
        await self.channel_layer.group_add(
            events.conversation_group_name(conversation.id), self.channel_name
        )
        since = None
        if conversation.status == Conversation.Status.WAITING:
            # Before the read of its place: a change heard after the mark
            # reaches it through the feed, and nothing else is read again.
            since = await queue_feed.listen([conversation.service_id])
        view = await self.call(
            do_attach_visitor,
            self.channel_name,
            conversation,
            server_id=runtime.SERVER_ID,
            seal=self.scope.get("connection_seal"),
            resumed=True,
        )
        self.attached(conversation)
        if conversation.status == Conversation.Status.WAITING:
            await queue_feed.follow_place(self, since)
        return view

    def attached(self, conversation: Conversation) -> None:
        runtime.register_socket(self)
        self.place_service_id = conversation.service_id
        self.place_conversation_id = conversation.id

    # -- handlers ---------------------------------------------------------

    async def handle_start(self, frame: dict[str, Any]) -> None:
        if self.conversation is not None:
            raise refusals.conversation_already_open()
        # Before anything is counted or read: shedding must cost nothing.
        admission.check_not_overloaded()
        # Counted before the slot: a Redis round trip is no database work,
        # and the slot's holders open conversations one after another.
        await admission.admit_start(self.client_key)
        # The socket picks the new conversation's id and joins its groups
        # first: layer work, outside the slot, which then covers the one
        # database call that opens and attaches.
        conversation_id = uuid.uuid4()
        groups = [
            events.visitor_group_name(conversation_id),
            events.conversation_group_name(conversation_id),
        ]
        try:
            for group in groups:
                await self.channel_layer.group_add(group, self.channel_name)
            started = await self.start_conversation(frame, conversation_id)
        except BaseException:
            if self.conversation is None:
                # Refused, or the socket went while it waited: no
                # conversation was opened, so none is counted.
                await admission.unadmit_start(self.client_key)
                for group in groups:
                    with contextlib.suppress(Exception):
                        await self.channel_layer.group_discard(group, self.channel_name)
            raise
        await self.send_json(started)

    async def start_conversation(
        self, frame: dict[str, Any], conversation_id: uuid.UUID
    ) -> dict[str, Any]:
        """Open and attach the conversation; return the ``started`` frame."""
        async with setup_slot():
            # Before the read of its place: a change heard after the mark
            # reaches it through the feed, and nothing else is read again.
            mark = queue_feed.mark()
            conversation, token, details, view = await self.call(
                check_start_and_attach,
                self.channel_name,
                conversation_id,
                server_id=runtime.SERVER_ID,
                seal=self.scope.get("connection_seal"),
                place=frame.get("place"),
                role=frame.get("role"),
                service_slug=frame.get("service"),
                lang=frame.get("lang", "fr"),
                commune=frame.get("commune"),
                topic=frame.get("topic"),
            )
        self.conversation = conversation
        self.delivered[conversation.id] = 0
        self.attached(conversation)
        await queue_feed.follow_place(self, mark.since_for(conversation.service_id))
        position, wait = view.queue
        self.last_queue = (position, wait)
        return {
            "type": "started",
            "conversation": str(conversation.id),
            "token": token,
            "service": conversation.service.slug,
            "service_name": conversation.service.name,
            "place": conversation.place_label,
            "queue": {"position": position, "estimated_wait_s": wait},
            **details,
        }

    async def handle_resume(self, frame: dict[str, Any]) -> None:
        if self.conversation is not None:
            raise refusals.conversation_already_open()
        last_seq = frame.get("last_seq", 0)
        if not isinstance(last_seq, int) or isinstance(last_seq, bool) or last_seq < 0:
            raise ChatError("bad_request", _("last_seq doit être un entier positif."))
        await admission.check_token_attempts(self.client_key)
        async with setup_slot():
            await self.resume_conversation(frame.get("token"), last_seq)

    async def resume_conversation(self, token: Any, last_seq: int) -> None:
        try:
            conversation, token = await self.call(do_resume_conversation, token)
        except ChatError as error:
            if error.code == "not_found":
                await admission.note_wrong_token(self.client_key)
                await self.send_error(error.code, error.message)
                await self.close(code=CLOSE_NOT_FOUND)
                return
            raise
        if conversation.abusive:
            await admission.block_client(self.client_key)
        await self.send_resumed(conversation, last_seq, token=token)

    async def send_resumed(
        self, conversation: Conversation, last_seq: int, **extra: Any
    ) -> None:
        """Attach, answer ``resumed``, then history, request, queue or end."""
        view = await self.attach(conversation, last_seq)
        await self.send_json(
            {
                "type": "resumed",
                "conversation": str(conversation.id),
                "status": conversation.status,
                "service": conversation.service.slug,
                "service_name": conversation.service.name,
                "commune": view.commune,
                **extra,
            }
        )
        await self.send_history(conversation.id, last_seq)
        if view.invitation is not None:
            await self.send_json(view.invitation)
        if view.consent is not None:
            await self.send_json(view.consent)
        if view.queue is not None:
            await self.send_queue(*view.queue)
        elif conversation.status == Conversation.Status.CLOSED:
            await self.send_json({"type": "closed", "reason": conversation.outcome})

    async def handle_receipt(self, frame: dict[str, Any]) -> None:
        """Give the visitor a receipt code for coming back later (issue 16)."""
        conversation = self.require_conversation()
        code = await self.call(do_issue_receipt, conversation)
        await self.send_json({"type": "receipt", "code": code})

    async def handle_recover(self, frame: dict[str, Any]) -> None:
        """Come back to a conversation with its receipt code (issue 16).

        A socket gets ``RECEIPT_ATTEMPTS_PER_SOCKET`` tries; then it is
        closed, and every failure also counts toward a global limit.
        """
        if self.conversation is not None:
            raise refusals.conversation_already_open()
        self.recover_attempts += 1
        if self.recover_attempts > settings.RECEIPT_ATTEMPTS_PER_SOCKET:
            await self.send_error(
                "rate_limited", _("Trop d'essais : réessayez dans une minute.")
            )
            await self.close(code=CLOSE_FLOOD)
            return
        conversation, token = await self.call(
            check_recover_conversation, frame.get("code")
        )
        if conversation.abusive:
            await admission.block_client(self.client_key)
        await self.send_resumed(conversation, 0, token=token, follow_up=True)

    async def handle_upload_token(self, frame: dict[str, Any]) -> None:
        """A one-time token for sending one file over HTTP (issue 16)."""
        conversation = self.require_conversation()
        token = await self.call(check_issue_visitor_upload_token, conversation)
        await self.send_json(token_frame(token))

    async def handle_message(self, frame: dict[str, Any]) -> None:
        conversation = self.require_conversation()
        self.expect_own_message(frame.get("id"))
        expect_seq = self.next_seq(conversation.id)
        stored = None
        if writes_in_loop():
            draft = visitor_draft(
                conversation.id, text=frame.get("text"), client_id=frame.get("id")
            )
            with contextlib.suppress(Unavailable):
                stored = await self.store_in_loop(draft, expect_seq)
                expect_seq = None  # Tried: the transaction decides.
        if stored is None:
            stored = await self.call(
                check_send_message,
                conversation,
                text=frame.get("text"),
                client_id=frame.get("id"),
                expect_seq=expect_seq,
            )
        message, _created = stored
        self.note_own_message(message)
        ack = {"type": "ack", "id": str(message.client_id), "seq": message.seq}
        if rt_events.layer_recently_failed():
            ack["live"] = False
        await self.send_json(ack)

    async def handle_sync(self, frame: dict[str, Any]) -> None:
        conversation = self.require_conversation()
        after = frame.get("after")
        if not isinstance(after, int) or isinstance(after, bool) or after < 0:
            raise refusals.after_not_positive()
        await self.send_history(conversation.id, after)

    async def handle_typing(self, frame: dict[str, Any]) -> None:
        conversation = self.require_conversation()
        await self.call(
            check_send_typing,
            conversation,
            active=frame.get("active"),
            origin=self.channel_name,
        )

    async def handle_consent(self, frame: dict[str, Any]) -> None:
        """Answer a ``consent_request`` (docs/protocol.md, "Consent")."""
        conversation = self.require_conversation()
        if not isinstance(frame.get("request"), str):
            raise ChatError("bad_request", _("Le champ request est requis."))
        consent = await self.call(
            check_answer_consent,
            conversation,
            request_id=frame["request"],
            accept=frame.get("accept"),
            contact=frame.get("contact"),
        )
        await self.send_json(
            {
                "type": "consent_recorded",
                "request": str(consent.id),
                "accept": consent.status == "accepted",
                "fields": list(consent.shared_fields),
            }
        )

    async def handle_participant_answer(self, frame: dict[str, Any]) -> None:
        """Answer a ``participant_request`` (may a psychologist join?)."""
        conversation = self.require_conversation()
        invitation = await self.call(
            check_answer_invitation,
            conversation,
            invitation_id=frame.get("request"),
            accept=frame.get("accept"),
        )
        await self.send_json(
            {
                "type": "participant_answered",
                "request": str(invitation.id),
                "accept": frame["accept"],
            }
        )

    async def handle_callback_options(self, frame: dict[str, Any]) -> None:
        """List the associations that can call this visitor back (issue 6)."""
        conversation = self.require_conversation()
        await self.send_json(await db_read(get_callback_options)(conversation))

    async def handle_callback(self, frame: dict[str, Any]) -> None:
        """Ask a partner association to call back; the number is sealed."""
        conversation = self.require_conversation()
        request = await self.call(
            check_request_callback,
            conversation,
            partner_id=frame.get("partner"),
            phone=frame.get("phone"),
            times=frame.get("times"),
        )
        reply = {
            "type": "callback_requested",
            "request": str(request.id),
            "partner": str(request.partner_id),
            "partner_name": request.partner.name,
        }
        if isinstance(frame.get("id"), str):
            reply["id"] = frame["id"]
        await self.send_json(reply)

    async def handle_leave(self, frame: dict[str, Any]) -> None:
        """End the conversation; ``quick_exit`` says the page was fled.

        The quick exit sends this just before the page is replaced, so the
        operator's slot is freed at once rather than after a grace period.
        """
        conversation = self.require_conversation()
        quick = frame.get("quick_exit", False)
        if not isinstance(quick, bool):
            raise ChatError("bad_request", _("quick_exit doit être vrai ou faux."))
        await self.call(do_leave_conversation, conversation, quick_exit=quick)
        self.conversation.status = Conversation.Status.CLOSED
        queue_feed.unfollow_place(self)
        await self.send_json({"type": "closed", "reason": "visitor_left"})

    async def send_place(self, position: int, wait: int) -> None:
        """The process's queue feed (``console.queue_feed``) tells our place."""
        if self.conversation and self.conversation.status == "waiting":
            await self.send_queue(position, wait)

    async def send_queue(self, position: int, wait: int) -> None:
        if self.last_queue == (position, wait):
            return
        self.last_queue = (position, wait)
        await self.send_json(
            {"type": "queue", "position": position, "estimated_wait_s": wait}
        )

    # -- layer events -----------------------------------------------------

    async def chat_replaced(self, event: dict[str, Any]) -> None:
        """A newer socket attached to this conversation: step aside."""
        if event["by"] == self.channel_name:
            return
        await self.send_json({"type": "replaced"})
        await self.close(code=CLOSE_REPLACED)

    async def chat_abusive(self, event: dict[str, Any]) -> None:
        """An operator marked this conversation abusive: block our key."""
        await admission.block_client(self.client_key)

    async def chat_typing(self, event: dict[str, Any]) -> None:
        if event["origin"] == self.channel_name or event["from"] == "visitor":
            return
        await self.send_json(
            {"type": "typing", "from": event["from"], "active": event["active"]}
        )

    async def chat_participant(self, event: dict[str, Any]) -> None:
        frame: dict[str, Any] = {"role": event["role"], "name": event["name"]}
        if event["change"] == "reconnecting":
            frame.update(type="left", reconnecting=True, grace_s=event["grace_s"])
        else:
            frame["type"] = event["change"]
        await self.send_json(frame)

    async def chat_invitation(self, event: dict[str, Any]) -> None:
        """Ask whether someone may join, or withdraw the question."""
        if event["status"] == "asking":
            await self.send_json(
                {
                    "type": "participant_request",
                    "request": event["invitation"],
                    "role": event["role"],
                    "text": event["text"],
                }
            )
        elif event["status"] == "cancelled":
            await self.send_json(
                {
                    "type": "participant_request_cancelled",
                    "request": event["invitation"],
                }
            )

    async def chat_consent(self, event: dict[str, Any]) -> None:
        """An operator asks for consent: show the exact text."""
        frame = await db_read(get_consent_frame)(event["request"], for_staff=False)
        if frame is not None:
            await self.send_json(frame)

    async def chat_status(self, event: dict[str, Any]) -> None:
        if self.conversation is None:
            return
        self.conversation.status = event["status"]
        if event["status"] == Conversation.Status.WAITING:
            # Back in the queue: the process's feed tells its place.
            self.last_queue = None
            await queue_feed.follow_place(self)
        else:
            queue_feed.unfollow_place(self)

    async def chat_closed(self, event: dict[str, Any]) -> None:
        if self.conversation is None:
            return
        if self.conversation.status == Conversation.Status.CLOSED and (
            event["reason"] in ("visitor_left", "quick_exit")
        ):
            return
        self.conversation.status = Conversation.Status.CLOSED
        queue_feed.unfollow_place(self)
        await self.send_json({"type": "closed", "reason": event["reason"]})

"""The staff WebSocket endpoint, ``/ws/console/`` (docs/protocol.md).

Extensions of the protocol (invitations, join and leave, whispers, the
supervisors' board, canned answers, automatic assignment) are documented
in docs/protocol.md.
"""

import asyncio
import contextlib
import functools
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import transaction

from attachments.services import check_issue_staff_upload_token, token_frame
from chat import events, refusals
from chat.errors import ChatError
from chat.services import (
    do_drop_connection,
    do_register_connection,
    writes_in_loop,
    writes_in_one_statement,
)
from chat.socket import ProtocolConsumer
from console import queue_feed
from console.auth import (
    Grant,
    account_signature,
    get_console_grant,
    lock_console_access,
)
from console.models import StaffProfile
from console.selectors import (
    get_assigned_conversation,
    get_hello,
    get_invitation_frame,
    get_note_frame,
    get_psychologist_duty_for,
    get_whisper_frame,
    is_wrap_up_for,
    list_canned_answers,
)
from console.services import (
    check_add_note,
    check_board,
    check_cancel_invitation,
    check_claim_conversation,
    check_close_conversation,
    check_delete_canned,
    check_flag_conversation,
    check_invite,
    check_join_conversation,
    check_leave_conversation,
    check_mark_abusive,
    check_release_conversation,
    check_save_canned,
    check_send_in_charge_message,
    check_send_staff_message,
    check_send_staff_typing,
    check_send_whisper,
    check_switch_auto_assign,
    check_transfer_conversation,
    do_auto_assign_for,
    in_charge_draft,
)
from console.services.conversations import check_confirm_force
from directory.services import check_send_resource
from escalation.consent import check_request_consent, get_consent_frame
from realtime import events as rt_events
from realtime import runtime
from realtime.close_codes import CLOSE_ACCOUNT_CHANGED, CLOSE_NOT_LOGGED_IN
from realtime.frames import database_is_sqlite, db_read, setup_slot
from realtime.loopdb import Unavailable

QUEUE_DEBOUNCE_SECONDS = 0.5
BOARD_REFRESH_SECONDS = 5.0


def get_access_and_signature(
    session_key: str | None,
) -> tuple[int, Any, tuple | None, Grant | None]:
    code, profile, grant = get_console_grant(session_key)
    return code, profile, account_signature(profile) if profile else None, grant


class StaffConsoleConsumer(ProtocolConsumer):
    """A staff member's console socket: queue, conversations, actions."""

    rate_setting = "CHAT_STAFF_RATE_PER_SECOND"
    for_staff = True
    handlers = {
        "claim": "handle_claim",
        "upload_token": "handle_upload_token",
        "message": "handle_message",
        "typing": "handle_typing",
        "sync": "handle_sync",
        "note": "handle_note",
        "release": "handle_release",
        "flag": "handle_flag",
        "close": "handle_close",
        "abusive": "handle_abusive",
        "transfer": "handle_transfer",
        "invite": "handle_invite",
        "cancel_invitation": "handle_cancel_invitation",
        "join": "handle_join",
        "leave": "handle_leave",
        "whisper": "handle_whisper",
        "board": "handle_board",
        "canned_save": "handle_canned_save",
        "canned_delete": "handle_canned_delete",
        "auto_assign": "handle_auto_assign",
        "send_resource": "handle_send_resource",
        "confirm_force": "handle_confirm_force",
        "psychologists": "handle_psychologists",
        "request_consent": "handle_request_consent",
    }

    async def connect(self) -> None:
        self.profile = None
        self.queue_refresh: asyncio.Task | None = None
        self.board_task: asyncio.Task | None = None
        self.recheck_task: asyncio.Task | None = None
        self.service_ids: list[int] = []
        self.watching_board = False
        self.invitations_sent: set[tuple[str, str]] = set()
        # The access check the next write may rely on (``write``).
        self.grant = None
        user = self.scope.get("user")
        session = self.scope.get("session")
        self.session_key = getattr(session, "session_key", None)
        await self.accept()
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_NOT_LOGGED_IN)
            return
        # A console's hello reads as much as opening a conversation, and a
        # shift change opens dozens at once: its database work takes turns
        # in the process's opening slot (realtime.frames.setup_slot), its
        # layer work (the groups) does not hold it.
        async with setup_slot():
            code, profile, signature, grant = await db_read(get_access_and_signature)(
                self.session_key
            )
        if profile is None:
            await self.close(code=code)
            return
        self.profile = profile
        self.signature = signature
        # The first write relies on this check too (``write``).
        self.grant = grant
        self.service_ids = [service.id for service in profile.services.all()]
        for group in self.groups_to_join():
            await self.channel_layer.group_add(group, self.channel_name)
        # The process follows the queues before the hello reads them.
        queue_mark = await queue_feed.listen(self.service_ids)
        async with setup_slot():
            hello = await self.read_hello(profile)
        for conversation in hello["conversations"]:
            await self.watch(UUID(conversation["id"]), conversation["last_seq"])
        runtime.register_socket(self)
        await self.send_json(hello)
        queue_feed.subscribe(self, since=queue_mark)
        self.recheck_task = asyncio.ensure_future(self.recheck_forever())
        if profile.has_role("supervisor"):
            await self.start_board()

    async def read_hello(self, profile: StaffProfile) -> dict[str, Any]:
        """Read the hello and record the socket's presence row.

        On PostgreSQL in one trip to a database thread; SQLite's one writer
        thread does no reads, so there the read goes to the pool.
        """
        register = functools.partial(
            do_register_connection,
            self.channel_name,
            server_id=runtime.SERVER_ID,
            user_id=profile.user_id,
        )
        if database_is_sqlite():
            hello = await db_read(get_hello)(profile)
            await self.call(register)
            return hello

        def read_and_register() -> dict[str, Any]:
            hello = get_hello(profile)
            register()
            return hello

        return await self.call(read_and_register)

    def groups_to_join(self) -> list[str]:
        """The user's and the services' groups; never the queue's.

        Queue changes reach the process once (``queue_feed``), which calls
        ``send_queue_text`` and ``queue_changed_here`` on this socket.
        """
        groups = [events.user_group_name(self.profile.user_id)]
        groups += [events.service_staff_group_name(sid) for sid in self.service_ids]
        return groups

    async def disconnect(self, code: int) -> None:
        for task in (self.recheck_task, self.board_task, self.queue_refresh):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
        queue_feed.unsubscribe(self)
        if self.profile is None:
            return
        for group in self.groups_to_join():
            await self.channel_layer.group_discard(group, self.channel_name)
        for conversation_id in list(self.delivered):
            await self.unwatch(conversation_id)
        await self.call(do_drop_connection, self.channel_name)
        self.profile = None

    async def watch(self, conversation_id: UUID, delivered: int) -> None:
        if conversation_id in self.delivered:
            return
        self.delivered[conversation_id] = delivered
        await self.channel_layer.group_add(
            events.conversation_group_name(conversation_id), self.channel_name
        )
        await self.channel_layer.group_add(
            events.conversation_staff_group_name(conversation_id), self.channel_name
        )

    async def unwatch(self, conversation_id: UUID) -> None:
        self.delivered.pop(conversation_id, None)
        await self.channel_layer.group_discard(
            events.conversation_group_name(conversation_id), self.channel_name
        )
        await self.channel_layer.group_discard(
            events.conversation_staff_group_name(conversation_id), self.channel_name
        )

    def require_watched(self, frame: dict[str, Any]) -> UUID:
        try:
            conversation_id = UUID(str(frame.get("conversation")))
        except ValueError:
            raise refusals.conversation_not_uuid() from None
        if conversation_id not in self.delivered:
            raise refusals.conversation_not_found()
        return conversation_id

    # -- authorization refresh (docs/security.md §B9) --------------------

    async def recheck_forever(self) -> None:
        while True:
            await asyncio.sleep(settings.CONSOLE_AUTH_RECHECK_SECONDS)
            if not await self.recheck_access():
                return

    async def recheck_access(self) -> bool:
        """Re-read session, account and second factor; close if they lapsed.

        A change of roles or services closes with 4409: the console
        reconnects at once and its new ``hello`` lists what it may see now.
        """
        if self.profile is None:
            return False
        code, profile, signature, grant = await db_read(get_access_and_signature)(
            self.session_key
        )
        if profile is None or signature != self.signature:
            await self.disconnect(code)
            await self.close(code=code if profile is None else CLOSE_ACCOUNT_CHANGED)
            return False
        self.profile = profile
        self.grant = grant
        return True

    async def write(
        self, fn: Any, *args: Any, read_after: Any = None, **kwargs: Any
    ) -> Any:
        """Run a staff write after re-checking the account, in one transaction.

        ``fn`` gets the profile the access was checked with: a deactivated
        account, an ended session or a lost role or service is refused even
        if the change committed a moment ago (issue 11). While the account's
        access stamp is the one this socket last checked under, that check
        is one indexed read (issue 14).

        ``read_after(profile, result)``, if given, reads what the write
        changed once it is committed; ``write`` then returns both. On
        PostgreSQL it reads in the write's database thread (no second trip
        through the loop); SQLite's one writer thread does no reads.
        """
        session_key = self.session_key
        held = (self.profile, self.grant) if self.grant is not None else None
        signature_held = self.signature
        read_here = read_after is not None and not database_is_sqlite()

        def locked() -> tuple[Any, Any, tuple, Any]:
            with transaction.atomic():
                profile, grant = lock_console_access(session_key, held)
                unchanged = held is not None and grant is held[1]
                signature = signature_held if unchanged else account_signature(profile)
                result = fn(profile, *args, **kwargs)
            if read_here:
                result = result, read_after(profile, result)
            return profile, grant, signature, result

        try:
            profile, grant, signature, result = await self.call(locked)
        except ChatError as error:
            if error.code == "revoked":
                self.grant = None
                self.pending_recheck = asyncio.ensure_future(self.recheck_access())
            raise
        if signature != self.signature:
            self.grant = None
            self.pending_recheck = asyncio.ensure_future(self.recheck_access())
        else:
            self.profile = profile
            self.grant = grant
        if read_after is not None and not read_here:
            result = result, await db_read(read_after)(profile, result)
        return result

    # -- handlers ---------------------------------------------------------

    async def handle_claim(self, frame: dict[str, Any]) -> None:
        target = frame.get("conversation")
        if target is not None and not isinstance(target, str):
            raise refusals.conversation_not_uuid()
        async with setup_slot():
            # The view is read once the claim is committed; on PostgreSQL
            # in the claim's database thread: one trip through the loop.
            conversation, data = await self.write(
                check_claim_conversation,
                target,
                savepoint=False,
                read_after=lambda profile, claimed: get_assigned_conversation(
                    profile, claimed.id
                ),
            )
        # The view is newer than the claim's own events (its "joined", its
        # status): they leave before this socket follows the conversation,
        # so that it does not hear them after the view.
        await self.events_sent()
        await self.show_assigned(conversation.id, data)

    async def send_assigned(self, conversation_id: UUID) -> None:
        # A claim sends the view itself, then its own ``console.assigned``
        # event comes back: the shown conversation is not read again.
        if conversation_id in self.delivered:
            return
        data = await db_read(get_assigned_conversation)(self.profile, conversation_id)
        await self.show_assigned(conversation_id, data)

    async def show_assigned(self, conversation_id: UUID, data: Any) -> None:
        """Watch a conversation read for this console and send its view."""
        if data is None or conversation_id in self.delivered:
            return
        await self.watch(conversation_id, data["last_seq"])
        await self.send_json({"type": "assigned", "conversation": data})

    async def send_refreshed(self, conversation_id: UUID) -> None:
        """Send the staff view of a conversation again, as ``conversation``."""
        data = await db_read(get_assigned_conversation)(self.profile, conversation_id)
        if data is not None:
            data.pop("history", None)
            await self.send_json({"type": "conversation", "conversation": data})

    async def handle_message(self, frame: dict[str, Any]) -> None:
        conversation_id = self.require_watched(frame)
        self.expect_own_message(frame.get("id"))
        stored = None
        if (
            self.grant is not None
            and writes_in_loop()
            and self.profile.has_role(StaffProfile.Role.OPERATOR)
        ):
            # The common case written by the loop itself (issue 14); on
            # PostgreSQL in one statement, sent from a thread when the loop
            # cannot send it (the database out of its reach a moment ago,
            # the data key not cached). Anything it does not cover goes
            # through ``write``, and so does SQLite's when its write lock
            # is taken.
            expect_seq = self.next_seq(conversation_id)
            drafted = in_charge_draft(
                self.profile,
                self.grant,
                self.signature.service_ids,
                conversation_id,
                text=frame.get("text"),
                client_id=frame.get("id"),
            )
            try:
                if drafted is not None:
                    draft, in_charge = drafted
                    stored = await self.store_in_loop(draft, expect_seq, in_charge)
            except Unavailable:
                if writes_in_one_statement():
                    stored = await self.call(
                        check_send_in_charge_message,
                        self.profile,
                        self.grant,
                        conversation_id,
                        text=frame.get("text"),
                        client_id=frame.get("id"),
                        expect_seq=expect_seq,
                    )
        if stored is None:
            stored = await self.write(
                check_send_staff_message,
                conversation_id,
                text=frame.get("text"),
                client_id=frame.get("id"),
            )
        message, _created = stored
        self.note_own_message(message)
        ack = {
            "type": "ack",
            "id": str(message.client_id),
            "seq": message.seq,
            "conversation": str(conversation_id),
        }
        if rt_events.layer_recently_failed():
            ack["live"] = False
        await self.send_json(ack)

    async def handle_typing(self, frame: dict[str, Any]) -> None:
        conversation_id = self.require_watched(frame)
        await self.write(
            check_send_staff_typing,
            conversation_id,
            active=frame.get("active"),
            origin=self.channel_name,
        )

    async def handle_sync(self, frame: dict[str, Any]) -> None:
        after = frame.get("after")
        if not isinstance(after, int) or isinstance(after, bool) or after < 0:
            raise refusals.after_not_positive()
        conversation_id = self.require_watched(frame)
        await self.send_history(conversation_id, after)

    async def handle_upload_token(self, frame: dict[str, Any]) -> None:
        """A one-time token for sending one file into a conversation."""
        conversation_id = self.require_watched(frame)
        token = await self.write(check_issue_staff_upload_token, conversation_id)
        await self.send_json(
            {**token_frame(token), "conversation": str(conversation_id)}
        )

    async def handle_note(self, frame: dict[str, Any]) -> None:
        conversation_id = self.require_watched(frame)
        note = await self.write(check_add_note, conversation_id, text=frame.get("text"))
        reply = {"type": "noted", "conversation": str(conversation_id), "note": note.id}
        if isinstance(frame.get("id"), str):
            reply["id"] = frame["id"]
        await self.send_json(reply)

    async def handle_release(self, frame: dict[str, Any]) -> None:
        conversation_id = self.require_watched(frame)
        # Back to the queue is opening work too: a shift change releases
        # dozens at once (realtime.frames.setup_slot).
        async with setup_slot():
            await self.write(check_release_conversation, conversation_id)
            await self.send_released(conversation_id, "released")

    async def handle_flag(self, frame: dict[str, Any]) -> None:
        conversation = frame.get("conversation")
        if not isinstance(conversation, str):
            raise refusals.conversation_not_uuid()
        flagged = await self.write(
            check_flag_conversation,
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
        # Not require_watched: a conversation the visitor ended is no longer
        # watched but still waits for its outcome (the wrap-up); the
        # service checks who may close what.
        conversation = frame.get("conversation")
        if not isinstance(conversation, str):
            raise refusals.conversation_not_uuid()
        wrapped_up = await self.write(
            check_close_conversation,
            conversation,
            outcome=frame.get("outcome"),
            categories=frame.get("categories"),
        )
        if wrapped_up:
            await self.unwatch(UUID(conversation))
            await self.send_json(
                {
                    "type": "closed",
                    "conversation": conversation,
                    "reason": "wrapped_up",
                }
            )

    async def handle_abusive(self, frame: dict[str, Any]) -> None:
        """Close as abusive: the visitor's client key is refused a while."""
        conversation_id = self.require_watched(frame)
        await self.write(check_mark_abusive, conversation_id)

    async def handle_transfer(self, frame: dict[str, Any]) -> None:
        conversation_id = self.require_watched(frame)
        await self.write(
            check_transfer_conversation,
            conversation_id,
            service_slug=frame.get("service"),
        )
        await self.send_released(conversation_id, "transferred")

    async def handle_invite(self, frame: dict[str, Any]) -> None:
        conversation_id = self.require_watched(frame)
        await self.write(
            check_invite,
            conversation_id,
            role=frame.get("role"),
            service_slug=frame.get("service"),
            summary=frame.get("summary", ""),
        )

    async def handle_cancel_invitation(self, frame: dict[str, Any]) -> None:
        await self.write(check_cancel_invitation, frame.get("invitation"))

    async def handle_join(self, frame: dict[str, Any]) -> None:
        conversation_id = await self.write(
            check_join_conversation, frame.get("conversation")
        )
        await self.send_assigned(conversation_id)

    async def handle_leave(self, frame: dict[str, Any]) -> None:
        conversation_id = self.require_watched(frame)
        reason = await self.write(check_leave_conversation, conversation_id)
        await self.send_released(conversation_id, reason)

    async def handle_whisper(self, frame: dict[str, Any]) -> None:
        conversation_id = self.require_watched(frame)
        whisper = await self.write(
            check_send_whisper, conversation_id, text=frame.get("text")
        )
        reply = {
            "type": "whispered",
            "conversation": str(conversation_id),
            "whisper": whisper.id,
        }
        if isinstance(frame.get("id"), str):
            reply["id"] = frame["id"]
        await self.send_json(reply)

    async def handle_board(self, frame: dict[str, Any]) -> None:
        board = await self.write(check_board)
        await self.send_json(board)
        if not self.watching_board:
            await self.start_board()

    async def handle_canned_save(self, frame: dict[str, Any]) -> None:
        answer = await self.write(
            check_save_canned,
            answer_id=frame.get("id"),
            service_slug=frame.get("service"),
            title=frame.get("title"),
            text=frame.get("text"),
        )
        await self.send_json({"type": "canned_saved", "id": answer.id})

    async def handle_canned_delete(self, frame: dict[str, Any]) -> None:
        await self.write(check_delete_canned, answer_id=frame.get("id"))
        await self.send_json({"type": "canned_deleted", "id": frame.get("id")})

    async def handle_auto_assign(self, frame: dict[str, Any]) -> None:
        enabled = await self.write(
            check_switch_auto_assign, enabled=frame.get("enabled")
        )
        await self.send_json({"type": "auto_assign", "enabled": enabled})

    async def handle_send_resource(self, frame: dict[str, Any]) -> None:
        """Share a directory entry as a card (issue 6, docs/protocol.md)."""
        conversation_id = self.require_watched(frame)
        message, card, _created = await self.write(
            check_send_resource,
            conversation_id,
            resource_id=frame.get("resource"),
            client_id=frame.get("id"),
        )
        self.note_own_message(message)
        reply = {
            "type": "resource_sent",
            "conversation": str(conversation_id),
            "resource": frame["resource"],
            "seq": message.seq,
            "card": card,
        }
        if isinstance(frame.get("id"), str):
            reply["id"] = frame["id"]
        await self.send_json(reply)

    async def handle_confirm_force(self, frame: dict[str, Any]) -> None:
        """Confirm a split commune's force, or hand it to the other force."""
        conversation_id = self.require_watched(frame)
        result = await self.write(
            check_confirm_force,
            conversation_id,
            force=frame.get("force"),
        )
        if result["transferred"]:
            await self.unwatch(conversation_id)
        await self.send_json(
            {"type": "force_confirmed", "conversation": str(conversation_id), **result}
        )
        if result["transferred"]:
            await self.send_released(conversation_id, "transferred")

    async def handle_psychologists(self, frame: dict[str, Any]) -> None:
        """Who could be invited as psychologist now (the invite dialog asks)."""
        conversation_id = self.require_watched(frame)
        duty = await db_read(get_psychologist_duty_for)(self.profile, conversation_id)
        await self.send_json(
            {
                "type": "psychologists",
                "conversation": str(conversation_id),
                **duty,
            }
        )

    async def handle_request_consent(self, frame: dict[str, Any]) -> None:
        """Ask the visitor to lift anonymity (docs/protocol.md, "Consent")."""
        conversation_id = self.require_watched(frame)
        consent = await self.write(check_request_consent, conversation_id)
        await self.send_json(
            {
                "type": "consent_requested",
                "conversation": str(conversation_id),
                "request": str(consent.id),
                "version": consent.text_version,
            }
        )

    # -- the supervisors' board -------------------------------------------

    async def start_board(self) -> None:
        self.watching_board = True
        if self.board_task is None or self.board_task.done():
            self.board_task = asyncio.ensure_future(self.refresh_board_forever())

    async def refresh_board_forever(self) -> None:
        while self.profile is not None:
            with contextlib.suppress(ChatError):
                await self.send_json(await self.call(check_board, self.profile))
            await asyncio.sleep(BOARD_REFRESH_SECONDS)

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

    async def console_participant(self, event: dict[str, Any]) -> None:
        if event["change"] == "in_charge":
            await self.send_json(
                {
                    "type": "handed_over",
                    "conversation": event["conversation"],
                    "name": event["name"],
                    "you": event.get("user") == self.profile.user_id,
                    "service": event.get("service"),
                    "service_name": event.get("service_name"),
                }
            )
            if event.get("user") == self.profile.user_id:
                # The receiver's header, canned answers and actions follow
                # the conversation's new service.
                await self.send_refreshed(UUID(event["conversation"]))
            return
        await self.send_json(
            {
                "type": event["change"],
                "conversation": event["conversation"],
                "role": event["role"],
                "name": event["name"],
                "silent": event["silent"],
            }
        )

    async def console_invitation(self, event: dict[str, Any]) -> None:
        frame = await db_read(get_invitation_frame)(self.profile, event["invitation"])
        if frame is None:
            return
        # The event goes to the conversation's staff and to the invited
        # service's staff; someone in both gets it twice.
        key = (frame["invitation"], frame["status"])
        if key in self.invitations_sent:
            return
        self.invitations_sent.add(key)
        await self.send_json(frame)

    async def console_consent(self, event: dict[str, Any]) -> None:
        """A consent was asked or answered: its state, never the details."""
        frame = await db_read(get_consent_frame)(event["request"], for_staff=True)
        if frame is not None and UUID(frame["conversation"]) in self.delivered:
            await self.send_json(frame)

    async def console_note(self, event: dict[str, Any]) -> None:
        if UUID(event["conversation"]) not in self.delivered:
            return
        frame = await db_read(get_note_frame)(event["note"])
        if frame is not None:
            await self.send_json(frame)

    async def console_whisper(self, event: dict[str, Any]) -> None:
        if UUID(event["conversation"]) not in self.delivered:
            return
        frame = await db_read(get_whisper_frame)(event["whisper"])
        if frame is not None:
            await self.send_json(frame)

    async def console_canned_changed(self, event: dict[str, Any]) -> None:
        items = await db_read(list_canned_answers)(self.profile)
        await self.send_json({"type": "canned", "items": items})

    async def console_session_check(self, event: dict[str, Any]) -> None:
        await self.recheck_access()

    async def chat_closed(self, event: dict[str, Any]) -> None:
        conversation_id = UUID(event["conversation"])
        if conversation_id not in self.delivered:
            return
        # Deliver what was stored before the close, then stop watching.
        await self.catch_up(conversation_id, 1 << 30)
        await self.unwatch(conversation_id)
        frame = {
            "type": "closed",
            "conversation": event["conversation"],
            "reason": event["reason"],
        }
        if event["reason"] in ("visitor_left", "quick_exit"):
            # The operator in charge keeps it on screen to record the outcome.
            frame["wrap_up"] = await db_read(is_wrap_up_for)(
                self.profile, conversation_id
            )
        await self.send_json(frame)

    async def console_visitor_presence(self, event: dict[str, Any]) -> None:
        if UUID(event["conversation"]) not in self.delivered:
            return
        await self.send_json(
            {
                "type": "presence",
                "conversation": event["conversation"],
                "presence": event["presence"],
                "grace_s": event.get("grace_s"),
            }
        )

    def queue_changed_here(self) -> None:
        """A queue of mine changed (``queue_feed``): what is this socket's own.

        The queue itself comes from the process's feed, one read and one
        frame text for all its sockets; auto-assignment and the board are
        this socket's, debounced here.
        """
        if self.profile is None or not (
            self.profile.auto_assign or self.watching_board
        ):
            return
        if self.queue_refresh is None or self.queue_refresh.done():
            self.queue_refresh = asyncio.ensure_future(self.refresh_own_views())

    async def refresh_own_views(self) -> None:
        """Auto-assign (if opted in) and refresh the board after a change."""
        await asyncio.sleep(QUEUE_DEBOUNCE_SECONDS)
        if self.profile is None:
            return
        await self.call(do_auto_assign_for, self.profile)
        if self.watching_board:
            with contextlib.suppress(ChatError):
                await self.send_json(await self.call(check_board, self.profile))

    async def send_queue_text(self, text: str) -> None:
        """Send a ``queue`` frame the feed rendered once for many sockets."""
        if self.profile is not None:
            await self.send(text_data=text)

    async def console_assigned(self, event: dict[str, Any]) -> None:
        await self.send_assigned(UUID(event["conversation"]))

    async def console_unassigned(self, event: dict[str, Any]) -> None:
        conversation_id = UUID(event["conversation"])
        if conversation_id not in self.delivered:
            return
        await self.send_released(conversation_id, event["reason"])

    async def send_released(self, conversation_id: UUID, reason: str) -> None:
        """Stop watching a conversation that left me, and say why.

        The one place the ``released`` frame is built (docs/protocol.md).
        """
        await self.unwatch(conversation_id)
        await self.send_json(
            {"type": "released", "conversation": str(conversation_id), "reason": reason}
        )

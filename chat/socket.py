"""The protocol's transport rules, shared by the visitor and staff sockets.

Frame size, rate limits and the error frames of docs/protocol.md
"Transport" are applied here once (the parsing itself is in
``realtime.frames``); consumers only name their handlers. Delivery of
stored messages (``catch_up``) lives here too: both kinds of socket send
the frame a notification carries when it is the next one they expect, and
read from the database only after a gap.
"""

import asyncio
import json
import logging
import time
import weakref
from collections import deque
from typing import Any
from uuid import UUID

from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.db import DatabaseError
from django.utils.translation import gettext as _

from chat.errors import ChatError
from chat.models import Message
from chat.selectors import (
    HISTORY_LIMIT,
    add_staff_fields,
    list_message_frames_after,
)
from chat.services.messages import Draft, InCharge, store_expected_in_loop
from chat.services.presence import do_drop_connection
from realtime import events, lag, runtime, transport
from realtime.close_codes import CLOSE_FLOOD, CLOSE_SERVICE_RESTART
from realtime.frames import (
    TokenBucket,
    db,
    db_read,
    find_unsafe_text,
    load_json_frame,
    note_talk,
    run_collecting,
)

logger = logging.getLogger(__name__)

# Strong references to background event sends, so none is collected early.
_pending_dispatches: set[asyncio.Task] = set()
OWN_IDS_KEPT = 2000
# Frames that say a conversation is talking: openings then take turns one
# at a time (realtime.frames.setup_slot).
TALK = frozenset({"message", "typing"})


class ProtocolConsumer(AsyncWebsocketConsumer):
    """Base of both endpoints: parse, limit, dispatch, deliver."""

    handlers: dict[str, str] = {}
    rate_setting = "CHAT_RATE_PER_SECOND"
    for_staff = False

    async def websocket_connect(self, message: dict[str, Any]) -> None:
        limit = getattr(settings, self.rate_setting)
        self.bucket = TokenBucket(limit, max(settings.CHAT_RATE_BURST, int(limit * 2)))
        # When frames were refused for flooding; made on the first one, as
        # an empty deque alone weighs 0.6 KiB and most sockets never flood.
        self.dropped: deque[float] | None = None
        # Per conversation: highest seq this socket has shown or skipped.
        self.delivered: dict[UUID, int] = {}
        # What this socket sent itself (it shows those from the ack), by
        # client id before the ack and by seq after: never echo them.
        self.own_ids: set[str] = set()
        self.own_seqs: dict[UUID, set[int]] = {}
        self.deliver_lock = asyncio.Lock()
        # The events of the last ``call`` on their way (``events_sent``).
        self.dispatching: weakref.ref[asyncio.Task] | None = None
        if transport.is_draining():
            # This process is stopping: go to another one at once.
            await self.accept()
            await self.close(code=CLOSE_SERVICE_RESTART)
            return
        transport.track(self)
        # The process measures its loop from the first socket on, so that
        # the first starts of an overloaded process are judged too.
        lag.ensure_running()
        await super().websocket_connect(message)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Run the consumer; whatever ends it, drop its presence row.

        ``disconnect()`` does not run when a consumer raises, and a row
        left behind would keep a vanished operator "online" forever, as
        its process keeps refreshing every row it owns.
        """
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self.release_admission()
            runtime.unregister_socket(self)
            channel = getattr(self, "channel_name", None)
            if channel is not None:
                try:
                    await db(do_drop_connection)(channel)
                except DatabaseError:
                    logger.warning("could not drop a presence row")

    async def release_admission(self) -> None:
        """Give back this socket's admission count (visitor sockets)."""

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Run the handler of one ASGI or layer message, with no thread hop.

        Channels' own ``dispatch`` first runs ``close_old_connections`` in
        the process's one sync thread, for every frame received and every
        layer event of every socket: a thread round trip per delivered
        message, queued behind SQLite's writes. Nothing here touches the
        database outside ``db``/``db_read``, which already close stale
        connections in the thread that uses them (docs/decisions.md).
        """
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    # -- inbound ----------------------------------------------------------

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None
    ) -> None:
        if text_data is None:
            await self.send_error("bad_json", _("Seules les trames texte JSON."))
            return
        if len(text_data) > settings.CHAT_MAX_FRAME_BYTES or (
            len(text_data.encode()) > settings.CHAT_MAX_FRAME_BYTES
        ):
            await self.send_error("too_large", _("Trame trop volumineuse."))
            return
        if not self.bucket.allow():
            await self.refuse_flood()
            return
        try:
            frame = load_json_frame(text_data)
        except ValueError:
            await self.send_error("bad_json", _("JSON illisible."))
            return
        if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
            await self.send_error("bad_request", _("Chaque trame a un champ type."))
            return
        problem = find_unsafe_text(frame)
        if problem is not None:
            # One line, no content: the frame itself is never logged.
            logger.warning("refused a frame with %s", problem)
            await self.send_error("bad_request", _("Texte invalide dans la trame."))
            return
        ref = frame.get("id") if isinstance(frame.get("id"), str) else None
        if frame["type"] in TALK:
            note_talk()
        handler_name = self.handlers.get(frame["type"])
        if handler_name is None:
            await self.send_error("unknown_type", _("Type de trame inconnu."), ref)
            return
        try:
            await getattr(self, handler_name)(frame)
        except ChatError as error:
            await self.send_error(error.code, error.message, ref, **error.extra)
        except DatabaseError:
            # Nothing was acknowledged: the client keeps the frame and
            # tries again (docs/security.md §B8, degraded modes).
            logger.exception("database error while handling a frame")
            await self.send_error(
                "unavailable", _("Service momentanément indisponible, réessayez."), ref
            )
        except Exception as error:  # noqa: BLE001 - see below
            await self.survive_handler_error(frame["type"], error, ref)

    async def survive_handler_error(
        self, frame_type: str, error: Exception, ref: str | None
    ) -> None:
        """Answer a frame whose handler failed, and keep the socket open.

        A client frame must never end a socket with 1011 nor flood the
        log with a traceback (issue 11): one line names the frame type and
        the exception class, never the frame's content.
        """
        logger.error("handler for %r failed: %s", frame_type[:40], type(error).__name__)
        await self.send_error(
            "internal_error", _("Erreur interne : la trame est ignorée."), ref
        )

    async def refuse_flood(self) -> None:
        now = time.monotonic()
        if self.dropped is None:
            self.dropped = deque()
        self.dropped.append(now)
        while self.dropped and now - self.dropped[0] > 10:
            self.dropped.popleft()
        if len(self.dropped) > settings.CHAT_FLOOD_CLOSE_AFTER:
            await self.close(code=CLOSE_FLOOD)
            return
        await self.send_error("rate_limited", _("Trop de trames : ralentissez."))

    async def send_error(
        self, code: str, message: str, ref: str | None = None, **extra: Any
    ) -> None:
        frame: dict[str, Any] = {"type": "error", "code": code, "message": message}
        if ref is not None:
            frame["ref"] = ref
        frame.update(extra)
        await self.send_json(frame)

    async def send_json(self, frame: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(frame, ensure_ascii=False))

    async def call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Run a service function, then send the events it emitted.

        The events go out in the background: the write is committed, so
        the caller may ack at once, and a slow layer (the pub/sub layer
        publishes one message at a time per process) does not hold up the
        sender. Their order does not matter: receivers read by seq.
        """
        result, collected = await db(run_collecting)(fn, *args, **kwargs)
        self.send_events(collected)
        return result

    async def store_in_loop(
        self, draft: Draft, expect_seq: int, in_charge: InCharge | None = None
    ) -> tuple[Message, bool] | None:
        """Store a message from the event loop itself (``writes_in_loop``):
        one statement on PostgreSQL, one short transaction on SQLite.

        None, with nothing stored: the usual path decides, without guessing
        the seq again. Raises ``Unavailable`` when the loop cannot write it
        (the database out of its reach a moment ago, SQLite's write lock
        taken, say): the thread path then does what this would have.
        """
        stored = await store_expected_in_loop(draft, expect_seq, in_charge)
        if stored is None:
            return None
        message, event = stored
        self.send_events([event])
        return message, True

    def send_events(self, collected: list[events.Event]) -> None:
        """Send a committed write's events in the background."""
        self.dispatching = None
        if collected:
            task = asyncio.ensure_future(events.dispatch_events(collected))
            _pending_dispatches.add(task)
            task.add_done_callback(_pending_dispatches.discard)
            # Weak: a task sent is freed at once, not kept by every socket
            # until its next call.
            self.dispatching = weakref.ref(task)

    async def events_sent(self) -> None:
        """Wait until the events of this socket's last ``call`` are sent.

        At most ``LAYER_SEND_TIMEOUT_SECONDS``: with the layer down, the
        caller goes on as if they had been. Not cancelled with the caller:
        others wait for those events too.
        """
        task = self.dispatching() if self.dispatching is not None else None
        if task is not None and not task.done():
            await asyncio.wait({task}, timeout=settings.LAYER_SEND_TIMEOUT_SECONDS)

    # -- delivery ---------------------------------------------------------

    def conversations_delivered(self) -> dict[UUID, int]:
        return dict(self.delivered)

    def expect_own_message(self, client_id: Any) -> None:
        """Mark a client id as this socket's before storing it.

        A reconcile may run between the commit and the ack; without this
        it would send the sender a copy of its own message.
        """
        try:
            key = str(UUID(str(client_id)))
        except ValueError:
            return
        if len(self.own_ids) < OWN_IDS_KEPT:
            self.own_ids.add(key)

    def next_seq(self, conversation_id: UUID) -> int:
        """The seq a message sent now should take, as far as this socket knows.

        One more than the highest it has shown, skipped or had acked. A
        guess for the write in one statement (``do_send_message``): a
        message of the other side stored but not yet delivered here makes
        it wrong, and the write then takes its usual path.
        """
        own = self.own_seqs.get(conversation_id)
        known = self.delivered.get(conversation_id, 0)
        return max(known, max(own)) + 1 if own else known + 1

    def note_own_message(self, message: Message) -> None:
        self.own_ids.discard(str(message.client_id))
        own = self.own_seqs.setdefault(message.conversation_id, set())
        if message.seq > self.delivered.get(message.conversation_id, 0):
            own.add(message.seq)

    async def catch_up(
        self,
        conversation_id: UUID,
        last_seq: int,
        frame: dict[str, Any] | None = None,
        client_id: str | None = None,
    ) -> None:
        """Send every stored message of the conversation up to ``last_seq``.

        Called on a layer notification and by the process's reconcile;
        the lock keeps the two from sending a message twice. ``frame`` is
        message ``last_seq`` as the event carried it: when it is the next
        one this socket expects, it is sent with no database read; after a
        gap (an event lost or overtaken) the socket reads what it missed.
        """
        async with self.deliver_lock:
            delivered = self.delivered.get(conversation_id)
            if delivered is None:
                return
            # The socket's own set, not a copy: the sender's handler may note
            # its seq (note_own_message) while this reads the database.
            own = self.own_seqs.setdefault(conversation_id, set())
            while delivered + 1 in own:
                delivered += 1
                own.discard(delivered)
            self.delivered[conversation_id] = delivered
            if last_seq <= delivered:
                return
            if frame is not None and last_seq == delivered + 1:
                mine = last_seq in own or client_id in self.own_ids
                own.discard(last_seq)
                self.own_ids.discard(client_id)
                if not mine:
                    frame = dict(frame)
                    if self.for_staff:
                        add_staff_fields(frame, conversation_id, client_id)
                    await self.send_json(frame)
                self.delivered[conversation_id] = last_seq
                return
            frames = await db_read(list_message_frames_after)(
                conversation_id, delivered, for_staff=self.for_staff
            )
            for frame in frames:
                seq = frame["seq"]
                mine = seq in own or frame.get("client_id") in self.own_ids
                own.discard(seq)
                client_id = frame.pop("client_id", None)
                self.own_ids.discard(client_id)
                if not mine:
                    await self.send_json(frame)
                delivered = seq
            self.delivered[conversation_id] = delivered

    async def send_history(self, conversation_id: UUID, after: int) -> None:
        """Send every message after ``after`` (resume, sync), all senders."""
        async with self.deliver_lock:
            while True:
                frames = await db_read(list_message_frames_after)(
                    conversation_id, after, for_staff=self.for_staff
                )
                for frame in frames:
                    frame.pop("client_id", None)
                    await self.send_json(frame)
                    after = frame["seq"]
                if len(frames) < HISTORY_LIMIT:
                    break
            current = self.delivered.get(conversation_id, 0)
            self.delivered[conversation_id] = max(current, after)

    async def chat_message(self, event: dict[str, Any]) -> None:
        note_talk()
        await self.catch_up(
            UUID(event["conversation"]),
            event["seq"],
            event.get("frame"),
            event.get("client_id"),
        )

    async def websocket_disconnect(self, message: dict[str, Any]) -> None:
        runtime.unregister_socket(self)
        await super().websocket_disconnect(message)

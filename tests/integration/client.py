"""A WebSocket client that behaves like the real ones (docs/protocol.md "Guarantees").

It keeps unacknowledged messages in an outbox and resends them with the
same id (after a reconnect, or when no ack came in time), tracks the seqs
it has seen per conversation, sends ``sync`` when it sees a gap, and
reconnects when its socket closes: a visitor with ``resume`` (token and
last contiguous seq), a staff member with a new socket whose ``hello``
carries the history. It records everything it receives so tests can
assert on exactly what crossed the wire.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

from tests.integration.processes import DaphneServer

# Close codes after which a real client must not reconnect by itself.
FINAL_CLOSE_CODES = {4401, 4403, 4404}
# Errors after which the outbox keeps the message and tries again.
RETRYABLE_ERRORS = {"unavailable", "rate_limited"}


async def eventually(
    condition: Callable[[], Any],
    *,
    timeout: float,
    message: str | Callable[[], str] = "condition not met",
    interval: float = 0.05,
) -> Any:
    """Wait until ``condition()`` is truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            text = message() if callable(message) else message
            raise AssertionError(f"after {timeout}s: {text}")
        await asyncio.sleep(interval)


async def claimed_pair(
    clients: Any, visitor_server: DaphneServer, staff_server: DaphneServer, team: Any
) -> tuple[ProtocolClient, ProtocolClient, str]:
    """A visitor's conversation in ``team``'s service, claimed by its first
    operator on ``staff_server``: the visitor, the operator and its id."""
    visitor = clients.visitor(visitor_server, label="visitor")
    await visitor.connect()
    await visitor.start(service=team.service)
    staff = clients.staff(staff_server, team.operators[0])
    await staff.connect()
    assigned = await staff.claim(visitor.conversation)
    assert assigned["type"] == "assigned", assigned
    return visitor, staff, visitor.conversation


@dataclass
class Received:
    """One frame, with when and on which socket it arrived."""

    frame: dict[str, Any]
    at: float
    socket: int


@dataclass
class HistoryRequest:
    """A ``sync`` or ``resume``: its answer may repeat any seq after ``after``."""

    socket: int
    conversation: str
    after: int


@dataclass
class ConversationView:
    """What a client knows of one conversation, deduplicated by seq."""

    own: dict[int, str | None] = field(default_factory=dict)
    others: dict[int, dict[str, Any]] = field(default_factory=dict)

    def known(self) -> set[int]:
        return set(self.own) | set(self.others)

    def contiguous(self) -> int:
        known, seq = self.known(), 0
        while seq + 1 in known:
            seq += 1
        return seq

    def has_gap(self) -> bool:
        known = self.known()
        return bool(known) and max(known) > self.contiguous()


class ProtocolClient:
    """A visitor or staff client over a real WebSocket."""

    def __init__(
        self,
        server: DaphneServer,
        kind: str,
        *,
        cookie: str | None = None,
        label: str = "",
        reconnect: bool = True,
        resend_after: float = 3.0,
        gap_wait: float = 1.0,
    ) -> None:
        assert kind in ("visitor", "staff")
        self.server = server
        self.kind = kind
        self.cookie = cookie
        self.label = label or kind
        self.auto_reconnect = reconnect
        self.resend_after = resend_after
        self.gap_wait = gap_wait

        self.ws: ClientConnection | None = None
        self.sockets = 0
        self.closes: list[tuple[int | None, str]] = []
        self.reconnect_failures = 0
        self.received: list[Received] = []
        self._cursor = 0
        self._closing = False
        self._run_task: asyncio.Task | None = None
        self._resend_task: asyncio.Task | None = None
        self._gap_tasks: dict[str, asyncio.Task] = {}

        # Visitor state.
        self.conversation: str | None = None
        self.token: str | None = None
        # Staff state.
        self.pseudonym: str | None = None

        self.views: dict[str, ConversationView] = {}
        self.outbox: dict[str, dict[str, Any]] = {}
        self.sent: dict[str, dict[str, Any]] = {}
        self.last_sent_at: dict[str, float] = {}
        self.acks: dict[str, dict[str, Any]] = {}
        self.ack_counts: Counter[str] = Counter()
        self.ack_times: dict[str, float] = {}
        self.rejected: dict[str, dict[str, Any]] = {}
        self.resends = 0
        self.syncs: list[tuple[str, int]] = []
        self.history_requests: list[HistoryRequest] = []
        # Others' message seqs, in the order they were first received live.
        self.arrivals: list[tuple[str, int]] = []
        # Frames the protocol did not allow (see _on_message): others'
        # messages delivered twice, own messages sent back (the sender
        # gets an ack, not a copy).
        self.duplicates: list[Received] = []
        self.own_frames: list[Received] = []
        self._frame_counts: Counter[tuple[str, int]] = Counter()
        self._history_counts: Counter[tuple[str, int]] = Counter()
        self._first_seen: set[tuple[str, int]] = set()
        self.conflicts: list[tuple[dict[str, Any], dict[str, Any]]] = []
        self.sealed_violations: list[dict[str, Any]] = []
        # Bugs in this client (or frames it cannot parse), never swallowed.
        self.internal_errors: list[str] = []
        # Imported here: tests.helpers loads the ASGI app (Django setup).
        from tests.helpers import SEALED_KEYS

        self.sealed_keys = SEALED_KEYS

    # -- connection ---------------------------------------------------------

    @property
    def path(self) -> str:
        return "/ws/chat/" if self.kind == "visitor" else "/ws/console/"

    @property
    def connected(self) -> bool:
        return self.ws is not None and self.ws.close_code is None

    async def _open(self) -> None:
        headers = {"Origin": self.server.origin}
        if self.cookie:
            headers["Cookie"] = self.cookie
        self.ws = await connect(
            self.server.ws_url(self.path),
            additional_headers=headers,
            proxy=None,
            open_timeout=5,
            ping_interval=None,
            close_timeout=2,
            compression=None,
        )
        self.sockets += 1

    async def connect(self, *, timeout: float = 10.0) -> dict[str, Any] | None:
        """Open the first socket; for staff, return its ``hello``."""
        start = self.mark()
        await self._open()
        self._run_task = asyncio.create_task(self._run())
        if self._resend_task is None:
            self._resend_task = asyncio.create_task(self._resend_forever())
        if self.kind == "staff":
            return await self.expect("hello", timeout=timeout, start=start)
        return None

    async def reopen(self, server: DaphneServer | None = None) -> None:
        """Connect a new socket now (to ``server`` if given), as after a drop."""
        if self._run_task is not None and not self._run_task.done():
            raise RuntimeError("reopen() while the socket is still being read")
        if server is not None:
            self.server = server
        self._closing = False
        await self._open()
        await self._after_reconnect()
        self._run_task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        """Read frames; when the socket closes, reconnect like a real client."""
        while True:
            ws = self.ws
            assert ws is not None
            socket_number = self.sockets
            try:
                async for text in ws:
                    try:
                        self._on_frame(json.loads(text), socket_number)
                    except Exception:  # noqa: BLE001 - reported at teardown.
                        self.internal_errors.append(traceback.format_exc())
            except ConnectionClosed:
                pass
            self.closes.append((ws.close_code, ws.close_reason))
            if (
                self._closing
                or not self.auto_reconnect
                or ws.close_code in FINAL_CLOSE_CODES
            ):
                return
            await self._reconnect_with_backoff()

    async def _reconnect_with_backoff(self) -> None:
        delay = 0.1
        while not self._closing:
            await asyncio.sleep(delay)
            try:
                await self._open()
            except (OSError, TimeoutError, WebSocketException):
                self.reconnect_failures += 1
                delay = min(delay * 2, 1.0)
                continue
            await self._after_reconnect()
            return

    async def _after_reconnect(self) -> None:
        if self.kind == "visitor" and self.token is not None:
            after = self.views[self.conversation].contiguous()
            self._asked_history(self.conversation, after)
            await self.send({"type": "resume", "token": self.token, "last_seq": after})
        # The hello (staff) or the resume above resynchronises; then resend
        # what was never acknowledged, with the same ids.
        for client_id in list(self.outbox):
            await self._send_outbox(client_id)

    def abort(self) -> None:
        """Drop the TCP connection without a close handshake; no reconnect."""
        self.auto_reconnect = False
        if self.ws is not None and self.ws.transport is not None:
            self.ws.transport.abort()

    async def close(self) -> None:
        self._closing = True
        for task in [self._resend_task, *self._gap_tasks.values()]:
            if task is not None:
                task.cancel()
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ws.close(), 3)
        if self._run_task is not None:
            self._run_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._run_task
        for task in [self._resend_task, *self._gap_tasks.values()]:
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    # -- sending ------------------------------------------------------------

    async def send(self, frame: dict[str, Any]) -> bool:
        if not self.connected:
            return False
        try:
            await self.ws.send(json.dumps(frame))
        except ConnectionClosed:
            return False
        return True

    async def start(
        self, *, place: str = "33000", role: str = "victim", service: str | None = None
    ) -> dict[str, Any]:
        frame: dict[str, Any] = {
            "type": "start",
            "place": place,
            "role": role,
            "lang": "fr",
        }
        if service is not None:
            frame["service"] = service
        start = self.mark()
        await self.send(frame)
        started = await self.expect(("started", "error"), timeout=10, start=start)
        assert started["type"] == "started", started
        self.conversation = started["conversation"]
        self.token = started["token"]
        self.views.setdefault(self.conversation, ConversationView())
        return started

    async def send_message(self, text: str, conversation: str | None = None) -> str:
        """Queue a message in the outbox and send it; return its id."""
        client_id = str(uuid.uuid4())
        frame: dict[str, Any] = {"type": "message", "id": client_id, "text": text}
        if self.kind == "staff":
            assert conversation is not None
            frame["conversation"] = conversation
        else:
            conversation = self.conversation
        self.sent[client_id] = {
            "text": text,
            "conversation": conversation,
            "at": time.monotonic(),
        }
        self.outbox[client_id] = frame
        await self._send_outbox(client_id)
        return client_id

    async def _send_outbox(self, client_id: str) -> None:
        frame = self.outbox.get(client_id)
        if frame is None:
            return
        if client_id in self.last_sent_at:
            self.resends += 1
        self.last_sent_at[client_id] = time.monotonic()
        await self.send(frame)

    async def _resend_forever(self) -> None:
        while True:
            await asyncio.sleep(0.25)
            if not self.connected:
                continue
            now = time.monotonic()
            for client_id in list(self.outbox):
                if now - self.last_sent_at.get(client_id, 0) > self.resend_after:
                    await self._send_outbox(client_id)

    async def claim(
        self, conversation: str | None = None, timeout: float = 15.0
    ) -> dict:
        """Send ``claim``; return its answer (``assigned`` or ``error``)."""
        frame: dict[str, Any] = {"type": "claim"}
        if conversation is not None:
            frame["conversation"] = conversation
        start = self.mark()
        assert await self.send(frame), f"{self.label}: socket closed"
        return await self.expect(("assigned", "error"), timeout=timeout, start=start)

    # -- receiving ----------------------------------------------------------

    def view(self, conversation: str | None = None) -> ConversationView:
        key = conversation or self.conversation
        assert key is not None
        return self.views.setdefault(key, ConversationView())

    def _on_frame(self, frame: dict[str, Any], socket_number: int) -> None:
        item = Received(frame, time.monotonic(), socket_number)
        self.received.append(item)
        text = json.dumps(frame)
        if any(f'"{key}"' in text for key in self.sealed_keys):
            self.sealed_violations.append(frame)
        kind = frame.get("type")
        if kind == "hello":
            self.pseudonym = frame["user"]["name"]
            for conversation in frame["conversations"]:
                for message in conversation.get("history", []):
                    self._on_message(conversation["id"], message, item, history=True)
                self._check_gap(conversation["id"])
        elif kind == "assigned":
            conversation = frame["conversation"]
            for message in conversation.get("history", []):
                self._on_message(conversation["id"], message, item, history=True)
        elif kind == "started":
            self.views.setdefault(frame["conversation"], ConversationView())
        elif kind == "resumed" and frame.get("token"):
            # The server replaces the token at each resume (issue 11).
            self.token = frame["token"]
        elif kind == "ack":
            self._on_ack(frame, item)
        elif kind == "message":
            conversation = frame.get("conversation") or self.conversation
            self._on_message(conversation, frame, item, history=False)
            self._check_gap(conversation)
        elif kind == "error":
            ref = frame.get("ref")
            if ref in self.outbox and frame.get("code") not in RETRYABLE_ERRORS:
                self.rejected[ref] = frame
                self.outbox.pop(ref, None)

    def _on_ack(self, frame: dict[str, Any], item: Received) -> None:
        client_id = frame["id"]
        conversation = frame.get("conversation") or self.sent.get(client_id, {}).get(
            "conversation"
        )
        self.ack_counts[client_id] += 1
        if client_id not in self.acks:
            self.acks[client_id] = frame
            self.ack_times[client_id] = item.at
        elif self.acks[client_id]["seq"] != frame["seq"]:
            self.conflicts.append((self.acks[client_id], frame))
        self.outbox.pop(client_id, None)
        self.view(conversation).own[frame["seq"]] = client_id
        self._check_gap(conversation)

    def _is_own(self, message: dict[str, Any]) -> bool:
        if self.kind == "visitor":
            return message["from"] == "visitor"
        return message.get("id") in self.sent

    def _asked_history(self, conversation: str, after: int) -> None:
        """Note a sync/resume before sending it: its answer may come at once."""
        self.history_requests.append(HistoryRequest(self.sockets, conversation, after))

    def _on_message(
        self,
        conversation: str,
        message: dict[str, Any],
        item: Received,
        *,
        history: bool,
    ) -> None:
        """Record a message frame, and whether the protocol allowed it.

        Each seq may come once from the live path (never for one's own
        messages: those get an ``ack``), plus once per ``sync``/``resume``
        that asked for it and once per ``hello``/``assigned`` history that
        carried it. A frame beyond that is a duplicate (or an echo).
        """
        view = self.view(conversation)
        seq = message["seq"]
        key = (conversation, seq)
        own = self._is_own(message)
        self._frame_counts[key] += 1
        if history:
            self._history_counts[key] += 1
        else:
            asked = sum(
                1
                for request in self.history_requests
                if request.conversation == conversation and seq > request.after
            )
            allowed = (0 if own else 1) + asked + self._history_counts[key]
            if self._frame_counts[key] > allowed:
                (self.own_frames if own else self.duplicates).append(item)
        if own:
            view.own.setdefault(seq, message.get("id"))
            return
        if not history and key not in self._first_seen:
            self.arrivals.append(key)
        self._first_seen.add(key)
        previous = view.others.get(seq)
        if previous is None:
            view.others[seq] = message
        elif (previous["text"], previous["from"]) != (message["text"], message["from"]):
            self.conflicts.append((previous, message))

    def _check_gap(self, conversation: str | None) -> None:
        if conversation is None or not self.view(conversation).has_gap():
            return
        task = self._gap_tasks.get(conversation)
        if task is None or task.done():
            self._gap_tasks[conversation] = asyncio.get_running_loop().create_task(
                self._sync_if_still_gapped(conversation)
            )

    async def _sync_if_still_gapped(self, conversation: str) -> None:
        """A gap may be an own message whose ack is on its way: wait a little."""
        view = self.view(conversation)
        while view.has_gap() and not self._closing:
            await asyncio.sleep(self.gap_wait)
            if not view.has_gap():
                return
            after = view.contiguous()
            frame: dict[str, Any] = {"type": "sync", "after": after}
            if self.kind == "staff":
                frame["conversation"] = conversation
            self._asked_history(conversation, after)
            if await self.send(frame):
                self.syncs.append((conversation, after))
            await asyncio.sleep(2.0)

    # -- waiting --------------------------------------------------------------

    def mark(self) -> int:
        """The position to wait from for frames caused by the next action."""
        return len(self.received)

    def frames(self, kind: str | None = None, start: int = 0) -> list[dict[str, Any]]:
        return [
            item.frame
            for item in self.received[start:]
            if kind is None or item.frame.get("type") == kind
        ]

    async def expect(
        self,
        kind: str | tuple[str, ...],
        *,
        timeout: float = 5.0,
        start: int | None = None,
        where: Callable[[dict[str, Any]], bool] | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """Return the first frame of ``kind`` (with ``fields``) from ``start``.

        ``start`` defaults to just after the last frame ``expect`` returned.
        """
        kinds = (kind,) if isinstance(kind, str) else kind
        position = self._cursor if start is None else start

        def find() -> tuple[int, dict[str, Any]] | None:
            for index in range(position, len(self.received)):
                frame = self.received[index].frame
                if frame.get("type") not in kinds:
                    continue
                if any(frame.get(key) != value for key, value in fields.items()):
                    continue
                if where is not None and not where(frame):
                    continue
                return index, frame
            return None

        found = await eventually(
            find,
            timeout=timeout,
            message=lambda: (
                f"{self.label}: no {kinds} frame matching {fields} from #{position}; "
                f"got {self.frames(start=position)[-15:]}"
            ),
            interval=0.02,
        )
        index, frame = found
        self._cursor = index + 1
        return frame

"""Helpers for socket tests: communicators wired like config/asgi.py."""

import asyncio
import json
import time
from typing import Any

from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from config.asgi import build_websocket_app

ORIGIN = (b"origin", b"http://testserver")
SEALED_KEYS = {"ip", "client", "address", "token_hash", "sealed"}


def visitor_communicator(app: Any = None, **kwargs: Any) -> WebsocketCommunicator:
    return WebsocketCommunicator(
        app or build_websocket_app(), "/ws/chat/", headers=[ORIGIN], **kwargs
    )


def visitor_from_address(address: str, port: int = 40000) -> WebsocketCommunicator:
    """A visitor's socket from a client address: admission counts its starts.

    Without one (the communicator's default scope) there is no client key,
    and nothing is counted or blocked.
    """
    communicator = visitor_communicator()
    communicator.scope["client"] = (address, port)
    return communicator


def staff_communicator(cookie: bytes, app: Any = None) -> WebsocketCommunicator:
    return WebsocketCommunicator(
        app or build_websocket_app(),
        "/ws/console/",
        headers=[ORIGIN, (b"cookie", cookie)],
    )


async def receive_until(
    communicator: WebsocketCommunicator, frame_type: str, timeout: float = 3
) -> dict[str, Any]:
    """Return the next frame of ``frame_type``, skipping others."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            raise AssertionError(f"no {frame_type!r} frame within {timeout}s")
        frame = await communicator.receive_json_from(timeout=remaining)
        if frame["type"] == frame_type:
            return frame


async def receive_queue_showing(
    communicator: WebsocketCommunicator, conversations: list[str], timeout: float = 3
) -> dict[str, Any]:
    """Return the first ``queue`` frame listing exactly ``conversations``.

    Queue frames are views sent after each flush of the process's feed: one
    flushed before the change under test may still be on its way.
    """
    deadline = asyncio.get_running_loop().time() + timeout
    seen = None
    while True:
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            raise AssertionError(f"no queue showing {conversations}; last {seen}")
        seen = await receive_until(communicator, "queue", remaining)
        if [item["conversation"] for item in seen["items"]] == conversations:
            return seen


async def drain(communicator: WebsocketCommunicator, wait: float = 0.3) -> list[dict]:
    """Return every frame that arrives until ``wait`` seconds of silence.

    Uses ``receive_nothing``: a timed-out ``receive_json_from`` would
    cancel the application under test.
    """
    frames = []
    while not await communicator.receive_nothing(timeout=wait):
        frames.append(await communicator.receive_json_from())
    return frames


async def send_raw(communicator: WebsocketCommunicator, text: str) -> None:
    await communicator.send_to(text_data=text)


def assert_no_sealed_field(frame: dict[str, Any]) -> None:
    """Staff and visitor frames never carry addresses or token hashes."""
    text = json.dumps(frame)
    for key in SEALED_KEYS:
        assert f'"{key}"' not in text, frame


async def start_visitor(
    place: str = "33000", role: str = "victim", **extra: Any
) -> tuple[WebsocketCommunicator, dict[str, Any]]:
    """Connect a visitor, send ``start``; return it and the first answer."""
    communicator = visitor_communicator()
    connected, _ = await communicator.connect()
    assert connected
    await communicator.send_json_to(
        {"type": "start", "place": place, "role": role, **extra}
    )
    return communicator, await communicator.receive_json_from()


async def open_conversation(
    service_slug: str | None = None,
) -> tuple[WebsocketCommunicator, dict[str, Any]]:
    """Start a conversation from 33000 that must succeed; return ``started``."""
    extra = {"service": service_slug} if service_slug else {}
    visitor, started = await start_visitor(**extra)
    assert started["type"] == "started", started
    return visitor, started


async def connect_staff(user: Any) -> tuple[WebsocketCommunicator, dict[str, Any]]:
    """Connect ``user``'s console with a verified session; return ``hello``."""
    from tests.factories import make_session_cookie

    cookie = await database_sync_to_async(make_session_cookie)(user)
    staff = staff_communicator(cookie)
    connected, _ = await staff.connect()
    assert connected
    hello = await staff.receive_json_from()
    assert hello["type"] == "hello", hello
    return staff, hello


async def claim(
    staff: WebsocketCommunicator,
    conversation_id: str | None = None,
    timeout: float = 3,
) -> dict[str, Any]:
    """Claim ``conversation_id`` (or the next) from ``staff``'s console.

    Returns the conversation of the ``assigned`` frame that answers it,
    within ``timeout`` seconds.
    """
    frame = {"type": "claim"}
    if conversation_id is not None:
        frame["conversation"] = conversation_id
    await staff.send_json_to(frame)
    return (await receive_until(staff, "assigned", timeout=timeout))["conversation"]


async def open_claimed_with_psychologist() -> tuple[
    WebsocketCommunicator, dict[str, Any], WebsocketCommunicator, WebsocketCommunicator
]:
    """A conversation of the escalation world claimed by an operator, with a
    psychologist's console open: (visitor, ``started``, operator, psy).
    """
    from console.models import StaffProfile
    from tests.escalation.conftest import make_escalation_world
    from tests.factories import make_staff

    def world() -> tuple[Any, Any]:
        service, _unit = make_escalation_world()
        return tuple(
            make_staff(roles=(role,), services=(service,), pseudonym=pseudonym)
            for role, pseudonym in (
                (StaffProfile.Role.OPERATOR, "Opératrice 12"),
                (StaffProfile.Role.PSYCHOLOGIST, "Psychologue 3"),
            )
        )

    operator, psychologist = await database_sync_to_async(world)()
    visitor, started = await open_conversation()
    staff, _hello = await connect_staff(operator)
    psy, _psy_hello = await connect_staff(psychologist)
    await claim(staff, started["conversation"])
    return visitor, started, staff, psy


class LaggingLoop:
    """Make the running event loop late, for real, while the block lasts.

    A callback blocks the loop with ``time.sleep(block)`` at once, then
    again ``every`` seconds later (0: at the very next loop turn), as an
    overloaded process's loop is held by thousands of other callbacks.
    ``async with LaggingLoop(0.3):``
    """

    def __init__(self, block: float, every: float = 0.0) -> None:
        self.block = block
        self.every = every
        self.handle: asyncio.Handle | None = None
        self.stopped = False

    def _schedule(self) -> None:
        if self.stopped:
            return
        loop = asyncio.get_running_loop()
        if self.every:
            self.handle = loop.call_later(self.every, self._hold)
        else:
            self.handle = loop.call_soon(self._hold)

    def _hold(self) -> None:
        time.sleep(self.block)
        self._schedule()

    async def __aenter__(self) -> "LaggingLoop":
        # The first block at once: the body starts on a late loop.
        self.handle = asyncio.get_running_loop().call_soon(self._hold)
        await asyncio.sleep(0.01)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.stopped = True
        if self.handle is not None:
            self.handle.cancel()

"""Frame parsing and the socket's plumbing, shared by every endpoint.

What a WebSocket frame must be before any handler sees it (JSON no deeper
than ``MAX_JSON_DEPTH``, no NUL or lone surrogate, within the rate), and
how a consumer runs a service in a database thread and collects the
events it emitted. Nothing here knows a conversation: the delivery rules
live in ``chat.socket``.
"""

import asyncio
import collections
import contextlib
import contextvars
import functools
import json
import time
import weakref
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.db.utils import load_backend

from realtime import events

# No frame of the protocol nests deeper than 3; 32 leaves room and stops a
# 16 KiB "[[[[..." before the parser builds it (3.13 parses 5,000 deep).
MAX_JSON_DEPTH = 32
# Control characters refused in any string of a frame: NUL (stored as is,
# it truncates text in C tools and some terminals), plus the lone UTF-16
# surrogates JSON escapes can carry, which no UTF-8 encoder accepts.
REFUSED_CHARACTERS = "\x00"


def find_unsafe_text(value: Any) -> str | None:
    """Return what is wrong with a string anywhere in ``value``, or None.

    Checks keys and values, walking without recursion: a lone surrogate
    (``"\\ud800"``) cannot be encrypted, logged or sent back, and NUL is
    refused (issue 11).
    """
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if any(character in item for character in REFUSED_CHARACTERS):
                return "a NUL character"
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return "invalid Unicode"
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return None


class TokenBucket:
    """Allow ``rate`` frames a second on average, ``burst`` at once."""

    # One per open socket: no instance dictionary.
    __slots__ = ("rate", "burst", "tokens", "updated")

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.updated = time.monotonic()

    def allow(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


def load_json_frame(text: str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse ``text`` as JSON, refusing nesting deeper than ``max_depth``.

    The depth is counted before parsing (brackets outside strings), so
    the limit is explicit and does not depend on the interpreter's
    recursion limit. Raises ValueError, like ``json.loads``.
    """
    if text.count("[") + text.count("{") <= max_depth:
        # Fewer openers than the limit: no nesting can pass it, and the
        # walk below (Python, per character) is skipped for nearly every
        # frame of a conversation.
        return json.loads(text)
    depth = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > max_depth:
                raise ValueError(f"JSON nested deeper than {max_depth}")
        elif char in "]}":
            depth -= 1
    return json.loads(text)


@functools.cache
def database_is_sqlite() -> bool:
    """Whether the default database is SQLite, read from its backend class.

    Not from ``django.db.connection``: in the event loop that is one
    connection object per task (asgiref keeps it in a context variable),
    so each socket that asked kept its own until it closed (~3 KiB).
    """
    engine = settings.DATABASES["default"]["ENGINE"]
    return load_backend(engine).DatabaseWrapper.vendor == "sqlite"


def db(fn: Any) -> Any:
    """Wrap ``fn`` to run in a database thread.

    SQLite allows one writer: its calls share one thread (``_writer_call``).
    On PostgreSQL they use a pool of threads, each with its own connection,
    so one slow query does not hold up every socket of the process.
    """
    if database_is_sqlite():
        return functools.partial(_writer_call, database_sync_to_async(fn))
    return database_sync_to_async(fn, thread_sensitive=False)


class _Writer:
    """SQLite's one writer thread in a loop: its calls under way, and when
    it last had none."""

    def __init__(self) -> None:
        self.pending = 0
        self.idle = asyncio.Event()
        self.idle.set()


_writers: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Writer]"
_writers = weakref.WeakKeyDictionary()
# True in a task while it holds an opening slot (``setup_slot``).
_opening: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "opening", default=False
)


async def _writer_call(call: Any, *args: Any, **kwargs: Any) -> Any:
    """Run ``call`` in SQLite's writer thread; openings only when it is idle.

    The thread runs its calls in the order they came. While it was busy
    with everybody's messages, a surge of openings queued their writes
    among them, and every message waited behind the queue (bench/README.md,
    "Sixth pass"). The holder of an opening slot waits until the thread has
    nothing under way, at most ``WRITER_IDLE_WAIT_MAX_SECONDS``, so a
    message waits behind one opening write at most; messages never wait
    for the gate.
    """
    loop = asyncio.get_running_loop()
    writer = _writers.get(loop)
    if writer is None:
        writer = _writers[loop] = _Writer()
    if _opening.get():
        await writer_idle()
    writer.pending += 1
    writer.idle.clear()
    try:
        return await call(*args, **kwargs)
    finally:
        writer.pending -= 1
        if not writer.pending:
            writer.idle.set()


async def writer_idle() -> None:
    """Wait until SQLite's writer thread has nothing under way, at most
    ``WRITER_IDLE_WAIT_MAX_SECONDS``; at once if it has nothing now.

    For the event loop's own writes (``realtime.loop_sqlite``): written
    between the thread's calls, they never find its lock taken.
    """
    writer = _writers.get(asyncio.get_running_loop())
    if writer is not None and writer.pending:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                writer.idle.wait(), settings.WRITER_IDLE_WAIT_MAX_SECONDS
            )


def db_read(fn: Any) -> Any:
    """Wrap a read-only ``fn`` to run in the pool of database threads.

    Reads never take SQLite's write lock and WAL lets them run beside the
    writer, so on SQLite too they need not queue behind every write.
    """
    return database_sync_to_async(fn, thread_sensitive=False)


def run_collecting(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, list]:
    """Run a service in the database thread and collect its events."""
    with events.collecting_events() as collected:
        result = fn(*args, **kwargs)
    return result, collected


_setup_slots: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _OpeningSlot]"
_setup_slots = weakref.WeakKeyDictionary()
# When this process last handled a conversation's message or typing, in
# or out (monotonic): the opening slots widen only once it is that long ago.
_last_talk = float("-inf")
QUIET_SECONDS = 1.0


def note_talk() -> None:
    """Note that a conversation is talking in this process (``setup_slot``)."""
    global _last_talk
    _last_talk = time.monotonic()


def is_quiet() -> bool:
    """Whether no conversation of this process talked for ``QUIET_SECONDS``."""
    return time.monotonic() - _last_talk >= QUIET_SECONDS


def setup_slot() -> "_OpeningSlot":
    """The process's slots for opening work: start, resume, claim, release
    and a console's hello.

    Opening a conversation costs tens of times a message, mostly Python
    building and reading rows in database threads. A hundred at once filled
    every thread, and each held the GIL in turn while the event loop, which
    delivers everybody's messages, waited for it: the other conversations
    stalled for seconds (bench/README.md, "Third pass"). At most
    ``SETUP_CONCURRENCY`` such handlers run at once per process while its
    conversations talk; the others wait their turn in order, and messages
    go on meanwhile. While none has talked for ``QUIET_SECONDS`` (a
    platform opening, the night), there is nobody's delay to protect: up to
    ``SETUP_CONCURRENCY_QUIET`` run at once. Hold a slot around a whole
    handler, never inside another holder.
    """
    loop = asyncio.get_running_loop()
    slot = _setup_slots.get(loop)
    if slot is None:
        slot = _setup_slots[loop] = _OpeningSlot()
    return slot


class _OpeningSlot:
    """The opening slots, granted in order of asking.

    Their holder's SQLite writes wait for an idle writer (``_writer_call``).
    """

    def __init__(self) -> None:
        self.holders = 0
        self.waiters: collections.deque[asyncio.Future] = collections.deque()

    def limit(self) -> int:
        busy = settings.SETUP_CONCURRENCY
        return max(busy, settings.SETUP_CONCURRENCY_QUIET) if is_quiet() else busy

    async def acquire(self) -> None:
        if not self.waiters and self.holders < self.limit():
            self.holders += 1
            return
        granted = asyncio.get_running_loop().create_future()
        self.waiters.append(granted)
        try:
            await granted
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():
                # Granted, then cancelled before it could run: give it back.
                self.release()
            else:
                self.waiters.remove(granted)
            raise

    def release(self) -> None:
        self.holders -= 1
        while self.waiters and self.holders < self.limit():
            granted = self.waiters.popleft()
            if not granted.done():
                self.holders += 1
                granted.set_result(None)

    async def __aenter__(self) -> None:
        await self.acquire()
        _opening.set(True)

    async def __aexit__(self, *exc_info: Any) -> None:
        _opening.set(False)
        self.release()

"""Per-process background work: heartbeats, the sweep and reconciliation.

One task per server process (started by the first socket) refreshes the
process's ``Connection`` rows, runs the presence sweep, resends channel
layer events that failed, and reconciles: it reads the last seq of every
conversation with a socket here and wakes any socket that is behind. That
last step is the safety net behind the at-most-once channel layer: a
notification lost to a full channel, an expired group or a Redis restart
is made up within ``RECONCILE_SECONDS``.

Failed sends are retried at once, then less and less often while they
keep failing (``RETRY_FIRST_SECONDS`` doubling up to
``RETRY_MAX_SECONDS``); once the outbox is empty, one reconcile makes up
for what the layer lost meanwhile, at most every
``RECONCILE_AFTER_RETRY_SECONDS`` (issue 14: retrying and reconciling
every half second added to the load of a process already behind). The
task also starts this process's loop-lag probe (``realtime.lag``).

The loop knows no app: each plugs its work in from ``AppConfig.ready()``
(chat its heartbeat, sweep and last seqs, console its auto-assignment,
escalation its tick), so this package imports none of them.
"""

import asyncio
import logging
import os
import secrets
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, Protocol
from uuid import UUID

from channels.db import database_sync_to_async
from django.conf import settings

from realtime import events, lag
from realtime.frames import database_is_sqlite

logger = logging.getLogger(__name__)

SERVER_ID = f"{os.getpid()}-{secrets.token_hex(6)}"
TICK_SECONDS = 0.5
RETRY_FIRST_SECONDS = 0.5
RETRY_MAX_SECONDS = 8.0
RECONCILE_AFTER_RETRY_SECONDS = 5.0


class Reconcilable(Protocol):
    def conversations_delivered(self) -> dict[UUID, int]: ...

    async def catch_up(self, conversation_id: UUID, last_seq: int) -> None: ...


_sockets: "weakref.WeakSet[Reconcilable]" = weakref.WeakSet()
_task: asyncio.Task | None = None
_task_loop: asyncio.AbstractEventLoop | None = None

# What the apps plug in (see the module docstring), keyed by name so a
# second ``ready()`` replaces rather than doubles.
_heartbeats: dict[str, Callable[[str], Any]] = {}
_sweep_steps: dict[str, Callable[[], dict[str, int]]] = {}
_ticks: dict[str, tuple[Callable[[], float | None], Callable[[], Awaitable]]] = {}
_last_seq_reader: list[Callable[[list[UUID]], dict[UUID, int]]] = []
_stops: dict[str, Callable[[], Awaitable]] = {}


def on_heartbeat(name: str, refresh: Callable[[str], Any]) -> None:
    """Call ``refresh(SERVER_ID)`` every ``PRESENCE_HEARTBEAT_SECONDS``."""
    _heartbeats[name] = refresh


def on_sweep(name: str, step: Callable[[], dict[str, int]]) -> None:
    """Run ``step`` at each sweep, in registration order, in one thread.

    The steps share one collection of events, sent after the last one;
    their counts are merged into what ``sweep_presence`` returns.
    """
    _sweep_steps[name] = step


def on_tick(
    name: str, every: Callable[[], float | None], work: Callable[[], Awaitable]
) -> None:
    """Await ``work()`` every ``every()`` seconds; ``None`` skips it."""
    _ticks[name] = (every, work)


def on_stop(name: str, work: Callable[[], Awaitable]) -> None:
    """Await ``work()`` when ``stop`` stops the process's background work."""
    _stops[name] = work


def set_last_seq_reader(read: Callable[[list[UUID]], dict[UUID, int]]) -> None:
    """Name the read reconciling uses: conversation id -> its last seq."""
    _last_seq_reader[:] = [read]


def register_socket(socket: Reconcilable) -> None:
    """Track an open socket and make sure this process's loop runs."""
    global _task, _task_loop
    _sockets.add(socket)
    lag.ensure_running()
    loop = asyncio.get_running_loop()
    if _task is None or _task.done() or _task_loop is not loop:
        _task_loop = loop
        _task = loop.create_task(_run_forever())


def unregister_socket(socket: Reconcilable) -> None:
    _sockets.discard(socket)


async def reconcile_now() -> int:
    """Wake every local socket that is behind its conversation's last seq."""
    wanted: dict[UUID, list[tuple[Reconcilable, int]]] = {}
    for socket in list(_sockets):
        for conversation_id, delivered in socket.conversations_delivered().items():
            wanted.setdefault(conversation_id, []).append((socket, delivered))
    if not wanted:
        return 0
    if not _last_seq_reader:
        return 0
    latest = await database_sync_to_async(_last_seq_reader[0], thread_sensitive=False)(
        list(wanted)
    )
    woken = 0
    for conversation_id, last_seq in latest.items():
        for socket, delivered in wanted[conversation_id]:
            if last_seq > delivered:
                woken += 1
                await socket.catch_up(conversation_id, last_seq)
    return woken


def _db(fn: Any) -> Any:
    """Like ``realtime.frames.db``: one writer thread on SQLite, a pool elsewhere.

    The default (thread-sensitive) would put the heartbeat and the sweep
    in the single thread that, on PostgreSQL, nothing else uses.
    """
    return database_sync_to_async(fn, thread_sensitive=database_is_sqlite())


class _Retries:
    """When to resend the outbox, and whether a reconcile should follow."""

    def __init__(self) -> None:
        self.wait = RETRY_FIRST_SECONDS
        self.next_at = 0.0
        self.delivered = False  # something was resent since the last reconcile

    async def run_if_due(self, now: float) -> None:
        if not events.has_failed_events() or now < self.next_at:
            return
        if await events.retry_failed_events():
            self.delivered = True
        if events.has_failed_events():
            # Still failing: wait longer before the next try.
            self.next_at = time.monotonic() + self.wait
            self.wait = min(self.wait * 2, RETRY_MAX_SECONDS)
        else:
            self.wait = RETRY_FIRST_SECONDS
            self.next_at = 0.0

    def reconcile_wanted(self, now: float, last_reconcile: float) -> bool:
        """Once the outbox is empty, one reconcile makes up what was lost."""
        return (
            self.delivered
            and not events.has_failed_events()
            and now - last_reconcile >= RECONCILE_AFTER_RETRY_SECONDS
        )


async def _run_forever() -> None:
    last = dict.fromkeys(("heartbeat", "sweep", "reconcile", *_ticks), 0.0)
    retries = _Retries()
    while True:
        try:
            await asyncio.sleep(TICK_SECONDS)
            now = time.monotonic()
            await retries.run_if_due(now)
            if now - last["heartbeat"] >= settings.PRESENCE_HEARTBEAT_SECONDS:
                last["heartbeat"] = now
                for refresh in list(_heartbeats.values()):
                    await _db(refresh)(SERVER_ID)
            if now - last["sweep"] >= settings.SWEEP_INTERVAL_SECONDS:
                last["sweep"] = now
                await sweep_presence()
            since = now - last["reconcile"]
            if since >= settings.RECONCILE_SECONDS or retries.reconcile_wanted(
                now, last["reconcile"]
            ):
                last["reconcile"] = now
                retries.delivered = False
                await reconcile_now()
            for name, (every, work) in list(_ticks.items()):
                seconds = every()
                if seconds is not None and now - last.get(name, 0.0) >= seconds:
                    last[name] = now
                    await work()
        except asyncio.CancelledError:
            raise
        except Exception:
            # The database may be down; try again on the next tick.
            logger.exception("background presence work failed")
            await asyncio.sleep(2)


async def sweep_presence() -> dict[str, int]:
    counts, collected = await _db(_sweep_collecting)()
    await events.dispatch_events(collected)
    return counts


def _sweep_collecting() -> tuple[dict[str, int], list[events.Event]]:
    counts: dict[str, int] = {}
    with events.collecting_events() as collected:
        for step in list(_sweep_steps.values()):
            counts.update(step())
    return counts, collected


async def stop() -> None:
    """Stop this process's background task (tests, shutdown)."""
    global _task
    task, _task = _task, None
    _sockets.clear()
    for work in list(_stops.values()):
        await work()
    await lag.stop()
    if task is not None and not task.done():
        task.cancel()
        try:
            await task
        except (asyncio.CancelledError, Exception):  # noqa: BLE001, S110
            pass

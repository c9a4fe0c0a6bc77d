"""One queue subscription, snapshot and frame per process, fanned out to sockets.

Every queue change (a visitor starts, a claim, a release, a requeue) is a
``console.queue_changed`` event to the service's queue group
(``chat.events.service_queue_group_name``). Console sockets do not join
that group: the process does, once per service, with one channel of its
own read by one task (``listen``). So a change costs one layer delivery
per process, not one per open console; the sockets only hear of it here.

The process then waits ``DEBOUNCE_SECONDS`` (longer after a flush that
cost much: ``_spacing``) for more changes, reads the
queues of the changed services once (``list_queue_snapshots``), renders
the ``queue`` frame once per distinct set of services, and sends that same
text to every subscribed socket. A surge of changes costs a few queries
whatever the number of sockets, and a lone ``start`` still reaches an idle
console within the debounce plus one query. What is a socket's own (its
automatic assignment, its supervisor board) it is told locally
(``QueueWatcher.queue_changed_here``), and it keeps its own debounce.

Waiting visitors' sockets follow their service the same way
(``follow_place``): the flush reads the waiting order once and tells each
its place, so a change costs no event per waiting visitor either. A socket
that has just read its place (at attach) follows with the mark ``listen``
gave before that read, as a console subscribes: it is only read for again
once a change it cannot have seen is heard. Its own arrival in the queue
(an event ``by`` its conversation, committed before the read) is not one.

A queue is only a view: a lost notification (layer down, Redis restart)
loses nothing. The reader recovers by itself (a new channel, the same
groups, then every followed queue is sent again), the runtime's tick
checks it (``check``), and a console's ``hello`` reads its queue directly.
Services stay followed for the life of the process once a console needed
them: they are a handful, and a reconnecting console then never waits for
a subscription.
"""

import asyncio
import contextlib
import json
import logging
import time
import weakref
from collections.abc import Iterable
from typing import Any, NamedTuple, Protocol
from uuid import UUID

from channels.layers import get_channel_layer
from django.conf import settings

from chat.events import service_queue_group_name
from chat.services.queue import list_waiting_places
from console.selectors import list_queue_snapshots, merge_queue_snapshots
from realtime import events as rt_events
from realtime.frames import db_read

logger = logging.getLogger(__name__)

DEBOUNCE_SECONDS = 0.05
# When the last flush ended (monotonic): the debounce runs from there.
_flushed_at = 0.0
# How long the last flush took. The next one waits at least that long
# divided by FLUSH_SHARE (``settings.QUEUE_FLUSH_SHARE``), at most
# FLUSH_WAIT_MAX_SECONDS: a long queue sent to many consoles takes no more
# than that share of the process while conversations are claimed back.
_flush_took = 0.0
FLUSH_WAIT_MAX_SECONDS = 1.0
# After a layer failure, wait this long before a new channel and the groups.
RETRY_SECONDS = 1.0
# How often the runtime's tick checks the reader and renews the memberships
# (the in-memory layer forgets a membership after a day).
CHECK_SECONDS = 5.0
CHANNEL_PREFIX = "queuefeed."


class QueueWatcher(Protocol):
    service_ids: list[int]

    async def send_queue_text(self, text: str) -> None: ...

    def queue_changed_here(self) -> None: ...


class PlaceWatcher(Protocol):
    """A waiting visitor's socket: told its place when its queue moves."""

    place_service_id: int
    place_conversation_id: UUID

    async def send_place(self, position: int, wait: int) -> None: ...


class _Subscription:
    """This process's channel on one layer, in one loop, and what it follows."""

    def __init__(self, layer: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.layer = layer
        self.loop = loop
        self.channel: str | None = None
        self.services: set[int] = set()
        self.reader: asyncio.Task | None = None
        self.lock = asyncio.Lock()
        self.failing = False
        # Channels given up after a failure, to take out of the groups.
        self.retired: set[str] = set()


_subscription: _Subscription | None = None
_watchers: "weakref.WeakSet[QueueWatcher]" = weakref.WeakSet()
_place_watchers: "weakref.WeakSet[PlaceWatcher]" = weakref.WeakSet()
_changed: set[int] = set()
# Services whose waiting visitors only (a socket just followed) need a flush.
_places_changed: set[int] = set()
# Waiting visitors' sockets whose place is known as of a mark (read at
# attach after it): left out of the flushes until their queue moved since.
_place_since: "weakref.WeakKeyDictionary[PlaceWatcher, int]" = (
    weakref.WeakKeyDictionary()
)
_flush_task: asyncio.Task | None = None
# Changes heard so far, and the count at each service's last one: a socket
# subscribing after its hello asks whether its queue moved in between.
_changes_heard = 0
_last_change: dict[int, int] = {}
# Per service: the conversation whose arrival the last change was (or
# None), and the count at the last change before that conversation's run
# of changes (``_moved_since``).
_last_cause: dict[int, str | None] = {}
_before_last_cause: dict[int, int] = {}


async def listen(service_ids: Iterable[int]) -> int:
    """Make this process follow ``service_ids``' queues; return a mark.

    Call it before reading the queue a socket shows first (its ``hello``),
    and give the mark to ``subscribe``: a change heard in between is then
    sent to the socket too. A layer failure here does not refuse the
    socket: the reader subscribes again when the layer is back.
    """
    subscription = _current_subscription()
    async with subscription.lock:
        new = set(service_ids) - subscription.services
        subscription.services |= new
        try:
            if subscription.channel is None:
                await _join(subscription)
            else:
                await _add_groups(subscription, new)
        except Exception as exc:  # noqa: BLE001 - the reader retries.
            logger.warning("queue feed could not subscribe: %s", type(exc).__name__)
            _restart_reader(subscription)
    _ensure_reader(subscription)
    return _changes_heard


class Mark(NamedTuple):
    """A mark taken without ``listen``, before a read of an unknown service."""

    heard: int
    followed: frozenset[int]

    def since_for(self, service_id: int) -> int | None:
        """The mark for ``service_id``'s queue, if the process followed it.

        None if it did not: the socket is then read for once it follows
        (``follow_place`` without a mark), as changes before could not be
        heard.
        """
        return self.heard if service_id in self.followed else None


def mark() -> Mark:
    """A mark for a read whose service is not known yet (a visitor's start)."""
    subscription = _subscription
    followed = (
        frozenset(subscription.services)
        if subscription is not None and subscription.loop is asyncio.get_running_loop()
        else frozenset()
    )
    return Mark(_changes_heard, followed)


def subscribe(watcher: QueueWatcher, since: int | None = None) -> None:
    """Send ``watcher`` its queue at every change from now on.

    ``since`` is the mark ``listen`` returned before the watcher read its
    first queue: a change heard since then is flushed to it as well.
    """
    _watchers.add(watcher)
    if since is None:
        return
    for service_id in watcher.service_ids:
        if _moved_since(service_id, since):
            queue_changed(service_id)


def unsubscribe(watcher: QueueWatcher) -> None:
    _watchers.discard(watcher)


async def follow_place(watcher: PlaceWatcher, since: int | None = None) -> None:
    """Tell a waiting visitor's socket its place at every change of its queue.

    ``since``: the mark ``listen`` returned before the socket read the
    place it shows (at attach). A change heard since then, other than its
    own conversation's arrival, is flushed to it; else nothing is read
    until its queue moves. Without a mark, the queue is followed first,
    then flushed once: whatever changed before the socket was added is in
    that read, whatever changes after is heard. Sockets of the same moment
    share the flush.
    """
    service_id = watcher.place_service_id
    await listen([service_id])
    _place_watchers.add(watcher)
    if since is None:
        _place_since.pop(watcher, None)
    else:
        _place_since[watcher] = since
        if not _place_moved(watcher):
            return
    _places_changed.add(service_id)
    _schedule_flush()


def unfollow_place(watcher: PlaceWatcher) -> None:
    _place_watchers.discard(watcher)
    _place_since.pop(watcher, None)


def _moved_since(service_id: int, since: int, own: str | None = None) -> bool:
    """Whether a change of the queue heard after ``since`` may be news.

    A read made after ``listen`` returned ``since`` saw every change heard
    before. ``own``: a conversation id whose arrival (an event ``by`` it)
    the reader committed before its read, so cannot be news to it.
    """
    if own is not None and _last_cause.get(service_id) == own:
        return _before_last_cause.get(service_id, 0) > since
    return _last_change.get(service_id, 0) > since


def _place_moved(watcher: PlaceWatcher) -> bool:
    """Whether a waiting visitor's place may have moved since it was told.

    Once true for a mark, true for good: every later change is flushed.
    """
    since = _place_since.get(watcher)
    return since is None or _moved_since(
        watcher.place_service_id, since, str(watcher.place_conversation_id)
    )


def queue_changed(service_id: int) -> None:
    """Note a change of ``service_id``'s queue; the flush follows shortly."""
    _changed.add(service_id)
    _schedule_flush()


def _schedule_flush() -> None:
    global _flush_task
    loop = asyncio.get_running_loop()
    if _flush_task is None or _flush_task.done() or _flush_task.get_loop() is not loop:
        _flush_task = loop.create_task(_flush_soon())


def queue_frame_text(items: list[dict[str, Any]]) -> str:
    """The ``queue`` frame as sent (docs/protocol.md), rendered once."""
    return json.dumps({"type": "queue", "items": items}, ensure_ascii=False)


async def flush() -> int:
    """Send the current queue to every socket of a changed service.

    Consoles get the queue, waiting visitors their place. Returns how many
    sockets were sent something.
    """
    changed = set(_changed)
    _changed.clear()
    places_changed = changed | _places_changed
    _places_changed.clear()
    watchers = [w for w in list(_watchers) if changed.intersection(w.service_ids)]
    placed = [
        p
        for p in list(_place_watchers)
        if p.place_service_id in places_changed and _place_moved(p)
    ]
    for watcher in watchers:
        watcher.queue_changed_here()
    sent = 0
    if watchers:
        sent += await _send_queues(watchers)
    if placed:
        sent += await _send_places(placed)
    return sent


async def _send_queues(watchers: list[QueueWatcher]) -> int:
    wanted = sorted({sid for watcher in watchers for sid in watcher.service_ids})
    # Read-only: the thread pool, beside the writers.
    snapshots = await db_read(list_queue_snapshots)(wanted)
    texts: dict[tuple[int, ...], str] = {}
    for watcher in watchers:
        key = tuple(sorted(watcher.service_ids))
        if key not in texts:
            items = merge_queue_snapshots(snapshots[sid] for sid in key)
            texts[key] = queue_frame_text(items)
        try:
            await watcher.send_queue_text(texts[key])
        except Exception:  # noqa: BLE001 - one closed socket stops nobody else.
            logger.warning("could not send a queue to a socket")
    return len(watchers)


async def _send_places(placed: list[PlaceWatcher]) -> int:
    """Tell each waiting visitor's socket its place, from one read."""
    wanted = sorted({watcher.place_service_id for watcher in placed})
    places = await db_read(list_waiting_places)(wanted)
    sent = 0
    for watcher in placed:
        order, per_place = places[watcher.place_service_id]
        position = order.get(watcher.place_conversation_id)
        if position is None:
            # Claimed or closed: its own status event says so.
            continue
        try:
            await watcher.send_place(position, round(per_place * position))
            sent += 1
        except Exception:  # noqa: BLE001 - one closed socket stops nobody else.
            logger.warning("could not send a place to a socket")
    return sent


async def check() -> None:
    """The runtime's tick: keep the reader alive and the queues fresh.

    Restarts a dead reader, renews the memberships, and resends every
    followed queue once the layer works again after failing: changes
    announced while it was down may never have arrived.
    """
    subscription = _subscription
    if subscription is None or subscription.loop is not asyncio.get_running_loop():
        return
    failing = rt_events.layer_recently_failed()
    recovered, subscription.failing = subscription.failing and not failing, failing
    if recovered:
        for service_id in sorted(subscription.services):
            _note_change(service_id)
    if subscription.reader is None or subscription.reader.done():
        _ensure_reader(subscription)
        return
    async with subscription.lock:
        if subscription.channel is None:
            return
        try:
            await _add_groups(subscription, subscription.services)
        except Exception as exc:  # noqa: BLE001 - the reader retries.
            logger.warning("queue feed could not renew: %s", type(exc).__name__)
            _restart_reader(subscription)


async def stop() -> None:
    """Stop this process's reader and forget what it followed (tests)."""
    global _subscription
    subscription, _subscription = _subscription, None
    if subscription is None or subscription.reader is None:
        return
    subscription.reader.cancel()
    if subscription.loop is asyncio.get_running_loop():
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await subscription.reader


# -- the reader ---------------------------------------------------------------


def _current_subscription() -> _Subscription:
    """This loop's and this layer's subscription, a new one if they changed."""
    global _subscription
    loop = asyncio.get_running_loop()
    layer = get_channel_layer()
    current = _subscription
    if current is not None and current.loop is loop and current.layer is layer:
        return current
    if current is not None and current.reader is not None:
        # Another loop or layer (tests): its reader has nothing left to read.
        with contextlib.suppress(RuntimeError):
            current.reader.cancel()
    _subscription = _Subscription(layer, loop)
    return _subscription


def _ensure_reader(subscription: _Subscription) -> None:
    if subscription.reader is None or subscription.reader.done():
        subscription.reader = subscription.loop.create_task(_read_forever(subscription))


def _retire_channel(subscription: _Subscription) -> None:
    if subscription.channel is not None:
        subscription.retired.add(subscription.channel)
    subscription.channel = None


def _restart_reader(subscription: _Subscription) -> None:
    """Drop the channel; the reader's next turn takes a new one."""
    _retire_channel(subscription)
    if subscription.reader is not None and subscription.reader is not (
        asyncio.current_task()
    ):
        subscription.reader.cancel()
    subscription.reader = None
    _ensure_reader(subscription)


async def _read_forever(subscription: _Subscription) -> None:
    """Read the process's channel and note each change, until cancelled."""
    while True:
        try:
            if subscription.channel is None:
                await _rejoin(subscription)
            message = await subscription.layer.receive(subscription.channel)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - any layer failure: retry.
            logger.warning("queue feed lost its channel: %s", type(exc).__name__)
            _retire_channel(subscription)
            await asyncio.sleep(RETRY_SECONDS)
            continue
        service_id = message.get("service")
        if type(service_id) is int:
            by = message.get("by")
            _note_change(service_id, by if isinstance(by, str) else None)


async def _rejoin(subscription: _Subscription) -> None:
    """Join again after a failure, then resend every followed queue.

    Notifications sent while there was no channel are lost, so every
    followed queue counts as changed.
    """
    async with subscription.lock:
        if subscription.channel is None:
            await _join(subscription)
    for service_id in sorted(subscription.services):
        _note_change(service_id)


async def _join(subscription: _Subscription) -> None:
    """Take a new channel and join every followed group (lock held).

    A channel given up before then leaves the groups, or the in-memory
    layer would keep filling it until its messages expire.
    """
    subscription.channel = await subscription.layer.new_channel(prefix=CHANNEL_PREFIX)
    try:
        await _add_groups(subscription, subscription.services)
    except BaseException:
        subscription.channel = None
        raise
    for retired in sorted(subscription.retired):
        subscription.retired.discard(retired)
        for service_id in sorted(subscription.services):
            with contextlib.suppress(Exception):
                await subscription.layer.group_discard(
                    service_queue_group_name(service_id), retired
                )


async def _add_groups(subscription: _Subscription, service_ids: set[int]) -> None:
    for service_id in sorted(service_ids):
        await subscription.layer.group_add(
            service_queue_group_name(service_id), subscription.channel
        )


def _note_change(service_id: int, by: str | None = None) -> None:
    """Count a change heard; ``by``: whose arrival it was, if one."""
    global _changes_heard
    _changes_heard += 1
    if by is None or _last_cause.get(service_id) != by:
        _before_last_cause[service_id] = _last_change.get(service_id, 0)
    _last_change[service_id] = _changes_heard
    _last_cause[service_id] = by
    queue_changed(service_id)


async def _flush_soon() -> None:
    """Flush at once if the last flush is older than the debounce, else soon.

    An idle console sees a new visitor within one read (issue 14: under
    100 ms); a surge still costs one read per ``DEBOUNCE_SECONDS``. A
    change heard while a flush reads the database waits for the next round
    instead of being left until some later change.
    """
    global _flushed_at, _flush_took
    while _changed or _places_changed:
        wait = _spacing() - (time.monotonic() - _flushed_at)
        # sleep(0) still yields: changes of the same loop turn join in.
        await asyncio.sleep(max(0.0, wait))
        started = time.monotonic()
        try:
            await flush()
        except Exception:
            # The database may be down: the next change or hello brings the
            # queue back; nothing is lost, a queue is only a view.
            logger.exception("queue snapshot failed")
        finally:
            _flushed_at = time.monotonic()
            _flush_took = _flushed_at - started


def _spacing() -> float:
    """The least time between two flushes: the debounce, or more after a dear one.

    A hundred conversations released at once and claimed back made every
    flush send a hundred places and a hundred-line queue to every console,
    twenty times a second, and everybody's messages waited (bench/README.md,
    "Third pass"). The wait grows with what the last flush cost, so flushes
    take at most ``QUEUE_FLUSH_SHARE`` of the process; an idle process still
    flushes at once.
    """
    share = settings.QUEUE_FLUSH_SHARE
    return max(DEBOUNCE_SECONDS, min(FLUSH_WAIT_MAX_SECONDS, _flush_took / share))

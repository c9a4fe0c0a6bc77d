"""One queue snapshot per process and per change, fanned out to sockets.

Every queue change (a visitor starts, a claim, a release, a requeue) is a
``console.queue_changed`` event to the service's staff group. Each console
socket used to re-read the whole queue on it, so a change cost one query
per open operator socket, and opening N conversations cost O(N × sockets).
Here a socket only reports the change; the process waits ``DEBOUNCE_SECONDS``
for more changes, reads the queues of the changed services once
(``list_queue_snapshots``), and hands every subscribed socket the merge of
its services' queues. A surge of changes costs a few queries whatever the
number of sockets, and a lone ``start`` still reaches an idle console
within the debounce plus one query.
"""

import asyncio
import logging
import weakref
from typing import Any, Protocol

from console.selectors import list_queue_snapshots, merge_queue_snapshots
from realtime.frames import db_read

logger = logging.getLogger(__name__)

DEBOUNCE_SECONDS = 0.05


class QueueWatcher(Protocol):
    service_ids: list[int]

    async def send_queue_items(self, items: list[dict[str, Any]]) -> None: ...


_watchers: "weakref.WeakSet[QueueWatcher]" = weakref.WeakSet()
_changed: set[int] = set()
_flush_task: asyncio.Task | None = None


def subscribe(watcher: QueueWatcher) -> None:
    _watchers.add(watcher)


def unsubscribe(watcher: QueueWatcher) -> None:
    _watchers.discard(watcher)


def queue_changed(service_id: int) -> None:
    """Note a change of ``service_id``'s queue; the flush follows shortly."""
    global _flush_task
    _changed.add(service_id)
    loop = asyncio.get_running_loop()
    if _flush_task is None or _flush_task.done() or _flush_task.get_loop() is not loop:
        _flush_task = loop.create_task(_flush_soon())


async def _flush_soon() -> None:
    await asyncio.sleep(DEBOUNCE_SECONDS)
    try:
        await flush()
    except Exception:
        # The database may be down: the next change or hello brings the
        # queue back; nothing is lost, a queue is only a view.
        logger.exception("queue snapshot failed")


async def flush() -> int:
    """Send the current queue to every socket of a changed service.

    Returns how many sockets were sent a queue.
    """
    changed = set(_changed)
    _changed.clear()
    watchers = [w for w in list(_watchers) if changed.intersection(w.service_ids)]
    if not watchers:
        return 0
    wanted = sorted({sid for watcher in watchers for sid in watcher.service_ids})
    # Read-only: the thread pool, beside the writers.
    snapshots = await db_read(list_queue_snapshots)(wanted)
    merged: dict[tuple[int, ...], list[dict[str, Any]]] = {}
    for watcher in watchers:
        key = tuple(sorted(watcher.service_ids))
        if key not in merged:
            merged[key] = merge_queue_snapshots(snapshots[sid] for sid in key)
        try:
            await watcher.send_queue_items(merged[key])
        except Exception:  # noqa: BLE001 - one closed socket stops nobody else.
            logger.warning("could not send a queue to a socket")
    return len(watchers)

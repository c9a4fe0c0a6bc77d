"""Channel-layer delivery: the on-commit sender, collection and the outbox.

Any app hands an event (a group name and a dict) to ``send_event_on_commit``;
it leaves after the commit, from the socket that made the change when
``collecting_events()`` is open, and a send that fails waits in the outbox
for the process runtime to retry. Nothing here knows what an event means:
the builders live with their app (``chat.events`` for conversations).
"""

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from asgiref.sync import async_to_sync

from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction

logger = logging.getLogger(__name__)

Event = tuple[str, dict[str, Any]]

_local = threading.local()
# Events whose send failed (layer down); retried by the process runtime.
_retry_outbox: deque[Event] = deque(maxlen=20_000)
_layer_failed_at = 0.0


def send_event_on_commit(group: str, event: dict[str, Any]) -> None:
    """Send ``event`` to ``group`` once the current transaction commits.

    Inside ``collecting_events()`` the event is handed to the caller (a
    consumer), which sends it asynchronously; elsewhere (commands, views,
    the sweep) it is sent right after the commit.
    """
    transaction.on_commit(lambda: _emit(group, event))


def send_event_rollback_unsafe(group: str, event: dict[str, Any]) -> None:
    """Send now, even if a surrounding transaction later rolls back.

    Only for ephemeral signals that no write backs (typing indicators).
    """
    _emit(group, event)


def _emit(group: str, event: dict[str, Any]) -> None:
    collector = getattr(_local, "collector", None)
    if collector is not None:
        collector.append((group, event))
        return
    async_to_sync(dispatch_events)([(group, event)])


@contextmanager
def collecting_events() -> Iterator[list[Event]]:
    """Collect, instead of sending, the events emitted in this thread."""
    previous = getattr(_local, "collector", None)
    collected: list[Event] = []
    _local.collector = collected
    try:
        yield collected
    finally:
        _local.collector = previous


async def dispatch_events(events: list[Event]) -> bool:
    """Send events on the layer; return False if any send failed.

    A failed event is kept for a retry: receivers would also find the
    message at their next reconcile, the retry only makes it sooner.
    """
    global _layer_failed_at
    if not events:
        return True
    layer = get_channel_layer()
    timeout = settings.LAYER_SEND_TIMEOUT_SECONDS
    ok = True
    for group, event in events:
        try:
            await asyncio.wait_for(layer.group_send(group, event), timeout)
        except Exception as exc:  # noqa: BLE001 - any layer failure degrades.
            ok = False
            _layer_failed_at = time.monotonic()
            _retry_outbox.append((group, event))
            logger.warning("channel layer send failed: %s", type(exc).__name__)
    return ok


async def retry_failed_events() -> int:
    """Send again what failed before; return how many were sent."""
    pending = [_retry_outbox.popleft() for _ in range(len(_retry_outbox))]
    if not pending:
        return 0
    layer = get_channel_layer()
    sent = 0
    for index, (group, event) in enumerate(pending):
        try:
            await asyncio.wait_for(
                layer.group_send(group, event), settings.LAYER_SEND_TIMEOUT_SECONDS
            )
            sent += 1
        except Exception:  # noqa: BLE001
            _retry_outbox.extendleft(reversed(pending[index:]))
            break
    return sent


def layer_recently_failed(window_seconds: float = 10.0) -> bool:
    return time.monotonic() - _layer_failed_at < window_seconds

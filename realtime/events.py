"""Channel-layer delivery: the on-commit sender, collection and the outbox.

Any app hands an event (a group name and a dict) to ``send_event_on_commit``;
it leaves after the commit, from the socket that made the change when
``collecting_events()`` is open, and a send that fails waits in the outbox
for the process runtime to retry. Nothing here knows what an event means:
the builders live with their app (``chat.events`` for conversations).

A send's time limit, ``LAYER_SEND_TIMEOUT_SECONDS``, counts only the time
this process's event loop was on time (``realtime.lag.wait_on_time``): an
overloaded process whose every loop turn comes late must not call Redis
dead, fill the outbox and add retries and reconciles to its load (issue
14). A hung layer still fails within ``LAYER_SEND_MAX_SECONDS``.
"""

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

from realtime import lag

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
    ok = True
    for group, event in events:
        try:
            await _send(layer, group, event)
        except Exception as exc:  # noqa: BLE001 - any layer failure degrades.
            ok = False
            _layer_failed_at = time.monotonic()
            _retry_outbox.append((group, event))
            logger.warning("channel layer send failed: %s", type(exc).__name__)
    return ok


async def retry_failed_events() -> int:
    """Send again what failed before; return how many were sent.

    Stops at the first failure: the rest waits for the next retry.
    """
    global _layer_failed_at
    pending = [_retry_outbox.popleft() for _ in range(len(_retry_outbox))]
    if not pending:
        return 0
    layer = get_channel_layer()
    sent = 0
    for index, (group, event) in enumerate(pending):
        try:
            await _send(layer, group, event)
            sent += 1
        except Exception:  # noqa: BLE001
            _layer_failed_at = time.monotonic()
            _retry_outbox.extendleft(reversed(pending[index:]))
            break
    return sent


async def _send(layer: Any, group: str, event: dict[str, Any]) -> None:
    await lag.wait_on_time(
        layer.group_send(group, event),
        settings.LAYER_SEND_TIMEOUT_SECONDS,
        cap=settings.LAYER_SEND_MAX_SECONDS,
    )


def has_failed_events() -> bool:
    """Whether some events wait in the outbox for a retry."""
    return bool(_retry_outbox)


def layer_recently_failed(window_seconds: float = 10.0) -> bool:
    return time.monotonic() - _layer_failed_at < window_seconds

"""Escalation work each server process does in the background.

Sends due report deliveries, lapses stale disclosure approvals and
writes audit checkpoints. Safe in several processes at once: deliveries
are taken with a lease, transitions and checkpoints under row locks.
Runs in its own worker thread, so a slow SMTP server or webhook never
holds the database thread the sockets use.
"""

import logging
import time

from asgiref.sync import sync_to_async

from django.conf import settings
from django.db import close_old_connections

logger = logging.getLogger(__name__)

_last = {"deliver": 0.0, "checkpoint": 0.0}


def run_due_work() -> None:
    from escalation.audit import write_checkpoint
    from escalation.disclosure import do_expire_lapsed
    from escalation.reports import deliver_due

    close_old_connections()
    try:
        now = time.monotonic()
        if now - _last["deliver"] >= settings.REPORT_DELIVERY_SECONDS:
            _last["deliver"] = now
            deliver_due()
            do_expire_lapsed()
        if now - _last["checkpoint"] >= settings.AUDIT_CHECKPOINT_SECONDS:
            _last["checkpoint"] = now
            write_checkpoint()
    finally:
        close_old_connections()


async def tick() -> None:
    """Called by the process runtime's loop; never raises."""
    try:
        await sync_to_async(run_due_work, thread_sensitive=False)()
    except Exception:  # noqa: BLE001 - the database may be down; next tick
        logger.exception("escalation background work failed")

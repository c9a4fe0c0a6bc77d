"""What chat announces, inside the write that does it, to the apps above.

A receiver runs synchronously in the sender's transaction (a Django signal
is a plain call), so what it writes commits or rolls back with the
conversation, and an exception in it fails the write, as a direct call
did. chat imports no app above it; they listen here instead.
"""

from datetime import datetime
from typing import Any
from uuid import UUID

from django.dispatch import Signal

# A conversation arrived in a service: at its start, by a transfer or by a
# handover (stats counts it once in each service it passed through).
conversation_arrived = Signal()


def announce_arrival(
    conversation_id: UUID,
    *,
    service_id: int,
    kind: str,
    started_at: datetime,
    from_service_id: int | None = None,
    at: datetime | None = None,
) -> None:
    """Send ``conversation_arrived``; ``kind`` is start, transfer or handover."""
    arrival: dict[str, Any] = {
        "conversation_id": conversation_id,
        "service_id": service_id,
        "kind": kind,
        "started_at": started_at,
        "from_service_id": from_service_id,
        "at": at,
    }
    conversation_arrived.send(sender=announce_arrival, **arrival)

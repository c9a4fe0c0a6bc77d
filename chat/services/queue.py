"""The waiting queue: order, positions and estimated waits."""

import statistics
from datetime import timedelta
from uuid import UUID

from django.conf import settings
from django.utils import timezone

from chat import events
from chat.models import ClaimRecord, Conversation, Service

RECENT_WAITS_WINDOW = timedelta(hours=24)
RECENT_WAITS_COUNT = 50


def waiting_conversations(service_id: int):  # a QuerySet
    """Return the service's waiting conversations in claim order."""
    return Conversation.objects.filter(
        service_id=service_id, status=Conversation.Status.WAITING
    ).order_by("-urgent", "queue_key", "id")


def get_queue_position(conversation: Conversation) -> int:
    """Return the 1-based position of a waiting conversation."""
    ahead = Conversation.objects.filter(
        service_id=conversation.service_id, status=Conversation.Status.WAITING
    )
    if conversation.urgent:
        ahead = ahead.filter(urgent=True, queue_key__lt=conversation.queue_key)
    else:
        ahead = ahead.filter(urgent=True) | ahead.filter(
            queue_key__lt=conversation.queue_key
        )
    return ahead.count() + 1


def get_seconds_per_place(service_id: int) -> float:
    """Return the median wait per queue place from recent real waits.

    Each finished wait is divided by the position the visitor started at,
    so a long wait from far back in the queue does not inflate the
    estimate for someone at the head. Without recent data, a default.
    """
    since = timezone.now() - RECENT_WAITS_WINDOW
    rows = list(
        ClaimRecord.objects.filter(service_id=service_id, claimed_at__gte=since)
        .order_by("-claimed_at")
        .values_list("waited_seconds", "position_at_start")[:RECENT_WAITS_COUNT]
    )
    if not rows:
        return float(settings.QUEUE_DEFAULT_WAIT_SECONDS)
    return statistics.median(waited / max(position, 1) for waited, position in rows)


def estimate_wait_seconds(service_id: int, position: int) -> int:
    return round(get_seconds_per_place(service_id) * position)


def get_queue_status(conversation: Conversation) -> tuple[int, int]:
    """Return (position, estimated wait in seconds) of a conversation.

    (0, 0) once it is no longer waiting.
    """
    conversation.refresh_from_db(fields=["status", "urgent", "queue_key"])
    if conversation.status != Conversation.Status.WAITING:
        return 0, 0
    position = get_queue_position(conversation)
    return position, estimate_wait_seconds(conversation.service_id, position)


def do_notify_queue_changed(service: Service | int) -> None:
    """Announce that the service's queue changed, once, on commit.

    One event to the service's queue group, whatever the number of waiting
    visitors and open consoles: each process follows the group once and
    sends its own sockets what they show (``console.queue_feed``), the
    consoles their queue and the waiting visitors their place, from one
    read per process. A surge of arrivals, claims or requeues used to send
    every waiting visitor an event per change: O(waiting²).

    Must run inside the transaction that changed the queue.
    """
    service_id = service if isinstance(service, int) else service.id
    events.notify_queue_changed(service_id)


def list_waiting_places(
    service_ids: list[int],
) -> dict[int, tuple[dict[UUID, int], float]]:
    """Each service's waiting conversations by place, and the wait per place.

    ``{service_id: ({conversation_id: position}, seconds_per_place)}``,
    positions 1-based in claim order: one query for the queues and one per
    service for its recent waits.
    """
    places: dict[int, tuple[dict[UUID, int], float]] = {
        service_id: ({}, 0.0) for service_id in service_ids
    }
    rows = (
        Conversation.objects.filter(
            service_id__in=service_ids, status=Conversation.Status.WAITING
        )
        .order_by("service_id", "-urgent", "queue_key", "id")
        .values_list("service_id", "id")
    )
    for service_id, conversation_id in rows:
        order = places[service_id][0]
        order[conversation_id] = len(order) + 1
    return {
        service_id: (order, get_seconds_per_place(service_id) if order else 0.0)
        for service_id, (order, _none) in places.items()
    }


def do_record_claim(conversation: Conversation) -> None:
    """Keep how long this conversation waited, for future estimates."""
    now = timezone.now()
    ClaimRecord.objects.create(
        service_id=conversation.service_id,
        waited_seconds=(now - conversation.created_at).total_seconds(),
        position_at_start=conversation.position_at_start,
        claimed_at=now,
    )

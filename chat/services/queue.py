"""The waiting queue: order, positions and estimated waits."""

import statistics
from datetime import timedelta

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


def do_notify_queue_changed(
    service: Service | int, *, behind: Conversation | None = None
) -> None:
    """Tell every waiting visitor of the service its position, and staff.

    ``behind``: a conversation that just arrived; only it and the visitors
    queued after it (an urgent arrival goes ahead) can have moved, and the
    estimate per place is unchanged, so only they are told. A visitor
    arriving at the end of the queue then costs one event, not one per
    waiting visitor: a surge of arrivals would otherwise send O(waiting²)
    events.

    Must run inside the transaction that changed the queue: the events go
    out on commit.
    """
    service_id = service if isinstance(service, int) else service.id
    per_place = get_seconds_per_place(service_id)
    rows = waiting_conversations(service_id).values_list("id", "urgent", "queue_key")
    after = None
    if behind is not None:
        after = (not behind.urgent, behind.queue_key, str(behind.id))
    for position, (conversation_id, urgent, queue_key) in enumerate(rows, start=1):
        if after is not None and (not urgent, queue_key, str(conversation_id)) < after:
            continue
        events.notify_queue_position(
            conversation_id, position, round(per_place * position)
        )
    events.notify_queue_changed(service_id)


def do_record_claim(conversation: Conversation) -> None:
    """Keep how long this conversation waited, for future estimates."""
    now = timezone.now()
    ClaimRecord.objects.create(
        service_id=conversation.service_id,
        waited_seconds=(now - conversation.created_at).total_seconds(),
        position_at_start=conversation.position_at_start,
        claimed_at=now,
    )

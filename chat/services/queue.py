"""The waiting queue: order, positions and estimated waits."""

import statistics
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.db.models import F, Func, IntegerField, OuterRef, Q, Subquery
from django.utils import timezone

from chat import events
from chat.models import ClaimRecord, Conversation, Service

RECENT_WAITS_WINDOW = timedelta(hours=24)
RECENT_WAITS_COUNT = 50
# The latest waits of a service; a table name and placeholders only.
RECENT_WAITS_SQL = (
    "SELECT waited_seconds, position_at_start"  # noqa: S608 - a table name only.
    f" FROM {ClaimRecord._meta.db_table}"
    " WHERE service_id = %s AND claimed_at >= %s"
    " ORDER BY claimed_at DESC LIMIT %s"
)


def waiting_conversations(service_id: int):  # a QuerySet
    """Return the service's waiting conversations in claim order."""
    return Conversation.objects.filter(
        service_id=service_id, status=Conversation.Status.WAITING
    ).order_by("-urgent", "queue_key", "id")


def read_queue_place(conversation: Conversation) -> int:
    """Refresh the queue fields of ``conversation``; return its place.

    The 1-based place while it waits, else 0. One statement: the row and
    the count of those ahead of it (urgent first, then by ``queue_key``).
    """
    ahead = Conversation.objects.filter(
        service_id=OuterRef("service_id"), status=Conversation.Status.WAITING
    ).filter(
        # Urgent ahead of a non-urgent one, else earlier in the same class.
        Q(urgent__gt=OuterRef("urgent"))
        | Q(urgent=OuterRef("urgent"), queue_key__lt=OuterRef("queue_key"))
    )
    count = ahead.order_by().annotate(n=Func(F("pk"), function="COUNT")).values("n")
    status, urgent, queue_key, before = (
        Conversation.objects.filter(id=conversation.id)
        .annotate(ahead=Subquery(count, output_field=IntegerField()))
        .values_list("status", "urgent", "queue_key", "ahead")
        .get()
    )
    conversation.status = status
    conversation.urgent = urgent
    conversation.queue_key = queue_key
    return before + 1 if status == Conversation.Status.WAITING else 0


def get_seconds_per_place(service_id: int) -> float:
    """Return the median wait per queue place from recent real waits.

    Each finished wait is divided by the position the visitor started at,
    so a long wait from far back in the queue does not inflate the
    estimate for someone at the head. Without recent data, a default.
    """
    since = timezone.now() - RECENT_WAITS_WINDOW
    # Every start, attach and claim reads it: written out, as the ORM took
    # longer to build the statement than the database to answer it
    # (docs/decisions.md, "Hot reads of a fixed shape").
    with connection.cursor() as cursor:
        cursor.execute(
            RECENT_WAITS_SQL,
            [
                service_id,
                connection.ops.adapt_datetimefield_value(since),
                RECENT_WAITS_COUNT,
            ],
        )
        rows = cursor.fetchall()
    if not rows:
        return float(settings.QUEUE_DEFAULT_WAIT_SECONDS)
    return statistics.median(waited / max(position, 1) for waited, position in rows)


def estimate_wait_seconds(service_id: int, position: int) -> int:
    return round(get_seconds_per_place(service_id) * position)


def get_queue_status(
    conversation: Conversation, *, place: int | None = None
) -> tuple[int, int]:
    """Return (position, estimated wait in seconds) of a conversation.

    (0, 0) once it is no longer waiting. ``place``: what
    ``read_queue_place`` just returned, if the caller read it.
    """
    if place is None:
        place = read_queue_place(conversation)
    if not place:
        return 0, 0
    return place, estimate_wait_seconds(conversation.service_id, place)


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

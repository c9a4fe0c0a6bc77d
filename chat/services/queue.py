"""The waiting queue: order, positions and estimated waits."""

import functools
import operator
import statistics
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import connection
from django.db.models import F, Func, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from chat import events
from chat.models import ClaimRecord, Conversation, Service
from realtime.prepared import Prepared

RECENT_WAITS_WINDOW = timedelta(hours=24)
RECENT_WAITS_COUNT = 50
# The latest waits of a service; a table name and placeholders only.
RECENT_WAITS_SQL = (
    "SELECT waited_seconds, position_at_start"  # noqa: S608 - a table name only.
    f" FROM {ClaimRecord._meta.db_table}"
    " WHERE service_id = %s AND claimed_at >= %s"
    " ORDER BY claimed_at DESC LIMIT %s"
)


# The queue order, and its only definition: urgent first, then by
# ``queue_key``, then by id, as two conversations may share a key (a
# requeue takes the microsecond before the head). Every reader follows it:
# the place told at attach, the places the queue feed tells, the consoles'
# queue, the claims.
QUEUE_ORDER = ("-urgent", "queue_key", "id")


def waiting_conversations(service_id: int):  # a QuerySet
    """Return the service's waiting conversations in claim order."""
    return Conversation.objects.filter(
        service_id=service_id, status=Conversation.Status.WAITING
    ).order_by(*QUEUE_ORDER)


def queue_sort_key(conversation: Conversation) -> tuple[bool, datetime, UUID]:
    """``QUEUE_ORDER`` in Python, to merge lists read in that order.

    A UUID compares as its 128-bit number: as the databases order the ids.
    """
    return (not conversation.urgent, conversation.queue_key, conversation.id)


def _ahead_in_queue(of: Callable[[str], Any]) -> Q:
    """Conversations before ``of``'s in ``QUEUE_ORDER``, as a filter.

    ``of(field)`` is the other row's field (an ``OuterRef``). Before it on
    the first field that differs: ``a < x or (a = x and b < y) or ...``.
    """
    ahead = []
    same = Q()
    for term in QUEUE_ORDER:
        field = term.removeprefix("-")
        lookup = "gt" if term.startswith("-") else "lt"
        ahead.append(same & Q(**{f"{field}__{lookup}": of(field)}))
        same &= Q(**{field: of(field)})
    return functools.reduce(operator.or_, ahead)


def read_queue_place(conversation: Conversation) -> int:
    """Refresh the queue fields of ``conversation``; return its place.

    The 1-based place while it waits, else 0. One statement: the row and
    the count of those ahead of it in ``QUEUE_ORDER``.
    """
    row = _QUEUE_PLACE.first(key=conversation.id)
    if row is None:
        raise Conversation.DoesNotExist
    status, urgent, queue_key, before = row
    conversation.status = status
    conversation.urgent = urgent
    conversation.queue_key = queue_key
    return before + 1 if status == Conversation.Status.WAITING else 0


def _queue_place(key: UUID) -> QuerySet[Conversation]:
    ahead = Conversation.objects.filter(
        _ahead_in_queue(OuterRef),
        service_id=OuterRef("service_id"),
        status=Conversation.Status.WAITING,
    )
    count = ahead.order_by().annotate(n=Func(F("pk"), function="COUNT")).values("n")
    return (
        Conversation.objects.filter(id=key)
        .annotate(ahead=Subquery(count, output_field=IntegerField()))
        .values_list("status", "urgent", "queue_key", "ahead")
    )


# Every attach reads it: built once per connection (realtime.prepared).
_QUEUE_PLACE = Prepared(_queue_place, key=Conversation._meta.pk)


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


def do_notify_queue_changed(service: Service | int, *, by: UUID | None = None) -> None:
    """Announce that the service's queue changed, once, on commit.

    One event to the service's queue group, whatever the number of waiting
    visitors and open consoles: each process follows the group once and
    sends its own sockets what they show (``console.queue_feed``), the
    consoles their queue and the waiting visitors their place, from one
    read per process. A surge of arrivals, claims or requeues used to send
    every waiting visitor an event per change: O(waiting²).

    ``by``: the conversation that just entered the queue (a start, a
    reopening). Its own socket reads its place after the commit, so this
    change cannot move that place: the feed does not read it again.

    Must run inside the transaction that changed the queue.
    """
    service_id = service if isinstance(service, int) else service.id
    events.notify_queue_changed(service_id, by)


def list_waiting_places(
    service_ids: list[int],
) -> dict[int, tuple[dict[UUID, int], float]]:
    """Each service's waiting conversations by place, and the wait per place.

    ``{service_id: ({conversation_id: position}, seconds_per_place)}``,
    positions 1-based in ``QUEUE_ORDER``: one query for the queues and one per
    service for its recent waits.
    """
    places: dict[int, tuple[dict[UUID, int], float]] = {
        service_id: ({}, 0.0) for service_id in service_ids
    }
    rows = (
        Conversation.objects.filter(
            service_id__in=service_ids, status=Conversation.Status.WAITING
        )
        .order_by("service_id", *QUEUE_ORDER)
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

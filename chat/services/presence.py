"""Presence of sockets, and the grace periods decided from it.

Every open socket has a ``Connection`` row that its server process
refreshes. The sweep, which any process may run at any time (and several
may run at once), reads those rows and moves conversations through their
grace periods with conditional UPDATEs, so each transition happens once
and no timer in one process's memory decides anything.
"""

from datetime import timedelta
from uuid import UUID

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from chat import events
from chat.models import Connection, Conversation, Message
from chat.services.conversations import do_release_conversation
from chat.services.queue import do_notify_queue_changed

# The presence row's columns, in the upsert's order: the unique channel
# name first; a refresh keeps the row's ``connected_at``.
_UPSERT_FIELDS = [
    Connection._meta.get_field(name)
    for name in (
        "channel_name",
        "server_id",
        "conversation",
        "user",
        "connected_at",
        "heartbeat_at",
    )
]


def _upsert_connection_sql() -> str:
    columns = [field.column for field in _UPSERT_FIELDS]
    kept = ", ".join(
        f"{column} = excluded.{column}"
        for column in columns
        if column not in (columns[0], "connected_at")
    )
    return (
        f"INSERT INTO {Connection._meta.db_table} ({', '.join(columns)})"  # noqa: S608 - names only.
        f" VALUES ({', '.join(['%s'] * len(columns))})"
        f" ON CONFLICT ({columns[0]}) DO UPDATE SET {kept}"
    )


UPSERT_CONNECTION_SQL = _upsert_connection_sql()


def do_register_connection(
    channel_name: str,
    *,
    server_id: str,
    conversation_id: UUID | None = None,
    user_id: int | None = None,
) -> None:
    """Record the socket's presence row, or refresh it; one statement.

    An upsert on the channel name (INSERT ... ON CONFLICT DO UPDATE, on
    SQLite and PostgreSQL alike) rather than a read, then a write. Written
    out: ``bulk_create`` wraps even one row in a transaction of its own,
    two more round trips on PostgreSQL for every socket that attaches
    (docs/decisions.md, "Hot reads of a fixed shape").
    """
    now = timezone.now()
    values = (channel_name, server_id, conversation_id, user_id, now, now)
    params = [
        field.get_db_prep_value(value, connection)
        for field, value in zip(_UPSERT_FIELDS, values, strict=True)
    ]
    with connection.cursor() as cursor:
        cursor.execute(UPSERT_CONNECTION_SQL, params)


def do_drop_connection(channel_name: str) -> None:
    Connection.objects.filter(channel_name=channel_name).delete()


def do_refresh_heartbeats(server_id: str) -> int:
    """Mark every socket of this server process alive; one UPDATE."""
    return Connection.objects.filter(server_id=server_id).update(
        heartbeat_at=timezone.now()
    )


def _fresh_connections():  # a QuerySet
    stale_before = timezone.now() - timedelta(seconds=settings.PRESENCE_STALE_SECONDS)
    return Connection.objects.filter(heartbeat_at__gte=stale_before)


def do_sweep_presence() -> dict[str, int]:
    """Start, end or cancel grace periods; return counts of each change.

    Safe to run concurrently in several processes: every transition is a
    conditional UPDATE, and only the process whose UPDATE matched sends
    the events.
    """
    now = timezone.now()
    counts = dict.fromkeys(
        (
            "operator_grace_started",
            "operator_back",
            "requeued",
            "visitor_grace_started",
            "visitor_back",
            "abandoned",
        ),
        0,
    )
    fresh = _fresh_connections()
    # Stale rows belong to dead processes: drop them so they stop counting.
    Connection.objects.filter(
        heartbeat_at__lt=now - timedelta(seconds=settings.PRESENCE_STALE_SECONDS * 3)
    ).delete()

    operator_online = Exists(fresh.filter(user_id=OuterRef("operator_id")))
    active = Conversation.objects.filter(status=Conversation.Status.ACTIVE)
    operator_grace = timedelta(seconds=settings.OPERATOR_GRACE_SECONDS)

    for conversation in (
        active.filter(operator_grace_until__isnull=True)
        .exclude(operator_online)
        .select_related("operator__staff")
    ):
        with transaction.atomic():
            updated = Conversation.objects.filter(
                id=conversation.id,
                status=Conversation.Status.ACTIVE,
                operator_id=conversation.operator_id,
                operator_grace_until__isnull=True,
            ).update(operator_grace_until=now + operator_grace)
            if updated:
                counts["operator_grace_started"] += 1
                events.notify_participant_changed(
                    conversation.id,
                    change="reconnecting",
                    role=Message.Sender.OPERATOR,
                    name=_pseudonym(conversation),
                    grace_s=round(settings.OPERATOR_GRACE_SECONDS),
                )

    for conversation in (
        active.filter(operator_grace_until__isnull=False)
        .filter(operator_online)
        .select_related("operator__staff")
    ):
        with transaction.atomic():
            updated = Conversation.objects.filter(
                id=conversation.id,
                status=Conversation.Status.ACTIVE,
                operator_grace_until__isnull=False,
            ).update(operator_grace_until=None)
            if updated:
                counts["operator_back"] += 1
                events.notify_participant_changed(
                    conversation.id,
                    change="joined",
                    role=Message.Sender.OPERATOR,
                    name=_pseudonym(conversation),
                )

    # A process restart or a shift change requeues many at once: each
    # release is its own transaction, and the waiting visitors hear their
    # new places once per service at the end, not once per release
    # (O(waiting) events instead of O(requeued × waiting)).
    requeued_services: set[int] = set()
    for conversation in active.filter(operator_grace_until__lt=now).select_related(
        "operator__staff"
    ):
        if do_release_conversation(
            conversation,
            reason="operator_timeout",
            name=_pseudonym(conversation),
            notify_queue=False,
        ):
            counts["requeued"] += 1
            requeued_services.add(conversation.service_id)
    for service_id in sorted(requeued_services):
        with transaction.atomic():
            do_notify_queue_changed(service_id)

    visitor_online = Exists(fresh.filter(conversation_id=OuterRef("id")))
    waiting = Conversation.objects.filter(status=Conversation.Status.WAITING)
    visitor_grace = timedelta(seconds=settings.VISITOR_GRACE_SECONDS)
    counts["visitor_grace_started"] = (
        waiting.filter(visitor_grace_until__isnull=True)
        .exclude(visitor_online)
        .update(visitor_grace_until=now + visitor_grace)
    )
    counts["visitor_back"] = (
        waiting.filter(visitor_grace_until__isnull=False)
        .filter(visitor_online)
        .update(visitor_grace_until=None)
    )
    for conversation in waiting.filter(visitor_grace_until__lt=now).exclude(
        visitor_online
    ):
        with transaction.atomic():
            updated = Conversation.objects.filter(
                id=conversation.id,
                status=Conversation.Status.WAITING,
                visitor_grace_until__lt=now,
            ).update(
                status=Conversation.Status.CLOSED,
                closed_at=now,
                outcome=Conversation.Outcome.ABANDONED,
                visitor_grace_until=None,
            )
            if updated:
                counts["abandoned"] += 1
                events.notify_conversation_closed(conversation.id, "abandoned")
                do_notify_queue_changed(conversation.service_id)
    return counts


def _pseudonym(conversation: Conversation) -> str:
    operator = conversation.operator
    profile = getattr(operator, "staff", None) if operator else None
    return profile.pseudonym if profile else ""


def do_signal_visitor_presence(
    conversation_id: UUID, *, connected: bool, status: str | None = None
) -> None:
    """Tell the staff of an open conversation that the visitor came or went.

    A socket closing while another of the visitor's tabs stays connected
    changes nothing; a closed conversation has no presence to show.
    ``status``: the conversation's, if the caller has just read it.
    """
    if status is None:
        is_open = (
            Conversation.objects.filter(id=conversation_id)
            .exclude(status=Conversation.Status.CLOSED)
            .exists()
        )
    else:
        is_open = status != Conversation.Status.CLOSED
    if not is_open:
        return
    if (
        not connected
        and _fresh_connections().filter(conversation_id=conversation_id).exists()
    ):
        return
    events.notify_visitor_presence(
        conversation_id, "here" if connected else "reconnecting"
    )

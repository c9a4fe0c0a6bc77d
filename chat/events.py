"""Conversation events: group names and builders (``realtime.events`` sends).

Events are notifications ("conversation X has seq N"); a message's event
also carries its rendered frame, which a receiver that expects exactly that
seq delivers as it is. Any receiver that sees a gap reads the messages from
the database, so a lost event costs a re-read, never a message
(docs/security.md §B8). Group names are opaque and built from random
ids; no name, pseudonym or address ever goes into one.
"""

from typing import Any
from uuid import UUID

from django.conf import settings

from realtime.events import Event, send_event_on_commit, send_event_rollback_unsafe


def conversation_group_name(conversation_id: UUID | str) -> str:
    """The visitor's socket and the conversation's staff: what both show.

    Events only the visitor handles go to ``visitor_group_name`` instead,
    so staff sockets need no handler that drops them.
    """
    return f"conv.{UUID(str(conversation_id)).hex}"


def conversation_staff_group_name(conversation_id: UUID | str) -> str:
    """Staff of one conversation only: the visitor's socket never joins it.

    Notes, whispers, silent joins and invitation summaries go here, never to
    ``conversation_group_name``.
    """
    return f"convstaff.{UUID(str(conversation_id)).hex}"


def service_staff_group_name(service_id: int) -> str:
    """Every console socket of the service: invitations, canned answers."""
    return f"svc.{service_id}.staff"


def service_queue_group_name(service_id: int) -> str:
    """The processes that show the service's queue, not their sockets.

    Each process joins once per service (``console.queue_feed``) and fans
    the change out to its sockets, so a change costs one layer delivery
    per process whatever the number of open consoles.
    """
    return f"svc.{service_id}.queue"


def user_group_name(user_id: int) -> str:
    return f"user.{user_id}"


def message_stored_event(
    conversation_id: UUID,
    seq: int,
    *,
    frame: dict[str, Any] | None = None,
    client_id: UUID | None = None,
) -> Event:
    """The event of message ``seq``, carrying its visitor-side ``frame``.

    A receiver whose next expected seq this is sends the frame as it is
    (staff add the conversation and client id), with no database read;
    any other receiver reads what it misses from the database. The frame
    holds the message text: the Redis layer seals every payload
    (``realtime.layer_cipher``), the in-memory one never leaves the
    process.
    """
    event: dict[str, Any] = {
        "type": "chat.message",
        "conversation": str(conversation_id),
        "seq": seq,
    }
    if frame is not None:
        event["frame"] = frame
        event["client_id"] = str(client_id) if client_id else None
    return conversation_group_name(conversation_id), event


def notify_conversation_closed(conversation_id: UUID, reason: str) -> None:
    send_event_on_commit(
        conversation_group_name(conversation_id),
        {"type": "chat.closed", "conversation": str(conversation_id), "reason": reason},
    )


def notify_participant_changed(
    conversation_id: UUID, *, change: str, role: str, name: str, **extra: Any
) -> None:
    send_event_on_commit(
        conversation_group_name(conversation_id),
        {
            "type": "chat.participant",
            "conversation": str(conversation_id),
            "change": change,
            "role": role,
            "name": name,
            **extra,
        },
    )


def notify_status_changed(conversation_id: UUID, status: str) -> None:
    """Tell the visitor's socket the conversation waits again or is taken.

    Staff follow the same change through ``console.*`` events and their
    own views, so this goes to the visitor's group only.
    """
    send_event_on_commit(
        visitor_group_name(conversation_id),
        {
            "type": "chat.status",
            "conversation": str(conversation_id),
            "status": status,
        },
    )


def notify_typing(
    conversation_id: UUID, *, sender: str, active: bool, origin: str
) -> None:
    send_event_rollback_unsafe(
        conversation_group_name(conversation_id),
        {
            "type": "chat.typing",
            "conversation": str(conversation_id),
            "from": sender,
            "active": active,
            "origin": origin,
        },
    )


def notify_queue_changed(service_id: int, by: UUID | None = None) -> None:
    """``by``: the conversation whose arrival this is, if it is one."""
    event: dict[str, Any] = {"type": "console.queue_changed", "service": service_id}
    if by is not None:
        event["by"] = str(by)
    send_event_on_commit(service_queue_group_name(service_id), event)


def notify_assigned(user_id: int, conversation_id: UUID) -> None:
    send_event_on_commit(
        user_group_name(user_id),
        {"type": "console.assigned", "conversation": str(conversation_id)},
    )


def notify_unassigned(user_id: int, conversation_id: UUID, reason: str) -> None:
    send_event_on_commit(
        user_group_name(user_id),
        {
            "type": "console.unassigned",
            "conversation": str(conversation_id),
            "reason": reason,
        },
    )


# -- staff console (issue 4) ----------------------------------------------


def notify_staff_participant_changed(
    conversation_id: UUID,
    *,
    change: str,
    role: str,
    name: str,
    silent: bool,
    user_id: int | None = None,
    **extra: Any,
) -> None:
    """Tell the conversation's staff (only) that a staff member came or went."""
    send_event_on_commit(
        conversation_staff_group_name(conversation_id),
        {
            "type": "console.participant",
            "conversation": str(conversation_id),
            "change": change,
            "role": role,
            "name": name,
            "silent": silent,
            "user": user_id,
            **extra,
        },
    )


def notify_invitation_to_visitor(
    conversation_id: UUID, *, invitation_id: UUID, status: str, role: str, text: str
) -> None:
    """Ask the visitor (or stop asking) whether someone may join.

    Visitor-only: staff follow the invitation on ``console.invitation``.
    """
    send_event_on_commit(
        visitor_group_name(conversation_id),
        {
            "type": "chat.invitation",
            "conversation": str(conversation_id),
            "invitation": str(invitation_id),
            "status": status,
            "role": role,
            "text": text,
        },
    )


def notify_invitation_changed(
    conversation_id: UUID, invitation_id: UUID, *, service_id: int
) -> None:
    """Tell the conversation's staff and the invited service's staff.

    The event carries ids only; each socket loads the invitation and shows
    it only if its user may see it (the summary is staff-only).
    """
    event = {
        "type": "console.invitation",
        "conversation": str(conversation_id),
        "invitation": str(invitation_id),
    }
    send_event_on_commit(conversation_staff_group_name(conversation_id), event)
    send_event_on_commit(service_staff_group_name(service_id), event)


def notify_note_added(conversation_id: UUID, note_id: int) -> None:
    send_event_on_commit(
        conversation_staff_group_name(conversation_id),
        {"type": "console.note", "conversation": str(conversation_id), "note": note_id},
    )


def notify_whisper_added(conversation_id: UUID, whisper_id: int) -> None:
    send_event_on_commit(
        conversation_staff_group_name(conversation_id),
        {
            "type": "console.whisper",
            "conversation": str(conversation_id),
            "whisper": whisper_id,
        },
    )


def notify_canned_changed(service_id: int) -> None:
    send_event_on_commit(
        service_staff_group_name(service_id),
        {"type": "console.canned_changed", "service": service_id},
    )


def notify_session_check(user_id: int) -> None:
    """Make every console socket of the user re-check its session now."""
    send_event_on_commit(user_group_name(user_id), {"type": "console.session_check"})


def visitor_group_name(conversation_id: UUID | str) -> str:
    """The visitor's sockets of one conversation only; staff never join it.

    Queue position, status, invitation and consent questions, takeover
    and abuse go here (docs/architecture.md).
    """
    return f"visitor.{UUID(str(conversation_id)).hex}"


def notify_marked_abusive(conversation_id: UUID) -> None:
    """Tell the visitor's socket to block its client key (issue 11).

    The key is in that socket's memory only; the event carries none.
    """
    send_event_on_commit(
        visitor_group_name(conversation_id),
        {"type": "chat.abusive", "conversation": str(conversation_id)},
    )


def notify_visitor_presence(conversation_id: UUID, presence: str) -> None:
    """Tell the conversation's staff whether the visitor's page is connected.

    Ephemeral, like typing: ``here`` or ``reconnecting``; the close of the
    conversation says ``gone``.
    """
    send_event_rollback_unsafe(
        conversation_staff_group_name(conversation_id),
        {
            "type": "console.visitor_presence",
            "conversation": str(conversation_id),
            "presence": presence,
            "grace_s": round(settings.VISITOR_GRACE_SECONDS),
        },
    )

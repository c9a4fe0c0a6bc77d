"""Retention of chat's rows: transcripts and presence (§B6).

Called by the daily purge (``retention.purge``), inside its transaction.
The conversation row itself stays, without its token: the statistics
count it.
"""

import secrets
from datetime import datetime, timedelta
from uuid import UUID

from django.conf import settings
from django.db.models import Q

from chat.models import Connection, Conversation, Message, Note

PURGED_TOKEN_PREFIX = "purged:"  # noqa: S105 - a marker, not a secret


def list_expired_conversation_ids(now: datetime) -> list[UUID]:
    """Closed conversations past their period (longer when they led to a report)."""
    report_cutoff = now - timedelta(days=settings.RETENTION_TRANSCRIPT_DAYS)
    other_cutoff = now - timedelta(days=settings.RETENTION_TRANSCRIPT_NO_REPORT_DAYS)
    expired = (
        Conversation.objects.filter(status=Conversation.Status.CLOSED)
        .filter(
            Q(outcome=Conversation.Outcome.REPORT, closed_at__lt=report_cutoff)
            | (~Q(outcome=Conversation.Outcome.REPORT) & Q(closed_at__lt=other_cutoff))
        )
        .exclude(token_hash__startswith=PURGED_TOKEN_PREFIX)
    )
    return list(expired.values_list("id", flat=True))


def do_delete_transcripts(conversation_ids: list[UUID]) -> tuple[int, int]:
    """Delete the messages and notes; return how many of each went."""
    messages = Message.objects.filter(conversation_id__in=conversation_ids).delete()
    notes = Note.objects.filter(conversation_id__in=conversation_ids).delete()
    return messages[0], notes[0]


def do_forget_tokens(conversation_ids: list[UUID]) -> None:
    """Replace each token hash by a random marker: the visitor's key is gone."""
    for conversation_id in conversation_ids:
        Conversation.objects.filter(id=conversation_id).update(
            token_hash=PURGED_TOKEN_PREFIX + secrets.token_hex(24)
        )


def do_purge_presence(now: datetime) -> int:
    """Delete presence rows of long-gone sockets."""
    cutoff = now - timedelta(hours=settings.RETENTION_PRESENCE_HOURS)
    return Connection.objects.filter(heartbeat_at__lt=cutoff).delete()[0]

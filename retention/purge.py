"""Retention: delete or crypto-shred what has outlived its period (§B6).

Run daily (``manage.py purge``, see README "Retention"). What goes:
- sealed connection records past ``expires_at`` (connection data: one
  year at most);
- a closed conversation's messages, notes and data key once its period
  ends (longer when it led to a report); deleting the data key makes any
  backup copy of those messages unreadable too;
- sealing keys of months whose records have all expired are marked
  destroyed, and with ``custodian_dir`` their private key files deleted;
- presence rows of long-gone sockets.

What stays: each conversation's row without its token, i.e. service,
role, department, timestamps, outcome and categories, and the statistics
facts written beside them (message counts, first staff reply, service
passages, shared cards), which the statistics count: a period's figures
are the same before and after its purge (tests/stats). Each run records
how many rows of each class went, never what they held.
"""

import secrets
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from anonymity.crypto import forget_data_keys
from anonymity.models import ConversationKey, PurgeRecord, SealedConnection, SealingKey
from attachments.services import do_delete_attachments
from chat.models import Connection, Conversation, Message, Note
from receipts.models import Receipt
from stats.models import FeedbackGuard

PURGED_TOKEN_PREFIX = "purged:"  # noqa: S105 - a marker, not a secret


def _month_end(key_id: str) -> datetime:
    year, month = (int(part) for part in key_id.split("-"))
    year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return datetime(year, month, 1, tzinfo=timezone.get_current_timezone())


@transaction.atomic
def do_purge_expired(
    *, now: datetime | None = None, custodian_dir: Path | None = None
) -> PurgeRecord:
    now = now or timezone.now()
    counts: dict[str, int] = {}
    counts["sealed_connections"], _ = SealedConnection.objects.filter(
        expires_at__lt=now
    ).delete()

    destroyed = []
    retention = timedelta(days=settings.RETENTION_SEALED_CONNECTION_DAYS)
    for key in SealingKey.objects.filter(destroyed_at__isnull=True):
        if _month_end(key.key_id) + retention < now:
            key.destroyed_at = now
            key.save(update_fields=["destroyed_at"])
            destroyed.append(key.key_id)
            if custodian_dir is not None:
                (custodian_dir / f"sealing-{key.key_id}.key.pem").unlink(
                    missing_ok=True
                )

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
    ids = list(expired.values_list("id", flat=True))
    counts["conversations"] = len(ids)
    counts["messages"] = counts["notes"] = counts["data_keys"] = 0
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        counts["data_keys"] += ConversationKey.objects.filter(
            conversation_id__in=chunk
        ).delete()[0]
        counts["messages"] += Message.objects.filter(
            conversation_id__in=chunk
        ).delete()[0]
        counts["notes"] += Note.objects.filter(conversation_id__in=chunk).delete()[0]
        # Issue 16: the receipt code stops working with the transcript.
        Receipt.objects.filter(conversation_id__in=chunk).delete()
        counts["attachments"] = counts.get("attachments", 0) + (
            do_delete_attachments(chunk)
        )
        for conversation_id in chunk:
            Conversation.objects.filter(id=conversation_id).update(
                token_hash=PURGED_TOKEN_PREFIX + secrets.token_hex(24)
            )
    # A feedback guard only stops a second answer while the first can be
    # given (stats.services.FEEDBACK_WINDOW); after a day it is noise.
    counts["feedback_guards"], _ = FeedbackGuard.objects.filter(
        created_at__lt=now - timedelta(days=1)
    ).delete()
    presence_cutoff = now - timedelta(hours=settings.RETENTION_PRESENCE_HOURS)
    counts["presence"], _ = Connection.objects.filter(
        heartbeat_at__lt=presence_cutoff
    ).delete()
    transaction.on_commit(forget_data_keys)
    return PurgeRecord.objects.create(counts=counts, destroyed_key_ids=destroyed)

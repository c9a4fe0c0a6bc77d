"""Retention of anonymity's own rows: sealed connections and keys (§B6).

Called by the daily purge (``retention.purge``), inside its transaction.
"""

from datetime import datetime, timedelta
from pathlib import Path
from uuid import UUID

from django.conf import settings
from django.utils import timezone

from anonymity.models import ConversationKey, SealedConnection, SealingKey


def _month_end(key_id: str) -> datetime:
    year, month = (int(part) for part in key_id.split("-"))
    year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return datetime(year, month, 1, tzinfo=timezone.get_current_timezone())


def do_purge_sealed(
    now: datetime, custodian_dir: Path | None = None
) -> tuple[int, list[str]]:
    """Delete expired sealed connections and retire the keys they needed.

    Returns how many records went and the ids of the sealing keys marked
    destroyed (with ``custodian_dir``, their private key files deleted).
    """
    deleted, _ = SealedConnection.objects.filter(expires_at__lt=now).delete()
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
    return deleted, destroyed


def do_delete_data_keys(conversation_ids: list[UUID]) -> int:
    """Crypto-shred conversations: without its key, no copy reads again."""
    keys = ConversationKey.objects.filter(conversation_id__in=conversation_ids)
    return keys.delete()[0]

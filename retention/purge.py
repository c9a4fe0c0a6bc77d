"""Retention: delete or crypto-shred what has outlived its period (§B6).

Run daily (``manage.py purge``, see README "Retention"). Each app deletes
its own rows (``anonymity.retention``, ``chat.retention``, and the
``do_delete_*`` / ``do_purge_*`` services of receipts, attachments and
stats); this module, above them all, composes them in one transaction.
What goes:
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

from datetime import datetime
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from anonymity.crypto import forget_data_keys
from anonymity.models import PurgeRecord
from anonymity.retention import do_delete_data_keys, do_purge_sealed
from attachments.services import do_delete_attachments
from chat.retention import (
    do_delete_transcripts,
    do_forget_tokens,
    do_purge_presence,
    list_expired_conversation_ids,
)
from receipts.services import do_delete_receipts
from stats.services import do_purge_feedback_guards


@transaction.atomic
def do_purge_expired(
    *, now: datetime | None = None, custodian_dir: Path | None = None
) -> PurgeRecord:
    now = now or timezone.now()
    counts: dict[str, int] = {}
    counts["sealed_connections"], destroyed = do_purge_sealed(now, custodian_dir)
    ids = list_expired_conversation_ids(now)
    counts["conversations"] = len(ids)
    counts["messages"] = counts["notes"] = counts["data_keys"] = 0
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        counts["data_keys"] += do_delete_data_keys(chunk)
        messages, notes = do_delete_transcripts(chunk)
        counts["messages"] += messages
        counts["notes"] += notes
        do_delete_receipts(chunk)
        counts["attachments"] = counts.get("attachments", 0) + (
            do_delete_attachments(chunk)
        )
        do_forget_tokens(chunk)
    counts["feedback_guards"] = do_purge_feedback_guards(now)
    counts["presence"] = do_purge_presence(now)
    transaction.on_commit(forget_data_keys)
    return PurgeRecord.objects.create(counts=counts, destroyed_key_ids=destroyed)

"""Write paths of the anonymity layer that other apps call."""

import logging
from uuid import UUID

from anonymity.sealing import PendingSeal, SealingUnavailable

logger = logging.getLogger(__name__)


def do_seal_pending_connection(
    pending: PendingSeal | None, conversation_id: UUID
) -> bool:
    """Seal the socket's connection record for ``conversation_id``.

    Without a sealing key for the month the record is not kept, and the
    conversation goes on: turning away a person in danger is worse than
    a missing connection record (docs/decisions.md). The failure is
    logged without any address, loudly, for the operators of the
    platform to install the key.
    """
    if pending is None or not pending.has_address:
        return False
    try:
        pending.seal_for(conversation_id)
    except SealingUnavailable as error:
        logger.critical("connection record not kept: %s", error)
        return False
    return True

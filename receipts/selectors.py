"""What staff see of a conversation's receipt: the follow-up mark."""

from typing import Any

from chat.models import Conversation
from receipts.models import Receipt


def follow_up_fields(conversation: Conversation) -> dict[str, Any]:
    """Return ``{"follow_up": {...}}`` for a conversation the visitor
    came back to with a receipt, else nothing."""
    receipt = (
        Receipt.objects.filter(conversation_id=conversation.id, follow_ups__gt=0)
        .only("follow_ups", "previous_outcome")
        .first()
    )
    if receipt is None:
        return {}
    outcome = receipt.previous_outcome
    label = Conversation.Outcome(outcome).label if outcome else ""
    return {
        "follow_up": {
            "count": receipt.follow_ups,
            "previous_outcome": outcome,
            "previous_outcome_label": str(label),
        }
    }

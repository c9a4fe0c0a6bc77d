"""What staff see of a conversation's receipt: the follow-up mark."""

from typing import Any

from django.db.models import Exists, OuterRef

from chat.models import Conversation
from receipts.models import Receipt


def render_follow_up(receipt: Receipt) -> dict[str, Any]:
    outcome = receipt.previous_outcome
    label = Conversation.Outcome(outcome).label if outcome else ""
    return {
        "count": receipt.follow_ups,
        "previous_outcome": outcome,
        "previous_outcome_label": str(label),
    }


def list_follow_up_marks(conversation_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Return the follow-up mark of each of these conversations that has one,
    by conversation id, in one query (the queue snapshot's many items)."""
    if not conversation_ids:
        return {}
    receipts = Receipt.objects.filter(
        conversation_id__in=conversation_ids, follow_ups__gt=0
    ).only("conversation_id", "follow_ups", "previous_outcome")
    return {
        str(receipt.conversation_id): render_follow_up(receipt) for receipt in receipts
    }


def has_follow_up() -> Exists:
    """Whether the outer conversation has a follow-up mark, as a subquery.

    Read with the conversation as ``has_follow_up``, it spares
    ``follow_up_fields`` its read when there is none.
    """
    return Exists(
        Receipt.objects.filter(conversation_id=OuterRef("id"), follow_ups__gt=0)
    )


def follow_up_fields(conversation: Conversation) -> dict[str, Any]:
    """Return ``{"follow_up": {...}}`` for a conversation the visitor
    came back to with a receipt, else nothing."""
    if not getattr(conversation, "has_follow_up", True):
        return {}
    receipt = (
        Receipt.objects.filter(conversation_id=conversation.id, follow_ups__gt=0)
        .only("follow_ups", "previous_outcome")
        .first()
    )
    if receipt is None:
        return {}
    return {"follow_up": render_follow_up(receipt)}

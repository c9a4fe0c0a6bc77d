"""A visitor's receipt code: the way back to a conversation (issue 16)."""

from django.db import models

from chat.models import Conversation


class Receipt(models.Model):
    """The slow hash of a conversation's receipt code, and its follow-ups.

    The code itself is never stored. ``lookup`` is a short keyed digest
    of the code (docs/decisions.md, "Receipt codes"): it finds the row
    without scanning, and alone does not let anyone rebuild the code.
    Deleted by ``purge`` with the conversation's transcript.
    """

    conversation = models.OneToOneField(
        Conversation, on_delete=models.CASCADE, related_name="receipt"
    )
    lookup = models.CharField(max_length=16, db_index=True)
    code_hash = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)
    # How many times the visitor came back with the code, when last, and
    # the outcome the conversation had been closed with before that.
    follow_ups = models.PositiveIntegerField(default=0)
    followed_up_at = models.DateTimeField(null=True, blank=True)
    previous_outcome = models.CharField(max_length=16, blank=True)

    def __str__(self) -> str:
        return f"receipt:{self.conversation_id}"

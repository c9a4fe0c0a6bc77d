"""Facts the statistics count that the conversation row does not hold.

Everything here survives ``purge``: no message text, no token, nothing
about the visitor. ``Feedback`` is not even linked to a conversation.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _


class ServicePassage(models.Model):
    """A conversation arriving in a service: at start, transfer or handover.

    A conversation counts once in each service it passed through, however
    many times it came back, and once in the platform's total; the
    conversation row itself only knows its last service.
    """

    class Kind(models.TextChoices):
        START = "start", _("début")
        TRANSFER = "transfer", _("transfert")
        HANDOVER = "handover", _("passage de relais")

    conversation = models.ForeignKey(
        "chat.Conversation", on_delete=models.CASCADE, related_name="+"
    )
    service = models.ForeignKey(
        "chat.Service", on_delete=models.CASCADE, related_name="+"
    )
    from_service = models.ForeignKey(
        "chat.Service",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    at = models.DateTimeField()
    # The conversation's start, so "conversations of the period per
    # service" reads this table alone.
    started_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["service", "conversation"], name="passage_svc_idx"),
            models.Index(
                fields=["started_at", "service", "conversation"],
                name="passage_started_idx",
            ),
            models.Index(fields=["kind", "at"], name="passage_kind_at_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.conversation_id} → {self.service_id}"


class Feedback(models.Model):
    """A visitor's answer to "did this help?", never linked to them.

    Only the service and the day (Europe/Paris) are kept: no conversation,
    no time of day, no token.
    """

    class Answer(models.TextChoices):
        YES = "yes", _("oui")
        SOMEWHAT = "somewhat", _("un peu")
        NO = "no", _("non")

    service = models.ForeignKey(
        "chat.Service", on_delete=models.CASCADE, related_name="+"
    )
    day = models.DateField(db_index=True)
    answer = models.CharField(max_length=16, choices=Answer.choices)
    comment = models.TextField(blank=True, max_length=1000)

    class Meta:
        ordering = ["-day", "-id"]

    def __str__(self) -> str:
        return f"{self.service_id} {self.day} {self.answer}"


class FeedbackGuard(models.Model):
    """One answer per conversation, without saying which conversation.

    ``digest`` is an HMAC of the visitor's token under the server's secret:
    only someone holding the token can find its row, and the stored token
    hash cannot be turned into it.
    """

    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    def __str__(self) -> str:
        return self.digest[:8]

"""Staff profiles, participants, invitations, canned answers and whispers."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class StaffProfile(models.Model):
    """What the platform knows of a staff member beyond their login."""

    class Role(models.TextChoices):
        OPERATOR = "operator", _("opérateur·rice")
        PSYCHOLOGIST = "psychologist", _("psychologue")
        SUPERVISOR = "supervisor", _("superviseur·e")
        ADMINISTRATOR = "administrator", _("administrateur·rice")
        # Holds a sealing private key and its passphrase; opens connection
        # records of an approved disclosure (escalation/disclosure.py).
        CUSTODIAN = "custodian", _("dépositaire de clé")

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff"
    )
    # The only name a visitor ever sees.
    pseudonym = models.CharField(max_length=80)
    roles = models.JSONField(default=list)
    services = models.ManyToManyField("chat.Service", related_name="staff")
    max_conversations = models.PositiveSmallIntegerField(default=3)
    # On-duty hours, {"mon": [["09:00", "18:00"]], ...} in Europe/Paris, as
    # for a service; empty means always on duty while connected.
    duty_hours = models.JSONField(default=dict, blank=True)
    # The operator takes the next waiting conversation without claiming.
    auto_assign = models.BooleanField(default=False)

    def __str__(self) -> str:
        return self.pseudonym

    def has_role(self, role: str) -> bool:
        return role in self.roles


class Invitation(models.Model):
    """A request to bring a psychologist or a colleague into a conversation.

    The visitor is asked first (``asking``); only once they accept is it
    ``offered`` to the staff of ``service``, and exactly one of them can
    take it (``accepted``).
    """

    class Status(models.TextChoices):
        ASKING = "asking", _("demande à la personne")
        OFFERED = "offered", _("proposée")
        ACCEPTED = "accepted", _("acceptée")
        DECLINED = "declined", _("refusée par la personne")
        CANCELLED = "cancelled", _("annulée")

    class Role(models.TextChoices):
        PSYCHOLOGIST = "psychologist", _("psychologue")
        OPERATOR = "operator", _("collègue d'un autre service")

    OPEN_STATUSES = (Status.ASKING, Status.OFFERED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    conversation = models.ForeignKey(
        "chat.Conversation", on_delete=models.CASCADE, related_name="invitations"
    )
    role = models.CharField(max_length=16, choices=Role.choices)
    # Whose staff are invited: the conversation's own service for a
    # psychologist, the colleague's service for a warm handover.
    service = models.ForeignKey(
        "chat.Service", on_delete=models.CASCADE, related_name="+"
    )
    # Staff only, never sent to the visitor; AES-GCM under the
    # conversation's data key (anonymity.crypto), like notes.
    summary_ciphertext = models.BinaryField(blank=True, default=b"")
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.ASKING
    )
    created_at = models.DateTimeField(auto_now_add=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["conversation"],
                condition=Q(status__in=["asking", "offered"]),
                name="invitation_one_open_per_conversation",
            )
        ]

    def __str__(self) -> str:
        return f"invitation {self.id} ({self.role}, {self.status})"


class Participant(models.Model):
    """A staff member in a conversation besides the operator in charge.

    Psychologists and colleagues join through an invitation; supervisors
    join to watch, ``silent`` until they write.
    """

    class Role(models.TextChoices):
        OPERATOR = "operator", _("opérateur·rice")
        PSYCHOLOGIST = "psychologist", _("psychologue")
        SUPERVISOR = "supervisor", _("superviseur·e")

    conversation = models.ForeignKey(
        "chat.Conversation", on_delete=models.CASCADE, related_name="participants"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    role = models.CharField(max_length=16, choices=Role.choices)
    silent = models.BooleanField(default=False)
    invitation = models.ForeignKey(
        Invitation, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    joined_at = models.DateTimeField(auto_now_add=True)
    left_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "user"],
                condition=Q(left_at__isnull=True),
                name="participant_once_at_a_time",
            )
        ]
        indexes = [
            models.Index(fields=["user", "left_at"], name="participant_user_idx")
        ]

    def __str__(self) -> str:
        return f"{self.role} {self.user_id} in {self.conversation_id}"


class CannedAnswer(models.Model):
    """A ready-made answer of a service, edited by its supervisors."""

    service = models.ForeignKey(
        "chat.Service", on_delete=models.CASCADE, related_name="canned_answers"
    )
    title = models.CharField(max_length=80)
    body = models.TextField()
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["service", "title", "id"]

    def __str__(self) -> str:
        return self.title


class Whisper(models.Model):
    """A staff-only line in a conversation: never reaches the visitor."""

    conversation = models.ForeignKey(
        "chat.Conversation", on_delete=models.CASCADE, related_name="whispers"
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    author_name = models.CharField(max_length=80)
    author_role = models.CharField(max_length=16)
    # AES-GCM under the conversation's data key (anonymity.crypto).
    ciphertext = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"whisper {self.id} on {self.conversation_id}"


class AccessStamp(models.Model):
    """A counter bumped in the transaction of every change that may revoke.

    A console socket remembers the stamp it last checked its access under;
    each staff write reads it with one indexed, share-locked row instead of
    re-reading session, account, profile and second factor (issue 14). A
    different stamp means something changed: the full check runs again.
    Kept out of ``StaffProfile`` so that a stale profile instance saved back
    can never write an old stamp over a newer one.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="+",
    )
    version = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"access stamp {self.version} of user {self.user_id}"

"""Consent records, local units, reports and their deliveries, disclosure
requests, and the audit trail (docs/security.md §B2, §B3, §B5).

Contact details and report texts are stored encrypted (sealed to the
unit's public key, or under the conversation's data key); the audit trail
is append-only and chained (``escalation.audit``).
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _


class AuditEvent(models.Model):
    """One entry of the tamper-evident audit trail.

    ``mac`` chains the entry to the previous one under the day's key;
    rows are never updated or deleted (a PostgreSQL trigger refuses it).
    Actors and subjects are plain values, not foreign keys, so deleting
    an account never touches the trail.
    """

    seq = models.PositiveBigIntegerField(unique=True)
    at = models.DateTimeField()
    day = models.DateField()
    kind = models.CharField(max_length=48, db_index=True)
    actor_id = models.BigIntegerField(null=True, blank=True)
    actor = models.CharField(max_length=150, blank=True)
    subject = models.CharField(max_length=80, blank=True, db_index=True)
    data = models.JSONField(default=dict, blank=True)
    prev_mac = models.CharField(max_length=64)
    mac = models.CharField(max_length=64)

    class Meta:
        ordering = ["seq"]

    def __str__(self) -> str:
        return f"audit #{self.seq} {self.kind}"


class AuditChainState(models.Model):
    """The chain's head and today's key: one row, moved forward daily.

    Yesterday's key is overwritten when the day changes, so whoever reads
    this row today cannot recompute yesterday's entries.
    """

    day = models.DateField()
    key = models.BinaryField()
    head_seq = models.PositiveBigIntegerField(default=0)
    head_mac = models.CharField(max_length=64)
    last_checkpoint_seq = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"audit chain at #{self.head_seq}"


class Unit(models.Model):
    """A police station or gendarmerie brigade that receives reports."""

    class Force(models.TextChoices):
        POLICE = "PN", _("Police nationale")
        GENDARMERIE = "GN", _("Gendarmerie nationale")

    class Method(models.TextChoices):
        EMAIL = "email", _("Courrier électronique")
        WEBHOOK = "webhook", _("Webhook HTTPS signé")
        FILE = "file", _("Dépôt de fichier")

    name = models.CharField(max_length=200)
    force = models.CharField(max_length=2, choices=Force.choices)
    # INSEE codes of the communes it covers; a department code covers all.
    communes = models.JSONField(default=list, blank=True)
    departments = models.JSONField(default=list, blank=True)
    method = models.CharField(max_length=8, choices=Method.choices)
    # E-mail address, https URL or directory, by method.
    address = models.CharField(max_length=500)
    # Shared secret for the webhook's HMAC-SHA256 signature header.
    webhook_secret = models.CharField(max_length=200, blank=True)
    # Optional X25519 public key (raw 32 bytes, base64): contact details
    # are then sealed to it and only the unit can read them.
    public_key = models.CharField(max_length=64, blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ConsentRequest(models.Model):
    """The operator's question to lift anonymity, and the visitor's answer."""

    class Status(models.TextChoices):
        ASKED = "asked", _("posée")
        ACCEPTED = "accepted", _("acceptée")
        DECLINED = "declined", _("refusée")
        WITHDRAWN = "withdrawn", _("retirée")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    conversation = models.ForeignKey(
        "chat.Conversation", on_delete=models.CASCADE, related_name="consents"
    )
    consent_text = models.ForeignKey(
        "chat.ConsentText", on_delete=models.PROTECT, related_name="uses"
    )
    text_version = models.CharField(max_length=20)
    text_hash = models.CharField(max_length=64)
    lang = models.CharField(max_length=8)
    asked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    asked_at = models.DateTimeField()
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.ASKED
    )
    answered_at = models.DateTimeField(null=True, blank=True)
    # Names of the contact fields the visitor chose to give.
    shared_fields = models.JSONField(default=list, blank=True)
    # The unit proposed at the answer; the details are sealed to its key
    # (contact_sealed) or else encrypted under the conversation's key.
    unit = models.ForeignKey(
        Unit, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    contact_sealed = models.BinaryField(null=True, blank=True)
    contact_key = models.CharField(max_length=16, blank=True)
    contact_encrypted = models.BinaryField(null=True, blank=True)

    class Meta:
        ordering = ["-asked_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["conversation"],
                condition=Q(status="asked"),
                name="one_open_consent_request",
            )
        ]

    def __str__(self) -> str:
        return f"consent {self.id} ({self.status})"


class Report(models.Model):
    """A report to a local unit, written after the visitor's consent."""

    class Urgency(models.TextChoices):
        NORMAL = "normal", _("normale")
        HIGH = "high", _("haute")
        IMMEDIATE = "immediate", _("danger immédiat")

    class Category(models.TextChoices):
        DOMESTIC = "domestic", _("violences conjugales ou intrafamiliales")
        SEXUAL = "sexual", _("violences sexuelles")
        SEXIST = "sexist", _("violences sexistes, harcèlement")
        CHILD = "child", _("violences sur mineur")
        OTHER = "other", _("autre")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    reference = models.CharField(max_length=24, unique=True)
    conversation = models.ForeignKey(
        "chat.Conversation", on_delete=models.CASCADE, related_name="reports"
    )
    consent = models.OneToOneField(
        ConsentRequest, on_delete=models.PROTECT, related_name="report"
    )
    unit = models.ForeignKey(Unit, on_delete=models.PROTECT, related_name="reports")
    category = models.CharField(max_length=10, choices=Category.choices)
    urgency = models.CharField(max_length=10, choices=Urgency.choices)
    summary_encrypted = models.BinaryField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.reference


class Delivery(models.Model):
    """The outbox row of one report's sending: committed with the report.

    A sender takes a row with a lease (conditional UPDATE); if its process
    dies mid-send, the lease runs out and another sender retries, so a
    report is never lost (it may arrive twice, with the same reference).
    """

    class State(models.TextChoices):
        PENDING = "pending", _("en attente")
        SENT = "sent", _("envoyé")
        FAILED = "failed", _("en échec")

    report = models.ForeignKey(
        Report, on_delete=models.CASCADE, related_name="deliveries"
    )
    method = models.CharField(max_length=8, choices=Unit.Method.choices)
    target = models.CharField(max_length=500)
    state = models.CharField(max_length=8, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(db_index=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"delivery {self.id} ({self.state})"


class DisclosureRequest(models.Model):
    """A request to open a conversation's sealed connection records.

    Its ``state`` only moves along ``escalation.disclosure.TRANSITIONS``;
    the requester can never endorse it nor record the decision (checked by
    the service and by the constraints below).
    """

    class State(models.TextChoices):
        REQUESTED = "requested", _("demandée")
        ENDORSED = "endorsed", _("visée")
        APPROVED = "approved", _("autorisée par le parquet")
        REFUSED = "refused", _("refusée")
        EXECUTED = "executed", _("exécutée")
        CLOSED = "closed", _("close")
        EXPIRED = "expired", _("expirée")
        WITHDRAWN = "withdrawn", _("retirée")

    class Ground(models.TextChoices):
        URGENT = "urgent", _("danger urgent")
        MINOR = "minor", _("victime mineure")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    reference = models.CharField(max_length=24, unique=True)
    conversation = models.ForeignKey(
        "chat.Conversation", on_delete=models.PROTECT, related_name="disclosures"
    )
    state = models.CharField(
        max_length=10, choices=State.choices, default=State.REQUESTED
    )
    ground = models.CharField(max_length=8, choices=Ground.choices)
    justification_encrypted = models.BinaryField()
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField()
    endorsed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    endorsed_at = models.DateTimeField(null=True, blank=True)
    # The prosecutor's decision, recorded by a supervisor.
    decision = models.CharField(max_length=8, blank=True)
    parquet_reference = models.CharField(max_length=80, blank=True)
    magistrate = models.CharField(max_length=150, blank=True)
    decision_date = models.DateField(null=True, blank=True)
    document_name = models.CharField(max_length=200, blank=True)
    document = models.BinaryField(null=True, blank=True)
    document_sha256 = models.CharField(max_length=64, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    executed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    executed_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["-requested_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(endorsed_by__isnull=True)
                | ~Q(endorsed_by=F("requested_by")),
                name="disclosure_endorser_not_requester",
            ),
            models.CheckConstraint(
                condition=Q(decided_by__isnull=True) | ~Q(decided_by=F("requested_by")),
                name="disclosure_decider_not_requester",
            ),
            models.UniqueConstraint(
                fields=["conversation"],
                condition=Q(state__in=["requested", "endorsed", "approved"]),
                name="one_open_disclosure",
            ),
        ]

    def __str__(self) -> str:
        return self.reference

"""The local support directory, orientations and callback requests.

A ``Resource`` is an entry operators give visitors (an association, a
victim-support office, a CIDFF, a police station, a national number);
each keeps its source and the date an administrator verified it, and is
unverified until then (data README §5–6). Sharing one in a conversation
records an ``Orientation`` for the statistics. A partner association that
calls visitors back holds an X25519 key pair: ``CallbackRequest`` rows
keep the visitor's phone number sealed to its public key, never in clear.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Resource(models.Model):
    """One directory entry, with its coverage, contact and provenance."""

    class Kind(models.TextChoices):
        ASSOCIATION = "association", _("association")
        VICTIM_SUPPORT = "victim_support", _("aide aux victimes")
        CIDFF = "cidff", _("CIDFF (droits des femmes et des familles)")
        ACCESS_TO_LAW = "access_to_law", _("accès au droit (maison de justice)")
        POLICE = "police", _("commissariat de police")
        GENDARMERIE = "gendarmerie", _("brigade de gendarmerie")
        HEALTH = "health", _("santé")
        CARE_CENTRE = "care_centre", _("centre de soins et de prévention")
        SHELTER = "shelter", _("hébergement, mise à l'abri")
        NATIONAL = "national", _("numéro national")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    name = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    address = models.CharField(max_length=300, blank=True)
    postal_code = models.CharField(max_length=5, blank=True)
    # Where the entry is: INSEE code and name of its commune, its department.
    commune_code = models.CharField(max_length=5, blank=True, db_index=True)
    commune_name = models.CharField(max_length=100, blank=True)
    department = models.CharField(max_length=3, blank=True, db_index=True)
    # What it covers besides its own commune: departments ("94") and
    # communes (INSEE codes); ``is_national`` covers all of France.
    departments = models.JSONField(default=list, blank=True)
    communes = models.JSONField(default=list, blank=True)
    is_national = models.BooleanField(default=False)
    # Offered in every search whatever the place (116 006, France Victimes).
    always_offer = models.BooleanField(default=False)
    phone = models.CharField(max_length=40, blank=True)
    email = models.EmailField(blank=True)
    website = models.URLField(max_length=300, blank=True)
    hours = models.CharField(max_length=300, blank=True)
    source = models.CharField(max_length=200)
    # The entry's id in its source (annuaire id, "helpline:116006"), so a
    # re-import finds it again.
    source_ref = models.CharField(max_length=100, blank=True)
    verified_at = models.DateField(null=True, blank=True)
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    active = models.BooleanField(default=True)
    # Services whose operators see it; none: every service.
    services = models.ManyToManyField(
        "chat.Service", blank=True, related_name="directory_resources"
    )
    # Callbacks: the services for which this association calls visitors
    # back, its staff (who see the callback queue) and its public key.
    callback_services = models.ManyToManyField(
        "chat.Service", blank=True, related_name="callback_partners"
    )
    staff = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="partner_resources"
    )
    public_key = models.BinaryField(null=True, blank=True, editable=False)
    key_fingerprint = models.CharField(max_length=16, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("ressource de l'annuaire")
        verbose_name_plural = _("annuaire")
        constraints = [
            models.UniqueConstraint(
                fields=["source_ref"],
                condition=~Q(source_ref=""),
                name="resource_source_ref_unique",
            )
        ]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def verified(self) -> bool:
        return self.verified_at is not None

    @property
    def full_address(self) -> str:
        place = " ".join(part for part in (self.postal_code, self.commune_name) if part)
        return ", ".join(part for part in (self.address, place) if part)


class Orientation(models.Model):
    """One resource shared with a visitor: counted by the statistics.

    Kept apart from the conversation (no message text), so counts survive
    the conversation's deletion at the end of its retention.
    """

    conversation = models.ForeignKey(
        "chat.Conversation",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="orientations",
    )
    service = models.ForeignKey(
        "chat.Service", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    resource = models.ForeignKey(
        Resource,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="orientations",
    )
    resource_kind = models.CharField(max_length=20, choices=Resource.Kind.choices)
    resource_name = models.CharField(max_length=300)
    department = models.CharField(max_length=3, blank=True)
    shared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    message_seq = models.PositiveIntegerField(null=True, blank=True)
    shared_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-shared_at", "-id"]

    def __str__(self) -> str:
        return f"{self.resource_name} ({self.shared_at:%Y-%m-%d})"


class CallbackRequest(models.Model):
    """A visitor's request to be called back by a partner association.

    ``sealed`` holds the phone number and the times given, HPKE-sealed to
    the partner's public key (docs/security.md §B3): the platform cannot read
    it, only the partner's staff with their private key can.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("à rappeler")
        DONE = "done", _("rappel fait")
        UNREACHABLE = "unreachable", _("injoignable")
        DECLINED = "declined", _("refusé")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    conversation = models.ForeignKey(
        "chat.Conversation",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="callback_requests",
    )
    service = models.ForeignKey(
        "chat.Service", on_delete=models.PROTECT, related_name="+"
    )
    partner = models.ForeignKey(
        Resource, on_delete=models.PROTECT, related_name="callback_requests"
    )
    key_fingerprint = models.CharField(max_length=16)
    sealed = models.BinaryField()
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.PENDING
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    handled_at = models.DateTimeField(null=True, blank=True)
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    reveal_count = models.PositiveIntegerField(default=0)
    last_revealed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["partner", "status"], name="callback_queue_idx")
        ]

    def __str__(self) -> str:
        return f"callback {self.id} ({self.status})"

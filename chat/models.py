"""Communes, services, conversations and their messages."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Commune(models.Model):
    """A French commune (or arrondissement, or former commune) from the COG."""

    class Kind(models.TextChoices):
        CURRENT = "commune-actuelle", _("commune")
        ARRONDISSEMENT = "arrondissement-municipal", _("arrondissement")
        DELEGATED = "commune-deleguee", _("commune déléguée")
        ASSOCIATED = "commune-associee", _("commune associée")

    code_insee = models.CharField(max_length=5)
    kind = models.CharField(max_length=32, choices=Kind.choices)
    name = models.CharField(max_length=100)
    search_name = models.CharField(max_length=100, db_index=True)
    # INSEE code of the current commune a former one merged into.
    parent_code = models.CharField(max_length=5, blank=True)
    department = models.CharField(max_length=3, db_index=True)
    department_name = models.CharField(max_length=100, blank=True)
    population = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["code_insee", "kind"], name="commune_code_kind_unique"
            )
        ]
        indexes = [models.Index(fields=["code_insee"], name="commune_code_idx")]

    def __str__(self) -> str:
        return f"{self.name} ({self.code_insee})"


class PostalCode(models.Model):
    """One (postal code, commune) pair: a code often covers several."""

    code = models.CharField(max_length=5, db_index=True)
    commune = models.ForeignKey(
        Commune, on_delete=models.CASCADE, related_name="postal_codes"
    )
    # La Poste's routing label ("ARLES", "SALIN DE GIRAUD"): the code whose
    # label is the commune's own name is the one shown beside it.
    label = models.CharField(max_length=100, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["code", "commune"], name="postalcode_pair_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.commune.name}"


class Service(models.Model):
    """A helpline hosted on the platform, with its own queue and staff."""

    class Topic(models.TextChoices):
        """What a visitor says their message is about, on the landing page."""

        VIOLENCE = "violence", _("violences sexuelles, sexistes ou conjugales")
        DISCRIMINATION = "discrimination", _("discriminations, cyberharcèlement")
        ATTRACTION = "attraction", _("inquiétude sur son attirance pour les enfants")
        CHILD = "child", _("un enfant en danger")

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    is_default = models.BooleanField(default=False)
    active = models.BooleanField(default=True)
    # Departments covered ("33", "2A", "974"); empty means all of France.
    departments = models.JSONField(default=list, blank=True)
    # Roles accepted from visitors; empty means all.
    roles = models.JSONField(default=list, blank=True)
    # {"mon": [["09:00", "18:00"]], ...} in Europe/Paris; empty: always open.
    opening_hours = models.JSONField(default=dict, blank=True)
    hours_text = models.CharField(max_length=300, blank=True)
    # Routing precedence when several services cover a commune.
    priority = models.IntegerField(default=0)
    # Communes covered besides ``departments`` (INSEE codes); a service with
    # neither list covers all of France.
    communes = models.JSONField(default=list, blank=True)
    # Days without service: "2026-12-25" (that day) or "12-25" (every year).
    closed_days = models.JSONField(default=list, blank=True)
    # Hours a psychologist can be invited, same shape as ``opening_hours``;
    # empty: whenever one is on duty.
    psychologist_hours = models.JSONField(default=dict, blank=True)
    # Shown with ``service_closed`` and on the visitor page; empty: the
    # platform's notice (17, 112, 114 by SMS).
    emergency_notice = models.TextField(blank=True)
    # False for a service that only receives transfers from other services.
    accepts_visitors = models.BooleanField(default=True)
    # Competence routing (issue 6): services sharing a ``routing_group`` are
    # the queues of one platform, one per force; a visitor asking for the
    # group (or any of its services) lands in the queue of the force
    # competent for their commune.
    routing_group = models.SlugField(blank=True)
    force = models.CharField(
        max_length=2,
        blank=True,
        choices=[("PN", _("police nationale")), ("GN", _("gendarmerie nationale"))],
    )
    offers_callbacks = models.BooleanField(default=False)
    # Routing by topic (issue 10): a visitor who says what it is about is
    # routed among the services of that topic.
    topic = models.CharField(
        max_length=16, choices=Topic.choices, default=Topic.VIOLENCE
    )
    # Who answers when this service is closed, or has ``overflow_waiting``
    # people waiting already: a visitor is never turned away while a
    # covering service is open (issue 10).
    overflow_service = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="overflowed_from",
        verbose_name=_("service de débordement"),
        help_text=_(
            "Service qui reçoit les personnes quand celui-ci est fermé ou complet."
        ),
    )
    overflow_waiting = models.PositiveIntegerField(
        null=True,
        blank=True,
        verbose_name=_("complet à partir de"),
        help_text=_(
            "Nombre de personnes en attente à partir duquel les nouvelles vont "
            "au service de débordement ; vide : jamais complet."
        ),
    )

    def __str__(self) -> str:
        return self.name


class ConsentText(models.Model):
    """One version of a service's consent text for lifting anonymity.

    Versions are kept, never edited once used: a consent record names the
    version the visitor saw (docs/security.md §B3).
    """

    service = models.ForeignKey(
        Service, on_delete=models.CASCADE, related_name="consent_texts"
    )
    version = models.CharField(max_length=20)
    lang = models.CharField(max_length=8, default="fr")
    text = models.TextField()
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["service", "version", "lang"],
                name="consent_text_version_unique",
            )
        ]
        ordering = ["service", "lang", "-created_at"]

    def __str__(self) -> str:
        return f"{self.service.slug} {self.version} ({self.lang})"


class CommuneCompetence(models.Model):
    """Which force, police (PN) or gendarmerie (GN), serves a commune.

    Imported from police_gendarmerie_competence.csv (data README §4): the
    Ministry of the Interior's value where it exists, a labelled estimate
    otherwise. An administrator's override wins over both and survives
    re-imports; every override is kept in ``CompetenceOverride``.
    """

    class Force(models.TextChoices):
        POLICE = "PN", _("police nationale")
        GENDARMERIE = "GN", _("gendarmerie nationale")
        SPLIT = "PN+GN", _("partagée police / gendarmerie")

    class Source(models.TextChoices):
        OFFICIAL = "officiel", _("officiel (Ministère de l'Intérieur)")
        ESTIMATE = "estimation", _("estimation (approximative)")
        OVERRIDE = "administrateur", _("correction d'un·e administrateur·rice")

    code_insee = models.CharField(max_length=5, unique=True)
    name = models.CharField(max_length=100)
    department = models.CharField(max_length=3, db_index=True)
    population = models.PositiveIntegerField(null=True, blank=True)
    # Raw columns of the file, kept to show where the value comes from.
    official_force = models.CharField(max_length=8, blank=True)
    official_unit = models.CharField(max_length=300, blank=True)
    estimated_force = models.CharField(max_length=5, choices=Force.choices)
    imported_force = models.CharField(max_length=5, choices=Force.choices)
    imported_source = models.CharField(
        max_length=16,
        choices=[
            (Source.OFFICIAL, Source.OFFICIAL.label),
            (Source.ESTIMATE, Source.ESTIMATE.label),
        ],
    )
    override_force = models.CharField(max_length=5, choices=Force.choices, blank=True)
    override_note = models.CharField(max_length=300, blank=True)
    overridden_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    overridden_at = models.DateTimeField(null=True, blank=True)
    imported_at = models.DateTimeField()

    class Meta:
        verbose_name = _("compétence police / gendarmerie")
        verbose_name_plural = _("compétences police / gendarmerie")
        ordering = ["code_insee"]

    def __str__(self) -> str:
        return f"{self.name} ({self.code_insee}) : {self.force}"

    @property
    def force(self) -> str:
        """Return the force in effect: the override, else the imported one."""
        return self.override_force or self.imported_force

    @property
    def source(self) -> str:
        """Return where the force in effect comes from."""
        if self.override_force:
            return self.Source.OVERRIDE
        return self.imported_source


class CompetenceOverride(models.Model):
    """One administrator's change of a commune's force; never edited."""

    competence = models.ForeignKey(
        CommuneCompetence, on_delete=models.CASCADE, related_name="overrides"
    )
    previous_force = models.CharField(max_length=5)
    previous_source = models.CharField(max_length=16)
    # Empty: the override was removed, the imported value applies again.
    new_force = models.CharField(max_length=5, blank=True)
    note = models.CharField(max_length=300, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        new = self.new_force or "import"
        return f"{self.competence.code_insee}: {self.previous_force} → {new}"


class Conversation(models.Model):
    """A visitor's conversation; ``last_seq`` numbers its messages."""

    class Status(models.TextChoices):
        WAITING = "waiting", _("en attente")
        ACTIVE = "active", _("en cours")
        CLOSED = "closed", _("terminée")

    class Outcome(models.TextChoices):
        REPORT = "report", _("signalement à un service d'enquête")
        ORIENTATION = "orientation", _("orientation")
        INFORMATION = "information", _("information")
        OTHER = "other", _("autre")
        VISITOR_LEFT = "visitor_left", _("départ de la personne")
        ABANDONED = "abandoned", _("abandon en attente")

    class VisitorRole(models.TextChoices):
        VICTIM = "victim", _("victime")
        WITNESS = "witness", _("témoin")
        PROFESSIONAL = "professional", _("professionnel·le")
        RELATIVE = "relative", _("proche")
        # Someone worried about their own attraction to children, on the
        # orientation line (issue 10): neither victim nor witness.
        CONCERNED = "concerned", _("personne concernée")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    service = models.ForeignKey(Service, on_delete=models.PROTECT)
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.WAITING
    )
    visitor_role = models.CharField(max_length=16, choices=VisitorRole.choices)
    commune = models.ForeignKey(
        Commune, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    place_label = models.CharField(max_length=120, blank=True)
    # The commune's force when the conversation started (issue 6), where
    # it came from, the competent unit's name, and when an operator
    # confirmed the force of a split or estimated commune.
    competence = models.CharField(max_length=5, blank=True)
    competence_source = models.CharField(max_length=16, blank=True)
    competence_unit = models.CharField(max_length=300, blank=True)
    force_confirmed_at = models.DateTimeField(null=True, blank=True)
    lang = models.CharField(max_length=8, default="fr")
    token_hash = models.CharField(max_length=64, unique=True)
    # Each resume replaces the token (issue 11); the one just used still
    # opens for TOKEN_OVERLAP_SECONDS in case the "resumed" frame was lost.
    previous_token_hash = models.CharField(max_length=64, blank=True, db_index=True)
    token_rotated_at = models.DateTimeField(null=True, blank=True)
    # An operator marked the conversation abusive: its visitor's client
    # key is refused for a while. Nothing identifying is stored.
    abusive = models.BooleanField(default=False)
    last_seq = models.PositiveIntegerField(default=0)
    urgent = models.BooleanField(default=False)
    minor = models.BooleanField(default=False)
    operator = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # Queue order within a service: urgent first, then queue_key ascending,
    # then id (chat.services.queue.QUEUE_ORDER).
    queue_key = models.DateTimeField()
    position_at_start = models.PositiveIntegerField(default=1)
    first_claimed_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, blank=True)
    categories = models.JSONField(default=list, blank=True)
    # Grace deadlines, set and cleared by the presence sweep.
    operator_grace_until = models.DateTimeField(null=True, blank=True)
    visitor_grace_until = models.DateTimeField(null=True, blank=True)
    # Statistics facts (issue 15), written with each message so the
    # figures outlive the messages themselves, deleted by ``purge``.
    first_staff_reply_at = models.DateTimeField(null=True, blank=True)
    visitor_messages = models.PositiveIntegerField(default=0)
    staff_messages = models.PositiveIntegerField(default=0)
    # Numbers the statistics aggregate, derived from the times above by
    # ``stats.aggregate.do_materialize`` (final once the conversation is
    # closed): hours since 1970-01-01 00:00 Paris wall-clock time at the
    # start, and the durations in seconds.
    stats_hour = models.IntegerField(null=True, blank=True)
    wait_seconds = models.FloatField(null=True, blank=True)
    reply_seconds = models.FloatField(null=True, blank=True)
    length_seconds = models.FloatField(null=True, blank=True)
    stats_messages = models.PositiveIntegerField(null=True, blank=True)
    stats_final = models.BooleanField(default=False)

    class Meta:
        indexes = [
            models.Index(
                fields=["service", "status", "urgent", "queue_key"],
                name="conversation_queue_idx",
            ),
            models.Index(fields=["operator", "status"], name="conversation_op_idx"),
            # Covers every statistics query, so they read the index
            # alone; the message counters, written with every message,
            # stay out of it.
            models.Index(
                fields=[
                    "created_at",
                    "stats_final",
                    "stats_hour",
                    "status",
                    "outcome",
                    "visitor_role",
                    "urgent",
                    "minor",
                    "wait_seconds",
                    "reply_seconds",
                    "length_seconds",
                    "stats_messages",
                    "operator",
                    "commune",
                    "categories",
                ],
                name="conversation_stats_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.service.slug}:{self.id}"


class Message(models.Model):
    """A message in a conversation, numbered without gaps by ``seq``."""

    class Sender(models.TextChoices):
        VISITOR = "visitor", _("personne")
        OPERATOR = "operator", _("opérateur·rice")
        PSYCHOLOGIST = "psychologist", _("psychologue")
        SUPERVISOR = "supervisor", _("superviseur·e")
        SYSTEM = "system", _("système")

    # No index of its own: ``message_seq_unique`` (conversation, seq) starts
    # with it and serves every lookup by conversation. A second one cost
    # every message an index insert (docs/decisions.md).
    conversation = models.ForeignKey(
        Conversation,
        on_delete=models.CASCADE,
        related_name="messages",
        db_index=False,
    )
    seq = models.PositiveIntegerField()
    sender = models.CharField(max_length=16, choices=Sender.choices)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # The pseudonym shown to the visitor, frozen at send time.
    author_name = models.CharField(max_length=80, blank=True)
    client_id = models.UUIDField(null=True, blank=True)
    # AES-GCM under the conversation's data key (anonymity.crypto).
    ciphertext = models.BinaryField()
    card = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "seq"], name="message_seq_unique"
            ),
            models.UniqueConstraint(
                fields=["conversation", "client_id"],
                condition=Q(client_id__isnull=False),
                name="message_client_id_unique",
            ),
        ]
        ordering = ["conversation", "seq"]

    def __str__(self) -> str:
        return f"{self.conversation_id}#{self.seq}"


class Note(models.Model):
    """A private note on a conversation: staff only, never the visitor."""

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="notes"
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    # AES-GCM under the conversation's data key (anonymity.crypto).
    ciphertext = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"note {self.id} on {self.conversation_id}"


class Connection(models.Model):
    """One open socket, refreshed by its server process's heartbeat.

    Presence is read from these rows, never from a process's memory: a
    process that dies stops refreshing its rows, and any other process's
    sweep then treats those sockets as gone.
    """

    channel_name = models.CharField(max_length=200, unique=True)
    server_id = models.CharField(max_length=40, db_index=True)
    conversation = models.ForeignKey(
        Conversation,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="visitor_connections",
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    connected_at = models.DateTimeField(auto_now_add=True)
    heartbeat_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return self.channel_name


class ClaimRecord(models.Model):
    """A finished wait: how long a conversation waited before a claim.

    Kept apart from the conversation so estimates survive purges.
    """

    service = models.ForeignKey(Service, on_delete=models.CASCADE)
    waited_seconds = models.FloatField()
    position_at_start = models.PositiveIntegerField()
    claimed_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.service_id} waited {self.waited_seconds:.0f}s"

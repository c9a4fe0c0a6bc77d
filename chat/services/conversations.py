"""Starting, resuming, releasing, transferring and closing conversations.

Who may do it on the staff side (role, capacity, being the operator in
charge) is checked in ``console.services.conversations``.
"""

import secrets
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.db.models import F, Func, IntegerField, Min
from django.utils import timezone
from django.utils.translation import gettext as _

from anonymity.crypto import do_create_conversation_key
from chat import coverage, events, places, refusals
from chat.admission import refusal
from chat.competence import competence_fields, render_competence
from chat.errors import ChatError
from chat.models import Commune, Conversation, Message, Service
from chat.selectors import (
    access_conversation_by_token,
    get_service_by_slug_or_group,
    get_service_for_commune,
    hash_token,
)
from chat.services.queue import do_notify_queue_changed
from chat.signals import announce_arrival
from realtime.prepared import Prepared, row_lock


def check_start_conversation(
    *,
    place: Any = None,
    role: Any,
    service_slug: Any = None,
    lang: Any = "fr",
    commune: Any = None,
    topic: Any = None,
) -> tuple[Conversation, str]:
    """Validate a visitor's ``start`` and open the conversation."""
    conversation, token, _details = check_start_for_visitor(
        place=place,
        role=role,
        service_slug=service_slug,
        lang=lang,
        commune=commune,
        topic=topic,
    )
    return conversation, token


def check_start_for_visitor(
    *,
    place: Any = None,
    role: Any,
    service_slug: Any = None,
    lang: Any = "fr",
    commune: Any = None,
    topic: Any = None,
    conversation_id: UUID | None = None,
) -> tuple[Conversation, str, dict[str, Any]]:
    """Open the conversation; also return what ``started`` tells the visitor.

    ``commune`` is the INSEE code of a commune the visitor picked from a
    list and wins over ``place``, free text resolved as a postal code or a
    name (issue 10: an INSEE code read as a postal code sent Lille's
    visitors to Saint-André-lez-Lille). ``topic`` picks among the services
    when ``service_slug`` does not name one. The details are the commune
    understood, the overflow (who did not answer, and why) and whether
    the operator will confirm the force with the visitor.
    ``conversation_id``: the id the visitor's socket chose (it joins the
    conversation's groups before opening it), else a new one.
    """
    start = check_start_request(
        place=place,
        role=role,
        service_slug=service_slug,
        commune=commune,
        topic=topic,
    )
    if lang not in ("fr", "en"):
        lang = "fr"
    conversation, token = do_start_conversation(
        service=start.answering.service,
        visitor_role=role,
        commune=start.commune,
        place_label=start.place_label,
        lang=lang,
        conversation_id=conversation_id,
    )
    details = {
        "commune": places.render_commune(start.commune, postal_code=start.postal_code),
        "overflow": coverage.render_overflow(start.answering),
        "confirm_force": (render_competence(conversation) or {}).get(
            "confirm_force", False
        ),
    }
    return conversation, token, details


@dataclass(frozen=True)
class StartRequest:
    """A validated ``start``: the commune understood and who answers."""

    commune: Commune
    postal_code: str
    answering: coverage.Answering

    @property
    def place_label(self) -> str:
        label = self.commune.name
        return f"{self.postal_code} {label}" if self.postal_code else label


def check_start_request(
    *,
    place: Any,
    role: Any,
    service_slug: Any = None,
    commune: Any = None,
    topic: Any = None,
) -> StartRequest:
    """Resolve a ``start``'s place and pick who answers, writing nothing.

    Raises the refusals of docs/protocol.md: ``invalid_role``,
    ``invalid_place``, ``ambiguous_place``, ``not_covered``,
    ``invalid_service``, ``service_closed`` (only when no covering service
    is open: a closed line hands its visitors to its overflow service).
    """
    if role not in Conversation.VisitorRole.values:
        raise ChatError(
            "invalid_role",
            _("Rôle inconnu : choisissez victime, témoin, proche ou professionnel."),
        )
    if service_slug is not None and not isinstance(service_slug, str):
        raise refusals.service_not_text()
    if topic is not None and topic not in Service.Topic.values:
        raise ChatError("bad_request", _("Sujet inconnu."))
    if commune is not None:
        if not isinstance(commune, str) or not commune.strip():
            raise ChatError(
                "bad_request", _("Le champ commune doit être un code INSEE.")
            )
        resolution = places.resolve_commune_code(commune)
        if resolution.commune is None:
            raise ChatError(
                "invalid_place", _("Commune inconnue : choisissez-la à nouveau.")
            )
    else:
        if not isinstance(place, str) or not place.strip():
            raise ChatError("invalid_place", _("Indiquez une ville ou un code postal."))
        resolution = places.resolve_place(place)
    if resolution.commune is None and resolution.choices:
        raise ChatError(
            "ambiguous_place",
            _("Plusieurs communes correspondent : choisissez la vôtre."),
            choices=[choice.as_dict() for choice in resolution.choices],
        )
    if resolution.commune is None:
        raise ChatError(
            "invalid_place",
            _("Nous ne trouvons pas cette ville ou ce code postal."),
        )
    found = resolution.commune
    service = get_service_for_commune(found, role=role, slug=service_slug, topic=topic)
    if service is None:
        # Issue 6: a known service that does not cover this commune (or
        # role) says so and lists the services that do.
        asked = get_service_by_slug_or_group(service_slug) if service_slug else None
        if asked is not None:
            raise coverage.not_covered_error(found, role=role, asked=asked)
        raise coverage.no_service_error(found, role=role)
    answering = coverage.get_answering_service(service, commune=found, role=role)
    if answering.service is None:
        raise coverage.closed_error(service)
    return StartRequest(
        commune=found, postal_code=resolution.postal_code, answering=answering
    )


@transaction.atomic
def do_start_conversation(
    *,
    service: Service,
    visitor_role: str,
    commune: Any = None,
    place_label: str = "",
    lang: str = "fr",
    conversation_id: UUID | None = None,
) -> tuple[Conversation, str]:
    """Create a waiting conversation; return it and the visitor's token.

    The token is the only key to the conversation and only its hash is
    stored. ``conversation_id``: its id, if the caller chose it (random,
    as the default one).
    """
    token = secrets.token_urlsafe(32)
    now = timezone.now()
    # The service row's lock makes the ceiling exact across processes.
    locked = _SERVICE_LOCK.first(key=service.pk) is not None
    waiting = _WAITING_COUNT.first(service=service.pk)
    if waiting >= settings.QUEUE_CEILING_PER_SERVICE:
        raise refusal(
            "queue_full",
            _(
                "Toutes les personnes qui répondent sont "
                "occupées et la file est pleine."
            ),
        )
    conversation = Conversation(
        **({"id": conversation_id} if conversation_id is not None else {}),
        service=service,
        visitor_role=visitor_role,
        commune=commune,
        place_label=place_label,
        lang=lang,
        token_hash=hash_token(token),
        queue_key=now,
        position_at_start=waiting + 1,
        **competence_fields(commune),
    )
    # The service row was just locked (else its check refuses as before)
    # and the commune just read; the id and the token are random, and their
    # unique constraints still hold. Their checks were four more reads.
    conversation.full_clean(
        exclude=["service", "commune"] if locked else ["commune"],
        validate_unique=False,
    )
    conversation.save()
    announce_arrival(
        conversation.id,
        service_id=service.id,
        kind="start",
        at=now,
        started_at=conversation.created_at,
    )
    do_create_conversation_key(conversation.id)
    do_notify_queue_changed(service, by=conversation.id)
    return conversation, token


# Every start reads these: built once per connection (realtime.prepared).
_SERVICE_LOCK = row_lock(Service, "pk")
_WAITING_COUNT = Prepared(
    lambda service: (
        Conversation.objects.filter(service=service, status=Conversation.Status.WAITING)
        .order_by()
        .annotate(n=Func(F("pk"), function="COUNT", output_field=IntegerField()))
        .values_list("n", flat=True)
    ),
    service=Service._meta.pk,
)

TOKEN_OVERLAP_SECONDS = 30


def check_resume_conversation(token: Any) -> Conversation:
    if not isinstance(token, str):
        raise refusals.token_not_text()
    return access_conversation_by_token(token)


@transaction.atomic
def do_resume_conversation(token: Any) -> tuple[Conversation, str]:
    """Open the conversation of ``token`` and replace the token (issue 11).

    The token is the visitor's only key, kept in their browser: replacing
    it at each resume makes a copied token useless once the visitor comes
    back. The token just used still opens for ``TOKEN_OVERLAP_SECONDS``
    (if the ``resumed`` frame carrying the new one is lost, the visitor
    must not lose their conversation); the one before it never again.
    A closed conversation replays its transcript only for
    ``VISITOR_TOKEN_GRACE_SECONDS`` after it closed.
    """
    if not isinstance(token, str):
        raise refusals.token_not_text()
    not_found = refusals.conversation_not_found()
    if not 20 <= len(token) <= 200:
        raise not_found
    hashed = hash_token(token)
    now = timezone.now()
    rotated_at = now
    conversation = (
        Conversation.objects.select_for_update()
        .select_related("service")
        .filter(token_hash=hashed)
        .first()
    )
    if conversation is None:
        conversation = (
            Conversation.objects.select_for_update()
            .select_related("service")
            .filter(
                previous_token_hash=hashed,
                token_rotated_at__gte=now
                - timezone.timedelta(seconds=TOKEN_OVERLAP_SECONDS),
            )
            .first()
        )
        if conversation is None:
            raise not_found
        # The overlap runs from the first rotation; using it never extends it.
        rotated_at = conversation.token_rotated_at
    grace = timezone.timedelta(seconds=settings.VISITOR_TOKEN_GRACE_SECONDS)
    if conversation.status == Conversation.Status.CLOSED and (
        conversation.closed_at is None or conversation.closed_at + grace < now
    ):
        raise not_found
    new_token = secrets.token_urlsafe(32)
    conversation.previous_token_hash = hashed
    conversation.token_hash = hash_token(new_token)
    conversation.token_rotated_at = rotated_at
    conversation.save(
        update_fields=["previous_token_hash", "token_hash", "token_rotated_at"]
    )
    return conversation, new_token


@transaction.atomic
def do_leave_conversation(
    conversation: Conversation, *, quick_exit: bool = False
) -> None:
    """End the conversation at the visitor's request.

    The operator's slot is free at once (only active conversations count);
    the console keeps the conversation on screen until the operator
    records the outcome (``check_close_conversation``).
    """
    now = timezone.now()
    updated = (
        Conversation.objects.filter(
            id=conversation.id,
        )
        .exclude(status=Conversation.Status.CLOSED)
        .update(
            status=Conversation.Status.CLOSED,
            closed_at=now,
            outcome=Conversation.Outcome.VISITOR_LEFT,
            visitor_grace_until=None,
            operator_grace_until=None,
        )
    )
    if updated:
        events.notify_conversation_closed(
            conversation.id, "quick_exit" if quick_exit else "visitor_left"
        )
        do_notify_queue_changed(conversation.service_id)


@transaction.atomic
def do_release_conversation(
    conversation: Conversation,
    *,
    reason: str,
    name: str = "",
    notify_queue: bool = True,
) -> bool:
    """Put an active conversation back at the head of its queue.

    Returns False if it was no longer active (someone else acted first).
    ``notify_queue=False``: the caller releases several and tells the queue
    once at the end (``do_notify_queue_changed``).
    """
    head = Conversation.objects.filter(
        service_id=conversation.service_id, status=Conversation.Status.WAITING
    ).aggregate(first=Min("queue_key"))["first"]
    key = min(head, conversation.queue_key) if head else conversation.queue_key
    operator_id = conversation.operator_id
    updated = Conversation.objects.filter(
        id=conversation.id,
        status=Conversation.Status.ACTIVE,
        operator_id=operator_id,
    ).update(
        status=Conversation.Status.WAITING,
        operator=None,
        queue_key=key - timezone.timedelta(microseconds=1),
        operator_grace_until=None,
    )
    if not updated:
        return False
    events.notify_participant_changed(
        conversation.id, change="left", role=Message.Sender.OPERATOR, name=name
    )
    events.notify_status_changed(conversation.id, Conversation.Status.WAITING)
    if operator_id is not None:
        events.notify_unassigned(operator_id, conversation.id, reason)
    if notify_queue:
        do_notify_queue_changed(conversation.service_id)
    return True


@transaction.atomic
def do_flag_conversation(
    conversation: Conversation, *, urgent: bool | None, minor: bool | None
) -> Conversation:
    fields = []
    if urgent is not None:
        conversation.urgent = urgent
        fields.append("urgent")
    if minor is not None:
        conversation.minor = minor
        fields.append("minor")
    if fields:
        conversation.save(update_fields=fields)
        do_notify_queue_changed(conversation.service_id)
    return conversation


def is_awaiting_wrap_up(conversation: Conversation) -> bool:
    """True if the visitor ended it and the operator has not recorded the outcome."""
    return (
        conversation.status == Conversation.Status.CLOSED
        and conversation.outcome == Conversation.Outcome.VISITOR_LEFT
        and conversation.operator_id is not None
    )


@transaction.atomic
def do_record_wrap_up(
    conversation: Conversation, *, outcome: str, categories: list[str]
) -> bool:
    """Record the operator's outcome for a conversation the visitor ended.

    The conditional UPDATE makes it happen once, whichever tab sends it.
    """
    return bool(
        Conversation.objects.filter(
            id=conversation.id,
            status=Conversation.Status.CLOSED,
            outcome=Conversation.Outcome.VISITOR_LEFT,
        ).update(outcome=outcome, categories=categories)
    )


@transaction.atomic
def do_close_conversation(
    conversation: Conversation, *, outcome: str, categories: list[str]
) -> bool:
    updated = Conversation.objects.filter(
        id=conversation.id, status=Conversation.Status.ACTIVE
    ).update(
        status=Conversation.Status.CLOSED,
        closed_at=timezone.now(),
        outcome=outcome,
        categories=categories,
        operator_grace_until=None,
    )
    if updated:
        events.notify_conversation_closed(conversation.id, "closed_by_operator")
    return bool(updated)


@transaction.atomic
def do_transfer_conversation(
    conversation: Conversation, *, target: Service, name: str
) -> bool:
    source_id = conversation.service_id
    operator_id = conversation.operator_id
    updated = Conversation.objects.filter(
        id=conversation.id, status=Conversation.Status.ACTIVE, operator_id=operator_id
    ).update(
        service=target,
        status=Conversation.Status.WAITING,
        operator=None,
        queue_key=timezone.now(),
        operator_grace_until=None,
    )
    if not updated:
        return False
    announce_arrival(
        conversation.id,
        service_id=target.id,
        from_service_id=source_id,
        kind="transfer",
        started_at=conversation.created_at,
    )
    events.notify_participant_changed(
        conversation.id, change="left", role=Message.Sender.OPERATOR, name=name
    )
    events.notify_status_changed(conversation.id, Conversation.Status.WAITING)
    if operator_id is not None:
        events.notify_unassigned(operator_id, conversation.id, "transferred")
    do_notify_queue_changed(source_id)
    do_notify_queue_changed(target.id)
    return True


@transaction.atomic
def do_mark_abusive(conversation: Conversation) -> None:
    Conversation.objects.filter(id=conversation.id).update(abusive=True)
    conversation.abusive = True
    # Announced before the close: the visitor's socket handles its events in
    # order, so its key is blocked before the page hears "closed" and can
    # leave (a page closed at once used to escape the block).
    events.notify_marked_abusive(conversation.id)
    do_close_conversation(
        conversation, outcome=Conversation.Outcome.OTHER, categories=["abusive"]
    )


@transaction.atomic
def do_confirm_force(conversation: Conversation) -> None:
    conversation.force_confirmed_at = timezone.now()
    conversation.save(update_fields=["force_confirmed_at"])


@transaction.atomic
def do_hand_to_other_force(
    conversation: Conversation, *, target: Service, name: str
) -> bool:
    """Transfer to the other force's queue and mark the force confirmed."""
    moved = do_transfer_conversation(conversation, target=target, name=name)
    if moved:
        Conversation.objects.filter(id=conversation.id).update(
            force_confirmed_at=timezone.now()
        )
    return moved

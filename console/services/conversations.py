"""What staff do to a conversation: claim, release, flag, close, transfer.

The conversation's own state changes live in chat (``do_close_conversation``,
``do_transfer_conversation``...); here is what belongs to the staff side:
who may act (role, being the operator in charge), and the operator's
capacity, counted under the lock of their profile row.
"""

from typing import Any
from uuid import UUID

from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from chat import events, refusals
from chat.competence import FORCES, get_other_force_service
from chat.errors import ChatError
from chat.models import Conversation, Service
from chat.services.conversations import (
    do_close_conversation,
    do_confirm_force,
    do_flag_conversation,
    do_hand_to_other_force,
    do_mark_abusive,
    do_record_wrap_up,
    do_release_conversation,
    do_transfer_conversation,
    is_awaiting_wrap_up,
)
from chat.services.queue import (
    QUEUE_ORDER,
    do_notify_queue_changed,
    do_record_claim,
)
from console.access import (
    access_conversation_as_operator,
    access_conversation_for_staff,
    require_in_charge,
)
from console.models import StaffProfile
from console.selectors import count_staff_load
from realtime.prepared import Prepared, row_lock

CLAIM_ATTEMPTS = 20


def _staff_has_role(profile: StaffProfile, role: str) -> None:
    if not profile.has_role(role):
        raise refusals.role_forbidden()


def check_claim_conversation(
    profile: StaffProfile, conversation_id: Any = None, *, savepoint: bool = True
) -> Conversation:
    """Claim a given conversation, or the next waiting one.

    ``savepoint=False`` is for a caller whose transaction a refusal ends
    anyway, as the console's (console.consumers ``write``): a savepoint
    there would only cost two more round trips on PostgreSQL. Any other
    caller keeps it, so a refused claim leaves its transaction usable.
    """
    _staff_has_role(profile, StaffProfile.Role.OPERATOR)
    with transaction.atomic(savepoint=savepoint):
        if conversation_id is not None:
            # Only the access rule is checked here: the claim reads the row
            # again once it has won it.
            conversation = access_conversation_for_staff(
                profile, conversation_id, only=("id",)
            )
            return _claim_conversation(profile, conversation.id)
        return _claim_conversation(profile, None)


@transaction.atomic
def do_claim_conversation(
    profile: StaffProfile, conversation_id: UUID | None
) -> Conversation:
    """Give a waiting conversation to ``profile``'s user; exactly one wins.

    The claim is a conditional UPDATE on ``status = waiting``: the
    database, not any process, decides who gets it, on SQLite and on
    PostgreSQL alike. The operator's capacity is checked in the same
    transaction, under the lock of their profile row. Its own savepoint
    when nested: automatic assignment survives a refusal and goes on.
    """
    return _claim_conversation(profile, conversation_id)


def _claim_conversation(
    profile: StaffProfile, conversation_id: UUID | None
) -> Conversation:
    """The claim itself; the caller holds the transaction."""
    do_lock_capacity(profile)
    now = timezone.now()
    if conversation_id is not None:
        candidates = [conversation_id]
    else:
        service_ids = list(profile.services.filter(active=True).values_list("id"))
        candidates = list(
            Conversation.objects.filter(
                service_id__in=[row[0] for row in service_ids],
                status=Conversation.Status.WAITING,
            )
            .order_by(*QUEUE_ORDER)
            .values_list("id", flat=True)[:CLAIM_ATTEMPTS]
        )
        if not candidates:
            raise refusals.queue_empty()
    for candidate in candidates:
        won = Conversation.objects.filter(
            id=candidate, status=Conversation.Status.WAITING
        ).update(
            status=Conversation.Status.ACTIVE,
            # The id, not ``profile.user``: that would read the user row.
            operator_id=profile.user_id,
            claimed_at=now,
            # Set by the first claim only, in the same statement.
            first_claimed_at=Coalesce(F("first_claimed_at"), Value(now)),
            visitor_grace_until=None,
            operator_grace_until=None,
        )
        if won:
            break
    else:
        if conversation_id is not None:
            raise ChatError(
                "already_claimed", _("Cette conversation est déjà prise en charge.")
            )
        raise refusals.queue_empty()
    # The row alone: callers use its id; the view (``assigned``) is read
    # apart, with what it shows.
    conversation = _CLAIMED.first(key=candidate)
    # The first claim set first_claimed_at to its own ``now``; a later one
    # finds an earlier time there (the row lock orders claims, and an
    # earlier claim cannot have read the very same microsecond and also
    # been released before this one).
    if conversation.first_claimed_at == now:
        do_record_claim(conversation)
    events.notify_participant_changed(
        conversation.id,
        change="joined",
        role=StaffProfile.Role.OPERATOR,
        name=profile.pseudonym,
    )
    events.notify_status_changed(conversation.id, conversation.status)
    events.notify_assigned(profile.user_id, conversation.id)
    do_notify_queue_changed(conversation.service_id)
    return conversation


def do_lock_capacity(profile: StaffProfile) -> None:
    """Raise ``at_capacity`` if the staff member is at their maximum load.

    Must run inside the transaction that then gives them a conversation:
    the lock on their profile row serializes every assignment to them
    (claims from two tabs, automatic assignment from several processes),
    so the count cannot go stale between the check and the write. On
    SQLite the IMMEDIATE transaction holds the database write lock instead.
    """
    limit = _CAPACITY.first(key=profile.pk)
    if limit is None or count_staff_load(profile.user_id) >= limit:
        raise ChatError(
            "at_capacity",
            _("Vous avez déjà le nombre maximal de conversations simultanées."),
        )


# Every claim reads these: built once per connection (realtime.prepared).
_CAPACITY = row_lock(StaffProfile, "max_conversations")
_CLAIMED = Prepared(
    lambda key: Conversation.objects.filter(id=key)[:1], key=Conversation._meta.pk
)


def check_release_conversation(profile: StaffProfile, conversation_id: Any) -> None:
    conversation = access_conversation_as_operator(
        profile, conversation_id, active=False
    )
    do_release_conversation(conversation, reason="released", name=profile.pseudonym)


def check_flag_conversation(
    profile: StaffProfile, conversation_id: Any, *, urgent: Any, minor: Any
) -> Conversation:
    if urgent is not None and not isinstance(urgent, bool):
        raise ChatError("bad_request", _("urgent doit être vrai ou faux."))
    if minor is not None and not isinstance(minor, bool):
        raise ChatError("bad_request", _("minor doit être vrai ou faux."))
    conversation = access_conversation_for_staff(profile, conversation_id)
    _staff_has_role(profile, StaffProfile.Role.OPERATOR)
    if conversation.status == Conversation.Status.CLOSED:
        raise refusals.conversation_over()
    if conversation.status == Conversation.Status.ACTIVE:
        require_in_charge(profile, conversation, active=False)
    return do_flag_conversation(conversation, urgent=urgent, minor=minor)


def check_close_conversation(
    profile: StaffProfile, conversation_id: Any, *, outcome: Any, categories: Any
) -> bool:
    """Close with an outcome; return True if it was a wrap-up.

    A conversation the visitor ended (``leave``, quick exit) is already
    closed but waits for the operator's outcome: recording it is the
    wrap-up, allowed once, to the operator who was in charge.
    """
    allowed = {
        Conversation.Outcome.REPORT,
        Conversation.Outcome.ORIENTATION,
        Conversation.Outcome.INFORMATION,
        Conversation.Outcome.OTHER,
    }
    if outcome not in allowed:
        raise ChatError(
            "bad_request",
            _("Issue requise : report, orientation, information ou other."),
        )
    if categories is None:
        categories = []
    if not isinstance(categories, list) or not all(
        isinstance(item, str) and 0 < len(item) <= 64 for item in categories
    ):
        raise ChatError("bad_request", _("categories doit être une liste de textes."))
    conversation = access_conversation_as_operator(
        profile, conversation_id, active=False
    )
    if is_awaiting_wrap_up(conversation):
        if not do_record_wrap_up(
            conversation, outcome=outcome, categories=categories[:20]
        ):
            raise ChatError("bad_state", _("L'issue est déjà enregistrée."))
        return True
    if conversation.status != Conversation.Status.ACTIVE:
        raise refusals.not_active()
    do_close_conversation(conversation, outcome=outcome, categories=categories[:20])
    return False


def check_transfer_conversation(
    profile: StaffProfile, conversation_id: Any, *, service_slug: Any
) -> None:
    """Hand a conversation over to another service's queue, history kept."""
    if not isinstance(service_slug, str):
        raise refusals.service_not_text()
    conversation = access_conversation_as_operator(
        profile, conversation_id, active=False
    )
    target = Service.objects.filter(slug=service_slug, active=True).first()
    if target is None or target.id == conversation.service_id:
        raise refusals.unknown_target_service()
    do_transfer_conversation(conversation, target=target, name=profile.pseudonym)


def check_mark_abusive(profile: StaffProfile, conversation_id: Any) -> Conversation:
    """Close a conversation as abusive; its visitor's network is refused a while.

    Only the operator in charge may do it. The client key is never
    stored: the visitor's own socket blocks it (in memory or Redis, with a
    TTL), now if connected, or when it next resumes.
    """
    conversation = access_conversation_as_operator(
        profile, conversation_id, active=False
    )
    if conversation.status != Conversation.Status.ACTIVE:
        raise refusals.not_active()
    do_mark_abusive(conversation)
    return conversation


def check_confirm_force(profile: Any, conversation_id: Any, *, force: Any) -> dict:
    """Confirm the force of a conversation, or hand it to the other force.

    The operator in charge says which force is competent after asking the
    visitor (split commune, estimated value). The same force: the
    confirmation is recorded. The other force: the conversation is
    transferred to that force's queue, history kept, already confirmed.
    """
    if force not in FORCES:
        raise ChatError("bad_request", _("force doit valoir PN ou GN."))
    conversation = access_conversation_as_operator(profile, conversation_id)
    service = conversation.service
    if not service.routing_group or service.force not in FORCES:
        raise ChatError(
            "bad_state", _("Ce service n'est pas réparti entre police et gendarmerie.")
        )
    if force == service.force:
        do_confirm_force(conversation)
        return {"force": force, "service": service.slug, "transferred": False}
    target = get_other_force_service(service)
    if target is None:
        raise ChatError("invalid_service", _("Aucune file pour l'autre force."))
    do_hand_to_other_force(conversation, target=target, name=profile.pseudonym)
    return {"force": force, "service": target.slug, "transferred": True}

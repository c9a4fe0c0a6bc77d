"""What a staff member is in a conversation, answered in one place.

Every service acting on a conversation for a staff member comes in through
one of the ``access_conversation_as_*`` functions (issue 13), which read
the conversation among those the staff member may see (missing and
forbidden are the same ``not_found``) and refuse with the same codes and
texts wherever they are called:

- ``access_conversation_as_operator``: the operator in charge;
- ``access_conversation_as_participant``: anyone who may write to the
  visitor, with the role they write as;
- ``access_conversation_as_member``: anyone in it (notes, whispers), with
  their place.

The staff member comes from ``get_staff_profile``, and the read all three
share is ``access_conversation_for_staff``. Nothing below console (chat,
anonymity, realtime) may import this module (docs/architecture.md
"Layers").
"""

import functools
from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

from django.contrib.auth.models import User
from django.db.models import DateTimeField, Field, QuerySet

from chat import refusals
from chat.models import Conversation, Message
from console.models import Participant, StaffProfile
from realtime.prepared import Prepared


def get_staff_profile(user: User) -> StaffProfile | None:
    """Return the active staff profile of ``user``, or None."""
    if not user.is_authenticated or not user.is_active:
        return None
    return StaffProfile.objects.filter(user=user).prefetch_related("services").first()


def services_of(profile: int) -> QuerySet:
    """The ids of the services of the staff profile ``profile``, as a subquery."""
    return StaffProfile.services.through.objects.filter(staffprofile=profile).values(
        "service_id"
    )


def parse_conversation_id(conversation_id: Any) -> UUID:
    """Return the id as a UUID; what is not one is a conversation not found."""
    try:
        return UUID(str(conversation_id))
    except ValueError:
        raise refusals.conversation_not_found() from None


DEFAULT_RELATED = ("service", "commune")


def access_conversation_for_staff(
    profile: StaffProfile,
    conversation_id: Any,
    *,
    only: tuple[str, ...] = (),
    related: tuple[str, ...] = DEFAULT_RELATED,
    annotate: Callable[[datetime], dict[str, Any]] | None = None,
    since: datetime | None = None,
) -> Conversation:
    """Return a conversation of one of the staff member's services.

    Staff see conversations of the services they belong to, whatever
    their role, and the ones they have joined as a participant (a
    colleague of another service brought in by a warm handover); acting on
    one is checked by the ``access_conversation_as_*`` functions below or
    by the service function. Missing and forbidden raise the same
    ``not_found``.

    ``only``: the hot paths (a staff message) load just the fields they
    read; ``related``: the rows read with it; ``annotate(since)``: what
    else the same statement reads (the staff view's flags). Each shape is
    built once per connection (``realtime.prepared``): building it cost
    more than the rest of a claim's view.
    """
    key = parse_conversation_id(conversation_id)
    values = {"key": key, "since": since} if annotate else {"key": key}
    conversation = _in_services(only, related, annotate).first(
        profile=profile.pk, **values
    )
    if (
        conversation is None
        and Participant.objects.filter(
            conversation_id=key, user_id=profile.user_id, left_at__isnull=True
        ).exists()
    ):
        conversation = _by_id(only, related, annotate).first(**values)
    if conversation is None:
        raise refusals.conversation_not_found()
    return conversation


def _conversations(
    only: tuple[str, ...],
    related: tuple[str, ...],
    annotate: Callable[[datetime], dict[str, Any]] | None,
    key: UUID,
    since: datetime | None = None,
) -> QuerySet[Conversation]:
    loaded = (
        Conversation.objects.only(*only)
        if only
        else Conversation.objects.select_related(*related)
    )
    if annotate is not None:
        loaded = loaded.annotate(**annotate(since))
    return loaded.filter(id=key)


def _values(annotate: Any) -> dict[str, Field]:
    values = {"key": Conversation._meta.pk}
    if annotate is not None:
        values["since"] = DateTimeField()
    return values


@functools.cache
def _in_services(only: tuple, related: tuple, annotate: Any) -> Prepared:
    def build(profile: int, **values: Any) -> QuerySet[Conversation]:
        return _conversations(only, related, annotate, **values).filter(
            service__in=services_of(profile)
        )[:1]

    return Prepared(build, profile=StaffProfile._meta.pk, **_values(annotate))


@functools.cache
def _by_id(only: tuple, related: tuple, annotate: Any) -> Prepared:
    def build(**values: Any) -> QuerySet[Conversation]:
        return _conversations(only, related, annotate, **values)[:1]

    return Prepared(build, **_values(annotate))


def get_participant(profile: StaffProfile, conversation_id: UUID) -> Participant | None:
    """Return the staff member's current participation, if any."""
    return Participant.objects.filter(
        conversation_id=conversation_id, user_id=profile.user_id, left_at__isnull=True
    ).first()


def get_staff_place(profile: StaffProfile, conversation: Conversation) -> str | None:
    """Return how the staff member is in the conversation, or None.

    ``operator`` for the operator in charge, ``colleague`` for an operator
    of another service brought in, else ``psychologist`` or ``supervisor``.
    """
    if conversation.operator_id == profile.user_id:
        return "operator"
    participant = get_participant(profile, conversation.id)
    if participant is None:
        return None
    if participant.role == Participant.Role.OPERATOR:
        return "colleague"
    return participant.role


def staff_sender_role(profile: StaffProfile, conversation: Conversation) -> str:
    """Return the sender role of a staff member writing into ``conversation``.

    The operator in charge writes as ``operator``; a staff member who joined
    (console.Participant) writes under the role they joined with, while
    the conversation is active.
    """
    if conversation.operator_id == profile.user_id and profile.has_role(
        StaffProfile.Role.OPERATOR
    ):
        return Message.Sender.OPERATOR
    participant = (
        Participant.objects.filter(
            conversation_id=conversation.id,
            user_id=profile.user_id,
            left_at__isnull=True,
        )
        .only("role")
        .first()
    )
    if participant is not None and conversation.status == Conversation.Status.ACTIVE:
        return participant.role
    raise refusals.not_participating()


def require_in_charge(
    profile: StaffProfile, conversation: Conversation, *, active: bool = True
) -> None:
    """Refuse anyone but the operator in charge (of an active conversation).

    The checks run in this order everywhere: the role (``forbidden``),
    then the charge, then, unless ``active`` is False, the status (both
    ``bad_state``).
    """
    if not profile.has_role(StaffProfile.Role.OPERATOR):
        raise refusals.role_forbidden()
    if conversation.operator_id != profile.user_id:
        raise refusals.not_in_charge()
    if active and conversation.status != Conversation.Status.ACTIVE:
        raise refusals.not_active()


def access_conversation_as_operator(
    profile: StaffProfile, conversation_id: Any, *, active: bool = True
) -> Conversation:
    """Return a conversation the staff member is the operator in charge of.

    ``active=False`` lets the caller decide about a waiting or closed one
    (a wrap-up, a release that may have lost a race).
    """
    conversation = access_conversation_for_staff(profile, conversation_id)
    require_in_charge(profile, conversation, active=active)
    return conversation


def access_conversation_as_participant(
    profile: StaffProfile, conversation_id: Any, *, only: tuple[str, ...] = ()
) -> tuple[Conversation, str]:
    """Return a conversation the staff member may write in, and their role.

    ``only`` loads just those fields (the hot path of a staff message).
    """
    conversation = access_conversation_for_staff(profile, conversation_id, only=only)
    return conversation, staff_sender_role(profile, conversation)


def access_conversation_as_member(
    profile: StaffProfile, conversation_id: Any
) -> tuple[Conversation, str]:
    """Return a conversation the staff member is in, and their place.

    For staff-only lines (notes, whispers): being in it is enough, active
    or not.
    """
    conversation = access_conversation_for_staff(profile, conversation_id)
    place = get_staff_place(profile, conversation)
    if place is None:
        raise refusals.not_participating()
    return conversation, place

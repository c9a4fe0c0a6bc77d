"""Bringing staff into a conversation: invitations, joining, leaving.

A psychologist or a colleague of another service joins only after the
visitor agreed (``Invitation``: asking, then offered, then accepted by
exactly one of them). A supervisor joins any active conversation of their
services silently, and becomes visible to the visitor only by writing.
Staff-only lines (notes, whispers) and silent joins go to the
conversation's staff group, never to the group the visitor listens to.
"""

from typing import Any
from uuid import UUID

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from anonymity.crypto import encrypt_note
from chat import events, refusals
from chat.errors import ChatError
from chat.hours import format_hours, is_psychologist_available
from chat.models import Conversation, Message, Note, Service
from chat.services.messages import (
    Draft,
    InCharge,
    check_client_id,
    check_text,
    do_send_message,
    do_store_draft,
    new_draft,
)
from chat.services.queue import do_notify_queue_changed
from chat.signals import announce_arrival
from console.access import (
    access_conversation_as_member,
    access_conversation_as_operator,
    access_conversation_as_participant,
    access_conversation_for_staff,
    get_participant,
    get_staff_place,
    parse_conversation_id,
)
from console.auth import Grant, access_condition
from console.models import Invitation, Participant, StaffProfile, Whisper
from console.selectors import (
    list_staff_on_duty,
    may_take_invitation,
    visitor_invitation_text,
)
from console.services.conversations import do_lock_capacity

SUMMARY_MAX_CHARS = 600


def _parse_id(value: Any) -> UUID:
    try:
        return UUID(str(value)) if isinstance(value, str) else _not_found()
    except ValueError:
        return _not_found()


def _not_found() -> UUID:
    raise refusals.conversation_not_found()


# -- invite -------------------------------------------------------------------


def check_invite(
    profile: StaffProfile,
    conversation_id: Any,
    *,
    role: Any,
    service_slug: Any = None,
    summary: Any = "",
) -> Invitation:
    """Ask the visitor whether a psychologist or a colleague may join.

    Only the operator in charge invites, and only when someone could
    answer: a psychologist of the service on duty and online, or an
    operator of the other service online.
    """
    if summary is None:
        summary = ""
    if not isinstance(summary, str) or len(summary) > SUMMARY_MAX_CHARS:
        raise ChatError(
            "bad_request",
            _("Le résumé est un texte de %(limit)s caractères au plus.")
            % {"limit": SUMMARY_MAX_CHARS},
        )
    if role not in Invitation.Role.values:
        raise ChatError("bad_request", _("role doit être psychologist ou operator."))
    if role == Invitation.Role.OPERATOR and not isinstance(service_slug, str):
        raise refusals.service_not_text()
    conversation = access_conversation_as_operator(profile, conversation_id)
    if role == Invitation.Role.PSYCHOLOGIST:
        target = conversation.service
        check_psychologist_hours(target)
        available = list_staff_on_duty(target.id, StaffProfile.Role.PSYCHOLOGIST)
    else:
        target = Service.objects.filter(slug=service_slug, active=True).first()
        if target is None or target.id == conversation.service_id:
            raise refusals.unknown_target_service()
        available = [
            other
            for other in list_staff_on_duty(target.id, StaffProfile.Role.OPERATOR)
            if other.user_id != profile.user_id
        ]
    if not available:
        raise ChatError(
            "none_available", _("Personne n'est disponible pour le moment.")
        )
    return do_invite(
        conversation,
        role=role,
        service=target,
        summary=summary.strip(),
        invited_by=profile,
    )


def check_psychologist_hours(service: Service) -> None:
    """Refuse a psychologist's invitation outside the service's on-duty hours.

    ``Service.psychologist_hours`` is the psychologists' rota; a
    psychologist still logged in after it ends is not on duty, and a
    visitor must not be asked about someone who will not come.
    """
    if is_psychologist_available(service):
        return
    raise ChatError(
        "psychologist_off_duty",
        _(
            "Aucun·e psychologue n'est de permanence en ce moment. "
            "Permanence : %(hours)s."
        )
        % {"hours": format_hours(service.psychologist_hours or service.opening_hours)},
    )


def do_invite(
    conversation: Conversation,
    *,
    role: str,
    service: Service,
    summary: str,
    invited_by: StaffProfile,
) -> Invitation:
    """Open an invitation and ask the visitor; one open per conversation."""
    try:
        with transaction.atomic():
            invitation = Invitation(
                conversation=conversation,
                role=role,
                service=service,
                summary_ciphertext=(
                    encrypt_note(conversation.id, summary, kind="summary")
                    if summary
                    else b""
                ),
                invited_by=invited_by.user,
            )
            invitation.full_clean(validate_constraints=False)
            invitation.save()
            events.notify_invitation_to_visitor(
                conversation.id,
                invitation_id=invitation.id,
                status=invitation.status,
                role=role,
                text=visitor_invitation_text(invitation, conversation.lang),
            )
            events.notify_invitation_changed(
                conversation.id, invitation.id, service_id=service.id
            )
    except IntegrityError:
        raise ChatError(
            "bad_state", _("Une invitation est déjà en cours pour cette conversation.")
        ) from None
    return invitation


def check_answer_invitation(
    conversation: Conversation, *, invitation_id: Any, accept: Any
) -> Invitation:
    """Record the visitor's answer to an invitation of their conversation."""
    if not isinstance(accept, bool):
        raise refusals.accept_not_bool()
    try:
        key = UUID(str(invitation_id)) if isinstance(invitation_id, str) else None
    except ValueError:
        key = None
    invitation = (
        Invitation.objects.filter(id=key, conversation_id=conversation.id)
        .select_related("service")
        .first()
        if key
        else None
    )
    if invitation is None:
        raise refusals.request_not_found()
    return do_answer_invitation(invitation, accept=accept)


@transaction.atomic
def do_answer_invitation(invitation: Invitation, *, accept: bool) -> Invitation:
    """Move an invitation from asking to offered (or declined); once."""
    now = timezone.now()
    status = Invitation.Status.OFFERED if accept else Invitation.Status.DECLINED
    updated = Invitation.objects.filter(
        id=invitation.id, status=Invitation.Status.ASKING
    ).update(status=status, answered_at=now, closed_at=None if accept else now)
    if not updated:
        raise ChatError("bad_state", _("Cette demande n'est plus en cours."))
    invitation.status = status
    events.notify_invitation_changed(
        invitation.conversation_id, invitation.id, service_id=invitation.service_id
    )
    return invitation


def check_cancel_invitation(profile: StaffProfile, invitation_id: Any) -> Invitation:
    """Withdraw an open invitation: the operator in charge only."""
    try:
        key = UUID(str(invitation_id)) if isinstance(invitation_id, str) else None
    except ValueError:
        key = None
    invitation = (
        Invitation.objects.filter(id=key).select_related("service").first()
        if key
        else None
    )
    if invitation is None:
        raise ChatError("not_found", _("Invitation introuvable."))
    access_conversation_as_operator(profile, invitation.conversation_id)
    if not do_cancel_invitation(invitation):
        raise ChatError("bad_state", _("Cette invitation n'est plus en cours."))
    return invitation


@transaction.atomic
def do_cancel_invitation(invitation: Invitation) -> bool:
    updated = Invitation.objects.filter(
        id=invitation.id, status__in=Invitation.OPEN_STATUSES
    ).update(status=Invitation.Status.CANCELLED, closed_at=timezone.now())
    if not updated:
        return False
    events.notify_invitation_to_visitor(
        invitation.conversation_id,
        invitation_id=invitation.id,
        status=Invitation.Status.CANCELLED,
        role=invitation.role,
        text="",
    )
    events.notify_invitation_changed(
        invitation.conversation_id, invitation.id, service_id=invitation.service_id
    )
    return True


# -- join and leave -------------------------------------------------------------


def check_join_conversation(profile: StaffProfile, conversation_id: Any) -> UUID:
    """Join a conversation: an invitation offered to me, or watch it.

    A psychologist or colleague needs an invitation the visitor accepted;
    a supervisor may watch any active conversation of their services.
    Anyone else is refused and nothing changes.
    """
    key = _parse_id(conversation_id)
    offered = [
        invitation
        for invitation in Invitation.objects.filter(
            conversation_id=key, status=Invitation.Status.OFFERED
        ).select_related("service")
        if may_take_invitation(profile, invitation)
    ]
    if offered:
        status = (
            Conversation.objects.filter(id=key).values_list("status", flat=True).first()
        )
        if status != Conversation.Status.ACTIVE:
            # Closed or back in the queue since: withdraw it for everyone.
            do_cancel_invitation(offered[0])
            raise refusals.not_active()
        return do_accept_invitation(profile, offered[0])
    conversation = access_conversation_for_staff(profile, key)
    if not profile.has_role(StaffProfile.Role.SUPERVISOR):
        raise refusals.role_forbidden()
    if conversation.status != Conversation.Status.ACTIVE:
        raise refusals.not_active()
    if get_staff_place(profile, conversation) is not None:
        raise refusals.already_in_conversation()
    return do_watch_conversation(profile, conversation)


@transaction.atomic
def do_accept_invitation(profile: StaffProfile, invitation: Invitation) -> UUID:
    """Take an offered invitation; exactly one invitee wins.

    The conditional UPDATE on ``status = offered`` decides, and the
    invitee's capacity is checked in the same transaction.
    """
    do_lock_capacity(profile)
    now = timezone.now()
    updated = Invitation.objects.filter(
        id=invitation.id, status=Invitation.Status.OFFERED
    ).update(status=Invitation.Status.ACCEPTED, accepted_by=profile.user, closed_at=now)
    if not updated:
        raise ChatError("already_claimed", _("Une ou un collègue a déjà rejoint."))
    conversation = Conversation.objects.get(id=invitation.conversation_id)
    if conversation.status != Conversation.Status.ACTIVE:
        raise refusals.not_active()
    Participant.objects.create(
        conversation=conversation,
        user=profile.user,
        role=invitation.role,
        invitation=invitation,
    )
    events.notify_participant_changed(
        conversation.id, change="joined", role=invitation.role, name=profile.pseudonym
    )
    events.notify_invitation_changed(
        conversation.id, invitation.id, service_id=invitation.service_id
    )
    events.notify_assigned(profile.user_id, conversation.id)
    do_notify_queue_changed(conversation.service_id)
    return conversation.id


@transaction.atomic
def do_watch_conversation(profile: StaffProfile, conversation: Conversation) -> UUID:
    """Join as a silent supervisor: staff see it, the visitor does not."""
    try:
        with transaction.atomic():
            Participant.objects.create(
                conversation=conversation,
                user=profile.user,
                role=Participant.Role.SUPERVISOR,
                silent=True,
            )
    except IntegrityError:
        raise refusals.already_in_conversation() from None
    events.notify_staff_participant_changed(
        conversation.id,
        change="joined",
        role=Participant.Role.SUPERVISOR,
        name=profile.pseudonym,
        silent=True,
    )
    events.notify_assigned(profile.user_id, conversation.id)
    return conversation.id


def check_leave_conversation(profile: StaffProfile, conversation_id: Any) -> str:
    """Leave a conversation; return the reason the console shows.

    A participant simply leaves. The operator in charge leaves only by
    handing over to a colleague who joined (warm handover); otherwise
    they release or close it.
    """
    conversation = access_conversation_for_staff(profile, conversation_id)
    if conversation.operator_id == profile.user_id:
        colleague = (
            Participant.objects.filter(
                conversation=conversation,
                left_at__isnull=True,
                role=Participant.Role.OPERATOR,
            )
            .select_related("user__staff", "invitation")
            .order_by("joined_at")
            .first()
        )
        if colleague is None or conversation.status != Conversation.Status.ACTIVE:
            raise ChatError(
                "bad_state",
                _("Personne pour reprendre : remettez en file ou clôturez."),
            )
        if not do_hand_over(conversation, operator=profile, colleague=colleague):
            raise refusals.not_active()
        return "handed_over"
    participant = get_participant(profile, conversation.id)
    if participant is None:
        raise refusals.not_participating()
    do_leave_as_participant(participant, name=profile.pseudonym)
    return "left"


@transaction.atomic
def do_leave_as_participant(participant: Participant, *, name: str) -> bool:
    updated = Participant.objects.filter(
        id=participant.id, left_at__isnull=True
    ).update(left_at=timezone.now())
    if not updated:
        return False
    if participant.silent:
        events.notify_staff_participant_changed(
            participant.conversation_id,
            change="left",
            role=participant.role,
            name=name,
            silent=True,
        )
    else:
        events.notify_participant_changed(
            participant.conversation_id, change="left", role=participant.role, name=name
        )
    events.notify_unassigned(participant.user_id, participant.conversation_id, "left")
    return True


@transaction.atomic
def do_hand_over(
    conversation: Conversation, *, operator: StaffProfile, colleague: Participant
) -> bool:
    """Make the colleague who joined the operator in charge; I leave.

    The conversation moves to the colleague's service with its whole
    history, so the visitor never tells their story twice.
    """
    target_service_id = (
        colleague.invitation.service_id
        if colleague.invitation is not None
        else conversation.service_id
    )
    updated = Conversation.objects.filter(
        id=conversation.id,
        status=Conversation.Status.ACTIVE,
        operator_id=operator.user_id,
    ).update(
        operator_id=colleague.user_id,
        service_id=target_service_id,
        claimed_at=timezone.now(),
        operator_grace_until=None,
    )
    if not updated:
        return False
    announce_arrival(
        conversation.id,
        service_id=target_service_id,
        from_service_id=conversation.service_id,
        kind="handover",
        started_at=conversation.created_at,
    )
    target = Service.objects.get(id=target_service_id)
    Participant.objects.filter(id=colleague.id).update(left_at=timezone.now())
    events.notify_participant_changed(
        conversation.id,
        change="left",
        role=StaffProfile.Role.OPERATOR,
        name=operator.pseudonym,
    )
    events.notify_staff_participant_changed(
        conversation.id,
        change="in_charge",
        role=StaffProfile.Role.OPERATOR,
        name=colleague.user.staff.pseudonym,
        silent=False,
        user_id=colleague.user_id,
        service=target.slug,
        service_name=target.name,
    )
    events.notify_unassigned(operator.user_id, conversation.id, "handed_over")
    do_notify_queue_changed(conversation.service_id)
    if target_service_id != conversation.service_id:
        do_notify_queue_changed(target_service_id)
    return True


# -- writing ----------------------------------------------------------------


def check_send_staff_message(
    profile: StaffProfile, conversation_id: Any, *, text: Any, client_id: Any
) -> tuple[Message, bool]:
    """Store a staff message; a silent supervisor who writes becomes visible.

    The operator in charge, the common case, is checked by the write
    itself (``InCharge``): one UPDATE matches only while they are in charge
    in one of their services. Everyone else, and an operator it did not
    match, goes through the full access rule.

    The visitor first sees the supervisor join, then the message. Both
    commit together: a message refused after the reveal (the conversation
    closed meanwhile) leaves the supervisor silent, whoever the caller.
    """
    body = check_text(text)
    key = check_client_id(client_id)
    if profile.has_role(StaffProfile.Role.OPERATOR):
        stored = _send_in_charge(profile, conversation_id, body, key)
        if stored is not None:
            return stored
    conversation, sender = access_conversation_as_participant(
        profile, conversation_id, only=("id", "status", "operator_id")
    )
    with transaction.atomic():
        if sender == Message.Sender.SUPERVISOR:
            participant = get_participant(profile, conversation.id)
            if participant is not None and participant.silent:
                do_unsilence(participant, name=profile.pseudonym)
        stored = do_send_message(
            conversation.id,
            sender=sender,
            author_id=profile.user_id,
            author_name=profile.pseudonym,
            body=body,
            client_id=key,
        )
    assert stored is not None  # noqa: S101 - no in_charge, never None.
    return stored


def check_send_in_charge_message(
    profile: StaffProfile,
    grant: Grant,
    conversation_id: Any,
    *,
    text: Any,
    client_id: Any,
    expect_seq: int,
) -> tuple[Message, bool] | None:
    """The operator in charge's message in one statement, or None.

    The common case of ``check_send_staff_message`` without its
    transaction: the statement that stores the message also checks that
    the operator is in charge and that the account's access stamp is the
    one ``grant`` was checked under (``console.auth.access_condition``).
    None, with nothing stored, whenever any of that or ``expect_seq`` does
    not hold: the caller then takes the full path.
    """
    drafted = in_charge_draft(
        profile,
        grant,
        _service_ids(profile),
        conversation_id,
        text=text,
        client_id=client_id,
    )
    if drafted is None:
        return None
    draft, in_charge = drafted
    return do_store_draft(draft, in_charge=in_charge, expect_seq=expect_seq)


def in_charge_draft(
    profile: StaffProfile,
    grant: Grant,
    service_ids: tuple[int, ...],
    conversation_id: Any,
    *,
    text: Any,
    client_id: Any,
) -> tuple[Draft, InCharge] | None:
    """``check_send_in_charge_message`` for ``store_expected_in_loop``.

    The message and the condition of its one statement, without touching
    the database: ``service_ids`` are those of the socket's account
    signature (``profile``'s own services, read when it was checked).
    None when the statement cannot apply: the caller takes the full path.
    """
    body = check_text(text)
    key = check_client_id(client_id)
    if not profile.has_role(StaffProfile.Role.OPERATOR):
        return None
    condition = access_condition(profile.user_id, grant)
    if condition is None:
        return None
    in_charge = InCharge(
        operator_id=profile.user_id, service_ids=service_ids, condition=condition
    )
    return _operator_draft(profile, conversation_id, body, key), in_charge


def _send_in_charge(
    profile: StaffProfile, conversation_id: Any, body: str, key: UUID
) -> tuple[Message, bool] | None:
    """The operator's message, stored only while they are in charge of it
    in one of their services (``InCharge``); None stores nothing."""
    in_charge = InCharge(operator_id=profile.user_id, service_ids=_service_ids(profile))
    return do_store_draft(
        _operator_draft(profile, conversation_id, body, key), in_charge=in_charge
    )


def _operator_draft(
    profile: StaffProfile, conversation_id: Any, body: str, key: UUID
) -> Draft:
    return new_draft(
        parse_conversation_id(conversation_id),
        sender=Message.Sender.OPERATOR,
        author_id=profile.user_id,
        author_name=profile.pseudonym,
        body=body,
        client_id=key,
    )


def _service_ids(profile: StaffProfile) -> tuple[int, ...]:
    return tuple(service.id for service in profile.services.all())


@transaction.atomic
def do_unsilence(participant: Participant, *, name: str) -> bool:
    updated = Participant.objects.filter(id=participant.id, silent=True).update(
        silent=False
    )
    if updated:
        events.notify_participant_changed(
            participant.conversation_id,
            change="joined",
            role=participant.role,
            name=name,
        )
    return bool(updated)


def check_send_staff_typing(
    profile: StaffProfile, conversation_id: Any, *, active: Any, origin: str
) -> None:
    """Signal typing; a silent supervisor's typing reaches nobody."""
    if not isinstance(active, bool):
        raise refusals.active_not_bool()
    conversation, sender = access_conversation_as_participant(profile, conversation_id)
    if conversation.status == Conversation.Status.CLOSED:
        raise refusals.conversation_over()
    participant = get_participant(profile, conversation.id)
    if participant is not None and participant.silent:
        return
    events.notify_typing(conversation.id, sender=sender, active=active, origin=origin)


def check_add_note(profile: StaffProfile, conversation_id: Any, *, text: Any) -> Note:
    """Store a private note; staff in the conversation see it, never the visitor."""
    body = check_text(text)
    conversation, _place = access_conversation_as_member(profile, conversation_id)
    return do_add_note(conversation, author=profile, body=body)


@transaction.atomic
def do_add_note(conversation: Conversation, *, author: StaffProfile, body: str) -> Note:
    note = Note.objects.create(
        conversation=conversation,
        author=author.user,
        ciphertext=encrypt_note(conversation.id, body),
    )
    events.notify_note_added(conversation.id, note.id)
    return note


def check_send_whisper(
    profile: StaffProfile, conversation_id: Any, *, text: Any
) -> Whisper:
    """Say something to the conversation's staff only (supervisor whisper)."""
    body = check_text(text)
    conversation, place = access_conversation_as_member(profile, conversation_id)
    if conversation.status == Conversation.Status.CLOSED:
        raise refusals.conversation_over()
    return do_send_whisper(conversation, author=profile, role=place, body=body)


@transaction.atomic
def do_send_whisper(
    conversation: Conversation, *, author: StaffProfile, role: str, body: str
) -> Whisper:
    whisper = Whisper(
        conversation=conversation,
        author=author.user,
        author_name=author.pseudonym,
        author_role=role,
        # The notes' key and AAD: a whisper is a note addressed to staff.
        ciphertext=encrypt_note(conversation.id, body, kind="whisper"),
    )
    whisper.full_clean()
    whisper.save()
    events.notify_whisper_added(conversation.id, whisper.id)
    return whisper

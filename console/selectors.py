"""Read paths of the staff console.

Everything a console socket shows is built here. Staff-only content
(notes, whispers, invitation summaries) is rendered only for a staff member
who is in the conversation, or, for an invitation, one it is offered to.
"""

import functools
from datetime import datetime, time, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils import timezone, translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from anonymity.crypto import decrypt_note, load_data_key, read_or_unreadable
from chat.competence import queue_competence_fields, render_competence
from chat.errors import ChatError
from chat.hours import format_hours, is_psychologist_available
from chat.models import Connection, Conversation, Note, Service
from chat.selectors import (
    iso_utc,
    list_messages_after,
    render_message,
)
from chat.services.queue import QUEUE_ORDER, queue_sort_key
from console import extensions
from console.access import (
    access_conversation_for_staff,
    get_staff_place,
    get_staff_profile,
    services_of,
)
from console.models import CannedAnswer, Invitation, Participant, StaffProfile, Whisper
from realtime.prepared import Prepared
from receipts.selectors import (
    follow_up_fields,
    has_follow_up,
    list_follow_up_marks,
)

PARIS = ZoneInfo("Europe/Paris")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
BOARD_LIMIT = 300

# Categories an operator may tick when closing (the statistics count them).
CLOSE_CATEGORIES = [
    ("conjugal", _("violences conjugales")),
    ("sexual", _("violences sexuelles")),
    ("sexist", _("violences sexistes, harcèlement")),
    ("family", _("violences intrafamiliales")),
    ("child", _("enfant en danger")),
    ("cyber", _("cyberviolences")),
    ("work", _("violences au travail")),
    ("other", _("autre")),
]


# -- who is who -------------------------------------------------------------


def get_console_profile(user: Any) -> StaffProfile | None:
    """Return the staff profile with its services loaded, or None."""
    profile = get_staff_profile(user)
    if profile is not None:
        list(profile.services.all())
    return profile


ACTIVE = Conversation.Status.ACTIVE.value
SUPERVISOR = Participant.Role.SUPERVISOR.value
_CONVERSATIONS = Conversation._meta.db_table
_PARTICIPANTS = Participant._meta.db_table
# Table names and placeholders only: every value is a parameter.
LOAD_SQL = (
    f"SELECT (SELECT COUNT(*) FROM {_CONVERSATIONS}"  # noqa: S608 - tables only.
    " WHERE operator_id = %s AND status = %s)"
    f" + (SELECT COUNT(*) FROM {_PARTICIPANTS} p"
    f" JOIN {_CONVERSATIONS} c ON c.id = p.conversation_id"
    " WHERE p.user_id = %s AND p.left_at IS NULL AND p.role <> %s"
    " AND c.status = %s)"
)


def count_staff_load(user_id: int) -> int:
    """Return how many active conversations occupy the staff member.

    Conversations in charge, plus the ones joined as psychologist or
    colleague; a supervisor watching does not count.

    Both counts in one statement, inside every claim. Written out: the
    ORM's subqueries cost more to build than the round trip they save
    (docs/decisions.md, "Hot reads of a fixed shape").
    """
    with connection.cursor() as cursor:
        cursor.execute(LOAD_SQL, [user_id, ACTIVE, user_id, SUPERVISOR, ACTIVE])
        return cursor.fetchone()[0]


def is_on_duty(profile: StaffProfile, *, at: datetime | None = None) -> bool:
    """Return True if ``at`` is within the staff member's duty hours.

    Hours are Paris wall-clock time, as for services; none means always.
    """
    if not profile.duty_hours:
        return True
    local = (at or timezone.now()).astimezone(PARIS)
    now = local.time()
    for start, end in profile.duty_hours.get(WEEKDAYS[local.weekday()], []):
        closing = time.max if end == "24:00" else time.fromisoformat(end)
        if time.fromisoformat(start) <= now < closing:
            return True
    return False


def online_user_ids() -> Any:  # a QuerySet of user ids
    """Return the users with a console socket alive (any process), unread."""
    fresh = timezone.now() - timedelta(seconds=settings.PRESENCE_STALE_SECONDS)
    return Connection.objects.filter(
        heartbeat_at__gte=fresh, user_id__isnull=False
    ).values_list("user_id", flat=True)


def list_online_user_ids() -> set[int]:
    """Return the users with a console socket alive (any process)."""
    return set(online_user_ids().distinct())


def list_staff_on_duty(service_id: int, role: str) -> list[StaffProfile]:
    """Return the staff of ``service_id`` with ``role``, online and on duty.

    Who is online is a subquery: one statement, not one per step. The
    role is matched in the text of the roles list first, so a claim's view
    (which asks who could be invited as psychologist) loads the few
    psychologists, not every operator online (issue 14); ``has_role``
    then checks exactly.
    """
    profiles = StaffProfile.objects.filter(
        services__id=service_id,
        user__is_active=True,
        user_id__in=online_user_ids(),
        roles__icontains=f'"{role}"',
    ).select_related("user")
    return [
        profile
        for profile in profiles
        if profile.has_role(role) and is_on_duty(profile)
    ]


# -- rendering --------------------------------------------------------------


def pseudonym_of(user: Any) -> str:
    profile = getattr(user, "staff", None) if user is not None else None
    return profile.pseudonym if profile is not None else ""


def render_hello_user(profile: StaffProfile) -> dict[str, Any]:
    return {
        "name": profile.pseudonym,
        "roles": list(profile.roles),
        "services": sorted(service.slug for service in profile.services.all()),
    }


QUEUE_LIMIT = 500

# A queue item with its sort key (``chat.services.queue.queue_sort_key``).
QueueEntry = tuple[tuple[bool, datetime, UUID], dict[str, Any]]


def list_queue_items(profile: StaffProfile) -> list[dict[str, Any]]:
    """Return the waiting conversations of the staff member's services."""
    # The services were read with the profile (console.auth).
    service_ids = [service.id for service in profile.services.all()]
    return merge_queue_snapshots(list_queue_snapshots(service_ids).values())


def list_queue_snapshots(service_ids: list[int]) -> dict[int, list[QueueEntry]]:
    """Return each service's waiting conversations (the first 500), in order.

    One query for all the services: a process computes this once per queue
    change and gives every operator socket the merge of its services'
    lists (``console.queue_feed``), instead of one query per socket.
    """
    now = timezone.now()
    snapshots: dict[int, list[QueueEntry]] = {sid: [] for sid in service_ids}
    if not service_ids:
        return snapshots
    ids = {f"s{index}": service_id for index, service_id in enumerate(service_ids)}
    for conversation in _waiting_in(len(ids)).all(**ids):
        entries = snapshots[conversation.service_id]
        if len(entries) >= QUEUE_LIMIT:
            continue
        entries.append(
            (
                queue_sort_key(conversation),
                {
                    "conversation": str(conversation.id),
                    "service": conversation.service.slug,
                    "role": conversation.visitor_role,
                    "place": conversation.place_label,
                    "waiting_s": round((now - conversation.created_at).total_seconds()),
                    "urgent": conversation.urgent,
                    "minor": conversation.minor,
                    **queue_competence_fields(conversation),
                },
            )
        )
    # Follow-up marks for the whole snapshot in one query, not one per item.
    ids = [
        entry[1]["conversation"] for entries in snapshots.values() for entry in entries
    ]
    marks = list_follow_up_marks(ids)
    for entries in snapshots.values():
        for _key, item in entries:
            mark = marks.get(item["conversation"])
            if mark:
                item["follow_up"] = mark
    return snapshots


@functools.cache
def _waiting_in(count: int) -> Prepared:
    """The waiting conversations of ``count`` services, built once each."""

    def build(**services: int) -> QuerySet[Conversation]:
        waiting = (
            Conversation.objects.filter(
                service_id__in=list(services.values()),
                status=Conversation.Status.WAITING,
            )
            .select_related("service")
            .order_by(*QUEUE_ORDER)
        )
        return waiting[:QUEUE_LIMIT] if count == 1 else waiting

    service = Conversation._meta.get_field("service")
    return Prepared(build, **{f"s{index}": service for index in range(count)})


def merge_queue_snapshots(snapshots: Any) -> list[dict[str, Any]]:
    """Merge per-service snapshots into one queue, in order, 500 at most."""
    entries = [entry for snapshot in snapshots for entry in snapshot]
    entries.sort(key=lambda entry: entry[0])
    return [item for _key, item in entries[:QUEUE_LIMIT]]


def list_active_conversations(profile: StaffProfile) -> list[Conversation]:
    """Return the conversations the staff member is in now.

    In charge of, or joined (psychologist, colleague, supervisor); and the
    ones the visitor ended that still wait for this operator's outcome.
    """
    return list_wrap_ups(profile) + _ACTIVE.all(user=profile.user_id)


def _active(user: int) -> QuerySet[Conversation]:
    joined = Participant.objects.filter(user_id=user, left_at__isnull=True)
    return (
        Conversation.objects.filter(status=Conversation.Status.ACTIVE)
        .filter(Q(operator_id=user) | Q(id__in=joined.values("conversation_id")))
        .select_related("service", "operator__staff")
        .order_by("claimed_at")
    )


# Each console's hello reads these: built once per connection
# (realtime.prepared).
_USER = StaffProfile._meta.get_field("user")
_ACTIVE = Prepared(_active, user=_USER)


def list_wrap_ups(profile: StaffProfile) -> list[Conversation]:
    """Return the operator's conversations the visitor ended, outcome unrecorded.

    Only recent ones (``CONSOLE_WRAP_UP_HOURS``): an outcome nobody
    recorded by then is left as "the person left".
    """
    since = timezone.now() - timedelta(hours=settings.CONSOLE_WRAP_UP_HOURS)
    return _WRAP_UPS.all(user=profile.user_id, since=since)


_WRAP_UPS = Prepared(
    lambda user, since: (
        Conversation.objects.filter(
            operator_id=user,
            status=Conversation.Status.CLOSED,
            outcome=Conversation.Outcome.VISITOR_LEFT,
            closed_at__gte=since,
        )
        .select_related("service", "operator__staff")
        .order_by("closed_at")[:20]
    ),
    user=_USER,
    since=Conversation._meta.get_field("closed_at"),
)


def is_wrap_up_for(profile: StaffProfile, conversation_id: UUID) -> bool:
    """True if the visitor ended the conversation and ``profile`` records it."""
    return Conversation.objects.filter(
        id=conversation_id,
        operator_id=profile.user_id,
        status=Conversation.Status.CLOSED,
        outcome=Conversation.Outcome.VISITOR_LEFT,
    ).exists()


def get_visitor_presence(conversation: Conversation) -> str:
    """Return ``here``, ``reconnecting`` or ``gone`` for the staff view."""
    if conversation.status == Conversation.Status.CLOSED:
        return "gone"
    here = getattr(conversation, "visitor_here", None)
    if here is None:
        fresh = timezone.now() - timedelta(seconds=settings.PRESENCE_STALE_SECONDS)
        here = Connection.objects.filter(
            conversation_id=conversation.id, heartbeat_at__gte=fresh
        ).exists()
    return "here" if here else "reconnecting"


def get_psychologist_duty_for(
    profile: StaffProfile, conversation_id: UUID
) -> dict[str, Any]:
    """Return the psychologists' duty for a conversation the staff member sees."""
    conversation = access_conversation_for_staff(profile, conversation_id)
    return get_psychologist_duty(conversation.service)


def get_psychologist_duty(service: Service) -> dict[str, Any]:
    """Return who could be invited as psychologist now, and the rota.

    The invite dialog asks for it when it opens (``psychologists``);
    ``check_invite`` enforces the same rules.
    """
    rota = get_psychologist_rota(service)
    names = (
        [
            profile.pseudonym
            for profile in list_staff_on_duty(
                service.id, StaffProfile.Role.PSYCHOLOGIST
            )
        ]
        if rota["on_duty"]
        else []
    )
    return {**rota, "available": sorted(names)}


def get_psychologist_rota(service: Service) -> dict[str, Any]:
    """Whether the psychologists' rota is on now, and its hours.

    What a conversation's view carries: read from the service row, no
    statement. Who is online is asked by the invite dialog when it opens,
    as it changes during a conversation anyway; a claim used to read it
    for every view it sent (issue 14).
    """
    return {
        "on_duty": is_psychologist_available(service),
        "hours": format_hours(service.psychologist_hours or service.opening_hours),
    }


def render_participant(participant: Participant) -> dict[str, Any]:
    return {
        "role": participant.role,
        "name": pseudonym_of(participant.user),
        "silent": participant.silent,
    }


def render_note(note: Note) -> dict[str, Any]:
    return {
        "type": "note",
        "conversation": str(note.conversation_id),
        "id": note.id,
        "name": pseudonym_of(note.author),
        "text": read_or_unreadable(
            lambda: decrypt_note(note.conversation_id, note.ciphertext),
            what="note",
            conversation_id=note.conversation_id,
            row_id=note.id,
        ),
        "at": iso_utc(note.created_at),
    }


def render_whisper(whisper: Whisper) -> dict[str, Any]:
    return {
        "type": "whisper",
        "conversation": str(whisper.conversation_id),
        "id": whisper.id,
        "from": whisper.author_role,
        "name": whisper.author_name,
        "text": read_or_unreadable(
            lambda: decrypt_note(
                whisper.conversation_id, bytes(whisper.ciphertext), kind="whisper"
            ),
            what="whisper",
            conversation_id=whisper.conversation_id,
            row_id=whisper.id,
        ),
        "at": iso_utc(whisper.created_at),
    }


def render_conversation(
    conversation: Conversation,
    *,
    with_history: bool = True,
    viewer: StaffProfile | None = None,
    place: str | None = None,
) -> dict[str, Any]:
    """Return the staff view of a conversation, history included.

    Notes, whispers and the open invitation are staff-only; callers render
    this only for staff who are in the conversation. ``place`` is the
    viewer's place when the caller has just read it.
    """
    participants = (
        Participant.objects.filter(conversation=conversation, left_at__isnull=True)
        .select_related("user__staff")
        .order_by("joined_at", "id")
        if _may_have(conversation, "has_participants")
        else []
    )
    data: dict[str, Any] = {
        "id": str(conversation.id),
        "service": conversation.service.slug,
        "service_name": conversation.service.name,
        "role": conversation.visitor_role,
        "place": conversation.place_label,
        "status": conversation.status,
        "urgent": conversation.urgent,
        "minor": conversation.minor,
        "competence": render_competence(conversation),
        "presence": get_visitor_presence(conversation),
        "wrap_up": conversation.status == Conversation.Status.CLOSED
        and conversation.outcome == Conversation.Outcome.VISITOR_LEFT,
        "psychologists": get_psychologist_rota(conversation.service),
        "started_at": iso_utc(conversation.created_at),
        "last_seq": conversation.last_seq,
        "operator": pseudonym_of(conversation.operator),
        "participants": [render_participant(p) for p in participants],
        **follow_up_fields(conversation),
    }
    if viewer is not None:
        data["as"] = place or get_staff_place(viewer, conversation)
    if with_history:
        # Every message took a seq from last_seq: none yet, nothing to read
        # (one arriving after the row was read comes as an event, as it
        # would just after the history read).
        data["history"] = (
            [
                render_message(message, for_staff=True)
                for message in list_messages_after(conversation.id, 0)
            ]
            if conversation.last_seq
            else []
        )
        data["notes"] = (
            [
                render_note(note)
                for note in Note.objects.filter(conversation=conversation)
                .select_related("author__staff")
                .order_by("created_at", "id")
            ]
            if _may_have(conversation, "has_notes")
            else []
        )
        data["whispers"] = (
            [
                render_whisper(whisper)
                for whisper in Whisper.objects.filter(conversation=conversation)
            ]
            if _may_have(conversation, "has_whispers")
            else []
        )
        # Added by the apps above (escalation: the latest consent's state,
        # never the details).
        for key, read in extensions.conversation_fields.items():
            data[key] = read(conversation)
        invitation = (
            Invitation.objects.filter(
                conversation=conversation, status__in=Invitation.OPEN_STATUSES
            )
            .select_related("service", "invited_by__staff")
            .first()
            if _may_have(conversation, "has_invitation")
            else None
        )
        if invitation is not None:
            # The conversation is the one in hand: no need to join it again.
            invitation.conversation = conversation
        data["invitation"] = render_invitation(invitation) if invitation else None
    return data


def render_invitation(
    invitation: Invitation, *, with_summary: bool = True
) -> dict[str, Any]:
    conversation = invitation.conversation
    frame: dict[str, Any] = {
        "type": "invitation",
        "invitation": str(invitation.id),
        "conversation": str(conversation.id),
        "role": invitation.role,
        "status": invitation.status,
        "service": invitation.service.slug,
        "service_name": invitation.service.name,
        "at": iso_utc(invitation.created_at),
    }
    if with_summary:
        summary = (
            read_or_unreadable(
                lambda: decrypt_note(
                    conversation.id,
                    bytes(invitation.summary_ciphertext),
                    kind="summary",
                ),
                what="summary",
                conversation_id=conversation.id,
                row_id=invitation.id,
            )
            if invitation.summary_ciphertext
            else ""
        )
        frame.update(
            summary=summary,
            name=pseudonym_of(invitation.invited_by),
            place=conversation.place_label,
            visitor_role=conversation.visitor_role,
            urgent=conversation.urgent,
            minor=conversation.minor,
        )
    return frame


def may_take_invitation(profile: StaffProfile, invitation: Invitation) -> bool:
    """Return True if the invitation is addressed to this staff member.

    Psychologists of the invited service for a psychologist; operators of
    the invited service, other than the inviter, for a colleague.
    """
    if not profile.services.filter(id=invitation.service_id).exists():
        return False
    if invitation.role == Invitation.Role.PSYCHOLOGIST:
        return profile.has_role(StaffProfile.Role.PSYCHOLOGIST)
    return (
        profile.has_role(StaffProfile.Role.OPERATOR)
        and invitation.invited_by_id != profile.user_id
    )


def get_invitation_frame(
    profile: StaffProfile, invitation_id: UUID | str
) -> dict[str, Any] | None:
    """Return the invitation as this staff member may see it, or None.

    Staff in the conversation see it whole. An invitee sees it whole once
    it is offered to them, and only its status after that (so their
    console can drop it); before the visitor agreed they see nothing.
    """
    invitation = (
        Invitation.objects.filter(id=invitation_id)
        .select_related("conversation__service", "service", "invited_by__staff")
        .first()
    )
    if invitation is None:
        return None
    if get_staff_place(profile, invitation.conversation) is not None:
        return render_invitation(invitation)
    if not may_take_invitation(profile, invitation):
        return None
    if invitation.status == Invitation.Status.OFFERED:
        return render_invitation(invitation)
    if invitation.status == Invitation.Status.ASKING:
        return None
    return render_invitation(invitation, with_summary=False)


def list_offered_invitations(profile: StaffProfile) -> list[dict[str, Any]]:
    """Return the invitations waiting for this staff member to take them."""
    return [
        render_invitation(invitation)
        for invitation in _OFFERED.all(profile=profile.pk)
        if may_take_invitation(profile, invitation)
    ]


_PROFILE = StaffProfile._meta.pk
_OFFERED = Prepared(
    lambda profile: (
        Invitation.objects.filter(
            status=Invitation.Status.OFFERED, service__in=services_of(profile)
        )
        .exclude(conversation__status=Conversation.Status.CLOSED)
        .select_related("conversation__service", "service", "invited_by__staff")
        .order_by("created_at")
    ),
    profile=_PROFILE,
)


def list_canned_answers(profile: StaffProfile) -> list[dict[str, Any]]:
    answers = _CANNED.all(profile=profile.pk)
    return [
        {
            "id": answer.id,
            "service": answer.service.slug,
            "title": answer.title,
            "text": answer.body,
        }
        for answer in answers
    ]


_CANNED = Prepared(
    lambda profile: CannedAnswer.objects.filter(
        service__in=services_of(profile)
    ).select_related("service"),
    profile=_PROFILE,
)


def list_services() -> list[dict[str, str]]:
    """Return every active service (transfer and handover targets)."""
    return [{"slug": slug, "name": name} for slug, name in _SERVICES.all()]


_SERVICES = Prepared(
    lambda: (
        Service.objects.filter(active=True).order_by("name").values_list("slug", "name")
    )
)


def get_hello(profile: StaffProfile) -> dict[str, Any]:
    return {
        "type": "hello",
        "user": render_hello_user(profile),
        "queue": list_queue_items(profile),
        "conversations": [
            render_conversation(conversation, viewer=profile)
            for conversation in list_active_conversations(profile)
        ],
        "invitations": list_offered_invitations(profile),
        "canned": list_canned_answers(profile),
        "services": list_services(),
        "categories": [
            {"code": code, "label": str(label)} for code, label in CLOSE_CATEGORIES
        ],
        "capacity": profile.max_conversations,
        "auto_assign": profile.auto_assign,
        "on_duty": is_on_duty(profile),
    }


# The view shows the service and the operator's pseudonym; not the
# commune (the place label is on the conversation).
ASSIGNED_RELATED = ("service", "operator__staff")


def assigned_flags(fresh: datetime) -> dict[str, Exists]:
    """What the staff view may have to read, asked with the conversation.

    Each flag false spares ``render_conversation`` a read: a conversation
    just claimed has no participant, note, whisper, invitation, consent or
    follow-up yet, and no history (``last_seq``). ``fresh``: the time a
    visitor's socket must have been seen since to be here.
    """
    of_it = {"conversation_id": OuterRef("id")}
    return {
        "visitor_here": Exists(
            Connection.objects.filter(**of_it, heartbeat_at__gte=fresh)
        ),
        "has_participants": Exists(
            Participant.objects.filter(**of_it, left_at__isnull=True)
        ),
        "has_notes": Exists(Note.objects.filter(**of_it)),
        "has_whispers": Exists(Whisper.objects.filter(**of_it)),
        "has_invitation": Exists(
            Invitation.objects.filter(**of_it, status__in=Invitation.OPEN_STATUSES)
        ),
        "has_follow_up": has_follow_up(),
        # The apps above (escalation: has_consent).
        **{flag: make() for flag, make in extensions.conversation_flags.items()},
    }


def _may_have(conversation: Conversation, flag: str) -> bool:
    """False only when the conversation was read with ``flag`` false."""
    return getattr(conversation, flag, True)


def get_assigned_conversation(
    profile: StaffProfile, conversation_id: UUID
) -> dict[str, Any] | None:
    """Return the staff view of a conversation this staff member is in.

    The operator's pseudonym and what the view may have to read come in
    the statement that checks access (``assigned_flags``), built once per
    connection.
    """
    try:
        conversation = access_conversation_for_staff(
            profile,
            conversation_id,
            related=ASSIGNED_RELATED,
            annotate=assigned_flags,
            since=timezone.now() - timedelta(seconds=settings.PRESENCE_STALE_SECONDS),
        )
    except ChatError:
        return None
    place = get_staff_place(profile, conversation)
    if place is None:
        return None
    # This staff member's messages are stored by the event loop only with
    # the conversation's data key already in this process's cache: a
    # process other than the one that opened the conversation reads it
    # here, not on a thread at the first message.
    load_data_key(conversation.id)
    return render_conversation(conversation, viewer=profile, place=place)


def get_note_frame(note_id: int) -> dict[str, Any] | None:
    note = Note.objects.filter(id=note_id).select_related("author__staff").first()
    return render_note(note) if note else None


def get_whisper_frame(whisper_id: int) -> dict[str, Any] | None:
    whisper = Whisper.objects.filter(id=whisper_id).first()
    return render_whisper(whisper) if whisper else None


# -- supervision --------------------------------------------------------------


def get_board(profile: StaffProfile) -> dict[str, Any]:
    """Return the live board of the supervisor's services.

    Callers check the role (``check_board``); this only reads.
    """
    now = timezone.now()
    conversations = (
        Conversation.objects.filter(
            service__in=profile.services.all(),
            status__in=[Conversation.Status.WAITING, Conversation.Status.ACTIVE],
        )
        .select_related("service", "operator__staff")
        .order_by("status", *QUEUE_ORDER)[:BOARD_LIMIT]
    )
    ids = [conversation.id for conversation in conversations]
    participants: dict[UUID, list[dict[str, Any]]] = {}
    for participant in Participant.objects.filter(
        conversation_id__in=ids, left_at__isnull=True
    ).select_related("user__staff"):
        participants.setdefault(participant.conversation_id, []).append(
            render_participant(participant)
        )
    online = list_online_user_ids()
    staff = (
        StaffProfile.objects.filter(services__in=profile.services.all())
        .distinct()
        .select_related("user")
        .prefetch_related("services")
        .order_by("pseudonym")
    )
    operated = dict(
        Conversation.objects.filter(status=Conversation.Status.ACTIVE)
        .values("operator_id")
        .annotate(n=Count("id"))
        .values_list("operator_id", "n")
    )
    joined = dict(
        Participant.objects.filter(
            left_at__isnull=True, conversation__status=Conversation.Status.ACTIVE
        )
        .exclude(role=Participant.Role.SUPERVISOR)
        .values("user_id")
        .annotate(n=Count("id"))
        .values_list("user_id", "n")
    )
    return {
        "type": "board",
        "conversations": [
            {
                "id": str(conversation.id),
                "service": conversation.service.slug,
                "status": conversation.status,
                "role": conversation.visitor_role,
                "place": conversation.place_label,
                "urgent": conversation.urgent,
                "minor": conversation.minor,
                "operator": pseudonym_of(conversation.operator),
                "participants": participants.get(conversation.id, []),
                "since_s": round(
                    (
                        now - (conversation.claimed_at or conversation.created_at)
                    ).total_seconds()
                ),
                "last_seq": conversation.last_seq,
            }
            for conversation in conversations
        ],
        "staff": [
            {
                "name": member.pseudonym,
                "roles": list(member.roles),
                "services": sorted(s.slug for s in member.services.all()),
                "online": member.user_id in online,
                "on_duty": is_on_duty(member),
                "load": operated.get(member.user_id, 0) + joined.get(member.user_id, 0),
                "capacity": member.max_conversations,
                "auto_assign": member.auto_assign,
            }
            for member in staff
            if member.user.is_active
        ],
    }


# -- the visitor's side of an invitation ------------------------------------


def visitor_invitation_text(invitation: Invitation, lang: str) -> str:
    """Return the question the visitor sees, in their language."""
    with translation.override(lang):
        if invitation.role == Invitation.Role.PSYCHOLOGIST:
            return gettext(
                "Un·e psychologue de l'équipe peut rejoindre la conversation "
                "pour vous écouter. Acceptez-vous ? Vous pouvez refuser, la "
                "conversation continue de la même façon."
            )
        return gettext(
            "Un·e collègue du service « %(service)s » peut rejoindre la "
            "conversation et la poursuivre avec vous, sans que vous ayez à "
            "tout raconter de nouveau. Acceptez-vous ? Vous pouvez refuser."
        ) % {"service": invitation.service.name}


def get_visitor_invitation_frame(conversation: Conversation) -> dict[str, Any] | None:
    """Return the question pending for the visitor (after a resume), if any."""
    invitation = (
        Invitation.objects.filter(
            conversation_id=conversation.id, status=Invitation.Status.ASKING
        )
        .select_related("service")
        .first()
    )
    if invitation is None:
        return None
    return {
        "type": "participant_request",
        "request": str(invitation.id),
        "role": invitation.role,
        "text": visitor_invitation_text(invitation, conversation.lang),
    }

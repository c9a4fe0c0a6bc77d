"""Automatic assignment of waiting conversations to available operators.

An operator who opts in (``StaffProfile.auto_assign``) gets the next
waiting conversation of their services whenever they are online and below
their capacity. Any process may run this at any time, several at once:
each assignment is an ordinary claim, decided by the database (a
conditional UPDATE on the conversation, the capacity counted under the
lock of the operator's profile row), so nothing is given twice and nobody
goes over their maximum.
"""

from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from chat import refusals
from chat.errors import ChatError
from chat.models import Conversation
from chat.services.queue import QUEUE_ORDER
from console.models import StaffProfile
from console.selectors import count_staff_load, list_online_user_ids
from console.services.conversations import do_claim_conversation

MAX_ASSIGNMENTS_PER_RUN = 50


def check_set_auto_assign(profile: StaffProfile, *, enabled: Any) -> bool:
    if not isinstance(enabled, bool):
        raise ChatError("bad_request", _("enabled doit être vrai ou faux."))
    if not profile.has_role(StaffProfile.Role.OPERATOR):
        raise refusals.role_forbidden()
    do_set_auto_assign(profile, enabled=enabled)
    return enabled


def check_switch_auto_assign(profile: StaffProfile, *, enabled: Any) -> bool:
    """Opt in or out; opting in hands out what already waits, at once.

    The console's ``auto_assign`` frame: the operator need not wait for
    the next change of the queue to get a conversation.
    """
    enabled = check_set_auto_assign(profile, enabled=enabled)
    do_auto_assign_for(profile)
    return enabled


def do_auto_assign_for(profile: StaffProfile) -> int:
    """Assign what waits in the staff member's services, if they opted in.

    A console runs this after a change of its queues; everyone opted in
    and online may get a conversation, not only this staff member.
    """
    if not profile.auto_assign:
        return 0
    return do_auto_assign([service.id for service in profile.services.all()])


@transaction.atomic
def do_set_auto_assign(profile: StaffProfile, *, enabled: bool) -> None:
    profile.auto_assign = enabled
    profile.save(update_fields=["auto_assign"])


def do_auto_assign(service_ids: Iterable[int] | None = None) -> int:
    """Assign waiting conversations to operators who opted in; return how many.

    The least loaded available operator gets the head of each queue
    (urgent first, then oldest).
    """
    if not settings.CONSOLE_AUTO_ASSIGN:
        return 0
    waiting = Conversation.objects.filter(status=Conversation.Status.WAITING)
    if service_ids is not None:
        waiting = waiting.filter(service_id__in=list(service_ids))
    services = set(waiting.values_list("service_id", flat=True).distinct())
    if not services:
        return 0
    online = list_online_user_ids()
    candidates = [
        profile
        for profile in StaffProfile.objects.filter(
            auto_assign=True, user_id__in=online, user__is_active=True
        )
        .select_related("user")
        .prefetch_related("services")
        if profile.has_role(StaffProfile.Role.OPERATOR)
    ]
    assigned = attempts = 0
    for service_id in sorted(services):
        staff = [
            profile
            for profile in candidates
            if any(service.id == service_id for service in profile.services.all())
        ]
        while staff and attempts < MAX_ASSIGNMENTS_PER_RUN:
            attempts += 1
            loads = {
                profile.user_id: count_staff_load(profile.user_id) for profile in staff
            }
            staff = [p for p in staff if loads[p.user_id] < p.max_conversations]
            if not staff:
                break
            staff.sort(
                key=lambda p: (loads[p.user_id] / max(p.max_conversations, 1), p.id)
            )
            head = (
                waiting.filter(service_id=service_id)
                .order_by(*QUEUE_ORDER)
                .values_list("id", flat=True)
                .first()
            )
            if head is None:
                break
            try:
                do_claim_conversation(staff[0], head)
            except ChatError as error:
                if error.code == "at_capacity":
                    staff = staff[1:]
                # already_claimed: another process took it; try the next one.
                continue
            assigned += 1
    return assigned

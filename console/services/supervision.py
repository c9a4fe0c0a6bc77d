"""Supervisors' tools: the live board and the canned answers of a service."""

from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from chat import events, refusals
from chat.errors import ChatError
from chat.models import Service
from console import extensions
from console.models import CannedAnswer, StaffProfile
from console.selectors import get_board

CANNED_TITLE_MAX_CHARS = 80
CANNED_TEXT_MAX_CHARS = 2000


def _require_supervisor(profile: StaffProfile) -> None:
    if not profile.has_role(StaffProfile.Role.SUPERVISOR):
        raise refusals.supervisors_only()


def check_board(profile: StaffProfile) -> dict[str, Any]:
    """Return the board of the supervisor's services; supervisors only."""
    _require_supervisor(profile)
    board = get_board(profile)
    # Added by the apps above (escalation: reports that keep failing to
    # reach their unit).
    for key, read in extensions.board_fields.items():
        board[key] = read(profile)
    return board


def check_save_canned(
    profile: StaffProfile,
    *,
    answer_id: Any,
    service_slug: Any,
    title: Any,
    text: Any,
) -> CannedAnswer:
    """Create or edit a canned answer of one of the supervisor's services."""
    _require_supervisor(profile)
    if (
        not isinstance(title, str)
        or not 0 < len(title.strip()) <= CANNED_TITLE_MAX_CHARS
    ):
        raise ChatError("bad_request", _("Titre requis (80 caractères au plus)."))
    if not isinstance(text, str) or not 0 < len(text.strip()) <= CANNED_TEXT_MAX_CHARS:
        raise ChatError("bad_request", _("Texte requis (2000 caractères au plus)."))
    if answer_id is not None:
        if not isinstance(answer_id, int) or isinstance(answer_id, bool):
            raise refusals.id_not_integer()
        answer = CannedAnswer.objects.filter(
            id=answer_id, service__in=profile.services.all()
        ).first()
        if answer is None:
            raise refusals.canned_not_found()
        return do_save_canned(
            answer, service=answer.service, title=title, text=text, by=profile
        )
    service = (
        profile.services.filter(slug=service_slug, active=True).first()
        if isinstance(service_slug, str)
        else None
    )
    if service is None:
        raise ChatError("invalid_service", _("Service inconnu."))
    return do_save_canned(
        CannedAnswer(service=service),
        service=service,
        title=title,
        text=text,
        by=profile,
    )


@transaction.atomic
def do_save_canned(
    answer: CannedAnswer, *, service: Service, title: str, text: str, by: StaffProfile
) -> CannedAnswer:
    answer.title = title.strip()
    answer.body = text.strip()
    answer.updated_by = by.user
    answer.full_clean()
    answer.save()
    events.notify_canned_changed(service.id)
    return answer


def check_delete_canned(profile: StaffProfile, *, answer_id: Any) -> None:
    _require_supervisor(profile)
    if not isinstance(answer_id, int) or isinstance(answer_id, bool):
        raise refusals.id_not_integer()
    answer = CannedAnswer.objects.filter(
        id=answer_id, service__in=profile.services.all()
    ).first()
    if answer is None:
        raise refusals.canned_not_found()
    do_delete_canned(answer)


@transaction.atomic
def do_delete_canned(answer: CannedAnswer) -> None:
    service_id = answer.service_id
    answer.delete()
    events.notify_canned_changed(service_id)

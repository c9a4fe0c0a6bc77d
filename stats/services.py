"""Write paths of the statistics: service passages and visitor feedback."""

import hashlib
import hmac
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from chat import refusals
from chat.errors import ChatError
from chat.models import Conversation
from chat.selectors import hash_token
from stats.models import Feedback, FeedbackGuard, ServicePassage
from stats.periods import PARIS

FEEDBACK_WINDOW = timedelta(hours=6)
FEEDBACK_COMMENT_MAX = 1000


def do_record_passage(
    conversation_id: UUID,
    *,
    service_id: int,
    kind: str,
    started_at: datetime,
    from_service_id: int | None = None,
    at: datetime | None = None,
) -> ServicePassage:
    """Record that a conversation arrived in a service (inside its write)."""
    return ServicePassage.objects.create(
        conversation_id=conversation_id,
        service_id=service_id,
        from_service_id=from_service_id,
        kind=kind,
        at=at or timezone.now(),
        started_at=started_at,
    )


def record_arrival(sender: Any, **arrival: Any) -> None:
    """Receive chat's ``conversation_arrived``: one passage row, same write."""
    arrival.pop("signal", None)
    do_record_passage(arrival.pop("conversation_id"), **arrival)


def _guard_digest(token: str) -> str:
    key = settings.SECRET_KEY.encode()
    return hmac.new(key, b"feedback:" + token.encode(), hashlib.sha256).hexdigest()


def check_give_feedback(*, token: Any, answer: Any, comment: Any) -> Feedback:
    """Validate a visitor's end-of-chat answer and store it, unlinked.

    The token proves the answer comes from a real conversation that has
    just ended; it is used to find the service and the day, then dropped.
    """
    if answer not in Feedback.Answer.values:
        raise ChatError("bad_request", _("Réponse inconnue : yes, somewhat ou no."))
    if comment is None:
        comment = ""
    if not isinstance(comment, str):
        raise ChatError("bad_request", _("Le commentaire doit être un texte."))
    if len(comment) > FEEDBACK_COMMENT_MAX:
        raise ChatError(
            "too_large",
            _("Commentaire trop long (%(limit)s caractères au plus).")
            % {"limit": FEEDBACK_COMMENT_MAX},
        )
    if not isinstance(token, str) or not token:
        raise refusals.conversation_not_found()
    row = (
        Conversation.objects.filter(token_hash=hash_token(token))
        .values("status", "closed_at", "service_id")
        .first()
    )
    if (
        row is None
        or row["status"] != Conversation.Status.CLOSED
        or row["closed_at"] is None
        or timezone.now() - row["closed_at"] > FEEDBACK_WINDOW
    ):
        raise refusals.conversation_not_found()
    return do_give_feedback(
        digest=_guard_digest(token),
        service_id=row["service_id"],
        day=timezone.now().astimezone(PARIS).date(),
        answer=answer,
        comment=comment.strip(),
    )


def do_give_feedback(
    *, digest: str, service_id: int, day: Any, answer: str, comment: str
) -> Feedback:
    try:
        with transaction.atomic():
            FeedbackGuard.objects.create(digest=digest)
            return Feedback.objects.create(
                service_id=service_id, day=day, answer=answer, comment=comment
            )
    except IntegrityError:
        raise ChatError(
            "already_answered", _("Vous avez déjà répondu, merci.")
        ) from None


def do_purge_feedback_guards(now: datetime) -> int:
    """Retention: a guard only stops a second answer while the first can be
    given (``FEEDBACK_WINDOW``); after a day it is noise."""
    cutoff = now - timedelta(days=1)
    return FeedbackGuard.objects.filter(created_at__lt=cutoff).delete()[0]

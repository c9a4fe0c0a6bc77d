"""Receipt codes: issue one, and come back to the conversation with it.

The visitor's resume token lives in one tab; a receipt is a 16-digit
code they can write down and use from any device until the transcript's
retention period ends (docs/protocol.md, "Receipt and recover").
"""

import secrets
import threading
import time
from collections import deque
from datetime import timedelta
from typing import Any
from uuid import UUID

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from django.conf import settings
from django.db import transaction
from django.db.models import Min
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _

from chat import events, refusals
from chat.errors import ChatError
from chat.models import Conversation
from chat.selectors import hash_token
from chat.services.queue import do_notify_queue_changed
from receipts.models import Receipt

CODE_DIGITS = 16
# Rows sharing a lookup digest that one attempt may verify; a collision
# among real codes is about one in 4 billion per pair of codes.
MAX_CANDIDATES = 4
_hasher = PasswordHasher()
# Verified against when no row matches, so a miss costs what a hit costs.
_DUMMY_HASH = _hasher.hash("0" * CODE_DIGITS)
_PURGED_PREFIX = "purged:"


def not_found_error() -> ChatError:
    """The one answer to a wrong, expired or purged code."""
    return ChatError("not_found", _("Code de suivi inconnu ou expiré."))


def generate_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def format_code(digits: str) -> str:
    """Return the code in groups of four, as the visitor sees it."""
    return " ".join(digits[i : i + 4] for i in range(0, CODE_DIGITS, 4))


def normalize_code(value: Any) -> str:
    """Return the 16 digits of a code typed with spaces or dashes."""
    if not isinstance(value, str) or len(value) > 64:
        raise refusals.bad_receipt_code()
    digits = "".join(ch for ch in value if ch not in " -\u00a0\t")
    if len(digits) != CODE_DIGITS or not digits.isascii() or not digits.isdigit():
        raise refusals.bad_receipt_code()
    return digits


def lookup_of(digits: str) -> str:
    """Return the short keyed digest that finds a code's row.

    32 bits of an HMAC keyed by the server's secret: unique enough to
    find the row, too short to confirm a guess without the slow hash.
    """
    return salted_hmac("receipts.lookup", digits, algorithm="sha256").hexdigest()[:8]


class FailureWindow:
    """Count failed attempts in the last minute, in this process."""

    def __init__(self) -> None:
        self.times: deque[float] = deque()
        self.lock = threading.Lock()

    def _trim(self, now: float) -> None:
        while self.times and self.times[0] < now - 60:
            self.times.popleft()

    def blocked(self) -> bool:
        with self.lock:
            self._trim(time.monotonic())
            return len(self.times) >= settings.RECEIPT_GLOBAL_FAILURES_PER_MINUTE

    def record(self) -> None:
        with self.lock:
            now = time.monotonic()
            self._trim(now)
            self.times.append(now)


global_failures = FailureWindow()


def check_receipt_allowed(conversation: Conversation) -> None:
    """Refuse a receipt once the conversation is gone or closed too long ago.

    A closed conversation still gets one for ``VISITOR_TOKEN_GRACE_SECONDS``
    after it closed, the time its transcript replays: a visitor whose
    operator ended the chat can still ask, from the end screen, for a way
    to come back. Past that, only a code asked for earlier brings it back.
    """
    current = (
        Conversation.objects.filter(id=conversation.id)
        .values("token_hash", "status", "closed_at")
        .first()
    )
    if current is None or current["token_hash"].startswith(_PURGED_PREFIX):
        raise ChatError("bad_state", _("Cette conversation n'existe plus."))
    grace = timedelta(seconds=settings.VISITOR_TOKEN_GRACE_SECONDS)
    if current["status"] == Conversation.Status.CLOSED and (
        current["closed_at"] is None or current["closed_at"] + grace < timezone.now()
    ):
        raise ChatError(
            "receipt_too_late",
            _(
                "La conversation est fermée depuis trop longtemps pour "
                "recevoir un code de suivi : commencez une nouvelle conversation."
            ),
        )


@transaction.atomic
def do_issue_receipt(conversation: Conversation) -> str:
    """Give the conversation a new receipt code; return it, formatted.

    Asking again replaces the code: only the newest one works.
    """
    check_receipt_allowed(conversation)
    digits = generate_code()
    Receipt.objects.update_or_create(
        conversation_id=conversation.id,
        defaults={"lookup": lookup_of(digits), "code_hash": _hasher.hash(digits)},
    )
    return format_code(digits)


def _expired(conversation: Conversation) -> bool:
    if conversation.token_hash.startswith(_PURGED_PREFIX):
        return True
    if conversation.status != Conversation.Status.CLOSED or not conversation.closed_at:
        return False
    days = (
        settings.RETENTION_TRANSCRIPT_DAYS
        if conversation.outcome == Conversation.Outcome.REPORT
        else settings.RETENTION_TRANSCRIPT_NO_REPORT_DAYS
    )
    return conversation.closed_at < timezone.now() - timedelta(days=days)


def find_receipt(digits: str) -> Receipt | None:
    """Return the receipt whose code is ``digits``, verified slowly."""
    candidates = list(
        Receipt.objects.filter(lookup=lookup_of(digits)).select_related(
            "conversation__service"
        )[:MAX_CANDIDATES]
    )
    if not candidates:
        try:
            _hasher.verify(_DUMMY_HASH, "x")
        except VerificationError:
            pass
        return None
    for receipt in candidates:
        try:
            if _hasher.verify(receipt.code_hash, digits):
                return receipt
        except (VerificationError, InvalidHashError):
            continue
    return None


def check_recover_conversation(code: Any) -> tuple[Conversation, str]:
    """Find the conversation of a receipt code and bring it back.

    A wrong code, an expired one and a purged one answer the same
    ``not_found``; every failure counts toward the global throttle.
    """
    digits = normalize_code(code)
    if global_failures.blocked():
        raise ChatError("rate_limited", _("Trop d'essais : réessayez dans une minute."))
    receipt = find_receipt(digits)
    if receipt is None or _expired(receipt.conversation):
        global_failures.record()
        raise not_found_error()
    return do_recover_conversation(receipt)


def _follow_up_queue_key(conversation: Conversation) -> Any:
    now = timezone.now()
    if settings.RECEIPT_FOLLOW_UP_PRIORITY != "ahead":
        return now
    head = Conversation.objects.filter(
        service_id=conversation.service_id, status=Conversation.Status.WAITING
    ).aggregate(first=Min("queue_key"))["first"]
    if head is None:
        return now
    return min(head, now) - timedelta(microseconds=1)


@transaction.atomic
def do_recover_conversation(receipt: Receipt) -> tuple[Conversation, str]:
    """Give the visitor a fresh token; reopen a closed conversation.

    A closed conversation goes back to its service's queue as a
    follow-up (ahead of or behind new arrivals, per
    ``RECEIPT_FOLLOW_UP_PRIORITY``); its outcome is kept on the receipt
    so that whoever claims it sees how it ended last time. A waiting or
    active conversation simply gets its visitor back.
    """
    token = secrets.token_urlsafe(32)
    conversation = Conversation.objects.select_for_update().get(
        id=receipt.conversation_id
    )
    fields: dict[str, Any] = {"token_hash": hash_token(token)}
    reopened = conversation.status == Conversation.Status.CLOSED
    if reopened:
        receipt.previous_outcome = conversation.outcome
        fields.update(
            status=Conversation.Status.WAITING,
            operator=None,
            closed_at=None,
            outcome="",
            queue_key=_follow_up_queue_key(conversation),
            visitor_grace_until=None,
            operator_grace_until=None,
        )
    Conversation.objects.filter(id=conversation.id).update(**fields)
    receipt.follow_ups += 1
    receipt.followed_up_at = timezone.now()
    receipt.save(update_fields=["follow_ups", "followed_up_at", "previous_outcome"])
    if reopened:
        events.notify_status_changed(conversation.id, Conversation.Status.WAITING)
        do_notify_queue_changed(conversation.service_id, by=conversation.id)
    conversation = Conversation.objects.select_related("service").get(
        id=conversation.id
    )
    return conversation, token


def do_delete_receipts(conversation_ids: list[UUID]) -> int:
    """Retention (issue 16): the receipt code stops working with the transcript."""
    return Receipt.objects.filter(conversation_id__in=conversation_ids).delete()[0]

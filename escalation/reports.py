"""Reports to local units and their outbox (docs/security.md §B3).

After the visitor's consent, the operator writes the report; its delivery
row is committed in the same transaction, so a report written is a report
that will be sent, whatever happens to the process afterwards. Senders
(``deliver_due``: the ``deliver_reports`` command and each server
process's background task) take due rows with a lease, send, and mark
them sent or failed with the next try after a doubling backoff. A row
whose sender died keeps its lease until it runs out, then is sent again:
at least once, with the same reference and idempotency key.
"""

import base64
import logging
import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import override

from anonymity.crypto import DecryptionError, decrypt_note, encrypt_note
from chat import refusals
from chat.errors import ChatError
from chat.models import Conversation
from console.access import access_conversation_for_staff
from console.models import StaffProfile
from escalation.audit import record_event
from escalation.consent import read_contact_for_delivery
from escalation.models import ConsentRequest, Delivery, Report, Unit
from escalation.transports import TRANSPORTS, DeliveryError
from escalation.units import contact_info

logger = logging.getLogger(__name__)

SUMMARY_MAX_CHARS = 6000
LEASE_SECONDS = 120


def get_reportable_consent(conversation: Conversation) -> ConsentRequest | None:
    """Return the accepted consent that has no report yet."""
    return (
        ConsentRequest.objects.filter(
            conversation=conversation,
            status=ConsentRequest.Status.ACCEPTED,
            report__isnull=True,
        )
        .select_related("unit", "consent_text")
        .first()
    )


def check_create_report(
    profile: StaffProfile,
    conversation_id: Any,
    *,
    unit_id: Any,
    category: Any,
    urgency: Any,
    summary: Any,
) -> Report:
    """Validate and store the operator's report; its delivery is queued."""
    conversation = access_conversation_for_staff(profile, conversation_id)
    if not (
        profile.has_role(StaffProfile.Role.OPERATOR)
        or profile.has_role(StaffProfile.Role.SUPERVISOR)
    ):
        raise refusals.role_forbidden()
    consent = get_reportable_consent(conversation)
    if consent is None:
        raise ChatError(
            "bad_state",
            _("Aucun consentement accepté sans signalement pour cette conversation."),
        )
    try:
        unit = Unit.objects.get(id=int(unit_id), active=True)
    except (TypeError, ValueError, Unit.DoesNotExist):
        raise ChatError(
            "invalid_unit", _("Choisissez une unité destinataire.")
        ) from None
    if consent.contact_sealed is not None and unit.id != consent.unit_id:
        raise ChatError(
            "invalid_unit",
            _(
                "Les coordonnées ont été chiffrées pour %(unit)s : seule cette unité "
                "peut les lire. Choisissez-la, ou redemandez le consentement."
            )
            % {"unit": consent.unit.name},
        )
    if category not in Report.Category.values:
        raise ChatError("bad_request", _("Choisissez une catégorie."))
    if urgency not in Report.Urgency.values:
        raise ChatError("bad_request", _("Choisissez un niveau d'urgence."))
    if not isinstance(summary, str) or not summary.strip():
        raise ChatError("bad_request", _("Le résumé des faits est requis."))
    if len(summary) > SUMMARY_MAX_CHARS:
        raise ChatError("bad_request", _("Le résumé est trop long (6000 caractères)."))
    return do_create_report(
        consent,
        unit=unit,
        category=category,
        urgency=urgency,
        summary=summary.strip(),
        user=profile.user,
    )


def new_reference(prefix: str) -> str:
    return f"{prefix}-{timezone.now():%Y%m%d}-{uuid.uuid4().hex[:6].upper()}"


@transaction.atomic
def do_create_report(
    consent: ConsentRequest,
    *,
    unit: Unit,
    category: str,
    urgency: str,
    summary: str,
    user: Any,
) -> Report:
    now = timezone.now()
    report = Report.objects.create(
        reference=new_reference("SIG"),
        conversation_id=consent.conversation_id,
        consent=consent,
        unit=unit,
        category=category,
        urgency=urgency,
        summary_encrypted=encrypt_note(consent.conversation_id, summary, kind="report"),
        created_by=user,
        created_at=now,
    )
    delivery = Delivery.objects.create(
        report=report,
        method=unit.method,
        target=unit.address,
        next_attempt_at=now,
        created_at=now,
    )
    record_event(
        "report_created",
        actor=user,
        subject=f"conversation:{consent.conversation_id}",
        data={
            "report": report.reference,
            "consent": str(consent.id),
            "unit": unit.id,
            "unit_name": unit.name,
            "category": category,
            "urgency": urgency,
            "method": unit.method,
            "delivery": delivery.id,
        },
    )
    return report


def read_summary(report: Report) -> str:
    """The facts' summary, or a note once retention destroyed the key."""
    try:
        return decrypt_note(
            report.conversation_id, bytes(report.summary_encrypted), kind="report"
        )
    except DecryptionError:
        return _("[effacé : la durée de conservation est écoulée]")


def build_report_document(report: Report) -> dict[str, Any]:
    """The report as the unit receives it (contact in clear or sealed)."""
    consent = report.consent
    conversation = report.conversation
    with override("fr"):
        document: dict[str, Any] = {
            "type": "ecoute-report",
            "version": 1,
            "reference": report.reference,
            "created_at": report.created_at.isoformat(),
            "unit": {
                "id": report.unit_id,
                "name": report.unit.name,
                "force": report.unit.force,
            },
            "category": report.category,
            "category_label": str(Report.Category(report.category).label),
            "urgency": report.urgency,
            "urgency_label": str(Report.Urgency(report.urgency).label),
            "place": conversation.place_label,
            "commune": conversation.commune.code_insee if conversation.commune else "",
            "visitor_role": str(
                Conversation.VisitorRole(conversation.visitor_role).label
            ),
            "minor": conversation.minor,
            "summary": read_summary(report),
            "consent": {
                "asked_at": consent.asked_at.isoformat(),
                "answered_at": consent.answered_at.isoformat()
                if consent.answered_at
                else "",
                "text_version": consent.text_version,
                "text_lang": consent.lang,
                "text_sha256": consent.text_hash,
                "text": consent.consent_text.text,
                "fields": list(consent.shared_fields),
            },
        }
    if consent.contact_sealed is not None:
        document["contact_sealed"] = {
            "algorithm": "HPKE X25519 / HKDF-SHA256 / AES-256-GCM (RFC 9180)",
            "key_fingerprint": consent.contact_key,
            "info": contact_info(
                consent.id, consent.unit_id, consent.contact_key
            ).decode(),
            "blob": base64.b64encode(bytes(consent.contact_sealed)).decode(),
        }
    else:
        document["contact"] = read_contact_for_delivery(consent)
    return document


def backoff_seconds(attempts: int) -> float:
    base = settings.REPORT_RETRY_BASE_SECONDS
    return min(base * (2 ** max(attempts - 1, 0)), settings.REPORT_RETRY_MAX_SECONDS)


def _claim(delivery_id: int) -> bool:
    now = timezone.now()
    return bool(
        Delivery.objects.filter(
            id=delivery_id,
            state__in=[Delivery.State.PENDING, Delivery.State.FAILED],
            next_attempt_at__lte=now,
        )
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(lease_until=now + timedelta(seconds=LEASE_SECONDS))
    )


def deliver_one(delivery_id: int) -> str | None:
    """Send one due delivery if this caller wins its lease; return its state."""
    if not _claim(delivery_id):
        return None
    delivery = Delivery.objects.select_related(
        "report__unit", "report__consent__consent_text", "report__conversation__commune"
    ).get(id=delivery_id)
    report = delivery.report
    try:
        document = build_report_document(report)
        TRANSPORTS[delivery.method].send(delivery, document, report.unit.webhook_secret)
    except (DeliveryError, KeyError) as error:
        return _mark_failed(delivery, str(error) or type(error).__name__)
    except Exception as error:  # noqa: BLE001 - never lose the row to a bug
        logger.exception("report delivery %s crashed", delivery.id)
        return _mark_failed(delivery, f"internal: {type(error).__name__}")
    return _mark_sent(delivery)


@transaction.atomic
def _mark_sent(delivery: Delivery) -> str:
    now = timezone.now()
    Delivery.objects.filter(id=delivery.id).update(
        state=Delivery.State.SENT,
        attempts=delivery.attempts + 1,
        sent_at=now,
        lease_until=None,
        last_error="",
    )
    record_event(
        "report_sent",
        subject=f"conversation:{delivery.report.conversation_id}",
        data={
            "report": delivery.report.reference,
            "delivery": delivery.id,
            "method": delivery.method,
            "attempt": delivery.attempts + 1,
        },
    )
    return Delivery.State.SENT


@transaction.atomic
def _mark_failed(delivery: Delivery, error: str) -> str:
    now = timezone.now()
    attempts = delivery.attempts + 1
    Delivery.objects.filter(id=delivery.id).update(
        state=Delivery.State.FAILED,
        attempts=attempts,
        next_attempt_at=now + timedelta(seconds=backoff_seconds(attempts)),
        lease_until=None,
        last_error=error[:300],
    )
    record_event(
        "report_delivery_failed",
        subject=f"conversation:{delivery.report.conversation_id}",
        data={
            "report": delivery.report.reference,
            "delivery": delivery.id,
            "method": delivery.method,
            "attempt": attempts,
            "error": error[:200],
        },
    )
    logger.warning("report delivery %s failed (attempt %s)", delivery.id, attempts)
    return Delivery.State.FAILED


def deliver_due(*, limit: int = 50) -> dict[str, int]:
    """Send every delivery that is due; return counts by resulting state."""
    counts = {"sent": 0, "failed": 0}
    due = list(
        Delivery.objects.filter(
            state__in=[Delivery.State.PENDING, Delivery.State.FAILED],
            next_attempt_at__lte=timezone.now(),
        )
        .order_by("next_attempt_at")
        .values_list("id", flat=True)[:limit]
    )
    for delivery_id in due:
        state = deliver_one(delivery_id)
        if state is not None:
            counts[state] += 1
    return counts


def check_retry_delivery(profile: StaffProfile, delivery_id: Any) -> Delivery:
    """A supervisor asks for a failed delivery to be tried again now."""
    if not profile.has_role(StaffProfile.Role.SUPERVISOR):
        raise refusals.role_forbidden()
    delivery = Delivery.objects.filter(
        id=delivery_id,
        state=Delivery.State.FAILED,
        report__conversation__service__in=profile.services.all(),
    ).first()
    if delivery is None:
        raise ChatError("not_found", _("Envoi introuvable."))
    with transaction.atomic():
        Delivery.objects.filter(id=delivery.id).update(next_attempt_at=timezone.now())
        record_event(
            "report_retry_requested",
            actor=profile.user,
            subject=f"conversation:{delivery.report.conversation_id}",
            data={"delivery": delivery.id, "report": delivery.report.reference},
        )
    return delivery


def list_delivery_alerts(profile: StaffProfile) -> list[dict[str, Any]]:
    """Deliveries still unsent after repeated failures, for the board."""
    rows = (
        Delivery.objects.filter(
            state=Delivery.State.FAILED,
            attempts__gte=settings.REPORT_ALERT_AFTER_FAILURES,
            report__conversation__service__in=profile.services.all(),
        )
        .select_related("report__unit")
        .order_by("created_at")[:50]
    )
    return [
        {
            "delivery": row.id,
            "report": row.report.reference,
            "unit": row.report.unit.name,
            "method": row.method,
            "attempts": row.attempts,
            "error": row.last_error,
            "next_attempt_at": row.next_attempt_at.isoformat(),
            "since": row.created_at.isoformat(),
        }
        for row in rows
    ]

"""Reading escalations for the console's screens and the exported file."""

from typing import Any
from uuid import UUID

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from chat.models import Conversation
from chat.selectors import list_messages_after, render_message
from console.models import StaffProfile
from escalation.audit import chain_proof, public_key_hex, record_event, sign_document
from escalation.disclosure import read_justification
from escalation.models import (
    AuditEvent,
    ConsentRequest,
    Delivery,
    DisclosureRequest,
    Report,
)
from escalation.reports import read_summary

EXPORT_FORMAT = "ecoute-escalation-file/v1"


def staff_service_ids(profile: StaffProfile) -> list[int]:
    return list(profile.services.values_list("id", flat=True))


def list_consents(profile: StaffProfile, *, status: str = "") -> QuerySet:
    rows = ConsentRequest.objects.filter(
        conversation__service__in=staff_service_ids(profile)
    ).select_related("conversation__service", "asked_by__staff", "unit")
    if status:
        rows = rows.filter(status=status)
    return rows.order_by("-asked_at")[:200]


def list_reports(profile: StaffProfile, *, state: str = "") -> QuerySet:
    rows = Report.objects.filter(
        conversation__service__in=staff_service_ids(profile)
    ).select_related("unit", "conversation__service")
    if state:
        rows = rows.filter(deliveries__state=state).distinct()
    return rows.prefetch_related("deliveries").order_by("-created_at")[:200]


def list_disclosures(profile: StaffProfile, *, state: str = "") -> QuerySet:
    rows = DisclosureRequest.objects.select_related(
        "conversation__service", "requested_by__staff"
    )
    if not profile.has_role(StaffProfile.Role.CUSTODIAN):
        rows = rows.filter(conversation__service__in=staff_service_ids(profile))
    if state:
        rows = rows.filter(state=state)
    return rows.order_by("-requested_at")[:200]


def disclosure_steps(request: DisclosureRequest) -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(
            subject=f"conversation:{request.conversation_id}",
            kind__startswith="disclosure_",
            data__disclosure=request.reference,
        ).order_by("seq")
    )


def list_audit_events(
    *, kind: str = "", subject: str = "", before: int | None = None, limit: int = 200
) -> list[AuditEvent]:
    rows = AuditEvent.objects.all()
    if kind:
        rows = rows.filter(kind__startswith=kind)
    if subject:
        rows = rows.filter(Q(subject__icontains=subject) | Q(actor__icontains=subject))
    if before:
        rows = rows.filter(seq__lt=before)
    return list(rows.order_by("-seq")[:limit])


def _pseudonym(user: Any) -> str:
    if user is None:
        return ""
    profile = getattr(user, "staff", None)
    return profile.pseudonym if profile is not None else user.get_username()


def build_escalation_file(conversation: Conversation, user: Any) -> dict[str, Any]:
    """The whole file of one conversation's escalations, signed.

    Reading the transcript and exporting are audited first, so the
    export's audit excerpt shows its own making.
    """
    with transaction.atomic():
        record_event(
            "transcript_viewed",
            actor=user,
            subject=f"conversation:{conversation.id}",
            data={"purpose": "escalation file export"},
        )
        record_event(
            "file_exported", actor=user, subject=f"conversation:{conversation.id}"
        )
    transcript = []
    for message in list_messages_after(conversation.id, 0, limit=100_000):
        frame = render_message(message, for_staff=True)
        transcript.append(
            {k: frame[k] for k in ("seq", "from", "name", "text", "at") if k in frame}
        )
    consents = [
        {
            "id": str(c.id),
            "asked_by": _pseudonym(c.asked_by),
            "asked_at": c.asked_at.isoformat(),
            "text_version": c.text_version,
            "text_lang": c.lang,
            "text_sha256": c.text_hash,
            "text": c.consent_text.text,
            "status": c.status,
            "answered_at": c.answered_at.isoformat() if c.answered_at else None,
            "fields_given": list(c.shared_fields),
            "contact_protection": "sealed_to_unit"
            if c.contact_sealed is not None
            else ("encrypted_at_rest" if c.contact_encrypted is not None else None),
            "unit": c.unit.name if c.unit_id else None,
        }
        for c in conversation.consents.select_related(
            "consent_text", "unit", "asked_by"
        ).order_by("asked_at")
    ]
    reports = [
        {
            "reference": r.reference,
            "unit": r.unit.name,
            "force": r.unit.force,
            "category": r.category,
            "urgency": r.urgency,
            "summary": read_summary(r),
            "created_at": r.created_at.isoformat(),
            "created_by": _pseudonym(r.created_by),
            "deliveries": [
                {
                    "method": d.method,
                    "state": d.state,
                    "attempts": d.attempts,
                    "sent_at": d.sent_at.isoformat() if d.sent_at else None,
                    "last_error": d.last_error,
                }
                for d in r.deliveries.order_by("id")
            ],
        }
        for r in conversation.reports.select_related("unit", "created_by").order_by(
            "created_at"
        )
    ]
    disclosures = []
    for d in conversation.disclosures.order_by("requested_at"):
        disclosures.append(
            {
                "reference": d.reference,
                "state": d.state,
                "ground": d.ground,
                "justification": read_justification(d),
                "requested_by": _pseudonym(d.requested_by),
                "requested_at": d.requested_at.isoformat(),
                "endorsed_by": _pseudonym(d.endorsed_by),
                "endorsed_at": d.endorsed_at.isoformat() if d.endorsed_at else None,
                "decision": d.decision or None,
                "parquet_reference": d.parquet_reference,
                "magistrate": d.magistrate,
                "decision_date": d.decision_date.isoformat()
                if d.decision_date
                else None,
                "document_sha256": d.document_sha256 or None,
                "expires_at": d.expires_at.isoformat() if d.expires_at else None,
                "executed_at": d.executed_at.isoformat() if d.executed_at else None,
                "closed_at": d.closed_at.isoformat() if d.closed_at else None,
                "steps": [
                    {
                        "seq": e.seq,
                        "kind": e.kind,
                        "at": e.at.isoformat(),
                        "actor": e.actor,
                    }
                    for e in disclosure_steps(d)
                ],
            }
        )
    events = list(
        AuditEvent.objects.filter(subject=f"conversation:{conversation.id}").order_by(
            "seq"
        )
    )
    document = {
        "format": EXPORT_FORMAT,
        "exported_at": timezone.now().isoformat(),
        "exported_by": _pseudonym(user),
        "conversation": {
            "id": str(conversation.id),
            "service": conversation.service.name,
            "place": conversation.place_label,
            "visitor_role": conversation.visitor_role,
            "urgent": conversation.urgent,
            "minor": conversation.minor,
            "started_at": conversation.created_at.isoformat(),
            "closed_at": conversation.closed_at.isoformat()
            if conversation.closed_at
            else None,
        },
        "transcript": transcript,
        "consents": consents,
        "reports": reports,
        "disclosures": disclosures,
        "audit": {
            "entries": [
                {
                    "seq": e.seq,
                    "at": e.at.isoformat(),
                    "day": e.day.isoformat(),
                    "kind": e.kind,
                    "actor_id": e.actor_id,
                    "actor": e.actor,
                    "subject": e.subject,
                    "data": e.data,
                    "prev_mac": e.prev_mac,
                    "mac": e.mac,
                }
                for e in events
            ],
            "proof": chain_proof([e.seq for e in events]),
            "signing_key": public_key_hex(),
        },
    }
    return sign_document(document)


def get_conversation_for_escalation(profile: StaffProfile, conversation_id: UUID):
    from console.access import access_conversation_for_staff

    return access_conversation_for_staff(profile, conversation_id)


def delivery_states() -> list[str]:
    return list(Delivery.State.values)

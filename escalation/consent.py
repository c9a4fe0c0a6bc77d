"""Consent to lift anonymity: asking, answering, and reading the details.

The operator asks (``check_request_consent``); the visitor sees the exact
text of the service's current version in their language and answers
(``check_answer_consent``). The record keeps who asked and when, the text's
version and SHA-256, the answer and its time. Contact details exist in
clear only in the answering call's memory: they are sealed at once to the
proposed unit's public key, or else encrypted under the conversation's
data key, and read back only on the escalation screens, each reading
audited (``get_contact_for_staff``).
"""

import hashlib
import json
import re
from typing import Any
from uuid import UUID

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.translation import gettext as _

from anonymity.crypto import DecryptionError, decrypt_note, encrypt_note
from chat import events, refusals
from chat.errors import ChatError
from chat.models import ConsentText, Conversation
from console.access import access_conversation_for_staff, require_in_charge
from console.models import StaffProfile
from directory.services import normalize_phone
from escalation.audit import record_event
from escalation.models import ConsentRequest
from escalation.units import propose_unit, seal_contact_to_unit, unit_public_key
from realtime import events as rt_events

CONTACT_FIELDS = ("name", "phone", "email", "address", "availability")
CONTACT_LIMITS = {
    "name": 200,
    "phone": 40,
    "email": 200,
    "address": 400,
    "availability": 400,
}
_FRENCH_NATIONAL = re.compile(r"0[1-9]\d{8}")


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def get_consent_text(conversation: Conversation) -> ConsentText:
    """Return the newest active text of the service, in the visitor's language.

    Falls back to French, then to the default service's text, so a
    service without its own text still asks in words an administrator
    wrote; with none at all, consent cannot be asked.
    """
    candidates = [
        (conversation.service_id, conversation.lang),
        (conversation.service_id, "fr"),
    ]
    for service_id, lang in candidates:
        text = (
            ConsentText.objects.filter(service_id=service_id, lang=lang, active=True)
            .order_by("-created_at", "-id")
            .first()
        )
        if text is not None:
            return text
    for lang in (conversation.lang, "fr"):
        text = (
            ConsentText.objects.filter(service__is_default=True, lang=lang, active=True)
            .order_by("-created_at", "-id")
            .first()
        )
        if text is not None:
            return text
    raise ChatError(
        "no_consent_text",
        _("Aucun texte de consentement n'est défini pour ce service."),
    )


def consent_text_is_used(text: ConsentText) -> bool:
    return ConsentRequest.objects.filter(consent_text=text).exists()


def consent_request_frame(consent: ConsentRequest) -> dict[str, Any]:
    return {
        "type": "consent_request",
        "request": str(consent.id),
        "text": consent.consent_text.text,
        "version": consent.text_version,
    }


def consent_status_frame(consent: ConsentRequest) -> dict[str, Any]:
    """What staff see of a consent: never the contact details."""
    return {
        "type": "consent",
        "conversation": str(consent.conversation_id),
        "request": str(consent.id),
        "status": consent.status,
        "fields": list(consent.shared_fields),
        "unit": consent.unit.name if consent.unit_id else "",
        "at": (consent.answered_at or consent.asked_at).isoformat(),
    }


def _notify(consent: ConsentRequest, *, visitor: bool) -> None:
    if visitor:
        rt_events.send_event_on_commit(
            events.visitor_group_name(consent.conversation_id),
            {"type": "chat.consent", "request": str(consent.id)},
        )
    rt_events.send_event_on_commit(
        events.conversation_staff_group_name(consent.conversation_id),
        {"type": "console.consent", "request": str(consent.id)},
    )


def check_request_consent(
    profile: StaffProfile, conversation_id: Any
) -> ConsentRequest:
    """Ask the visitor of an active conversation for consent (its operator)."""
    conversation = access_conversation_for_staff(profile, conversation_id)
    # The status before the charge, as this refusal always did: a waiting
    # conversation is "not in progress" rather than "not yours".
    if profile.has_role(StaffProfile.Role.OPERATOR) and (
        conversation.status != Conversation.Status.ACTIVE
    ):
        raise refusals.not_active()
    require_in_charge(profile, conversation)
    if ConsentRequest.objects.filter(
        conversation=conversation, status=ConsentRequest.Status.ASKED
    ).exists():
        raise ChatError(
            "bad_state", _("Une demande de consentement attend déjà sa réponse.")
        )
    if ConsentRequest.objects.filter(
        conversation=conversation, status=ConsentRequest.Status.ACCEPTED
    ).exists():
        raise ChatError("bad_state", _("La personne a déjà donné son consentement."))
    return do_request_consent(conversation, get_consent_text(conversation), profile)


@transaction.atomic
def do_request_consent(
    conversation: Conversation, text: ConsentText, profile: StaffProfile
) -> ConsentRequest:
    consent = ConsentRequest.objects.create(
        conversation=conversation,
        consent_text=text,
        text_version=text.version,
        text_hash=text_hash(text.text),
        lang=text.lang,
        asked_by=profile.user,
        asked_at=timezone.now(),
    )
    record_event(
        "consent_asked",
        actor=profile.user,
        subject=f"conversation:{conversation.id}",
        data={
            "consent": str(consent.id),
            "text_id": text.id,
            "version": text.version,
            "lang": text.lang,
            "sha256": consent.text_hash,
        },
    )
    _notify(consent, visitor=True)
    return consent


def get_pending_consent_frame(conversation: Conversation) -> dict[str, Any] | None:
    """Return the question still waiting for the visitor (after a resume)."""
    consent = (
        ConsentRequest.objects.filter(
            conversation_id=conversation.id, status=ConsentRequest.Status.ASKED
        )
        .select_related("consent_text")
        .first()
    )
    return consent_request_frame(consent) if consent else None


def get_consent_frame(consent_id: str, *, for_staff: bool) -> dict[str, Any] | None:
    consent = (
        ConsentRequest.objects.filter(id=consent_id)
        .select_related("consent_text", "unit")
        .first()
    )
    if consent is None:
        return None
    if for_staff:
        return consent_status_frame(consent)
    if consent.status != ConsentRequest.Status.ASKED:
        return None
    return consent_request_frame(consent)


def has_consent() -> Exists:
    """Whether the outer conversation has a consent request, as a subquery."""
    return Exists(ConsentRequest.objects.filter(conversation_id=OuterRef("id")))


def get_latest_consent_frame(conversation: Conversation) -> dict[str, Any] | None:
    """The staff view of the conversation's latest consent, for ``assigned``.

    Nothing to read when the conversation was read with ``has_consent``
    false.
    """
    if not getattr(conversation, "has_consent", True):
        return None
    consent = (
        ConsentRequest.objects.filter(conversation_id=conversation.id)
        .select_related("unit")
        .order_by("-asked_at")
        .first()
    )
    return consent_status_frame(consent) if consent else None


def to_e164(phone: str) -> str:
    """Return a normalized number in E.164 (+33… for a French number)."""
    if _FRENCH_NATIONAL.fullmatch(phone):
        return f"+33{phone[1:]}"
    return phone


def clean_contact(contact: Any) -> dict[str, str]:
    """Validate the details a visitor chose to give; refuse anything odd."""
    if not isinstance(contact, dict):
        raise ChatError("bad_request", _("Le champ contact est requis pour accepter."))
    unknown = set(contact) - set(CONTACT_FIELDS)
    if unknown:
        raise ChatError("bad_request", _("Champ de contact inconnu."))
    cleaned: dict[str, str] = {}
    for name in CONTACT_FIELDS:
        value = contact.get(name, "")
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise ChatError("bad_request", _("Les coordonnées doivent être du texte."))
        value = value.strip()
        if len(value) > CONTACT_LIMITS[name]:
            raise ChatError("invalid_contact", _("Une coordonnée est trop longue."))
        if value:
            cleaned[name] = value
    if not any(name in cleaned for name in ("phone", "email", "address")):
        raise ChatError(
            "invalid_contact",
            _(
                "Indiquez un téléphone, une adresse électronique ou une adresse "
                "postale."
            ),
        )
    if "phone" in cleaned:
        try:
            cleaned["phone"] = to_e164(normalize_phone(cleaned["phone"]))
        except ChatError:
            raise ChatError(
                "invalid_contact",
                _("Numéro de téléphone invalide (ex. 06 12 34 56 78 ou +33…)."),
                field="phone",
            ) from None
    if "email" in cleaned:
        try:
            validate_email(cleaned["email"])
        except ValidationError:
            raise ChatError(
                "invalid_contact",
                _("Adresse électronique invalide."),
                field="email",
            ) from None
    return cleaned


def check_answer_consent(
    conversation: Conversation, *, request_id: Any, accept: Any, contact: Any
) -> ConsentRequest:
    """Record the visitor's answer to a consent request of their conversation."""
    if not isinstance(accept, bool):
        raise refusals.accept_not_bool()
    try:
        key = UUID(str(request_id))
    except ValueError:
        raise refusals.consent_request_not_found() from None
    consent = (
        ConsentRequest.objects.filter(id=key, conversation_id=conversation.id)
        .select_related("consent_text")
        .first()
    )
    if consent is None:
        raise refusals.consent_request_not_found()
    if consent.status != ConsentRequest.Status.ASKED:
        raise refusals.already_answered()
    cleaned = clean_contact(contact) if accept else {}
    return do_answer_consent(consent, accept=accept, contact=cleaned)


@transaction.atomic
def do_answer_consent(
    consent: ConsentRequest, *, accept: bool, contact: dict[str, str]
) -> ConsentRequest:
    locked = ConsentRequest.objects.select_for_update().get(id=consent.id)
    if locked.status != ConsentRequest.Status.ASKED:
        raise refusals.already_answered()
    consent.answered_at = timezone.now()
    sealed_to = ""
    if accept:
        consent.status = ConsentRequest.Status.ACCEPTED
        consent.shared_fields = sorted(contact)
        unit = propose_unit(consent.conversation)
        consent.unit = unit
        if unit is not None and unit_public_key(unit):
            consent.contact_key, consent.contact_sealed = seal_contact_to_unit(
                unit, consent.id, contact
            )
            sealed_to = f"unit:{unit.id}"
        else:
            consent.contact_encrypted = encrypt_note(
                consent.conversation_id,
                json.dumps(contact, ensure_ascii=False),
                kind="contact",
            )
            sealed_to = "at_rest"
    else:
        consent.status = ConsentRequest.Status.DECLINED
    consent.save()
    record_event(
        "consent_answered",
        subject=f"conversation:{consent.conversation_id}",
        data={
            "consent": str(consent.id),
            "accept": accept,
            "fields": list(consent.shared_fields),
            "sealed_to": sealed_to,
            "unit": consent.unit_id,
            "sha256": consent.text_hash,
        },
    )
    _notify(consent, visitor=False)
    return consent


def get_contact_for_staff(consent: ConsentRequest, user: Any) -> dict[str, str] | None:
    """Return the contact details for an escalation screen, audited.

    Details sealed to a unit cannot be read here at all (None): only the
    unit's private key opens them.
    """
    if consent.contact_encrypted is None:
        return None
    with transaction.atomic():
        record_event(
            "contact_viewed",
            actor=user,
            subject=f"conversation:{consent.conversation_id}",
            data={"consent": str(consent.id)},
        )
        try:
            return json.loads(
                decrypt_note(
                    consent.conversation_id,
                    bytes(consent.contact_encrypted),
                    kind="contact",
                )
            )
        except DecryptionError:
            return {"—": _("[effacé : la durée de conservation est écoulée]")}


def read_contact_for_delivery(consent: ConsentRequest) -> dict[str, str] | None:
    """The sender's reading of at-rest details (the delivery is audited)."""
    if consent.contact_encrypted is None:
        return None
    return json.loads(
        decrypt_note(
            consent.conversation_id, bytes(consent.contact_encrypted), kind="contact"
        )
    )

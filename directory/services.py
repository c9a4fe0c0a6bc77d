"""Write paths of the directory: sharing a resource, callbacks, verifying.

Sharing a resource posts it in the conversation as a ``card`` message and
records an ``Orientation`` in the same transaction, so the statistics
count exactly the cards visitors received. A callback request seals the
visitor's phone number to the chosen association's key before anything
is stored (directory.sealing).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from chat.errors import ChatError
from chat.models import Conversation, Message, Service
from chat.services.messages import check_client_id, do_send_message
from console.models import StaffProfile
from console.selectors import access_conversation_for_staff, staff_sender_role
from directory.models import CallbackRequest, Orientation, Resource
from directory.sealing import (
    CallbackSealingUnavailable,
    generate_partner_key,
    key_fingerprint,
    seal_callback_contact,
)
from directory.selectors import (
    access_callback_request,
    access_resource_for_service,
    list_callback_partners,
    render_card,
)

MAX_CALLBACKS_PER_CONVERSATION = 3
MAX_TIMES_CHARS = 200
_PHONE_SEPARATORS = re.compile(r"[\s.\-()/]+")
_FRENCH_PHONE = re.compile(r"0[1-9]\d{8}")
_INTERNATIONAL_PHONE = re.compile(r"\+[1-9]\d{7,14}")


# -- sharing a resource -----------------------------------------------------


def check_send_resource(
    profile: StaffProfile, conversation_id: Any, *, resource_id: Any, client_id: Any
) -> tuple[Message, dict[str, str], bool]:
    """Share a directory entry in a conversation, as a card.

    The sender must be taking part (the operator in charge); the entry
    must be active and open to the conversation's service. Returns the
    message, its card, and whether it is new (False for a resent id).
    """
    if not isinstance(resource_id, str):
        raise ChatError("bad_request", _("Le champ resource est requis."))
    key = check_client_id(client_id) if client_id is not None else None
    conversation = access_conversation_for_staff(profile, conversation_id)
    sender = staff_sender_role(profile, conversation)
    if conversation.status == Conversation.Status.CLOSED:
        raise ChatError("bad_state", _("La conversation est terminée."))
    resource = access_resource_for_service(resource_id, conversation.service)
    return do_share_resource(
        conversation,
        resource=resource,
        sender=sender,
        user=profile.user,
        author_name=profile.pseudonym,
        client_id=key,
    )


@transaction.atomic
def do_share_resource(
    conversation: Conversation,
    *,
    resource: Resource,
    sender: str,
    user: User | None,
    author_name: str,
    client_id: uuid.UUID | None = None,
) -> tuple[Message, dict[str, str], bool]:
    """Post ``resource`` as a card and count the orientation, atomically."""
    card = render_card(resource)
    message, created = do_send_message(
        conversation.id,
        sender=sender,
        body=card_text(card),
        client_id=client_id,
        author=user,
        author_name=author_name,
        card=card,
    )
    if created:
        Orientation.objects.create(
            conversation=conversation,
            service_id=conversation.service_id,
            resource=resource,
            resource_kind=resource.kind,
            resource_name=resource.name[:300],
            department=conversation.commune.department if conversation.commune else "",
            shared_by=user,
            message_seq=message.seq,
        )
    return message, card, created


def card_text(card: dict[str, str]) -> str:
    """Return the plain-text form of a card, for clients without cards."""
    lines = [card["name"]]
    for key in ("phone", "address", "hours", "url"):
        if card.get(key):
            lines.append(card[key])
    return "\n".join(lines)


# -- callbacks --------------------------------------------------------------


def normalize_phone(value: Any) -> str:
    """Return a phone number as 10 French digits or +international.

    Raises ``bad_request`` for anything else; the message never repeats
    the number.
    """
    if not isinstance(value, str) or len(value) > 40:
        raise ChatError("bad_request", _("Numéro de téléphone invalide."))
    phone = _PHONE_SEPARATORS.sub("", value.strip())
    if phone.startswith("00"):
        phone = f"+{phone[2:]}"
    if phone.startswith("+330") and len(phone) == 13:
        # "+33 (0)6 12 34 56 78": the trunk zero written in brackets.
        phone = phone[3:]
    if phone.startswith("+33") and len(phone) == 12:
        phone = f"0{phone[3:]}"
    if _FRENCH_PHONE.fullmatch(phone) or _INTERNATIONAL_PHONE.fullmatch(phone):
        return phone
    raise ChatError("bad_request", _("Numéro de téléphone invalide."))


def check_request_callback(
    conversation: Conversation, *, partner_id: Any, phone: Any, times: Any
) -> CallbackRequest:
    """Validate a visitor's callback request and store it, sealed.

    The conversation's service must offer callbacks and ``partner_id``
    must be one of its partner associations.
    """
    if times is None:
        times = ""
    if not isinstance(times, str) or len(times) > MAX_TIMES_CHARS:
        raise ChatError(
            "bad_request",
            _("Les disponibilités tiennent en %(limit)s caractères.")
            % {"limit": MAX_TIMES_CHARS},
        )
    number = normalize_phone(phone)
    conversation.refresh_from_db(fields=["status"])
    if conversation.status == Conversation.Status.CLOSED:
        raise ChatError("bad_state", _("La conversation est terminée."))
    service = Service.objects.get(id=conversation.service_id)
    partners = {str(partner.id): partner for partner in list_callback_partners(service)}
    if not partners:
        raise ChatError(
            "callback_unavailable", _("Ce service ne propose pas de rappel.")
        )
    partner = partners.get(str(partner_id))
    if partner is None:
        raise ChatError("not_found", _("Association introuvable."))
    made = CallbackRequest.objects.filter(conversation=conversation).count()
    if made >= MAX_CALLBACKS_PER_CONVERSATION:
        raise ChatError(
            "callback_limit", _("Vous avez déjà demandé plusieurs rappels.")
        )
    return do_request_callback(
        conversation, partner=partner, phone=number, times=times.strip()
    )


@transaction.atomic
def do_request_callback(
    conversation: Conversation, *, partner: Resource, phone: str, times: str
) -> CallbackRequest:
    """Seal the details to the partner's key, store, and tell the chat.

    The phone number exists in clear only in this call's memory.
    """
    request_id = uuid.uuid4()
    try:
        fingerprint, sealed = seal_callback_contact(
            public_raw=partner.public_key,
            request_id=request_id,
            partner_id=partner.id,
            phone=phone,
            times=times,
        )
    except CallbackSealingUnavailable:
        raise ChatError(
            "callback_unavailable", _("Cette association ne peut pas être jointe.")
        ) from None
    request = CallbackRequest(
        id=request_id,
        conversation=conversation,
        service_id=conversation.service_id,
        partner=partner,
        key_fingerprint=fingerprint,
        sealed=sealed,
    )
    request.full_clean()
    request.save()
    do_send_message(
        conversation.id,
        sender=Message.Sender.SYSTEM,
        body=_("Demande de rappel transmise à %(partner)s.")
        % {"partner": partner.name},
    )
    return request


def check_set_callback_status(
    user: User, request_id: Any, *, status: Any
) -> CallbackRequest:
    """Close a callback request as done, unreachable or declined.

    Only the chosen association's staff may; a closed request stays
    closed (a second close says ``bad_state``).
    """
    allowed = {
        CallbackRequest.Status.DONE,
        CallbackRequest.Status.UNREACHABLE,
        CallbackRequest.Status.DECLINED,
    }
    if status not in allowed:
        raise ChatError(
            "bad_request", _("Statut attendu : done, unreachable ou declined.")
        )
    request = access_callback_request(user, request_id)
    if request.status != CallbackRequest.Status.PENDING:
        raise ChatError("bad_state", _("Cette demande est déjà traitée."))
    return do_set_callback_status(request, status=status, user=user)


@transaction.atomic
def do_set_callback_status(
    request: CallbackRequest, *, status: str, user: User | None
) -> CallbackRequest:
    updated = CallbackRequest.objects.filter(
        id=request.id, status=CallbackRequest.Status.PENDING
    ).update(status=status, handled_at=timezone.now(), handled_by=user)
    if not updated:
        raise ChatError("bad_state", _("Cette demande est déjà traitée."))
    request.refresh_from_db()
    return request


def check_reveal_callback(
    user: User, request_id: Any, *, key_pem: bytes, passphrase: bytes
) -> dict[str, str]:
    """Return a request's phone and times, opened with the partner's key.

    The key and passphrase are used in memory and dropped; each opening
    is counted on the request.
    """
    # The only import of the unsealing module.
    from directory.unsealing import (
        UnsealingFailed,
        load_partner_private_key,
        open_callback_contact,
    )

    request = access_callback_request(user, request_id)
    try:
        private_key = load_partner_private_key(key_pem, passphrase)
        details = open_callback_contact(
            request.sealed,
            request_id=request.id,
            partner_id=request.partner_id,
            fingerprint=request.key_fingerprint,
            private_key=private_key,
        )
    except UnsealingFailed:
        raise ChatError(
            "unseal_failed", _("Clé ou phrase de passe incorrecte pour cette demande.")
        ) from None
    CallbackRequest.objects.filter(id=request.id).update(
        reveal_count=request.reveal_count + 1, last_revealed_at=timezone.now()
    )
    return details


# -- administration ---------------------------------------------------------


@transaction.atomic
def do_verify_resource(resource: Resource, *, user: User | None) -> Resource:
    """Mark an entry verified today by ``user``."""
    resource.verified_at = timezone.localdate()
    resource.verified_by = user
    resource.save(update_fields=["verified_at", "verified_by", "updated_at"])
    return resource


@transaction.atomic
def do_create_partner_key(resource: Resource, *, passphrase: bytes) -> bytes:
    """Give a partner a new key pair; return its protected private key PEM.

    Requests already sealed to the old key stay readable with the old key
    file only: keep it until they are handled.
    """
    public_raw, pem = generate_partner_key(passphrase)
    resource.public_key = public_raw
    resource.key_fingerprint = key_fingerprint(public_raw)
    resource.save(update_fields=["public_key", "key_fingerprint", "updated_at"])
    return pem

"""Disclosure of a conversation's connection data (docs/security.md §B2).

Only for an urgent case or a minor, and only after a prosecutor's
approval. A request moves along ``TRANSITIONS`` and nothing else:

    requested ─endorse→ endorsed ─approve→ approved ─execute→ executed ─close→ closed
        │                  │                  └─expire→ expired
        ├─decline→ refused └─refuse→ refused
        └─withdraw→ withdrawn (also from endorsed)

Each transition and its audit entry are written in one transaction
(``do_transition``). The requester can never endorse their own request
nor record its decision: the service refuses, and so do the table's
check constraints. Execution needs the month's sealing private key and
its passphrase, held by a key custodian; the key is used in memory only,
the address is returned to the caller to be shown once, and is written
nowhere (the audit entry says how many records were opened, not what).
"""

import hashlib
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from uuid import UUID

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from anonymity.crypto import DecryptionError, decrypt_note, encrypt_note
from anonymity.models import SealedConnection
from anonymity.unsealing import unseal_ip_address
from chat import refusals
from chat.errors import ChatError
from chat.models import Conversation
from console.access import access_conversation_for_staff
from console.models import StaffProfile
from escalation.audit import record_event
from escalation.models import DisclosureRequest
from escalation.reports import new_reference

State = DisclosureRequest.State
JUSTIFICATION_MIN_CHARS = 20
JUSTIFICATION_MAX_CHARS = 4000
DOCUMENT_MAX_BYTES = 5 * 1024 * 1024
OPEN_STATES = (State.REQUESTED, State.ENDORSED, State.APPROVED)


@dataclass(frozen=True)
class Transition:
    sources: tuple[str, ...]
    target: str
    # Who may take it: a role, "requester", or "system".
    allowed: tuple[str, ...]


TRANSITIONS: dict[str, Transition] = {
    "endorse": Transition((State.REQUESTED,), State.ENDORSED, ("supervisor",)),
    "decline": Transition((State.REQUESTED,), State.REFUSED, ("supervisor",)),
    "approve": Transition((State.ENDORSED,), State.APPROVED, ("supervisor",)),
    "refuse": Transition((State.ENDORSED,), State.REFUSED, ("supervisor",)),
    "execute": Transition((State.APPROVED,), State.EXECUTED, ("custodian",)),
    "expire": Transition((State.APPROVED,), State.EXPIRED, ("system",)),
    "close": Transition((State.EXECUTED,), State.CLOSED, ("supervisor", "custodian")),
    "withdraw": Transition(
        (State.REQUESTED, State.ENDORSED), State.WITHDRAWN, ("requester", "supervisor")
    ),
}


def actions_for(request: DisclosureRequest, profile: StaffProfile) -> list[str]:
    """The transitions this person may take now (the screen's buttons)."""
    return [
        name
        for name, transition in TRANSITIONS.items()
        if request.state in transition.sources
        and _may(profile, request, transition, name)
    ]


def _may(
    profile: StaffProfile, request: DisclosureRequest, transition: Transition, name: str
) -> bool:
    is_requester = profile.user_id == request.requested_by_id
    if name in ("endorse", "decline", "approve", "refuse") and is_requester:
        return False
    for who in transition.allowed:
        if who == "requester" and is_requester:
            return True
        if who not in ("requester", "system") and profile.has_role(who):
            return True
    return False


def do_transition(
    request: DisclosureRequest,
    name: str,
    *,
    user: Any,
    fields: dict[str, Any] | None = None,
    audit: dict[str, Any] | None = None,
) -> DisclosureRequest:
    """Apply one transition of ``TRANSITIONS`` with its audit entry, atomically."""
    transition = TRANSITIONS[name]
    with transaction.atomic():
        locked = DisclosureRequest.objects.select_for_update().get(id=request.id)
        if locked.state not in transition.sources:
            raise ChatError(
                "bad_state",
                _("Cette étape n'est pas possible dans l'état « %(state)s ».")
                % {"state": locked.get_state_display()},
            )
        previous = locked.state
        for key, value in (fields or {}).items():
            setattr(locked, key, value)
        locked.state = transition.target
        locked.updated_at = timezone.now()
        locked.save()
        record_event(
            f"disclosure_{name}",
            actor=user,
            subject=f"conversation:{locked.conversation_id}",
            data={
                "disclosure": locked.reference,
                "from": previous,
                "to": transition.target,
                **(audit or {}),
            },
        )
    return locked


def _refuse(request: DisclosureRequest | None, user: Any, step: str, why: str) -> None:
    """Record a refused attempt (its own transaction), then refuse."""
    with transaction.atomic():
        record_event(
            "disclosure_refused_attempt",
            actor=user,
            subject=f"conversation:{request.conversation_id}" if request else "",
            data={
                "disclosure": request.reference if request else "",
                "step": step,
                "reason": why,
            },
        )


def get_request_for_staff(profile: StaffProfile, request_id: Any) -> DisclosureRequest:
    try:
        key = UUID(str(request_id))
    except ValueError:
        raise refusals.request_not_found() from None
    request = (
        DisclosureRequest.objects.filter(id=key)
        .select_related("conversation__service", "requested_by__staff")
        .first()
    )
    if request is None:
        raise refusals.request_not_found()
    if not profile.has_role(StaffProfile.Role.CUSTODIAN):
        access_conversation_for_staff(profile, request.conversation_id)
    return request


def check_request_disclosure(
    profile: StaffProfile, conversation_id: Any, *, ground: Any, justification: Any
) -> DisclosureRequest:
    """The operator asks for the connection data of a flagged conversation."""
    conversation = access_conversation_for_staff(profile, conversation_id)
    if not profile.has_role(StaffProfile.Role.OPERATOR):
        raise refusals.role_forbidden()
    if ground not in DisclosureRequest.Ground.values:
        raise ChatError("bad_request", _("Choisissez le motif : urgence ou mineur·e."))
    if (ground == "urgent" and not conversation.urgent) or (
        ground == "minor" and not conversation.minor
    ):
        raise ChatError(
            "bad_state",
            _(
                "Signalez d'abord la conversation comme urgente ou concernant "
                "un·e mineur·e."
            ),
        )
    if not isinstance(justification, str) or not (
        JUSTIFICATION_MIN_CHARS <= len(justification.strip()) <= JUSTIFICATION_MAX_CHARS
    ):
        raise ChatError(
            "bad_request",
            _("La justification doit compter entre 20 et 4000 caractères."),
        )
    if DisclosureRequest.objects.filter(
        conversation=conversation, state__in=OPEN_STATES
    ).exists():
        raise ChatError(
            "bad_state", _("Une demande est déjà en cours pour cette conversation.")
        )
    return do_request_disclosure(
        conversation,
        ground=ground,
        justification=justification.strip(),
        user=profile.user,
    )


@transaction.atomic
def do_request_disclosure(
    conversation: Conversation, *, ground: str, justification: str, user: Any
) -> DisclosureRequest:
    now = timezone.now()
    request = DisclosureRequest.objects.create(
        reference=new_reference("REQ"),
        conversation=conversation,
        ground=ground,
        justification_encrypted=encrypt_note(
            conversation.id, justification, kind="justification"
        ),
        requested_by=user,
        requested_at=now,
        updated_at=now,
    )
    record_event(
        "disclosure_requested",
        actor=user,
        subject=f"conversation:{conversation.id}",
        data={"disclosure": request.reference, "ground": ground, "to": State.REQUESTED},
    )
    return request


def read_justification(request: DisclosureRequest) -> str:
    """The grounds, or a note once retention destroyed the key."""
    try:
        return decrypt_note(
            request.conversation_id,
            bytes(request.justification_encrypted),
            kind="justification",
        )
    except DecryptionError:
        return _("[effacé : la durée de conservation est écoulée]")


def _require_supervisor_not_requester(
    profile: StaffProfile, request: DisclosureRequest, step: str
) -> None:
    if profile.user_id == request.requested_by_id:
        _refuse(request, profile.user, step, "requester")
        raise ChatError(
            "forbidden",
            _("Vous avez fait cette demande : une autre personne doit la viser."),
        )
    if not profile.has_role(StaffProfile.Role.SUPERVISOR):
        _refuse(request, profile.user, step, "not a supervisor")
        raise refusals.supervisors_only()


def check_endorse(profile: StaffProfile, request_id: Any) -> DisclosureRequest:
    request = get_request_for_staff(profile, request_id)
    _require_supervisor_not_requester(profile, request, "endorse")
    return do_transition(
        request,
        "endorse",
        user=profile.user,
        fields={"endorsed_by": profile.user, "endorsed_at": timezone.now()},
    )


def check_decline(profile: StaffProfile, request_id: Any) -> DisclosureRequest:
    request = get_request_for_staff(profile, request_id)
    _require_supervisor_not_requester(profile, request, "decline")
    return do_transition(request, "decline", user=profile.user)


def check_withdraw(profile: StaffProfile, request_id: Any) -> DisclosureRequest:
    request = get_request_for_staff(profile, request_id)
    if not (
        profile.user_id == request.requested_by_id
        or profile.has_role(StaffProfile.Role.SUPERVISOR)
    ):
        raise refusals.role_forbidden()
    return do_transition(request, "withdraw", user=profile.user)


def check_record_decision(
    profile: StaffProfile,
    request_id: Any,
    *,
    decision: Any,
    parquet_reference: Any,
    magistrate: Any,
    decision_date: Any,
    document_name: str = "",
    document: bytes | None = None,
) -> DisclosureRequest:
    """Record the prosecutor's decision on an endorsed request."""
    request = get_request_for_staff(profile, request_id)
    _require_supervisor_not_requester(profile, request, "decision")
    if decision not in ("approved", "refused"):
        raise ChatError(
            "bad_request", _("Indiquez la décision : autorisée ou refusée.")
        )
    for value, label in (
        (parquet_reference, _("référence du parquet")),
        (magistrate, _("magistrat·e")),
    ):
        if not isinstance(value, str) or not 2 <= len(value.strip()) <= 150:
            raise ChatError(
                "bad_request", _("Champ requis : %(field)s.") % {"field": label}
            )
    if not isinstance(decision_date, date) or decision_date > timezone.localdate():
        raise ChatError("bad_request", _("Date de décision invalide."))
    if document is not None and len(document) > DOCUMENT_MAX_BYTES:
        raise ChatError("bad_request", _("Document trop lourd (5 Mo au plus)."))
    now = timezone.now()
    fields: dict[str, Any] = {
        "decision": decision,
        "parquet_reference": parquet_reference.strip(),
        "magistrate": magistrate.strip(),
        "decision_date": decision_date,
        "decided_by": profile.user,
        "decided_at": now,
    }
    audit = {
        "decision": decision,
        "parquet_reference": fields["parquet_reference"],
        "magistrate": fields["magistrate"],
        "decision_date": decision_date.isoformat(),
    }
    if document:
        fields.update(
            document=document,
            document_name=(document_name or "decision")[:200],
            document_sha256=hashlib.sha256(document).hexdigest(),
        )
        audit["document_sha256"] = fields["document_sha256"]
    if decision == "approved":
        fields["expires_at"] = now + timedelta(hours=settings.DISCLOSURE_APPROVAL_HOURS)
        audit["expires_at"] = fields["expires_at"].isoformat()
    return do_transition(
        request,
        "approve" if decision == "approved" else "refuse",
        user=profile.user,
        fields=fields,
        audit=audit,
    )


def do_expire_lapsed() -> int:
    """Lapse approvals not executed in time; return how many."""
    count = 0
    lapsed = DisclosureRequest.objects.filter(
        state=State.APPROVED, expires_at__lte=timezone.now()
    )
    for request in lapsed:
        try:
            do_transition(request, "expire", user=None)
        except ChatError:
            continue  # someone executed or expired it meanwhile
        count += 1
    return count


def load_custodian_key(pem: bytes, passphrase: bytes) -> X25519PrivateKey:
    """Load a passphrase-protected sealing key from bytes, in memory only."""
    try:
        key = serialization.load_pem_private_key(pem, password=passphrase or None)
    except (ValueError, TypeError):
        raise ChatError("bad_key", _("Clé ou phrase de passe incorrecte.")) from None
    if not isinstance(key, X25519PrivateKey):
        raise ChatError("bad_key", _("Ce fichier n'est pas une clé de scellement."))
    return key


def sealed_rows_for(request: DisclosureRequest) -> list[tuple[int, Any, str, bytes]]:
    """The request's sealed records: (id, conversation, key id, blob).

    On PostgreSQL the web role cannot read the blobs; a SECURITY DEFINER
    function (migration 0003) hands them over for an approved, unexpired
    request only.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT id, conversation_id, key_id, sealed"
                " FROM escalation_sealed_for_disclosure(%s)",
                [request.id],
            )
            return [(r[0], r[1], r[2], bytes(r[3])) for r in cursor.fetchall()]
    return [
        (row.id, row.conversation_id, row.key_id, bytes(row.sealed))
        for row in SealedConnection.objects.filter(
            conversation_id=request.conversation_id
        ).order_by("sealed_at", "id")
    ]


def check_execute(
    profile: StaffProfile,
    request_id: Any,
    *,
    key_pem: bytes,
    passphrase: bytes,
    user: Any = None,
) -> tuple[DisclosureRequest, list[dict[str, Any]]]:
    """Open the sealed connection records of an approved, unexpired request.

    Returns the request and the records ({ip, port, seen_at, server} each)
    for the caller to show once; they are stored nowhere.
    """
    user = user or profile.user
    request = get_request_for_staff(profile, request_id)
    if not profile.has_role(StaffProfile.Role.CUSTODIAN):
        _refuse(request, user, "execute", "not a custodian")
        raise ChatError("forbidden", _("Réservé aux dépositaires de clé."))
    if request.state == State.APPROVED and request.expires_at <= timezone.now():
        do_transition(request, "expire", user=None)
        _refuse(request, user, "execute", "expired")
        raise ChatError("expired", _("L'autorisation a expiré : rien n'a été ouvert."))
    if request.state != State.APPROVED:
        _refuse(request, user, "execute", f"state {request.state}")
        raise ChatError(
            "bad_state",
            _("Seule une demande autorisée par le parquet peut être exécutée."),
        )
    if not passphrase:
        _refuse(request, user, "execute", "no passphrase")
        raise ChatError("bad_key", _("La phrase de passe est requise."))
    try:
        private_key = load_custodian_key(key_pem, passphrase)
    except ChatError:
        _refuse(request, user, "execute", "bad key or passphrase")
        raise
    records, skipped = [], []
    for row_id, conversation_id, key_id, sealed in sealed_rows_for(request):
        try:
            record = unseal_ip_address(
                sealed,
                key_id=key_id,
                conversation_id=str(conversation_id),
                private_key=private_key,
            )
        except Exception:  # noqa: BLE001 - another month's key
            skipped.append(key_id)
            continue
        records.append({**record, "key_id": key_id, "record": row_id})
    del private_key
    if not records:
        _refuse(request, user, "execute", "no record opened with this key")
        raise ChatError(
            "bad_key",
            _("Aucun enregistrement ne s'ouvre avec cette clé (mois : %(months)s).")
            % {"months": ", ".join(sorted(set(skipped))) or "—"},
        )
    request = do_transition(
        request,
        "execute",
        user=user,
        fields={"executed_by": user, "executed_at": timezone.now()},
        audit={
            "records_opened": len(records),
            "records_other_month": len(skipped),
            "key_ids": sorted({r["key_id"] for r in records}),
        },
    )
    return request, records


def check_close(profile: StaffProfile, request_id: Any) -> DisclosureRequest:
    request = get_request_for_staff(profile, request_id)
    if not (
        profile.has_role(StaffProfile.Role.SUPERVISOR)
        or profile.has_role(StaffProfile.Role.CUSTODIAN)
    ):
        raise refusals.role_forbidden()
    return do_transition(
        request, "close", user=profile.user, fields={"closed_at": timezone.now()}
    )

"""Local units: which one is competent for a conversation, and sealing to it."""

import base64
import hashlib
import json
from typing import Any
from uuid import UUID

from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

from chat.models import Conversation
from escalation.models import Unit

SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
CONTACT_RECORD_BYTES = 2048


def propose_unit(conversation: Conversation) -> Unit | None:
    """Return the unit competent for the conversation's commune, if known.

    The commune's force (``chat.competence``) picks police or gendarmerie;
    a unit listing the commune wins over one covering its department. A
    split or unknown force proposes whichever covers the place.
    """
    commune = conversation.commune
    if commune is None:
        return None
    units = Unit.objects.filter(active=True)
    if conversation.competence in (Unit.Force.POLICE, Unit.Force.GENDARMERIE):
        units = units.filter(force=conversation.competence)
    by_department = None
    for unit in units:
        if commune.code_insee in (unit.communes or []):
            return unit
        if by_department is None and commune.department in (unit.departments or []):
            by_department = unit
    return by_department


def unit_public_key(unit: Unit) -> bytes | None:
    if not unit.public_key:
        return None
    raw = base64.b64decode(unit.public_key)
    X25519PublicKey.from_public_bytes(raw)  # refuses anything else
    return raw


def key_fingerprint(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()[:16]


def contact_info(consent_id: UUID, unit_id: int, fingerprint: str) -> bytes:
    return f"consent-contact/v1|{consent_id}|{unit_id}|{fingerprint}".encode()


def seal_contact_to_unit(
    unit: Unit, consent_id: UUID, contact: dict[str, str]
) -> tuple[str, bytes]:
    """Seal contact details to the unit's key; return (fingerprint, blob).

    Padded to a fixed size, so the blob's length says nothing; ``info``
    binds it to the consent record, the unit and the key.
    """
    raw = unit_public_key(unit)
    if raw is None:
        raise ValueError("the unit has no public key")
    record = json.dumps(contact, ensure_ascii=False, separators=(",", ":")).encode()
    if len(record) > CONTACT_RECORD_BYTES:
        raise ValueError("contact record too long")
    fingerprint = key_fingerprint(raw)
    blob = SUITE.encrypt(
        record.ljust(CONTACT_RECORD_BYTES, b" "),
        X25519PublicKey.from_public_bytes(raw),
        info=contact_info(consent_id, unit.id, fingerprint),
    )
    return fingerprint, blob


def open_contact_for_unit(
    blob: bytes, *, private_key: Any, consent_id: UUID, unit_id: int, fingerprint: str
) -> dict[str, str]:
    """What the unit does with its private key (tests and the unit's tools)."""
    record = SUITE.decrypt(
        bytes(blob), private_key, info=contact_info(consent_id, unit_id, fingerprint)
    )
    return json.loads(record.rstrip(b" "))

"""Sealing a visitor's callback details to the partner association's key.

A visitor who asks to be called back gives a phone number and the times
that suit them. The web tier seals both at once with HPKE (RFC 9180:
X25519, HKDF-SHA256, AES-256-GCM) to the chosen association's public key
(docs/security.md §B3) and keeps only the ciphertext. The plaintext is padded
to a fixed size, so the blob's length says nothing about the number;
``info`` binds the blob to its request, partner and key, so a blob moved
to another row fails to open.

Protects against: a database or backup reader, a log reader, operators of
the service, and a compromised web process for requests made before the
compromise. Does not protect against a stolen private key file together
with its passphrase. Opening lives in ``directory.unsealing``, used only
by the partner's callback queue.
"""

import hashlib
import json
from uuid import UUID

from cryptography.hazmat.primitives import hpke, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import (
    X25519PrivateKey,
    X25519PublicKey,
)

SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
RECORD_BYTES = 1024


class CallbackSealingUnavailable(Exception):
    """The partner has no public key: refuse rather than store clear."""


def key_fingerprint(public_raw: bytes) -> str:
    """Return the short fingerprint naming a partner's public key."""
    return hashlib.sha256(public_raw).hexdigest()[:16]


def callback_info(request_id: UUID, partner_id: UUID, fingerprint: str) -> bytes:
    return f"callback/v1|{request_id}|{partner_id}|{fingerprint}".encode()


def build_record(*, phone: str, times: str) -> bytes:
    """Return the fixed-size plaintext of a callback request."""
    record = json.dumps(
        {"phone": phone, "times": times}, ensure_ascii=False, separators=(",", ":")
    ).encode()
    if len(record) > RECORD_BYTES:
        raise ValueError("callback record too long")
    return record.ljust(RECORD_BYTES, b" ")


def seal_callback_contact(
    *,
    public_raw: bytes | None,
    request_id: UUID,
    partner_id: UUID,
    phone: str,
    times: str,
) -> tuple[str, bytes]:
    """Return (key fingerprint, sealed blob) of a callback's details."""
    if not public_raw:
        raise CallbackSealingUnavailable("the partner has no public key")
    public_key = X25519PublicKey.from_public_bytes(bytes(public_raw))
    fingerprint = key_fingerprint(bytes(public_raw))
    blob = SUITE.encrypt(
        build_record(phone=phone, times=times),
        public_key,
        info=callback_info(request_id, partner_id, fingerprint),
    )
    return fingerprint, blob


def generate_partner_key(passphrase: bytes) -> tuple[bytes, bytes]:
    """Return (raw public key, passphrase-protected PEM private key).

    The private key never touches the database: the caller writes the PEM
    to a file for the association's staff.
    """
    if len(passphrase) < 12:
        raise ValueError("the passphrase must have at least 12 characters")
    private_key = X25519PrivateKey.generate()
    public_raw = private_key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase),
    )
    return public_raw, pem

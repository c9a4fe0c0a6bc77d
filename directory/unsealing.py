"""Opening a sealed callback request: for the partner association only.

Needs the association's private key, which exists only in its
passphrase-protected file; the key and passphrase are used in memory for
one request and never stored. Only ``directory.services.
check_reveal_callback`` calls this, after checking that the user is one
of the association's staff.
"""

import json
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from directory.sealing import SUITE, callback_info, key_fingerprint


class UnsealingFailed(Exception):
    """Wrong key file, wrong passphrase, or a blob that does not open."""


def load_partner_private_key(pem: bytes, passphrase: bytes) -> X25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=passphrase)
    except (ValueError, TypeError):
        raise UnsealingFailed("the key file or passphrase is wrong") from None
    if not isinstance(key, X25519PrivateKey):
        raise UnsealingFailed("not an X25519 key")
    return key


def open_callback_contact(
    sealed: bytes,
    *,
    request_id: Any,
    partner_id: Any,
    fingerprint: str,
    private_key: X25519PrivateKey,
) -> dict[str, str]:
    """Return {"phone", "times"} of a sealed callback request."""
    public_raw = private_key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    if key_fingerprint(public_raw) != fingerprint:
        raise UnsealingFailed("this request was sealed to another key")
    try:
        record = SUITE.decrypt(
            bytes(sealed),
            private_key,
            info=callback_info(request_id, partner_id, fingerprint),
        )
    except Exception:  # noqa: BLE001 - any failure is "does not open".
        raise UnsealingFailed("the sealed details do not open") from None
    return json.loads(record.rstrip(b" ").decode())

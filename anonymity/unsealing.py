"""Opening sealed connection records: for the key custodians only.

This module needs a sealing *private* key, which only exists in the
custodians' passphrase-protected files; the web tier has none, so calling
this from the web tier fails. ``tests/anonymity/test_imports.py`` checks
that no module of the web tier imports it except the custodian command
(and, later, the one escalation service allowed to after an approval).
"""

import json
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from anonymity.sealing import SUITE, sealing_info


def load_private_key(path: Path, passphrase: bytes) -> X25519PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=passphrase)
    if not isinstance(key, X25519PrivateKey):
        raise ValueError("not an X25519 sealing key")
    return key


def unseal_ip_address(
    sealed: bytes, *, key_id: str, conversation_id: str, private_key: X25519PrivateKey
) -> dict:
    """Return {ip, port, seen_at, server} of a sealed connection record."""
    record = SUITE.decrypt(
        bytes(sealed), private_key, info=sealing_info(key_id, conversation_id)
    )
    return json.loads(record.rstrip(b" "))

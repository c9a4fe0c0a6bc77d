"""The Redis layer's payloads: msgpack, sealed with AES-GCM.

channels_redis seals payloads with Fernet (AES-CBC, HMAC-SHA256, then
base64), and a message's event carries its text, so every event is
sealed once and opened by every socket that receives it. At 1,000
messages a second that was a tenth of the servers' work
(bench/README.md, "Twelfth pass"); AES-GCM does the same job in one pass
over the bytes, with no base64.

Keys are ``CHANNEL_LAYER_KEYS`` as before, newest first: a process seals
with the first and opens with any, so rotation is unchanged. AES-GCM
must never see one nonce twice under one key, and processes do not talk
to each other to share a counter. So each process's serializer draws a
random sender id (a forked child draws its own) and seals under a
key of its own, derived from the configured key and that id
(HKDF-SHA256), its nonces a counter. A receiver derives the sender's key
the first time it meets the sender id and keeps the last
``SENDER_KEYS_KEPT`` of them.

A token is: version (1 byte), sender id (16), nonce (12), then the
ciphertext and its tag. The version and sender id are authenticated
with it. A token that does not open under any key raises
``LayerTokenInvalid``, as Fernet's ``InvalidToken`` did.
"""

import hashlib
import itertools
import os
import threading
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import msgpack
from channels_redis.serializers import BaseMessageSerializer, registry
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

FORMAT = "msgpack-aesgcm"
VERSION = b"\x01"
SENDER_ID_BYTES = 16
NONCE_BYTES = 12
HEADER_BYTES = len(VERSION) + SENDER_ID_BYTES + NONCE_BYTES
# Sender ids whose keys a receiver keeps: one per server process or
# command that sends, and a new one after each restart.
SENDER_KEYS_KEPT = 256
HKDF_INFO = b"ecoute channel layer v1"


class LayerTokenInvalid(ValueError):
    """A payload that is not a token sealed under any configured key."""


def _master_key(key: str | bytes) -> bytes:
    # As channels_redis did: any string makes a 32-byte key.
    if isinstance(key, str):
        key = key.encode()
    return hashlib.sha256(key).digest()


def _sender_key(master: bytes, sender_id: bytes) -> AESGCM:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=sender_id, info=HKDF_INFO)
    return AESGCM(hkdf.derive(master))


class AesGcmSerializer(BaseMessageSerializer):
    """msgpack sealed with AES-GCM under a per-process key (module doc)."""

    def __init__(
        self,
        symmetric_encryption_keys: Sequence[str | bytes] | None = None,
        random_prefix_length: int = 0,
        expiry: int | None = None,
    ) -> None:
        if random_prefix_length:
            raise ValueError(f"{FORMAT} takes no random prefix")
        super().__init__(symmetric_encryption_keys=symmetric_encryption_keys)

    def _setup_encryption(self, symmetric_encryption_keys: Any) -> None:
        # Called by the base class's constructor.
        if not symmetric_encryption_keys or isinstance(
            symmetric_encryption_keys, (str, bytes)
        ):
            raise ValueError(f"{FORMAT} needs a list of keys, newest first")
        self.crypter = None
        self._masters = [_master_key(key) for key in symmetric_encryption_keys]
        self._opening: OrderedDict[bytes, list[AESGCM]] = OrderedDict()
        self._lock = threading.Lock()
        self._new_sender()
        # A forked child must not reuse its parent's nonces.
        new_sender = weakref.WeakMethod(self._new_sender)
        os.register_at_fork(after_in_child=lambda: _call_if_alive(new_sender))

    def _new_sender(self) -> None:
        self._sender_id = os.urandom(SENDER_ID_BYTES)
        self._sealing = _sender_key(self._masters[0], self._sender_id)
        # next() on a count is atomic under the GIL: no nonce twice, even
        # from two threads.
        self._nonces = itertools.count()

    as_bytes = staticmethod(msgpack.packb)
    from_bytes = staticmethod(msgpack.unpackb)

    def serialize(self, message: dict[str, Any]) -> bytes:
        header = VERSION + self._sender_id
        nonce = next(self._nonces).to_bytes(NONCE_BYTES, "big")
        sealed = self._sealing.encrypt(nonce, self.as_bytes(message), header)
        return header + nonce + sealed

    def deserialize(self, message: bytes) -> dict[str, Any]:
        if len(message) < HEADER_BYTES or message[:1] != VERSION:
            raise LayerTokenInvalid("not a sealed layer payload")
        header = message[: len(VERSION) + SENDER_ID_BYTES]
        nonce = message[len(header) : HEADER_BYTES]
        for key in self._keys_of(header[len(VERSION) :]):
            try:
                plain = key.decrypt(nonce, message[HEADER_BYTES:], header)
            except InvalidTag:
                continue
            return self.from_bytes(plain)
        raise LayerTokenInvalid("no configured key opens this layer payload")

    def _keys_of(self, sender_id: bytes) -> list[AESGCM]:
        with self._lock:
            keys = self._opening.get(sender_id)
            if keys is not None:
                self._opening.move_to_end(sender_id)
                return keys
        keys = [_sender_key(master, sender_id) for master in self._masters]
        with self._lock:
            self._opening[sender_id] = keys
            while len(self._opening) > SENDER_KEYS_KEPT:
                self._opening.popitem(last=False)
        return keys


def _call_if_alive(method: weakref.WeakMethod) -> None:
    bound = method()
    if bound is not None:
        bound()


registry.register_serializer(FORMAT, AesGcmSerializer)

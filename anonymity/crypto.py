"""Encryption at rest of message bodies and notes (docs/security.md §B4).

Each conversation has its own AES-256-GCM data key (DEK). The DEK is
stored wrapped by a key-encryption key (KEK) from the ``MESSAGE_KEYS``
ring; the first KEK of the ring wraps new DEKs, every KEK of the ring
unwraps. Rotating means adding a KEK in front and re-wrapping the DEKs
(``manage.py rotate_message_keys``): 32 bytes a conversation, no message
re-encrypted. Each ciphertext's AAD binds it to its conversation, seq and
sender, so a row copied elsewhere fails to decrypt.

Protects against: a database thief or a backup reader without the key
ring. Does not protect against: a compromised web process, which holds
the ring (docs/security.md).
"""

import base64
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext as _

from anonymity.models import ConversationKey
from realtime.prepared import Prepared

logger = logging.getLogger(__name__)

NONCE_BYTES = 12
DEK_CACHE_SIZE = 4096

_cache: "OrderedDict[UUID, bytes]" = OrderedDict()
_cache_lock = threading.Lock()


class DecryptionError(Exception):
    """A ciphertext did not authenticate (wrong key, row moved, tampering)."""


def get_key_ring() -> list[tuple[str, bytes]]:
    """Return the KEK ring as (id, key) pairs, newest first.

    Read from settings at call time, so rotation and tests need no
    restart or import trick.
    """
    ring = []
    for entry in settings.MESSAGE_KEYS:
        key_id, _, encoded = entry.partition(":")
        key = base64.urlsafe_b64decode(encoded.encode())
        if not key_id or len(key) != 32:
            raise ImproperlyConfigured("MESSAGE_KEYS entries are id:base64(32 bytes)")
        ring.append((key_id, key))
    if not ring:
        raise ImproperlyConfigured("MESSAGE_KEYS is empty")
    return ring


def _seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def _open(key: bytes, blob: bytes, aad: bytes) -> bytes:
    blob = bytes(blob)
    try:
        return AESGCM(key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)
    except InvalidTag:
        raise DecryptionError("ciphertext did not authenticate") from None


def _dek_aad(conversation_id: UUID) -> bytes:
    return f"dek/v1|{conversation_id}".encode()


def wrap_data_key(conversation_id: UUID, dek: bytes) -> tuple[str, bytes]:
    kek_id, kek = get_key_ring()[0]
    return kek_id, _seal(kek, dek, _dek_aad(conversation_id))


def unwrap_data_key(conversation_id: UUID, kek_id: str, wrapped: bytes) -> bytes:
    ring = dict(get_key_ring())
    if kek_id not in ring:
        raise DecryptionError(f"key {kek_id} is not in the ring")
    return _open(ring[kek_id], wrapped, _dek_aad(conversation_id))


def do_create_conversation_key(conversation_id: UUID) -> None:
    """Give a new conversation its data key; call inside its transaction."""
    dek = AESGCM.generate_key(bit_length=256)
    kek_id, wrapped = wrap_data_key(conversation_id, dek)
    ConversationKey.objects.create(
        conversation_id=conversation_id, kek_id=kek_id, wrapped=wrapped
    )
    _remember(conversation_id, dek)


def _remember(conversation_id: UUID, dek: bytes) -> None:
    with _cache_lock:
        _cache[conversation_id] = dek
        _cache.move_to_end(conversation_id)
        while len(_cache) > DEK_CACHE_SIZE:
            _cache.popitem(last=False)


def forget_data_keys() -> None:
    """Drop cached data keys (after a purge or a rotation)."""
    with _cache_lock:
        _cache.clear()


# A claim in another process than the start's reads it: built once per
# connection (realtime.prepared).
_KEY_OF = Prepared(
    lambda conversation: ConversationKey.objects.filter(conversation_id=conversation)[
        :1
    ],
    conversation=ConversationKey._meta.get_field("conversation_id"),
)


def get_data_key(conversation_id: UUID) -> bytes:
    with _cache_lock:
        dek = _cache.get(conversation_id)
    if dek is not None:
        return dek
    row = _KEY_OF.first(conversation=conversation_id)
    if row is None:
        raise DecryptionError("the conversation's key was destroyed")
    dek = unwrap_data_key(conversation_id, row.kek_id, row.wrapped)
    _remember(conversation_id, dek)
    return dek


def cached_data_key(conversation_id: UUID) -> bytes | None:
    """The conversation's data key if this process holds it, without a read.

    For the event loop, which must not touch the database: on None, the
    caller takes a database thread, whose ``get_data_key`` reads it.
    """
    with _cache_lock:
        return _cache.get(conversation_id)


def load_data_key(conversation_id: UUID) -> None:
    """Have this process hold the conversation's data key, reading it if
    it does not yet (nothing if the key was destroyed).

    For the event loop's writes, which take the key only from the cache
    (``cached_data_key``): a thread that is reading for the conversation
    anyway loads it, so that its first message need not take a thread.
    """
    try:
        get_data_key(conversation_id)
    except DecryptionError:
        pass


def _message_aad(conversation_id: UUID, seq: int, sender: str) -> bytes:
    return f"msg/v1|{conversation_id}|{seq}|{sender}".encode()


def encrypt_message_body(
    conversation_id: UUID,
    *,
    seq: int,
    sender: str,
    text: str,
    key: bytes | None = None,
) -> bytes:
    """The message's body sealed under the conversation's data key
    (``key`` if the caller holds it already)."""
    return _seal(
        key if key is not None else get_data_key(conversation_id),
        text.encode(),
        _message_aad(conversation_id, seq, sender),
    )


def decrypt_message_body(
    conversation_id: UUID, *, seq: int, sender: str, blob: bytes
) -> str:
    aad = _message_aad(conversation_id, seq, sender)
    return _open(get_data_key(conversation_id), blob, aad).decode()


# "contact", "report" and "justification" are the escalation's texts: a
# visitor's contact details, a report's facts, a disclosure's grounds.
STAFF_TEXT_KINDS = frozenset(
    {"note", "whisper", "summary", "contact", "report", "justification"}
)


def _note_aad(conversation_id: UUID, kind: str) -> bytes:
    if kind not in STAFF_TEXT_KINDS:
        raise ValueError(f"unknown staff text kind {kind!r}")
    return f"{kind}/v1|{conversation_id}".encode()


def encrypt_note(conversation_id: UUID, text: str, *, kind: str = "note") -> bytes:
    """Encrypt a staff-only text (a note, a whisper, an invitation summary).

    ``kind`` is in the AAD, so one kind's ciphertext never opens as another.
    """
    return _seal(
        get_data_key(conversation_id), text.encode(), _note_aad(conversation_id, kind)
    )


def decrypt_note(conversation_id: UUID, blob: bytes, *, kind: str = "note") -> str:
    return _open(
        get_data_key(conversation_id), blob, _note_aad(conversation_id, kind)
    ).decode()


def read_or_unreadable(
    open_text: Callable[[], str], *, what: str, conversation_id: UUID, row_id: object
) -> str:
    """Return ``open_text()``, or "[message illisible]" if it fails.

    One bad row (tampering, a corrupted blob, a key removed from the ring
    too early) must stay one bad row: the reader sees a placeholder and the
    rest of the conversation, resume and console connect keep working
    (issue 11). The alert names the row, never any content.
    """
    try:
        return open_text()
    except (DecryptionError, UnicodeDecodeError, ValueError):
        logger.error(
            "ALERT: %s %s of conversation %s did not decrypt; shown as unreadable",
            what,
            row_id,
            conversation_id,
        )
        return _("[message illisible]")


def do_rewrap_data_keys(*, batch_size: int = 500) -> int:
    """Re-wrap every data key not under the newest KEK; return how many.

    After this, every KEK but the first may be removed from the ring.
    """
    active_id = get_key_ring()[0][0]
    rewrapped = 0
    while True:
        rows = list(ConversationKey.objects.exclude(kek_id=active_id)[:batch_size])
        if not rows:
            break
        for row in rows:
            dek = unwrap_data_key(row.conversation_id, row.kek_id, row.wrapped)
            row.kek_id, row.wrapped = wrap_data_key(row.conversation_id, dek)
        ConversationKey.objects.bulk_update(rows, ["kek_id", "wrapped"])
        rewrapped += len(rows)
    forget_data_keys()
    return rewrapped


def _attachment_aad(conversation_id: UUID, attachment_id: UUID, part: str) -> bytes:
    return f"attachment:{conversation_id}:{attachment_id}:{part}".encode()


def encrypt_attachment(
    conversation_id: UUID, attachment_id: UUID, part: str, data: bytes
) -> bytes:
    """Seal an attachment's file (or preview) under the conversation's key."""
    return _seal(
        get_data_key(conversation_id),
        data,
        _attachment_aad(conversation_id, attachment_id, part),
    )


def decrypt_attachment(
    conversation_id: UUID, attachment_id: UUID, part: str, blob: bytes
) -> bytes:
    return _open(
        get_data_key(conversation_id),
        blob,
        _attachment_aad(conversation_id, attachment_id, part),
    )

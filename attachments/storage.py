"""Encrypted attachment files in ``ATTACHMENTS_DIR``.

One file per attachment (and one per preview), named by the attachment's
id, sealed with AES-GCM under the conversation's data key: a copy of the
folder without the key ring reads as noise, and deleting the key at
``purge`` shreds any backup of it too.
"""

import os
from pathlib import Path
from uuid import UUID

from django.conf import settings

from anonymity.crypto import decrypt_attachment, encrypt_attachment


def folder() -> Path:
    path = Path(settings.ATTACHMENTS_DIR)
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def path_of(attachment_id: UUID, part: str) -> Path:
    suffix = ".preview" if part == "preview" else ".bin"
    return folder() / f"{attachment_id}{suffix}"


def write(conversation_id: UUID, attachment_id: UUID, part: str, data: bytes) -> None:
    blob = encrypt_attachment(conversation_id, attachment_id, part, data)
    target = path_of(attachment_id, part)
    temporary = target.with_suffix(target.suffix + ".tmp")
    with open(temporary, "wb", opener=lambda p, f: os.open(p, f, 0o600)) as out:
        out.write(blob)
    temporary.replace(target)


def read(conversation_id: UUID, attachment_id: UUID, part: str) -> bytes:
    blob = path_of(attachment_id, part).read_bytes()
    return decrypt_attachment(conversation_id, attachment_id, part, blob)


def delete(attachment_id: UUID) -> int:
    """Remove the file and its preview; return how many files went."""
    removed = 0
    for part in ("file", "preview"):
        path = path_of(attachment_id, part)
        if path.exists():
            path.unlink()
            removed += 1
    return removed

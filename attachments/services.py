"""Upload tokens, accepting an upload, and serving the stripped files."""

import re
import secrets
import unicodedata
import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from attachments import storage
from attachments.models import Attachment, AttachmentAccess, UploadToken
from attachments.processing import clean_upload
from chat import refusals
from chat.errors import ChatError
from chat.models import Conversation, Message
from chat.selectors import hash_token
from chat.services.messages import do_send_message
from console.access import access_conversation_for_staff, staff_sender_role
from console.models import StaffProfile

UPLOAD_PATH = "/attachments/upload/"
NAME_MAX = 100


def _require_open(conversation: Conversation) -> None:
    status = (
        Conversation.objects.filter(id=conversation.id)
        .values_list("status", flat=True)
        .first()
    )
    if status in (None, Conversation.Status.CLOSED):
        raise refusals.conversation_over()


def token_frame(token: str) -> dict[str, Any]:
    return {
        "type": "upload_token",
        "token": token,
        "url": UPLOAD_PATH,
        "max_bytes": settings.ATTACHMENT_MAX_BYTES,
        "accept": ["image/jpeg", "image/png", "image/webp", "application/pdf"],
    }


@transaction.atomic
def do_issue_upload_token(conversation: Conversation, user: Any = None) -> str:
    token = secrets.token_urlsafe(32)
    UploadToken.objects.create(
        token_hash=hash_token(token),
        conversation_id=conversation.id,
        user=user,
        expires_at=timezone.now()
        + timedelta(seconds=settings.ATTACHMENT_TOKEN_SECONDS),
    )
    return token


def check_issue_visitor_upload_token(conversation: Conversation) -> str:
    _require_open(conversation)
    return do_issue_upload_token(conversation)


def check_issue_staff_upload_token(profile: StaffProfile, conversation_id: Any) -> str:
    conversation = access_conversation_for_staff(profile, conversation_id)
    _require_open(conversation)
    staff_sender_role(profile, conversation)  # may they write in it?
    return do_issue_upload_token(conversation, profile.user)


def spend_upload_token(token: Any) -> UploadToken:
    """Use a token once; an unknown, used or expired one is ``forbidden``."""
    if not isinstance(token, str) or not 20 <= len(token) <= 200:
        raise refusals.bad_upload_token()
    now = timezone.now()
    row = UploadToken.objects.filter(
        token_hash=hash_token(token), used_at__isnull=True, expires_at__gt=now
    ).first()
    if row is None or not UploadToken.objects.filter(
        id=row.id, used_at__isnull=True
    ).update(used_at=now):
        raise refusals.bad_upload_token()
    return row


def clean_name(name: str, extension: str) -> str:
    """Keep a readable stem of the sender's file name, with the real type."""
    name = unicodedata.normalize("NFC", name or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    stem = name.rsplit(".", 1)[0] if "." in name else name
    stem = re.sub(r"[\x00-\x1f\x7f<>:\"|?*]", "", stem).strip(" .")[:NAME_MAX]
    return f"{stem or _('fichier')}.{extension}"


def render_attachment(attachment: Attachment) -> dict[str, Any]:
    """The ``attachment`` field of a message frame (name added at render)."""
    data: dict[str, Any] = {
        "id": str(attachment.id),
        "kind": attachment.kind,
        "mime": attachment.mime,
        "size": attachment.size,
        "url": f"/attachments/{attachment.id}/",
        "preview": None,
    }
    if attachment.has_preview:
        data["preview"] = f"/attachments/{attachment.id}/preview/"
        data["width"] = attachment.width
        data["height"] = attachment.height
    return data


def check_upload(token: Any, *, name: Any, data: bytes) -> Message:
    """Store one upload as a message with an ``attachment`` field.

    The token is spent first, whatever happens next. The file is
    recognised by its bytes, stripped, encrypted, then announced as a
    message, so it takes its place in the conversation's seq order.
    """
    row = spend_upload_token(token)
    conversation = Conversation.objects.get(id=row.conversation_id)
    _require_open(conversation)
    if len(data) > settings.ATTACHMENT_MAX_BYTES:
        raise ChatError("too_large", _("Fichier trop lourd."))
    if not data:
        raise ChatError("bad_request", _("Le fichier est vide."))
    clean = clean_upload(data)
    return do_store_attachment(
        conversation,
        user=row.user,
        clean=clean,
        name=clean_name(name if isinstance(name, str) else "", clean.extension),
    )


@transaction.atomic
def do_store_attachment(
    conversation: Conversation, *, user: Any, clean: Any, name: str
) -> Message:
    attachment = Attachment(
        id=uuid.uuid4(),
        conversation=conversation,
        kind=clean.kind,
        mime=clean.mime,
        size=len(clean.data),
        width=clean.width,
        height=clean.height,
        has_preview=clean.preview is not None,
        preview_mime=clean.preview_mime,
    )
    if user is None:
        sender, author, author_name = Message.Sender.VISITOR, None, ""
    else:
        profile = StaffProfile.objects.get(user=user)
        sender = staff_sender_role(profile, conversation)
        author, author_name = user, profile.pseudonym
    storage.write(conversation.id, attachment.id, "file", clean.data)
    if clean.preview is not None:
        storage.write(conversation.id, attachment.id, "preview", clean.preview)
    try:
        message, _created = do_send_message(
            conversation.id,
            sender=sender,
            body=name,
            author=author,
            author_name=author_name,
            card={"attachment": render_attachment(attachment)},
        )
        attachment.message = message
        attachment.save()
    except BaseException:
        storage.delete(attachment.id)
        raise
    return message


def get_attachment(attachment_id: Any) -> Attachment:
    try:
        key = uuid.UUID(str(attachment_id))
    except ValueError:
        raise refusals.file_not_found() from None
    attachment = Attachment.objects.filter(id=key).select_related("message").first()
    if attachment is None:
        raise refusals.file_not_found()
    return attachment


def access_attachment_for_visitor(token: Any, attachment_id: Any) -> Attachment:
    """The visitor proves the conversation with their resume token."""
    from chat.selectors import access_conversation_by_token

    attachment = get_attachment(attachment_id)
    if not isinstance(token, str):
        raise refusals.file_not_found()
    conversation = access_conversation_by_token(token)
    if conversation.id != attachment.conversation_id:
        raise refusals.file_not_found()
    return attachment


@transaction.atomic
def access_attachment_for_staff(
    profile: StaffProfile, attachment_id: Any, *, what: str
) -> Attachment:
    """Staff of the conversation only; every fetch leaves an audit row."""
    attachment = get_attachment(attachment_id)
    access_conversation_for_staff(profile, attachment.conversation_id)
    AttachmentAccess.objects.create(
        attachment_id=attachment.id,
        conversation_id=attachment.conversation_id,
        user=profile.user,
        pseudonym=profile.pseudonym,
        what=what,
    )
    return attachment


def attachment_name(attachment: Attachment) -> str:
    from chat.selectors import read_message_text

    if attachment.message is None:
        return f"fichier.{attachment.mime.rsplit('/', 1)[-1]}"
    return read_message_text(attachment.message)


def do_delete_attachments(conversation_ids: list) -> int:
    """Remove the rows and files of these conversations' attachments."""
    ids = list(
        Attachment.objects.filter(conversation_id__in=conversation_ids).values_list(
            "id", flat=True
        )
    )
    for attachment_id in ids:
        storage.delete(attachment_id)
    Attachment.objects.filter(id__in=ids).delete()
    UploadToken.objects.filter(conversation_id__in=conversation_ids).delete()
    return len(ids)

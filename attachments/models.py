"""Files sent in a conversation (issue 16), and who fetched them."""

import uuid

from django.conf import settings
from django.db import models

from chat.models import Conversation, Message


class UploadToken(models.Model):
    """A one-time permission to upload one file into a conversation.

    Obtained on the socket (``upload_token``), spent by the HTTP upload;
    only its SHA-256 hash is stored.
    """

    token_hash = models.CharField(max_length=64, unique=True)
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="+"
    )
    # Null for the visitor; the staff member otherwise.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"upload:{self.conversation_id}"


class Attachment(models.Model):
    """A stripped file, stored encrypted under the conversation's key.

    The bytes live in ``ATTACHMENTS_DIR`` (docs/decisions.md); the row
    says what they are. The visitor's file name is the carrying message's
    text, so it is encrypted like any message.
    """

    class Kind(models.TextChoices):
        IMAGE = "image", "image"
        PDF = "pdf", "PDF"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="attachments"
    )
    message = models.OneToOneField(
        Message, null=True, on_delete=models.SET_NULL, related_name="attachment"
    )
    kind = models.CharField(max_length=8, choices=Kind.choices)
    mime = models.CharField(max_length=40)
    size = models.PositiveIntegerField()
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    has_preview = models.BooleanField(default=False)
    preview_mime = models.CharField(max_length=40, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"attachment:{self.id}"


class AttachmentAccess(models.Model):
    """A staff member downloaded a conversation's file: the audit trail."""

    attachment_id = models.UUIDField(db_index=True)
    conversation_id = models.UUIDField(db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    pseudonym = models.CharField(max_length=80)
    what = models.CharField(max_length=16)  # "file" or "preview"
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.pseudonym} {self.what} {self.attachment_id}"

"""Sealed connection records, sealing public keys and conversation keys.

Nothing here is readable without a key the web tier does not hold (the
sealing private keys) or without the key ring (message data keys).
"""

from django.db import models


class SealingKey(models.Model):
    """A month's sealing public key; its private key lives with custodians."""

    key_id = models.CharField(max_length=7, unique=True)  # "YYYY-MM"
    public_key = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)
    # Set when the month's private key was reported destroyed (shredding).
    destroyed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["key_id"]

    def __str__(self) -> str:
        return f"sealing key {self.key_id}"


class SealedConnection(models.Model):
    """The address, port and time of one visitor connection, HPKE-sealed.

    On PostgreSQL the web tier's role may INSERT rows and SELECT ``id``
    only (docs/security.md §B1).
    """

    conversation_id = models.UUIDField(db_index=True)
    key_id = models.CharField(max_length=7)
    sealed = models.BinaryField()
    sealed_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"sealed connection {self.id}"


class ConversationKey(models.Model):
    """A conversation's data key, wrapped by a key-encryption key.

    Deleting this row makes the conversation's messages and notes
    unreadable everywhere, backups included (crypto-shredding).
    """

    conversation_id = models.UUIDField(unique=True)
    kek_id = models.CharField(max_length=32, db_index=True)
    wrapped = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"key of {self.conversation_id} under {self.kek_id}"


class PurgeRecord(models.Model):
    """What one purge run deleted, by data class: counts, never content."""

    ran_at = models.DateTimeField(auto_now_add=True)
    counts = models.JSONField(default=dict)
    destroyed_key_ids = models.JSONField(default=list)

    def __str__(self) -> str:
        return f"purge at {self.ran_at:%Y-%m-%d %H:%M}"

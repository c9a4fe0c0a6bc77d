"""Purge: expired content and addresses go, the statistics stay."""

import uuid
from datetime import timedelta
from unittest import mock

import pytest

from django.core.management import call_command
from django.utils import timezone

from anonymity.crypto import DecryptionError, forget_data_keys, get_data_key
from anonymity.models import ConversationKey, PurgeRecord, SealedConnection, SealingKey
from anonymity.sealing import do_seal_connection
from chat.models import Conversation, Message
from chat.services import do_close_conversation, do_send_message
from retention.purge import do_purge_expired
from tests.factories import get_outcome_counts, make_conversation

pytestmark = pytest.mark.django_db


def closed_conversation(outcome):
    conversation, _ = make_conversation()
    do_send_message(
        conversation.id, sender="visitor", body="histoire", client_id=uuid.uuid4()
    )
    Conversation.objects.filter(id=conversation.id).update(status="active")
    do_close_conversation(conversation, outcome=outcome, categories=["c"])
    return conversation


def test_purge_removes_expired_content_and_keeps_the_counts(custodian_dir, settings):
    settings.RETENTION_TRANSCRIPT_DAYS = 365
    settings.RETENTION_TRANSCRIPT_NO_REPORT_DAYS = 90
    settings.RETENTION_SEALED_CONNECTION_DAYS = 365
    report = closed_conversation("report")
    orientation = closed_conversation("orientation")
    open_one, _ = make_conversation()
    do_seal_connection(report.id, ip="203.0.113.77", port=1, seen_at=timezone.now())
    before = get_outcome_counts()
    assert before == {"national": {"report": 1, "orientation": 1}}

    # 100 days on: the orientation transcript is past 90 days, the report's not.
    do_purge_expired(now=timezone.now() + timedelta(days=100))
    assert Message.objects.filter(conversation=orientation).count() == 0
    assert Message.objects.filter(conversation=report).count() == 1
    assert not ConversationKey.objects.filter(conversation_id=orientation.id).exists()
    assert SealedConnection.objects.count() == 1

    # 400 days on: everything expired is gone; the open conversation stays.
    far = timezone.now() + timedelta(days=400)
    with mock.patch("django.utils.timezone.now", return_value=far):
        call_command("purge", custodian_dir=str(custodian_dir), verbosity=0)
    assert Message.objects.filter(conversation=report).count() == 0
    assert SealedConnection.objects.count() == 0
    assert ConversationKey.objects.filter(conversation_id=open_one.id).exists()
    forget_data_keys()
    with pytest.raises(DecryptionError):
        get_data_key(report.id)
    assert get_outcome_counts() == before
    record = PurgeRecord.objects.latest("ran_at")
    assert record.counts["sealed_connections"] == 1
    assert record.counts["messages"] == 1
    # This month's key expired too: marked destroyed, its file deleted.
    assert record.destroyed_key_ids
    assert SealingKey.objects.filter(destroyed_at__isnull=False).exists()
    for key_id in record.destroyed_key_ids:
        assert not (custodian_dir / f"sealing-{key_id}.key.pem").exists()
    # A purged conversation's token no longer resumes anything.
    assert Conversation.objects.get(id=report.id).token_hash.startswith("purged:")


def test_purge_is_idempotent(custodian_dir):
    closed_conversation("information")
    later = timezone.now() + timedelta(days=400)
    first = do_purge_expired(now=later)
    second = do_purge_expired(now=later)
    assert first.counts["conversations"] == 1
    assert second.counts["conversations"] == 0

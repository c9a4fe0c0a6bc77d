"""Finding 3: one undecryptable row stays one bad row."""

import logging
import uuid

import pytest

from channels.db import database_sync_to_async
from django.core.management import CommandError, call_command
from django.utils import timezone

from anonymity.models import SealedConnection
from anonymity.sealing import do_seal_connection
from chat.models import Message
from chat.services.messages import do_send_message
from console.models import StaffProfile
from console.services import check_add_note, check_claim_conversation
from tests.anonymity.conftest import PASSPHRASE
from tests.anonymity.conftest import custodian_dir as custodian_dir
from tests.factories import make_conversation, make_operator, make_service
from tests.helpers import connect_staff, drain, visitor_communicator

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("runtime_stopped"),
]


def corrupt(blob: bytes) -> bytes:
    blob = bytearray(blob)
    blob[-1] ^= 0xFF
    return bytes(blob)


def conversation_with_a_bad_row():
    service = make_service("national")
    operator = make_operator(service)
    conversation, token = make_conversation(service)
    for body in ["un", "deux", "trois"]:
        do_send_message(
            conversation.id, sender="visitor", body=body, client_id=uuid.uuid4()
        )
    profile = StaffProfile.objects.get(user=operator)
    check_claim_conversation(profile, str(conversation.id))
    note = check_add_note(profile, str(conversation.id), text="note secrète")
    bad = Message.objects.get(conversation=conversation, seq=2)
    Message.objects.filter(pk=bad.pk).update(ciphertext=corrupt(bad.ciphertext))
    type(note).objects.filter(pk=note.pk).update(ciphertext=corrupt(note.ciphertext))
    return conversation, token, operator


async def test_resume_and_console_survive_a_corrupted_row(caplog):
    conversation, token, operator = await database_sync_to_async(
        conversation_with_a_bad_row
    )()
    with caplog.at_level(logging.ERROR):
        visitor = visitor_communicator()
        assert (await visitor.connect())[0]
        await visitor.send_json_to({"type": "resume", "token": token, "last_seq": 0})
        frames = await drain(visitor)
        texts = [frame["text"] for frame in frames if frame["type"] == "message"]
        assert texts == ["un", "[message illisible]", "trois"], frames
        staff, hello = await connect_staff(operator)
        item = next(
            c for c in hello["conversations"] if c["id"] == str(conversation.id)
        )
        assert "[message illisible]" in str(item)
        await staff.disconnect()
        await visitor.disconnect()
    alerts = [r for r in caplog.records if "did not decrypt" in r.getMessage()]
    assert alerts and not any(r.exc_info for r in alerts)
    for record in alerts:
        assert "deux" not in record.getMessage()


def test_unseal_of_a_tampered_record_says_so_in_one_line(custodian_dir, tmp_path):
    row = do_seal_connection(
        str(uuid.uuid4()), ip="203.0.113.9", port=4000, seen_at=timezone.now()
    )
    SealedConnection.objects.filter(pk=row.pk).update(sealed=corrupt(row.sealed))
    passphrase = tmp_path / "pass"
    passphrase.write_text(PASSPHRASE)
    with pytest.raises(CommandError) as raised:
        call_command(
            "unseal_connection",
            str(row.pk),
            key_file=str(custodian_dir / f"sealing-{row.key_id}.key.pem"),
            passphrase_file=str(passphrase),
        )
    assert "failed authentication" in str(raised.value)
    assert "\n" not in str(raised.value)

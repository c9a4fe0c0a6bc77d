"""Message bodies and notes at rest: envelope encryption and rotation."""

import base64
import os
import uuid

import pytest

from django.core.management import call_command
from django.db import connection

from anonymity.crypto import (
    DecryptionError,
    decrypt_message_body,
    forget_data_keys,
)
from anonymity.models import ConversationKey
from chat.models import Message, Note
from chat.selectors import read_message_text
from chat.services import do_send_message
from tests.factories import make_conversation

pytestmark = pytest.mark.django_db


def new_key(key_id: str) -> str:
    return f"{key_id}:" + base64.urlsafe_b64encode(os.urandom(32)).decode()


def raw_dump() -> str:
    """Every value of the chat and anonymity tables, bytes as hex and text."""
    parts = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f'SELECT * FROM "{table}"')  # noqa: S608
            for row in cursor.fetchall():
                for value in row:
                    if isinstance(value, (bytes, memoryview)):
                        value = bytes(value)
                        parts += [value.hex(), value.decode("latin-1")]
                    else:
                        parts.append(str(value))
    return "\n".join(parts)


def test_message_text_is_not_in_the_database():
    conversation, _ = make_conversation()
    do_send_message(
        conversation.id,
        sender="visitor",
        body="SECRET-TEXT-4242",
        client_id=uuid.uuid4(),
    )
    assert "SECRET-TEXT-4242" not in raw_dump()
    message = Message.objects.get()
    assert read_message_text(message) == "SECRET-TEXT-4242"


def test_ciphertext_is_bound_to_its_conversation_seq_and_sender():
    conversation, _ = make_conversation()
    other, _ = make_conversation()
    message, _ = do_send_message(
        conversation.id, sender="visitor", body="x", client_id=None
    )
    with pytest.raises(DecryptionError):
        decrypt_message_body(
            conversation.id, seq=2, sender="visitor", blob=message.ciphertext
        )
    with pytest.raises(DecryptionError):
        decrypt_message_body(
            conversation.id, seq=1, sender="operator", blob=message.ciphertext
        )
    with pytest.raises(DecryptionError):
        decrypt_message_body(other.id, seq=1, sender="visitor", blob=message.ciphertext)


def test_rotation_rewraps_keys_and_old_key_can_go(settings):
    old = settings.MESSAGE_KEYS[0]
    old_id = old.split(":")[0]
    conversation, _ = make_conversation()
    for index in range(3):
        do_send_message(
            conversation.id,
            sender="visitor",
            body=f"avant {index}",
            client_id=uuid.uuid4(),
        )
    settings.MESSAGE_KEYS = [new_key("k2"), old]
    call_command("rotate_message_keys", verbosity=0)
    assert set(ConversationKey.objects.values_list("kek_id", flat=True)) == {"k2"}
    settings.MESSAGE_KEYS = [settings.MESSAGE_KEYS[0]]
    forget_data_keys()
    texts = [read_message_text(m) for m in Message.objects.order_by("seq")]
    assert texts == ["avant 0", "avant 1", "avant 2"]
    do_send_message(
        conversation.id, sender="visitor", body="après", client_id=uuid.uuid4()
    )
    dump = raw_dump()
    assert f"{old_id}\n" not in dump + "\n" and old_id not in set(dump.split("\n"))
    assert "k2" in set(dump.split("\n"))


def test_without_the_ring_key_nothing_reads(settings):
    conversation, _ = make_conversation()
    do_send_message(conversation.id, sender="visitor", body="x", client_id=None)
    settings.MESSAGE_KEYS = [new_key("other")]
    forget_data_keys()
    with pytest.raises(DecryptionError):
        read_message_text(Message.objects.get())


def test_notes_are_encrypted_too():
    from console.models import StaffProfile
    from console.services import check_add_note, check_claim_conversation
    from tests.factories import make_operator, make_service

    service = make_service()
    conversation, _ = make_conversation(service)
    profile = StaffProfile.objects.get(user=make_operator(service))
    check_claim_conversation(profile, str(conversation.id))
    check_add_note(profile, conversation.id, text="NOTE-PRIVEE-77")
    assert Note.objects.count() == 1
    assert "NOTE-PRIVEE-77" not in raw_dump()


def test_a_note_never_opens_as_a_whisper():
    from anonymity.crypto import decrypt_note, encrypt_note

    conversation, _ = make_conversation()
    blob = encrypt_note(conversation.id, "privé")
    assert decrypt_note(conversation.id, blob) == "privé"
    with pytest.raises(DecryptionError):
        decrypt_note(conversation.id, blob, kind="whisper")

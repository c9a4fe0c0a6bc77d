"""Contact details sealed to a unit's key; background sending."""

import base64
import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from django.core.management import call_command
from django.core.management.base import CommandError

from chat.errors import ChatError
from escalation import consent, reports, runtime
from escalation.models import Delivery, Unit
from escalation.units import open_contact_for_unit
from tests.escalation.conftest import make_escalation_world
from tests.factories import make_conversation, make_operator

pytestmark = pytest.mark.django_db


def accepted_consent(unit_fields):
    service, unit = make_escalation_world(**unit_fields)
    operator = make_operator(service)
    conversation, _token = make_conversation(service)
    conversation.operator = operator
    conversation.status = "active"
    conversation.save()
    asked = consent.do_request_consent(
        conversation, consent.get_consent_text(conversation), operator.staff
    )
    answered = consent.check_answer_consent(
        conversation,
        request_id=str(asked.id),
        accept=True,
        contact={"phone": "+44 20 7946 0000", "name": "Sam"},
    )
    return operator, conversation, unit, answered


def test_details_are_sealed_to_a_unit_with_a_key(tmp_path, capsys):
    private = X25519PrivateKey.generate()
    public = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    folder = tmp_path / "drop"
    folder.mkdir()
    operator, conversation, unit, answered = accepted_consent(
        {
            # Bordeaux's force is estimated (no official data in tests): GN.
            "force": "GN",
            "public_key": base64.b64encode(public).decode(),
            "method": "file",
            "address": str(folder),
        }
    )
    assert answered.contact_encrypted is None
    assert answered.contact_sealed is not None and answered.unit_id == unit.id
    # Nobody on the platform can read them, not even the escalation screen.
    assert consent.get_contact_for_staff(answered, operator) is None
    opened = open_contact_for_unit(
        answered.contact_sealed,
        private_key=private,
        consent_id=answered.id,
        unit_id=unit.id,
        fingerprint=answered.contact_key,
    )
    assert opened == {"name": "Sam", "phone": "+442079460000"}
    # The report may only go to that unit.
    other = Unit.objects.exclude(id=unit.id).first()
    with pytest.raises(ChatError) as refused:
        reports.check_create_report(
            operator.staff,
            conversation.id,
            unit_id=other.id,
            category="sexual",
            urgency="normal",
            summary="Faits.",
        )
    assert refused.value.code == "invalid_unit"
    reports.check_create_report(
        operator.staff,
        conversation.id,
        unit_id=unit.id,
        category="sexual",
        urgency="normal",
        summary="Faits.",
    )
    assert reports.deliver_due() == {"sent": 1, "failed": 0}
    (dropped,) = folder.glob("signalement-*.json")
    document = json.loads(dropped.read_text())
    assert "contact" not in document
    blob = base64.b64decode(document["contact_sealed"]["blob"])
    assert "+442079460000" not in dropped.read_text()
    assert (
        open_contact_for_unit(
            blob,
            private_key=private,
            consent_id=answered.id,
            unit_id=unit.id,
            fingerprint=document["contact_sealed"]["key_fingerprint"],
        )["phone"]
        == "+442079460000"
    )

    # The unit's own tool opens the delivered file with its key file.
    key_file = tmp_path / "unit.key.pem"
    key_file.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"unit-passphrase-123"),
        )
    )
    passphrase = tmp_path / "pass"
    passphrase.write_text("unit-passphrase-123")
    call_command(
        "open_report_contact",
        str(dropped),
        key_file=str(key_file),
        passphrase_file=str(passphrase),
    )
    assert "phone: +442079460000" in capsys.readouterr().out
    passphrase.write_text("wrong-passphrase-456")
    with pytest.raises(CommandError):
        call_command(
            "open_report_contact",
            str(dropped),
            key_file=str(key_file),
            passphrase_file=str(passphrase),
        )


@pytest.mark.django_db(transaction=True)
async def test_each_process_sends_due_reports_in_the_background(tmp_path, settings):
    from channels.db import database_sync_to_async

    folder = tmp_path / "drop"
    folder.mkdir()

    def prepare():
        operator, conversation, unit, _answered = accepted_consent(
            {"method": "file", "address": str(folder)}
        )
        reports.check_create_report(
            operator.staff,
            conversation.id,
            unit_id=unit.id,
            category="other",
            urgency="normal",
            summary="Faits.",
        )

    await database_sync_to_async(prepare)()
    settings.REPORT_DELIVERY_SECONDS = 0
    settings.AUDIT_CHECKPOINT_SECONDS = 0
    runtime._last.update(deliver=0.0, checkpoint=0.0)
    await runtime.tick()  # what each server process's loop calls
    delivery = await database_sync_to_async(Delivery.objects.get)()
    assert delivery.state == "sent"
    assert list(folder.glob("signalement-*.json"))
    assert list(settings.AUDIT_CHECKPOINT_DIR.glob("checkpoint-*.json"))

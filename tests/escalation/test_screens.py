"""The supervisors' screens: lists, audit viewer, signed export; and the
rules around consent texts and contact details."""

import base64
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from django.core.exceptions import ValidationError
from django.db import connection

from chat.errors import ChatError as ChatErrorType
from chat.models import ConsentText
from escalation import audit, consent, disclosure, reports
from escalation.models import AuditEvent
from tests.escalation.conftest import make_escalation_world, staff_client
from tests.factories import make_conversation, make_operator, make_staff

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    service, unit = make_escalation_world()
    operator = make_operator(service)
    supervisor = make_staff(roles=("supervisor",), services=(service,))
    conversation, _token = make_conversation(service)
    conversation.operator = operator
    conversation.status = "active"
    conversation.minor = True
    conversation.save()
    asked = consent.do_request_consent(
        conversation, consent.get_consent_text(conversation), operator.staff
    )
    answered = consent.check_answer_consent(
        conversation,
        request_id=str(asked.id),
        accept=True,
        contact={"phone": "0612345678", "name": "Camille"},
    )
    report = reports.check_create_report(
        operator.staff,
        conversation.id,
        unit_id=unit.id,
        category="domestic",
        urgency="high",
        summary="Résumé des faits pour le test.",
    )
    request = disclosure.check_request_disclosure(
        operator.staff,
        conversation.id,
        ground="minor",
        justification="Victime de 13 ans, danger ce soir au domicile.",
    )
    return {
        "service": service,
        "unit": unit,
        "operator": operator,
        "supervisor": supervisor,
        "conversation": conversation,
        "consent": answered,
        "report": report,
        "disclosure": request,
    }


def test_list_filters_by_kind_and_state(world):
    client = staff_client(world["supervisor"])
    page = client.get("/console/escalations/")
    body = page.content.decode()
    assert page.status_code == 200
    assert world["report"].reference in body
    assert world["disclosure"].reference in body
    filtered = client.get("/console/escalations/?kind=disclosure&state=approved")
    assert world["disclosure"].reference not in filtered.content.decode()
    filtered = client.get("/console/escalations/?kind=disclosure&state=requested")
    assert world["disclosure"].reference in filtered.content.decode()
    assert world["report"].reference not in filtered.content.decode()


def test_console_top_bar_links_to_the_screens(world):
    supervisor_page = (
        staff_client(world["supervisor"]).get("/console/").content.decode()
    )
    assert "/console/escalations/" in supervisor_page
    assert "/console/escalations/audit/" in supervisor_page
    operator_page = staff_client(world["operator"]).get("/console/").content.decode()
    assert "/console/escalations/audit/" not in operator_page


def test_contact_details_are_shown_on_request_and_audited(world):
    client = staff_client(world["operator"])
    url = f"/console/escalations/conversation/{world['conversation'].id}/"
    assert "+33612345678" not in client.get(url).content.decode()
    before = AuditEvent.objects.filter(kind="contact_viewed").count()
    shown = client.post(
        url, {"action": "show_contact", "consent": str(world["consent"].id)}
    )
    assert "+33612345678" in shown.content.decode()
    viewed = AuditEvent.objects.filter(kind="contact_viewed").last()
    assert AuditEvent.objects.filter(kind="contact_viewed").count() == before + 1
    assert viewed.actor_id == world["operator"].id


def test_audit_page_is_for_supervisors_and_names_the_bad_entry(world):
    assert (
        staff_client(world["operator"]).get("/console/escalations/audit/").status_code
        == 403
    )
    client = staff_client(world["supervisor"])
    page = client.get("/console/escalations/audit/").content.decode()
    assert "Chaîne intacte" in page
    with connection.cursor() as cursor:
        cursor.execute("UPDATE escalation_auditevent SET kind = 'forged' WHERE seq = 5")
    page = client.get("/console/escalations/audit/").content.decode()
    assert "Chaîne rompue" in page
    assert "n° 5" in page


def test_export_is_signed_and_holds_the_whole_file(world):
    assert (
        staff_client(world["operator"])
        .get(
            f"/console/escalations/conversation/{world['conversation'].id}/export.json"
        )
        .status_code
        == 403
    )
    client = staff_client(world["supervisor"])
    audit.write_checkpoint()
    response = client.get(
        f"/console/escalations/conversation/{world['conversation'].id}/export.json"
    )
    assert response.status_code == 200
    signed = json.loads(response.content)
    document = signed["document"]
    public = Ed25519PublicKey.from_public_bytes(
        bytes.fromhex(signed["signature"]["public_key"])
    )
    public.verify(
        base64.b64decode(signed["signature"]["value"]), audit.canonical(document)
    )
    assert document["consents"][0]["text_sha256"] == world["consent"].text_hash
    assert document["reports"][0]["summary"] == "Résumé des faits pour le test."
    assert document["disclosures"][0]["reference"] == world["disclosure"].reference
    kinds = [entry["kind"] for entry in document["audit"]["entries"]]
    assert "consent_asked" in kinds and "file_exported" in kinds
    assert "transcript_viewed" in kinds
    assert document["audit"]["proof"]["verification"]["ok"] is True
    assert document["audit"]["proof"]["latest_checkpoint"] is not None
    # Any change breaks the signature.
    document["reports"][0]["summary"] = "autre chose"
    assert not audit.verify_document(signed)
    printable = client.get(
        f"/console/escalations/conversation/{world['conversation'].id}/export/"
    )
    assert world["report"].reference in printable.content.decode()


def test_a_shown_consent_text_is_never_edited(world):
    text = ConsentText.objects.get(service=world["service"], lang="fr")
    text.text = "Autre chose"
    with pytest.raises(ValidationError):
        text.save()
    text.refresh_from_db()
    text.active = False
    text.save()  # retiring it is fine
    from chat.admin import ConsentTextForm

    form = ConsentTextForm(
        data={"version": text.version, "lang": "fr", "active": "", "text": "Changé"},
        instance=text,
    )
    assert not form.is_valid()
    unused = ConsentText.objects.create(
        service=world["service"], version="2026-2", lang="fr", text="Nouveau texte"
    )
    unused.text = "Nouveau texte corrigé"
    unused.save()
    assert consent.get_consent_text(world["conversation"]).id == unused.id


def test_screens_speak_english_on_request(world):
    client = staff_client(world["supervisor"])
    client.post("/i18n/setlang/", {"language": "en", "next": "/console/escalations/"})
    assert "Chain intact" in client.get("/console/escalations/audit/").content.decode()
    page = client.get(f"/console/escalations/conversation/{world['conversation'].id}/")
    assert "Disclosure of connection data" in page.content.decode()


def test_unit_admin_checks_address_and_key():
    from escalation.admin import UnitForm

    base = {"name": "U", "force": "PN", "communes": "[]", "departments": "[]"}
    bad = UnitForm(data={**base, "method": "webhook", "address": "http://x.test/"})
    assert not bad.is_valid()
    assert "address" in bad.errors and "webhook_secret" in bad.errors
    assert not UnitForm(
        data={**base, "method": "email", "address": "nope", "public_key": "abc"}
    ).is_valid()
    good = UnitForm(
        data={
            **base,
            "method": "email",
            "address": "unit@example.org",
            "public_key": base64.b64encode(b"k" * 32).decode(),
            "active": "on",
        }
    )
    assert good.is_valid(), good.errors


def test_one_open_disclosure_per_conversation(world):
    from django.db import IntegrityError, transaction
    from django.utils import timezone

    from escalation.models import DisclosureRequest

    with pytest.raises(ChatErrorType):
        disclosure.check_request_disclosure(
            world["operator"].staff,
            world["conversation"].id,
            ground="minor",
            justification="Une seconde demande pour la même conversation.",
        )
    first = world["disclosure"]
    with pytest.raises(IntegrityError), transaction.atomic():
        DisclosureRequest.objects.create(
            reference="REQ-DUPLICATE",
            conversation=world["conversation"],
            ground="minor",
            justification_encrypted=bytes(first.justification_encrypted),
            requested_by=world["operator"],
            requested_at=timezone.now(),
            updated_at=timezone.now(),
        )


def test_export_survives_retention_destroying_the_key(world):
    from anonymity.crypto import forget_data_keys
    from anonymity.models import ConversationKey

    ConversationKey.objects.filter(conversation_id=world["conversation"].id).delete()
    forget_data_keys()
    client = staff_client(world["supervisor"])
    response = client.get(
        f"/console/escalations/conversation/{world['conversation'].id}/export.json"
    )
    assert response.status_code == 200
    document = json.loads(response.content)["document"]
    assert "conservation" in document["reports"][0]["summary"]
    page = client.get(f"/console/escalations/disclosure/{world['disclosure'].id}/")
    assert page.status_code == 200

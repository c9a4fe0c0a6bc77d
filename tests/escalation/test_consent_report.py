"""Consent over the real sockets, the report from the console's page, and
its delivery by real SMTP and HTTP servers on loopback."""

import email
import hashlib
import hmac
import json

import pytest

from channels.db import database_sync_to_async
from django.core.management import call_command

from escalation.models import AuditEvent, ConsentRequest, Delivery, Report
from escalation.reports import deliver_due
from tests.escalation.conftest import (
    CONSENT_TEXT,
    json_of,
    make_escalation_world,
    staff_client,
)
from tests.factories import make_operator, make_staff
from tests.helpers import claim, connect_staff, drain, open_conversation, receive_until

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("runtime_stopped"),
]

CONTACT = {
    "name": "Camille",
    "phone": "06 12 34 56 78",
    "email": "camille@example.org",
    "availability": "en semaine après 18 h",
}


async def consent_flow(*, accept: bool, contact=None, unit_fields=None):
    """Operator asks, visitor answers; return (ids, sockets)."""
    service, unit = await database_sync_to_async(make_escalation_world)(
        **(unit_fields or {})
    )
    operator = await database_sync_to_async(make_operator)(service)
    visitor, started = await open_conversation()
    staff, _hello = await connect_staff(operator)
    claimed = await claim(staff)
    conversation_id = claimed["id"]
    assert conversation_id == started["conversation"]

    await staff.send_json_to(
        {"type": "request_consent", "conversation": conversation_id}
    )
    requested = await receive_until(staff, "consent_requested")
    question = await receive_until(visitor, "consent_request")
    assert question["text"] == CONSENT_TEXT
    assert question["request"] == requested["request"]

    answer = {"type": "consent", "request": question["request"], "accept": accept}
    if contact is not None:
        answer["contact"] = contact
    await visitor.send_json_to(answer)
    recorded = await receive_until(visitor, "consent_recorded")
    assert recorded["accept"] is accept
    status = await receive_until(staff, "consent")
    if status["status"] == "asked":  # the question's own notice, read late or not
        status = await receive_until(staff, "consent")
    assert status["status"] == ("accepted" if accept else "declined")
    # Staff never see the details over the socket.
    assert "06 12" not in json.dumps(status) and "camille@" not in json.dumps(status)
    return {
        "conversation": conversation_id,
        "consent": question["request"],
        "operator": operator,
        "unit": unit,
        "service": service,
        "visitor": visitor,
        "staff": staff,
    }


def post_report(operator, conversation_id, unit_id, **extra):
    client = staff_client(operator)
    page = client.get(f"/console/escalations/conversation/{conversation_id}/")
    assert page.status_code == 200
    assert "Compléter le signalement" in page.content.decode()
    data = {
        "action": "report",
        "unit": str(unit_id),
        "category": "domestic",
        "urgency": "high",
        "summary": "Violences répétées du conjoint, menaces hier soir.",
    }
    data.update(extra)
    return client.post(f"/console/escalations/conversation/{conversation_id}/", data)


async def test_accepted_consent_report_arrives_by_email(smtp):
    world = await consent_flow(accept=True, contact=CONTACT)
    consent = await database_sync_to_async(ConsentRequest.objects.get)(
        id=world["consent"]
    )
    assert consent.text_hash == hashlib.sha256(CONSENT_TEXT.encode()).hexdigest()
    assert consent.text_version == "2026-1"
    assert consent.shared_fields == ["availability", "email", "name", "phone"]
    assert consent.contact_encrypted is not None
    assert b"camille" not in bytes(consent.contact_encrypted)

    response = await database_sync_to_async(post_report)(
        world["operator"], world["conversation"], world["unit"].id
    )
    assert response.status_code == 302, response.content.decode()[:500]
    report = await database_sync_to_async(Report.objects.get)()
    delivery = await database_sync_to_async(Delivery.objects.get)(report=report)
    assert delivery.state == "pending"  # committed with the report, not yet sent

    await database_sync_to_async(call_command)("deliver_reports", verbosity=0)

    assert len(smtp.sink.messages) == 1
    envelope = smtp.sink.messages[0]
    assert envelope.rcpt_tos == ["bordeaux@unit.test"]
    message = email.message_from_bytes(envelope.content)
    assert report.reference in message["Subject"]
    body = message.get_payload()[0].get_payload(decode=True).decode()
    assert "Violences répétées du conjoint" in body
    assert "+33612345678" in body
    assert "camille@example.org" in body
    attachment = json.loads(message.get_payload()[1].get_payload(decode=True))
    assert attachment["reference"] == report.reference
    assert attachment["unit"]["name"] == "Commissariat de Bordeaux (démo)"
    assert attachment["consent"]["text_sha256"] == consent.text_hash
    await database_sync_to_async(delivery.refresh_from_db)()
    assert delivery.state == "sent" and delivery.attempts == 1

    kinds = await database_sync_to_async(
        lambda: list(AuditEvent.objects.values_list("kind", flat=True))
    )()
    for kind in ("consent_asked", "consent_answered", "report_created", "report_sent"):
        assert kind in kinds
    await world["visitor"].disconnect()
    await world["staff"].disconnect()


async def test_webhook_delivers_a_correctly_signed_request(webhook):
    world = await consent_flow(
        accept=True,
        contact={"phone": "+33 6 11 22 33 44"},
        unit_fields={
            "method": "webhook",
            "address": webhook.url,
            "webhook_secret": "shared-secret-of-the-unit",
        },
    )
    response = await database_sync_to_async(post_report)(
        world["operator"], world["conversation"], world["unit"].id
    )
    assert response.status_code == 302
    counts = await database_sync_to_async(deliver_due)()
    assert counts == {"sent": 1, "failed": 0}
    assert len(webhook.requests) == 1
    received = webhook.requests[0]
    headers = {k.lower(): v for k, v in received["headers"].items()}
    expected = hmac.new(
        b"shared-secret-of-the-unit",
        headers["x-ecoute-timestamp"].encode() + b"." + received["body"],
        hashlib.sha256,
    ).hexdigest()
    assert headers["x-ecoute-signature"] == f"sha256={expected}"
    document = json_of(received["body"])
    assert document["contact"]["phone"] == "+33611223344"
    assert headers["x-ecoute-reference"] == document["reference"]
    await world["visitor"].disconnect()
    await world["staff"].disconnect()


async def test_declined_consent_sends_nothing_and_is_recorded(smtp):
    world = await consent_flow(accept=False)
    consent = await database_sync_to_async(ConsentRequest.objects.get)(
        id=world["consent"]
    )
    assert consent.status == "declined" and consent.answered_at is not None
    assert consent.contact_encrypted is None and consent.contact_sealed is None
    client = await database_sync_to_async(staff_client)(world["operator"])
    refused = await database_sync_to_async(client.post)(
        f"/console/escalations/conversation/{world['conversation']}/",
        {
            "action": "report",
            "unit": str(world["unit"].id),
            "category": "domestic",
            "urgency": "high",
            "summary": "x",
        },
    )
    assert refused.status_code == 400
    await database_sync_to_async(deliver_due)()
    assert smtp.sink.messages == []
    assert await database_sync_to_async(Report.objects.count)() == 0
    answered = await database_sync_to_async(
        lambda: AuditEvent.objects.get(kind="consent_answered")
    )()
    assert answered.data["accept"] is False
    await world["visitor"].disconnect()
    await world["staff"].disconnect()


async def test_bad_contact_is_refused_and_changes_nothing():
    service, _unit = await database_sync_to_async(make_escalation_world)()
    operator = await database_sync_to_async(make_operator)(service)
    visitor, _started = await open_conversation()
    staff, _hello = await connect_staff(operator)
    await staff.send_json_to({"type": "claim"})
    conversation_id = (await receive_until(staff, "assigned"))["conversation"]["id"]
    await staff.send_json_to(
        {"type": "request_consent", "conversation": conversation_id}
    )
    question = await receive_until(visitor, "consent_request")
    for contact, code in (
        ({"phone": "12"}, "invalid_contact"),
        ({"email": "not-an-address"}, "invalid_contact"),
        ({"name": "only a name"}, "invalid_contact"),
        ({"phone": "0612345678", "ssn": "x"}, "bad_request"),
        ("0612345678", "bad_request"),
    ):
        await visitor.send_json_to(
            {
                "type": "consent",
                "request": question["request"],
                "accept": True,
                "contact": contact,
            }
        )
        error = await receive_until(visitor, "error")
        assert error["code"] == code, (contact, error)
    consent = await database_sync_to_async(ConsentRequest.objects.get)(
        id=question["request"]
    )
    assert consent.status == "asked"
    # Asking twice while a question waits is refused.
    await staff.send_json_to(
        {"type": "request_consent", "conversation": conversation_id}
    )
    assert (await receive_until(staff, "error"))["code"] == "bad_state"
    await drain(visitor, 0.1)
    await visitor.disconnect()
    await staff.disconnect()


async def test_failing_transport_alerts_the_board_then_succeeds(smtp, settings):
    settings.REPORT_RETRY_BASE_SECONDS = 0
    world = await consent_flow(accept=True, contact={"email": "camille@example.org"})
    response = await database_sync_to_async(post_report)(
        world["operator"], world["conversation"], world["unit"].id
    )
    assert response.status_code == 302
    smtp.stop()  # the unit's mail server is down
    for attempt in range(1, 4):
        counts = await database_sync_to_async(deliver_due)()
        assert counts == {"sent": 0, "failed": 1}, attempt
    delivery = await database_sync_to_async(Delivery.objects.get)()
    assert delivery.state == "failed" and delivery.attempts == 3

    supervisor = await database_sync_to_async(make_staff)(
        roles=("supervisor",), services=(world["service"],)
    )
    board_socket, _hello = await connect_staff(supervisor)
    board = await receive_until(board_socket, "board")
    report = await database_sync_to_async(Report.objects.get)()
    assert [alert["report"] for alert in board["report_alerts"]] == [report.reference]
    assert board["report_alerts"][0]["attempts"] == 3

    smtp.start()  # it comes back
    counts = await database_sync_to_async(deliver_due)()
    assert counts == {"sent": 1, "failed": 0}
    assert len(smtp.sink.messages) == 1
    await board_socket.send_json_to({"type": "board"})
    board = await receive_until(board_socket, "board")
    assert board["report_alerts"] == []
    failures = await database_sync_to_async(
        AuditEvent.objects.filter(kind="report_delivery_failed").count
    )()
    assert failures == 3
    for socket in (board_socket, world["visitor"], world["staff"]):
        await socket.disconnect()


async def test_a_reconnecting_console_sees_the_consent_state():
    world = await consent_flow(accept=True, contact={"email": "camille@example.org"})
    await world["staff"].disconnect()
    staff, hello = await connect_staff(world["operator"])
    (conversation,) = hello["conversations"]
    assert conversation["consent"]["status"] == "accepted"
    assert conversation["consent"]["fields"] == ["email"]
    assert "camille@" not in json.dumps(hello)
    await staff.disconnect()
    await world["visitor"].disconnect()

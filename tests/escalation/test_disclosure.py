"""Disclosure of connection data: two people, the prosecutor, the custodian."""

from datetime import timedelta

import pytest

from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, transaction
from django.utils import timezone

from chat.errors import ChatError
from config.asgi import build_websocket_app
from escalation import disclosure
from escalation.audit import verify_chain
from escalation.models import AuditEvent, DisclosureRequest
from tests.anonymity.conftest import PASSPHRASE, custodian_dir  # noqa: F401
from tests.escalation.conftest import make_escalation_world, staff_client
from tests.factories import make_operator, make_staff
from tests.helpers import ORIGIN, claim, connect_staff, receive_until

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("runtime_stopped"),
]

VISITOR_IP = "203.0.113.77"
VISITOR_PORT = 51515
JUSTIFICATION = "La personne a 14 ans et décrit des violences en cours ce soir."


def behind_proxy(app):
    """Play Daphne behind a trusted proxy that sets the visitor's address."""

    async def wrapper(scope, receive, send):
        scope = dict(scope, client=["127.0.0.1", 40000])
        scope["headers"] = list(scope.get("headers", [])) + [
            (b"x-forwarded-for", VISITOR_IP.encode()),
            (b"x-client-port", str(VISITOR_PORT).encode()),
        ]
        return await app(scope, receive, send)

    return wrapper


async def flagged_conversation(settings):
    """A visitor from 203.0.113.77 whose operator flags a minor."""
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    service, _unit = await database_sync_to_async(make_escalation_world)()
    # An operator who is also a supervisor: the two-person rule still holds.
    operator = await database_sync_to_async(make_staff)(
        roles=("operator", "supervisor"), services=(service,)
    )
    visitor = WebsocketCommunicator(
        behind_proxy(build_websocket_app()), "/ws/chat/", headers=[ORIGIN]
    )
    assert (await visitor.connect())[0]
    await visitor.send_json_to({"type": "start", "place": "33000", "role": "victim"})
    started = await receive_until(visitor, "started")
    staff, _hello = await connect_staff(operator)
    await claim(staff)
    await staff.send_json_to(
        {"type": "flag", "conversation": started["conversation"], "minor": True}
    )
    await receive_until(staff, "flagged")
    await visitor.disconnect()
    await staff.disconnect()
    return service, operator, started["conversation"]


def page(client, request_id):
    return f"/console/escalations/disclosure/{request_id}/"


def walk_the_disclosure(service, operator, conversation_id, custodian_folder):
    key_path = custodian_folder / f"sealing-{timezone.now():%Y-%m}.key.pem"
    supervisor = make_staff(roles=("supervisor",), services=(service,))
    custodian = make_staff(roles=("custodian",), services=(service,))
    operator_client = staff_client(operator)

    # The operator asks, from the conversation's escalation screen.
    response = operator_client.post(
        f"/console/escalations/conversation/{conversation_id}/",
        {"action": "disclosure", "ground": "minor", "justification": JUSTIFICATION},
    )
    assert response.status_code == 302
    request = DisclosureRequest.objects.get()
    assert request.state == "requested"

    # The requester cannot endorse: the screen and the service refuse...
    response = operator_client.post(
        page(operator_client, request.id), {"action": "endorse"}
    )
    assert response.status_code == 400
    assert "autre personne" in response.content.decode()
    with pytest.raises(ChatError) as refused:
        disclosure.check_endorse(operator.staff, request.id)
    assert refused.value.code == "forbidden"
    # ...and so does the database, whoever writes the row.
    with pytest.raises(IntegrityError), transaction.atomic():
        DisclosureRequest.objects.filter(id=request.id).update(endorsed_by=operator)
    request.refresh_from_db()
    assert request.state == "requested" and request.endorsed_by_id is None

    custodian_client = staff_client(custodian)

    def execute(passphrase=PASSPHRASE, key=None):
        with open(key or key_path, "rb") as handle:
            return custodian_client.post(
                page(custodian_client, request.id),
                {"action": "execute", "key_file": handle, "passphrase": passphrase},
            )

    # Executing before any approval is refused.
    response = execute()
    assert response.status_code == 400
    assert VISITOR_IP not in response.content.decode()

    supervisor_client = staff_client(supervisor)
    response = supervisor_client.post(
        page(supervisor_client, request.id), {"action": "endorse"}
    )
    assert response.status_code == 302
    response = execute()
    assert response.status_code == 400  # endorsed is not approved

    response = supervisor_client.post(
        page(supervisor_client, request.id),
        {
            "action": "decision",
            "decision": "approved",
            "parquet_reference": "PARQUET-BDX-2026-0042",
            "magistrate": "Mme la substitute Durand",
            "decision_date": timezone.localdate().isoformat(),
        },
    )
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.state == "approved" and request.expires_at > timezone.now()

    # Without the passphrase, or with a wrong one, nothing opens.
    for passphrase in ("", "not-the-passphrase"):
        response = execute(passphrase)
        assert response.status_code == 400
        assert VISITOR_IP not in response.content.decode()
    request.refresh_from_db()
    assert request.state == "approved"

    # With approval, key and passphrase: shown once, with the reference.
    response = execute()
    assert response.status_code == 200
    body = response.content.decode()
    assert VISITOR_IP in body and str(VISITOR_PORT) in body
    assert request.reference in body and "PARQUET-BDX-2026-0042" in body
    request.refresh_from_db()
    assert request.state == "executed" and request.executed_by_id == custodian.id
    # Not stored: a second look shows nothing, a second execution is refused.
    again = custodian_client.get(page(custodian_client, request.id))
    assert VISITOR_IP not in again.content.decode()
    assert execute().status_code == 400

    response = supervisor_client.post(
        page(supervisor_client, request.id), {"action": "close"}
    )
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.state == "closed"

    steps = list(
        AuditEvent.objects.filter(kind__startswith="disclosure_").values_list(
            "kind", flat=True
        )
    )
    for kind in (
        "disclosure_requested",
        "disclosure_refused_attempt",
        "disclosure_endorse",
        "disclosure_approve",
        "disclosure_execute",
        "disclosure_close",
    ):
        assert kind in steps, kind
    assert not AuditEvent.objects.filter(data__icontains=VISITOR_IP).exists()
    report = verify_chain()
    assert report.ok, report.problem


async def test_approved_disclosure_opens_the_visitors_address(
    settings,
    custodian_dir,  # noqa: F811
):
    service, operator, conversation_id = await flagged_conversation(settings)
    await database_sync_to_async(walk_the_disclosure)(
        service, operator, conversation_id, custodian_dir
    )


def approved_request(service, operator, conversation_id):
    supervisor = make_staff(roles=("supervisor",), services=(service,))
    request = disclosure.check_request_disclosure(
        operator.staff, conversation_id, ground="minor", justification=JUSTIFICATION
    )
    disclosure.check_endorse(supervisor.staff, request.id)
    return supervisor, request


def refusals_after_refusal_and_expiry(service, operator, conversation_id, folder):
    key_pem = (folder / f"sealing-{timezone.now():%Y-%m}.key.pem").read_bytes()
    custodian = make_staff(roles=("custodian",), services=(service,))
    supervisor, request = approved_request(service, operator, conversation_id)
    disclosure.check_record_decision(
        supervisor.staff,
        request.id,
        decision="refused",
        parquet_reference="PARQUET-1",
        magistrate="M. Martin",
        decision_date=timezone.localdate(),
    )
    with pytest.raises(ChatError) as refused:
        disclosure.check_execute(
            custodian.staff, request.id, key_pem=key_pem, passphrase=PASSPHRASE.encode()
        )
    assert refused.value.code == "bad_state"

    _supervisor, second = approved_request(service, operator, conversation_id)
    disclosure.check_record_decision(
        supervisor.staff,
        second.id,
        decision="approved",
        parquet_reference="PARQUET-2",
        magistrate="M. Martin",
        decision_date=timezone.localdate(),
    )
    DisclosureRequest.objects.filter(id=second.id).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )
    with pytest.raises(ChatError) as expired:
        disclosure.check_execute(
            custodian.staff, second.id, key_pem=key_pem, passphrase=PASSPHRASE.encode()
        )
    assert expired.value.code == "expired"
    second.refresh_from_db()
    assert second.state == "expired"

    # An operator is no custodian, even with the key.
    _supervisor, third = approved_request(service, operator, conversation_id)
    disclosure.check_record_decision(
        supervisor.staff,
        third.id,
        decision="approved",
        parquet_reference="PARQUET-3",
        magistrate="M. Martin",
        decision_date=timezone.localdate(),
    )
    with pytest.raises(ChatError) as forbidden:
        disclosure.check_execute(
            operator.staff, third.id, key_pem=key_pem, passphrase=PASSPHRASE.encode()
        )
    assert forbidden.value.code == "forbidden"
    # The custodians' command opens it, and prints it with the reference.
    return custodian, third


async def test_refused_expired_and_wrong_person_are_refused(
    settings,
    custodian_dir,  # noqa: F811
    tmp_path,
    capsys,
):
    service, operator, conversation_id = await flagged_conversation(settings)
    custodian, third = await database_sync_to_async(refusals_after_refusal_and_expiry)(
        service, operator, conversation_id, custodian_dir
    )
    passphrase_file = tmp_path / "pass"
    passphrase_file.write_text(PASSPHRASE)
    out = tmp_path / "result.json"
    await database_sync_to_async(call_command)(
        "execute_disclosure",
        third.reference,
        custodian=custodian.username,
        key_file=str(custodian_dir / f"sealing-{timezone.now():%Y-%m}.key.pem"),
        passphrase_file=str(passphrase_file),
        out=str(out),
    )
    printed = capsys.readouterr().out
    assert third.reference in printed and VISITOR_IP in printed
    assert VISITOR_IP in out.read_text()
    with pytest.raises(CommandError):
        await database_sync_to_async(call_command)(
            "execute_disclosure",
            third.reference,
            custodian=custodian.username,
            key_file=str(custodian_dir / f"sealing-{timezone.now():%Y-%m}.key.pem"),
            passphrase_file=str(passphrase_file),
        )


def test_lapsed_approvals_expire_on_schedule(db):
    from tests.factories import make_conversation

    service, _unit = make_escalation_world()
    operator = make_operator(service)
    conversation, _token = make_conversation(service)
    conversation.urgent = True
    conversation.save()
    supervisor = make_staff(roles=("supervisor",), services=(service,))
    request = disclosure.check_request_disclosure(
        operator.staff, conversation.id, ground="urgent", justification=JUSTIFICATION
    )
    disclosure.check_endorse(supervisor.staff, request.id)
    disclosure.check_record_decision(
        supervisor.staff,
        request.id,
        decision="approved",
        parquet_reference="P-1",
        magistrate="M. Martin",
        decision_date=timezone.localdate(),
    )
    assert disclosure.do_expire_lapsed() == 0
    DisclosureRequest.objects.filter(id=request.id).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    call_command("deliver_reports", verbosity=0)
    request.refresh_from_db()
    assert request.state == "expired"
    assert AuditEvent.objects.filter(kind="disclosure_expire").exists()
    # Only flagged conversations, and only on the flag's ground.
    with pytest.raises(ChatError):
        disclosure.check_request_disclosure(
            operator.staff, conversation.id, ground="minor", justification=JUSTIFICATION
        )


def test_every_transition_comes_from_the_table():
    targets = {t.target for t in disclosure.TRANSITIONS.values()}
    assert targets == {
        "endorsed",
        "approved",
        "refused",
        "executed",
        "closed",
        "expired",
        "withdrawn",
    }
    assert disclosure.TRANSITIONS["execute"].sources == ("approved",)

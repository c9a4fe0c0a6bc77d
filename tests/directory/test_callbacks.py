"""Callback requests: visitor to the chosen association's queue, sealed."""

import logging
import uuid

import pytest

from channels.db import database_sync_to_async
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client

from chat.errors import ChatError
from chat.services import do_start_conversation
from console.models import StaffProfile
from console.services import do_create_login_session, do_create_staff
from directory.models import CallbackRequest, Resource
from directory.services import (
    check_request_callback,
    check_reveal_callback,
    check_set_callback_status,
    do_create_partner_key,
    normalize_phone,
)
from tests.factories import make_service
from tests.helpers import receive_until, visitor_communicator
from tests.reference_data import load_real_places

PHONE = "06 12 34 56 78"
PHONE_FORMS = ("0612345678", "06 12 34 56 78", "612345678", "06.12.34.56.78")
TIMES = "en semaine après 18 h, pas le mercredi"
PASSPHRASE = b"correct horse battery staple"


def make_partner(service, name: str, username: str):
    """A partner association with its key pair and one staff account."""
    resource = Resource.objects.create(
        kind="association", name=name, department="94", source="test"
    )
    resource.callback_services.set([service])
    pem = do_create_partner_key(resource, passphrase=PASSPHRASE)
    user = do_create_staff(
        username=username,
        password="pw-long-enough-123",
        pseudonym=name[:80],
        roles=[StaffProfile.Role.OPERATOR],
        services=[],
    )
    resource.staff.add(user)
    return resource, user, pem


def setup_line():
    communes = load_real_places("94041", "33063")
    line = make_service(
        "ecoute-94",
        name="Écoute 94",
        is_default=False,
        departments=["94"],
        offers_callbacks=True,
    )
    national = make_service("national", name="Plateforme")
    first = make_partner(line, "Association A (test)", "partner-a")
    second = make_partner(line, "Association B (test)", "partner-b")
    return line, national, communes, first, second


def partner_client(user) -> Client:
    client = Client()
    client.cookies["sessionid"] = do_create_login_session(user)
    return client


def dump_database() -> list[tuple[str, str, object]]:
    """Return (table, column, value) for every value of every table."""
    values = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            columns = [
                column.name
                for column in connection.introspection.get_table_description(
                    cursor, table
                )
            ]
            quoted = connection.ops.quote_name(table)
            cursor.execute(f"SELECT * FROM {quoted}")  # noqa: S608 - table names
            for row in cursor.fetchall():
                values.extend(zip([table] * len(columns), columns, row, strict=True))
    return values


def assert_phone_nowhere(values) -> None:
    for table, column, value in values:
        if value is None:
            continue
        if isinstance(value, bytes | memoryview):
            blob = bytes(value)
            for form in PHONE_FORMS:
                assert form.encode() not in blob, (table, column)
            continue
        text = str(value)
        for form in PHONE_FORMS:
            assert form not in text, (table, column)
        assert TIMES not in text, (table, column)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("runtime_stopped")
async def test_callback_goes_to_the_chosen_association_sealed_and_is_closed(
    caplog,
) -> None:
    caplog.set_level(logging.DEBUG)
    (
        _line,
        _national,
        _communes,
        (partner_a, staff_a, pem_a),
        (_partner_b, staff_b, _pem_b),
    ) = await database_sync_to_async(setup_line)()

    visitor = visitor_communicator()
    await visitor.connect()
    await visitor.send_json_to(
        {"type": "start", "place": "94200", "role": "victim", "service": "ecoute-94"}
    )
    started = await receive_until(visitor, "started")
    assert started["service"] == "ecoute-94"

    await visitor.send_json_to({"type": "callback_options"})
    options = await receive_until(visitor, "callback_options")
    assert options["available"] is True
    assert [partner["name"] for partner in options["partners"]] == [
        "Association A (test)",
        "Association B (test)",
    ]

    await visitor.send_json_to(
        {
            "type": "callback",
            "id": "cb-1",
            "partner": str(partner_a.id),
            "phone": PHONE,
            "times": TIMES,
        }
    )
    requested = await receive_until(visitor, "callback_requested")
    assert requested["partner"] == str(partner_a.id)
    assert requested["partner_name"] == "Association A (test)"
    assert requested["id"] == "cb-1"
    notice = await receive_until(visitor, "message")
    assert notice["from"] == "system"
    assert "Association A (test)" in notice["text"]

    await visitor.send_json_to(
        {"type": "callback", "partner": str(partner_a.id), "phone": "12"}
    )
    refused = await receive_until(visitor, "error")
    assert refused["code"] == "bad_request"
    assert "12" not in refused["message"]
    await visitor.disconnect()

    # The number is nowhere in clear: not in any table, not in the logs.
    values = await database_sync_to_async(dump_database)()
    assert_phone_nowhere(values)
    for form in PHONE_FORMS:
        assert form not in caplog.text

    def partner_side():
        request_id = str(CallbackRequest.objects.get().id)
        client = partner_client(staff_a)
        listed = client.get("/directory/api/callbacks/").json()
        assert [item["id"] for item in listed["requests"]] == [request_id]
        assert listed["requests"][0]["status"] == "pending"
        assert PHONE not in str(listed)
        page = client.get("/directory/callbacks/")
        assert page.status_code == 200
        assert "Association A (test)" in page.content.decode()

        # The other association sees nothing of it.
        other = partner_client(staff_b)
        assert other.get("/directory/api/callbacks/").json()["requests"] == []
        closing = other.post(
            f"/directory/api/callbacks/{request_id}/",
            {"status": "done"},
            content_type="application/json",
        )
        assert closing.status_code == 404

        reveal_url = f"/directory/callbacks/{request_id}/reveal/"
        wrong = client.post(
            reveal_url,
            {
                "key": SimpleUploadedFile("key.pem", pem_a),
                "passphrase": "not the passphrase",
            },
        )
        assert wrong.status_code == 400
        revealed = client.post(
            reveal_url,
            {
                "key": SimpleUploadedFile("key.pem", pem_a),
                "passphrase": PASSPHRASE.decode(),
            },
        )
        assert revealed.status_code == 200
        assert "no-store" in revealed["Cache-Control"]
        assert "0612345678" in revealed.content.decode()

        done = client.post(
            f"/directory/api/callbacks/{request_id}/",
            {"status": "done"},
            content_type="application/json",
        )
        assert done.status_code == 200
        assert done.json()["status"] == "done"
        again = client.post(
            f"/directory/api/callbacks/{request_id}/",
            {"status": "declined"},
            content_type="application/json",
        )
        assert again.status_code == 409
        request = CallbackRequest.objects.get()
        assert (request.status, request.handled_by, request.reveal_count) == (
            "done",
            staff_a,
            1,
        )
        assert_phone_nowhere(dump_database())

    await database_sync_to_async(partner_side)()


@pytest.mark.django_db
def test_callbacks_only_on_a_service_that_offers_them() -> None:
    line, national, communes, (partner, staff, pem), _second = setup_line()
    elsewhere, _ = do_start_conversation(
        service=national, visitor_role="victim", commune=communes["33063"]
    )
    with pytest.raises(ChatError) as caught:
        check_request_callback(
            elsewhere, partner_id=str(partner.id), phone=PHONE, times=""
        )
    assert caught.value.code == "callback_unavailable"

    conversation, _ = do_start_conversation(
        service=line, visitor_role="victim", commune=communes["94041"]
    )
    with pytest.raises(ChatError) as caught:
        check_request_callback(
            conversation, partner_id=str(uuid.uuid4()), phone=PHONE, times=""
        )
    assert caught.value.code == "not_found"
    for _attempt in range(3):
        check_request_callback(
            conversation,
            partner_id=str(partner.id),
            phone="+33 6 12 34 56 78",
            times="",
        )
    with pytest.raises(ChatError) as caught:
        check_request_callback(
            conversation, partner_id=str(partner.id), phone=PHONE, times=""
        )
    assert caught.value.code == "callback_limit"

    request = CallbackRequest.objects.filter(partner=partner).first()
    details = check_reveal_callback(
        staff, request.id, key_pem=pem, passphrase=PASSPHRASE
    )
    assert details == {"phone": "0612345678", "times": ""}
    for status in ("unreachable", "declined"):
        request = CallbackRequest.objects.filter(
            partner=partner, status="pending"
        ).first()
        assert (
            check_set_callback_status(staff, request.id, status=status).status == status
        )
    with pytest.raises(ChatError):
        check_set_callback_status(staff, request.id, status="pending")


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("06 12 34 56 78", "0612345678"),
        ("06.12.34.56.78", "0612345678"),
        ("+33 (0)6 12 34 56 78", "0612345678"),
        ("+33 6 12 34 56 78", "0612345678"),
        ("0032 470 12 34 56", "+32470123456"),
        ("12", None),
        ("06 12 34 56 7a", None),
    ],
)
def test_normalize_phone(typed: str, stored: str | None) -> None:
    if stored is None:
        with pytest.raises(ChatError):
            normalize_phone(typed)
    else:
        assert normalize_phone(typed) == stored

"""The support directory: seeding, lookup by place, CSV, sharing cards."""

import io
import uuid

import pytest

from channels.db import database_sync_to_async
from django.core.management import call_command
from django.test import Client

from chat.models import Commune, Message
from console.models import StaffProfile
from console.services import do_create_login_session
from directory.csvio import do_import_resources, export_resources_text
from directory.models import Orientation, Resource
from directory.selectors import (
    count_orientations,
    list_resources_for_commune,
    list_resources_for_place,
    render_matches,
)
from directory.services import do_verify_resource
from tests.factories import make_operator, make_service, make_staff
from tests.helpers import (
    claim,
    connect_staff,
    receive_until,
    visitor_communicator,
)
from tests.reference_data import load_real_places

SEEDED = 241  # 9 helplines + 2 platforms + 230 annuaire rows.


def seed() -> None:
    call_command("import_directory", verbosity=0)


# -- seeding ----------------------------------------------------------------


@pytest.mark.django_db
def test_seed_imports_every_entry_unverified_and_offers_116_006() -> None:
    seed()
    assert Resource.objects.count() == SEEDED
    assert not Resource.objects.filter(verified_at__isnull=False).exists()
    assert Resource.objects.filter(kind="cidff").count() == 116
    assert Resource.objects.filter(kind="access_to_law").count() == 107
    assert Resource.objects.filter(kind="victim_support").count() == 7
    france_victimes = Resource.objects.get(source_ref="helpline:116006")
    assert france_victimes.phone == "116 006"
    assert france_victimes.always_offer and france_victimes.is_national
    cidff = Resource.objects.get(source_ref="annuaire:cidf-01053-01")
    assert cidff.source.startswith("Annuaire DILA")
    assert (cidff.commune_code, cidff.department) == ("01053", "01")


@pytest.mark.django_db
def test_seed_again_adds_nothing_and_keeps_administrators_corrections(
    django_user_model,
) -> None:
    seed()
    admin = django_user_model.objects.create_user("verifier")
    entry = Resource.objects.get(source_ref="annuaire:cidf-33063-01")
    entry.phone = "05 00 00 00 00"
    entry.save(update_fields=["phone"])
    do_verify_resource(entry, user=admin)
    seed()
    assert Resource.objects.count() == SEEDED
    entry.refresh_from_db()
    assert entry.phone == "05 00 00 00 00"
    assert entry.verified and entry.verified_by == admin


# -- lookup -----------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.usefixtures("communes")
def test_lookup_gives_the_commune_then_its_department_then_national() -> None:
    seed()
    arles = Commune.objects.get(code_insee="13004", kind="commune-actuelle")
    matches = list_resources_for_commune(arles)
    scopes = [match.scope for match in matches]
    assert scopes == sorted(scopes, key=["commune", "department", "national"].index)
    first = matches[0].resource
    assert first.source_ref == "annuaire:cidf-13004-01"
    assert first.commune_name == "Arles"
    department = [m.resource.source_ref for m in matches if m.scope == "department"]
    assert "annuaire:mjd-13001-01" in department
    assert "annuaire:cidf-13201-01" in department
    national = [m.resource for m in matches if m.scope == "national"]
    assert national[0].phone == "116 006"
    # Entries of other departments never show.
    assert not any(m.resource.department == "33" for m in matches)


@pytest.mark.django_db
def test_lookup_by_department_and_verified_first() -> None:
    seed()
    matches = list_resources_for_place(department="94")
    local = [match.resource for match in matches if match.scope == "department"]
    assert {resource.source_ref for resource in local} == {
        "annuaire:mjd-94017-01",
        "annuaire:bav-94028-01",
        "annuaire:cidf-94028-01",
        "annuaire:mjd-94076-01",
    }
    do_verify_resource(
        Resource.objects.get(source_ref="annuaire:mjd-94076-01"), user=None
    )
    matches = list_resources_for_place(department="94")
    assert matches[0].resource.source_ref == "annuaire:mjd-94076-01"


@pytest.mark.django_db
def test_116_006_is_offered_even_when_missing_or_filtered() -> None:
    seed()
    only_cidff = list_resources_for_place(department="94", kind="cidff")
    assert {m.resource.kind for m in only_cidff} == {"cidff", "national"}
    assert any(m.resource.phone == "116 006" for m in only_cidff)
    Resource.objects.filter(source_ref="helpline:116006").delete()
    rendered = render_matches(list_resources_for_place(department="94"))
    assert rendered[-1]["phone"] == "116 006"
    assert rendered[-1]["id"] is None


@pytest.mark.django_db
def test_entries_of_a_service_show_only_for_it() -> None:
    seed()
    line = make_service("orientation", name="Orientation", is_default=False)
    other = make_service("autre", name="Autre", is_default=False)
    centre = Resource.objects.create(
        kind="care_centre",
        name="Centre ressource (test)",
        departments=["94"],
        source="test",
    )
    centre.services.set([line])
    names = [m.resource.name for m in list_resources_for_place(department="94")]
    assert "Centre ressource (test)" not in names
    names = [
        m.resource.name
        for m in list_resources_for_place(department="94", service=other)
    ]
    assert "Centre ressource (test)" not in names
    names = [
        m.resource.name for m in list_resources_for_place(department="94", service=line)
    ]
    assert "Centre ressource (test)" in names


# -- CSV --------------------------------------------------------------------


@pytest.mark.django_db
def test_csv_export_then_import_round_trips() -> None:
    seed()
    line = make_service("ecoute-94", name="Écoute 94", is_default=False)
    partner = Resource.objects.get(source_ref="annuaire:cidf-94028-01")
    partner.callback_services.set([line])
    partner.hours = "lun. 9 h–12 h, « permanences »; le 2e jeudi"
    partner.save(update_fields=["hours"])
    do_verify_resource(partner, user=None)
    exported = export_resources_text()
    assert exported.count("\n") == SEEDED + 1

    report = do_import_resources(io.StringIO(exported))
    assert (report.created, report.updated, report.errors) == (0, 0, [])
    assert report.unchanged == SEEDED

    Resource.objects.filter(source_ref="annuaire:mjd-94076-01").delete()
    changed = Resource.objects.get(source_ref="annuaire:cidf-01053-01")
    changed.phone = "00"
    changed.save(update_fields=["phone"])
    partner.callback_services.clear()
    report = do_import_resources(io.StringIO(exported))
    assert (report.created, report.updated, report.errors) == (1, 2, [])
    assert export_resources_text() == exported


@pytest.mark.django_db
def test_csv_import_creates_new_entries_and_reports_bad_rows() -> None:
    text = (
        "kind,name,phone,departments,verified_at,source\n"
        "shelter,Accueil de nuit (test),01 99 00 00 01,94|93,2026-11-30,appel\n"
        "nonsense,Mauvaise ligne,,,,\n"
    )
    report = do_import_resources(io.StringIO(text))
    assert report.created == 1
    assert len(report.errors) == 1 and report.errors[0].startswith("line 3")
    shelter = Resource.objects.get(name="Accueil de nuit (test)")
    assert shelter.departments == ["94", "93"]
    assert shelter.verified_at.isoformat() == "2026-11-30"


@pytest.mark.django_db
def test_export_and_import_commands(tmp_path) -> None:
    seed()
    out = tmp_path / "annuaire.csv"
    call_command("export_directory", out=out, verbosity=0)
    Resource.objects.all().delete()
    call_command("import_directory", csv=out, verbosity=0)
    assert Resource.objects.count() == SEEDED


# -- the console's directory panel (HTTP) -----------------------------------


@pytest.mark.django_db
@pytest.mark.usefixtures("communes")
def test_panel_endpoint_serves_the_conversations_commune_to_its_staff() -> None:
    from chat.services import do_start_conversation

    seed()
    national = make_service("national", name="Plateforme")
    other = make_service("autre", name="Autre", is_default=False)
    operator = make_operator(national)
    outsider = make_operator(other)
    arles = Commune.objects.get(code_insee="13004", kind="commune-actuelle")
    conversation, _ = do_start_conversation(
        service=national, visitor_role="victim", commune=arles, place_label="Arles"
    )
    url = f"/directory/api/resources/?conversation={conversation.id}"

    assert Client().get(url).status_code == 401
    client = Client()
    client.cookies["sessionid"] = do_create_login_session(operator)
    response = client.get(url)
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    data = response.json()
    assert data["commune"]["code_insee"] == "13004"
    first = data["results"][0]
    assert (first["scope"], first["kind"], first["verified"]) == (
        "commune",
        "cidff",
        False,
    )
    assert first["source"].startswith("Annuaire DILA")
    assert any(item["phone"] == "116 006" for item in data["results"])

    by_department = client.get("/directory/api/resources/?department=13").json()
    assert by_department["results"][0]["scope"] == "department"
    search = client.get("/directory/api/resources/?q=arles").json()
    assert search["results"][0]["name"].startswith("Centre d'information")

    unverified = Client()
    unverified.cookies["sessionid"] = do_create_login_session(operator, verified=False)
    assert unverified.get(url).status_code == 403
    stranger = Client()
    stranger.cookies["sessionid"] = do_create_login_session(outsider)
    missing = stranger.get(url)
    unknown = stranger.get(f"/directory/api/resources/?conversation={uuid.uuid4()}")
    assert missing.status_code == unknown.status_code == 404
    assert missing.json() == unknown.json()


@pytest.mark.django_db
def test_orientation_counts_are_for_supervisors() -> None:
    national = make_service("national", name="Plateforme")
    supervisor = make_staff(roles=(StaffProfile.Role.SUPERVISOR,), services=(national,))
    operator = make_operator(national)
    Orientation.objects.create(
        service=national, resource_kind="cidff", resource_name="CIDFF", department="13"
    )
    client = Client()
    client.cookies["sessionid"] = do_create_login_session(supervisor)
    data = client.get("/directory/api/orientations/?service=national").json()
    assert data == {"total": 1, "by_kind": {"cidff": 1}, "by_department": {"13": 1}}
    client.cookies["sessionid"] = do_create_login_session(operator)
    assert client.get("/directory/api/orientations/").status_code == 403


# -- send_resource: a card in the conversation, an orientation counted ------


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("runtime_stopped")
async def test_shared_card_reaches_the_visitor_and_the_orientation_count() -> None:
    def setup():
        load_real_places("13004")
        seed()
        national = make_service("national", name="Plateforme")
        other = make_service("autre", name="Autre", is_default=False)
        private = Resource.objects.create(
            kind="association", name="Réservée à un autre service", source="test"
        )
        private.services.set([other])
        cidff = Resource.objects.get(source_ref="annuaire:cidf-13004-01")
        return make_operator(national), cidff, private

    operator, cidff, private = await database_sync_to_async(setup)()
    visitor = visitor_communicator()
    await visitor.connect()
    await visitor.send_json_to({"type": "start", "place": "Arles", "role": "victim"})
    started = await receive_until(visitor, "started")
    staff, _hello = await connect_staff(operator)
    await claim(staff, started["conversation"])

    client_id = str(uuid.uuid4())
    frame = {
        "type": "send_resource",
        "conversation": started["conversation"],
        "resource": str(cidff.id),
        "id": client_id,
    }
    await staff.send_json_to(frame)
    sent = await receive_until(staff, "resource_sent")
    expected_card = {
        "name": cidff.name,
        "kind": "cidff",
        "kind_label": "CIDFF (droits des femmes et des familles)",
        "phone": "04 90 93 47 76",
        "address": cidff.full_address,
        "url": cidff.website,
        "hours": "",
    }
    assert sent == {
        "type": "resource_sent",
        "conversation": started["conversation"],
        "resource": str(cidff.id),
        "seq": sent["seq"],
        "card": expected_card,
        "id": client_id,
    }
    message = await receive_until(visitor, "message")
    assert message["from"] == "operator"
    assert message["card"] == expected_card
    assert message["seq"] == sent["seq"]
    assert "04 90 93 47 76" in message["text"]

    # Sending the same id again stores nothing twice.
    await staff.send_json_to(frame)
    again = await receive_until(staff, "resource_sent")
    assert again["seq"] == sent["seq"]

    await staff.send_json_to(
        {**frame, "id": str(uuid.uuid4()), "resource": str(private.id)}
    )
    refused = await receive_until(staff, "error")
    assert refused["code"] == "not_found"

    counts = await database_sync_to_async(count_orientations)()
    assert counts == {"total": 1, "by_kind": {"cidff": 1}, "by_department": {"13": 1}}
    stored = await Message.objects.filter(
        conversation_id=started["conversation"], card__isnull=False
    ).acount()
    assert stored == 1
    orientation = await Orientation.objects.select_related("resource").aget()
    assert orientation.resource_id == cidff.id
    assert orientation.message_seq == sent["seq"]
    await visitor.disconnect()
    await staff.disconnect()

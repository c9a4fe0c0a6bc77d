"""Administrators manage services and the directory in the Django admin."""

import pytest

from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import Client

from chat.models import Service
from console.services import do_create_login_session
from directory.models import Resource
from tests.factories import make_service

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(django_user_model) -> Client:
    admin = django_user_model.objects.create_superuser("root-directory")
    client = Client()
    client.cookies["sessionid"] = do_create_login_session(admin)
    return client


def test_verify_export_and_import_from_the_admin(admin_client: Client) -> None:
    call_command("import_directory", verbosity=0)
    listing = admin_client.get("/admin/directory/resource/?verifiee=non")
    assert listing.status_code == 200
    assert "Importer un CSV" in listing.content.decode()
    entry = Resource.objects.get(source_ref="annuaire:cidf-94028-01")
    response = admin_client.post(
        "/admin/directory/resource/",
        {"action": "mark_verified", "_selected_action": [str(entry.id)]},
    )
    assert response.status_code == 302
    entry.refresh_from_db()
    assert entry.verified and entry.verified_by.username == "root-directory"

    exported = admin_client.post(
        "/admin/directory/resource/",
        {"action": "export_csv", "_selected_action": [str(entry.id)]},
    )
    assert exported["Content-Type"].startswith("text/csv")
    text = exported.content.decode()
    assert text.count("\n") == 2 and str(entry.id) in text

    changed = text.replace("01 72 16 56 50", "01 72 16 56 51")
    response = admin_client.post(
        "/admin/directory/resource/import-csv/",
        {"file": SimpleUploadedFile("annuaire.csv", changed.encode())},
    )
    assert response.status_code == 302
    entry.refresh_from_db()
    assert entry.phone == "01 72 16 56 51"


def test_service_admin_validates_hours_and_routing(admin_client: Client) -> None:
    make_service("national", name="Plateforme", routing_group="plateforme-vss")
    page = admin_client.get("/admin/chat/service/add/")
    assert page.status_code == 200
    form = {
        "name": "Ligne test",
        "slug": "ligne-test",
        "description": "",
        "active": "on",
        "priority": "0",
        "departments": '["94"]',
        "communes": "[]",
        "routing_group": "",
        "force": "",
        "accepts_visitors": "on",
        "opening_hours": '{"mon": [["18:00", "09:00"]]}',
        "hours_text": "",
        "closed_days": '["12-25"]',
        "psychologist_hours": "{}",
        "emergency_notice": "",
        "consent_texts-TOTAL_FORMS": "1",
        "consent_texts-INITIAL_FORMS": "0",
        "consent_texts-0-version": "v1",
        "consent_texts-0-lang": "fr",
        "consent_texts-0-active": "on",
        "consent_texts-0-text": "J'accepte que mes coordonnées soient transmises.",
    }
    refused = admin_client.post("/admin/chat/service/add/", form)
    assert refused.status_code == 200
    assert not Service.objects.filter(slug="ligne-test").exists()
    form["opening_hours"] = '{"mon": [["09:00", "18:00"]]}'
    form["force"] = "PN"
    refused = admin_client.post("/admin/chat/service/add/", form)
    assert refused.status_code == 200  # a force needs a group
    form["force"] = ""
    created = admin_client.post("/admin/chat/service/add/", form)
    assert created.status_code == 302, created.content.decode()[:3000]
    service = Service.objects.get(slug="ligne-test")
    assert service.opening_hours == {"mon": [["09:00", "18:00"]]}
    assert service.closed_days == ["12-25"]
    assert service.consent_texts.get().version == "v1"

"""The commune → force table: import, sources, overrides, admin, on real data."""

import time

import pytest

from django.core.management import call_command
from django.test import Client

from chat.competence import (
    Competence,
    do_override_competence,
    estimate_force,
    get_competence,
)
from chat.models import Commune, CommuneCompetence, CompetenceOverride
from chat.places import resolve_place
from console.services import do_create_login_session
from tests.reference_data import _committed_competence, competence  # noqa: F401

pytestmark = pytest.mark.django_db

COMPETENCE_ROWS = 35014
ESTIMATED_ROWS = 18
SPLIT_COMMUNES = {"11262", "13004", "70285", "74010", "79329", "97107"}


def place(text: str) -> Commune:
    resolution = resolve_place(text)
    assert resolution.commune is not None, (text, resolution.choices)
    return resolution.commune


@pytest.mark.usefixtures("competence")
def test_import_keeps_each_value_and_its_source() -> None:
    assert CommuneCompetence.objects.count() == COMPETENCE_ROWS
    sources = CommuneCompetence.objects.values_list("imported_source", flat=True)
    assert sum(1 for source in sources if source == "estimation") == ESTIMATED_ROWS
    split = CommuneCompetence.objects.filter(imported_force="PN+GN")
    assert set(split.values_list("code_insee", flat=True)) == SPLIT_COMMUNES
    vide = CommuneCompetence.objects.filter(official_force="VIDE")
    assert vide.count() == 9
    assert set(vide.values_list("imported_source", flat=True)) == {"estimation"}


@pytest.mark.usefixtures("competence")
def test_bordeaux_and_paris_11_are_police() -> None:
    bordeaux = get_competence(place("33000"))
    assert bordeaux == Competence(
        force="PN", source="officiel", unit="Commissariat de police de Bordeaux"
    )
    assert get_competence(place("Bordeaux")).force == "PN"
    paris_11 = place("75011")
    assert paris_11.code_insee == "75111"
    assert get_competence(paris_11).force == "PN"
    assert not get_competence(paris_11).needs_confirmation


@pytest.mark.usefixtures("competence")
def test_small_rural_commune_is_gendarmerie() -> None:
    commune = place("Ambérieux-en-Dombes")
    assert commune.population < 3000
    competence_ = get_competence(commune)
    assert (competence_.force, competence_.source) == ("GN", "officiel")


@pytest.mark.usefixtures("competence")
def test_suburb_policed_by_the_gendarmerie_is_not_estimated() -> None:
    # The estimate (population ≥ 15 000) would say police: the official
    # value wins (data README §4, "typical errors").
    commune = place("Saint-Médard-en-Jalles")
    assert estimate_force(population=commune.population, department="33") == "PN"
    assert get_competence(commune).force == "GN"


@pytest.mark.usefixtures("competence")
def test_split_commune_needs_confirmation() -> None:
    arles = get_competence(place("Arles"))
    assert arles.force == "PN+GN"
    assert arles.needs_confirmation
    assert arles.unit == (
        "Commissariat de police d'Arles | Gendarmerie - Brigade d'Arles"
    )


@pytest.mark.usefixtures("competence")
def test_estimated_commune_is_labelled_approximate() -> None:
    competence_ = get_competence(place("15035"))
    assert competence_.source == "estimation"
    assert competence_.approximate
    assert competence_.needs_confirmation


@pytest.mark.usefixtures("competence")
def test_commune_missing_from_the_table_gets_the_estimate() -> None:
    commune = Commune(
        code_insee="99999", kind="commune-actuelle", department="94", population=10
    )
    assert get_competence(commune) == Competence(force="PN", source="estimation")


@pytest.mark.usefixtures("competence")
def test_override_wins_is_recorded_and_survives_reimport(django_user_model) -> None:
    admin = django_user_model.objects.create_user("admin-competence")
    row = CommuneCompetence.objects.get(code_insee="13004")
    do_override_competence(row, force="GN", note="Mas-Thibert : brigade", user=admin)
    arles = get_competence(place("Arles"))
    assert (arles.force, arles.source) == ("GN", "administrateur")
    assert arles.unit == "Gendarmerie - Brigade d'Arles"
    record = CompetenceOverride.objects.get(competence__code_insee="13004")
    assert (record.previous_force, record.previous_source) == ("PN+GN", "officiel")
    assert (record.new_force, record.user, record.note) == (
        "GN",
        admin,
        "Mas-Thibert : brigade",
    )

    call_command("import_competence", verbosity=0)
    assert get_competence(place("Arles")).force == "GN"

    do_override_competence(row, force="", user=admin)
    assert get_competence(place("Arles")).source == "officiel"
    assert CompetenceOverride.objects.filter(competence=row).count() == 2


@pytest.mark.usefixtures("competence")
def test_reimport_is_idempotent_and_fast() -> None:
    before = list(
        CommuneCompetence.objects.order_by("code_insee").values_list(
            "code_insee", "imported_force", "imported_source", "official_unit"
        )
    )
    started = time.monotonic()
    call_command("import_competence", verbosity=0)
    assert time.monotonic() - started < 15
    after = list(
        CommuneCompetence.objects.order_by("code_insee").values_list(
            "code_insee", "imported_force", "imported_source", "official_unit"
        )
    )
    assert after == before


@pytest.mark.usefixtures("competence")
def test_admin_shows_source_labels_estimate_and_records_override(
    django_user_model,
) -> None:
    admin = django_user_model.objects.create_superuser("root-competence")
    client = Client()
    client.cookies["sessionid"] = do_create_login_session(admin)

    listing = client.get("/admin/chat/communecompetence/?q=Chalinargues")
    assert listing.status_code == 200
    assert "estimation — approximative" in listing.content.decode()

    row = CommuneCompetence.objects.get(code_insee="13004")
    page = client.get(f"/admin/chat/communecompetence/{row.pk}/change/")
    assert page.status_code == 200
    assert "APPROXIMATION" in page.content.decode()
    response = client.post(
        f"/admin/chat/communecompetence/{row.pk}/change/",
        {
            "override_force": "PN",
            "override_note": "centre-ville",
            "overrides-TOTAL_FORMS": "0",
            "overrides-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    row.refresh_from_db()
    assert (row.force, row.source, row.overridden_by) == ("PN", "administrateur", admin)
    assert CompetenceOverride.objects.get(competence=row).user == admin

"""Routing a visitor to a service and a force queue, on the real data."""

from datetime import UTC, datetime
from unittest import mock

import pytest

from channels.db import database_sync_to_async

from chat.competence import do_override_competence, render_competence
from chat.errors import ChatError
from chat.hours import get_next_opening, is_service_open
from chat.models import CommuneCompetence, Conversation
from chat.services import check_start_conversation
from console.selectors import list_queue_items
from tests.factories import make_operator, make_service, make_session_cookie
from tests.helpers import (
    assert_no_sealed_field,
    claim,
    drain,
    receive_until,
    staff_communicator,
    visitor_communicator,
)
from tests.reference_data import (  # noqa: F401
    _committed_competence,
    competence,
    load_real_places,
)

GROUP = "plateforme-vss"
OFFICE_HOURS = {
    day: [["09:00", "18:00"]] for day in ("mon", "tue", "wed", "thu", "fri")
}


def make_platform():
    """The national platform: a police queue and a gendarmerie queue."""
    police = make_service(
        "national",
        name="Plateforme nationale — police",
        is_default=True,
        routing_group=GROUP,
        force="PN",
    )
    gendarmerie = make_service(
        "national-gendarmerie",
        name="Plateforme nationale — gendarmerie",
        is_default=False,
        routing_group=GROUP,
        force="GN",
    )
    return police, gendarmerie


def make_val_de_marne_line():
    return make_service(
        "ecoute-94",
        name="Ligne d'écoute du Val-de-Marne",
        is_default=False,
        departments=["94"],
        priority=10,
    )


def start(place, *, service=None, role="victim"):
    conversation, _token = check_start_conversation(
        place=place, role=role, service_slug=service
    )
    return conversation


def refusal(place, *, service=None, role="victim") -> ChatError:
    with pytest.raises(ChatError) as caught:
        start(place, service=service, role=role)
    return caught.value


# -- competence routing (service level, the whole real table) ---------------


@pytest.mark.django_db
@pytest.mark.parametrize("place", ["33000", "Bordeaux", "75011"])
@pytest.mark.usefixtures("competence")
def test_cities_policed_by_the_police_reach_the_police_queue(place: str) -> None:
    make_platform()
    conversation = start(place)
    assert conversation.service.slug == "national"
    assert conversation.competence == "PN"
    assert conversation.competence_source == "officiel"
    assert render_competence(conversation)["confirm_force"] is False


@pytest.mark.django_db
@pytest.mark.usefixtures("competence")
def test_small_rural_commune_reaches_the_gendarmerie_queue() -> None:
    make_platform()
    for service in (None, "national", GROUP, "national-gendarmerie"):
        conversation = start("Ambérieux-en-Dombes", service=service)
        assert conversation.service.slug == "national-gendarmerie", service
        assert conversation.competence == "GN"


@pytest.mark.django_db
@pytest.mark.usefixtures("competence")
def test_postal_code_shared_by_forces_makes_the_visitor_choose() -> None:
    make_platform()
    error = refusal("49000")
    assert error.code == "ambiguous_place"
    choices = {choice["name"]: choice for choice in error.extra["choices"]}
    assert set(choices) == {"Angers", "Écouflant"}
    forces = {
        name: CommuneCompetence.objects.get(code_insee=choice["code_insee"]).force
        for name, choice in choices.items()
    }
    assert forces == {"Angers": "PN", "Écouflant": "GN"}
    assert start("49000 Écouflant").service.slug == "national-gendarmerie"
    assert start("49000 Angers").service.slug == "national"


@pytest.mark.django_db
@pytest.mark.usefixtures("competence")
def test_old_name_of_a_merged_commune_routes_as_todays_commune() -> None:
    make_platform()
    conversation = start("Tourlaville")
    assert conversation.commune.code_insee == "50129"
    assert conversation.commune.name == "Cherbourg-en-Cotentin"
    assert conversation.competence == "PN"
    assert conversation.service.slug == "national"


@pytest.mark.django_db
@pytest.mark.usefixtures("competence")
def test_split_commune_asks_the_operator_to_confirm() -> None:
    police, _gendarmerie = make_platform()
    operator = make_operator(police)
    conversation = start("Arles")
    assert conversation.service.slug == "national"
    shown = render_competence(conversation)
    assert shown == {
        "force": "PN+GN",
        "source": "officiel",
        "unit": "Commissariat de police d'Arles | Gendarmerie - Brigade d'Arles",
        "approximate": False,
        "confirm_force": True,
        "queue_force": "PN",
    }
    (item,) = list_queue_items(operator.staff)
    assert item["competence"] == shown


@pytest.mark.django_db
@pytest.mark.usefixtures("competence")
def test_administrator_override_wins_and_is_recorded(django_user_model) -> None:
    make_platform()
    admin = django_user_model.objects.create_user("admin-routing")
    assert start("Ambérieux-en-Dombes").service.slug == "national-gendarmerie"
    row = CommuneCompetence.objects.get(code_insee="01005")
    do_override_competence(row, force="PN", note="convention locale", user=admin)
    conversation = start("Ambérieux-en-Dombes")
    assert conversation.service.slug == "national"
    assert conversation.competence_source == "administrateur"
    assert row.overrides.get().user == admin


# -- coverage ---------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.usefixtures("competence")
def test_val_de_marne_line_takes_its_department_only() -> None:
    make_platform()
    line = make_val_de_marne_line()
    assert start("94200", service="ecoute-94").service == line
    # Without a choice, a Val-de-Marne visitor is routed to the local line.
    assert start("Créteil").service == line

    error = refusal("33000", service="ecoute-94")
    assert error.code == "not_covered"
    assert error.extra["service"] == "ecoute-94"
    assert error.extra["reason"] == "place"
    assert error.extra["commune"] == {
        "code_insee": "33063",
        "name": "Bordeaux",
        "department": "33",
    }
    offered = [offer["slug"] for offer in error.extra["services"]]
    assert offered == ["national"]
    assert "Bordeaux" in error.message


@pytest.mark.django_db
@pytest.mark.usefixtures("competence")
def test_service_refusing_a_role_says_so() -> None:
    make_platform()
    make_service("pro", name="Ligne des professionnels", roles=["professional"])
    error = refusal("33000", service="pro", role="victim")
    assert (error.code, error.extra["reason"]) == ("not_covered", "role")


@pytest.mark.django_db
@pytest.mark.usefixtures("competence")
def test_transfer_only_service_cannot_be_started() -> None:
    make_platform()
    make_service("enfance", name="Cellule enfance", accepts_visitors=False)
    error = refusal("33000", service="enfance")
    assert error.code == "invalid_service"


# -- opening hours ----------------------------------------------------------


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.django_db
def test_office_hours_follow_paris_across_the_daylight_saving_change() -> None:
    service = make_service("bureau", name="Bureau", opening_hours=OFFICE_HOURS)
    # Friday 27 March 2026, winter time (UTC+1): 09:00 Paris is 08:00 UTC.
    assert not is_service_open(service, at=at("2026-03-27T07:59:00"))
    assert is_service_open(service, at=at("2026-03-27T08:00:00"))
    # Clocks go forward on Sunday 29 March; Monday 09:00 Paris is 07:00 UTC.
    assert not is_service_open(service, at=at("2026-03-30T06:59:00"))
    assert is_service_open(service, at=at("2026-03-30T07:00:00"))
    assert not is_service_open(service, at=at("2026-03-30T16:00:00"))
    # From Friday evening, the next opening is Monday, in summer time.
    assert get_next_opening(service, at=at("2026-03-27T18:00:00")) == at(
        "2026-03-30T07:00:00"
    )


@pytest.mark.django_db
def test_closed_days_close_the_service() -> None:
    service = make_service(
        "noel", name="Noël", opening_hours={}, closed_days=["12-25", "2026-05-14"]
    )
    assert not is_service_open(service, at=at("2026-12-25T12:00:00"))
    assert not is_service_open(service, at=at("2026-05-14T12:00:00"))
    assert is_service_open(service, at=at("2026-05-15T12:00:00"))
    assert get_next_opening(service, at=at("2026-12-25T12:00:00")) == at(
        "2026-12-25T23:00:00"
    )


@pytest.mark.django_db
@pytest.mark.usefixtures("competence")
def test_closed_service_answers_with_hours_and_emergency_numbers() -> None:
    make_platform()
    line = make_val_de_marne_line()
    line.opening_hours = OFFICE_HOURS
    line.save(update_fields=["opening_hours"])
    # Saturday 24 October 2026 (summer time) is closed; clocks go back on
    # Sunday 25, so Monday 09:00 Paris is 08:00 UTC, not 07:00.
    with mock.patch(
        "django.utils.timezone.now", return_value=at("2026-10-24T10:00:00")
    ):
        error = refusal("94200", service="ecoute-94")
    assert error.code == "service_closed"
    assert error.extra["hours"] == "lun.–ven. 09:00–18:00 (heure de Paris)"
    assert error.extra["emergency"] == ["17", "112", "114"]
    assert error.extra["opens_at"] == "2026-10-26T08:00:00.000Z"
    assert "17" in error.message and "114" in error.message
    with mock.patch(
        "django.utils.timezone.now", return_value=at("2026-10-26T08:00:00")
    ):
        assert start("94200", service="ecoute-94").service == line


# -- sockets: the same rules through the protocol ---------------------------


async def new_start(place, service=None):
    visitor = visitor_communicator()
    connected, _ = await visitor.connect()
    assert connected
    frame = {"type": "start", "place": place, "role": "victim"}
    if service:
        frame["service"] = service
    await visitor.send_json_to(frame)
    return visitor, await visitor.receive_json_from()


async def connect_staff(user):
    cookie = await database_sync_to_async(make_session_cookie)(user)
    staff = staff_communicator(cookie)
    connected, _ = await staff.connect()
    assert connected
    hello = await receive_until(staff, "hello")
    return staff, hello


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("runtime_stopped")
async def test_socket_routes_by_competence_and_operator_confirms_the_force() -> None:
    def setup():
        load_real_places("13004", "01005", "33063")
        police, gendarmerie = make_platform()
        return make_operator(police), make_operator(gendarmerie)

    police_operator, gendarmerie_operator = await database_sync_to_async(setup)()
    rural, started_rural = await new_start("Ambérieux-en-Dombes")
    assert started_rural["service"] == "national-gendarmerie"
    arles, started_arles = await new_start("Arles")
    assert started_arles["service"] == "national"

    police_staff, hello = await connect_staff(police_operator)
    (item,) = hello["queue"]
    assert item["conversation"] == started_arles["conversation"]
    assert item["competence"]["force"] == "PN+GN"
    assert item["competence"]["confirm_force"] is True

    claimed = await claim(police_staff, started_arles["conversation"])
    assert claimed["competence"]["confirm_force"] is True

    # The visitor says the facts happened in the gendarmerie's part.
    await police_staff.send_json_to(
        {
            "type": "confirm_force",
            "conversation": started_arles["conversation"],
            "force": "GN",
        }
    )
    confirmed = await receive_until(police_staff, "force_confirmed")
    assert confirmed == {
        "type": "force_confirmed",
        "conversation": started_arles["conversation"],
        "force": "GN",
        "service": "national-gendarmerie",
        "transferred": True,
    }
    released = await receive_until(police_staff, "released")
    assert released["reason"] == "transferred"

    gendarmerie_staff, hello = await connect_staff(gendarmerie_operator)
    queued = {item["conversation"]: item for item in hello["queue"]}
    assert set(queued) == {started_arles["conversation"], started_rural["conversation"]}
    assert queued[started_arles["conversation"]]["competence"]["confirm_force"] is False
    for frame in await drain(gendarmerie_staff):
        assert_no_sealed_field(frame)
    conversation = await Conversation.objects.aget(id=started_arles["conversation"])
    assert conversation.force_confirmed_at is not None

    for communicator in (rural, arles, police_staff, gendarmerie_staff):
        await communicator.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("runtime_stopped")
async def test_socket_confirming_the_same_force_keeps_the_conversation() -> None:
    def setup():
        load_real_places("13004")
        police, _ = make_platform()
        return make_operator(police)

    operator = await database_sync_to_async(setup)()
    visitor, started = await new_start("Arles")
    staff, _hello = await connect_staff(operator)
    await claim(staff, started["conversation"])
    await staff.send_json_to(
        {
            "type": "confirm_force",
            "conversation": started["conversation"],
            "force": "XX",
        }
    )
    error = await receive_until(staff, "error")
    assert error["code"] == "bad_request"
    await staff.send_json_to(
        {
            "type": "confirm_force",
            "conversation": started["conversation"],
            "force": "PN",
        }
    )
    confirmed = await receive_until(staff, "force_confirmed")
    assert (confirmed["transferred"], confirmed["service"]) == (False, "national")
    conversation = await Conversation.objects.aget(id=started["conversation"])
    assert conversation.status == "active"
    assert conversation.force_confirmed_at is not None
    await visitor.disconnect()
    await staff.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("runtime_stopped")
async def test_socket_visitor_elsewhere_is_offered_the_services_covering_them() -> None:
    def setup():
        load_real_places("33063", "94041")
        make_platform()
        make_val_de_marne_line()

    await database_sync_to_async(setup)()
    visitor, error = await new_start("33000", service="ecoute-94")
    assert error["type"] == "error"
    assert error["code"] == "not_covered"
    assert [offer["slug"] for offer in error["services"]] == ["national"]
    assert error["services"][0]["open"] is True
    await visitor.disconnect()

    visitor, started = await new_start("94200", service="ecoute-94")
    assert started["type"] == "started"
    assert started["service"] == "ecoute-94"
    await visitor.disconnect()

"""Issue 10: closed lines hand over, topics route, the commune is shown."""

from datetime import UTC, datetime
from unittest import mock

import pytest

from channels.db import database_sync_to_async
from django.test import Client

from chat.errors import ChatError
from chat.models import Service
from chat.services import check_start_conversation
from chat.services.conversations import check_start_request
from console.services import do_create_login_session
from tests.factories import make_service
from tests.helpers import receive_until, visitor_communicator
from tests.reference_data import load_real_places

GROUP = "plateforme-vss"
DAYTIME = {day: [["08:00", "22:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
# Friday 4 December 2026, 23:00 in Paris (22:00 UTC): the 94 line is closed.
NIGHT = datetime(2026, 12, 4, 22, 0, tzinfo=UTC)
DAY = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)


def make_platform() -> tuple[Service, Service]:
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


def make_line(overflow: Service | None = None, **fields) -> Service:
    fields.setdefault("opening_hours", DAYTIME)
    return make_service(
        "ecoute-94",
        name="Ligne d'écoute du Val-de-Marne",
        is_default=False,
        departments=["94"],
        priority=10,
        overflow_service=overflow,
        **fields,
    )


def at(moment: datetime):
    return mock.patch("django.utils.timezone.now", return_value=moment)


def request(place="94200", **kwargs):
    kwargs.setdefault("role", "victim")
    return check_start_request(place=place, **kwargs)


def refusal(place="94200", **kwargs) -> ChatError:
    with pytest.raises(ChatError) as caught:
        request(place, **kwargs)
    return caught.value


# -- overflow ---------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("asked", [None, "ecoute-94"])
def test_closed_line_hands_its_visitors_to_its_overflow(asked) -> None:
    load_real_places("94041")
    police, _gendarmerie = make_platform()
    line = make_line(overflow=police)
    with at(DAY):
        assert request(service_slug=asked).answering.service == line
    with at(NIGHT):
        start = request(service_slug=asked)
    assert start.answering.service == police
    assert start.answering.reason == "closed"
    assert start.answering.overflowed


@pytest.mark.django_db
def test_overflow_to_a_routing_group_reaches_the_competent_force() -> None:
    # A line covering a gendarmerie commune hands over to the GN queue.
    load_real_places("01005")
    police, gendarmerie = make_platform()
    make_service(
        "ecoute-01",
        name="Écoute Ain",
        departments=["01"],
        priority=10,
        opening_hours={"mon": []},
        overflow_service=police,
    )
    start = request("Ambérieux-en-Dombes")
    assert start.answering.service == gendarmerie
    assert start.answering.reason == "closed"


@pytest.mark.django_db
def test_without_an_open_overflow_the_visitor_gets_the_closed_screen() -> None:
    load_real_places("94041")
    police, _gendarmerie = make_platform()
    police.opening_hours = {"mon": []}
    police.save(update_fields=["opening_hours"])
    make_line(overflow=police)
    with at(NIGHT):
        error = refusal()
    assert error.code == "service_closed"
    assert error.extra["emergency"] == ["17", "112", "114"]
    # The hours are those of the line the visitor asked for.
    assert "08:00–22:00" in error.extra["hours"]


@pytest.mark.django_db
def test_line_without_overflow_stays_closed() -> None:
    load_real_places("94041")
    make_platform()
    make_line()
    with at(NIGHT):
        assert refusal().code == "service_closed"


@pytest.mark.django_db
def test_overflow_loops_end() -> None:
    load_real_places("94041")
    make_platform()
    line = make_line()
    other = make_service("ecoute-94-bis", departments=["94"], opening_hours={"mon": []})
    other.overflow_service = line
    other.save()
    line.overflow_service = other
    line.save()
    with at(NIGHT):
        assert refusal().code == "service_closed"


@pytest.mark.django_db
def test_overflow_must_cover_the_visitor() -> None:
    load_real_places("94041")
    make_platform()
    paris = make_service("paris", departments=["75"])
    make_line(overflow=paris)
    with at(NIGHT):
        assert refusal().code == "service_closed"


@pytest.mark.django_db
def test_full_line_hands_over_and_falls_back_to_itself() -> None:
    load_real_places("94041")
    police, _gendarmerie = make_platform()
    line = make_line(overflow=police, overflow_waiting=1)
    with at(DAY):
        check_start_conversation(place="94200", role="victim")
        start = request()
        assert start.answering.service == police
        assert start.answering.reason == "full"
        # The overflow closed: the full line still takes the visitor.
        police.opening_hours = {"mon": []}
        police.save(update_fields=["opening_hours"])
        start = request()
    assert start.answering.service == line
    assert not start.answering.overflowed


# -- topics -----------------------------------------------------------------


def make_topic_lines() -> dict[str, Service]:
    return {
        "discrimination": make_service(
            "discriminations", topic="discrimination", is_default=False
        ),
        "attraction": make_service(
            "orientation-prevention",
            topic="attraction",
            is_default=False,
            roles=["concerned", "relative", "professional"],
        ),
    }


@pytest.mark.django_db
def test_topic_routes_to_its_line() -> None:
    load_real_places("33063")
    police, _gendarmerie = make_platform()
    lines = make_topic_lines()
    assert request("33000").answering.service == police
    assert request("33000", topic="violence").answering.service == police
    got = request("33000", topic="discrimination").answering.service
    assert got == lines["discrimination"]
    got = request("33000", topic="attraction", role="concerned").answering.service
    assert got == lines["attraction"]
    assert refusal("33000", topic="attraction").code == "invalid_service"
    assert refusal("33000", topic="nope").code == "bad_request"


@pytest.mark.django_db
def test_child_in_danger_goes_to_child_protection_or_else_the_platform() -> None:
    load_real_places("33063")
    police, _gendarmerie = make_platform()
    # A transfer-only child-protection cell is not a way in.
    make_service("enfance", topic="child", accepts_visitors=False)
    assert request("33000", topic="child").answering.service == police
    line = make_service("enfance-chat", topic="child", is_default=False)
    assert request("33000", topic="child").answering.service == line


# -- the socket: started / resumed carry the commune -----------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("runtime_stopped")
async def test_started_and_resumed_carry_the_commune_and_the_overflow() -> None:
    def setup():
        load_real_places("59350", "94041", "13004")
        police, _gendarmerie = make_platform()
        make_line(overflow=police, opening_hours={"mon": []})

    await database_sync_to_async(setup)()
    visitor = visitor_communicator()
    assert (await visitor.connect())[0]
    await visitor.send_json_to({"type": "start", "commune": "59350", "role": "victim"})
    started = await receive_until(visitor, "started")
    assert started["commune"] == {
        "code": "59350",
        "name": "Lille",
        "postal_code": "59000",
        "department": "59",
    }
    assert started["service"] == "national"
    assert started["overflow"] is None
    assert started["confirm_force"] is False
    await visitor.disconnect()

    resumed_by = visitor_communicator()
    assert (await resumed_by.connect())[0]
    await resumed_by.send_json_to({"type": "resume", "token": started["token"]})
    resumed = await receive_until(resumed_by, "resumed")
    assert resumed["commune"] == started["commune"]
    await resumed_by.disconnect()

    night = visitor_communicator()
    assert (await night.connect())[0]
    await night.send_json_to({"type": "start", "place": "94200", "role": "victim"})
    started = await receive_until(night, "started")
    assert started["service"] == "national"
    assert started["commune"]["postal_code"] == "94200"
    assert started["overflow"] == {
        "service": "ecoute-94",
        "service_name": "Ligne d'écoute du Val-de-Marne",
        "reason": "closed",
    }
    await night.disconnect()

    arles = visitor_communicator()
    assert (await arles.connect())[0]
    await arles.send_json_to({"type": "start", "commune": "13004", "role": "victim"})
    started = await receive_until(arles, "started")
    assert started["service"] == "national"
    assert started["confirm_force"] is True
    await arles.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("runtime_stopped")
async def test_unknown_commune_code_is_refused_and_starts_nothing() -> None:
    await database_sync_to_async(make_platform)()
    visitor = visitor_communicator()
    assert (await visitor.connect())[0]
    await visitor.send_json_to({"type": "start", "commune": "59350", "role": "victim"})
    error = await receive_until(visitor, "error")
    assert error["code"] == "invalid_place"
    await visitor.send_json_to({"type": "start", "commune": 59350, "role": "victim"})
    error = await receive_until(visitor, "error")
    assert error["code"] == "bad_request"
    await visitor.disconnect()


# -- admin ------------------------------------------------------------------


@pytest.fixture
def admin_session(django_user_model) -> Client:
    admin = django_user_model.objects.create_superuser("root-routing")
    client = Client()
    client.cookies["sessionid"] = do_create_login_session(admin)
    return client


@pytest.mark.django_db
def test_admin_sets_the_overflow_and_refuses_a_service_overflowing_on_itself(
    admin_session: Client,
) -> None:
    admin_client = admin_session
    police, _gendarmerie = make_platform()
    line = make_line()
    url = f"/admin/chat/service/{line.pk}/change/"
    page = admin_client.get(url)
    assert page.status_code == 200
    assert "overflow_service" in page.content.decode()
    form = {
        "name": line.name,
        "slug": line.slug,
        "description": "",
        "active": "on",
        "priority": "10",
        "topic": "violence",
        "departments": '["94"]',
        "communes": "[]",
        "routing_group": "",
        "force": "",
        "accepts_visitors": "on",
        "opening_hours": "{}",
        "hours_text": "",
        "closed_days": "[]",
        "psychologist_hours": "{}",
        "emergency_notice": "",
        "overflow_service": str(line.pk),
        "overflow_waiting": "",
        "consent_texts-TOTAL_FORMS": "0",
        "consent_texts-INITIAL_FORMS": "0",
    }
    assert admin_client.post(url, form).status_code == 200
    line.refresh_from_db()
    assert line.overflow_service is None
    form["overflow_service"] = str(police.pk)
    form["overflow_waiting"] = "5"
    assert admin_client.post(url, form).status_code == 302
    line.refresh_from_db()
    assert (line.overflow_service, line.overflow_waiting) == (police, 5)


# -- pages ------------------------------------------------------------------


@pytest.mark.django_db
def test_landing_page_offers_every_topic_in_both_languages(client: Client) -> None:
    page = client.get("/").content.decode()
    for value in ("violence", "child", "discrimination", "attraction"):
        assert f'name="topic" value="{value}"' in page
    assert 'href="tel:119"' in page
    english = client.get("/?lang=en").content.decode()
    assert "What would you like to talk about?" in english
    assert "I am worried about my attraction to children" in english
    assert "A child is in danger: call 119." in english


@pytest.mark.django_db
def test_each_visitor_service_has_its_own_page(client: Client) -> None:
    make_topic_lines()
    make_service("enfance", topic="child", accepts_visitors=False)
    page = client.get("/s/discriminations/")
    assert page.status_code == 200
    text = page.content.decode()
    assert 'data-service="discriminations"' in text
    assert 'data-topic="discrimination"' in text
    assert 'name="topic"' not in text
    assert "no-store" in page["Cache-Control"]
    assert not page.cookies
    english = client.get("/s/orientation-prevention/?lang=en").content.decode()
    assert "You are writing to:" in english
    assert client.get("/s/enfance/").status_code == 404
    assert client.get("/s/nothing-here/").status_code == 404

"""Issue 10 in a real browser: the right commune, the right service.

Its own database (``tests.browser.seed_routing``: real reference rows,
the demo's lines, one operator per queue) and its own Daphne, so the
shared visitor-page fixtures are untouched. The Val-de-Marne line has no
opening slot at all: it is always "at night" for these tests.
"""

import re
from collections.abc import Iterator
from typing import Any
from urllib.error import HTTPError
from urllib.request import urlopen

import pytest

from tests.browser.conftest import (
    Server,
    check_accessibility,
    prepare_browser_env,
    screenshot,
    serve,
)
from tests.browser.operator import Operator

pytestmark = pytest.mark.browser

expect = pytest.importorskip(
    "playwright.sync_api", reason="BROWSER SKIPPED: playwright is not installed"
).expect
expect.set_options(timeout=10_000)

PLACE = "Votre ville ou votre code postal"
POLICE = "Plateforme nationale VSS — police nationale"


@pytest.fixture(scope="module")
def browser_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """This module's database: the shared setup with the routing seed."""
    return prepare_browser_env(
        tmp_path_factory.mktemp("browser-routing"), "tests.browser.seed_routing"
    )


@pytest.fixture(scope="module")
def server(browser_env: dict[str, Any]) -> Iterator[Server]:
    yield from serve(browser_env)


def pick_commune(page: Any, typed: str, option: str) -> None:
    """Type ``typed`` and pick the suggestion whose name is ``option``."""
    place = page.get_by_role("combobox", name=PLACE)
    place.fill(typed)
    page.get_by_role("option", name=re.compile(f"^{re.escape(option)} ")).first.click()


def start(page: Any) -> None:
    page.get_by_role("button", name="Commencer la conversation").click()
    expect(
        page.get_by_role("heading", name="Vous êtes en file d'attente")
    ).to_be_visible()


def queued(server: Server, cookie: str, place: str) -> dict[str, Any]:
    """Return the newest waiting item for ``place`` in an operator's queue."""
    operator = Operator(server.url, cookie)
    try:
        items = [i for i in operator.hello.get("queue", []) if i["place"] == place]
    finally:
        operator.close()
    assert items, f"nothing waiting for {place!r}"
    return items[-1]


def leave(page: Any) -> None:
    page.get_by_role("button", name="Terminer", exact=True).click()
    page.get_by_role("button", name="Oui, terminer").click()
    expect(
        page.get_by_role("heading", name="La conversation est terminée")
    ).to_be_visible()


def test_lille_picked_from_the_list_reaches_the_police_queue(
    visitor, server, browser_env
):
    page, _watch = visitor
    pick_commune(page, "Lille", "Lille")
    expect(page.get_by_role("combobox", name=PLACE)).to_have_value("Lille (59000)")
    expect(page.locator("#place-chosen")).to_contain_text(
        "Commune retenue : Lille (59000)"
    )
    check_accessibility(page, "routing commune chosen")
    screenshot(page, "routing-01-lille-chosen")
    start(page)
    expect(page.locator("#place-understood")).to_contain_text(
        "Votre commune : Lille (59000)"
    )
    expect(page.locator("#service-name")).to_have_text(POLICE)
    expect(page.locator("#overflow-note")).to_be_hidden()
    check_accessibility(page, "routing waiting lille")
    screenshot(page, "routing-02-lille-waiting")
    item = queued(server, browser_env["cookies"]["police"], "Lille")
    assert item["service"] == "national"
    assert item["competence"]["force"] == "PN"
    leave(page)


def test_changing_the_commune_before_anyone_answers(visitor):
    page, _watch = visitor
    # Saint-André-lez-Lille's postal code is 59350, Lille's INSEE code.
    pick_commune(page, "Saint-André", "Saint-André-lez-Lille")
    start(page)
    expect(page.locator("#place-understood")).to_contain_text(
        "Saint-André-lez-Lille (59350)"
    )
    page.get_by_role("button", name="Ce n'est pas ma commune").click()
    expect(
        page.get_by_role("heading", name="Parler à quelqu'un, anonymement")
    ).to_be_visible()
    place = page.get_by_role("combobox", name=PLACE)
    expect(place).to_be_focused()
    expect(place).to_have_value("")
    pick_commune(page, "Lille", "Lille")
    expect(page.locator("#place-chosen")).to_be_visible()
    # Editing the field forgets the commune picked: free text again.
    place.press("Backspace")
    expect(page.locator("#place-chosen")).to_be_hidden()


def test_clermont_ferrand_reaches_the_police(visitor, server, browser_env):
    page, _watch = visitor
    pick_commune(page, "Clermont", "Clermont-Ferrand")
    expect(page.locator("#place-chosen")).to_contain_text("Clermont-Ferrand (63000)")
    start(page)
    expect(page.locator("#service-name")).to_have_text(POLICE)
    item = queued(server, browser_env["cookies"]["police"], "Clermont-Ferrand")
    assert item["competence"]["force"] == "PN"
    leave(page)


def test_arles_leaves_the_force_to_the_operator(visitor, server, browser_env):
    page, _watch = visitor
    pick_commune(page, "Arles", "Arles")
    start(page)
    note = page.locator("#force-note")
    expect(note).to_be_visible()
    expect(note).to_contain_text("en partie de la police, en partie de la gendarmerie")
    check_accessibility(page, "routing waiting arles")
    screenshot(page, "routing-03-arles-waiting")
    item = queued(server, browser_env["cookies"]["police"], "Arles")
    assert item["service"] == "national"
    assert item["competence"]["force"] == "PN+GN"
    assert item["competence"]["confirm_force"] is True
    leave(page)


def test_val_de_marne_at_night_is_answered_by_the_national_chat(
    visitor, server, browser_env
):
    page, _watch = visitor
    page.get_by_role("combobox", name=PLACE).fill("94200")
    page.get_by_role("combobox", name=PLACE).press("Tab")
    start(page)
    expect(page.locator("#overflow-note")).to_have_text(
        "Le service « Ligne d'écoute violences du Val-de-Marne » est fermé en ce "
        f"moment : « {POLICE} » vous répond."
    )
    expect(page.locator("#place-understood")).to_contain_text("Ivry-sur-Seine (94200)")
    expect(page.locator("#service-name")).to_have_text(POLICE)
    check_accessibility(page, "routing overflow")
    screenshot(page, "routing-04-94-at-night")
    item = queued(server, browser_env["cookies"]["police"], "94200 Ivry-sur-Seine")
    assert item["service"] == "national"
    leave(page)


def test_ambiguous_name_choices_read_whole(visitor):
    page, _watch = visitor
    page.get_by_role("combobox", name=PLACE).fill("Saint-Denis")
    page.get_by_role("combobox", name=PLACE).press("Tab")
    page.get_by_role("button", name="Commencer la conversation").click()
    choices = page.locator("#place-choices")
    expect(choices.get_by_role("button")).to_have_count(2)
    expect(choices.get_by_role("button").first).to_have_text("Saint-Denis (93200, 93)")
    expect(choices.get_by_role("button").last).to_have_text("Saint-Denis (97400, 974)")
    check_accessibility(page, "routing ambiguous name")
    screenshot(page, "routing-05-ambiguous-name")
    choices.get_by_role("button", name="Saint-Denis (93200, 93)").click()
    expect(page.locator("#place-understood")).to_contain_text("Saint-Denis (93200)")
    leave(page)


def test_orientation_line_from_the_landing_page(visitor, server, browser_env):
    page, _watch = visitor
    page.get_by_label("Je suis inquiet·e de mon attirance pour les enfants").check()
    # Neither victim nor witness: the answers follow the topic.
    expect(page.get_by_label("Victime", exact=True)).to_be_hidden()
    concerned = page.get_by_label("La personne concernée")
    expect(concerned).to_be_visible()
    concerned.check()
    pick_commune(page, "Lille", "Lille")
    check_accessibility(page, "routing topic attraction")
    screenshot(page, "routing-06-topic-attraction")
    start(page)
    expect(page.locator("#service-name")).to_have_text(
        "Ligne d'orientation — attirance sexuelle envers les enfants"
    )
    item = queued(server, browser_env["cookies"]["orientation"], "Lille")
    assert (item["service"], item["role"]) == ("orientation-prevention", "concerned")
    leave(page)
    # Back on the landing page the answers are whole again.
    page.get_by_role("button", name="Nouvelle conversation").click()
    page.get_by_label("Des violences sexuelles, sexistes ou conjugales").check()
    expect(page.get_by_label("Victime", exact=True)).to_be_checked()


def test_discrimination_line_from_the_landing_page(visitor, server, browser_env):
    page, _watch = visitor
    page.get_by_label("Une discrimination ou du cyberharcèlement").check()
    pick_commune(page, "Clermont", "Clermont-Ferrand")
    start(page)
    expect(page.locator("#service-name")).to_have_text(
        "Discriminations et cyberharcèlement"
    )
    item = queued(server, browser_env["cookies"]["discriminations"], "Clermont-Ferrand")
    assert item["service"] == "discriminations"
    leave(page)


def test_child_in_danger_shows_119_first(visitor):
    page, _watch = visitor
    alert = page.locator("#child-alert")
    expect(alert).to_be_hidden()
    page.get_by_label("Un enfant est en danger").check()
    expect(alert).to_be_visible()
    call = alert.get_by_role("link", name="Appeler le 119")
    expect(call).to_have_attribute("href", "tel:119")
    check_accessibility(page, "routing topic child")
    screenshot(page, "routing-07-child-in-danger")
    # Writing stays possible: no child-protection line takes visitors
    # here, so the platform answers.
    pick_commune(page, "Lille", "Lille")
    start(page)
    expect(page.locator("#service-name")).to_have_text(POLICE)
    leave(page)


def test_each_service_has_its_own_address(context_factory, server):
    page = context_factory().new_page()
    page.goto(server.url + "/s/discriminations/")
    intro = page.locator(".service-intro")
    expect(intro).to_contain_text(
        "Vous écrivez à : Discriminations et cyberharcèlement"
    )
    expect(page.get_by_label("Un enfant est en danger")).to_have_count(0)
    check_accessibility(page, "routing service page")
    screenshot(page, "routing-08-service-page")
    page.get_by_role("combobox", name=PLACE).fill("94200")
    page.get_by_role("combobox", name=PLACE).press("Tab")
    start(page)
    expect(page.locator("#service-name")).to_have_text(
        "Discriminations et cyberharcèlement"
    )
    leave(page)

    # A partner's link to the Val-de-Marne line, at night: the national
    # chat answers, and says so.
    page.goto(server.url + "/s/ecoute-94/")
    page.get_by_role("combobox", name=PLACE).fill("94200")
    page.get_by_role("combobox", name=PLACE).press("Tab")
    start(page)
    expect(page.locator("#overflow-note")).to_contain_text("est fermé en ce moment")
    leave(page)

    with pytest.raises(HTTPError) as missing:
        urlopen(server.url + "/s/no-such-line/", timeout=5)  # noqa: S310
    assert missing.value.code == 404


def test_keyboard_only_topic_commune_and_start(visitor):
    page, _watch = visitor
    page.get_by_label("Des violences sexuelles, sexistes ou conjugales").focus()
    page.keyboard.press("ArrowDown")  # radio group: next topic
    expect(page.get_by_label("Un enfant est en danger")).to_be_checked()
    expect(page.locator("#child-alert")).to_be_visible()
    place = page.get_by_role("combobox", name=PLACE)
    place.focus()
    page.keyboard.type("Arles")
    expect(page.get_by_role("option").first).to_be_visible()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    expect(place).to_have_value("Arles (13200)")
    expect(page.locator("#place-chosen")).to_be_visible()
    page.keyboard.press("Enter")  # submits the form
    expect(
        page.get_by_role("heading", name="Vous êtes en file d'attente")
    ).to_be_visible()
    leave(page)


def test_visitor_asks_for_a_callback_and_the_association_sees_it(
    visitor, server, browser_env
):
    page, _watch = visitor
    page.goto(server.url + "/s/rappel/")
    page.get_by_role("combobox", name=PLACE).fill("94200")
    page.get_by_role("combobox", name=PLACE).press("Tab")
    start(page)
    offer = page.locator("#callback-offer")
    expect(offer).to_be_visible()
    offer.get_by_role("button", name="Demander à être rappelé·e").click()
    dialog = page.get_by_role("dialog", name="Être rappelé·e")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label(re.compile("Association de rappel"))).to_be_checked()
    phone = dialog.get_by_label("Votre numéro de téléphone")
    expect(phone).to_be_focused()
    phone.fill("12 34")
    dialog.get_by_role("button", name="Demander le rappel").click()
    expect(dialog.locator("#callback-error")).to_contain_text("ne semble pas valide")
    expect(phone).to_have_attribute("aria-invalid", "true")
    check_accessibility(page, "routing callback dialog")
    screenshot(page, "routing-09-callback-dialog")
    phone.fill("06 12 34 56 78")
    dialog.get_by_label(re.compile("Quand peut-on vous appeler")).fill(
        "en semaine après 18 h"
    )
    dialog.get_by_role("button", name="Demander le rappel").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#log")).to_contain_text("Association de rappel (test)")
    screenshot(page, "routing-10-callback-sent")

    # The association's own page lists it, sealed: no number in clear.
    from urllib.request import Request

    request = Request(  # noqa: S310 - http://127.0.0.1 only
        server.url + "/directory/callbacks/",
        headers={"Cookie": browser_env["cookies"]["partner"]},
    )
    with urlopen(request, timeout=5) as response:  # noqa: S310
        listing = response.read().decode()
    assert "avec rappel (test)" in listing
    assert "06 12 34 56 78" not in listing and "0612345678" not in listing
    leave(page)


def test_after_a_requeue_the_newest_message_stays_in_view(visitor, server, browser_env):
    page, _watch = visitor
    pick_commune(page, "Saint-André", "Saint-André-lez-Lille")
    start(page)
    operator = Operator(server.url, browser_env["cookies"]["police"])
    try:
        items = [
            item
            for item in operator.hello.get("queue", [])
            if item["place"] == "59350 Saint-André-lez-Lille"
            or item["place"] == "Saint-André-lez-Lille"
        ]
        conversation = items[-1]["conversation"]
        operator.send({"type": "claim", "conversation": conversation})
        operator.receive("assigned")
        for number in range(1, 16):
            operator.say(conversation, f"Message numéro {number} de l'opératrice.")
        expect(page.locator("#log .msg").last).to_contain_text("numéro 15")
        operator.send({"type": "release", "conversation": conversation})
        expect(
            page.get_by_role("heading", name="Vous êtes en file d'attente")
        ).to_be_visible()
        newest = page.locator("#log li").last
        expect(newest).to_contain_text("de nouveau en file d'attente")
        expect(newest).to_be_in_viewport()
        expect(page.locator("#log .msg").last).to_be_in_viewport()
        screenshot(page, "routing-11-requeued")
    finally:
        operator.close()
    leave(page)

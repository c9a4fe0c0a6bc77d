"""The visitor page in a real browser, against a real server process."""

import json
import re
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.browser.conftest import (
    BASE_DIR,
    DESKTOP,
    EXIT_URL,
    PHONE,
    check_accessibility,
    screenshot,
)
from tests.browser.operator import Operator

pytestmark = pytest.mark.browser

expect = pytest.importorskip(
    "playwright.sync_api", reason="BROWSER SKIPPED: playwright is not installed"
).expect
expect.set_options(timeout=10_000)

PLACE = "Votre ville ou votre code postal"
STORAGE_KEY = "ecoute.visit"
ASSET_BUDGET_BYTES = 100 * 1024


def start_conversation(page: Any, place: str = "33000", role: str = "Victime") -> None:
    page.get_by_label(PLACE).fill(place)
    page.get_by_label(role, exact=True).check()
    page.get_by_role("button", name="Commencer la conversation").click()
    expect(
        page.get_by_role("heading", name="Vous êtes en file d'attente")
    ).to_be_visible()


def send(page: Any, text: str) -> None:
    page.get_by_label("Votre message").fill(text)
    page.get_by_role("button", name="Envoyer", exact=True).click()


def shown_texts(page: Any) -> list[str]:
    return page.locator("#log .msg .msg-text").all_inner_texts()


def shown_seqs(page: Any) -> list[int]:
    return [
        int(seq)
        for seq in page.eval_on_selector_all(
            "#log .msg[data-seq]", "nodes => nodes.map(n => n.dataset.seq)"
        )
    ]


def stored(page: Any) -> dict[str, Any]:
    return json.loads(
        page.evaluate(f"sessionStorage.getItem('{STORAGE_KEY}') || '{{}}'")
    )


def claim_new(operator: Operator, known: set[str]) -> dict[str, Any]:
    """Claim the conversation that joined the queue after ``known``."""
    while True:
        queue = operator.receive("queue")
        new = [item for item in queue["items"] if item["conversation"] not in known]
        if new:
            break
    operator.send({"type": "claim", "conversation": new[0]["conversation"]})
    return operator.receive("assigned")["conversation"]


def queued_ids(operator: Operator) -> set[str]:
    return {item["conversation"] for item in operator.hello.get("queue", [])}


def only_local_hosts(watch: Any, server: Any) -> None:
    hosts = {urlsplit(request.url).netloc for request in watch.requests}
    hosts.discard(urlsplit(EXIT_URL).netloc)
    assert hosts <= {urlsplit(server.url).netloc}, hosts


def test_whole_conversation_with_an_operator(visitor, server, browser_env):
    page, watch = visitor
    expect(
        page.get_by_role("heading", name="Parler à quelqu'un, anonymement")
    ).to_be_visible()
    for number in ("17", "112", "SMS 114", "3919"):
        expect(
            page.locator(".emergency").get_by_role("link", name=re.compile(number))
        ).to_be_visible()
    check_accessibility(page, "landing")
    screenshot(page, "01-landing")

    # Autocomplete from the project's own commune data, keyboard-driven.
    place = page.get_by_role("combobox", name=PLACE)
    place.fill("3316")
    expect(page.get_by_role("option")).to_have_count(2)
    expect(place).to_have_attribute("aria-expanded", "true")
    place.press("ArrowDown")
    expect(place).to_have_attribute("aria-activedescendant", "place-option-0")
    check_accessibility(page, "autocomplete")
    screenshot(page, "02-autocomplete")
    page.get_by_role("option", name=re.compile("Saint-Médard")).click()
    expect(place).to_have_value("Saint-Médard-en-Jalles (33160)")
    expect(place).to_have_attribute("aria-expanded", "false")
    page.get_by_label("Témoin", exact=True).check()

    operator = Operator(server.url, browser_env["cookie"])
    known = queued_ids(operator)
    page.get_by_role("button", name="Commencer la conversation").click()
    expect(
        page.get_by_role("heading", name="Vous êtes en file d'attente")
    ).to_be_visible()
    # Other tests may have left people waiting: the position is theirs + 1.
    expect(page.locator("#queue-position")).to_have_text(re.compile(r"^\d+$"))
    position = int(page.locator("#queue-position").inner_text())
    assert position == 1 + len(known)
    note = page.locator("#queue-note")
    if position == 1:
        expect(note).to_have_text("Vous êtes la prochaine personne.")
    else:
        expect(note).to_be_hidden()
    expect(page.locator("#queue-wait")).to_have_text(
        re.compile(r"^(environ \d+ minutes?|moins d'une minute)$")
    )
    expect(page.locator("#service-name")).to_have_text(
        "Plateforme nationale violences sexuelles et sexistes"
    )
    assert len(stored(page)["token"]) >= 40
    check_accessibility(page, "waiting")
    screenshot(page, "03-waiting")

    # Writing while waiting: the operator finds it in the history.
    send(page, "Bonjour, mon voisin crie toutes les nuits.")
    expect(page.locator(".msg.mine .msg-state")).to_have_text("Envoyé")
    conversation = claim_new(operator, known)
    assert conversation["role"] == "witness"
    assert conversation["place"] == "33160 Saint-Médard-en-Jalles"
    assert [m["text"] for m in conversation["history"]] == [
        "Bonjour, mon voisin crie toutes les nuits."
    ]
    expect(page.locator("#log .notice")).to_have_text("Opératrice 12 vous répond.")
    expect(page.locator("#waiting")).to_be_hidden()

    operator.send(
        {"type": "typing", "conversation": conversation["id"], "active": True}
    )
    expect(page.locator("#typing")).to_have_text("Opératrice 12 écrit…")
    operator.say(
        conversation["id"],
        "Bonjour. Vous avez bien fait d'écrire.\nVous êtes en sécurité ?",
    )
    bubble = page.locator(".msg.theirs").last
    expect(bubble.locator(".msg-author")).to_have_text("Opératrice 12")
    expect(bubble.locator(".msg-text")).to_have_text(
        "Bonjour. Vous avez bien fait d'écrire.\nVous êtes en sécurité ?"
    )
    expect(page.locator("#typing")).to_be_hidden()
    expect(page.locator("#announcer")).to_contain_text("Opératrice 12 : Bonjour.")

    # Enter sends, with a keyboard.
    page.get_by_label("Votre message").fill("Oui, je suis chez moi.")
    page.get_by_label("Votre message").press("Enter")
    received = operator.receive("message", conversation=conversation["id"])
    assert received["text"] == "Oui, je suis chez moi."
    assert received["from"] == "visitor"
    expect(page.locator(".msg.mine")).to_have_count(2)
    check_accessibility(page, "chat")
    screenshot(page, "04-chat")

    # Leaving asks first; "no" keeps the conversation.
    page.get_by_role("button", name="Terminer", exact=True).click()
    dialog = page.get_by_role("dialog", name="Terminer la conversation ?")
    expect(dialog).to_be_visible()
    check_accessibility(page, "leave dialog")
    screenshot(page, "05-leave-dialog")
    dialog.get_by_role("button", name="Non, continuer").click()
    expect(dialog).to_be_hidden()

    operator.send(
        {
            "type": "close",
            "conversation": conversation["id"],
            "outcome": "orientation",
            "categories": [],
        }
    )
    expect(
        page.get_by_role("heading", name="La conversation est terminée")
    ).to_be_visible()
    expect(page.locator("#end-reason")).to_have_text(
        "La personne qui vous répondait a terminé la conversation."
    )
    assert "token" not in stored(page)
    page.get_by_text("Relire la conversation").click()
    expect(page.locator("#end-transcript .msg")).to_have_count(3)
    check_accessibility(page, "end")
    screenshot(page, "06-end")
    operator.close()
    only_local_hosts(watch, server)

    # The page's own JavaScript and CSS, as the browser loaded them.
    own = [
        request
        for request in watch.requests
        if request.resource_type in ("script", "stylesheet")
        and urlsplit(request.url).netloc == urlsplit(server.url).netloc
    ]
    sizes = {request.url: len(request.response().body()) for request in own}
    assert any(url.endswith("visitor.js") for url in sizes)
    assert any(url.endswith("visitor.css") for url in sizes)
    assert sum(sizes.values()) < ASSET_BUDGET_BYTES, sizes


def test_server_restart_mid_conversation_loses_and_doubles_nothing(
    visitor, server, browser_env
):
    page, watch = visitor
    operator = Operator(server.url, browser_env["cookie"])
    known = queued_ids(operator)
    start_conversation(page)
    conversation = claim_new(operator, known)
    operator.say(conversation["id"], "Je vous écoute.")
    send(page, "Avant la coupure")
    expect(page.locator(".msg.mine .msg-state")).to_have_text("Envoyé")

    # The phone loses the network, the server stays up: what the operator
    # writes meanwhile arrives once the page is back online.
    page.context.set_offline(True)
    expect(page.locator("#net-status")).to_have_text(re.compile("Connexion perdue"))
    operator.say(conversation["id"], "Pendant votre coupure réseau.")
    page.context.set_offline(False)
    expect(page.locator(".msg.theirs .msg-text").last).to_have_text(
        "Pendant votre coupure réseau."
    )

    # The server process dies.
    server.kill()
    operator.close()
    expect(page.locator("#net-status")).to_have_text(re.compile("Connexion perdue"))
    send(page, "Pendant la coupure, un")
    send(page, "Pendant la coupure, deux")
    expect(page.locator(".msg.pending")).to_have_count(2)
    expect(page.locator(".msg.pending .msg-state").first).to_have_text(
        "En attente de connexion — partira tout seul"
    )
    assert [entry["text"] for entry in stored(page)["outbox"]] == [
        "Pendant la coupure, un",
        "Pendant la coupure, deux",
    ]
    check_accessibility(page, "offline")
    screenshot(page, "07-offline")

    server.start()
    expect(page.locator("#net-status")).to_have_text(
        "Connexion rétablie.", timeout=20_000
    )
    expect(page.locator(".msg.pending")).to_have_count(0)
    expected = [
        "Je vous écoute.",
        "Avant la coupure",
        "Pendant votre coupure réseau.",
        "Pendant la coupure, un",
        "Pendant la coupure, deux",
    ]
    assert shown_texts(page) == expected
    assert shown_seqs(page) == [1, 2, 3, 4, 5]
    assert stored(page)["outbox"] == []

    operator.connect()
    mine = [c for c in operator.hello["conversations"] if c["id"] == conversation["id"]]
    assert [m["text"] for m in mine[0]["history"]] == expected
    operator.say(conversation["id"], "Je suis toujours là.")
    expect(page.locator(".msg.theirs .msg-text").last).to_have_text(
        "Je suis toujours là."
    )

    # A reload resumes the same conversation from sessionStorage.
    page.get_by_label("Votre message").fill("brouillon gardé")
    page.wait_for_timeout(500)
    page.reload()
    expect(page.locator(".msg")).to_have_count(6)
    assert shown_texts(page) == [*expected, "Je suis toujours là."]
    assert shown_seqs(page) == [1, 2, 3, 4, 5, 6]
    expect(page.get_by_label("Votre message")).to_have_value("brouillon gardé")

    # Leaving while offline: the end screen at once, the server told as
    # soon as the page is back online.
    page.context.set_offline(True)
    expect(page.locator("#net-status")).to_have_text(re.compile("Connexion perdue"))
    page.get_by_role("button", name="Terminer", exact=True).click()
    page.get_by_role("button", name="Oui, terminer").click()
    expect(
        page.get_by_role("heading", name="La conversation est terminée")
    ).to_be_visible()
    expect(page.locator("#end-reason")).to_have_text(
        "Vous avez terminé la conversation."
    )
    assert "token" not in stored(page)
    page.context.set_offline(False)
    assert operator.receive("closed", conversation=conversation["id"])
    operator.close()
    # Chromium logs each refused reconnection attempt; nothing else may fail.
    watch.errors[:] = [e for e in watch.errors if "WebSocket connection" not in e]


def test_quick_exit_button_leaves_no_trace_in_the_tab(visitor, server):
    page, _watch = visitor
    start_conversation(page)
    assert "token" in stored(page)
    entries = page.evaluate("history.length")
    with page.expect_navigation(url=EXIT_URL):
        page.get_by_role("link", name=re.compile("Quitter vite")).click()
    assert page.url == EXIT_URL
    assert page.evaluate("history.length") == entries
    # Back goes to what was open before the visitor page, never to it.
    page.go_back()
    assert urlsplit(page.url).netloc != urlsplit(server.url).netloc, page.url
    # Back on the site in the same tab: nothing remembered, no conversation.
    page.goto(server.url + "/")
    assert page.evaluate("sessionStorage.length") == 0
    expect(
        page.get_by_role("heading", name="Parler à quelqu'un, anonymement")
    ).to_be_visible()


def test_escape_and_three_shift_presses_exit(context_factory, server):
    page = context_factory(PHONE).new_page()
    page.goto(server.url + "/")
    page.get_by_label(re.compile("titre neutre")).check()
    expect(page).to_have_title("Nouvel onglet")
    assert page.evaluate("sessionStorage.length") == 1
    with page.expect_navigation(url=EXIT_URL):
        page.keyboard.press("Escape")

    page = context_factory(PHONE).new_page()
    page.goto(server.url + "/")
    page.get_by_label(PLACE).click()
    for _ in range(3):  # capitals: Shift with a letter is typing
        page.keyboard.press("Shift+S")
    page.wait_for_timeout(100)
    assert urlsplit(page.url).netloc == urlsplit(server.url).netloc
    entries = page.evaluate("history.length")
    with page.expect_navigation(url=EXIT_URL):
        for _ in range(3):
            page.keyboard.press("Shift")
    assert page.evaluate("history.length") == entries


def test_place_errors_ambiguous_place_and_closed_service(visitor):
    page, _watch = visitor
    page.get_by_label(PLACE).fill("Zzzzville")
    page.get_by_role("button", name="Commencer la conversation").click()
    error = page.locator("#place-error")
    expect(error).to_have_text(re.compile("Nous ne trouvons pas cette ville"))
    expect(page.get_by_label(PLACE)).to_have_attribute("aria-invalid", "true")
    check_accessibility(page, "invalid place")

    page.get_by_label(PLACE).fill("75011")
    page.get_by_role("button", name="Commencer la conversation").click()
    expect(
        page.get_by_role("heading", name="Le service est fermé pour le moment")
    ).to_be_visible()
    expect(page.locator("#closed-hours")).to_have_text(
        "du lundi au vendredi, de 9 h à 18 h"
    )
    for number in ("17", "112", "SMS 114", "3919"):
        expect(
            page.locator("#screen-closed").get_by_role("link", name=number, exact=True)
        ).to_be_visible()
    check_accessibility(page, "service closed")
    screenshot(page, "08-service-closed")
    page.get_by_role("button", name="Revenir à l'accueil").click()

    page.get_by_label(PLACE).fill("33160")
    page.get_by_role("button", name="Commencer la conversation").click()
    choices = page.locator("#place-choices")
    expect(choices.get_by_role("button")).to_have_count(2)
    check_accessibility(page, "ambiguous place")
    screenshot(page, "09-ambiguous-place")
    choices.get_by_role("button", name=re.compile("Saint-Aubin-de-Médoc")).click()
    expect(
        page.get_by_role("heading", name="Vous êtes en file d'attente")
    ).to_be_visible()
    page.get_by_role("button", name="Terminer", exact=True).click()
    page.get_by_role("button", name="Oui, terminer").click()
    expect(
        page.get_by_role("heading", name="La conversation est terminée")
    ).to_be_visible()


def test_consent_dialog_cards_and_psychologist(context_factory, server):
    """Frames the server cannot send yet are injected into the real socket."""
    page = context_factory(PHONE).new_page()
    sockets: list[Any] = []
    answers: list[dict[str, Any]] = []

    def proxy(route: Any) -> None:
        upstream = route.connect_to_server()

        def from_page(message: str | bytes) -> None:
            frame = json.loads(message)
            if frame["type"] in ("consent", "participant_answer"):
                answers.append(frame)
            else:
                upstream.send(message)

        route.on_message(from_page)
        sockets.append(route)

    page.route_web_socket(re.compile(r"/ws/chat/$"), proxy)
    page.goto(server.url + "/")
    start_conversation(page)
    inject = sockets[-1].send

    def frame(**fields: Any) -> None:
        inject(json.dumps(fields))

    frame(type="joined", role="operator", name="Opératrice 12")
    frame(
        type="message",
        seq=1,
        **{"from": "operator"},
        name="Opératrice 12",
        at="2026-03-08T10:00:00.000Z",
        text="Voici une association près de chez vous.",
        card={
            "name": "CIDFF de la Gironde",
            "kind": "Association",
            "phone": "05 56 44 30 30",
            "address": "13 rue Saint-Rémi, 33000 Bordeaux",
            "url": "https://example.org/cidff",
            "hours": "du lundi au vendredi, 9 h – 17 h",
        },
    )
    frame(
        type="message",
        seq=2,
        **{"from": "operator"},
        name="Opératrice 12",
        at="2026-03-08T10:00:05.000Z",
        text="Un autre lien.",
        card={"name": "Lien piégé", "url": "javascript:alert(1)"},
    )
    frame(type="joined", role="psychologist", name="Psychologue 3")
    frame(
        type="message",
        seq=3,
        **{"from": "psychologist"},
        name="Psychologue 3",
        at="2026-03-08T10:01:00.000Z",
        text="Bonjour, je suis psychologue. Je reste avec vous.",
    )
    frame(
        type="left",
        role="operator",
        name="Opératrice 12",
        reconnecting=True,
        grace_s=60,
    )
    expect(
        page.locator(".res-card").first.get_by_role("link", name="05 56 44 30 30")
    ).to_have_attribute("href", "tel:0556443030")
    expect(page.locator(".res-card").nth(1).get_by_role("link")).to_have_count(0)
    expect(page.locator(".msg.psy .msg-author")).to_have_text("Psychologue 3")
    expect(page.locator("#log .notice.joined").last).to_have_text(
        "Psychologue 3 a rejoint la conversation."
    )
    expect(page.locator("#log .notice.warning")).to_have_text(
        "Opératrice 12 a perdu la connexion et revient. Restez sur la page."
    )
    check_accessibility(page, "cards and psychologist")
    page.locator(".res-card").first.scroll_into_view_if_needed()
    screenshot(page, "10-cards-psychologist")

    # The visitor is asked before a psychologist joins.
    question = (
        "Un·e psychologue de l'équipe peut rejoindre la conversation pour vous "
        "écouter. Acceptez-vous ? Vous pouvez refuser, la conversation continue "
        "de la même façon."
    )
    frame(
        type="participant_request", request="inv-1", role="psychologist", text=question
    )
    asked = page.get_by_role("dialog", name="Quelqu'un peut vous rejoindre")
    expect(asked).to_be_visible()
    expect(page.locator("#participant-text")).to_have_text(question)
    check_accessibility(page, "participant question")
    screenshot(page, "10b-participant-question")
    asked.get_by_role("button", name="Oui, d'accord").click()
    expect(asked).to_be_hidden()
    assert answers.pop() == {
        "type": "participant_answer",
        "request": "inv-1",
        "accept": True,
    }
    frame(type="participant_answered", request="inv-1", accept=True)
    expect(page.locator("#log .notice.consent").last).to_have_text(
        "Vous avez accepté : la personne proposée va rejoindre la conversation."
    )
    frame(
        type="participant_request", request="inv-2", role="psychologist", text=question
    )
    expect(asked).to_be_visible()
    frame(type="participant_request_cancelled", request="inv-2")
    expect(asked).to_be_hidden()
    expect(page.locator("#log .notice").last).to_have_text(
        "La proposition a été retirée. La conversation continue comme avant."
    )

    consent_text = (
        "J'accepte que mes coordonnées soient transmises à la brigade de "
        "gendarmerie de Saint-Médard-en-Jalles.\nElles ne serviront qu'à me recontacter."
    )
    frame(type="consent_request", request="req-1", text=consent_text)
    dialog = page.get_by_role("dialog", name="Lever votre anonymat ?")
    expect(dialog).to_be_visible()
    assert page.locator("#consent-text").inner_text() == consent_text
    check_accessibility(page, "consent dialog")
    screenshot(page, "11-consent")
    # The page behind a modal is inert: the dialog has its own quick exit.
    expect(dialog.get_by_role("link", name="Quitter vite")).to_be_visible()
    dialog.get_by_role("button", name="J'accepte").click()
    dialog.get_by_role("button", name="Envoyer mes coordonnées").click()
    expect(page.locator("#consent-error")).to_be_visible()
    dialog.get_by_label("Téléphone").fill("12")
    dialog.get_by_role("button", name="Envoyer mes coordonnées").click()
    expect(page.locator("#consent-error")).to_contain_text(
        "Numéro de téléphone invalide"
    )
    assert answers == []
    dialog.get_by_label("Téléphone").fill("06 12 34 56 78")
    dialog.get_by_label("Quand et comment vous joindre sans danger ?").fill(
        "En semaine, avant 17 h"
    )
    check_accessibility(page, "consent form")
    screenshot(page, "12-consent-form")
    dialog.get_by_role("button", name="Envoyer mes coordonnées").click()
    # The dialog waits for the server to record the answer.
    expect(
        dialog.get_by_role("button", name="Envoyer mes coordonnées")
    ).to_be_disabled()
    frame(type="consent_recorded", request="req-1", accept=True, fields=["phone"])
    expect(dialog).to_be_hidden()
    assert answers == [
        {
            "type": "consent",
            "request": "req-1",
            "accept": True,
            "contact": {
                "name": "",
                "phone": "06 12 34 56 78",
                "email": "",
                "address": "",
                "availability": "En semaine, avant 17 h",
            },
        }
    ]
    expect(page.locator("#log .notice.consent").nth(-2)).to_contain_text(
        "Vous avez accepté. Vos coordonnées"
    )
    expect(page.locator("#log .notice.consent").last).to_contain_text(
        "Ce qui va se passer"
    )

    frame(type="consent_request", request="req-2", text=consent_text)
    dialog.get_by_role("button", name="Je refuse").click()
    expect(dialog).to_be_hidden()
    assert answers[-1] == {"type": "consent", "request": "req-2", "accept": False}
    frame(type="consent_recorded", request="req-2", accept=False, fields=[])
    expect(page.locator("#log .notice.consent").last).to_have_text(
        "Vous avez refusé. La conversation continue, anonyme."
    )

    # Quick exit from inside the modal.
    frame(type="consent_request", request="req-3", text=consent_text)
    with page.expect_navigation(url=EXIT_URL):
        dialog.get_by_role("link", name="Quitter vite").click()
    assert len(answers) == 2


def test_english_page_and_language_switch(context_factory, server):
    page = context_factory(DESKTOP).new_page()
    page.goto(server.url + "/?lang=en")
    assert page.evaluate("document.documentElement.lang") == "en"
    expect(
        page.get_by_role("heading", name="Talk to someone, anonymously")
    ).to_be_visible()
    expect(page.get_by_role("link", name=re.compile("Quick exit"))).to_be_visible()
    check_accessibility(page, "landing in English")
    screenshot(page, "13-landing-en")
    entries = page.evaluate("history.length")
    page.get_by_role("link", name="Français").click()
    expect(
        page.get_by_role("heading", name="Parler à quelqu'un, anonymement")
    ).to_be_visible()
    assert page.url.endswith("/?lang=fr")
    assert page.evaluate("history.length") == entries


def test_phone_viewport_fits_and_zoom_reflows(context_factory, server):
    """At 360 px wide, and at 320 px (1280 px at 400 % zoom), no sideways scroll."""
    for width in (360, 320):
        page = context_factory({"width": width, "height": 640}).new_page()
        page.goto(server.url + "/")
        start_conversation(page)
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - window.innerWidth"
        )
        assert overflow <= 0, (width, overflow)
        exit_box = page.get_by_role(
            "link", name=re.compile("Quitter vite")
        ).bounding_box()
        assert exit_box["height"] >= 44 and exit_box["x"] + exit_box["width"] <= width
        page.get_by_role("button", name="Terminer", exact=True).click()
        page.get_by_role("button", name="Oui, terminer").click()
        expect(
            page.get_by_role("heading", name="La conversation est terminée")
        ).to_be_visible()


def test_visitor_assets_stay_small():
    """The page's own JavaScript and CSS, as files, under 100 KB."""
    static = BASE_DIR / "frontend/static"
    files = [*(static / "chat").rglob("*.js"), *(static / "chat").rglob("*.css")]
    files.append(static / "common/css/base.css")
    total = sum(path.stat().st_size for path in files)
    assert total < ASSET_BUDGET_BYTES, total

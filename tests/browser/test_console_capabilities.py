"""What the console now offers, walked in Debian's Chromium (issue 10).

An operator shares a directory card that the visitor's page shows; a
visitor's callback request reaches the partner association's page; quick
exit frees the operator's slot and the operator still records the outcome;
a psychologist outside the rota cannot be invited; a silent supervisor's
first keystroke is a whisper; Arles asks the operator to confirm the force.
Screenshots: ``test-artifacts/screenshots/capabilities-*.png``.
"""

import json
import re
import uuid
from typing import Any

import pytest

from tests.browser.conftest import (
    SCREENSHOTS,
    PageWatch,
    check_accessibility,
    run_manage,
)
from tests.browser.test_console_shift import Visitor, code_for

pytestmark = pytest.mark.browser

expect = pytest.importorskip(
    "playwright.sync_api", reason="BROWSER SKIPPED: playwright is not installed"
).expect
expect.set_options(timeout=10_000)

DESKTOP = {"width": 1366, "height": 860}
PLACE = "Votre ville ou votre code postal"
ACCOUNTS = {
    # username: (password, hex TOTP key, pseudonym, roles, services)
    "cap-op": ("op-cap-password-1", "44" * 20, "Opérateur 7", ["operator"], ["national"]),
    # One operator per test: a TOTP code is accepted once, and two logins
    # within the same 30 s would share one.
    "cap-op2": ("op-cap-password-2", "48" * 20, "Opérateur 8", ["operator"], ["national"]),
    "cap-op3": ("op-cap-password-3", "4c" * 20, "Opérateur 9", ["operator"], ["national"]),
    "cap-op4": ("op-cap-password-4", "4e" * 20, "Opérateur 10", ["operator"], ["force-pn", "force-gn"]),
    "cap-op5": ("op-cap-password-5", "4a" * 20, "Opérateur 11", ["operator"], ["national"]),
    "cap-op6": ("op-cap-password-6", "4b" * 20, "Opérateur 12", ["operator"], ["national"]),
    "cap-psy": ("psy-cap-password-1", "55" * 20, "Psychologue 9", ["psychologist"], ["national"]),
    "cap-sup": ("sup-cap-password-1", "66" * 20, "Superviseur 2", ["supervisor"], ["national"]),
    "cap-partner": ("partner-cap-password-1", "77" * 20, "Association Rappel", ["operator"], []),
}  # fmt: skip
SEED = """
from django.contrib.auth.models import User
from chat.models import Commune, CommuneCompetence, Service
from console.models import StaffProfile
from console.services import do_create_staff, do_create_totp_device
from directory.models import Resource
from directory.services import do_create_partner_key
from django.utils import timezone
from tests.factories import make_commune, make_service

national = Service.objects.get(slug="national")
national.offers_callbacks = True
national.save()
make_service("force-pn", name="Plateforme police", is_default=False,
    routing_group="plateforme", force="PN")
make_service("force-gn", name="Plateforme gendarmerie", is_default=False,
    routing_group="plateforme", force="GN")
make_commune("13004", "Arles", postal_codes=("13200",), department="13")
CommuneCompetence.objects.get_or_create(code_insee="13004", defaults=dict(
    name="Arles", department="13", population=51811, official_force="PN+GN",
    official_unit="Commissariat de police d'Arles | Gendarmerie - Brigade d'Arles",
    estimated_force="PN", imported_force="PN+GN", imported_source="officiel",
    imported_at=timezone.now()))
for username, (password, key, pseudonym, roles, slugs) in {accounts!r}.items():
    user = User.objects.filter(username=username).first()
    if user is None:
        user = do_create_staff(username=username, password=password,
            pseudonym=pseudonym, roles=roles,
            services=list(Service.objects.filter(slug__in=slugs)))
        StaffProfile.objects.filter(user=user).update(max_conversations=1)
    do_create_totp_device(user, key=key)
if not Resource.objects.filter(name="CIDFF de la Gironde (test)").exists():
    cidff = Resource.objects.create(kind="cidff", name="CIDFF de la Gironde (test)",
        department="33", departments=["33"], phone="05 56 44 30 30",
        address="13 rue Saint-Rémi", postal_code="33000", commune_code="33063",
        commune_name="Bordeaux", hours="lun.-ven. 9 h-17 h", source="test")
    cidff.services.set([national])
    partner = Resource.objects.create(kind="association",
        name="Association Rappel (test)", department="33", source="test")
    partner.callback_services.set([national])
    do_create_partner_key(partner, passphrase=b"correct horse battery staple")
    partner.staff.add(User.objects.get(username="cap-partner"))
"""


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_timeout(200)
    page.screenshot(path=str(SCREENSHOTS / f"capabilities-{name}.png"))


def manage_shell(browser_env: dict[str, Any], code: str) -> str:
    """Run ``code`` in the served database; return its last printed line."""
    out = run_manage(browser_env["env"], "manage.py", "shell", "-c", code)
    lines = out.strip().splitlines()
    return lines[-1] if lines else ""


@pytest.fixture(scope="module")
def seeded(browser_env: dict[str, Any], server: Any) -> dict[str, Any]:
    manage_shell(browser_env, SEED.format(accounts=ACCOUNTS))
    return ACCOUNTS


def log_in(context_factory: Any, server: Any, username: str) -> tuple[Any, Any]:
    password, key, *_rest = ACCOUNTS[username]
    page = context_factory(DESKTOP).new_page()
    watch = PageWatch()
    watch.attach(page)
    page.goto(server.url + "/console/login/")
    page.get_by_label("Identifiant").fill(username)
    page.get_by_label("Mot de passe").fill(password)
    page.get_by_label("Code de l'application d'authentification").fill(code_for(key))
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url(server.url + "/console/", timeout=15000)
    page.locator("#status").filter(has_text="Connecté").wait_for()
    return page, watch


def claim(operator: Any, conversation_id: str) -> Any:
    operator.locator(
        f'button.queue-item[data-conversation="{conversation_id}"]'
    ).click()
    panel = operator.locator(f"#panel-{conversation_id}")
    panel.wait_for(state="visible")
    return panel


def close_with_outcome(operator: Any, panel: Any) -> None:
    panel.get_by_role("button", name="Clore").click()
    dialog = operator.locator("#dlg-close")
    dialog.get_by_label("Orientation").check()
    dialog.get_by_role("button", name="Clore").click()


def queued(operator: Any) -> set[str]:
    return set(
        operator.eval_on_selector_all(
            "button.queue-item", "nodes => nodes.map(n => n.dataset.conversation)"
        )
    )


def start_on_page(page: Any, operator: Any, place: str = "33000") -> str:
    """Start from the visitor page; return the id the operator's queue shows."""
    known = queued(operator)
    page.get_by_label(PLACE).fill(place)
    page.get_by_label("Victime", exact=True).check()
    page.get_by_role("button", name="Commencer la conversation").click()
    expect(
        page.get_by_role("heading", name="Vous êtes en file d'attente")
    ).to_be_visible()
    for _ in range(50):
        fresh = queued(operator) - known
        if fresh:
            return fresh.pop()
        operator.wait_for_timeout(200)
    raise AssertionError("the visitor never reached the operator's queue")


def test_directory_card_reaches_the_visitor_and_quick_exit_frees_the_slot(
    context_factory: Any, server: Any, seeded: Any, browser_env: dict[str, Any]
) -> None:
    visitor_page = context_factory().new_page()
    visitor_watch = PageWatch()
    visitor_watch.attach(visitor_page)
    visitor_page.goto(server.url + "/")
    operator, watch = log_in(context_factory, server, "cap-op")
    conversation_id = start_on_page(visitor_page, operator)
    # Noticed without a click: the title and the icon count who waits.
    expect(operator).to_have_title(re.compile(r"^\(1\) "))
    assert operator.locator("#favicon").get_attribute("href").endswith("icon-1.svg")
    panel = claim(operator, conversation_id)
    expect(operator).not_to_have_title(re.compile(r"^\("))
    expect(visitor_page.get_by_text("Opérateur 7").first).to_be_visible()
    expect(operator.locator(f"#tab-{conversation_id} .presence")).to_have_attribute(
        "data-presence", "here"
    )
    expect(panel.locator(".presence-line")).to_have_text("La personne est là")
    # The competent unit is on the conversation (Bordeaux has no row here:
    # no competence, so nothing shown; Arles below shows one).

    # 1. The directory: for the conversation's commune, then by department.
    panel.get_by_role("button", name="Annuaire").click()
    dialog = operator.locator("#dlg-directory")
    expect(dialog.locator("#directory-status")).to_contain_text("structure")
    dialog.get_by_label("Département").fill("33")
    dialog.get_by_label("Type").select_option("cidff")
    dialog.get_by_role("button", name="Chercher").click()
    item = dialog.locator("li.directory-item", has_text="CIDFF de la Gironde")
    item.wait_for()
    shot(operator, "01-directory")
    check_accessibility(operator, "console directory")
    item.get_by_role("button", name=re.compile("Partager")).click()
    dialog.get_by_role("button", name="Fermer").click()
    card = visitor_page.locator(".res-card", has_text="CIDFF de la Gironde")
    expect(card).to_be_visible()
    expect(card).to_contain_text("05 56 44 30 30")
    visitor_page.screenshot(
        path=str(SCREENSHOTS / "capabilities-02-visitor-card.png"), full_page=True
    )
    panel.locator("li.msg", has_text="CIDFF de la Gironde").wait_for()
    counted = manage_shell(
        browser_env,
        "from directory.models import Orientation; "
        f"print(Orientation.objects.filter(conversation_id='{conversation_id}')"
        ".values_list('resource_name', flat=True).first())",
    )
    assert counted.strip() == "CIDFF de la Gironde (test)"

    # 2. Quick exit: the slot (capacity 1) is free at once, the tab stays.
    with visitor_page.expect_navigation():
        visitor_page.keyboard.press("Escape")
    tab = operator.get_by_role("tab", name=re.compile("à clore"))
    tab.wait_for()
    expect(panel.locator(".presence-line")).to_have_text("La personne est partie")
    expect(panel.locator(".wrap-up")).to_contain_text("sortie rapide")
    expect(panel.locator("form.composer")).to_be_hidden()
    expect(operator.locator("#load")).to_have_text("0")
    shot(operator, "03-wrap-up")
    check_accessibility(operator, "console wrap-up")
    other = Visitor(server.url)
    other.send({"type": "start", "place": "33000", "role": "witness"})
    second_id = other.receive("started")["conversation"]
    second_panel = claim(operator, second_id)
    other.receive("joined", role="operator")
    # 3. The outcome is still recorded for the conversation the visitor left.
    operator.get_by_role("tab", name=re.compile("à clore")).click()
    panel.get_by_role("button", name="Enregistrer l'issue").click()
    dialog = operator.locator("#dlg-close")
    dialog.get_by_label("Orientation").check()
    dialog.get_by_label("violences conjugales").check()
    dialog.get_by_role("button", name="Clore").click()
    operator.locator(f"#tab-{conversation_id}").wait_for(state="detached")
    outcome = manage_shell(
        browser_env,
        "from chat.models import Conversation; c = Conversation.objects.get("
        f"id='{conversation_id}'); print(c.status, c.outcome, c.categories)",
    )
    assert outcome.strip() == "closed orientation ['conjugal']"
    close_with_outcome(operator, second_panel)
    assert other.receive("closed")["reason"] == "closed_by_operator"
    other.close()
    assert watch.errors == [], watch.errors
    assert visitor_watch.errors == [], visitor_watch.errors


def test_callback_request_reaches_the_partner_association(
    context_factory: Any, server: Any, seeded: Any
) -> None:
    # The visitor page's callback button is built by the routing work of
    # this issue; until it lands the visitor's frames go through the
    # protocol, exactly as that page sends them.
    visitor = Visitor(server.url)
    visitor.send({"type": "start", "place": "33000", "role": "victim"})
    conversation_id = visitor.receive("started")["conversation"]
    operator, watch = log_in(context_factory, server, "cap-op2")
    panel = claim(operator, conversation_id)
    visitor.receive("joined", role="operator")
    visitor.send({"type": "callback_options"})
    options = visitor.receive("callback_options")
    partner = next(
        p for p in options["partners"] if p["name"] == "Association Rappel (test)"
    )
    visitor.send(
        {
            "type": "callback",
            "id": str(uuid.uuid4()),
            "partner": partner["id"],
            "phone": "06 12 34 56 78",
            "times": "après 18 h",
        }
    )
    visitor.receive("callback_requested")
    # The operator sees the request in the conversation.
    panel.locator("li.msg", has_text="Demande de rappel transmise").wait_for()
    shot(operator, "04-callback-operator")
    close_with_outcome(operator, panel)
    visitor.receive("closed")

    partner_page, partner_watch = log_in(context_factory, server, "cap-partner")
    link = partner_page.get_by_role("link", name="Demandes de rappel")
    link.click()
    partner_page.wait_for_url(re.compile("/directory/callbacks/"))
    row = partner_page.locator("tr.status-pending", has_text="Association Rappel")
    expect(row).to_be_visible()
    # Sealed: the number never shows before the key is given.
    assert "06 12 34 56 78" not in partner_page.content()
    assert "0612345678" not in partner_page.content()
    shot(partner_page, "05-callback-partner")
    visitor.close()
    assert watch.errors == [], watch.errors
    assert partner_watch.errors == [], partner_watch.errors


def test_psychologist_rota_and_silent_supervisor(
    context_factory: Any, server: Any, seeded: Any, browser_env: dict[str, Any]
) -> None:
    never = {d: [] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    manage_shell(
        browser_env,
        "from chat.models import Service; Service.objects.filter(slug='national')"
        f".update(psychologist_hours={never!r})",
    )
    visitor = Visitor(server.url)
    visitor.send({"type": "start", "place": "33000", "role": "victim"})
    conversation_id = visitor.receive("started")["conversation"]
    operator, watch = log_in(context_factory, server, "cap-op3")
    psychologist, psy_watch = log_in(context_factory, server, "cap-psy")
    panel = claim(operator, conversation_id)
    visitor.receive("joined", role="operator")

    # 1. Outside the rota the dialog says so, and the server refuses.
    panel.get_by_role("button", name="Inviter un·e psychologue").click()
    dialog = operator.locator("#dlg-invite")
    expect(dialog.locator("#invite-duty")).to_contain_text(
        "Hors permanence des psychologues"
    )
    shot(operator, "06-invite-off-duty")
    dialog.get_by_role("button", name="Inviter").click()
    expect(operator.locator("#notice")).to_contain_text("de permanence")
    assert not any(f.get("type") == "participant_request" for f in visitor.drain(0.5))
    shot(operator, "07-invite-refused")
    manage_shell(
        browser_env,
        "from chat.models import Service; Service.objects.filter(slug='national')"
        ".update(psychologist_hours={})",
    )
    # Within the rota the dialog asks, as it opens, who is online: the
    # conversation's view carries only the rota, and the answer is read
    # out when it comes.
    panel.get_by_role("button", name="Inviter un·e psychologue").click()
    expect(dialog.locator("#invite-duty")).to_have_attribute("aria-live", "polite")
    expect(dialog.locator("#invite-duty")).to_contain_text(
        "Psychologues de permanence en ligne : Psychologue 9."
    )
    shot(operator, "07b-invite-on-duty")
    dialog.get_by_role("button", name="Annuler").click()

    # 2. A silent supervisor: the composer starts on whisper.
    supervisor, sup_watch = log_in(context_factory, server, "cap-sup")
    watch_button = supervisor.locator(
        f'#board-conversations button.watch[data-conversation="{conversation_id}"]'
    )
    watch_button.click()
    supervisor.locator(f"#tab-{conversation_id}").click()
    sup_panel = supervisor.locator(f"#panel-{conversation_id}")
    sup_panel.wait_for(state="visible")
    expect(sup_panel.get_by_label("Chuchotement (équipe seulement)")).to_be_checked()
    expect(sup_panel.locator(".mode-warning")).to_contain_text("seule l'équipe")
    text = sup_panel.locator("textarea.text")
    text.fill("Proposez le 3919.")
    text.press("Control+Enter")
    panel.locator("li.whisper", has_text="3919").wait_for()
    leaked = visitor.drain(0.8)
    assert "3919" not in json.dumps(leaked), leaked
    # Speaking to the person is an explicit choice, with a warning.
    sup_panel.get_by_label("Message à la personne").check()
    expect(sup_panel.locator(".mode-warning")).to_contain_text("vous rendra visible")
    shot(supervisor, "08-supervisor-whisper")
    check_accessibility(supervisor, "console supervisor composer")
    close_with_outcome(operator, panel)
    visitor.receive("closed")
    visitor.close()
    for page_watch in (watch, psy_watch, sup_watch):
        assert page_watch.errors == [], page_watch.errors
    psychologist.close()


def test_arles_asks_the_operator_to_confirm_the_force(
    context_factory: Any, server: Any, seeded: Any
) -> None:
    visitor = Visitor(server.url)
    visitor.send(
        {"type": "start", "place": "13200", "role": "victim", "service": "force-pn"}
    )
    started = visitor.receive("started")
    assert started["service"] == "force-pn", started
    conversation_id = started["conversation"]
    operator, watch = log_in(context_factory, server, "cap-op4")
    expect(
        operator.locator(f'button.queue-item[data-conversation="{conversation_id}"]')
    ).to_contain_text("force à confirmer")
    panel = claim(operator, conversation_id)
    competence = panel.locator(".competence")
    expect(competence).to_contain_text("partagée police / gendarmerie")
    expect(competence).to_contain_text("Brigade d'Arles")
    shot(operator, "09-arles-confirm")
    check_accessibility(operator, "console confirm force")
    panel.get_by_role("button", name="Confirmer : gendarmerie").click()
    # Handed to the gendarmerie's queue, history kept, force confirmed.
    operator.locator(f"#tab-{conversation_id}").wait_for(state="detached")
    item = operator.locator(f'button.queue-item[data-conversation="{conversation_id}"]')
    expect(item).to_contain_text("force-gn")
    panel = claim(operator, conversation_id)
    expect(panel.locator(".confirm-force")).to_be_hidden()
    expect(panel.locator(".competence")).to_contain_text("file gendarmerie")
    shot(operator, "10-arles-gendarmerie")
    close_with_outcome(operator, panel)
    visitor.receive("closed")
    visitor.close()
    assert watch.errors == [], watch.errors


def test_logout_with_open_conversations_asks_and_tells_the_truth(
    context_factory: Any, server: Any, seeded: Any
) -> None:
    visitor = Visitor(server.url)
    visitor.send({"type": "start", "place": "33000", "role": "victim"})
    conversation_id = visitor.receive("started")["conversation"]
    try:
        operator, watch = log_in(context_factory, server, "cap-op5")
        claim(operator, conversation_id)
        visitor.receive("joined", role="operator")
        operator.get_by_role("button", name="Se déconnecter").click()
        dialog = operator.locator("#dlg-logout")
        expect(dialog).to_be_visible()
        expect(dialog).to_contain_text("1 conversation")
        shot(operator, "11-logout-ask")
        check_accessibility(operator, "console logout dialog")
        dialog.get_by_role("button", name="Remettre en file et se déconnecter").click()
        left = visitor.receive("left", role="operator")
        assert "reconnecting" not in left, left
        expect(operator).to_have_url(re.compile("/console/login/"))
        assert watch.errors == [], watch.errors
    finally:
        # Back in the queue: the visitor ends it so later tests start clean.
        visitor.send({"type": "leave"})
        visitor.receive("closed")
        visitor.close()


def test_console_warns_before_the_shift_ends(
    context_factory: Any, server: Any, seeded: Any, browser_env: dict[str, Any]
) -> None:
    operator, watch = log_in(context_factory, server, "cap-op6")
    expect(operator.locator("#shift-warning")).to_be_hidden()
    cookie = next(
        c["value"] for c in operator.context.cookies() if c["name"] == "sessionid"
    )
    # Ten minutes left in a twelve-hour shift.
    manage_shell(
        browser_env,
        "import time; from django.conf import settings; "
        "from django.contrib.sessions.backends.db import SessionStore; "
        f"s = SessionStore('{cookie}'); "
        "s['console_shift_started'] = time.time() - settings.CONSOLE_SHIFT_SECONDS"
        " + 600; s.save()",
    )
    operator.reload()
    warning = operator.locator("#shift-warning")
    expect(warning).to_be_visible()
    expect(warning).to_contain_text("10 min")
    shot(operator, "12-shift-warning")
    assert watch.errors == [], watch.errors

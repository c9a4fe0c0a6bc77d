"""Both escalations in Debian's Chromium, against a real Daphne.

The operator asks for consent from the console, the visitor accepts in the
visitor page and gives a phone number, the operator completes the report
(delivered to the unit's drop folder); then the operator requests the
disclosure of the connection data, a supervisor endorses it and records
the prosecutor's approval, a key custodian executes it with the key file
and passphrase, and the supervisor reads the audit trail and exports the
file. Screenshots: ``test-artifacts/screenshots/escalation-*.png``.
"""

import json
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import (
    PHONE,
    SCREENSHOTS,
    check_accessibility,
    run_manage,
)

pytestmark = pytest.mark.browser

expect = pytest.importorskip(
    "playwright.sync_api", reason="BROWSER SKIPPED: playwright is not installed"
).expect
expect.set_options(timeout=15_000)

DESKTOP = {"width": 1366, "height": 900}
PASSPHRASE = "custodian-passphrase-browser"
CONSENT_TEXT = (
    "J'accepte qu'un signalement contenant un résumé de mes propos et les "
    "coordonnées que je choisis soit transmis au commissariat compétent."
)
SEED = """
import json
from chat.models import ConsentText, Service
from console.services import do_create_staff, do_create_login_session
from escalation.models import Unit
national = Service.objects.get(slug="national")
ConsentText.objects.get_or_create(service=national, version="browser-1", lang="fr",
    defaults={{"text": {text!r}}})
Unit.objects.get_or_create(name="Commissariat de Bordeaux (test)", defaults=dict(
    force="PN", communes=["33063"], method="file", address={inbox!r}))
cookies = {{}}
for username, pseudonym, roles in [
    ("esc-op", "Opératrice 44", ["operator"]),
    ("esc-sup", "Superviseure 9", ["supervisor"]),
    ("esc-key", "Dépositaire 2", ["custodian"]),
]:
    from django.contrib.auth.models import User
    user = User.objects.filter(username=username).first() or do_create_staff(
        username=username, password="pw-" + username + "-long-enough",
        pseudonym=pseudonym, roles=roles, services=[national])
    cookies[username] = do_create_login_session(user)
print(json.dumps(cookies))
"""


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_timeout(150)
    page.screenshot(path=str(SCREENSHOTS / f"escalation-{name}.png"), full_page=True)


@pytest.fixture
def world(browser_env: dict[str, Any], server: Any) -> dict[str, Any]:
    root: Path = browser_env["root"]
    inbox = root / "unit-inbox"
    inbox.mkdir(exist_ok=True)
    (root / "custodian-pass").write_text(PASSPHRASE)
    run_manage(
        browser_env["env"],
        "manage.py",
        "create_sealing_keys",
        "--install",
        "--out",
        str(root / "custodian"),
        "--passphrase-file",
        str(root / "custodian-pass"),
    )
    output = run_manage(
        browser_env["env"],
        "manage.py",
        "shell",
        "-c",
        SEED.format(text=CONSENT_TEXT, inbox=str(inbox)),
    )
    cookies = json.loads(output.strip().splitlines()[-1])
    return {"cookies": cookies, "inbox": inbox, "custodian": root / "custodian"}


def staff_page(context_factory: Any, server: Any, session: str) -> Any:
    context = context_factory(DESKTOP)
    context.add_cookies([{"name": "sessionid", "value": session, "url": server.url}])
    return context.new_page()


def test_consent_report_disclosure_audit_and_export(
    context_factory: Any, server: Any, browser_env: dict[str, Any], world: dict
) -> None:
    cookies = world["cookies"]
    # The operator's console is open; the visitor starts from the real page.
    operator = staff_page(context_factory, server, cookies["esc-op"])
    operator.goto(server.url + "/console/")
    operator.locator("#status").filter(has_text="Connecté").wait_for()
    items = operator.locator("button.queue-item")
    known = {
        items.nth(i).get_attribute("data-conversation") for i in range(items.count())
    }
    visitor = context_factory(PHONE).new_page()
    visitor.goto(server.url + "/")
    visitor.get_by_label("Votre ville ou votre code postal").fill("33000")
    visitor.get_by_label("Victime", exact=True).check()
    visitor.get_by_role("button", name="Commencer la conversation").click()
    expect(
        visitor.get_by_role("heading", name="Vous êtes en file d'attente")
    ).to_be_visible()
    fresh = operator.locator("button.queue-item").filter(has_text="33000 Bordeaux")
    conversation_id = None
    for _attempt in range(50):
        ids = {
            fresh.nth(i).get_attribute("data-conversation")
            for i in range(fresh.count())
        } - known
        if ids:
            (conversation_id,) = ids
            break
        operator.wait_for_timeout(200)
    assert conversation_id, "the visitor never reached the queue"

    # The operator claims that conversation and flags a minor.
    operator.locator(
        f'button.queue-item[data-conversation="{conversation_id}"]'
    ).click()
    panel = operator.locator(f"#panel-{conversation_id}")
    panel.wait_for()
    panel.get_by_label("Victime mineure").check()

    # 1. Consent, asked from the console, answered in the visitor page.
    panel.get_by_role("button", name="Demander le consentement").click()
    expect(panel.locator(".consent-state")).to_contain_text("en attente")
    dialog = visitor.get_by_role("dialog", name="Lever votre anonymat ?")
    expect(dialog).to_be_visible()
    assert visitor.locator("#consent-text").inner_text() == CONSENT_TEXT
    expect(dialog).to_contain_text("ne peut pas être annulé")
    shot(visitor, "01-visitor-consent")
    dialog.get_by_role("button", name="J'accepte").click()
    dialog.get_by_label("Téléphone").fill("06 12 34 56 78")
    dialog.get_by_label("Quand et comment vous joindre sans danger ?").fill("le soir")
    dialog.get_by_role("button", name="Envoyer mes coordonnées").click()
    expect(dialog).to_be_hidden()
    expect(visitor.locator("#log .notice.consent").last).to_contain_text(
        "Ce qui va se passer"
    )
    shot(visitor, "02-visitor-after-consent")
    expect(panel.locator(".consent-state")).to_contain_text("Consentement donné")
    shot(operator, "03-console-consent-given")

    # 2. The report, from the escalation screen the console links to.
    link = panel.get_by_role("link", name="Signalement et réquisition")
    escalation_url = link.get_attribute("href")
    assert conversation_id in escalation_url
    operator.goto(server.url + escalation_url)
    expect(
        operator.get_by_role("heading", name="Compléter le signalement")
    ).to_be_visible()
    assert (
        operator.get_by_label(
            "Unité destinataire (proposée selon la compétence de la commune)"
        )
        .locator("option:checked")
        .inner_text()
        .startswith("Commissariat de Bordeaux (test)")
    )
    operator.get_by_label("Catégorie").select_option("domestic")
    operator.get_by_label("Urgence").select_option("high")
    operator.get_by_label("Résumé des faits").fill(
        "Violences du conjoint depuis deux ans ; menaces hier soir."
    )
    check_accessibility(operator, "escalation report form")
    shot(operator, "04-report-form")
    operator.get_by_role("button", name="Envoyer le signalement").click()
    expect(operator.locator(".notice-ok")).to_contain_text("enregistré")
    run_manage(browser_env["env"], "manage.py", "deliver_reports")
    dropped = list(world["inbox"].glob("signalement-*.json"))
    assert len(dropped) == 1
    report = json.loads(dropped[0].read_text())
    assert report["contact"]["phone"] == "+33612345678"
    assert "menaces hier soir" in report["summary"]
    operator.reload()
    expect(operator.locator(".badge.state-sent")).to_be_visible()
    shot(operator, "05-report-sent")

    # 3. The operator requests disclosure (the conversation is a minor's).
    operator.get_by_label("victime mineure").check()
    operator.get_by_label("Justification (20 caractères au moins)").fill(
        "Victime de 14 ans, violences en cours au domicile ce soir."
    )
    operator.get_by_role("button", name="Demander la réquisition").click()
    expect(operator.get_by_role("heading", name="Réquisition")).to_contain_text("REQ-")
    disclosure_url = operator.url
    # The requester is offered no endorsement.
    expect(operator.get_by_role("button", name="Viser la demande")).to_have_count(0)
    shot(operator, "06-disclosure-requested")

    # 4. A supervisor endorses and records the prosecutor's approval.
    supervisor = staff_page(context_factory, server, cookies["esc-sup"])
    supervisor.goto(disclosure_url)
    supervisor.get_by_role("button", name="Viser la demande").click()
    expect(supervisor.locator(".badge.state-endorsed")).to_be_visible()
    supervisor.get_by_label("Autorisée").check()
    supervisor.get_by_label("Référence du parquet").fill("PARQUET-BDX-2026-0099")
    supervisor.get_by_label("Magistrat·e").fill("Mme la substitute Durand")
    supervisor.get_by_label("Date de la décision").fill(
        supervisor.evaluate("new Date().toISOString().slice(0, 10)")
    )
    check_accessibility(supervisor, "escalation decision form")
    shot(supervisor, "07-decision-form")
    supervisor.get_by_role("button", name="Enregistrer la décision").click()
    expect(supervisor.locator(".badge.state-approved")).to_be_visible()

    # 5. The custodian executes with the key file and the passphrase.
    custodian = staff_page(context_factory, server, cookies["esc-key"])
    custodian.goto(disclosure_url)
    key_file = sorted(world["custodian"].glob("sealing-*.key.pem"))[0]
    custodian.get_by_label("Fichier de clé privée du mois").set_input_files(
        str(key_file)
    )
    custodian.get_by_label("Phrase de passe").fill("wrong passphrase!")
    custodian.get_by_role("button", name="Ouvrir les données de connexion").click()
    expect(custodian.get_by_role("alert")).to_contain_text("incorrecte")
    custodian.get_by_label("Fichier de clé privée du mois").set_input_files(
        str(key_file)
    )
    custodian.get_by_label("Phrase de passe").fill(PASSPHRASE)
    check_accessibility(custodian, "escalation execution form")
    custodian.get_by_role("button", name="Ouvrir les données de connexion").click()
    opened = custodian.locator(".opened")
    expect(opened).to_contain_text("127.0.0.1")
    expect(opened).to_contain_text("PARQUET-BDX-2026-0099")
    shot(custodian, "08-executed")
    custodian.goto(disclosure_url)
    expect(custodian.locator(".opened")).to_have_count(0)  # shown once

    # 6. The supervisor reads the audit trail and exports the file.
    supervisor.goto(server.url + "/console/")
    supervisor.get_by_role("link", name="Journal d'audit").click()
    expect(supervisor.locator(".chain-ok")).to_contain_text("Chaîne intacte")
    for kind in ("consent_answered", "report_sent", "disclosure_execute"):
        expect(supervisor.locator("table.audit")).to_contain_text(kind)
    check_accessibility(supervisor, "audit viewer")
    shot(supervisor, "09-audit")
    supervisor.goto(
        server.url + f"/console/escalations/conversation/{conversation_id}/"
    )
    supervisor.get_by_role("link", name="Dossier imprimable").click()
    expect(supervisor.get_by_role("heading", name="Dossier d'escalade")).to_be_visible()
    shot(supervisor, "10-export")
    signed = supervisor.request.get(
        server.url + f"/console/escalations/conversation/{conversation_id}/export.json"
    ).json()
    assert signed["signature"]["algorithm"] == "Ed25519"
    kinds = [entry["kind"] for entry in signed["document"]["audit"]["entries"]]
    for kind in ("consent_asked", "report_created", "disclosure_endorse"):
        assert kind in kinds
    assert "127.0.0.1" not in json.dumps(signed)

"""The statistics page and the visitor's feedback, in Chromium."""

import json
import re
from typing import Any

import pytest

from tests.browser.conftest import (
    DESKTOP,
    PageWatch,
    check_accessibility,
    run_manage,
    screenshot,
)

pytest.importorskip("playwright")
from playwright.sync_api import expect

PLACE = "Votre ville ou votre code postal"


@pytest.fixture(scope="module")
def supervisor_cookie(browser_env: dict[str, Any]) -> dict[str, Any]:
    output = run_manage(browser_env["env"], "-m", "tests.browser.seed_stats")
    name, value = json.loads(output.strip().splitlines()[-1])["cookie"].split("=", 1)
    return {
        "name": name,
        "value": value,
        "url": f"http://127.0.0.1:{browser_env['port']}",
    }


def test_visitor_answers_the_feedback_question(visitor, server):
    page, watch = visitor
    place = page.get_by_role("combobox", name=PLACE)
    place.fill("33000")
    page.get_by_role("option", name=re.compile("Bordeaux")).click()
    page.get_by_role("button", name="Commencer la conversation").click()
    expect(
        page.get_by_role("heading", name="Vous êtes en file d'attente")
    ).to_be_visible()
    page.get_by_role("button", name="Terminer", exact=True).click()
    page.get_by_role("button", name="Oui, terminer").click()
    expect(
        page.get_by_role("heading", name="La conversation est terminée")
    ).to_be_visible()
    form = page.locator("#feedback-form")
    expect(form).to_be_visible()
    form.get_by_role("button", name="Envoyer mon avis").click()
    expect(form.get_by_role("status")).to_have_text(
        "Choisissez une réponse : oui, un peu ou non."
    )
    form.get_by_label("Un peu").check()
    form.get_by_label(re.compile("Un mot de plus")).fill("Merci, écoute attentive.")
    check_accessibility(page, "feedback")
    form.get_by_role("button", name="Envoyer mon avis").click()
    expect(form.get_by_role("status")).to_have_text("Merci pour votre avis.")
    expect(form.get_by_role("button", name="Envoyer mon avis")).to_be_disabled()
    screenshot(page, "20-feedback")
    feedback = [r for r in watch.requests if r.url.endswith("/feedback/")]
    assert len(feedback) == 1
    assert "cookie" not in {k.lower() for k in feedback[0].headers}


def test_statistics_page(context_factory, server, supervisor_cookie, browser_env):
    context = context_factory(DESKTOP)
    context.add_cookies([supervisor_cookie])
    page = context.new_page()
    watch = PageWatch()
    watch.attach(page)
    page.goto(server.url + "/console/")
    page.get_by_role("link", name="Statistiques").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Statistiques")
    page.get_by_label("Période", exact=True).select_option("year")
    page.get_by_role("button", name="Afficher").click()
    expect(page.locator("svg.chart")).to_have_count(4)
    for name in (
        "Conversations commencées et prises en charge",
        "Conversations commencées par jour et heure",
        "Issue des conversations prises en charge",
    ):
        expect(page.get_by_role("img", name=name)).to_be_visible()
    summary = page.locator("#table-summary")
    started = summary.get_by_role("row", name=re.compile("^Conversations commencées"))
    expect(started).to_contain_text(re.compile(r"\d"))
    # Each chart's table opens from its figure.
    page.get_by_text("Les données du graphique (tableau)").first.click()
    expect(page.locator("#table-series")).to_be_visible()
    check_accessibility(page, "statistics")
    screenshot(page, "21-statistics")
    with page.expect_download() as download:
        page.get_by_role(
            "link", name=re.compile("Télécharger « Chiffres clés »")
        ).click()
    assert download.value.suggested_filename.endswith(".csv")
    page.get_by_role("link", name="Version imprimable (rapport)").click()
    page.emulate_media(media="print")
    expect(page.locator("form.controls")).to_be_hidden()
    expect(page.locator("#table-heatmap")).to_be_visible()
    screenshot(page, "22-statistics-print")
    assert watch.errors == [], watch.errors
    assert all(r.url.startswith(server.url) for r in watch.requests)

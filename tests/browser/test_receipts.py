"""Receipt codes in a real browser (issue 16): get one, quick-exit, come back."""

import re
from typing import Any

import pytest

from tests.browser.conftest import (
    DESKTOP,
    EXIT_URL,
    SCREENSHOTS,
    check_accessibility,
    screenshot,
)
from tests.browser.operator import Operator
from tests.browser.test_console_shift import log_in, shift_accounts  # noqa: F401
from tests.browser.test_visitor_page import (
    claim_new,
    queued_ids,
    shown_texts,
    start_conversation,
)

pytestmark = pytest.mark.browser

expect = pytest.importorskip(
    "playwright.sync_api", reason="BROWSER SKIPPED: playwright is not installed"
).expect
expect.set_options(timeout=15_000)


def test_receipt_quick_exit_and_back_from_another_browser(
    context_factory: Any,
    server: Any,
    browser_env: dict[str, Any],
    shift_accounts: dict[str, Any],  # noqa: F811
) -> None:
    page = context_factory().new_page()
    page.goto(server.url + "/")
    operator = Operator(server.url, browser_env["cookie"])
    known = queued_ids(operator)
    start_conversation(page)
    conversation = claim_new(operator, known)
    operator.say(conversation["id"], "Bonjour, je vous écoute.")
    expect(page.locator("#log")).to_contain_text("Bonjour, je vous écoute.")

    page.get_by_role("button", name="Code de suivi").click()
    dialog = page.get_by_role("dialog", name="Votre code de suivi")
    code_node = dialog.locator("#receipt-code")
    expect(code_node).to_have_text(re.compile(r"^\d{4} \d{4} \d{4} \d{4}$"))
    code = code_node.inner_text()
    expect(dialog.get_by_role("button", name="Copier le code")).to_be_enabled()
    check_accessibility(page, "receipt dialog")
    screenshot(page, "receipt-01-code")
    # Nothing about the code in the tab's storage.
    storage = page.evaluate("JSON.stringify(sessionStorage)")
    assert code.replace(" ", "") not in storage.replace(" ", "")
    assert code not in storage

    with page.expect_navigation(url=EXIT_URL):
        dialog.get_by_role("link", name=re.compile("Quitter vite")).click()
    operator.send(
        {"type": "close", "conversation": conversation["id"], "outcome": "information"}
    )

    # Days later, on another device: a brand-new browser context.
    other = context_factory(DESKTOP).new_page()
    other.goto(server.url + "/")
    other.get_by_role("link", name="J'ai un code de suivi").click()
    field = other.get_by_label("Votre code de suivi (16 chiffres)")
    expect(field).to_be_focused()
    field.fill("1234 5678 9012 3456")
    other.get_by_role("button", name="Reprendre la conversation").click()
    expect(other.locator("#recover-error")).to_have_text(
        "Ce code ne correspond à aucune conversation conservée. Vérifiez les chiffres."
    )
    # A refused code leaves the page usable: a new conversation can start.
    expect(
        other.get_by_role("button", name="Commencer la conversation")
    ).to_be_enabled()
    check_accessibility(other, "recover form")
    screenshot(other, "receipt-02-wrong-code")
    field.fill(code)
    other.get_by_role("button", name="Reprendre la conversation").click()
    expect(
        other.get_by_role("heading", name="Vous êtes en file d'attente")
    ).to_be_visible()
    expect(other.locator("#log")).to_contain_text("Bonjour, je vous écoute.")
    expect(other.locator("#log")).to_contain_text(
        "Vous avez retrouvé votre conversation"
    )
    assert "Bonjour, je vous écoute." in shown_texts(other)
    screenshot(other, "receipt-03-back")

    # The operator sees it back in the queue, marked as a follow-up.
    queue = operator.receive("queue")
    while not any(i["conversation"] == conversation["id"] for i in queue["items"]):
        queue = operator.receive("queue")
    item = next(i for i in queue["items"] if i["conversation"] == conversation["id"])
    assert item["follow_up"]["previous_outcome"] == "information"
    operator.close()

    # In the console: the "Suivi" badge in the queue, and once claimed,
    # the previous outcome above the history.
    console, console_watch = log_in(context_factory, server, "shift-op", name="receipt")
    item = console.locator(
        f'button.queue-item[data-conversation="{conversation["id"]}"]'
    )
    expect(item.locator(".badge.follow-up")).to_have_text(re.compile("Suivi", re.I))
    item.click()
    line = console.locator(f"#panel-{conversation['id']} .conv-follow-up")
    expect(line).to_have_text(re.compile("Issue précédente : information"))
    console.screenshot(path=str(SCREENSHOTS / "receipt-04-console-follow-up.png"))
    assert console_watch.errors == [], console_watch.errors

    # The visitor ends it, so the next test's operator starts clean.
    other.get_by_role("button", name="Terminer").click()
    other.get_by_role("button", name="Oui, terminer").click()
    expect(
        other.get_by_role("heading", name="La conversation est terminée")
    ).to_be_visible()


def test_receipt_from_the_end_screen_after_the_operator_closed(
    context_factory: Any,
    server: Any,
    browser_env: dict[str, Any],
    shift_accounts: dict[str, Any],  # noqa: F811
) -> None:
    page = context_factory().new_page()
    page.goto(server.url + "/")
    operator = Operator(server.url, browser_env["cookie"])
    known = queued_ids(operator)
    start_conversation(page)
    conversation = claim_new(operator, known)
    operator.say(conversation["id"], "Revenez quand vous voulez.")
    expect(page.locator("#log")).to_contain_text("Revenez quand vous voulez.")
    operator.send(
        {"type": "close", "conversation": conversation["id"], "outcome": "information"}
    )
    expect(
        page.get_by_role("heading", name="La conversation est terminée")
    ).to_be_visible()

    ask = page.get_by_role("button", name="Obtenir un code de suivi")
    ask.focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Votre code de suivi")
    code_node = dialog.locator("#receipt-code")
    expect(code_node).to_have_text(re.compile(r"^\d{4} \d{4} \d{4} \d{4}$"))
    expect(dialog.locator("#receipt-status")).to_have_text(re.compile("Code prêt"))
    code = code_node.inner_text()
    check_accessibility(page, "end screen receipt dialog")
    screenshot(page, "receipt-05-end-screen-code")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(ask).to_be_focused()
    check_accessibility(page, "end screen with receipt offer")
    # Starting again drops the closed conversation's socket and the offer.
    page.get_by_role("button", name="Nouvelle conversation").click()
    expect(ask).to_be_hidden()

    other = context_factory(DESKTOP).new_page()
    other.goto(server.url + "/")
    other.get_by_role("link", name="J'ai un code de suivi").click()
    other.get_by_label("Votre code de suivi (16 chiffres)").fill(code)
    other.get_by_role("button", name="Reprendre la conversation").click()
    expect(
        other.get_by_role("heading", name="Vous êtes en file d'attente")
    ).to_be_visible()
    expect(other.locator("#log")).to_contain_text("Revenez quand vous voulez.")
    queue = operator.receive("queue")
    while not any(i["conversation"] == conversation["id"] for i in queue["items"]):
        queue = operator.receive("queue")
    item = next(i for i in queue["items"] if i["conversation"] == conversation["id"])
    assert item["follow_up"]["previous_outcome"] == "information"
    operator.close()

    other.get_by_role("button", name="Terminer").click()
    other.get_by_role("button", name="Oui, terminer").click()
    expect(
        other.get_by_role("heading", name="La conversation est terminée")
    ).to_be_visible()

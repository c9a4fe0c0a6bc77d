"""Finding 1 on the visitor page: a refusal is never a blank wall.

A server whose per-client limit is reached (here: zero new conversations
per client) answers ``start`` with ``busy``; the page shows the reason
and the emergency numbers in its alert, and the numbers stay on screen.
"""

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PHONE, PageWatch, Server, free_port, screenshot

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(browser_env: dict[str, Any]) -> Any:
    """A Daphne of its own that admits no new conversation per client."""
    port = free_port()
    env = {
        **browser_env["env"],
        "CSRF_TRUSTED_ORIGINS": f"http://127.0.0.1:{port}",
        "ADMISSION_STARTS_PER_CLIENT": "0",
    }
    live = Server(env, port, browser_env["root"] / "daphne-refusal.log")
    live.start()
    yield live
    live.kill()


def test_a_refused_start_shows_the_emergency_numbers(
    context_factory: Any, server: Any
) -> None:
    page = context_factory(PHONE).new_page()
    watch = PageWatch()
    watch.attach(page)
    page.goto(server.url + "/")
    page.get_by_label("Votre ville ou votre code postal").fill("33000")
    page.get_by_label("Victime", exact=True).check()
    page.get_by_role("button", name="Commencer la conversation").click()
    alert = page.locator("#start-error")
    expect(alert).to_be_visible()
    text = alert.inner_text()
    for number in ("17", "112", "114", "3919", "119"):
        assert number in text, text
    assert "réseau" in text
    expect(page.get_by_role("button", name="Commencer la conversation")).to_be_enabled()
    screenshot(page, "visitor-refused-busy")
    assert watch.errors == [], watch.errors

"""An overloaded server does not turn the person away (issue 14).

The server's event loop is made late for real: the Daphne process is
stopped (SIGSTOP) while the person presses "Commencer", then continued;
its loop-lag probe wakes 1.5 s late and the start is refused with
``overloaded``. The page keeps what was entered, says it tries again by
itself, with a countdown and the emergency numbers, and its retry, once
the loop is on time again, opens the conversation.
"""

import os
import re
import signal
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.sync.client import connect

from tests.browser.conftest import (
    Server,
    check_accessibility,
    prepare_browser_env,
    screenshot,
    serve,
)

pytestmark = pytest.mark.browser

expect = pytest.importorskip(
    "playwright.sync_api", reason="BROWSER SKIPPED: playwright is not installed"
).expect
expect.set_options(timeout=10_000)

PLACE = "Votre ville ou votre code postal"
STOPPED_S = 1.5


@pytest.fixture(scope="module")
def browser_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """This module's own server, with a short retry_after (4 s, not 10)."""
    prepared = prepare_browser_env(
        tmp_path_factory.mktemp("browser-overload"), "tests.browser.seed"
    )
    prepared["env"]["OVERLOAD_RETRY_AFTER_SECONDS"] = "4"
    return prepared


@pytest.fixture(scope="module")
def server(browser_env: dict[str, Any]) -> Iterator[Server]:
    yield from serve(browser_env)


def test_an_overloaded_server_keeps_the_person_and_tries_again(visitor, server):
    page, _watch = visitor
    # Someone else's socket is open: the process measures its loop.
    with connect(
        server.url.replace("http://", "ws://") + "/ws/chat/",
        origin=server.url,
        proxy=None,
        open_timeout=5,
    ):
        page.get_by_label(PLACE).fill("33000")
        page.get_by_label("Témoin", exact=True).check()

        os.kill(server.process.pid, signal.SIGSTOP)
        try:
            page.get_by_role("button", name="Commencer la conversation").click()
            page.wait_for_timeout(STOPPED_S * 1000)
        finally:
            os.kill(server.process.pid, signal.SIGCONT)

        busy = page.locator("#start-busy")
        expect(busy).to_be_visible()
        expect(busy).to_contain_text("Le service est très sollicité en ce moment.")
        expect(busy).to_contain_text("Nous réessayons automatiquement")
        expect(page.locator("#start-busy-countdown")).to_have_text(
            re.compile(r"Nouvel essai automatique dans \d+ s\.")
        )
        for number in ("17", "112", "3919", "119"):
            expect(busy.get_by_role("link", name=number, exact=True)).to_be_visible()
        announced = page.locator("#announcer")
        expect(announced).to_contain_text("Nouvel essai automatique dans")
        for number in ("17", "112", "114", "3919"):
            expect(announced).to_contain_text(number)
        # Nothing the person entered is lost, and the page stays on the form.
        expect(page.get_by_label(PLACE)).to_have_value("33000")
        expect(page.get_by_label("Témoin", exact=True)).to_be_checked()
        expect(page.locator("#start-error")).to_be_hidden()
        check_accessibility(page, "visitor start overloaded")
        screenshot(page, "visitor-start-overloaded")

        # The loop is on time again: the automatic retry opens the conversation.
        expect(
            page.get_by_role("heading", name="Vous êtes en file d'attente")
        ).to_be_visible(timeout=15_000)
        expect(busy).to_be_hidden()

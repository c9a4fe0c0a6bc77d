"""The console's socket is as robust as the visitor's, in Debian's Chromium.

The console and the visitor page share one client (common/js/socket.js).
When the network goes, the console says so at once and keeps what the
operator writes; when it comes back, the console reconnects by itself,
gets its hello again and sends what waited, once. A socket that stops
answering without closing (a vanished network never completes the close
handshake) is given up after the reply timeout, on a patched clock, and
the message that had no ack goes again on a fresh socket.
"""

import re
import uuid
from typing import Any

import pytest

from tests.browser.conftest import PageWatch, run_manage
from tests.browser.test_console_shift import Visitor, code_for

pytestmark = pytest.mark.browser

expect = pytest.importorskip(
    "playwright.sync_api", reason="BROWSER SKIPPED: playwright is not installed"
).expect
expect.set_options(timeout=10_000)

DESKTOP = {"width": 1366, "height": 860}
# One account per test: a TOTP code is accepted once.
ACCOUNTS = {
    # username: (password, hex TOTP key, pseudonym)
    "sock-op": ("op-sock-password-1", "7c" * 20, "Opératrice 31"),
    "sock-op2": ("op-sock-password-2", "7e" * 20, "Opératrice 32"),
}
SEED = """
from chat.models import Service
from console.services import do_create_staff, do_create_totp_device
from django.contrib.auth.models import User
national = Service.objects.get(slug="national")
for username, (password, key, pseudonym) in {accounts!r}.items():
    user = User.objects.filter(username=username).first()
    if user is None:
        user = do_create_staff(username=username, password=password,
            pseudonym=pseudonym, roles=["operator"], services=[national])
    do_create_totp_device(user, key=key)
"""
# The reply timeout of common/js/socket.js.
REPLY_TIMEOUT_MS = 10_000


@pytest.fixture(scope="module")
def accounts(browser_env: dict[str, Any], server: Any) -> dict[str, Any]:
    run_manage(
        browser_env["env"], "manage.py", "shell", "-c", SEED.format(accounts=ACCOUNTS)
    )
    return ACCOUNTS


def log_in(page: Any, server: Any, username: str) -> None:
    password, key, _pseudonym = ACCOUNTS[username]
    page.goto(server.url + "/console/login/")
    page.get_by_label("Identifiant").fill(username)
    page.get_by_label("Mot de passe").fill(password)
    page.get_by_label("Code de l'application d'authentification").fill(code_for(key))
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url(server.url + "/console/", timeout=15000)
    page.locator("#status").filter(has_text="Connecté").wait_for()


def claim_from_visitor(page: Any, server: Any, name: str) -> tuple[Visitor, Any]:
    """A visitor (through the protocol) whom the operator takes and hears."""
    visitor = Visitor(server.url)
    visitor.send({"type": "start", "place": "33000", "role": "victim"})
    conversation = visitor.receive("started")["conversation"]
    page.locator(f'button.queue-item[data-conversation="{conversation}"]').click()
    panel = page.locator(f"#panel-{conversation}")
    panel.wait_for(state="visible")
    visitor.receive("joined", role="operator", name=name)
    say(panel, "Bonjour, je vous écoute.")
    assert visitor.receive("message")["text"] == "Bonjour, je vous écoute."
    expect(panel.locator("li.msg.mine.pending")).to_have_count(0)
    return visitor, panel


def watch_link(page: Any) -> None:
    """Record every change of the console's link state in the page."""
    page.evaluate(
        """() => {
            window.linkChanges = [];
            const root = document.getElementById("console");
            new MutationObserver(() => window.linkChanges.push(root.dataset.link))
                .observe(root, { attributes: true, attributeFilter: ["data-link"] });
        }"""
    )


def say(panel: Any, text: str) -> None:
    composer = panel.locator("textarea.text")
    composer.fill(text)
    composer.press("Control+Enter")


def messages_heard(visitor: Visitor) -> list[str]:
    return [
        frame["text"]
        for frame in visitor.frames + visitor.drain()
        if frame.get("type") == "message" and frame.get("from") == "operator"
    ]


def test_console_says_it_is_offline_and_resumes_with_what_waited(
    context_factory: Any, server: Any, accounts: Any
) -> None:
    context = context_factory(DESKTOP)
    page = context.new_page()
    watch = PageWatch()
    watch.attach(page)
    log_in(page, server, "sock-op")
    visitor, panel = claim_from_visitor(page, server, "Opératrice 31")

    watch_link(page)
    # The network goes: the console says so at once (the old client kept
    # saying "Connecté·e" on a socket that could no longer carry anything).
    context.set_offline(True)
    expect(page.locator("#status")).to_have_text("Hors ligne — reconnexion…")
    expect(page.locator("#console")).to_have_attribute("data-link", "offline")
    say(panel, "Écrit pendant la coupure.")
    pending = panel.locator("li.msg.mine.pending")
    expect(pending).to_have_count(1)

    # It comes back: a new socket, a new hello, the message sent once.
    context.set_offline(False)
    expect(page.locator("#status")).to_have_text(re.compile("Connecté"))
    expect(page.locator("#console")).to_have_attribute("data-link", "connected")
    expect(pending).to_have_count(0)
    visitor.receive("message", text="Écrit pendant la coupure.")
    heard = messages_heard(visitor)
    assert heard.count("Écrit pendant la coupure.") == 1, heard
    # The conversation is still there, in the same tab.
    expect(panel).to_be_visible()
    expect(panel.locator("li.msg.mine", has_text="pendant la coupure")).to_have_count(1)
    assert page.evaluate("window.linkChanges")[-1] == "connected"
    visitor.close()
    assert watch.errors == [], watch.errors


def test_console_gives_up_a_socket_that_stopped_answering(
    context_factory: Any, server: Any, accounts: Any
) -> None:
    context = context_factory(DESKTOP)
    page = context.new_page()
    watch = PageWatch()
    watch.attach(page)
    # Every console socket goes through this relay; a muted one stays
    # open and carries nothing, either way.
    relay: dict[str, Any] = {"sockets": 0, "muted": set()}

    def handle(route: Any) -> None:
        relay["sockets"] += 1
        number = relay["sockets"]
        server_side = route.connect_to_server()

        def up(message: Any) -> None:
            if number not in relay["muted"]:
                server_side.send(message)

        def down(message: Any) -> None:
            if number not in relay["muted"]:
                route.send(message)

        route.on_message(up)
        server_side.on_message(down)

    page.route_web_socket(re.compile(r"/ws/console/$"), handle)
    page.clock.install()
    log_in(page, server, "sock-op2")
    visitor, panel = claim_from_visitor(page, server, "Opératrice 32")
    assert relay["sockets"] == 1
    watch_link(page)

    relay["muted"].add(1)
    text = f"Sans accusé de réception {uuid.uuid4().hex[:6]}"
    say(panel, text)
    pending = panel.locator("li.msg.mine.pending")
    expect(pending).to_have_count(1)
    # Nothing comes back: past the reply timeout the socket is given up,
    # and the first retry comes within the backoff's first step.
    page.clock.run_for(REPLY_TIMEOUT_MS + 1_000)
    expect(pending).to_have_count(0)
    visitor.receive("message", text=text)
    assert relay["sockets"] == 2
    # The staff member saw the link go and come back.
    expect(page.locator("#console")).to_have_attribute("data-link", "connected")
    assert page.evaluate("window.linkChanges") == ["offline", "connected"]
    assert messages_heard(visitor).count(text) == 1
    visitor.close()
    assert watch.errors == [], watch.errors

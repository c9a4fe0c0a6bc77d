"""A whole shift in the operator console, in Debian's Chromium.

An operator logs in with a TOTP code, claims a waiting conversation, chats
with a visitor (driven through the protocol), invites a psychologist who
joins from a second browser context, a supervisor watches and whispers
from a third, and the operator closes with an outcome. Each step leaves a
screenshot in ``test-artifacts/screenshots/console-*.png``.
"""

import json
import time
import uuid
from binascii import unhexlify
from typing import Any

import pytest
from django_otp.oath import totp
from websockets.sync.client import ClientConnection, connect

from tests.browser.conftest import (
    SCREENSHOTS,
    PageWatch,
    check_accessibility,
    run_manage,
)

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1366, "height": 860}
ACCOUNTS = {
    # username: (password, hex TOTP key, pseudonym, roles)
    "shift-op": ("op-shift-password-1", "11" * 20, "Opératrice 12", ["operator"]),
    "shift-psy": ("psy-shift-password-1", "22" * 20, "Psychologue 3", ["psychologist"]),
    "shift-sup": ("sup-shift-password-1", "33" * 20, "Superviseure 1", ["supervisor"]),
}
SEED = """
from chat.models import Service
from console.services import do_create_staff, do_create_totp_device
from django.contrib.auth.models import User
national = Service.objects.get(slug="national")
for username, (password, key, pseudonym, roles) in {accounts!r}.items():
    user = User.objects.filter(username=username).first()
    if user is None:
        user = do_create_staff(username=username, password=password,
            pseudonym=pseudonym, roles=roles, services=[national])
    do_create_totp_device(user, key=key)
"""


def code_for(hex_key: str) -> str:
    return f"{totp(unhexlify(hex_key)):06d}"


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_timeout(150)
    page.screenshot(path=str(SCREENSHOTS / f"console-{name}.png"))


class Visitor:
    """The visitor, spoken through the protocol with ``websockets``."""

    def __init__(self, base_url: str) -> None:
        self.ws: ClientConnection = connect(
            base_url.replace("http://", "ws://") + "/ws/chat/",
            origin=base_url,
            proxy=None,
            open_timeout=5,
            legacy=True,
        )
        self.frames: list[dict[str, Any]] = []

    def send(self, frame: dict[str, Any]) -> None:
        self.ws.send(json.dumps(frame))

    def receive(
        self, frame_type: str, timeout: float = 10, **match: Any
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    f"visitor: no {frame_type!r} {match} in {timeout}s"
                )
            try:
                frame = json.loads(self.ws.recv(timeout=remaining))
            except TimeoutError:
                continue
            self.frames.append(frame)
            if frame.get("type") == frame_type and all(
                frame.get(key) == value for key, value in match.items()
            ):
                return frame

    def drain(self, wait: float = 0.5) -> list[dict[str, Any]]:
        frames = []
        while True:
            try:
                frames.append(json.loads(self.ws.recv(timeout=wait)))
            except TimeoutError:
                self.frames.extend(frames)
                return frames

    def close(self) -> None:
        self.ws.close()


@pytest.fixture
def shift_accounts(browser_env: dict[str, Any], server: Any) -> dict[str, Any]:
    run_manage(
        browser_env["env"], "manage.py", "shell", "-c", SEED.format(accounts=ACCOUNTS)
    )
    return ACCOUNTS


def log_in(
    context_factory: Any, server: Any, username: str, *, name: str
) -> tuple[Any, PageWatch]:
    password, key, _pseudonym, _roles = ACCOUNTS[username]
    page = context_factory(DESKTOP).new_page()
    watch = PageWatch()
    watch.attach(page)
    page.goto(server.url + "/console/")
    assert page.url.endswith("/console/login/")
    page.get_by_label("Identifiant").fill(username)
    page.get_by_label("Mot de passe").fill(password)
    page.get_by_label("Code de l'application d'authentification").fill(code_for(key))
    shot(page, f"{name}-login")
    check_accessibility(page, "staff login")
    page.get_by_role("button", name="Se connecter").click()
    try:
        page.wait_for_url(server.url + "/console/", timeout=10000)
    except Exception:
        shot(page, f"{name}-login-failed")
        raise AssertionError(page.content()[:3000]) from None
    page.locator("#status").filter(has_text="Connecté").wait_for()
    return page, watch


def test_a_whole_shift(
    context_factory: Any, server: Any, shift_accounts: dict[str, Any]
) -> None:
    visitor = Visitor(server.url)
    visitor.send({"type": "start", "place": "33000", "role": "victim"})
    started = visitor.receive("started")
    conversation_id = started["conversation"]

    # 1. The operator logs in with a TOTP code and sees the queue.
    operator, operator_watch = log_in(
        context_factory, server, "shift-op", name="01-operator"
    )
    item = operator.locator(f'button.queue-item[data-conversation="{conversation_id}"]')
    item.wait_for()
    assert "33000 Bordeaux" in item.inner_text()
    shot(operator, "02-queue")

    # 2. Claims it (the keyboard works too: Alt+N takes the next one).
    operator.keyboard.press("Alt+n")
    # By id: another test's conversation may still wait for its outcome.
    tab = operator.locator(f"#tab-{conversation_id}")
    tab.wait_for()
    assert tab.get_attribute("aria-selected") == "true"
    assert "33000 Bordeaux" in tab.inner_text()
    visitor.receive("joined", role="operator", name="Opératrice 12")

    # 3. They chat.
    visitor.send(
        {
            "type": "message",
            "id": str(uuid.uuid4()),
            "text": "Bonjour, j'ai besoin d'aide.",
        }
    )
    visitor.receive("ack")
    panel = operator.locator(f"#panel-{conversation_id}")
    panel.locator("li.from-visitor", has_text="j'ai besoin d'aide").wait_for()
    composer = panel.locator("textarea.text")
    composer.fill("Bonjour, je suis là. Vous êtes en sécurité en ce moment ?")
    composer.press("Control+Enter")
    heard = visitor.receive("message")
    assert (heard["from"], heard["name"]) == ("operator", "Opératrice 12")
    panel.locator("li.msg.mine:not(.pending)").wait_for()
    visitor.send({"type": "typing", "active": True})
    panel.locator(".typing", has_text="écrit").wait_for()
    shot(operator, "03-chat")
    check_accessibility(operator, "console conversation")

    # 4. A psychologist, in a second browser context, is on duty.
    psychologist, psychologist_watch = log_in(
        context_factory, server, "shift-psy", name="04-psychologist"
    )
    panel.get_by_role("button", name="Inviter un·e psychologue").click()
    operator.get_by_label("Résumé pour la personne invitée (équipe seulement)").fill(
        "Violences conjugales, souhaite parler à quelqu'un."
    )
    shot(operator, "05-invite")
    operator.locator("#dlg-invite").get_by_role("button", name="Inviter").click()
    request = visitor.receive("participant_request", role="psychologist")
    assert "Violences conjugales" not in json.dumps(request)
    panel.locator(".invitation-state", has_text="Demande en cours").wait_for()
    visitor.send(
        {"type": "participant_answer", "request": request["request"], "accept": True}
    )
    visitor.receive("participant_answered", accept=True)
    invitation = psychologist.locator("#invitations li.invitation")
    invitation.wait_for()
    assert "Violences conjugales" in invitation.inner_text()
    shot(psychologist, "06-invitation")
    check_accessibility(psychologist, "console invitation")
    invitation.get_by_role("button", name="Rejoindre").click()
    psychologist.locator(f"#tab-{conversation_id}").wait_for()
    psychologist.locator("#invitations-panel").wait_for(state="hidden")
    visitor.receive("joined", role="psychologist", name="Psychologue 3")
    psy_panel = psychologist.locator(f"#panel-{conversation_id}")
    psy_panel.locator("li.from-visitor", has_text="j'ai besoin d'aide").wait_for()
    psy_panel.locator("textarea.text").fill(
        "Bonjour, je suis psychologue, je vous écoute."
    )
    psy_panel.get_by_role("button", name="Envoyer").click()
    heard = visitor.receive("message", **{"from": "psychologist"})
    assert heard["name"] == "Psychologue 3"
    panel.locator("li.from-psychologist").wait_for()
    shot(psychologist, "07-psychologist-joined")

    # 5. A supervisor, in a third context, watches silently and whispers.
    supervisor, supervisor_watch = log_in(
        context_factory, server, "shift-sup", name="08-supervisor"
    )
    board = supervisor.locator("#board-conversations")
    board.locator(f'button.watch[data-conversation="{conversation_id}"]').wait_for()
    shot(supervisor, "09-board")
    check_accessibility(supervisor, "console board")
    board.locator(f'button.watch[data-conversation="{conversation_id}"]').click()
    sup_panel = supervisor.locator(f"#panel-{conversation_id}")
    sup_panel.wait_for(state="attached")
    supervisor.locator(f"#tab-{conversation_id}").click()
    sup_panel.locator("li.from-visitor", has_text="j'ai besoin d'aide").wait_for()
    sup_panel.get_by_label("Chuchotement (équipe seulement)").check()
    sup_panel.locator("textarea.text").fill("Pensez à proposer le 3919.")
    sup_panel.locator("textarea.text").press("Control+Enter")
    panel.locator("li.whisper", has_text="3919").wait_for()
    shot(supervisor, "10-supervisor-whisper")
    shot(operator, "11-operator-sees-whisper")
    leaked = visitor.drain(0.8)
    assert "3919" not in json.dumps(leaked), leaked
    assert not any(frame.get("role") == "supervisor" for frame in leaked), leaked

    # 6. The operator closes with a required outcome and categories.
    panel.get_by_role("button", name="Clore").click()
    dialog = operator.locator("#dlg-close")
    dialog.get_by_role("button", name="Clore").click()
    dialog.locator("#close-error", has_text="issue").wait_for()
    dialog.get_by_label("Orientation").check()
    dialog.get_by_label("violences conjugales").check()
    shot(operator, "12-close")
    check_accessibility(operator, "close dialog")
    dialog.get_by_role("button", name="Clore").click()
    assert visitor.receive("closed")["reason"] == "closed_by_operator"
    operator.locator(f"#tab-{conversation_id}").wait_for(state="detached")
    psychologist.locator(f"#tab-{conversation_id}").wait_for(state="detached")
    shot(operator, "13-closed")

    for watch in (operator_watch, psychologist_watch, supervisor_watch):
        assert watch.errors == [], watch.errors
    visitor.close()

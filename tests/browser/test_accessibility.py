"""Accessibility of both faces (WCAG 2.1 AA / RGAA 4.1), in Debian's Chromium.

Every screen of the visitor page and of the console is checked by axe-core
(wcag2a, wcag2aa, wcag21a, wcag21aa and best-practice rules) in four
emulations, and any violation of any impact fails:

- ``default``: a laptop window;
- ``320``: a 320 px wide phone (SC 1.4.10);
- ``400``: 400 % zoom on a 1280 × 1024 screen, that is a 320 × 256 CSS
  viewport (SC 1.4.4, 1.4.10);
- ``forced``: forced colours (Windows high contrast).

One page is driven through each journey and re-measured in every emulation
at each screen, so the file stays quick. At 320 px and 400 % the page must
not scroll sideways, and a screenshot is kept in
``test-artifacts/screenshots/a11y-*.png``. The keyboard journeys assert where
focus is after each step; the Escape tests check that Escape closes what is
open before it ever leaves the page.
"""

import json
import re
import time
import uuid
from binascii import unhexlify
from typing import Any
from urllib.parse import urlsplit

import pytest
from django_otp.oath import totp
from websockets.sync.client import ClientConnection, connect

from tests.browser.conftest import (
    AXE,
    AXE_RESULTS,
    EXIT_URL,
    SCREENSHOTS,
    PageWatch,
    run_manage,
)

pytestmark = pytest.mark.browser

expect = pytest.importorskip(
    "playwright.sync_api", reason="BROWSER SKIPPED: playwright is not installed"
).expect
expect.set_options(timeout=10_000)

LAPTOP = {"width": 1280, "height": 800}
EMULATIONS = {
    "default": {"viewport": LAPTOP, "forced": "none"},
    "320": {"viewport": {"width": 320, "height": 640}, "forced": "none"},
    "400": {"viewport": {"width": 320, "height": 256}, "forced": "none"},
    "forced": {"viewport": LAPTOP, "forced": "active"},
}
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
PLACE = "Votre ville ou votre code postal"

ACCOUNTS = {
    # username: (password, hex TOTP key, pseudonym, roles)
    "a11y-op": ("op-a11y-password-1", "44" * 20, "Opérateur 40", ["operator"]),
    "a11y-sup": ("sup-a11y-password-1", "55" * 20, "Superviseur 41", ["supervisor"]),
    "a11y-chat": ("chat-a11y-password-1", "66" * 20, "Opératrice 42", ["operator"]),
    "a11y-psy": ("psy-a11y-password-1", "77" * 20, "Psychologue 43", ["psychologist"]),
}
COOKIE = """
from django.contrib.auth.models import User
from tests.factories import make_session_cookie
print(make_session_cookie(User.objects.get(username="a11y-chat")).decode())
"""
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


# -- measuring ----------------------------------------------------------------


def axe_violations(page: Any) -> list[dict[str, Any]]:
    if not page.evaluate("() => Boolean(window.axe)"):
        page.evaluate(AXE.read_text())
    return page.evaluate(
        """async (tags) => {
            const result = await axe.run(document, { runOnly: { type: "tag", values: tags } });
            return result.violations.map((v) => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map((n) => n.target.join(" ") + " " + (n.failureSummary || "")).slice(0, 5),
            }));
        }""",
        AXE_TAGS,
    )


def focus_info(page: Any) -> dict[str, Any]:
    """What has focus: id, classes, tag, name, and where it is."""
    return page.evaluate(
        """() => {
            const node = document.activeElement;
            const box = node.getBoundingClientRect();
            return {
                id: node.id, tag: node.tagName.toLowerCase(), cls: node.className || "",
                text: (node.innerText || node.value || "").slice(0, 80),
                label: node.getAttribute("aria-label") || "",
                conversation: node.dataset.conversation || "",
                top: box.top, bottom: box.bottom, left: box.left, right: box.right,
            };
        }"""
    )


def wide(page: Any) -> list[str]:
    """The innermost elements that stick out of the window, for the report."""
    return page.evaluate(
        """() => [...document.querySelectorAll("body *")]
            .filter((node) => node.getBoundingClientRect().right > window.innerWidth + 1)
            .filter((node) => ![...node.children].some((child) => child.getBoundingClientRect().right > window.innerWidth + 1))
            .slice(0, 5)
            .map((node) => `${node.tagName.toLowerCase()}#${node.id}.${node.className}`)"""
    )


def audit(page: Any, screen: str, *, shots: bool = True) -> None:
    """Run axe in every emulation; check reflow; keep screenshots."""
    size = page.viewport_size
    failures = []
    slug = re.sub(r"[^a-z0-9]+", "-", screen.lower()).strip("-")
    AXE_RESULTS.mkdir(parents=True, exist_ok=True)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for name, emulation in EMULATIONS.items():
        page.set_viewport_size(emulation["viewport"])
        page.emulate_media(forced_colors=emulation["forced"])
        page.wait_for_timeout(30)
        violations = axe_violations(page)
        (AXE_RESULTS / f"a11y-{slug}-{name}.json").write_text(
            json.dumps(violations, indent=2)
        )
        if violations:
            failures.append((name, violations))
        if name in ("320", "400"):
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - window.innerWidth"
            )
            if overflow > 0:
                failures.append((name, f"scrolls sideways by {overflow}px", wide(page)))
            if shots:
                page.screenshot(
                    path=str(SCREENSHOTS / f"a11y-{slug}-{name}.png"), full_page=True
                )
    page.emulate_media(forced_colors="none")
    page.set_viewport_size(size)
    assert failures == [], f"{screen}: {json.dumps(failures, indent=1)}"


def tab_until(page: Any, predicate: Any, *, key: str = "Tab", limit: int = 40) -> dict:
    """Press Tab (or Shift+Tab) until what has focus satisfies ``predicate``."""
    for _ in range(limit):
        page.keyboard.press(key)
        info = focus_info(page)
        if predicate(info):
            return info
    raise AssertionError(f"focus never reached the target; last: {info}")


def assert_focus(page: Any, selector: str) -> None:
    """Wait until the element matching ``selector`` has focus."""
    page.wait_for_function(
        "(selector) => document.activeElement && document.activeElement.matches(selector)",
        arg=selector,
        timeout=10_000,
    )


def assert_reachable(page: Any, names: list[str], viewport: dict[str, int]) -> None:
    """Each control scrolls into view, whole, and nothing (a notice, a
    sticky bar) lies on top of it."""
    size = page.viewport_size
    page.set_viewport_size(viewport)
    width, height = viewport["width"], viewport["height"]
    for name in names:
        control = page.get_by_role("button", name=re.compile(f"^{re.escape(name)}"))
        if not control.count():
            control = page.get_by_label(name, exact=True)
        control = control.locator("visible=true").first
        control.scroll_into_view_if_needed()
        box = control.bounding_box()
        assert box is not None, name
        assert box["x"] >= 0 and box["x"] + box["width"] <= width + 1, (name, box)
        assert box["y"] >= 0 and box["y"] + box["height"] <= height + 1, (name, box)
        on_top = control.evaluate(
            """(node) => {
                const box = node.getBoundingClientRect();
                const hit = document.elementFromPoint(box.x + box.width / 2, box.y + box.height / 2);
                return node === hit || node.contains(hit) || (node.labels && [...node.labels].some((l) => l.contains(hit)));
            }"""
        )
        assert on_top, f"{name} is covered"
    page.set_viewport_size(size)


def forced_colours_tell_apart(page: Any, chosen: str, other: str) -> None:
    """In forced colours the chosen item does not look like the others."""
    page.emulate_media(forced_colors="active")
    looks = page.evaluate(
        """([chosen, other]) => [chosen, other].map((selector) => {
            const style = getComputedStyle(document.querySelector(selector));
            return [style.backgroundColor, style.color, style.borderTopWidth,
                    style.borderTopColor, style.outlineStyle].join(" ");
        })""",
        [chosen, other],
    )
    page.emulate_media(forced_colors="none")
    assert looks[0] != looks[1], looks


def contrast(first: str, second: str) -> float:
    """WCAG contrast ratio of two computed ``rgb(...)`` colours."""

    def luminance(colour: str) -> float:
        channels = [int(value) / 255 for value in re.findall(r"\d+", colour)[:3]]
        linear = [
            c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
            for c in channels
        ]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    light, dark = sorted((luminance(first), luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def assert_console_contrast(page: Any) -> None:
    """SC 1.4.11: field borders and the focus ring on the dark top bar."""
    colours = page.evaluate(
        """() => {
            const style = (node) => getComputedStyle(node);
            const field = document.querySelector("#language");
            const logout = document.querySelector(".logout button");
            logout.focus();
            return {
                border: style(field).borderTopColor,
                panel: style(field.closest(".side")).backgroundColor,
                ring: style(logout).outlineColor,
                ringShown: logout.matches(":focus-visible"),
                bar: style(document.querySelector(".topbar")).backgroundColor,
            };
        }"""
    )
    assert contrast(colours["border"], colours["panel"]) >= 3, colours
    assert colours["ringShown"], colours
    assert contrast(colours["ring"], colours["bar"]) >= 3, colours


# -- the other side, over the protocol -------------------------------------------


class Socket:
    """A raw protocol socket: a visitor on /ws/chat/ or staff on /ws/console/."""

    def __init__(self, base_url: str, path: str, cookie: str = "") -> None:
        headers = {"Cookie": cookie} if cookie else {}
        self.ws: ClientConnection = connect(
            base_url.replace("http://", "ws://") + path,
            origin=base_url,
            additional_headers=headers,
            proxy=None,
            open_timeout=5,
            legacy=True,
        )

    def send(self, frame: dict[str, Any]) -> None:
        self.ws.send(json.dumps(frame))

    def receive(
        self, frame_type: str, timeout: float = 10, **match: Any
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {frame_type!r} {match} in {timeout}s")
            try:
                frame = json.loads(self.ws.recv(timeout=remaining))
            except TimeoutError:
                continue
            if frame.get("type") == frame_type and all(
                frame.get(key) == value for key, value in match.items()
            ):
                return frame

    def close(self) -> None:
        self.ws.close()


@pytest.fixture
def accounts(browser_env: dict[str, Any], server: Any) -> dict[str, Any]:
    run_manage(
        browser_env["env"], "manage.py", "shell", "-c", SEED.format(accounts=ACCOUNTS)
    )
    return ACCOUNTS


def login_page(context_factory: Any, server: Any) -> tuple[Any, PageWatch]:
    page = context_factory(LAPTOP).new_page()
    watch = PageWatch()
    watch.attach(page)
    page.goto(server.url + "/console/")
    assert page.url.endswith("/console/login/")
    return page, watch


def log_in_by_keyboard(page: Any, server: Any, username: str) -> None:
    """Identifier, Tab, password, Tab, code, Enter: focus checked each step."""
    password, key, _pseudonym, _roles = ACCOUNTS[username]
    assert_focus(page, "#id_username")
    page.keyboard.type(username)
    page.keyboard.press("Tab")
    assert_focus(page, "#id_password")
    page.keyboard.type(password)
    page.keyboard.press("Tab")
    assert_focus(page, "#id_code")
    page.keyboard.type(f"{totp(unhexlify(key)):06d}")
    page.keyboard.press("Enter")
    page.wait_for_url(server.url + "/console/", timeout=10_000)
    page.locator("#status").filter(has_text="Connecté").wait_for()


# -- the visitor page ---------------------------------------------------------------


def test_visitor_screens_keyboard_and_escape(
    context_factory, server, browser_env, accounts
):
    """Landing, list, errors, choices, closed, waiting, chat, dialogs, end."""
    context = context_factory(LAPTOP)
    page = context.new_page()
    watch = PageWatch()
    watch.attach(page)
    sockets: list[Any] = []
    started: list[dict[str, Any]] = []

    def proxy(route: Any) -> None:
        upstream = route.connect_to_server()

        def from_server(message: str | bytes) -> None:
            frame = json.loads(message)
            if frame.get("type") == "started":
                started.append(frame)
            route.send(message)

        upstream.on_message(from_server)
        sockets.append(route)

    page.route_web_socket(re.compile(r"/ws/chat/$"), proxy)

    page.goto(server.url + "/?lang=en")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    audit(page, "visitor landing en")
    page.goto(server.url + "/?lang=fr")
    audit(page, "visitor landing fr")

    # Errors: empty, then unknown; the field in error gets the focus.
    page.get_by_role("button", name="Commencer la conversation").click()
    expect(page.locator("#place-error")).to_be_visible()
    assert_focus(page, "#place")
    audit(page, "visitor error empty place", shots=False)
    page.get_by_label(PLACE).fill("Zzzzville")
    page.get_by_role("button", name="Commencer la conversation").click()
    expect(page.locator("#place-error")).to_have_text(re.compile("Nous ne trouvons"))
    audit(page, "visitor error unknown place")

    # The suggestion list, open; Escape closes it and does not leave.
    place = page.get_by_label(PLACE)
    place.fill("")
    place.press_sequentially("Saint", delay=20)
    expect(page.locator("#place-list")).to_be_visible()
    page.keyboard.press("ArrowDown")
    expect(place).to_have_attribute("aria-activedescendant", "place-option-0")
    forced_colours_tell_apart(page, "#place-option-0", "#place-option-1")
    audit(page, "visitor list open")
    page.keyboard.press("Escape")
    expect(page.locator("#place-list")).to_be_hidden()
    expect(place).to_have_attribute("aria-expanded", "false")
    assert urlsplit(page.url).netloc == urlsplit(server.url).netloc
    assert_focus(page, "#place")

    # Ambiguous: the choices name each commune fully, never an empty slot.
    place.fill("33160")
    page.get_by_role("button", name="Commencer la conversation").click()
    choices = page.locator("#place-choices").get_by_role("button")
    expect(choices).to_have_count(2)
    for text in choices.all_inner_texts():
        assert re.fullmatch(r"[^()]+ \(\d{5}, \d{2}\)", text), text
    assert_focus(page, "#place-choices button")
    audit(page, "visitor ambiguous choices")

    # Closed service.
    place.fill("75011")
    page.get_by_role("button", name="Commencer la conversation").click()
    expect(page.get_by_role("heading", name="Le service est fermé")).to_be_visible()
    audit(page, "visitor service closed")
    page.get_by_role("button", name="Revenir à l'accueil").click()
    assert_focus(page, "#landing-title")

    # Keyboard only: from the top of the page to the queue.
    page.evaluate("document.activeElement.blur(); window.scrollTo(0, 0)")
    tab_until(page, lambda info: info["id"] == "place")
    page.keyboard.press("Control+a")
    page.keyboard.type("33000")
    expect(page.locator("#place-list")).to_be_visible()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")  # chooses the suggestion, does not submit
    expect(place).to_have_value(re.compile("Bordeaux"))
    assert_focus(page, "#place")
    page.keyboard.press("Tab")
    assert_focus(page, "input[name=role]:checked")
    tab_until(page, lambda info: info["id"] == "start-button")
    page.keyboard.press("Enter")
    expect(
        page.get_by_role("heading", name="Vous êtes en file d'attente")
    ).to_be_visible()
    assert_focus(page, "#waiting-title")
    audit(page, "visitor waiting")

    # An operator takes the conversation; the visitor chats by keyboard.
    cookie = run_manage(browser_env["env"], "manage.py", "shell", "-c", COOKIE)
    operator = Socket(server.url, "/ws/console/", cookie.strip().splitlines()[-1])
    operator.receive("hello")
    conversation = started[-1]["conversation"]
    operator.send({"type": "claim", "conversation": conversation})
    operator.receive("assigned")
    expect(page.locator("#log .notice.joined")).to_be_visible()
    tab_until(page, lambda info: info["id"] == "text")
    assert page.locator("#text").get_attribute("aria-describedby") == "composer-hint"
    page.keyboard.type("Bonjour, j'ai besoin d'aide.")
    page.keyboard.press("Enter")
    expect(page.locator("#log .msg.mine:not(.pending)")).to_have_count(1)
    assert_focus(page, "#text")
    operator.send({"type": "typing", "conversation": conversation, "active": True})
    expect(page.locator("#announcer")).to_have_text(re.compile("écrit"))
    client_id = str(uuid.uuid4())
    operator.send(
        {
            "type": "message",
            "conversation": conversation,
            "id": client_id,
            "text": "Bonjour, je suis là.",
        }
    )
    expect(page.locator("#log .msg.theirs")).to_have_count(1)
    expect(page.locator("#announcer")).to_have_text(re.compile("je suis là"))
    audit(page, "visitor chat")

    # The two questions the server may ask, injected into the real socket;
    # Escape closes each dialog and stays on the page.
    inject = sockets[-1].send
    inject(
        json.dumps(
            {
                "type": "participant_request",
                "request": "p1",
                "role": "psychologist",
                "text": "Une psychologue peut-elle vous rejoindre ?",
            }
        )
    )
    expect(page.locator("#participant-dialog")).to_be_visible()
    assert_focus(page, "#participant-dialog [data-action=participant-accept]")
    audit(page, "visitor participant dialog")
    page.keyboard.press("Escape")
    expect(page.locator("#participant-dialog")).to_be_hidden()
    assert urlsplit(page.url).netloc == urlsplit(server.url).netloc
    inject(
        json.dumps(
            {
                "type": "consent_request",
                "request": "c1",
                "text": "Acceptez-vous de transmettre vos coordonnées ?",
            }
        )
    )
    expect(page.locator("#consent-dialog")).to_be_visible()
    audit(page, "visitor consent dialog", shots=False)
    page.keyboard.press("Enter")  # "J'accepte": the form
    assert_focus(page, "#contact-name")
    audit(page, "visitor consent form")
    page.keyboard.press("Escape")
    expect(page.locator("#consent-dialog")).to_be_hidden()
    assert urlsplit(page.url).netloc == urlsplit(server.url).netloc

    # Set aside, not lost: each question can be asked again from the log.
    reopen = page.get_by_role("button", name="Répondre à la question")
    expect(reopen).to_have_count(2)
    reopen.last.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#consent-dialog")).to_be_visible()
    assert_focus(page, "#consent-dialog [data-action=consent-accept]")
    expect(reopen).to_have_count(1)
    page.keyboard.press("Escape")
    expect(reopen).to_have_count(2)
    inject(json.dumps({"type": "participant_request_cancelled", "request": "p1"}))
    expect(reopen).to_have_count(1)
    expect(page.locator("#announcer")).to_have_text(re.compile("retirée"))

    # Leaving by keyboard: "Terminer", Escape (stays), again, confirm.
    tab_until(page, lambda info: info["id"] == "leave-button", key="Shift+Tab")
    page.keyboard.press("Enter")
    expect(page.locator("#leave-dialog")).to_be_visible()
    assert_focus(page, "#leave-dialog [data-action=cancel-dialog]")
    audit(page, "visitor leave dialog")
    page.keyboard.press("Escape")
    expect(page.locator("#leave-dialog")).to_be_hidden()
    assert_focus(page, "#leave-button")
    assert urlsplit(page.url).netloc == urlsplit(server.url).netloc
    page.keyboard.press("Enter")
    page.keyboard.press("Shift+Tab")
    assert_focus(page, "#leave-dialog [data-action=confirm-leave]")
    page.keyboard.press("Enter")
    expect(
        page.get_by_role("heading", name="La conversation est terminée")
    ).to_be_visible()
    assert_focus(page, "#end-title")
    audit(page, "visitor end")
    operator.close()

    # Nothing open: Escape is the quick exit.
    with page.expect_navigation(url=EXIT_URL):
        page.keyboard.press("Escape")
    assert watch.errors == [], watch.errors


def assert_focus_in_view(page: Any, height: int) -> dict[str, Any]:
    """What has focus is inside the window and nothing (the sticky header)
    lies on top of it."""
    info = focus_info(page)
    assert info["bottom"] <= height + 1 and info["top"] >= -1, info
    covered_by = page.evaluate(
        """() => {
            const node = document.activeElement;
            const box = node.getBoundingClientRect();
            const hit = document.elementFromPoint(box.x + box.width / 2, box.y + box.height / 2);
            if (!hit || node.contains(hit) || hit.contains(node)) return null;
            if (node.labels && [...node.labels].some((label) => label.contains(hit))) return null;
            return hit.className || hit.tagName;
        }"""
    )
    assert covered_by is None, (info, covered_by)
    return info


@pytest.mark.parametrize(
    "viewport",
    [{"width": 320, "height": 256}, {"width": 360, "height": 740}],
    ids=["400-percent", "phone"],
)
def test_visitor_focus_never_hidden(context_factory, server, viewport):
    """Tab down the landing page and Shift+Tab back up: every focused
    control is on screen, never under the header."""
    page = context_factory(viewport).new_page()
    page.goto(server.url + "/")
    for _ in range(30):
        page.keyboard.press("Tab")
        if assert_focus_in_view(page, viewport["height"])["id"] == "start-button":
            break
    assert focus_info(page)["id"] == "start-button"
    for _ in range(30):
        page.keyboard.press("Shift+Tab")
        if assert_focus_in_view(page, viewport["height"])["id"] == "place":
            break
    assert focus_info(page)["id"] == "place"
    # The page itself is never wider than the window.
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]


# -- the console -------------------------------------------------------------------


def test_console_screens_keyboard_and_escape(context_factory, server, accounts):
    """Login (with and without error), empty, queue, conversation, dialogs,
    board and canned editor; an operator's whole turn by keyboard."""
    # The login page, then a refused login: the error is tied to the field,
    # which has focus.
    page, watch = login_page(context_factory, server)
    audit(page, "console login")
    page.get_by_label("Identifiant").fill("a11y-op")
    page.get_by_label("Mot de passe").fill("not-the-password")
    page.get_by_label("Code de l'application d'authentification").fill("12")
    page.get_by_role("button", name="Se connecter").click()
    code = page.get_by_label("Code de l'application d'authentification")
    expect(code).to_have_attribute("aria-invalid", "true")
    described = code.get_attribute("aria-describedby")
    expect(page.locator(f"#{described}")).to_be_visible()
    assert_focus(page, "#id_code")
    audit(page, "console login field error")
    page.get_by_label("Mot de passe").fill("not-the-password")
    code.fill("123456")
    page.get_by_role("button", name="Se connecter").click()
    expect(page.locator("#login-error")).to_be_visible()
    username = page.get_by_label("Identifiant")
    expect(username).to_have_attribute("aria-describedby", "login-error")
    assert_focus(page, "#id_username")
    audit(page, "console login refused")

    # The two refusals answered 400, as they should: not script errors.
    assert all("400" in error for error in watch.errors), watch.errors
    watch.errors.clear()

    # Keyboard login; the console with nothing to do.
    page.goto(server.url + "/console/login/")
    log_in_by_keyboard(page, server, "a11y-op")
    expect(page.get_by_role("heading", level=1)).to_have_count(1)
    expect(page.locator("#tabs")).to_be_hidden()
    # The first Tab reaches a skip link to the work area.
    page.evaluate("document.activeElement.blur()")
    page.keyboard.press("Tab")
    assert_focus(page, "a.skip-link")
    page.keyboard.press("Enter")
    assert_focus(page, "#work")
    assert_console_contrast(page)
    audit(page, "console empty")

    # A visitor waits: the queue says so in words.
    visitor = Socket(server.url, "/ws/chat/")
    visitor.send({"type": "start", "place": "33000", "role": "victim"})
    conversation = visitor.receive("started")["conversation"]
    item = page.locator(f'button.queue-item[data-conversation="{conversation}"]')
    item.wait_for()
    expect(page.locator("#live-polite")).to_have_text("Nouvelle personne en attente")
    audit(page, "console queue")

    # Claim with Enter: focus lands in the new tab's composer.
    page.keyboard.press("Alt+q")
    info = focus_info(page)
    if info["conversation"] != conversation:
        tab_until(page, lambda info: info["conversation"] == conversation)
    page.keyboard.press("Enter")
    panel = page.locator(f"#panel-{conversation}")
    assert_focus(page, f"#panel-{conversation} textarea.text")
    expect(page.locator("#live-polite")).to_contain_text(
        "Nouvelle conversation attribuée"
    )
    visitor.receive("joined", role="operator")
    visitor.send({"type": "message", "id": str(uuid.uuid4()), "text": "Bonjour ?"})
    panel.locator("li.from-visitor").wait_for()

    # Reply with Ctrl+Enter: focus stays in the composer.
    page.keyboard.type("Bonjour, je vous écoute.")
    page.keyboard.press("Control+Enter")
    assert visitor.receive("message")["text"] == "Bonjour, je vous écoute."
    panel.locator("li.msg.mine:not(.pending)").wait_for()
    assert_focus(page, f"#panel-{conversation} textarea.text")
    history = panel.locator("ol.history")
    expect(history).to_have_attribute("tabindex", "0")
    expect(history).to_have_accessible_name("Historique de la conversation")
    audit(page, "console conversation")
    # A 1366 × 768 laptop at 200 %, and a short application window.
    for viewport in ({"width": 683, "height": 384}, {"width": 1280, "height": 600}):
        assert_reachable(
            page,
            ["Se déconnecter", "Chuchotement (équipe seulement)", "Envoyer", "Clore"],
            viewport,
        )

    # Every dialog: opens with focus inside, passes axe, closes on Escape
    # with focus back on its button.
    for button, dialog, screen in (
        ("Inviter un·e psychologue", "#dlg-invite", "console invite psychologist"),
        ("Inviter un·e collègue", "#dlg-invite", "console invite colleague"),
        ("Transférer", "#dlg-transfer", "console transfer"),
        ("Clore", "#dlg-close", "console close"),
    ):
        opener = panel.get_by_role("button", name=button, exact=True)
        opener.focus()
        page.keyboard.press("Enter")
        expect(page.locator(dialog)).to_be_visible()
        assert page.evaluate(
            "(sel) => document.querySelector(sel).contains(document.activeElement)",
            dialog,
        )
        audit(page, screen)
        page.keyboard.press("Escape")
        expect(page.locator(dialog)).to_be_hidden()
        assert page.evaluate("document.activeElement.textContent.trim()") == button
    assert page.url.startswith(server.url + "/console/")

    # A psychologist is invited, the person accepts, and the psychologist
    # joins by keyboard: focus lands in the new tab's composer.
    psychologist, psychologist_watch = login_page(context_factory, server)
    log_in_by_keyboard(psychologist, server, "a11y-psy")
    panel.get_by_role("button", name="Inviter un·e psychologue").click()
    page.get_by_label("Résumé pour la personne invitée (équipe seulement)").fill(
        "Souhaite parler à une psychologue."
    )
    page.locator("#dlg-invite").get_by_role("button", name="Inviter").click()
    request = visitor.receive("participant_request", role="psychologist")
    visitor.send(
        {"type": "participant_answer", "request": request["request"], "accept": True}
    )
    join = psychologist.get_by_role("button", name="Rejoindre")
    join.wait_for()
    expect(psychologist.locator("#live-polite")).to_contain_text("Invitation")
    audit(psychologist, "console invitation")
    join.focus()
    psychologist.keyboard.press("Enter")
    assert_focus(psychologist, f"#panel-{conversation} textarea.text")
    visitor.receive("joined", role="psychologist")
    psychologist.locator(f"#panel-{conversation}").get_by_role(
        "button", name="Quitter", exact=True
    ).click()
    psychologist.locator(f"#panel-{conversation}").wait_for(state="detached")
    assert psychologist_watch.errors == [], psychologist_watch.errors

    # A supervisor writes a canned answer; the board and the editor.
    supervisor, supervisor_watch = login_page(context_factory, server)
    log_in_by_keyboard(supervisor, server, "a11y-sup")
    supervisor.locator("#board-conversations").wait_for()
    audit(supervisor, "console board")
    supervisor.get_by_label("Titre").fill("Accueil")
    supervisor.get_by_label("Texte", exact=True).fill(
        "Bonjour, vous êtes au bon endroit."
    )
    supervisor.locator(".canned-form").get_by_role("button", name="Enregistrer").click()
    edit = supervisor.get_by_role("button", name="Modifier : Accueil")
    edit.wait_for()
    audit(supervisor, "console canned editor")
    edit.click()
    assert_focus(supervisor, "#canned-title")
    expect(supervisor.get_by_label("Titre")).to_have_value("Accueil")

    # The operator inserts it: arrows browse the list without inserting.
    textarea = panel.locator("textarea.text")
    select = panel.locator("select.canned")
    expect(select.locator("option")).to_have_count(2)
    textarea.focus()
    page.keyboard.press("Tab")
    assert_focus(page, f"#panel-{conversation} select.canned")
    page.keyboard.press("ArrowDown")
    expect(select).not_to_have_value("")
    expect(textarea).to_have_value("")
    page.keyboard.press("Tab")
    assert_focus(page, f"#panel-{conversation} button.canned-insert")
    page.keyboard.press("Enter")
    expect(textarea).to_have_value("Bonjour, vous êtes au bon endroit.")
    assert_focus(page, f"#panel-{conversation} textarea.text")
    page.keyboard.press("Control+Enter")
    visitor.receive("message", text="Bonjour, vous êtes au bon endroit.")

    # The supervisor deletes the answer, after confirming.
    supervisor.once("dialog", lambda dialog: dialog.accept())
    supervisor.get_by_role("button", name="Supprimer : Accueil").click()
    supervisor.get_by_role("button", name="Modifier : Accueil").wait_for(
        state="detached"
    )
    expect(select).to_be_hidden()

    # A second person from the same place: the two tabs get different
    # names; an unread message adds to a tab's name without replacing it.
    # (Meanwhile the supervisor's board is redrawn: focus stays on the
    # button it was on.)
    watch_button = (
        f'#board-conversations button.watch[data-conversation="{conversation}"]'
    )
    supervisor.locator(watch_button).focus()
    rows = supervisor.locator("#board-conversations tr").count()
    second = Socket(server.url, "/ws/chat/")
    second.send({"type": "start", "place": "33000", "role": "victim"})
    other = second.receive("started")["conversation"]
    page.locator(f'button.queue-item[data-conversation="{other}"]').wait_for()
    expect(supervisor.locator("#board-conversations tr")).to_have_count(rows + 1)
    assert_focus(supervisor, watch_button)
    page.keyboard.press("Alt+q")
    if focus_info(page)["conversation"] != other:
        tab_until(page, lambda info: info["conversation"] == other)
    page.keyboard.press("Enter")
    assert_focus(page, f"#panel-{other} textarea.text")
    names = [
        tab.evaluate("(node) => node.textContent.trim()")
        for tab in page.get_by_role("tab").all()
    ]
    assert len(names) == 2 and len(set(names)) == 2, names
    forced_colours_tell_apart(
        page, "[role=tab][aria-selected=true]", "[role=tab][aria-selected=false]"
    )
    visitor.send({"type": "message", "id": str(uuid.uuid4()), "text": "Encore là ?"})
    first_tab = page.locator(f"#tab-{conversation}")
    expect(first_tab).to_have_accessible_name(
        re.compile(r"^33000 Bordeaux · victime\s*, 1 non lu\(s\)$")
    )

    # Requeue by keyboard: focus goes to the tab shown instead.
    page.locator(f"#panel-{other}").get_by_role(
        "button", name="Remettre en file"
    ).focus()
    page.keyboard.press("Enter")
    page.locator(f"#panel-{other}").wait_for(state="detached")
    assert_focus(page, f"#panel-{conversation} textarea.text")
    expect(page.locator("#live-polite")).to_contain_text("Conversation rendue")
    # Leave nothing waiting for the next test's "take the next one".
    second.send({"type": "leave"})
    second.receive("closed")
    second.close()

    # Close with an outcome, by keyboard: focus goes back to the queue.
    panel.get_by_role("button", name="Clore", exact=True).focus()
    page.keyboard.press("Enter")
    dialog = page.locator("#dlg-close")
    expect(dialog).to_be_visible()
    assert_focus(page, "#dlg-close input[name=outcome]")
    # "Clore" with no outcome: the error is said and focus is on the choice.
    tab_until(page, lambda info: info["text"] == "Clore")
    page.keyboard.press("Enter")
    expect(dialog.locator("#close-error")).to_have_text("Choisissez une issue.")
    assert_focus(page, "#dlg-close input[name=outcome][value=report]")
    page.keyboard.press("ArrowDown")
    expect(dialog.get_by_label("Orientation")).to_be_checked()
    tab_until(page, lambda info: info["text"] == "Clore")
    page.keyboard.press("Enter")
    assert visitor.receive("closed")["reason"] == "closed_by_operator"
    panel.wait_for(state="detached")
    assert_focus(page, "#claim-next")
    expect(page.locator("#tabs")).to_be_hidden()
    expect(page.locator("#live-polite")).to_contain_text("Conversation terminée")
    audit(page, "console after close")

    visitor.close()
    assert watch.errors == [], watch.errors
    assert supervisor_watch.errors == [], supervisor_watch.errors

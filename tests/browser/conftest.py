"""Browser tests: Debian's Chromium, driven by Playwright, against a real
Daphne process serving a SQLite file prepared for the session.

Nothing is downloaded: the browser is ``/usr/bin/chromium`` and axe-core is
vendored under ``vendor/``. Screenshots go to ``test-artifacts/screenshots``.
"""

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

BASE_DIR = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
SCREENSHOTS = BASE_DIR / "test-artifacts" / "screenshots"
AXE_RESULTS = BASE_DIR / "test-artifacts" / "axe"
PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 800}
EXIT_URL = "https://www.google.com/"
SERVER_START_TIMEOUT_S = 20


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """One Daphne process; ``restart`` kills it and starts another."""

    def __init__(self, env: dict[str, str], port: int, log: Path) -> None:
        self.env = env
        self.port = port
        self.log = log
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    str(BIN / "daphne"),
                    "-v",
                    "0",
                    "--no-server-name",
                    "-b",
                    "127.0.0.1",
                    "-p",
                    str(self.port),
                    "config.asgi:application",
                ],
                cwd=BASE_DIR,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"daphne exited: {self.log.read_text()[-2000:]}")
            try:
                probe = f"{self.url}/favicon.ico"  # always http://127.0.0.1
                with urllib.request.urlopen(probe, timeout=1):  # noqa: S310
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("daphne did not start in time")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def restart(self) -> None:
        self.kill()
        self.start()


def run_manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode:
        raise RuntimeError(f"{args} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def server_environment(root: Path, port: int) -> dict[str, str]:
    """The environment of a test Daphne: its own SQLite file, fixed keys,
    no secrets file, and admission limits lifted (every browser comes from
    127.0.0.1, one client key; the limits are proven in tests/security)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "PYTEST_", "DATABASE_", "REDIS_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=f"sqlite:///{root}/db.sqlite3",
        SECRET_KEY="browser-test-secret-key-0123456789abcdefghij",
        CHANNEL_LAYER_KEYS="browser-layer-key-0123456789abcdef",
        MESSAGE_KEYS="t1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
        AUDIT_CHAIN_SEED="YnJvd3Nlci1hdWRpdC1zZWVkLTAxMjM0NTY3ODlhYmNk",
        AUDIT_SIGNING_KEY="YnJvd3Nlci1zaWduaW5nLWtleS0wMTIzNDU2Nzg5YWJj",
        AUDIT_CHECKPOINT_DIR=str(root / "audit-checkpoints"),
        SECRETS_FILE="/nonexistent",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        CSRF_TRUSTED_ORIGINS=f"http://127.0.0.1:{port}",
        # Short presence timings: a killed server's sockets count as gone
        # quickly, as they would after a real crash.
        RECONCILE_SECONDS="1",
        ATTACHMENTS_DIR=str(root / "attachments"),
        ADMISSION_SOCKETS_PER_CLIENT="100000",
        ADMISSION_STARTS_PER_CLIENT="100000",
        ADMISSION_WRONG_TOKENS_PER_CLIENT="100000",
        QUEUE_CEILING_PER_SERVICE="100000",
    )
    return env


def prepare_browser_env(root: Path, seed_module: str) -> dict[str, Any]:
    """A database file seeded by ``seed_module``, and the static files."""
    port = free_port()
    env = server_environment(root, port)
    seed = json.loads(run_manage(env, "-m", seed_module).strip().splitlines()[-1])
    run_manage(env, "manage.py", "collectstatic", "--noinput", "--verbosity", "0")
    return {"env": env, "port": port, "root": root, **seed}


def serve(browser_env: dict[str, Any]) -> Iterator[Server]:
    """A Daphne on that database for as long as the fixture lives."""
    live = Server(
        browser_env["env"], browser_env["port"], browser_env["root"] / "daphne.log"
    )
    live.start()
    yield live
    live.kill()


@pytest.fixture(scope="session")
def browser_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Prepare the database file and the static files, once."""
    return prepare_browser_env(tmp_path_factory.mktemp("browser"), "tests.browser.seed")


@pytest.fixture(scope="session")
def server(browser_env: dict[str, Any]) -> Iterator[Server]:
    yield from serve(browser_env)


# Module scope, not session: while Playwright's sync API runs, its event
# loop counts as running in this thread, and the asyncio tests of the other
# modules could not start theirs.
@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"BROWSER SKIPPED: {CHROMIUM} is not installed")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as error:
        pytest.skip(f"BROWSER SKIPPED: playwright is not installed ({error})")
    manager = sync_playwright().start()
    try:
        browser = manager.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    except Exception as error:  # noqa: BLE001 - any launch failure skips
        manager.stop()
        pytest.skip(f"BROWSER SKIPPED: chromium did not start ({error})")
    yield browser
    browser.close()
    manager.stop()


class PageWatch:
    """What a page did: requests, CSP violations, script errors."""

    def __init__(self) -> None:
        self.requests: list[Any] = []
        self.errors: list[str] = []

    def attach(self, page: Any) -> None:
        page.on("request", lambda request: self.requests.append(request))
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on(
            "console",
            lambda message: (
                message.type == "error" and self.errors.append(message.text)
            ),
        )


@pytest.fixture
def context_factory(chromium: Any, server: Server) -> Iterator[Any]:
    contexts = []

    def make(viewport: dict[str, int] = PHONE, **options: Any) -> Any:
        context = chromium.new_context(
            viewport=viewport,
            locale="fr-FR",
            service_workers="block",
            **options,
        )
        # The quick-exit target is on the internet, which tests cannot reach.
        context.route(
            "https://www.google.com/**",
            lambda route: route.fulfill(
                status=200, content_type="text/html", body="<title>Google</title>"
            ),
        )
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def visitor(context_factory: Any, server: Server) -> Iterator[tuple[Any, PageWatch]]:
    """A phone-sized page on the visitor page, watched."""
    page = context_factory(PHONE).new_page()
    watch = PageWatch()
    watch.attach(page)
    page.goto(server.url + "/")
    yield page, watch
    assert watch.errors == [], watch.errors


def screenshot(page: Any, name: str) -> None:
    """Save the page at phone and desktop sizes, then restore its size."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size
    # Full-page captures show sticky parts where the scroll left them.
    page.evaluate("window.scrollTo(0, 0)")
    for label, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
        page.set_viewport_size(viewport)
        page.wait_for_timeout(50)
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{label}.png"), full_page=True)
    page.set_viewport_size(size)


def check_accessibility(page: Any, screen: str) -> list[dict[str, Any]]:
    """Run axe-core in the page; fail on any serious or critical violation.

    The script is evaluated through the DevTools protocol, which the page's
    Content-Security-Policy does not govern, so the page keeps its real
    policy during the check.
    """
    if not page.evaluate("() => Boolean(window.axe)"):
        page.evaluate(AXE.read_text())
    result = page.evaluate(
        """async () => {
            const result = await axe.run(document, {
                runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] },
            });
            return result.violations.map((v) => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map((n) => n.target.join(" ")).slice(0, 5),
            }));
        }"""
    )
    AXE_RESULTS.mkdir(parents=True, exist_ok=True)
    slug = re.sub(r"[^a-z0-9]+", "-", screen.lower()).strip("-")
    (AXE_RESULTS / f"{slug}.json").write_text(json.dumps(result, indent=2))
    blocking = [v for v in result if v["impact"] in ("serious", "critical")]
    assert blocking == [], f"{screen}: {blocking}"
    return result

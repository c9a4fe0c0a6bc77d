import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller

from django.test import Client

CONSENT_TEXT = (
    "J'accepte que mes coordonnées et un résumé de ce que j'ai confié soient "
    "transmis au commissariat ou à la brigade compétente, qui pourra me recontacter."
)


@pytest.fixture(autouse=True)
def checkpoint_dir(settings, tmp_path):
    """Give each test its own checkpoint folder, outside the database."""
    settings.AUDIT_CHECKPOINT_DIR = tmp_path / "audit-checkpoints"
    return settings.AUDIT_CHECKPOINT_DIR


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class MailSink:
    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope)
        return "250 OK"


class SmtpServer:
    """A real SMTP server on loopback (aiosmtpd) that can go down and back."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sink = MailSink()
        self.controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(self.sink, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp(settings):
    server = SmtpServer(free_port())
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = server.port
    settings.EMAIL_TIMEOUT = 5
    server.start()
    yield server
    server.stop()


class WebhookServer:
    """A real HTTP server on loopback recording every request."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.status = 200
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                outer.requests.append(
                    {
                        "path": self.path,
                        "headers": dict(self.headers.items()),
                        "body": self.rfile.read(length),
                    }
                )
                self.send_response(outer.status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/reports"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook(settings):
    settings.REPORT_WEBHOOK_ALLOW_HTTP = True
    server = WebhookServer()
    yield server
    server.close()


def staff_client(user) -> Client:
    """A browser-like client with a verified (two-factor) console session."""
    from tests.factories import make_session_cookie

    client = Client()
    client.cookies["sessionid"] = make_session_cookie(user).decode().split("=", 1)[1]
    return client


def make_escalation_world(**unit_fields):
    """A service with a consent text, Bordeaux, and its police unit."""
    from chat.models import ConsentText
    from escalation.models import Unit
    from tests.factories import make_commune, make_service

    service = make_service("national")
    make_commune()
    ConsentText.objects.create(
        service=service, version="2026-1", lang="fr", text=CONSENT_TEXT
    )
    fields = {
        "name": "Commissariat de Bordeaux (démo)",
        "force": "PN",
        "communes": ["33063"],
        "method": "email",
        "address": "bordeaux@unit.test",
    }
    fields.update(unit_fields)
    unit = Unit.objects.create(**fields)
    Unit.objects.create(
        name="Brigade de Mérignac (démo)",
        force="GN",
        departments=["33"],
        method="email",
        address="merignac@unit.test",
    )
    return service, unit


def json_of(body: bytes) -> dict:
    return json.loads(body.decode())

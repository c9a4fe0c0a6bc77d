"""``/healthz`` and ``/readyz``, and one quiet line for a foreign Host."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from django.test import override_settings

ROOT = Path(__file__).resolve().parents[1]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.django_db
def test_healthz_answers_without_session_or_host_check(client):
    response = client.get("/healthz", HTTP_HOST="10.1.2.3:8001")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["Cache-Control"] == "no-store"
    assert not response.cookies


@pytest.mark.django_db
def test_readyz_reports_database_and_channel_layer(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": True, "channel_layer": True}


@pytest.mark.django_db
def test_readyz_is_503_when_the_channel_layer_does_not_answer(client, caplog):
    layer = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [f"redis://127.0.0.1:{closed_port()}/0"]},
        }
    }
    with override_settings(CHANNEL_LAYERS=layer):
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "database": True,
        "channel_layer": False,
    }
    # One line naming the failure, no address in it.
    messages = [r.getMessage() for r in caplog.records if r.name == "config.health"]
    assert messages == ["readyz: channel layer unavailable (ConnectionError)"]


def test_probes_only_answer_get_and_head(client):
    assert client.head("/healthz").status_code == 200
    assert client.post("/healthz").status_code != 200


FOREIGN_HOST = r"""
import django
django.setup()
from django.test import Client
response = Client(raise_request_exception=False).get("/", HTTP_HOST="evil.example")
print("status", response.status_code)
"""


def test_foreign_host_header_logs_one_line():
    environment = os.environ | {
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "SECRET_KEY": "health-test-secret-key-0123456789-0123456789",
        "CHANNEL_LAYER_KEYS": "health-layer-key-0123456789",
        "MESSAGE_KEYS": "h1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
        "SECRETS_FILE": "/nonexistent",
        "DATABASE_URL": "sqlite:///:memory:",
        "PYTHONWARNINGS": "ignore",
    }
    result = subprocess.run(
        [sys.executable, "-c", FOREIGN_HOST],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "status 400" in result.stdout, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "django.security.DisallowedHost" in lines[0]
    assert "Invalid HTTP_HOST header: 'evil.example'" in lines[0]
    assert "Traceback" not in result.stderr

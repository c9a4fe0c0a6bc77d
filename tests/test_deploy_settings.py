"""The documented production environment (deploy/ecoute.env) holds up.

Settings are read once, from the environment, at start-up: each check runs
in a child process given exactly that environment (secrets generated as
docs/deployment.md says), never the test settings.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

from config.secrets import generate_secrets

ROOT = Path(__file__).resolve().parents[1]
ENV_FILE = ROOT / "deploy/ecoute.env"


def production_environment(**overrides: str) -> dict[str, str]:
    """deploy/ecoute.env, with fresh secrets where it says GENERATE-ME."""
    values: dict[str, str] = {}
    for line in ENV_FILE.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, _, value = line.partition("=")
        values[name.strip()] = value.strip()
    secrets = generate_secrets()
    for name, value in values.items():
        if name in secrets:
            assert value == "GENERATE-ME", name
            values[name] = secrets[name]
    values["DATABASE_URL"] = "sqlite:///:memory:"
    keep = {"PATH", "HOME", "LANG", "PYTHONPATH", "TMPDIR"}
    environment = {k: v for k, v in os.environ.items() if k in keep}
    return environment | values | overrides


def run_python(code: str, environment: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_documented_environment_passes_check_deploy():
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "check",
            "--deploy",
            "--fail-level",
            "WARNING",
        ],
        cwd=ROOT,
        env=production_environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout, result.stdout + result.stderr


def test_without_the_tls_settings_check_deploy_complains():
    """The check is real: the same environment without HSTS fails it."""
    environment = production_environment(SECURE_HSTS_SECONDS="0")
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "security.W004" in result.stderr + result.stdout


PROBE = r"""
import json
import django
django.setup()
from django.core.management import call_command
from django.test import Client
from django.contrib.auth import get_user_model
from django_otp.plugins.otp_totp.models import TOTPDevice

call_command("migrate", verbosity=0)
out = {}
host = {"HTTP_HOST": "chat.example.org"}
anonymous = Client()
page = anonymous.get("/console/login/", secure=True, **host)
out["login_status"] = page.status_code
out["headers"] = dict(page.headers)
out["cookies"] = {
    name: {key: str(morsel[key]) for key in ("secure", "samesite", "path", "domain",
           "max-age", "expires", "httponly")}
    for name, morsel in page.cookies.items()
}
out["plain_http"] = [anonymous.get("/console/login/", **host).status_code,
                     anonymous.get("/console/login/", **host).headers.get("Location")]
out["probe"] = anonymous.get("/healthz", HTTP_HOST="10.0.0.7:8001").status_code

user = get_user_model().objects.create_user("ada", password="x" * 20, is_staff=True)
TOTPDevice.objects.create(user=user, name="default", confirmed=True)
staff = Client()
staff.force_login(user)
session = staff.get("/console/keepalive/", secure=True, **host)
out["session_cookies"] = {
    name: {key: str(morsel[key]) for key in ("secure", "samesite", "path", "domain",
           "httponly")}
    for name, morsel in session.cookies.items()
}
print("@@" + json.dumps(out))
"""


def test_production_cookies_and_headers():
    result = run_python(PROBE, production_environment())
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.split("@@", 1)[1])

    assert out["login_status"] == 200
    headers = out["headers"]
    assert headers["Strict-Transport-Security"] == (
        "max-age=63072000; includeSubDomains; preload"
    )
    policy = headers["Permissions-Policy"]
    for feature in ("camera=()", "microphone=()", "geolocation=()", "payment=()"):
        assert feature in policy, policy

    csrf = out["cookies"]["__Host-csrftoken"]
    assert csrf["secure"] == "True"
    assert csrf["samesite"] == "Strict"
    assert csrf["path"] == "/"
    assert csrf["domain"] == ""
    # Lasts the browser session: no Max-Age, no Expires.
    assert csrf["max-age"] == "" and csrf["expires"] == ""
    assert "csrftoken" not in out["cookies"]

    session = out["session_cookies"]["__Host-sessionid"]
    assert session["secure"] == "True"
    assert session["samesite"] == "Strict"
    assert session["httponly"] == "True"
    assert session["path"] == "/"
    assert session["domain"] == ""

    # Plain HTTP is sent to HTTPS; the probes answer whatever the Host.
    assert out["plain_http"] == [301, "https://chat.example.org/console/login/"]
    assert out["probe"] == 200


def test_demo_keeps_plain_cookie_names():
    """Without TLS (the local demo) the __Host- prefix would be refused."""
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.SESSION_COOKIE_NAME, settings.CSRF_COOKIE_NAME, "
        "settings.SECURE_SSL_REDIRECT, settings.SECURE_HSTS_SECONDS)"
    )
    environment = production_environment(
        SECURE_COOKIES="0", SECURE_SSL_REDIRECT="0", SECURE_HSTS_SECONDS="0"
    )
    result = run_python(code, environment)
    assert result.stdout.split() == ["sessionid", "csrftoken", "False", "0"]

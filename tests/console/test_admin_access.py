"""The demo administrator and ``add_totp_device`` open ``/admin/``."""

import io
import re

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice

from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import Client

from tests.console.test_auth import current_code

pytestmark = pytest.mark.django_db


def next_code(device: TOTPDevice) -> str:
    device.refresh_from_db()
    return current_code(device, offset_steps=1)


def admin_login(client: Client, username: str, password: str, code: str):
    """Log in at /admin/login/ as a person does with django-otp's form.

    The first post (password and code) makes the page list the account's
    devices; the person picks theirs and posts again.
    """
    fields = {"username": username, "password": password, "otp_token": code}
    first = client.post("/admin/login/?next=/admin/", fields)
    if first.status_code != 200:
        return first
    choices = first.context["form"].fields["otp_device"].widget.choices
    if not choices:
        return first
    device_id = choices[-1][0]
    return client.post("/admin/login/?next=/admin/", fields | {"otp_device": device_id})


def test_demo_administrator_is_printed_and_enters_admin(settings, tmp_path):
    # load_demo keeps its passwords under BASE_DIR/var: not the tree's own.
    settings.BASE_DIR = tmp_path
    out = io.StringIO()
    call_command("load_demo", stdout=out)
    printed = out.getvalue()

    match = re.search(r"^  admin +password (\S+) ", printed, re.M)
    assert match, printed
    password = match.group(1)
    block = printed[match.start() :].splitlines()
    secret_line, uri_line = block[1], block[2]
    assert re.fullmatch(r" +TOTP secret [A-Z2-7]{32}", secret_line), secret_line
    assert uri_line.strip().startswith("otpauth://totp/"), uri_line
    assert "/admin/" in block[3]

    admin = User.objects.get(username="admin")
    assert admin.is_staff and admin.is_superuser
    device = TOTPDevice.objects.get(user=admin, confirmed=True)

    client = Client()
    # A password alone opens nothing.
    admin_login(client, "admin", password, "")
    assert client.get("/admin/").status_code == 302
    response = admin_login(client, "admin", password, current_code(device))
    assert response.status_code == 302, response.context["form"].errors
    page = client.get("/admin/")
    assert page.status_code == 200
    assert "/admin/auth/user/" in page.content.decode()

    # The console's own login (one form: password and code) opens it too.
    console = Client()
    console.post(
        "/console/login/",
        # The next time step: a code is accepted once only.
        {"username": "admin", "password": password, "code": next_code(device)},
    )
    assert console.get("/admin/").status_code == 200

    # Running it again keeps the account and prints the same password.
    again = io.StringIO()
    call_command("load_demo", stdout=again)
    assert f"admin         password {password}" in again.getvalue()
    assert User.objects.filter(username="admin").count() == 1


def test_add_totp_device_lets_a_createsuperuser_account_in(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "correct-horse-battery-9")
    call_command(
        "createsuperuser",
        interactive=False,
        username="root2",
        email="root2@example.org",
        stdout=io.StringIO(),
    )
    client = Client()
    admin_login(client, "root2", "correct-horse-battery-9", "123456")
    assert client.get("/admin/").status_code == 302  # no device, no entry

    out = io.StringIO()
    call_command("add_totp_device", "root2", stdout=out)
    printed = out.getvalue()
    device = TOTPDevice.objects.get(user__username="root2", confirmed=True)
    assert device.config_url in printed
    assert re.search(r"secret [A-Z2-7]{32}\n", printed)

    admin_login(client, "root2", "correct-horse-battery-9", current_code(device))
    assert client.get("/admin/").status_code == 200

    # A second run refuses; --reset gives a new secret and the old one dies.
    with pytest.raises(CommandError, match="already has a TOTP device"):
        call_command("add_totp_device", "root2", stdout=io.StringIO())
    old_key = device.key
    call_command("add_totp_device", "root2", "--reset", stdout=io.StringIO())
    new_device = TOTPDevice.objects.get(user__username="root2")
    assert new_device.key != old_key


def test_add_totp_device_refuses_unknown_and_non_staff_accounts():
    User.objects.create_user("visitorish", password="x" * 20)
    with pytest.raises(CommandError, match="No account"):
        call_command("add_totp_device", "nobody", stdout=io.StringIO())
    with pytest.raises(CommandError, match="not a staff account"):
        call_command("add_totp_device", "visitorish", stdout=io.StringIO())
    assert not TOTPDevice.objects.exists()


def test_create_staff_makes_an_account_that_logs_in(tmp_path):
    from tests.factories import make_service

    make_service("national")
    secret = tmp_path / "password"
    secret.write_text("a-long-enough-password-42\n")
    out = io.StringIO()
    call_command(
        "create_staff",
        "jdupont",
        "--pseudonym",
        "Opératrice 40",
        "--role",
        "operator",
        "--service",
        "national",
        "--password-file",
        str(secret),
        stdout=out,
    )
    device = TOTPDevice.objects.get(user__username="jdupont", confirmed=True)
    assert device.config_url in out.getvalue()
    client = Client()
    client.post(
        "/console/login/",
        {
            "username": "jdupont",
            "password": "a-long-enough-password-42",
            "code": current_code(device),
        },
    )
    assert client.get("/console/").status_code == 200

    with pytest.raises(CommandError, match="Unknown service"):
        call_command(
            "create_staff",
            "other",
            "--pseudonym",
            "X",
            "--role",
            "operator",
            "--service",
            "nope",
            "--password-file",
            str(secret),
        )
    secret.write_text("short")
    with pytest.raises(CommandError):
        call_command(
            "create_staff",
            "other",
            "--pseudonym",
            "X",
            "--role",
            "operator",
            "--service",
            "national",
            "--password-file",
            str(secret),
        )
    assert not User.objects.filter(username="other").exists()

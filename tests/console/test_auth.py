"""Staff login: password plus TOTP, lockout by username, no address kept."""

import re
import time

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from django.contrib.auth.models import User
from django.db import connection
from django.test import Client

from console.services import do_create_login_session
from tests.factories import make_service, make_staff

PASSWORD_OF = "pw-{}-long-enough"

pytestmark = pytest.mark.django_db


def current_code(device: TOTPDevice, *, offset_steps: int = 0) -> str:
    value = totp(
        device.bin_key,
        step=device.step,
        t0=device.t0,
        digits=device.digits,
        drift=device.drift + offset_steps,
    )
    return f"{value:0{device.digits}d}"


def staff_with_password():
    user = make_staff(services=(make_service(),))
    number = user.username.removeprefix("staff")
    return user, PASSWORD_OF.format(number)


def post_login(client: Client, username: str, password: str, code: str):
    return client.post(
        "/console/login/", {"username": username, "password": password, "code": code}
    )


def test_login_needs_password_and_current_totp_code(client, clock):
    user, password = staff_with_password()
    device = TOTPDevice.objects.get(user=user)
    wrong_code = current_code(device, offset_steps=5)
    refused = post_login(client, user.username, password, wrong_code)
    assert refused.status_code == 400
    assert "_auth_user_id" not in client.session
    assert client.get("/console/").status_code == 302
    # The device throttles after a wrong code (1 s, then doubling).
    clock.advance(1.1)
    accepted = post_login(client, user.username, password, current_code(device))
    assert accepted.status_code == 302
    assert accepted["Location"] == "/console/"
    assert client.session["otp_device_id"] == device.persistent_id
    page = client.get("/console/")
    assert page.status_code == 200
    assert b'id="console-strings"' in page.content
    assert "no-store" in page["Cache-Control"]


def test_the_same_refusal_whichever_factor_is_wrong(client):
    user, password = staff_with_password()
    device = TOTPDevice.objects.get(user=user)
    bad_password = post_login(
        client, user.username, "nope-nope-nope", current_code(device)
    )
    bad_code = post_login(
        client, user.username, password, current_code(device, offset_steps=7)
    )
    unknown = post_login(client, "nobody-here", password, "123456")
    messages = {
        response.context["error"] for response in (bad_password, bad_code, unknown)
    }
    assert len(messages) == 1


def test_a_totp_code_is_refused_the_second_time(client):
    user, password = staff_with_password()
    device = TOTPDevice.objects.get(user=user)
    code = current_code(device)
    assert post_login(client, user.username, password, code).status_code == 302
    other = Client()
    assert post_login(other, user.username, password, code).status_code == 400


def test_password_alone_never_opens_the_console(client):
    user, _password = staff_with_password()
    key = do_create_login_session(user, verified=False)
    client.cookies["sessionid"] = key
    assert client.get("/console/").status_code == 302
    assert client.post("/console/keepalive/").status_code in (401, 403)


def test_non_staff_user_cannot_log_in_to_the_console(client):
    user = User.objects.create_user("citizen", password="citizen-password-1")
    device = TOTPDevice.objects.create(user=user, name="x", confirmed=True)
    response = post_login(client, "citizen", "citizen-password-1", current_code(device))
    assert response.status_code == 400
    assert "_auth_user_id" not in client.session


def test_logout_ends_the_session(client):
    user, password = staff_with_password()
    device = TOTPDevice.objects.get(user=user)
    post_login(client, user.username, password, current_code(device))
    assert client.get("/console/").status_code == 200
    assert client.post("/console/logout/").status_code == 302
    assert client.get("/console/").status_code == 302


def test_keepalive_pushes_the_inactivity_expiry(client, settings, clock):
    user, password = staff_with_password()
    device = TOTPDevice.objects.get(user=user)
    post_login(client, user.username, password, current_code(device))
    first = client.session.get_expiry_date()
    clock.advance(1.1)
    response = client.post("/console/keepalive/")
    assert response.status_code == 200
    assert 0 < response.json()["shift_remaining_s"] <= settings.CONSOLE_SHIFT_SECONDS
    assert client.session.get_expiry_date() > first
    assert settings.SESSION_SAVE_EVERY_REQUEST is True
    assert settings.SESSION_COOKIE_AGE <= 3600


def test_keepalive_ends_the_session_at_the_end_of_the_shift(client, settings):
    """An idle console stays signed in by its keep-alive, but not past the shift."""
    user, password = staff_with_password()
    device = TOTPDevice.objects.get(user=user)
    post_login(client, user.username, password, current_code(device))
    settings.CONSOLE_SHIFT_SECONDS = 3600
    session = client.session
    session["console_shift_started"] = time.time() - 3000
    session.save()
    assert client.post("/console/keepalive/").json()["shift_remaining_s"] <= 600
    session = client.session
    session["console_shift_started"] = time.time() - 3601
    session.save()
    response = client.post("/console/keepalive/")
    assert response.status_code == 401
    assert response.json()["error"] == "shift_over"
    assert client.get("/console/").status_code == 302


def dump_axes_tables() -> str:
    """Every row of every django-axes table, as text."""
    rows = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            if not table.startswith("axes_"):
                continue
            cursor.execute(f'SELECT * FROM "{table}"')  # noqa: S608 - table names only
            rows.extend(f"{table}: {row!r}" for row in cursor.fetchall())
    return "\n".join(rows)


def test_brute_force_locks_the_account_and_keeps_no_address(client, settings):
    user, password = staff_with_password()
    assert TOTPDevice.objects.filter(user=user).exists()
    limit = settings.AXES_FAILURE_LIMIT
    statuses = [
        post_login(client, user.username, f"wrong-{n}-password", "000000").status_code
        for n in range(limit)
    ]
    assert statuses[:-1] == [400] * (limit - 1)
    assert statuses[-1] == 429
    # Locked: the right password alone is refused (tests/security shows
    # that the right password with the right code still gets in).
    locked = post_login(Client(), user.username, password, "000000")
    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session
    attempt = AccessAttempt.objects.get(username=user.username)
    assert attempt.failures_since_start >= limit
    # Another account is not locked by someone else's failures.
    other, other_password = staff_with_password()
    other_device = TOTPDevice.objects.get(user=other)
    assert (
        post_login(
            Client(), other.username, other_password, current_code(other_device)
        ).status_code
        == 302
    )
    dump = dump_axes_tables()
    assert dump, "axes recorded nothing"
    assert "127.0.0.1" not in dump
    assert "testserver" not in dump
    assert password not in dump
    for model in (AccessAttempt, AccessLog, AccessFailureLog):
        assert not model.objects.exclude(ip_address__isnull=True).exists(), model
    assert not re.search(r"\b\d{1,3}(\.\d{1,3}){3}\b", dump), dump
    assert not re.search(r"\b[0-9a-f]{1,4}(:[0-9a-f]{0,4}){2,7}\b", dump, re.I), dump


def test_wrong_codes_count_towards_the_lockout(client, settings):
    user, password = staff_with_password()
    device = TOTPDevice.objects.get(user=user)
    for n in range(settings.AXES_FAILURE_LIMIT):
        post_login(
            client, user.username, password, current_code(device, offset_steps=10 + n)
        )
    assert (
        post_login(Client(), user.username, password, current_code(device)).status_code
        == 429
    )


def test_admin_asks_for_the_second_factor_too(client):
    user, password = staff_with_password()
    user.is_staff = True
    user.is_superuser = True
    user.save()
    page = client.get("/admin/login/")
    assert b"otp_token" in page.content
    client.post("/admin/login/", {"username": user.username, "password": password})
    assert client.get("/admin/").status_code == 302


def test_console_is_french_by_default_and_english_on_request(client):
    user, password = staff_with_password()
    device = TOTPDevice.objects.get(user=user)
    login_page = client.get("/console/login/")
    assert "Connexion du personnel" in login_page.content.decode()
    post_login(client, user.username, password, current_code(device))
    assert "Prendre la suivante" in client.get("/console/").content.decode()
    client.post("/i18n/setlang/", {"language": "en", "next": "/console/"})
    english = client.get("/console/").content.decode()
    assert "Take the next one" in english
    assert "Whisper (staff only)" in english

"""Finding 5: a lockout that someone who knows a username cannot use."""

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice

from django.test import Client

from tests.console.test_auth import current_code, post_login, staff_with_password

pytestmark = pytest.mark.django_db


def lock(username, settings):
    statuses = [
        post_login(Client(), username, f"wrong-{n}-guess", "000000").status_code
        for n in range(settings.AXES_FAILURE_LIMIT)
    ]
    assert statuses[-1] == 429


def test_outsider_failures_do_not_keep_the_staff_member_out(settings):
    user, password = staff_with_password()
    device = TOTPDevice.objects.get(user=user)
    lock(user.username, settings)
    # The person, with the right password and the right code, gets in.
    client = Client()
    response = post_login(client, user.username, password, current_code(device))
    assert response.status_code == 302, response.status_code
    assert client.get("/console/").status_code == 200
    # And the lock is cleared for them.
    assert post_login(Client(), user.username, "x-wrong-x", "000000").status_code == 400


def test_brute_force_stays_impossible_while_locked(settings, clock):
    user, password = staff_with_password()
    device = TOTPDevice.objects.get(user=user)
    lock(user.username, settings)
    # Right password, wrong code: refused, same page as everything else.
    assert post_login(Client(), user.username, password, "000000").status_code == 429
    # Right code, wrong password: refused too.
    assert (
        post_login(
            Client(), user.username, "not-the-password", current_code(device)
        ).status_code
        == 429
    )
    # Guesses keep getting 429, never a hint.
    for n in range(10):
        assert (
            post_login(Client(), user.username, f"guess-{n}", "123456").status_code
            == 429
        )
    # The device throttles after the wrong code above: wait it out.
    clock.advance(1.1)
    assert (
        post_login(Client(), user.username, password, current_code(device)).status_code
        == 302
    )

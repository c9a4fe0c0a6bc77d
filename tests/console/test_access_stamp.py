"""The staff write's access check: one stamp read while nothing changed.

Every change that may revoke console access bumps the user's stamp in its
own transaction (``console.auth.bump_access``), so a write holding the
previous grant re-checks in full and is refused (issues 11 and 14).
"""

from datetime import timedelta

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice

from django.contrib.sessions.models import Session
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chat.errors import ChatError
from console.auth import (
    access_version_sql,
    account_signature,
    get_console_grant,
    lock_console_access,
)
from console.models import AccessStamp, StaffProfile
from console.services import do_create_login_session
from console.services.staff import do_end_all_sessions
from tests.factories import make_service, make_staff

pytestmark = pytest.mark.django_db


@pytest.fixture
def service(db):
    return make_service()


@pytest.fixture
def held(service):
    """A logged-in, verified staff member's session and first grant."""
    user = make_staff(services=(service,))
    key = do_create_login_session(user)
    return user, key, lock_console_access(key)


def test_unchanged_stamp_costs_one_read(held):
    user, key, (profile, grant) = held
    with CaptureQueriesContext(connection) as queries:
        again = lock_console_access(key, (profile, grant))
    assert again == (profile, grant)
    assert len(queries) == 1, [q["sql"] for q in queries]
    assert "version" in queries[0]["sql"]


def test_full_check_without_a_grant_reads_more(held):
    user, key, _ = held
    with CaptureQueriesContext(connection) as queries:
        profile, grant = lock_console_access(key)
    assert profile.user_id == user.pk
    assert len(queries) > 1
    assert grant.version == AccessStamp.objects.get(user=user).version


def deactivate(user, service):
    user.is_active = False
    user.save()


def change_password(user, service):
    user.set_password("another-long-password")
    user.save()


def remove_service(user, service):
    StaffProfile.objects.get(user=user).services.remove(service)


def remove_device(user, service):
    TOTPDevice.objects.filter(user=user).delete()


def unconfirm_device(user, service):
    device = TOTPDevice.objects.get(user=user)
    device.confirmed = False
    device.save()


def end_all_sessions(user, service):
    do_end_all_sessions(user)


def drop_roles(user, service):
    profile = StaffProfile.objects.get(user=user)
    profile.roles = []
    profile.save()


# Every change that must revoke console access, for both kinds of grant.
REVOKING_CHANGES = [
    deactivate,
    change_password,
    remove_device,
    unconfirm_device,
    end_all_sessions,
]


@pytest.mark.parametrize("change", REVOKING_CHANGES)
def test_every_revoking_change_refuses_the_next_write(held, service, change):
    user, key, grant = held
    change(user, service)
    with pytest.raises(ChatError) as refused:
        lock_console_access(key, grant)
    assert refused.value.code == "revoked"


def test_role_change_gives_a_fresh_profile(held, service):
    user, key, (profile, grant) = held
    drop_roles(user, service)
    fresh, new_grant = lock_console_access(key, (profile, grant))
    assert new_grant.version > grant.version
    assert fresh is not profile and fresh.roles == []


def test_service_change_gives_a_new_signature(held, service):
    user, key, (profile, grant) = held
    before = account_signature(profile)
    remove_service(user, service)
    fresh, new_grant = lock_console_access(key, (profile, grant))
    assert new_grant.version > grant.version
    assert account_signature(fresh) != before


def test_auto_assign_toggle_rereads_the_profile(held):
    user, key, (profile, grant) = held
    other = StaffProfile.objects.get(user=user)
    other.auto_assign = True
    other.save(update_fields=["auto_assign"])
    fresh, new_grant = lock_console_access(key, (profile, grant))
    assert new_grant != grant
    assert fresh.auto_assign is True


def test_verification_saves_do_not_bump(held):
    user, key, (profile, grant) = held
    device = TOTPDevice.objects.get(user=user)
    device.save()  # as django-otp does at every verification
    assert lock_console_access(key, (profile, grant))[1] is grant


def test_an_expired_session_is_refused_without_any_change(held):
    user, key, grant = held
    Session.objects.filter(session_key=key).update(
        expire_date=timezone.now() - timedelta(seconds=1)
    )
    with pytest.raises(ChatError):
        lock_console_access(key, (grant[0], grant[1].__class__(grant[1].version, 0.0)))
    with pytest.raises(ChatError):
        lock_console_access(key)


def test_grant_carries_the_session_expiry(held):
    user, key, (profile, grant) = held
    expire = Session.objects.get(session_key=key).expire_date
    assert grant.expires_at == pytest.approx(expire.timestamp())


def test_stamp_sql_names_the_model_table():
    assert f'"{AccessStamp._meta.db_table}"' in access_version_sql("postgresql")
    assert access_version_sql("sqlite").endswith("%s")


@pytest.mark.parametrize("change", REVOKING_CHANGES)
def test_the_hellos_grant_is_refused_after_every_revoking_change(service, change):
    """A console's hello hands its socket a grant (``get_console_grant``):
    a change after it refuses the first write as the full check would."""
    user = make_staff(services=(service,))
    key = do_create_login_session(user)
    code, profile, grant = get_console_grant(key)
    assert (code, profile.user_id) == (0, user.pk) and grant is not None
    change(user, service)
    with pytest.raises(ChatError) as refused:
        lock_console_access(key, (profile, grant))
    assert refused.value.code == "revoked"


def test_no_grant_without_a_valid_session(held):
    user, key, _grant = held
    assert get_console_grant(None) == (4401, None, None)
    assert get_console_grant("no-such-session") == (4401, None, None)
    Session.objects.filter(session_key=key).delete()
    assert get_console_grant(key) == (4401, None, None)

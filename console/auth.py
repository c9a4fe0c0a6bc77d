"""Who may open the staff console: session, account and second factor.

Used by the staff socket at connect, at once when the account changes (a
``console.session_check`` event to the user's group, sent by
``console.signals``), every ``CONSOLE_AUTH_RECHECK_SECONDS`` as a safety
net, and inside every staff write (``lock_console_access``, which reads
one access stamp while nothing changed); and by the console views. A
full check re-reads the session from its store each time, so a logout,
an ended session, a password change, a deactivated account or a removed
TOTP device end the console within a second (issue 11, docs/security.md
§B9).

It also holds the client-address callable of django-axes, which returns
None: lockout is by username only, and no address is ever stored.
"""

import time
from dataclasses import dataclass
from typing import Any, NamedTuple

from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.models import Device

from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.db import connection
from django.db.models import F
from django.http import HttpRequest
from django.utils.crypto import constant_time_compare
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

from chat import events
from chat.errors import ChatError
from console.models import AccessStamp, StaffProfile
from console.selectors import get_console_profile
from realtime.close_codes import CLOSE_NOT_ALLOWED, CLOSE_NOT_LOGGED_IN
from realtime.frames import database_is_sqlite

# Table name written out (checked by a test) rather than built into SQL.
ACCESS_VERSION_SQL = 'SELECT version FROM "console_accessstamp" WHERE user_id = %s'
# Session engines whose expiry is the ``django_session`` row's.
DATABASE_SESSION_ENGINES = frozenset(
    {
        "django.contrib.sessions.backends.db",
        "django.contrib.sessions.backends.cached_db",
    }
)


def get_no_client_ip(request: HttpRequest) -> None:
    """Give django-axes no client address (AXES_CLIENT_IP_CALLABLE).

    Staff are locked out by username; the anonymity layer removes the client
    address from every scope, and no table may hold one in clear.
    """
    return None


def get_console_access(session_key: str | None) -> tuple[int, StaffProfile | None]:
    """Return (0, profile) if the session may use the console.

    Otherwise (4401, None) when there is no valid logged-in session (never
    logged in, logged out, expired, password changed, account disabled),
    or (4403, None) when it is logged in but not allowed: no staff profile,
    or the second factor was never passed.
    """
    if not session_key:
        return CLOSE_NOT_LOGGED_IN, None
    store = import_string(f"{settings.SESSION_ENGINE}.SessionStore")(session_key)
    data: dict[str, Any] = store.load()
    user_id = data.get(SESSION_KEY)
    if user_id is None:
        return CLOSE_NOT_LOGGED_IN, None
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None or not constant_time_compare(
        data.get(HASH_SESSION_KEY, ""), user.get_session_auth_hash()
    ):
        return CLOSE_NOT_LOGGED_IN, None
    profile = get_console_profile(user)
    if profile is None or not is_otp_verified(user, data):
        return CLOSE_NOT_ALLOWED, None
    return 0, profile


def is_otp_verified(user: User, session_data: dict[str, Any]) -> bool:
    """Return True if the session passed the second factor with a live device."""
    device_id = session_data.get(DEVICE_ID_SESSION_KEY)
    if not isinstance(device_id, str):
        return False
    device = Device.from_persistent_id(device_id)
    return device is not None and device.user_id == user.pk and device.confirmed


@dataclass(frozen=True)
class Grant:
    """What a console socket's access was last checked under.

    ``version`` is the user's ``AccessStamp`` at that check; ``expires_at``
    (epoch seconds) is when the session ends by itself, which no stamp
    records.
    """

    version: int
    expires_at: float


def bump_access(user_id: int) -> None:
    """Record, in the caller's transaction, a change that may revoke access.

    Called for every change that ``get_console_access`` would see: the
    account, its profile and services, its second-factor devices, a logout
    or the end of all sessions (``console.signals``,
    ``console.services.staff``). The row lock it takes orders it against
    every staff write that read the stamp.
    """
    if not AccessStamp.objects.filter(user_id=user_id).update(version=F("version") + 1):
        AccessStamp.objects.get_or_create(user_id=user_id, defaults={"version": 1})


def revoke_access(user_id: int) -> None:
    """Bump the stamp now, and make the user's open consoles re-check on commit.

    The stamp makes the next staff write re-check in its transaction even
    if the event were lost; the event closes an idle console at once.
    """
    bump_access(user_id)
    events.notify_session_check(user_id)


def read_access_version(user_id: int) -> int:
    """Return the user's stamp, share-locked until the caller's commit.

    One read of one indexed row. On PostgreSQL ``FOR SHARE`` makes a
    revoking change in flight finish first (and be seen), and makes one
    that starts later wait for the write; writes of the same user do not
    block each other. SQLite runs one write at a time anyway.
    """
    with connection.cursor() as cursor:
        cursor.execute(access_version_sql(connection.vendor), [user_id])
        row = cursor.fetchone()
    if row is None:
        AccessStamp.objects.get_or_create(user_id=user_id)
        return read_access_version(user_id)
    return row[0]


def access_condition(user_id: int, grant: Grant) -> tuple[str, tuple] | None:
    """The held grant as one SQL condition for a write of one statement.

    What ``lock_console_access`` checks with a held grant, for a write
    that runs outside a transaction (``InCharge.condition``): the stamp is
    still the one checked, share-locked by the write's statement as the
    transaction's read would be (on SQLite, the write's transaction holds
    the database's write lock already). None if the session has ended by
    itself: the caller takes the full path, which refuses.
    """
    if time.time() >= grant.expires_at:
        return None
    vendor = "sqlite" if database_is_sqlite() else "postgresql"
    return f"({access_version_sql(vendor)}) = %s", (user_id, grant.version)


def access_version_sql(vendor: str) -> str:
    """The stamp read of ``read_access_version`` for a database vendor."""
    sql = ACCESS_VERSION_SQL
    return sql + " FOR SHARE" if vendor == "postgresql" else sql


def session_expiry(session_key: str) -> float:
    """When the session ends by itself, in epoch seconds."""
    if settings.SESSION_ENGINE in DATABASE_SESSION_ENGINES:
        expire_date = (
            Session.objects.filter(session_key=session_key)
            .values_list("expire_date", flat=True)
            .first()
        )
        return expire_date.timestamp() if expire_date is not None else 0.0
    store = import_string(f"{settings.SESSION_ENGINE}.SessionStore")(session_key)
    store.load()
    return store.get_expiry_date().timestamp()


def lock_console_access(
    session_key: str | None, held: tuple[StaffProfile, Grant] | None = None
) -> tuple[StaffProfile, Grant]:
    """Re-check the account inside the caller's transaction, or refuse.

    Every staff write runs this first, in the same transaction (issue 11).
    With the socket's ``held`` profile and grant, an unchanged stamp and a
    session not yet expired are enough: one indexed read (issue 14).
    Otherwise the session, account, profile and second factor are read
    again under the stamp's lock, so a deactivation, a role or service
    change, a password change or an ended session committed before this
    point is seen, and one committed after waits for the write.
    Returns the profile and the grant to hold next; raises ``revoked``.
    """
    if held is not None:
        profile, grant = held
        if time.time() < grant.expires_at and (
            read_access_version(profile.user_id) == grant.version
        ):
            return held
    _code, profile, grant = get_console_grant(session_key)
    if profile is None or grant is None:
        raise ChatError("revoked", _("Votre accès a changé : reconnectez-vous."))
    return profile, grant


def get_console_grant(
    session_key: str | None,
) -> tuple[int, StaffProfile | None, Grant | None]:
    """``get_console_access``, with the grant its socket may hold after it.

    The stamp is read (share-locked) before the session is read again, so a
    change that revokes access and commits after that read has bumped it:
    the socket's next write then checks everything again. A logout that
    committed between the first read of the session and the stamp's is
    seen by the second read. A console's hello takes its grant here, so
    its first write is one read too.
    """
    if not session_key:
        return CLOSE_NOT_LOGGED_IN, None, None
    store = import_string(f"{settings.SESSION_ENGINE}.SessionStore")(session_key)
    user_id = store.load().get(SESSION_KEY)
    if user_id is None:
        return CLOSE_NOT_LOGGED_IN, None, None
    version = read_access_version(int(user_id))
    code, profile = get_console_access(session_key)
    if profile is None:
        return code, None, None
    if profile.user_id != int(user_id):
        # The key's session changed user between the two reads: no grant,
        # so a write refuses and the console logs in again.
        return code, profile, None
    return code, profile, Grant(version=version, expires_at=session_expiry(session_key))


class AccountSignature(NamedTuple):
    """What a console socket was opened with: a change means reconnect."""

    roles: tuple[str, ...]
    service_ids: tuple[int, ...]


def account_signature(profile: StaffProfile) -> AccountSignature:
    """The roles and services of ``profile`` (its services prefetched)."""
    return AccountSignature(
        roles=tuple(sorted(profile.roles)),
        service_ids=tuple(sorted(service.id for service in profile.services.all())),
    )

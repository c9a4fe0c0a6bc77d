"""Who may open the staff console: session, account and second factor.

Used by the staff socket at connect, at once when the account changes (a
``console.session_check`` event to the user's group, sent by
``console.signals``), every ``CONSOLE_AUTH_RECHECK_SECONDS`` as a safety
net, and inside every staff write (``lock_console_access``); and by the
console views. It re-reads the session from its store each time, so a
logout, an ended session, a password change, a deactivated account or a
removed TOTP device end the console within a second (issue 11,
docs/security.md §B9).

It also holds the client-address callable of django-axes, which returns
None: lockout is by username only, and no address is ever stored.
"""

from typing import Any

from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.models import Device

from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.models import User
from django.http import HttpRequest
from django.utils.crypto import constant_time_compare
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

from console.models import StaffProfile
from console.selectors import get_console_profile

CLOSE_NOT_LOGGED_IN = 4401
CLOSE_NOT_ALLOWED = 4403


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


def lock_console_access(session_key: str | None) -> StaffProfile:
    """Re-check the account inside the caller's transaction, or refuse.

    Every staff write runs this first, in the same transaction (issue 11):
    the user row is locked, so a deactivation, a role or service change,
    a password change or an ended session committed before this point is
    seen, and one committed after waits for the write. Raises ``revoked``.
    """
    from chat.errors import ChatError

    if session_key:
        store = import_string(f"{settings.SESSION_ENGINE}.SessionStore")(session_key)
        user_id = store.load().get(SESSION_KEY)
        if user_id is not None:
            User.objects.select_for_update().filter(pk=user_id).exists()
    profile = get_console_access(session_key)[1]
    if profile is None:
        raise ChatError("revoked", _("Votre accès a changé : reconnectez-vous."))
    return profile


def account_signature(profile: StaffProfile) -> tuple:
    """What a console socket was opened with: a change means reconnect."""
    return (
        tuple(sorted(profile.roles)),
        tuple(sorted(service.id for service in profile.services.all())),
    )

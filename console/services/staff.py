"""Staff accounts, two-factor devices and login sessions."""

import time
from collections.abc import Iterable
from typing import Any

from django_otp import DEVICE_ID_SESSION_KEY
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from django.conf import settings
from django.contrib.auth import (
    BACKEND_SESSION_KEY,
    HASH_SESSION_KEY,
    SESSION_KEY,
    authenticate,
    login,
    logout,
    user_login_failed,
)
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import User
from django.db import transaction
from django.http import HttpRequest
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

from chat.errors import ChatError
from chat.models import Service
from console.access import get_staff_profile
from console.auth import revoke_access
from console.models import StaffProfile

TOTP_DEVICE_NAME = "authenticator"
SHIFT_STARTED_SESSION_KEY = "console_shift_started"


@transaction.atomic
def do_create_staff(
    *,
    username: str,
    password: str,
    pseudonym: str,
    roles: Iterable[str],
    services: Iterable[Service],
    max_conversations: int = 3,
    duty_hours: dict[str, Any] | None = None,
) -> User:
    """Create a staff login with its profile and TOTP device.

    Two-factor login is mandatory, so every staff account gets a confirmed
    TOTP device at once; its secret is handed to the person out of band
    (``load_demo`` prints the demo ones). The caller checked the input.
    """
    user = User(username=username)
    user.set_password(password)
    user.full_clean()
    user.save()
    profile = StaffProfile(
        user=user,
        pseudonym=pseudonym,
        roles=sorted(set(roles)),
        max_conversations=max_conversations,
        duty_hours=duty_hours or {},
    )
    profile.full_clean(exclude=["services"])
    profile.save()
    profile.services.set(list(services))
    do_create_totp_device(user)
    return user


def do_create_totp_device(user: User, *, key: str | None = None) -> TOTPDevice:
    """Give ``user`` a confirmed TOTP device, or return the one they have.

    ``key`` (40 hex digits) fixes the secret, for tests and the demo.
    """
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is not None:
        if key is not None and device.key != key:
            device.key = key
            device.save(update_fields=["key"])
        return device
    device = TOTPDevice(user=user, name=TOTP_DEVICE_NAME, confirmed=True)
    if key is not None:
        device.key = key
    device.full_clean()
    device.save()
    return device


def do_replace_totp_device(user: User) -> TOTPDevice:
    """Give ``user`` a new TOTP secret; codes from the old one stop working.

    For a lost phone, or an account made with ``createsuperuser`` (the
    ``add_totp_device`` command).
    """
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).delete()
        return do_create_totp_device(user)


def do_create_login_session(user: User, *, verified: bool = True) -> str:
    """Open a logged-in session for ``user`` and return its key.

    For load generators and tests that connect sockets without the login
    form; the console's own login goes through the login view. The session
    counts as two-factor verified unless ``verified=False`` (to test the
    refusal of a session that skipped the second factor).
    """
    session = import_string(f"{settings.SESSION_ENGINE}.SessionStore")()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    if verified:
        session[DEVICE_ID_SESSION_KEY] = do_create_totp_device(user).persistent_id
    session.create()
    assert session.session_key is not None
    return session.session_key


def check_staff_login(
    request: HttpRequest, *, username: str, password: str, code: str
) -> tuple[User, TOTPDevice]:
    """Return the staff user and the device that verified ``code``.

    The password goes through ``authenticate``, so django-axes counts the
    failure and refuses a locked-out username. A wrong code counts as a
    failed login too, so a stolen password cannot be paired with guessed
    codes for long; the TOTP device also throttles on its own. Every
    refusal has the same message, whichever factor was wrong.
    """
    refused = ChatError(
        "invalid_login", _("Identifiant, mot de passe ou code incorrect.")
    )
    user = authenticate(request, username=username, password=password)
    if user is None and getattr(request, "axes_locked_out", False):
        return check_locked_out_login(
            request, username=username, password=password, code=code
        )
    if user is None:
        raise refused
    device = verify_staff_code(user, code)
    if device is None:
        user_login_failed.send(
            sender=__name__,
            credentials={"username": username},
            request=request,
        )
        raise refused
    return user, device


def verify_staff_code(user: User, code: str) -> TOTPDevice | None:
    """Return the staff member's device that accepts ``code``, or None."""
    if get_staff_profile(user) is None or not code.isdigit():
        return None
    for candidate in TOTPDevice.objects.filter(user=user, confirmed=True):
        with transaction.atomic():
            if candidate.verify_token(code):
                return candidate
    return None


def check_locked_out_login(
    request: HttpRequest, *, username: str, password: str, code: str
) -> tuple[User, TOTPDevice]:
    """Let the right password *and* the right code through a lockout.

    The lockout (django-axes, by username: no address is kept) stops
    guessing; it must not let anyone who knows a username keep that
    person off their shift (issue 11). So while locked, only a login
    with both factors right succeeds, and it clears the lockout; anything
    else gets the same 429 page and teaches nothing about which factor
    was wrong. Guessing both at once is hopeless (a password and one code
    in a million), and a password thief meets the device's own throttle.
    """
    from axes.utils import reset

    backend = ModelBackend()
    user = backend.authenticate(request, username=username, password=password)
    device = verify_staff_code(user, code) if user is not None else None
    if user is None or device is None:
        raise ChatError("locked_out", _("Identifiant, mot de passe ou code incorrect."))
    request.axes_locked_out = False
    reset(username=username)
    return user, device


def do_staff_login(request: HttpRequest, user: User, device: TOTPDevice) -> None:
    """Log ``user`` in, with the session marked two-factor verified."""
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    otp_login(request, device)
    request.session[SHIFT_STARTED_SESSION_KEY] = time.time()


def get_shift_remaining(session: Any) -> float:
    """Return the seconds left in the staff member's shift (may be negative).

    The shift starts at login and lasts ``CONSOLE_SHIFT_SECONDS``; a
    session from before this rule counts from now.
    """
    started = session.get(SHIFT_STARTED_SESSION_KEY)
    if not isinstance(started, (int, float)):
        started = time.time()
        session[SHIFT_STARTED_SESSION_KEY] = started
    return started + settings.CONSOLE_SHIFT_SECONDS - time.time()


@transaction.atomic
def do_staff_logout(request: HttpRequest) -> None:
    """End the session and make the user's open console sockets re-check.

    Conversations still in the staff member's hands go back to the head of
    their queue at once (the console asked to release or transfer them
    first): the visitor is told the operator left, not that they are
    coming back, and nobody waits out a grace period.
    """
    user_id = request.user.pk if request.user.is_authenticated else None
    if user_id is not None:
        do_release_all(request.user)
    logout(request)
    if user_id is not None:
        revoke_access(user_id)


@transaction.atomic
def do_end_all_sessions(user: User) -> int:
    """Log ``user`` out everywhere now; return how many sessions ended.

    For a supervisor or administrator who fears an account is misused (a
    lost phone, a shared screen): every session row of the user is
    deleted, so every request is anonymous from now on, and every open
    console socket re-checks at once and closes (issue 11).
    """
    from django.contrib.sessions.models import Session
    from django.utils import timezone

    ended = 0
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator():
        if session.get_decoded().get(SESSION_KEY) == str(user.pk):
            session.delete()
            ended += 1
    revoke_access(user.pk)
    return ended


def do_release_all(user: User) -> int:
    """Requeue the user's conversations and leave the ones they joined."""
    # Imported here: the participation services import this package.
    from chat.models import Conversation
    from chat.services.conversations import do_release_conversation
    from console.models import Participant
    from console.services.participation import do_leave_as_participant

    profile = get_staff_profile(user)
    name = profile.pseudonym if profile is not None else ""
    released = 0
    for conversation in Conversation.objects.filter(
        operator=user, status=Conversation.Status.ACTIVE
    ):
        released += do_release_conversation(
            conversation, reason="logged_out", name=name
        )
    for participant in Participant.objects.filter(user=user, left_at__isnull=True):
        do_leave_as_participant(participant, name=name)
    return released

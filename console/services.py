"""Write paths for staff accounts."""

from collections.abc import Iterable

from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.models import User
from django.contrib.sessions.backends.db import SessionStore
from django.db import transaction

from chat.models import Service
from console.models import StaffProfile


@transaction.atomic
def do_create_staff(
    *,
    username: str,
    password: str,
    pseudonym: str,
    roles: Iterable[str],
    services: Iterable[Service],
    max_conversations: int = 3,
) -> User:
    """Create a staff login with its profile; the caller checked the input."""
    user = User(username=username)
    user.set_password(password)
    user.full_clean()
    user.save()
    profile = StaffProfile(
        user=user,
        pseudonym=pseudonym,
        roles=sorted(set(roles)),
        max_conversations=max_conversations,
    )
    profile.full_clean(exclude=["services"])
    profile.save()
    profile.services.set(list(services))
    return user


def do_create_login_session(user: User) -> str:
    """Open a logged-in session for ``user`` and return its key.

    For load generators and tests that connect sockets without the login
    form; the console's own login goes through the login view.
    """
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    assert session.session_key is not None
    return session.session_key

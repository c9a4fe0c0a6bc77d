"""Read paths of the chat app.

``access_*`` functions are the only approved way to load a conversation on
someone's behalf; they raise the same error for "missing" and "not
allowed", so a probe learns nothing from the difference.
"""

import hashlib
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from django.contrib.auth.models import User
from django.utils.translation import gettext as _

from chat.errors import ChatError
from chat.models import Commune, Conversation, Message, Service
from console.models import StaffProfile

HISTORY_LIMIT = 500


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def get_staff_profile(user: User) -> StaffProfile | None:
    """Return the active staff profile of ``user``, or None."""
    if not user.is_authenticated or not user.is_active:
        return None
    return (
        StaffProfile.objects.filter(user=user).prefetch_related("services").first()
    )


def list_service_ids_for_staff(profile: StaffProfile) -> list[int]:
    return list(profile.services.filter(active=True).values_list("id", flat=True))


def access_conversation_by_token(token: str) -> Conversation:
    """Return the conversation whose visitor token is ``token``.

    Only the token's hash is stored; a wrong token is ``not_found``.
    """
    if not isinstance(token, str) or not 20 <= len(token) <= 200:
        raise ChatError("not_found", _("Conversation introuvable."))
    conversation = (
        Conversation.objects.select_related("service")
        .filter(token_hash=hash_token(token))
        .first()
    )
    if conversation is None:
        raise ChatError("not_found", _("Conversation introuvable."))
    return conversation


def access_conversation_for_staff(
    profile: StaffProfile, conversation_id: Any
) -> Conversation:
    """Return a conversation of one of the staff member's services.

    Staff see conversations of the services they belong to, whatever
    their role; acting on one is checked by the service function.
    Missing and forbidden raise the same ``not_found``.
    """
    try:
        key = UUID(str(conversation_id))
    except ValueError:
        raise ChatError("not_found", _("Conversation introuvable.")) from None
    conversation = (
        Conversation.objects.select_related("service", "commune")
        .filter(id=key)
        .filter(service__in=profile.services.all())
        .first()
    )
    if conversation is None:
        raise ChatError("not_found", _("Conversation introuvable."))
    return conversation


def list_messages_after(
    conversation_id: UUID, after: int, *, limit: int = HISTORY_LIMIT
) -> list[Message]:
    return list(
        Message.objects.filter(conversation_id=conversation_id, seq__gt=after)
        .order_by("seq")[:limit]
    )


def get_service_for_commune(
    commune: Commune | None, *, role: str, slug: str | None = None
) -> Service | None:
    """Return the service that answers a visitor of ``commune``.

    With ``slug``, that service if it takes this place and role. Otherwise
    the highest-priority active service covering the commune's
    department, then the default service.
    """
    services = Service.objects.filter(active=True)
    if slug is not None:
        service = services.filter(slug=slug).first()
        if service is None or not serves(service, commune=commune, role=role):
            return None
        return service
    candidates = [
        service
        for service in services.order_by("-priority", "id")
        if serves(service, commune=commune, role=role) and service.departments
    ]
    if candidates:
        return candidates[0]
    default = services.filter(is_default=True).order_by("id").first()
    if default is not None and serves(default, commune=commune, role=role):
        return default
    return None


def serves(service: Service, *, commune: Commune | None, role: str) -> bool:
    """Return True if ``service`` accepts this visitor role and place."""
    if service.roles and role not in service.roles:
        return False
    if service.departments and (
        commune is None or commune.department not in service.departments
    ):
        return False
    return True


def render_message(message: Message, *, for_staff: bool) -> dict[str, Any]:
    """Return the protocol frame of ``message``.

    Staff messages carry the author's pseudonym, frozen at send time;
    never a real name.
    """
    frame: dict[str, Any] = {
        "type": "message",
        "seq": message.seq,
        "from": message.sender,
        "text": message.body,
        "at": iso_utc(message.created_at),
    }
    if message.author_name:
        frame["name"] = message.author_name
    if message.card:
        frame["card"] = message.card
    if for_staff:
        frame["conversation"] = str(message.conversation_id)
        if message.client_id:
            frame["id"] = str(message.client_id)
    return frame


def iso_utc(value: datetime) -> str:
    """Return an ISO-8601 UTC string with milliseconds, as the protocol says."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z"
    )

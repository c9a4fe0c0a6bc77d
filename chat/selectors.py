"""Read paths of the chat app.

``access_*`` functions are the only approved way to load a conversation on
someone's behalf; they raise the same error for "missing" and "not
allowed", so a probe learns nothing from the difference.
"""

import hashlib
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from django.db.models import QuerySet

from anonymity.crypto import decrypt_message_body, read_or_unreadable
from chat import refusals
from chat.competence import route_to_force
from chat.models import Commune, Conversation, Message, Service
from realtime.prepared import Prepared

HISTORY_LIMIT = 500


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def access_conversation_by_token(token: str) -> Conversation:
    """Return the conversation whose visitor token is ``token``.

    Only the token's hash is stored; a wrong token is ``not_found``.
    """
    if not isinstance(token, str) or not 20 <= len(token) <= 200:
        raise refusals.conversation_not_found()
    conversation = (
        Conversation.objects.select_related("service")
        .filter(token_hash=hash_token(token))
        .first()
    )
    if conversation is None:
        raise refusals.conversation_not_found()
    return conversation


def read_last_seqs(ids: list[UUID]) -> dict[UUID, int]:
    """Return each conversation's last seq, for the runtime's reconcile."""
    result: dict[UUID, int] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        result.update(
            Conversation.objects.filter(id__in=chunk).values_list("id", "last_seq")
        )
    return result


def list_messages_after(
    conversation_id: UUID, after: int, *, limit: int = HISTORY_LIMIT
) -> list[Message]:
    return list(
        Message.objects.filter(conversation_id=conversation_id, seq__gt=after).order_by(
            "seq"
        )[:limit]
    )


def list_message_frames_after(
    conversation_id: UUID, after: int, *, for_staff: bool
) -> list[dict[str, Any]]:
    """Return the rendered frames of messages after ``after``, in order.

    Each frame carries a private ``client_id`` key (the sender's id) for
    the socket's echo check; the socket removes it before sending.
    Rendering decrypts, so it runs here, in the database thread.
    """
    frames = []
    for message in list_messages_after(conversation_id, after):
        frame = render_message(message, for_staff=for_staff)
        frame["client_id"] = str(message.client_id) if message.client_id else None
        frames.append(frame)
    return frames


def get_service_for_commune(
    commune: Commune | None,
    *,
    role: str,
    slug: str | None = None,
    topic: str | None = None,
) -> Service | None:
    """Return the service that answers a visitor of ``commune``.

    With ``slug``, that service (or, for a routing group's name such as
    "national", the group) if it takes this place and role. Otherwise,
    among the services of ``topic`` (violence when not said), the
    highest-priority active service covering the commune's department or
    the commune itself, then the default service, then any national one.
    A child in danger with no child-protection line open to visitors goes
    to the violence services. A service of a routing group gives way to
    the group's queue of the force competent for the commune
    (chat.competence, issue 6). Services that only receive transfers are
    never picked.
    """
    services = Service.objects.filter(active=True, accepts_visitors=True)
    if slug is not None:
        service = get_service_by_slug_or_group(slug)
        if service is None or not serves(service, commune=commune, role=role):
            return None
        return route_to_force(service, commune)
    topic = topic or Service.Topic.VIOLENCE
    found = _pick_service(services.filter(topic=topic), commune=commune, role=role)
    if found is None and topic == Service.Topic.CHILD:
        found = _pick_service(
            services.filter(topic=Service.Topic.VIOLENCE), commune=commune, role=role
        )
    return found


def _pick_service(
    services: Any, *, commune: Commune | None, role: str
) -> Service | None:
    """Return the local, else default, else national service of ``services``."""
    candidates = [
        service
        for service in services.order_by("-priority", "id")
        if serves(service, commune=commune, role=role)
    ]
    local = [
        service for service in candidates if service.departments or service.communes
    ]
    national = [service for service in candidates if service not in local]
    national.sort(key=lambda service: not service.is_default)
    found = (local or national or [None])[0]
    return route_to_force(found, commune) if found is not None else None


def get_service_by_slug_or_group(slug: str) -> Service | None:
    """Return the active visitor-facing service ``slug``, or a group's first."""
    service = _BY_SLUG.first(slug=slug)
    if service is None and slug:
        service = _GROUP_FIRST.first(slug=slug)
    return service


def _visitor_facing() -> QuerySet[Service]:
    return Service.objects.filter(active=True, accepts_visitors=True)


# Every start reads them: built once per connection (realtime.prepared).
_BY_SLUG = Prepared(
    lambda slug: _visitor_facing().filter(slug=slug).order_by("pk")[:1],
    slug=Service._meta.get_field("slug"),
)
_GROUP_FIRST = Prepared(
    lambda slug: (
        _visitor_facing().filter(routing_group=slug).order_by("-priority", "id")[:1]
    ),
    slug=Service._meta.get_field("routing_group"),
)


def list_services_for_commune(commune: Commune | None, *, role: str) -> list[Service]:
    """Return the visitor-facing services that take this place and role.

    One entry per routing group (the queue competent for the commune), in
    routing order: covering the commune or its department first, then the
    national ones.
    """
    services = Service.objects.filter(active=True, accepts_visitors=True).order_by(
        "-priority", "id"
    )
    local, national, groups = [], [], set()
    for service in services:
        if not serves(service, commune=commune, role=role):
            continue
        if service.routing_group:
            if service.routing_group in groups:
                continue
            groups.add(service.routing_group)
            service = route_to_force(service, commune)
        (local if service.departments or service.communes else national).append(service)
    return local + national


def serves(service: Service, *, commune: Commune | None, role: str) -> bool:
    """Return True if ``service`` accepts this visitor role and place.

    A service covers its ``departments`` and its ``communes`` (INSEE codes,
    a former commune counting as its current parent); with neither, all of
    France.
    """
    if service.roles and role not in service.roles:
        return False
    if not service.departments and not service.communes:
        return True
    if commune is None:
        return False
    if commune.department in service.departments:
        return True
    codes = {commune.code_insee, commune.parent_code} - {""}
    return bool(codes & set(service.communes))


def render_message(
    message: Message, *, for_staff: bool, text: str | None = None
) -> dict[str, Any]:
    """Return the protocol frame of ``message``.

    Staff messages carry the author's pseudonym, frozen at send time;
    never a real name. ``text`` is the plaintext when the caller has it
    (the writer, just after storing), which saves decrypting it again.
    """
    frame: dict[str, Any] = {
        "type": "message",
        "seq": message.seq,
        "from": message.sender,
        "text": read_or_unreadable(
            lambda: read_message_text(message),
            what="message",
            conversation_id=message.conversation_id,
            row_id=message.seq,
        )
        if text is None
        else text,
        "at": iso_utc(message.created_at),
    }
    if message.author_name:
        frame["name"] = message.author_name
    if message.card and "attachment" in message.card:
        # A file (issue 16): the card column holds its description, the
        # encrypted text its name.
        frame["attachment"] = {**message.card["attachment"], "name": frame["text"]}
    elif message.card:
        frame["card"] = message.card
    if for_staff:
        add_staff_fields(frame, message.conversation_id, message.client_id)
    return frame


def add_staff_fields(
    frame: dict[str, Any], conversation_id: UUID | str, client_id: UUID | str | None
) -> dict[str, Any]:
    """Add what only staff frames carry: the conversation and the client id."""
    frame["conversation"] = str(conversation_id)
    if client_id:
        frame["id"] = str(client_id)
    return frame


def read_message_text(message: Message) -> str:
    """Return a message's text, decrypted with its conversation's key."""
    return decrypt_message_body(
        message.conversation_id,
        seq=message.seq,
        sender=message.sender,
        blob=message.ciphertext,
    )


def iso_utc(value: datetime) -> str:
    """Return an ISO-8601 UTC string with milliseconds, as the protocol says."""
    return (
        value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )

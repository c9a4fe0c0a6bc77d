"""Read paths of the staff console."""

from typing import Any
from uuid import UUID

from django.utils import timezone

from chat.errors import ChatError
from chat.models import Conversation
from chat.selectors import (
    access_conversation_for_staff,
    get_staff_profile,
    iso_utc,
    list_messages_after,
    render_message,
)
from console.models import StaffProfile


def render_hello_user(profile: StaffProfile) -> dict[str, Any]:
    return {
        "name": profile.pseudonym,
        "roles": list(profile.roles),
        "services": sorted(service.slug for service in profile.services.all()),
    }


def list_queue_items(profile: StaffProfile) -> list[dict[str, Any]]:
    """Return the waiting conversations of the staff member's services."""
    now = timezone.now()
    waiting = (
        Conversation.objects.filter(
            service__in=profile.services.all(), status=Conversation.Status.WAITING
        )
        .select_related("service")
        .order_by("-urgent", "queue_key", "id")[:500]
    )
    return [
        {
            "conversation": str(conversation.id),
            "service": conversation.service.slug,
            "role": conversation.visitor_role,
            "place": conversation.place_label,
            "waiting_s": round((now - conversation.created_at).total_seconds()),
            "urgent": conversation.urgent,
            "minor": conversation.minor,
        }
        for conversation in waiting
    ]


def list_active_conversations(profile: StaffProfile) -> list[Conversation]:
    """Return the conversations the staff member is in charge of now."""
    return list(
        Conversation.objects.filter(
            operator=profile.user, status=Conversation.Status.ACTIVE
        )
        .select_related("service")
        .order_by("claimed_at")
    )


def render_conversation(
    conversation: Conversation, *, with_history: bool = True
) -> dict[str, Any]:
    """Return the staff view of a conversation, history included."""
    data: dict[str, Any] = {
        "id": str(conversation.id),
        "service": conversation.service.slug,
        "service_name": conversation.service.name,
        "role": conversation.visitor_role,
        "place": conversation.place_label,
        "status": conversation.status,
        "urgent": conversation.urgent,
        "minor": conversation.minor,
        "started_at": iso_utc(conversation.created_at),
        "last_seq": conversation.last_seq,
    }
    if with_history:
        data["history"] = [
            render_message(message, for_staff=True)
            for message in list_messages_after(conversation.id, 0)
        ]
    return data


def get_hello(profile: StaffProfile) -> dict[str, Any]:
    return {
        "type": "hello",
        "user": render_hello_user(profile),
        "queue": list_queue_items(profile),
        "conversations": [
            render_conversation(conversation)
            for conversation in list_active_conversations(profile)
        ],
    }


def get_console_profile(user: Any) -> StaffProfile | None:
    """Return the staff profile with its services loaded, or None."""
    profile = get_staff_profile(user)
    if profile is not None:
        list(profile.services.all())
    return profile


def get_assigned_conversation(
    profile: StaffProfile, conversation_id: UUID
) -> dict[str, Any] | None:
    """Return the staff view of a conversation this operator holds."""
    try:
        conversation = access_conversation_for_staff(profile, conversation_id)
    except ChatError:
        return None
    if conversation.operator_id != profile.user_id:
        return None
    return render_conversation(conversation)

"""Refusals of a visitor's ``start``: a place not covered, a service closed.

A visitor who asks for a service that does not cover their commune (a
departmental line, say) is told so and offered the services that do
(issue 6). A closed or full service hands its visitors to its overflow
service (issue 10: the Val-de-Marne line at night, the national chat);
only when nothing covering them is open does the visitor get the hours,
when it opens next, and the emergency numbers (docs/protocol.md
``service_closed``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from chat.competence import route_to_force
from chat.errors import ChatError
from chat.hours import describe_service_hours, get_next_opening, is_service_open
from chat.models import Commune, Conversation, Service
from chat.selectors import iso_utc, list_services_for_commune, serves

EMERGENCY_NOTICE = gettext_lazy(
    "En cas de danger immédiat, appelez le 17 ou le 112, ou envoyez un SMS au 114."
)
EMERGENCY_NUMBERS = ["17", "112", "114"]


@dataclass(frozen=True)
class Answering:
    """Who answers a visitor now, and why not the service first picked.

    ``service`` is None when nothing covering the visitor is open.
    ``reason`` is "closed" or "full" when ``asked`` does not answer itself.
    """

    asked: Service
    service: Service | None
    reason: str = ""

    @property
    def overflowed(self) -> bool:
        return self.service is not None and self.service.id != self.asked.id


def get_unavailability(service: Service) -> str:
    """Return "closed", "full" or "" (it takes new visitors now).

    A service is only full when it names an overflow service: without
    one, visitors wait in its queue rather than being turned away.
    """
    if not is_service_open(service):
        return "closed"
    if service.overflow_service_id and service.overflow_waiting:
        waiting = Conversation.objects.filter(
            service=service, status=Conversation.Status.WAITING
        ).count()
        if waiting >= service.overflow_waiting:
            return "full"
    return ""


def get_answering_service(
    service: Service, *, commune: Commune | None, role: str
) -> Answering:
    """Follow ``service``'s overflow chain to the first service open now.

    Each overflow service must cover the visitor's place and role, and is
    routed to its group's queue of the competent force. A full service is
    still better than a closed one: when the chain ends without an open,
    non-full service, the first full one takes the visitor.
    """
    seen: set[int] = set()
    current: Service | None = service
    reason = ""
    busy: Service | None = None
    while current is not None and current.id not in seen:
        seen.add(current.id)
        state = get_unavailability(current)
        if not state:
            return Answering(asked=service, service=current, reason=reason)
        reason = reason or state
        if state == "full" and busy is None:
            busy = current
        target = current.overflow_service
        if target is None or not target.active:
            break
        if not serves(target, commune=commune, role=role):
            break
        current = route_to_force(target, commune)
    return Answering(asked=service, service=busy, reason=reason)


def render_overflow(answering: Answering) -> dict[str, str] | None:
    """Return ``started.overflow``: which service did not answer, and why."""
    if not answering.overflowed:
        return None
    return {
        "service": answering.asked.slug,
        "service_name": answering.asked.name,
        "reason": answering.reason,
    }


def render_service_offer(service: Service) -> dict[str, Any]:
    """Return what a visitor is shown of a service they could turn to."""
    return {
        "slug": service.slug,
        "name": service.name,
        "description": service.description,
        "open": is_service_open(service),
        "hours": describe_service_hours(service),
    }


def render_commune(commune: Commune) -> dict[str, str]:
    return {
        "code_insee": commune.code_insee,
        "name": commune.name,
        "department": commune.department,
    }


def not_covered_error(commune: Commune, *, role: str, asked: Service) -> ChatError:
    """Return the refusal for a service that does not take this visitor."""
    offers = [
        render_service_offer(service)
        for service in list_services_for_commune(commune, role=role)
        if service.id != asked.id
    ]
    if asked.roles and role not in asked.roles:
        reason = "role"
        message = _("%(service)s ne répond pas aux personnes de ce rôle.") % {
            "service": asked.name
        }
    else:
        reason = "place"
        message = _("%(service)s ne couvre pas la commune %(commune)s.") % {
            "service": asked.name,
            "commune": commune.name,
        }
    if offers:
        message = f"{message} {_('Ces services peuvent vous répondre :')} " + ", ".join(
            offer["name"] for offer in offers
        )
    return ChatError(
        "not_covered",
        message,
        service=asked.slug,
        reason=reason,
        commune=render_commune(commune),
        services=offers,
    )


def no_service_error(commune: Commune, *, role: str) -> ChatError:
    """Return the refusal when nothing answers this place and role."""
    return ChatError(
        "invalid_service",
        _("Aucun service ne répond pour ce lieu ou ce rôle."),
        services=[
            render_service_offer(service)
            for service in list_services_for_commune(commune, role=role)
        ],
    )


def closed_error(service: Service) -> ChatError:
    """Return ``service_closed`` with the hours and the emergency numbers."""
    hours = describe_service_hours(service)
    notice = service.emergency_notice or str(EMERGENCY_NOTICE)
    opens_at = get_next_opening(service)
    return ChatError(
        "service_closed",
        _("Le service est fermé. Horaires : %(hours)s. %(emergency)s")
        % {"hours": hours, "emergency": notice},
        hours=hours,
        emergency=list(EMERGENCY_NUMBERS),
        emergency_notice=notice,
        opens_at=iso_utc(opens_at) if opens_at else None,
    )

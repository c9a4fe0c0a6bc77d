"""Refusals of a visitor's ``start``: a place not covered, a service closed.

A visitor who asks for a service that does not cover their commune (a
departmental line, say) is told so and offered the services that do
(issue 6); a visitor outside a service's hours gets the hours, when it
opens next, and the emergency numbers (docs/protocol.md ``service_closed``).
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from chat.errors import ChatError
from chat.hours import describe_service_hours, get_next_opening, is_service_open
from chat.models import Commune, Service
from chat.selectors import iso_utc, list_services_for_commune

EMERGENCY_NOTICE = gettext_lazy(
    "En cas de danger immédiat, appelez le 17 ou le 112, ou envoyez un SMS au 114."
)
EMERGENCY_NUMBERS = ["17", "112", "114"]


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

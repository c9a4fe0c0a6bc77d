"""Read paths of the directory: lookups by place, cards, callback queues.

Search by commune gives the entries of that commune first, then those
covering its department, then the national numbers; 116 006 (France
Victimes) is always offered (data README §5, "honest fallback").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from django.contrib.auth.models import User
from django.db.models import Count, Q, QuerySet
from django.utils.translation import gettext as _

from chat import refusals
from chat.models import Commune, Service
from chat.places import normalize_place_name
from chat.selectors import iso_utc
from directory.models import CallbackRequest, Orientation, Resource

SCOPES = ("commune", "department", "national")
DEFAULT_LIMIT = 60
KIND_ORDER = {kind: index for index, kind in enumerate(Resource.Kind.values)}
FRANCE_VICTIMES_PHONE = "116 006"


@dataclass(frozen=True)
class Match:
    """A directory entry found for a place, and why it matched."""

    resource: Resource
    scope: str


def resources_for_service(service: Service | None) -> QuerySet[Resource]:
    """Return the active entries a service's operators may see and share."""
    resources = Resource.objects.filter(active=True)
    if service is None:
        return resources.filter(services=None)
    return resources.filter(Q(services=None) | Q(services=service)).distinct()


def scope_of(resource: Resource, *, codes: set[str], department: str) -> str | None:
    """Return how ``resource`` covers a place, or None if it does not."""
    if resource.commune_code in codes or codes & set(resource.communes):
        return "commune"
    if department and (
        resource.department == department or department in resource.departments
    ):
        return "department"
    if resource.is_national or resource.always_offer:
        return "national"
    return None


def list_resources_for_place(
    *,
    codes: set[str] | frozenset[str] = frozenset(),
    department: str = "",
    service: Service | None = None,
    kind: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> list[Match]:
    """Return the entries for commune codes and/or a department, best first.

    Order: the commune's own entries, then the department's, then the
    national ones; within each, verified entries first, then by kind and
    name. Entries marked ``always_offer`` (116 006) are always included.
    """
    # Coverage lists are JSON, not indexable on SQLite: the table is small
    # (hundreds of entries, a few thousand with the full annuaire).
    rows = resources_for_service(service)
    if kind:
        rows = rows.filter(Q(kind=kind) | Q(always_offer=True))
    matches = []
    for resource in rows:
        scope = scope_of(resource, codes=set(codes) - {""}, department=department)
        if scope is not None:
            matches.append(Match(resource, scope))
    matches.sort(key=_rank)
    pinned = [match for match in matches if match.resource.always_offer]
    chosen = matches[:limit]
    chosen += [match for match in pinned if match not in chosen]
    return chosen


def list_resources_for_commune(
    commune: Commune | None,
    *,
    service: Service | None = None,
    kind: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> list[Match]:
    """Return the entries for ``commune``: same commune, department, nation."""
    if commune is None:
        return list_resources_for_place(service=service, kind=kind, limit=limit)
    # An arrondissement's entries may be filed under its city (75056).
    return list_resources_for_place(
        codes={commune.code_insee, commune.parent_code},
        department=commune.department,
        service=service,
        kind=kind,
        limit=limit,
    )


def search_resources(
    text: str, *, service: Service | None = None, limit: int = DEFAULT_LIMIT
) -> list[Resource]:
    """Return entries whose name, commune or phone contains ``text``."""
    words = normalize_place_name(text or "").split()
    if not words:
        return []
    rows = list(resources_for_service(service))
    found = []
    for resource in rows:
        haystack = normalize_place_name(
            f"{resource.name} {resource.commune_name} {resource.phone} "
            f"{resource.description}"
        )
        if all(word in haystack for word in words):
            found.append(resource)
    found.sort(key=lambda resource: (not resource.verified, resource.name))
    return found[:limit]


def _rank(match: Match) -> tuple:
    resource = match.resource
    return (
        SCOPES.index(match.scope),
        not (match.scope == "national" and resource.always_offer),
        not resource.verified,
        KIND_ORDER.get(resource.kind, 99),
        resource.name,
    )


def render_resource(resource: Resource, *, scope: str | None = None) -> dict[str, Any]:
    """Return the console's view of an entry, provenance included."""
    data: dict[str, Any] = {
        "id": str(resource.id),
        "name": resource.name,
        "kind": resource.kind,
        "kind_label": str(Resource.Kind(resource.kind).label),
        "description": resource.description,
        "phone": resource.phone,
        "email": resource.email,
        "address": resource.full_address,
        "url": resource.website,
        "hours": resource.hours,
        "commune": resource.commune_name,
        "department": resource.department,
        "departments": list(resource.departments),
        "national": resource.is_national,
        "always_offer": resource.always_offer,
        "source": resource.source,
        "verified": resource.verified,
        "verified_at": resource.verified_at.isoformat()
        if resource.verified_at
        else None,
    }
    if scope is not None:
        data["scope"] = scope
    return data


def render_card(resource: Resource) -> dict[str, str]:
    """Return the ``card`` of a message sharing ``resource`` (docs/protocol.md)."""
    return {
        "name": resource.name,
        "kind": resource.kind,
        "kind_label": str(Resource.Kind(resource.kind).label),
        "phone": resource.phone,
        "address": resource.full_address,
        "url": resource.website,
        "hours": resource.hours,
    }


def france_victimes_fallback() -> dict[str, Any]:
    """Return 116 006 as a panel entry when the directory lacks it."""
    return {
        "id": None,
        "name": _("Numéro national d'aide aux victimes (France Victimes)"),
        "kind": Resource.Kind.NATIONAL,
        "kind_label": str(Resource.Kind.NATIONAL.label),
        "description": _(
            "Écoute, information et orientation vers l'association locale."
        ),
        "phone": FRANCE_VICTIMES_PHONE,
        "email": "",
        "address": "",
        "url": "https://www.france-victimes.fr",
        "hours": "",
        "commune": "",
        "department": "",
        "departments": [],
        "national": True,
        "always_offer": True,
        "source": "national_helplines.json",
        "verified": False,
        "verified_at": None,
        "scope": "national",
    }


def render_matches(matches: list[Match]) -> list[dict[str, Any]]:
    """Render matches, adding 116 006 if no entry carries that number."""
    results = [render_resource(match.resource, scope=match.scope) for match in matches]
    if not any(item["phone"].replace(" ", "") == "116006" for item in results):
        results.append(france_victimes_fallback())
    return results


def access_resource_for_service(resource_id: Any, service: Service) -> Resource:
    """Return an active entry the service's operators may share.

    Missing, inactive and not-for-this-service all raise ``not_found``.
    """
    try:
        key = UUID(str(resource_id))
    except ValueError:
        raise refusals.resource_not_found() from None
    resource = resources_for_service(service).filter(id=key).first()
    if resource is None:
        raise refusals.resource_not_found()
    return resource


# -- callbacks --------------------------------------------------------------


def list_callback_partners(service: Service) -> list[Resource]:
    """Return the associations calling back visitors of ``service``.

    Only those with a public key: a request could not be sealed otherwise.
    """
    if not service.offers_callbacks:
        return []
    return list(
        Resource.objects.filter(
            callback_services=service, active=True, public_key__isnull=False
        ).order_by("name")
    )


def render_callback_partner(resource: Resource) -> dict[str, Any]:
    return {
        "id": str(resource.id),
        "name": resource.name,
        "description": resource.description,
        "hours": resource.hours,
        "commune": resource.commune_name,
    }


def list_partner_resources(user: User) -> list[Resource]:
    """Return the partner associations ``user`` works for."""
    if not user.is_authenticated or not user.is_active:
        return []
    return list(user.partner_resources.filter(active=True).order_by("name"))


def list_callback_requests(
    user: User, *, status: str | None = None
) -> list[CallbackRequest]:
    """Return the callback queue of the associations ``user`` works for."""
    partners = list_partner_resources(user)
    requests = CallbackRequest.objects.filter(partner__in=partners).select_related(
        "partner", "service", "handled_by"
    )
    if status:
        requests = requests.filter(status=status)
    return list(requests.order_by("status", "created_at", "id")[:500])


def access_callback_request(user: User, request_id: Any) -> CallbackRequest:
    """Return a callback request of one of ``user``'s associations.

    Only the association's staff see its requests; missing and forbidden
    raise the same ``not_found``.
    """
    try:
        key = UUID(str(request_id))
    except ValueError:
        raise refusals.request_not_found() from None
    request = (
        CallbackRequest.objects.select_related("partner", "service")
        .filter(id=key)
        .filter(partner__in=list_partner_resources(user))
        .first()
    )
    if request is None:
        raise refusals.request_not_found()
    return request


def render_callback_request(request: CallbackRequest) -> dict[str, Any]:
    """Return a queue entry: never the sealed details."""
    return {
        "id": str(request.id),
        "partner": str(request.partner_id),
        "partner_name": request.partner.name,
        "service": request.service.slug,
        "status": request.status,
        "created_at": iso_utc(request.created_at),
        "handled_at": iso_utc(request.handled_at) if request.handled_at else None,
        "reveal_count": request.reveal_count,
    }


# -- statistics -------------------------------------------------------------


def count_orientations(
    *, service: Service | None = None, since: datetime | None = None
) -> dict[str, Any]:
    """Return how many resources were shared, by kind and by department."""
    rows = Orientation.objects.all()
    if service is not None:
        rows = rows.filter(service=service)
    if since is not None:
        rows = rows.filter(shared_at__gte=since)
    by_kind = {
        item["resource_kind"]: item["n"]
        for item in rows.values("resource_kind").annotate(n=Count("id"))
    }
    by_department = {
        item["department"] or "?": item["n"]
        for item in rows.values("department").annotate(n=Count("id"))
    }
    return {
        "total": sum(by_kind.values()),
        "by_kind": by_kind,
        "by_department": by_department,
    }


def get_callback_options(conversation: Any) -> dict[str, Any]:
    """Return the ``callback_options`` frame of a visitor's conversation."""
    service = Service.objects.get(id=conversation.service_id)
    partners = list_callback_partners(service)
    return {
        "type": "callback_options",
        "available": bool(partners),
        "service": service.slug,
        "partners": [render_callback_partner(partner) for partner in partners],
    }

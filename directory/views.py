"""Thin HTTP adapters: the console's directory panel and the callback queue.

The directory endpoints serve staff who may open the console (session,
staff profile, second factor: ``console.auth.get_console_access``). The
callback queue serves a partner association's staff (logged in with the
second factor, and listed on the association's entry). Both answer the
same 404 for "missing" and "not yours".
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from chat.errors import ChatError
from chat.models import Commune, Service
from console.access import access_conversation_for_staff
from console.auth import get_console_access, is_otp_verified
from console.models import StaffProfile
from directory.models import CallbackRequest
from directory.selectors import (
    count_orientations,
    list_callback_requests,
    list_partner_resources,
    list_resources_for_commune,
    list_resources_for_place,
    render_callback_request,
    render_matches,
    render_resource,
    search_resources,
)
from directory.services import check_reveal_callback, check_set_callback_status

MAX_KEY_FILE_BYTES = 8 * 1024
STATUS_FOR_CHATERROR = {
    "not_found": 404,
    "forbidden": 403,
    "bad_state": 409,
    "unseal_failed": 400,
}


def _json(data: dict[str, Any], status: int = 200) -> JsonResponse:
    response = JsonResponse(data, status=status)
    response["Cache-Control"] = "no-store"
    return response


def _error(error: ChatError) -> JsonResponse:
    return _json(
        {"error": error.code, "message": error.message},
        status=STATUS_FOR_CHATERROR.get(error.code, 400),
    )


def _console_profile(request: HttpRequest) -> tuple[int, StaffProfile | None]:
    return get_console_access(request.session.session_key)


def _refusal(code: int) -> JsonResponse:
    if code == 4401:
        return _json({"error": "not_logged_in", "message": _("Connectez-vous.")}, 401)
    return _json({"error": "forbidden", "message": _("Accès refusé.")}, 403)


def _service_of_profile(profile: StaffProfile, slug: str | None) -> Service | None:
    services = list(profile.services.filter(active=True))
    if slug:
        return next((service for service in services if service.slug == slug), None)
    return services[0] if len(services) == 1 else None


@require_GET
@never_cache
def resources_api(request: HttpRequest) -> JsonResponse:
    """Return directory entries for the console's panel.

    ``?conversation=<uuid>``: for that conversation's commune and service.
    ``?commune=<INSEE>`` or ``?department=<code>``, with ``?service=<slug>``
    (one of the user's): for a place. ``?q=<text>``: a text search.
    ``&kind=<kind>`` filters by kind.
    """
    code, profile = _console_profile(request)
    if profile is None:
        return _refusal(code)
    kind = request.GET.get("kind") or None
    conversation_id = request.GET.get("conversation")
    try:
        if conversation_id:
            conversation = access_conversation_for_staff(profile, conversation_id)
            matches = list_resources_for_commune(
                conversation.commune, service=conversation.service, kind=kind
            )
            return _json(
                {
                    "conversation": str(conversation.id),
                    "commune": _render_commune(conversation.commune),
                    "results": render_matches(matches),
                }
            )
    except ChatError as error:
        return _error(error)
    service = _service_of_profile(profile, request.GET.get("service"))
    text = request.GET.get("q", "")[:100]
    if text:
        found = search_resources(text, service=service)
        return _json({"results": [render_resource(item) for item in found]})
    commune_code = request.GET.get("commune", "")[:5]
    department = request.GET.get("department", "")[:3]
    commune = None
    if commune_code:
        commune = Commune.objects.filter(
            code_insee=commune_code,
            kind__in=[Commune.Kind.CURRENT, Commune.Kind.ARRONDISSEMENT],
        ).first()
        if commune is None:
            return _json({"error": "not_found", "message": _("Commune inconnue.")}, 404)
        matches = list_resources_for_commune(commune, service=service, kind=kind)
    else:
        matches = list_resources_for_place(
            department=department, service=service, kind=kind
        )
    return _json(
        {"commune": _render_commune(commune), "results": render_matches(matches)}
    )


def _render_commune(commune: Commune | None) -> dict[str, str] | None:
    if commune is None:
        return None
    return {
        "code_insee": commune.code_insee,
        "name": commune.name,
        "department": commune.department,
        "department_name": commune.department_name,
    }


@require_GET
@never_cache
def orientations_api(request: HttpRequest) -> JsonResponse:
    """Return orientation counts: supervisors and administrators only.

    ``?service=<slug>`` (one of the user's) and ``?since=YYYY-MM-DD``.
    """
    code, profile = _console_profile(request)
    if profile is None:
        return _refusal(code)
    if not (
        profile.has_role(StaffProfile.Role.SUPERVISOR)
        or profile.has_role(StaffProfile.Role.ADMINISTRATOR)
    ):
        return _refusal(4403)
    slug = request.GET.get("service")
    service = _service_of_profile(profile, slug) if slug else None
    if slug and service is None:
        return _json({"error": "not_found", "message": _("Service inconnu.")}, 404)
    since = None
    if request.GET.get("since"):
        try:
            day = datetime.fromisoformat(request.GET["since"][:10])
        except ValueError:
            return _json({"error": "bad_request", "message": _("Date invalide.")}, 400)
        since = timezone.make_aware(day)
    counts = count_orientations(service=service, since=since)
    if service is None:
        # Without a service, only the user's services are counted.
        counts = _merge_counts(
            count_orientations(service=item, since=since)
            for item in profile.services.all()
        )
    return _json(counts)


def _merge_counts(parts: Any) -> dict[str, Any]:
    total: dict[str, Any] = {"total": 0, "by_kind": {}, "by_department": {}}
    for part in parts:
        total["total"] += part["total"]
        for key in ("by_kind", "by_department"):
            for name, value in part[key].items():
                total[key][name] = total[key].get(name, 0) + value
    return total


# -- the partner association's callback queue --------------------------------


def _partner_user(request: HttpRequest) -> User | None:
    """Return the logged-in, two-factor-verified partner staff user, or None."""
    user = request.user
    if not user.is_authenticated or not user.is_active:
        return None
    if not is_otp_verified(user, request.session):
        return None
    if not list_partner_resources(user):
        return None
    return user


@require_GET
@never_cache
def callback_queue(request: HttpRequest) -> HttpResponse:
    """Show the callback requests of the user's associations."""
    if not request.user.is_authenticated:
        return redirect(f"/console/login/?next={request.path}")
    user = _partner_user(request)
    if user is None:
        return HttpResponse(
            _("Accès réservé aux associations partenaires."), status=403
        )
    status = request.GET.get("status") or None
    if status not in (None, *CallbackRequest.Status.values):
        status = None
    requests = list_callback_requests(user, status=status)
    response = render(
        request,
        "directory/callbacks.html",
        {
            "partners": list_partner_resources(user),
            "requests": requests,
            "statuses": CallbackRequest.Status.choices,
            "closing": [
                choice
                for choice in CallbackRequest.Status.choices
                if choice[0] != CallbackRequest.Status.PENDING
            ],
            "current_status": status,
        },
    )
    response["Cache-Control"] = "no-store"
    return response


@require_POST
@never_cache
def callback_status(request: HttpRequest, request_id: str) -> HttpResponse:
    """Close a callback request (form post from the queue page)."""
    user = _partner_user(request)
    if user is None:
        return HttpResponse(_("Accès refusé."), status=403)
    try:
        check_set_callback_status(user, request_id, status=request.POST.get("status"))
    except ChatError as error:
        return HttpResponse(
            error.message, status=STATUS_FOR_CHATERROR.get(error.code, 400)
        )
    return redirect("directory:callbacks")


@require_POST
@never_cache
def callback_reveal(request: HttpRequest, request_id: str) -> HttpResponse:
    """Open one request's phone and times with the association's key file.

    The key file and passphrase are read from the form, used in memory,
    and dropped; the page is never cached.
    """
    user = _partner_user(request)
    if user is None:
        return HttpResponse(_("Accès refusé."), status=403)
    upload = request.FILES.get("key")
    passphrase = request.POST.get("passphrase", "")
    if upload is None or upload.size > MAX_KEY_FILE_BYTES or not passphrase:
        return HttpResponse(
            _("Joignez le fichier de clé et sa phrase de passe."), status=400
        )
    try:
        details = check_reveal_callback(
            user, request_id, key_pem=upload.read(), passphrase=passphrase.encode()
        )
        requests = [r for r in list_callback_requests(user) if str(r.id) == request_id]
    except ChatError as error:
        return HttpResponse(
            error.message, status=STATUS_FOR_CHATERROR.get(error.code, 400)
        )
    response = render(
        request,
        "directory/callback_reveal.html",
        {
            "callback": requests[0] if requests else None,
            "details": details,
            "closing": [
                choice
                for choice in CallbackRequest.Status.choices
                if choice[0] != CallbackRequest.Status.PENDING
            ],
        },
    )
    response["Cache-Control"] = "no-store"
    return response


@require_http_methods(["GET", "POST"])
@never_cache
def callbacks_api(request: HttpRequest, request_id: str | None = None) -> JsonResponse:
    """JSON form of the queue: GET lists, POST {"status": ...} closes one."""
    user = _partner_user(request)
    if user is None:
        return _json({"error": "forbidden", "message": _("Accès refusé.")}, 403)
    if request.method == "GET":
        return _json(
            {
                "partners": [
                    {"id": str(partner.id), "name": partner.name}
                    for partner in list_partner_resources(user)
                ],
                "requests": [
                    render_callback_request(item)
                    for item in list_callback_requests(user)
                ],
            }
        )
    if request_id is None:
        return _json({"error": "bad_request", "message": _("Demande requise.")}, 400)
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        return _json({"error": "bad_json", "message": _("JSON illisible.")}, 400)
    status = body.get("status") if isinstance(body, dict) else None
    try:
        handled = check_set_callback_status(user, request_id, status=status)
    except ChatError as error:
        return _error(error)
    return _json(render_callback_request(handled))

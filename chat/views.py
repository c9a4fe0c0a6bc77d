"""Thin HTTP adapters for the visitor side."""

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import translation
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from chat import places
from chat.models import Service
from chat.selectors import get_service_by_slug_or_group

# Where the quick-exit button sends the visitor: a page anyone could have
# open, that reveals nothing (issue 5).
QUICK_EXIT_URL = "https://www.google.com/"


def visitor_language(request: HttpRequest) -> str:
    """Return the visitor page's language: ``?lang=`` or French.

    The language is chosen by the URL, never by a cookie (the visitor page
    sets none), and not from the browser either: the helpline speaks
    French unless the visitor asks otherwise.
    """
    requested = request.GET.get("lang", "")
    available = {code for code, _name in settings.LANGUAGES}
    return requested if requested in available else settings.LANGUAGE_CODE


@require_GET
@never_cache
def visitor_page(request: HttpRequest) -> HttpResponse:
    """Render the visitor page: no cookie, no cache, no referrer.

    The template must not use ``csrf_token``: that alone would set a cookie
    that outlives the tab (docs/security.md §B9).
    """
    return render_visitor_page(request, service=None)


@require_GET
@never_cache
def service_page(request: HttpRequest, slug: str) -> HttpResponse:
    """Render the visitor page of one service, ``/s/<slug>/`` (issue 10).

    The address a partner site links to: the page starts on that service
    (routing by competence and overflow still apply). A transfer-only or
    inactive service has no such page.
    """
    service = get_service_by_slug_or_group(slug)
    if service is None:
        raise Http404
    return render_visitor_page(request, service=service, slug=slug)


def render_visitor_page(
    request: HttpRequest, *, service: Service | None, slug: str = ""
) -> HttpResponse:
    lang = visitor_language(request)
    with translation.override(lang):
        response = render(
            request,
            "chat/visitor.html",
            {
                "other_language": "en" if lang == "fr" else "fr",
                "quick_exit_url": QUICK_EXIT_URL,
                "receipt_grace_s": settings.VISITOR_TOKEN_GRACE_SECONDS,
                "service": service,
                "service_slug": slug,
                "topics": Service.Topic,
            },
        )
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"
    response["Content-Language"] = lang
    return response


@require_GET
def favicon(request: HttpRequest) -> HttpResponse:
    """Answer the browser's icon request with nothing: no icon to notice."""
    response = HttpResponse(status=204)
    response["Cache-Control"] = "max-age=86400"
    return response


@require_GET
def commune_search(request: HttpRequest) -> JsonResponse:
    """Autocomplete communes by name or postal-code prefix."""
    query = request.GET.get("q", "")[:60]
    choices = places.search_communes(query, limit=10)
    response = JsonResponse({"results": [choice.as_dict() for choice in choices]})
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"
    return response

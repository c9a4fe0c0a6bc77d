"""Thin HTTP adapters for the visitor side."""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from chat import places


@require_GET
@never_cache
def visitor_page(request: HttpRequest) -> HttpResponse:
    response = render(request, "chat/visitor.html")
    response["Cache-Control"] = "no-store"
    return response


@require_GET
def commune_search(request: HttpRequest) -> JsonResponse:
    """Autocomplete communes by name or postal-code prefix."""
    query = request.GET.get("q", "")[:60]
    choices = places.search_communes(query, limit=10)
    response = JsonResponse({"results": [choice.as_dict() for choice in choices]})
    response["Cache-Control"] = "no-store"
    return response

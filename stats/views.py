"""The supervisors' statistics page, its CSV exports and the feedback post.

The page and the exports are for supervisors (their services) and
administrators (every service), logged in with both factors; anyone else
on the staff gets 403. The feedback endpoint is the visitor's: it takes
the conversation's token, never a cookie.
"""

import csv
import json
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from chat.errors import ChatError
from console.access import get_staff_profile
from console.views import STAFF_REFERRER_POLICY, staff_verified_required
from stats import charts
from stats.periods import KINDS, PARIS, Period, PeriodError, period_from_query
from stats.selectors import (
    MAIN_OUTCOMES,
    allowed_services,
    compute_figures,
)
from stats.services import check_give_feedback
from stats.tables import WEEKDAYS, Table, bucket_label, build_tables

FEEDBACK_MAX_BYTES = 4096
CSV_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class _Denied(Exception):
    pass


def _selection(request: HttpRequest) -> tuple[Any, list[Any], Any, list[int] | None]:
    """Return (profile, services offered, service chosen, service ids to count)."""
    profile = get_staff_profile(request.user)
    services = allowed_services(profile) if profile is not None else None
    if services is None:
        raise _Denied
    offered = list(services)
    chosen = None
    slug = request.GET.get("service") or ""
    if slug:
        chosen = next((item for item in offered if item.slug == slug), None)
        if chosen is None:
            raise _Denied
    if chosen is not None:
        ids = [chosen.id]
    elif profile.has_role("administrator"):
        ids = None
    else:
        ids = [item.id for item in offered]
    return profile, offered, chosen, ids


def _forbidden() -> HttpResponse:
    return HttpResponse(
        _("Statistiques réservées aux superviseur·es et administrateur·rices."),
        status=403,
        content_type="text/plain; charset=utf-8",
    )


def _gather(
    request: HttpRequest,
) -> tuple[Period, list[Any], Any, dict[str, Table], Any, Any]:
    _profile, offered, chosen, ids = _selection(request)
    today = timezone.now().astimezone(PARIS).date()
    period = period_from_query(request.GET, today=today)
    figures = compute_figures(period, ids)
    previous = compute_figures(period.previous_year(), ids, light=True)
    return period, offered, chosen, build_tables(figures, previous), figures, previous


def _charts(figures: Any, previous: Any, tables: dict[str, Table]) -> dict[str, Any]:
    bucket = figures.period.bucket
    labels = [bucket_label(key, bucket) for key in figures.series]
    started = [counts["started"] for counts in figures.series.values()]
    handled = [counts["handled"] for counts in figures.series.values()]
    previous_started = [counts["started"] for counts in previous.series.values()]
    previous_started += [0] * (len(started) - len(previous_started))
    outcome_rows = tables["outcomes"].rows
    return {
        "series": charts.series_chart(
            labels,
            started,
            handled,
            bar_label=_("Commencées"),
            line_label=_("Prises en charge"),
            title=_("Conversations commencées et prises en charge"),
            desc=_("Barres : commencées ; ligne à points : prises en charge."),
        ),
        "heatmap": charts.heat_map(
            [str(WEEKDAYS[day])[:3] for day in range(1, 8)],
            [[figures.heat[(day, hour)] for hour in range(24)] for day in range(1, 8)],
            title=_("Conversations commencées par jour et heure"),
            desc=_(
                "Chaque case donne le nombre ; plus elle est foncée, plus il y en a."
            ),
        ),
        "outcomes": charts.bar_split(
            [(row[0], row[1]) for row in outcome_rows],
            title=_("Issue des conversations prises en charge"),
            desc=_("Chaque barre porte son nombre et sa part."),
        ),
        "comparison": charts.comparison_chart(
            labels,
            started,
            previous_started[: len(started)],
            current_label=figures.period.label,
            previous_label=previous.period.label,
            title=_("Conversations commencées, comparées à l'année précédente"),
            desc=_("Barres hachurées : année précédente ; barres pleines : période."),
        ),
    }


@require_GET
@staff_verified_required
@never_cache
def statistics_page(request: HttpRequest) -> HttpResponse:
    try:
        period, offered, chosen, tables, figures, previous = _gather(request)
    except _Denied:
        return _forbidden()
    except PeriodError as error:
        return HttpResponse(str(error), status=400, content_type="text/plain")
    query = period.as_query()
    if chosen is not None:
        query["service"] = chosen.slug
    context = {
        "period": period,
        "kinds": KINDS,
        "services": offered,
        "chosen": chosen,
        "tables": tables,
        "charts": _charts(figures, previous, tables),
        "figures": figures,
        "main_outcomes": MAIN_OUTCOMES,
        "query": urlencode(query),
        "previous_query": urlencode(
            {**period.previous().as_query(), **_service_param(chosen)}
        ),
        "next_query": urlencode({**period.next().as_query(), **_service_param(chosen)}),
        "print": request.GET.get("print") == "1",
        "escalation_missing": figures.escalation is None,
    }
    response = render(request, "stats/statistics.html", context)
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = STAFF_REFERRER_POLICY
    return response


def _service_param(chosen: Any) -> dict[str, str]:
    return {"service": chosen.slug} if chosen is not None else {}


def _csv_cell(value: Any) -> Any:
    """Keep a spreadsheet from reading a visitor's comment as a formula."""
    if isinstance(value, str) and value.startswith(CSV_FORMULA_START):
        return "'" + value
    return value


@require_GET
@staff_verified_required
@never_cache
def statistics_csv(request: HttpRequest, slug: str) -> HttpResponse:
    try:
        period, _offered, chosen, tables, _figures, _previous = _gather(request)
    except _Denied:
        return _forbidden()
    except PeriodError as error:
        return HttpResponse(str(error), status=400, content_type="text/plain")
    table = tables.get(slug)
    if table is None:
        return HttpResponse(status=404)
    name = "-".join(
        part
        for part in ("ecoute", chosen.slug if chosen else "", slug, str(period.start))
        if part
    )
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    response["Cache-Control"] = "no-store"
    response.write("\ufeff")  # so spreadsheets read the accents as UTF-8
    writer = csv.writer(response)
    for row in table.csv_rows():
        writer.writerow([_csv_cell(value) for value in row])
    return response


@csrf_exempt  # no cookie is involved: the body's token is the credential
@require_POST
@never_cache
def feedback(request: HttpRequest) -> JsonResponse:
    """Store the visitor's optional end-of-chat answer."""
    if len(request.body) > FEEDBACK_MAX_BYTES:
        return _feedback_error(ChatError("too_large", _("Réponse trop longue.")))
    try:
        data = json.loads(request.body or b"{}")
        if not isinstance(data, dict):
            raise ValueError
    except ValueError:
        return _feedback_error(ChatError("bad_request", _("Réponse illisible.")))
    try:
        check_give_feedback(
            token=data.get("token"),
            answer=data.get("answer"),
            comment=data.get("comment"),
        )
    except ChatError as error:
        return _feedback_error(error)
    response = JsonResponse({"ok": True}, status=201)
    response["Cache-Control"] = "no-store"
    return response


def _feedback_error(error: ChatError) -> JsonResponse:
    status = {"not_found": 404, "already_answered": 409, "too_large": 413}.get(
        error.code, 400
    )
    response = JsonResponse(
        {"error": error.code, "message": error.message}, status=status
    )
    response["Cache-Control"] = "no-store"
    return response

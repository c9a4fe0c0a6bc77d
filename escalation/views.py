"""The escalation screens of the console: thin adapters over the services.

Every page needs a staff member who passed both factors; the audit and
export pages need a supervisor; opening contact details or connection
records leaves an audit entry (done by the service functions).
"""

import json
from collections.abc import Callable
from datetime import date
from functools import wraps
from typing import Any
from uuid import UUID

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from chat import refusals
from chat.errors import ChatError
from console.access import get_staff_profile
from console.models import StaffProfile
from console.views import STAFF_REFERRER_POLICY, staff_verified_required
from escalation import disclosure, reports
from escalation.audit import verify_chain
from escalation.consent import get_contact_for_staff
from escalation.models import (
    ConsentRequest,
    Delivery,
    DisclosureRequest,
    Report,
    Unit,
)
from escalation.selectors import (
    build_escalation_file,
    disclosure_steps,
    get_conversation_for_escalation,
    list_audit_events,
    list_consents,
    list_disclosures,
    list_reports,
)
from escalation.units import propose_unit


def staff_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A verified staff member's page, never cached, no referrer elsewhere."""

    @staff_verified_required
    @never_cache
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        request.profile = get_staff_profile(request.user)
        try:
            response = view(request, *args, **kwargs)
        except ChatError as error:
            if error.code == "not_found":
                raise Http404(error.message) from None
            if error.code == "forbidden":
                return render(
                    request,
                    "escalation/refused.html",
                    {"message": error.message},
                    status=403,
                )
            raise
        response["Cache-Control"] = "no-store"
        response["Referrer-Policy"] = STAFF_REFERRER_POLICY
        return response

    return wrapper


def supervisor_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.profile.has_role(StaffProfile.Role.SUPERVISOR):
            raise refusals.supervisors_only()
        return view(request, *args, **kwargs)

    return staff_page(wrapper)


def _roles(profile: StaffProfile) -> dict[str, bool]:
    return {role: profile.has_role(role) for role in StaffProfile.Role.values}


@require_http_methods(["GET"])
@staff_page
def escalation_list(request: HttpRequest) -> HttpResponse:
    profile = request.profile
    kind = request.GET.get("kind", "")
    state = request.GET.get("state", "")
    context = {
        "kind": kind,
        "state": state,
        "roles": _roles(profile),
        "consent_states": ConsentRequest.Status.choices,
        "delivery_states": Delivery.State.choices,
        "disclosure_states": DisclosureRequest.State.choices,
    }
    if kind in ("", "consent"):
        context["consents"] = list_consents(
            profile, status=state if kind == "consent" else ""
        )
    if kind in ("", "report"):
        context["reports"] = list_reports(
            profile, state=state if kind == "report" else ""
        )
    if kind in ("", "disclosure"):
        context["disclosures"] = list_disclosures(
            profile, state=state if kind == "disclosure" else ""
        )
    return render(request, "escalation/list.html", context)


@require_http_methods(["GET", "POST"])
@csrf_protect
@staff_page
def conversation_page(request: HttpRequest, conversation_id: UUID) -> HttpResponse:
    """Consent records, the report form, reports and disclosure requests."""
    profile = request.profile
    conversation = get_conversation_for_escalation(profile, conversation_id)
    error = None
    shown_contact: dict[str, Any] = {}
    form: dict[str, Any] = {}
    if request.method == "POST":
        action = request.POST.get("action")
        form = request.POST
        try:
            if action == "report":
                report = reports.check_create_report(
                    profile,
                    conversation.id,
                    unit_id=request.POST.get("unit"),
                    category=request.POST.get("category"),
                    urgency=request.POST.get("urgency"),
                    summary=request.POST.get("summary"),
                )
                return redirect(_with_notice(request, "report", report.reference))
            if action == "disclosure":
                created = disclosure.check_request_disclosure(
                    profile,
                    conversation.id,
                    ground=request.POST.get("ground"),
                    justification=request.POST.get("justification"),
                )
                return redirect("escalation:disclosure", created.id)
            if action == "show_contact":
                consent = ConsentRequest.objects.filter(
                    id=request.POST.get("consent"), conversation=conversation
                ).first()
                if consent is None:
                    raise ChatError("not_found", _("Consentement introuvable."))
                shown_contact = {
                    "consent": consent.id,
                    "details": get_contact_for_staff(consent, request.user),
                }
            elif action == "retry":
                reports.check_retry_delivery(profile, request.POST.get("delivery"))
                return redirect(request.path)
            elif action not in ("report", "disclosure"):
                raise refusals.unknown_action()
        except ChatError as refusal:
            if refusal.code in ("not_found", "forbidden"):
                raise
            error = refusal.message
    reportable = reports.get_reportable_consent(conversation)
    proposed = propose_unit(conversation)
    context = {
        "conversation": conversation,
        "roles": _roles(profile),
        "consents": conversation.consents.select_related("unit", "asked_by__staff"),
        "reports": conversation.reports.select_related("unit").prefetch_related(
            "deliveries"
        ),
        "disclosures": conversation.disclosures.all(),
        "reportable": reportable,
        "units": Unit.objects.filter(active=True),
        "proposed_unit": (
            reportable.unit if reportable and reportable.unit else proposed
        ),
        "categories": Report.Category.choices,
        "urgencies": Report.Urgency.choices,
        "grounds": DisclosureRequest.Ground.choices,
        "error": error,
        "form": form,
        "shown_contact": shown_contact,
        "notice": _notice_text(request),
        "can_request_disclosure": profile.has_role(StaffProfile.Role.OPERATOR)
        and (conversation.urgent or conversation.minor),
    }
    status = 400 if error else 200
    return render(request, "escalation/conversation.html", context, status=status)


def _with_notice(request: HttpRequest, kind: str, reference: str) -> str:
    return f"{request.path}?done={kind}&ref={reference}"


def _notice_text(request: HttpRequest) -> str:
    done = request.GET.get("done")
    reference = request.GET.get("ref", "")[:40]
    if done == "report":
        return _(
            "Signalement %(ref)s enregistré : il part vers l'unité et sera "
            "renvoyé automatiquement en cas d'échec."
        ) % {"ref": reference}
    return ""


@require_http_methods(["GET", "POST"])
@sensitive_post_parameters("passphrase")
@csrf_protect
@staff_page
def disclosure_page(request: HttpRequest, request_id: UUID) -> HttpResponse:
    profile = request.profile
    item = disclosure.get_request_for_staff(profile, request_id)
    error = None
    opened: list[dict[str, Any]] | None = None
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "endorse":
                disclosure.check_endorse(profile, item.id)
            elif action == "decline":
                disclosure.check_decline(profile, item.id)
            elif action == "withdraw":
                disclosure.check_withdraw(profile, item.id)
            elif action == "close":
                disclosure.check_close(profile, item.id)
            elif action == "decision":
                upload = request.FILES.get("document")
                disclosure.check_record_decision(
                    profile,
                    item.id,
                    decision=request.POST.get("decision"),
                    parquet_reference=request.POST.get("parquet_reference"),
                    magistrate=request.POST.get("magistrate"),
                    decision_date=_parse_date(request.POST.get("decision_date")),
                    document_name=upload.name if upload else "",
                    document=upload.read() if upload else None,
                )
            elif action == "execute":
                key_file = request.FILES.get("key_file")
                # The key and passphrase live in this request's memory only.
                item, opened = disclosure.check_execute(
                    profile,
                    item.id,
                    key_pem=key_file.read() if key_file else b"",
                    passphrase=request.POST.get("passphrase", "").encode(),
                )
            else:
                raise refusals.unknown_action()
        except ChatError as refusal:
            if refusal.code == "not_found":
                raise
            error = refusal.message
        if opened is None and error is None:
            return redirect("escalation:disclosure", item.id)
        item = disclosure.get_request_for_staff(profile, item.id)
    context = {
        "item": item,
        "justification": disclosure.read_justification(item),
        "actions": disclosure.actions_for(item, profile),
        "steps": disclosure_steps(item),
        "roles": _roles(profile),
        "error": error,
        "opened": opened,
        "decision_states": ("approved", "refused"),
    }
    status = 400 if error else 200
    return render(request, "escalation/disclosure.html", context, status=status)


def _parse_date(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        return None


@require_http_methods(["GET"])
@supervisor_page
def audit_page(request: HttpRequest) -> HttpResponse:
    report = verify_chain()
    try:
        before = int(request.GET.get("before", ""))
    except ValueError:
        before = None
    kind = request.GET.get("kind", "")[:48]
    subject = request.GET.get("q", "")[:80]
    events = list_audit_events(kind=kind, subject=subject, before=before)
    return render(
        request,
        "escalation/audit.html",
        {
            "chain": report,
            "events": events,
            "kind": kind,
            "q": subject,
            "next_before": events[-1].seq if len(events) == 200 else None,
        },
    )


@require_http_methods(["GET"])
@supervisor_page
def export_json(request: HttpRequest, conversation_id: UUID) -> HttpResponse:
    conversation = get_conversation_for_escalation(request.profile, conversation_id)
    signed = build_escalation_file(conversation, request.user)
    response = JsonResponse(
        signed, json_dumps_params={"ensure_ascii": False, "indent": 1}
    )
    response["Content-Disposition"] = (
        f'attachment; filename="dossier-{conversation.id}.json"'
    )
    return response


@require_http_methods(["GET"])
@supervisor_page
def export_page(request: HttpRequest, conversation_id: UUID) -> HttpResponse:
    conversation = get_conversation_for_escalation(request.profile, conversation_id)
    signed = build_escalation_file(conversation, request.user)
    return render(
        request,
        "escalation/export.html",
        {
            "file": signed["document"],
            "signature": signed["signature"],
            "json_url": reverse("escalation:export_json", args=[conversation.id]),
            "pretty": json.dumps(signed["document"]["audit"]["proof"], indent=1),
        },
    )

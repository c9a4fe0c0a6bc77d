"""Thin HTTP adapters for the staff console."""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_http_methods, require_POST

from chat.errors import ChatError
from console.access import get_staff_profile
from console.forms import StaffLoginForm
from console.services import (
    check_staff_login,
    do_staff_login,
    do_staff_logout,
    get_shift_remaining,
)
from console.strings import get_console_strings
from directory.models import Resource
from directory.selectors import list_partner_resources
from stats.selectors import may_read_statistics

# Staff pages post forms; with "no-referrer" browsers send "Origin: null"
# and the CSRF check refuses them. "same-origin" sends nothing elsewhere.
STAFF_REFERRER_POLICY = "same-origin"


def staff_verified_required(
    view: Callable[..., HttpResponse],
) -> Callable[..., HttpResponse]:
    """Let through only a staff member who passed both factors."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = request.user
        if (
            not user.is_authenticated
            or not user.is_verified()
            or get_staff_profile(user) is None
        ):
            if request.method == "POST":
                return HttpResponse(status=401)
            return redirect(settings.LOGIN_URL)
        return view(request, *args, **kwargs)

    return wrapper


@require_http_methods(["GET", "POST"])
@csrf_protect
@never_cache
def login_page(request: HttpRequest) -> HttpResponse:
    form = StaffLoginForm(request.POST or None)
    error = None
    if request.method == "POST" and form.is_valid():
        try:
            user, device = check_staff_login(
                request,
                username=form.cleaned_data["username"],
                password=form.cleaned_data["password"],
                code=form.cleaned_data["code"],
            )
        except ChatError as refusal:
            error = refusal.message
        else:
            do_staff_login(request, user, device)
            target = request.GET.get("next", "")
            if not url_has_allowed_host_and_scheme(
                target, allowed_hosts={request.get_host()}
            ):
                target = settings.LOGIN_REDIRECT_URL
            return redirect(target)
    status = 400 if request.method == "POST" else 200
    if request.method == "POST":
        form.point_focus_at_error(refused=error is not None)
    response = render(
        request, "console/login.html", {"form": form, "error": error}, status=status
    )
    response["Referrer-Policy"] = STAFF_REFERRER_POLICY
    return response


@require_POST
@csrf_protect
def logout_page(request: HttpRequest) -> HttpResponse:
    do_staff_logout(request)
    return redirect(settings.LOGOUT_REDIRECT_URL)


@require_POST
@csrf_protect
@staff_verified_required
def keepalive(request: HttpRequest) -> HttpResponse:
    """Push the session's expiry forward while the console is open.

    The console posts this on activity and, while its socket is open, on
    a timer: an operator waiting on an empty queue at night stays signed
    in. Not past the shift's end (``CONSOLE_SHIFT_SECONDS`` after login):
    then the session ends and the console goes back to the login page.
    """
    remaining = get_shift_remaining(request.session)
    if remaining <= 0:
        do_staff_logout(request)
        return JsonResponse({"error": "shift_over"}, status=401)
    response = JsonResponse(
        {
            "shift_remaining_s": round(remaining),
            "warning_s": settings.CONSOLE_SHIFT_WARNING_SECONDS,
        }
    )
    response["Cache-Control"] = "no-store"
    return response


@require_http_methods(["GET"])
@staff_verified_required
@never_cache
def console_page(request: HttpRequest) -> HttpResponse:
    response = render(
        request,
        "console/console.html",
        {
            "strings": get_console_strings(),
            "idle_seconds": settings.SESSION_COOKIE_AGE,
            "is_supervisor": get_staff_profile(request.user).has_role("supervisor"),
            "can_read_statistics": may_read_statistics(get_staff_profile(request.user)),
            "communes_url": reverse("chat:commune-search"),
            "resource_kinds": Resource.Kind.choices,
            # A partner association's staff reach their callback queue here.
            "callbacks_url": reverse("directory:callbacks")
            if list_partner_resources(request.user)
            else "",
        },
    )
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = STAFF_REFERRER_POLICY
    return response

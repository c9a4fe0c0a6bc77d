"""Thin HTTP adapters for the staff console."""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_http_methods, require_POST

from chat.errors import ChatError
from chat.selectors import get_staff_profile
from console.forms import StaffLoginForm
from console.services import check_staff_login, do_staff_login, do_staff_logout
from console.strings import get_console_strings
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
    """Push the session's inactivity expiry forward (the page is in use)."""
    return HttpResponse(status=204)


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
        },
    )
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = STAFF_REFERRER_POLICY
    return response

"""Thin HTTP adapters for the staff console."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache


@login_required
@never_cache
def console_page(request: HttpRequest) -> HttpResponse:
    return render(request, "console/console.html")

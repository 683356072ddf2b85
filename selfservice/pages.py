"""How every self-service page answers: on the client's clock, never cached by the browser's
referrer rules beyond our site, not indexed."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone


def client_page(
    request, template: str, context: dict, status: int = 200, tz: ZoneInfo | None = None
) -> HttpResponse:
    """Render on the client's clock: Django's date filter shows aware times in the active zone."""
    with timezone.override(tz or timezone.get_current_timezone()):
        response = render(request, template, context, status=status)
    # "same-origin", not "no-referrer": with "no-referrer" browsers send "Origin: null" with a
    # form's POST and Django's CSRF check refuses it. Tokens still never leave our site.
    response["Referrer-Policy"] = "same-origin"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response

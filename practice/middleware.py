"""Request middleware: inactivity logoff, the current practice, and the 2FA requirement."""

from __future__ import annotations

import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.db.models import Case, Value, When
from django.http import HttpResponseBadRequest
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode

from practice.models import Membership

# Pages a signed-in user who has not passed 2FA yet may still open. Client links (/j/, /t/, /p/),
# the API (token auth) and vendor webhooks never use staff sessions.
TWO_FACTOR_EXEMPT_PREFIXES = ("/accounts/", "/static/", "/j/", "/t/", "/p/", "/api/", "/hooks/", "/healthz")

# Requests a page makes by itself (auto-refresh) must not count as the user being active.
BACKGROUND_HEADER = "HTTP_X_ATTEND_BACKGROUND"
LAST_ACTIVITY_KEY = "attend_last_activity"
# The last-activity stamp is written only when it is this much older than now: a session saved on
# every page view was an UPDATE of the sessions table per request (B5, docs/benchmarks.md). The stamp
# may lag the last request by up to this long, so staff are signed out after between
# SESSION_IDLE_TIMEOUT_MINUTES minus a minute and SESSION_IDLE_TIMEOUT_MINUTES without activity:
# never later than the limit, at most a minute earlier.
ACTIVITY_STAMP_SECONDS = 60


class RefuseNulInQueryMiddleware:
    """A NUL byte in the query string (``?q=%00``) would reach a database filter, which
    PostgreSQL refuses with a DataError (a 500): answer 400 at the door, for every page. The API
    (/api/) validates its query parameters itself and answers in its own error shape."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith("/api/"):
            return self.get_response(request)
        if "%00" in request.META.get("QUERY_STRING", "") or any(
            "\x00" in key or any("\x00" in value for value in values) for key, values in request.GET.lists()
        ):
            return HttpResponseBadRequest("The address holds a NUL character.", content_type="text/plain")
        return self.get_response(request)


class InactivityLogoutMiddleware:
    """Sign staff out after SESSION_IDLE_TIMEOUT_MINUTES without a request of their own."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated:
            now = time.time()
            last = request.session.get(LAST_ACTIVITY_KEY)
            idle_limit = settings.SESSION_IDLE_TIMEOUT_MINUTES * 60
            if last is not None and now - last > idle_limit:
                logout(request)
                messages.info(
                    request,
                    f"You were signed out after {settings.SESSION_IDLE_TIMEOUT_MINUTES} minutes "
                    "without activity. Please sign in again.",
                )
                return redirect(f"{reverse('login')}?{urlencode({'next': request.get_full_path()})}")
            if not request.META.get(BACKGROUND_HEADER) and (
                last is None or now - last >= ACTIVITY_STAMP_SECONDS
            ):
                request.session[LAST_ACTIVITY_KEY] = now
        return self.get_response(request)


class CurrentPracticeMiddleware:
    """Set ``request.membership`` and ``request.practice`` for signed-in staff.

    A user normally belongs to one practice; with several, the one chosen last (kept in the
    session) applies, else the first. A deactivated membership (team page) never applies.
    """

    SESSION_KEY = "attend_practice_id"

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.membership = None
        request.practice = None
        if request.user.is_authenticated:
            membership = membership_of(request.user, request.session.get(self.SESSION_KEY))
            if membership is not None:
                request.membership = membership
                request.practice = membership.practice
        return self.get_response(request)


def membership_of(user, chosen_practice_id) -> Membership | None:
    """The active membership of ``user`` in the practice chosen last, else their first one; one
    query (the chosen practice sorts first)."""
    first = (
        Case(When(practice_id=chosen_practice_id, then=Value(0)), default=Value(1))
        if chosen_practice_id
        else None
    )
    return (
        Membership.objects.filter(user=user, is_active=True)
        .select_related("practice")
        .order_by(*([first] if first is not None else []), "pk")
        .first()
    )


class RequireTwoFactorMiddleware:
    """Every signed-in user must pass TOTP (or a backup code) before any staff page.

    Users without a confirmed device are sent to enrolment; the others to verification.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        if (
            user.is_authenticated
            and not user.is_verified()
            and not request.path.startswith(TWO_FACTOR_EXEMPT_PREFIXES)
        ):
            from django_otp import user_has_device

            target = "two_factor_verify" if user_has_device(user) else "two_factor_setup"
            return redirect(f"{reverse(target)}?{urlencode({'next': request.get_full_path()})}")
        return self.get_response(request)

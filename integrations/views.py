"""Integration pages: webhook endpoints and their delivery log (managers), a clinician's private
calendar feed, the feed itself, and .ics import (schedulers; clinicians for themselves).

Every query is scoped to the member's practice: another practice's endpoint is a 404."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from integrations import services
from integrations.calendar import feed_calendar, ics_import_confirm, ics_import_preview
from integrations.forms import EndpointEditForm, EndpointForm, IcsImportForm
from integrations.models import CalendarFeed, DeliveryState, WebhookDelivery, WebhookEndpoint
from practice.access import BOOKERS, MANAGERS, staff_view
from practice.forms import add_service_errors
from practice.models import ClinicianProfile

RECENT_DELIVERIES = 100


# --- Webhook endpoints -----------------------------------------------------------------------------


def _endpoints(request):
    return WebhookEndpoint.objects.for_practice(request.practice)


def _secret_page(request, endpoint: WebhookEndpoint, secret: str, *, rotated: bool):
    response = render(
        request,
        "integrations/webhook_secret.html",
        {"endpoint": endpoint, "secret": secret, "rotated": rotated, "nav": "integrations"},
    )
    response["Cache-Control"] = "no-store"  # the secret must not sit in a browser cache
    return response


@staff_view(MANAGERS)
def webhook_list(request):
    form = EndpointForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            endpoint, secret = services.webhook_endpoint_create(
                practice=request.practice, by=request.user, **form.cleaned_data
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            return _secret_page(request, endpoint, secret, rotated=False)
    context = {"endpoints": _endpoints(request), "form": form, "nav": "integrations"}
    return render(request, "integrations/webhook_list.html", context, status=400 if form.errors else 200)


@staff_view(MANAGERS)
def webhook_detail(request, pk: int):
    endpoint = get_object_or_404(_endpoints(request), pk=pk)
    form = EndpointEditForm(
        request.POST or None,
        initial={"description": endpoint.description, "event_types": endpoint.event_types},
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.webhook_endpoint_update(endpoint=endpoint, **form.cleaned_data)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, "Saved.")
            return redirect("webhook_detail", pk=endpoint.pk)
    deliveries = (
        WebhookDelivery.objects.for_practice(request.practice)
        .filter(endpoint=endpoint)
        .select_related("event")[:RECENT_DELIVERIES]
    )
    context = {"endpoint": endpoint, "form": form, "deliveries": deliveries, "nav": "integrations"}
    return render(request, "integrations/webhook_detail.html", context, status=400 if form.errors else 200)


@require_POST
@staff_view(MANAGERS)
def webhook_rotate(request, pk: int):
    endpoint = get_object_or_404(_endpoints(request), pk=pk)
    secret = services.webhook_endpoint_rotate_secret(endpoint=endpoint)
    return _secret_page(request, endpoint, secret, rotated=True)


@require_POST
@staff_view(MANAGERS)
def webhook_set_active(request, pk: int):
    endpoint = get_object_or_404(_endpoints(request), pk=pk)
    active = request.POST.get("active") == "1"
    services.webhook_endpoint_set_active(endpoint=endpoint, active=active)
    messages.success(
        request, "Endpoint enabled." if active else "Endpoint disabled: nothing more is sent to it."
    )
    return redirect("webhook_detail", pk=endpoint.pk)


@require_POST
@staff_view(MANAGERS)
def webhook_send_test(request, pk: int):
    endpoint = get_object_or_404(_endpoints(request), pk=pk)
    try:
        event = services.webhook_endpoint_send_test(endpoint=endpoint)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, f"Test event {event.event_id} queued; it goes out within a few seconds.")
    return redirect("webhook_detail", pk=endpoint.pk)


@staff_view(MANAGERS)
def webhook_deliveries(request):
    deliveries = WebhookDelivery.objects.for_practice(request.practice).select_related("event", "endpoint")
    state = request.GET.get("state", "")
    if state in DeliveryState.values:
        deliveries = deliveries.filter(state=state)
    context = {
        "deliveries": deliveries[:RECENT_DELIVERIES],
        "states": DeliveryState.choices,
        "state": state,
        "nav": "integrations",
    }
    return render(request, "integrations/webhook_deliveries.html", context)


@require_POST
@staff_view(MANAGERS)
def webhook_delivery_retry(request, pk: int):
    delivery = get_object_or_404(
        WebhookDelivery.objects.for_practice(request.practice).select_related("endpoint"), pk=pk
    )
    try:
        services.webhook_delivery_retry(delivery=delivery)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, "Queued to be sent again.")
    return redirect("webhook_deliveries")


# --- Calendar feed ---------------------------------------------------------------------------------


def _own_clinician_profile(request) -> ClinicianProfile:
    profile = ClinicianProfile.objects.for_practice(request.practice).filter(user=request.user).first()
    if profile is None:
        raise Http404("You have no clinician calendar in this practice.")
    return profile


@staff_view(BOOKERS)
def calendar_feed_page(request):
    """A clinician creates (or replaces) and revokes the private feed of their own sessions."""
    clinician = _own_clinician_profile(request)
    feed_url = None
    if request.method == "POST":
        if request.POST.get("action") == "revoke":
            services.calendar_feed_revoke(clinician=clinician)
            messages.success(request, "Feed revoked: calendars subscribed to it stop updating.")
            return redirect("calendar_feed_page")
        try:
            _, token = services.calendar_feed_create(clinician=clinician, by=request.user)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
            return redirect("calendar_feed_page")
        feed_url = request.build_absolute_uri(reverse("calendar_feed", args=[token]))
    feed = CalendarFeed.objects.filter(clinician=clinician, revoked_at__isnull=True).first()
    context = {"clinician": clinician, "feed": feed, "feed_url": feed_url, "nav": "calendar"}
    response = render(request, "integrations/calendar_feed.html", context)
    if feed_url:
        response["Cache-Control"] = "no-store"
    return response


def _not_found_unlogged() -> HttpResponse:
    response = HttpResponse("Not found.", status=404, content_type="text/plain")
    # Django logs every 404 with its path, and this path holds the feed's secret.
    response._has_been_logged = True
    return response


@require_GET
def calendar_feed(request, token: str):
    """The feed itself: no sign-in, the token in the URL is the credential."""
    feed = services.calendar_feed_for_token(token)
    if feed is None or not feed.clinician.is_active:
        return _not_found_unlogged()
    now = timezone.now()
    CalendarFeed.objects.filter(pk=feed.pk).update(last_fetched_at=now)
    response = HttpResponse(
        feed_calendar(clinician=feed.clinician, now=now), content_type="text/calendar; charset=utf-8"
    )
    response["Content-Disposition"] = 'inline; filename="attend.ics"'
    response["Cache-Control"] = "private, max-age=300"
    response["X-Robots-Tag"] = "noindex"
    return response


# --- .ics import -------------------------------------------------------------------------------------


@staff_view(BOOKERS)
def calendar_import(request):
    """Upload → preview (what would be booked, per-event errors) → confirm (books through the
    booking service). The file travels back with the confirmation as a hidden field."""
    form = IcsImportForm(request.POST or None, request.FILES or None, membership=request.membership)
    context = {"form": form, "nav": "calendar"}
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        arguments = dict(
            content=data["ics"],
            clinician=data["clinician"],
            service_type=data["service_type"],
            default_client=data["client"],
        )
        try:
            if request.POST.get("confirm") == "1":
                candidates = ics_import_confirm(modality=data["modality"], by=request.user, **arguments)
                context["done"] = True
            else:
                candidates = ics_import_preview(now=timezone.now(), **arguments)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            context["candidates"] = candidates
            context["ready"] = sum(candidate.ok for candidate in candidates)
            context["booked"] = sum(candidate.booked is not None for candidate in candidates)
            context["content"] = data["ics"].decode("utf-8", errors="replace")
            context["tz"] = data["clinician"].zoneinfo
    return render(request, "integrations/calendar_import.html", context, status=400 if form.errors else 200)

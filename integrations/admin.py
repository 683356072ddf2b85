"""Operator console for integrations: endpoints (never their secrets), the delivery log with
each attempt's outcome, events with their exact payload, and calendar feeds (never tokens)."""

from django.contrib import admin

from integrations import services
from integrations.models import CalendarFeed, WebhookDelivery, WebhookEndpoint, WebhookEvent
from practice.admin import (
    ActionsOnlyAdminMixin,
    PracticeFilter,
    PracticeScopedAdminMixin,
    ReadOnlyAdminMixin,
    run_service_per_row,
)


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ActionsOnlyAdminMixin, PracticeScopedAdminMixin, admin.ModelAdmin):
    """Managers create endpoints on their Webhooks page (the secret is shown once, there)."""

    list_display = ["id", "url", "practice", "is_active", "created_at"]
    list_filter = [PracticeFilter, "is_active"]
    list_select_related = ["practice"]
    search_fields = ["url", "description"]
    fields = [
        "practice",
        "url",
        "description",
        "event_types",
        "is_active",
        "created_by",
        "created_at",
        "updated_at",
    ]
    readonly_fields = fields
    actions = ["disable_selected"]

    @admin.action(description="Disable selected endpoints", permissions=["change"])
    def disable_selected(self, request, queryset):
        run_service_per_row(
            request,
            queryset,
            lambda endpoint: services.webhook_endpoint_set_active(endpoint=endpoint, active=False),
            done="Disabled {count} endpoint(s).",
            failed="Not disabled: endpoint",
        )


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdminMixin, PracticeScopedAdminMixin, admin.ModelAdmin):
    list_display = ["event_id", "type", "practice", "appointment_id", "occurred_at"]
    list_filter = [PracticeFilter, "type"]
    list_select_related = ["practice"]
    search_fields = ["event_id"]
    fields = ["event_id", "type", "practice", "appointment", "occurred_at", "created_at", "body"]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ActionsOnlyAdminMixin, PracticeScopedAdminMixin, admin.ModelAdmin):
    """Why did (or didn't) an endpoint get an event: state, attempts, last answer, next retry."""

    list_display = [
        "id",
        "event",
        "endpoint_id",
        "state",
        "attempts",
        "last_status_code",
        "next_attempt_at",
        "last_error",
    ]
    list_filter = [PracticeFilter, "state"]
    list_select_related = ["event"]
    search_fields = ["event__event_id"]
    fields = [
        "practice",
        "event",
        "endpoint",
        "state",
        "attempts",
        "next_attempt_at",
        "last_attempt_at",
        "last_status_code",
        "last_error",
        "delivered_at",
        "lease_until",
        "created_at",
    ]
    readonly_fields = fields
    actions = ["retry_selected"]

    @admin.action(description="Send selected failed deliveries again", permissions=["change"])
    def retry_selected(self, request, queryset):
        run_service_per_row(
            request,
            queryset.select_related("endpoint"),
            lambda delivery: services.webhook_delivery_retry(delivery=delivery),
            done="Queued {count} deliverie(s) again.",
            failed="Not queued: delivery",
        )


@admin.register(CalendarFeed)
class CalendarFeedAdmin(ActionsOnlyAdminMixin, PracticeScopedAdminMixin, admin.ModelAdmin):
    list_display = ["id", "clinician", "practice", "created_at", "last_fetched_at", "revoked_at"]
    list_filter = [PracticeFilter, ("revoked_at", admin.EmptyFieldListFilter)]
    list_select_related = ["clinician", "practice"]
    fields = ["practice", "clinician", "created_by", "created_at", "last_fetched_at", "revoked_at"]
    readonly_fields = fields
    actions = ["revoke_selected"]

    @admin.action(description="Revoke selected feeds", permissions=["change"])
    def revoke_selected(self, request, queryset):
        run_service_per_row(
            request,
            queryset.filter(revoked_at__isnull=True).select_related("clinician"),
            lambda feed: services.calendar_feed_revoke(clinician=feed.clinician),
            done="Revoked {count} feed(s).",
            failed="Not revoked: feed",
        )

"""The operator console for scheduling: find a session, see what happened to it, and act on it
through the same services as the staff pages.

Appointments cannot be added here and their times, status and clinician are read-only: those go
through ``scheduling.services`` (booking rules, double-booking checks, the events the reminders
and meetings follow). The admin actions call those services.
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Prefetch
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html, format_html_join

from practice.admin import (
    ActionsOnlyAdminMixin,
    PracticeFilter,
    PracticeScopedAdminMixin,
    ReadOnlyAdminMixin,
    run_service_per_row,
)
from scheduling import services
from scheduling.models import (
    Appointment,
    AppointmentActivity,
    AppointmentParticipant,
    BookingPolicy,
    EhrWebhookEvent,
    EhrWebhookSecret,
    FollowUp,
    Hold,
    ManageLink,
    Series,
    ServiceType,
    TimeOff,
    WeeklyHours,
)

ADMIN_CANCEL_REASON = "Cancelled by an operator in the admin."
ADMIN_RESOLVE_NOTE = "Resolved by an operator in the admin."


# --- Service types and series -------------------------------------------------------------------


@admin.register(ServiceType)
class ServiceTypeAdmin(PracticeScopedAdminMixin, admin.ModelAdmin):
    list_display = ["name", "code", "practice", "default_minutes", "default_fee", "is_group", "is_active"]
    list_filter = [PracticeFilter, "is_group", "is_active"]
    list_select_related = ["practice"]
    search_fields = ["name", "code"]


@admin.register(Series)
class SeriesAdmin(ReadOnlyAdminMixin, PracticeScopedAdminMixin, admin.ModelAdmin):
    """Series are made by ``services.series_book``; their occurrences are ordinary appointments."""

    list_display = [
        "id",
        "practice",
        "clinician",
        "frequency",
        "first_starts_at",
        "occurrences",
        "created_at",
    ]
    list_filter = [PracticeFilter, "frequency"]
    list_select_related = ["practice", "clinician"]
    search_fields = ["id__exact", "clinician__display_name"]
    date_hierarchy = "first_starts_at"


# --- Appointments ----------------------------------------------------------------------------------


class ParticipantInline(admin.TabularInline):
    model = AppointmentParticipant
    extra = 0
    can_delete = False
    fields = [
        "client",
        "attendance",
        "joined_at",
        "attendance_marked_at",
        "attendance_marked_by",
        "attendance_note",
    ]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("client", "attendance_marked_by")

    # Attendance is recorded through services.appointment_mark_attendance.
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class FollowUpInline(admin.TabularInline):
    model = FollowUp
    extra = 0
    can_delete = False
    fields = ["kind", "participant", "detail", "created_at", "resolved_at", "resolved_by", "resolution_note"]
    readonly_fields = fields
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("participant", "resolved_by")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


# Everything that decides when, with whom and whether a session happens.
APPOINTMENT_EDITABLE_FIELDS = ("fee", "external_id")


@admin.register(Appointment)
class AppointmentAdmin(PracticeScopedAdminMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "starts_at",
        "local_time",
        "clinician",
        "client_names",
        "service_type",
        "modality",
        "status",
        "source",
        "practice",
    ]
    list_filter = [PracticeFilter, "status", "modality", "source", "is_late_cancel"]
    list_select_related = ["practice", "clinician", "service_type"]
    search_fields = [
        "id__exact",
        "external_id",
        "clinician__display_name",
        "participants__client__first_name",
        "participants__client__last_name",
    ]
    date_hierarchy = "starts_at"
    inlines = [ParticipantInline, FollowUpInline]
    actions = ["cancel_selected", "mark_confirmed"]
    fieldsets = [
        (None, {"fields": ["practice", "status", "starts_at", "ends_at", "local_time", "clinician"]}),
        ("Session", {"fields": ["service_type", "modality", "fee", "series", "related_records"]}),
        ("Origin", {"fields": ["source", "external_id", "booked_by", "rescheduled_from", "created_at"]}),
        (
            "Cancellation",
            {
                "fields": [
                    "cancelled_at",
                    "cancelled_by",
                    "cancelled_by_client",
                    "is_late_cancel",
                    "cancel_reason",
                ]
            },
        ),
    ]

    def get_readonly_fields(self, request, obj=None):
        shown = [field for _, options in self.fieldsets for field in options["fields"]]
        return [field for field in shown if field not in APPOINTMENT_EDITABLE_FIELDS]

    def get_queryset(self, request):
        participants = AppointmentParticipant.objects.select_related("client")
        return super().get_queryset(request).prefetch_related(Prefetch("participants", queryset=participants))

    def has_add_permission(self, request):
        return False

    # Deleting would take the participants, meeting and message history with it; cancel instead.
    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Practice time")
    def local_time(self, obj) -> str:
        starts = obj.local_starts_at()
        return f"{starts:%a %Y-%m-%d %H:%M} to {obj.local_ends_at():%H:%M} {obj.practice.timezone}"

    @admin.display(description="Clients")
    def client_names(self, obj) -> str:
        return ", ".join(p.client.full_name for p in obj.participants.all())

    @admin.display(description="Telehealth records")
    def related_records(self, obj):
        """Links to the records other apps keep about this session (they build on scheduling,
        so this names their admin pages instead of importing them)."""
        links = []
        for label, url_name in [("Meeting", "telehealth_meeting"), ("Join events", "telehealth_joinevent")]:
            try:
                url = reverse(f"admin:{url_name}_changelist")
            except NoReverseMatch:
                continue
            links.append((f"{url}?appointment={obj.pk}", label))
        return format_html_join(" · ", '<a href="{}">{}</a>', links) or "—"

    @admin.action(description="Cancel selected sessions", permissions=["change"])
    def cancel_selected(self, request, queryset):
        run_service_per_row(
            request,
            queryset,
            lambda appointment: services.appointment_cancel(
                appointment=appointment, by=request.user, reason=ADMIN_CANCEL_REASON
            ),
            done="Cancelled {count} session(s).",
            failed="Not cancelled: session",
        )

    @admin.action(description="Mark confirmed", permissions=["change"])
    def mark_confirmed(self, request, queryset):
        run_service_per_row(
            request,
            queryset,
            lambda appointment: services.appointment_confirm(appointment=appointment),
            done="Confirmed {count} session(s).",
            failed="Not confirmed: session",
        )


@admin.register(AppointmentParticipant)
class AppointmentParticipantAdmin(ReadOnlyAdminMixin, PracticeScopedAdminMixin, admin.ModelAdmin):
    practice_lookup = "appointment__practice"
    list_display = ["id", "appointment", "client", "attendance", "joined_at", "attendance_marked_at"]
    list_filter = [PracticeFilter, "attendance"]
    list_select_related = ["appointment__clinician", "client"]
    search_fields = ["appointment__id__exact", "client__first_name", "client__last_name"]


# --- The staff queue ---------------------------------------------------------------------------------


class OpenFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("open", "Open"), ("resolved", "Resolved")]

    def queryset(self, request, queryset):
        if self.value() == "open":
            return queryset.filter(resolved_at__isnull=True)
        if self.value() == "resolved":
            return queryset.filter(resolved_at__isnull=False)
        return queryset


@admin.register(FollowUp)
class FollowUpAdmin(ActionsOnlyAdminMixin, PracticeScopedAdminMixin, admin.ModelAdmin):
    """Items are raised by the system and resolved through ``services.follow_up_resolve``."""

    list_display = ["id", "kind", "appointment_link", "practice", "created_at", "resolved_at", "resolved_by"]
    list_filter = [OpenFilter, PracticeFilter, "kind"]
    list_select_related = ["practice", "resolved_by"]
    search_fields = ["appointment__id__exact", "detail"]
    date_hierarchy = "created_at"
    readonly_fields = [
        "practice",
        "appointment",
        "participant",
        "kind",
        "detail",
        "created_at",
        "resolved_at",
        "resolved_by",
        "resolution_note",
    ]
    actions = ["resolve_selected"]

    @admin.display(description="Appointment", ordering="appointment_id")
    def appointment_link(self, obj):
        url = reverse("admin:scheduling_appointment_change", args=[obj.appointment_id])
        return format_html('<a href="{}">#{}</a>', url, obj.appointment_id)

    @admin.action(description="Resolve selected items", permissions=["change"])
    def resolve_selected(self, request, queryset):
        run_service_per_row(
            request,
            queryset,
            lambda item: services.follow_up_resolve(item=item, by=request.user, note=ADMIN_RESOLVE_NOTE),
            done="Resolved {count} item(s).",
            failed="Not resolved: item",
        )


# --- What clients did, and their session links -----------------------------------------------------


@admin.register(AppointmentActivity)
class AppointmentActivityAdmin(ReadOnlyAdminMixin, PracticeScopedAdminMixin, admin.ModelAdmin):
    """The client timeline of sessions (scheduling.client_actions): written by the system only.
    The reply text is shown on the change page, not in lists or searches."""

    list_display = ["id", "kind", "channel", "appointment", "at", "actor"]
    list_filter = [PracticeFilter, "kind", "channel"]
    list_select_related = ["appointment__clinician", "actor"]
    search_fields = ["appointment__id__exact", "external_id"]
    date_hierarchy = "at"


@admin.register(ManageLink)
class ManageLinkAdmin(ReadOnlyAdminMixin, PracticeScopedAdminMixin, admin.ModelAdmin):
    """Session links (/a/<token>) handed out in messages; only hashes are stored."""

    practice_lookup = "participant__appointment__practice"
    list_display = ["id", "participant", "created_at", "expires_at"]
    list_filter = [PracticeFilter]
    list_select_related = ["participant"]
    search_fields = ["participant__appointment__id__exact"]
    exclude = ["token_hash"]


# --- Availability and EHR sync ------------------------------------------------------------------


@admin.register(WeeklyHours)
class WeeklyHoursAdmin(PracticeScopedAdminMixin, admin.ModelAdmin):
    """A clinician's working hours, in local time (their zone, or the practice's): open slots
    (scheduling.availability) are these minus time off minus booked sessions."""

    practice_lookup = "clinician__practice"
    list_display = ["clinician", "weekday", "starts_at", "ends_at"]
    list_filter = [PracticeFilter, "weekday"]
    list_select_related = ["clinician"]
    search_fields = ["clinician__display_name"]
    ordering = ["clinician__display_name", "weekday", "starts_at"]


@admin.register(TimeOff)
class TimeOffAdmin(PracticeScopedAdminMixin, admin.ModelAdmin):
    practice_lookup = "clinician__practice"
    list_display = ["clinician", "starts_at", "ends_at", "note"]
    list_filter = [PracticeFilter]
    list_select_related = ["clinician"]
    search_fields = ["clinician__display_name", "note"]
    date_hierarchy = "starts_at"


@admin.register(BookingPolicy)
class BookingPolicyAdmin(PracticeScopedAdminMixin, admin.ModelAdmin):
    """Open-slot and self-service settings (docs/self-service.md); a practice without a row has
    the defaults."""

    list_display = ["practice", "buffer_minutes", "horizon_days", "clients_may_reschedule"]
    list_filter = [PracticeFilter]
    list_select_related = ["practice"]


@admin.register(Hold)
class HoldAdmin(ReadOnlyAdminMixin, PracticeScopedAdminMixin, admin.ModelAdmin):
    """Holds are placed and released by scheduling.services (hold_place, hold_release) and swept
    when they expire; read-only here so no one bypasses the calendar lock."""

    list_display = ["clinician", "kind", "starts_at", "ends_at", "expires_at"]
    list_filter = [PracticeFilter, "kind"]
    list_select_related = ["clinician"]
    date_hierarchy = "starts_at"


@admin.register(EhrWebhookSecret)
class EhrWebhookSecretAdmin(ReadOnlyAdminMixin, PracticeScopedAdminMixin, admin.ModelAdmin):
    """Made and rotated with ``manage.py ehr_webhook_secret`` (which shows it once); the secret
    itself is never shown here."""

    list_display = ["practice", "created_at", "rotated_at", "previous_valid_until"]
    list_filter = [PracticeFilter]
    fields = ["practice", "created_at", "rotated_at", "previous_valid_until"]


@admin.register(EhrWebhookEvent)
class EhrWebhookEventAdmin(ReadOnlyAdminMixin, PracticeScopedAdminMixin, admin.ModelAdmin):
    """Events an EHR sent, as applied: what each one did (no client data is kept)."""

    list_display = ["event_id", "event_type", "source", "result", "object_id", "practice", "received_at"]
    list_filter = [PracticeFilter, "event_type", "result"]
    search_fields = ["event_id"]
    date_hierarchy = "received_at"

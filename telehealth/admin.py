"""The operator console for telehealth: what happened to a session's meeting, joins and tech checks.

Everything here is written by the system (``telehealth.services``), so it is read-only. Secrets
never appear: not a join link's token or nonce (either opens the session), nor a meeting's key,
URLs or provider extras (room names, passwords, the Zoom host start URL).
"""

from __future__ import annotations

from django.contrib import admin

from practice.admin import PracticeFilter, PracticeScopedAdminMixin, ReadOnlyAdminMixin
from telehealth.models import JoinEvent, JoinLink, Meeting, TechCheckResult


@admin.register(Meeting)
class MeetingAdmin(ReadOnlyAdminMixin, PracticeScopedAdminMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "appointment",
        "provider",
        "state",
        "attempts",
        "next_attempt_at",
        "last_error",
        "updated_at",
        "practice",
    ]
    list_filter = [PracticeFilter, "state", "provider"]
    list_select_related = ["practice", "appointment__clinician"]
    search_fields = ["appointment__id__exact", "external_id"]
    fields = [
        "practice",
        "appointment",
        "provider",
        "state",
        "external_id",
        "has_join_url",
        "attempts",
        "next_attempt_at",
        "last_error",
        "created_at",
        "updated_at",
    ]
    readonly_fields = fields

    @admin.display(boolean=True, description="Has a join link")
    def has_join_url(self, obj) -> bool:
        return bool(obj.join_url)


@admin.register(JoinLink)
class JoinLinkAdmin(ReadOnlyAdminMixin, PracticeScopedAdminMixin, admin.ModelAdmin):
    practice_lookup = "participant__appointment__practice"
    list_display = ["id", "participant", "appointment", "created_at"]
    list_filter = [PracticeFilter]
    list_select_related = ["participant"]
    search_fields = ["participant__appointment__id__exact"]
    # Only these two: the nonce derives the token, and the hash is not for eyes either.
    fields = ["participant", "created_at"]
    readonly_fields = fields

    @admin.display(description="Appointment", ordering="participant__appointment_id")
    def appointment(self, obj) -> str:
        return f"#{obj.participant.appointment_id}"


@admin.register(JoinEvent)
class JoinEventAdmin(ReadOnlyAdminMixin, PracticeScopedAdminMixin, admin.ModelAdmin):
    list_display = ["occurred_at", "source", "appointment", "participant", "dedupe_key", "practice"]
    list_filter = [PracticeFilter, "source"]
    list_select_related = ["practice", "appointment__clinician", "participant"]
    search_fields = ["appointment__id__exact", "dedupe_key"]
    date_hierarchy = "occurred_at"


@admin.register(TechCheckResult)
class TechCheckResultAdmin(ReadOnlyAdminMixin, PracticeScopedAdminMixin, admin.ModelAdmin):
    list_display = [
        "created_at",
        "participant",
        "passed",
        "camera_ok",
        "microphone_ok",
        "browser_ok",
        "network_ok",
        "practice",
    ]
    list_filter = [PracticeFilter, "passed"]
    list_select_related = ["practice", "participant"]
    search_fields = ["participant__appointment__id__exact", "user_agent"]
    date_hierarchy = "created_at"

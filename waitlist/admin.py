"""The operator console for the waitlist: the practice's settings (saved through
``waitlist_settings_update``) and, read-only, entries, freed slots and offers."""

from __future__ import annotations

from django.contrib import admin

from practice.admin import PracticeScopedAdminMixin, ReadOnlyAdminMixin
from waitlist.models import FreedSlot, Offer, WaitlistEntry, WaitlistSettings
from waitlist.services import SETTINGS_FIELDS, waitlist_settings_update


@admin.register(WaitlistSettings)
class WaitlistSettingsAdmin(PracticeScopedAdminMixin, admin.ModelAdmin):
    list_display = ["practice", "enabled", "min_lead_minutes", "max_cascade_steps"]

    def save_model(self, request, obj, form, change):
        saved = waitlist_settings_update(
            practice=obj.practice, fields={name: getattr(obj, name) for name in SETTINGS_FIELDS}
        )
        obj.pk = saved.pk


@admin.register(WaitlistEntry)
class WaitlistEntryAdmin(ReadOnlyAdminMixin, PracticeScopedAdminMixin, admin.ModelAdmin):
    list_display = ["pk", "practice", "client", "band", "status", "created_at"]
    list_filter = ["status", "band"]


@admin.register(FreedSlot)
class FreedSlotAdmin(ReadOnlyAdminMixin, PracticeScopedAdminMixin, admin.ModelAdmin):
    list_display = ["pk", "practice", "clinician", "starts_at", "status", "wave", "step", "reason"]
    list_filter = ["status"]


@admin.register(Offer)
class OfferAdmin(ReadOnlyAdminMixin, PracticeScopedAdminMixin, admin.ModelAdmin):
    list_display = ["pk", "practice", "client", "slot", "wave", "status", "sent_at", "expires_at"]
    list_filter = ["status"]
    exclude = ["token_hash"]

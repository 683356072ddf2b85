"""Operator console for the reminder engine: edit a practice's sequence (templates are checked
against the content whitelist when saved), and see why any message did or did not go out."""

from django import forms
from django.contrib import admin

from messaging.content import ALLOWED_FIELDS, sms_template_errors, translations_errors, validate_template
from messaging.languages import LANGUAGES
from messaging.models import (
    DeliveryReport,
    DispatcherHeartbeat,
    HoldoutAssignment,
    OutboxMessage,
    PushSubscription,
    Sequence,
    Step,
    StepOverride,
    SurveyResponse,
)
from practice.admin import PracticeFilter, PracticeScopedAdminMixin, ReadOnlyAdminMixin

FIELDS_HELP = "Allowed fields: " + ", ".join(f"{{{{ {name} }}}}" for name in ALLOWED_FIELDS) + "."


class StepForm(forms.ModelForm):
    class Meta:
        model = Step
        fields = [
            "position",
            "key",
            "name",
            "is_active",
            "anchor",
            "offset_minutes",
            "channel",
            "audience",
            "conditions",
            "subject",
            "body",
            "translations",
            "attach_calendar",
            "urgent",
        ]
        help_texts = {
            "body": FIELDS_HELP,
            "subject": FIELDS_HELP,
            "translations": 'The step in other languages: {"es": {"subject": "…", "body": "…"}}. '
            + "Each is checked like the default text.",
        }

    def clean_body(self):
        body = self.cleaned_data["body"]
        validate_template(body)
        return body

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("channel") == "sms" and cleaned.get("body"):
            for error in sms_template_errors(cleaned["body"]):
                self.add_error("body", error)
        if "translations" in cleaned:
            errors = translations_errors(
                cleaned["translations"] or {}, channel=cleaned.get("channel", ""), languages=LANGUAGES
            )
            if errors:
                self.add_error("translations", errors)
        return cleaned

    def clean_subject(self):
        subject = self.cleaned_data["subject"]
        validate_template(subject)
        return subject


class StepInline(admin.StackedInline):
    model = Step
    form = StepForm
    extra = 0
    fields = [  # the form's fields, laid out in rows
        ("position", "key", "name", "is_active"),
        ("anchor", "offset_minutes", "channel", "audience"),
        "conditions",
        "subject",
        "body",
        "translations",
        ("attach_calendar", "urgent"),
    ]


class SequenceForm(forms.ModelForm):
    """The practice-wide settings: quiet hours (client's clock) and the languages offered."""

    class Meta:
        model = Sequence
        fields = ["quiet_start", "quiet_end", "languages"]
        help_texts = {
            "languages": "Known languages: " + ", ".join(f"{c} ({n})" for c, n in LANGUAGES.items())
        }

    def clean_languages(self):
        languages = self.cleaned_data["languages"] or []
        if not isinstance(languages, list) or not languages:
            raise forms.ValidationError('A list of language codes, the default first, e.g. ["en", "es"].')
        unknown = [code for code in languages if code not in LANGUAGES]
        if unknown:
            raise forms.ValidationError(f"Unknown language(s): {', '.join(map(str, unknown))}.")
        if len(set(languages)) != len(languages):
            raise forms.ValidationError("Each language once.")
        return languages

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("quiet_start"), cleaned.get("quiet_end")
        if (
            (start is None) != (end is None)
            and not self.has_error("quiet_start")
            and not self.has_error("quiet_end")
        ):
            self.add_error(
                "quiet_end", "Give both a start and an end, or leave both empty for no quiet hours."
            )
        elif start is not None and start == end:
            self.add_error("quiet_end", "The end must differ from the start.")
        return cleaned


@admin.register(Sequence)
class SequenceAdmin(PracticeScopedAdminMixin, admin.ModelAdmin):
    form = SequenceForm
    list_display = ["practice", "quiet_start", "quiet_end", "languages", "updated_at"]
    list_select_related = ["practice"]
    inlines = [StepInline]
    readonly_fields = ["practice"]
    fieldsets = [
        (None, {"fields": ["practice"]}),
        (
            "Practice quiet hours",
            {
                "fields": [("quiet_start", "quiet_end")],
                "description": "No texts or push notifications to a client in these hours on the "
                "client's own clock, except steps marked urgent. A client's own quiet hours add to these.",
            },
        ),
        ("Languages", {"fields": ["languages"]}),
    ]

    def has_add_permission(self, request):
        return False  # every practice gets its sequence on first use


@admin.register(OutboxMessage)
class OutboxMessageAdmin(ReadOnlyAdminMixin, PracticeScopedAdminMixin, admin.ModelAdmin):
    """ "Why did (or didn't) this message go out?" — every row with its state and reason."""

    list_display = ["id", "appointment_id", "kind", "channel", "recipient_key", "due_at", "state", "reason"]
    list_filter = [PracticeFilter, "state", "channel", "kind"]
    list_select_related = ["practice"]
    search_fields = ["=appointment__id", "=provider_message_id", "kind"]
    date_hierarchy = "due_at"
    ordering = ["-due_at"]


@admin.register(DeliveryReport)
class DeliveryReportAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["provider_message_id", "status", "error_code", "received_at"]
    search_fields = ["=provider_message_id"]

    def has_module_permission(self, request):
        return request.user.is_superuser  # not tied to a practice, so not scoped for operators

    def has_view_permission(self, request, obj=None):
        return request.user.is_superuser


@admin.register(DispatcherHeartbeat)
class DispatcherHeartbeatAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["name", "last_sweep_at", "last_sweep_sent"]


@admin.register(PushSubscription)
class PushSubscriptionAdmin(ReadOnlyAdminMixin, PracticeScopedAdminMixin, admin.ModelAdmin):
    """Browsers that asked for session notifications; the keys are never shown."""

    list_display = ["id", "client", "created_at", "last_success_at", "revoked_at"]
    list_filter = [PracticeFilter]
    list_select_related = ["client"]
    fields = ["client", "user_agent", "created_at", "last_success_at", "revoked_at"]


@admin.register(StepOverride)
class StepOverrideAdmin(ReadOnlyAdminMixin, PracticeScopedAdminMixin, admin.ModelAdmin):
    """Clinician overrides; changed on the staff reminder-settings pages (audit-logged)."""

    list_display = [
        "id",
        "step",
        "client",
        "clinician",
        "appointment_id",
        "enabled",
        "set_by_name",
        "updated_at",
    ]
    list_filter = [PracticeFilter, "enabled"]
    list_select_related = ["step", "client", "clinician"]
    search_fields = ["=appointment__id", "=client__id"]


@admin.register(SurveyResponse)
class SurveyResponseAdmin(ReadOnlyAdminMixin, PracticeScopedAdminMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "clinician",
        "session_starts_at",
        "session_rating",
        "joining_rating",
        "submitted_at",
    ]
    list_filter = [PracticeFilter, "session_rating"]
    list_select_related = ["clinician"]
    date_hierarchy = "session_starts_at"


@admin.register(HoldoutAssignment)
class HoldoutAssignmentAdmin(ReadOnlyAdminMixin, PracticeScopedAdminMixin, admin.ModelAdmin):
    """Who was held out of which step for measurement (SPEC F18): drawn once at planning."""

    list_display = ["id", "appointment_id", "participant_id", "step", "held_out", "percent", "assigned_at"]
    list_filter = [PracticeFilter, "held_out", "step__key"]
    list_select_related = ["step"]
    search_fields = ["=appointment__id"]

"""The operator console (Django admin) for the tenant app, and the scoping every admin uses.

Superusers see every practice. An operator (``is_staff``, not a superuser) sees only the rows
of the practices they are a member of: ``PracticeScopedAdminMixin`` filters the lists and change
pages and limits foreign-key choices, so one mixin does it for every model admin.

The admin URLs carry ids only; names and contact details stay in the page bodies.
"""

from __future__ import annotations

import phonenumbers
from auditlog.admin import LogEntryAdmin as AuditlogLogEntryAdmin
from auditlog.models import LogEntry as AuditLogEntry
from auditlog.signals import accessed
from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef
from django.shortcuts import get_object_or_404
from django_otp.plugins.otp_totp.admin import TOTPDeviceAdmin
from django_otp.plugins.otp_totp.models import TOTPDevice

from practice import tokens
from practice.models import ApiToken, Client, ClinicianProfile, ConsentEvent, Membership, Practice, User

# --- Scoping ---------------------------------------------------------------------------------


def operator_practice_ids(request):
    """The practices the signed-in operator belongs to, as a subquery (no extra round trip)."""
    # A membership deactivated on the team page gives no access here either.
    return Membership.objects.filter(user_id=request.user.pk, is_active=True).values("practice_id")


class PracticeScopedAdminMixin:
    """Limit a model admin (or inline) to the operator's practices; superusers see everything.

    ``practice_lookup`` is the path from the admin's model to its Practice. Foreign-key choices
    are scoped by the related model's own admin, so a form never offers another practice's rows
    and a forged id fails validation.
    """

    practice_lookup = "practice"

    def scope_queryset(self, queryset, request):
        if request.user.is_superuser:
            return queryset
        return queryset.filter(**{f"{self.practice_lookup}__in": operator_practice_ids(request)})

    def get_queryset(self, request):
        return self.scope_queryset(super().get_queryset(request), request)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        related_admin = self.admin_site._registry.get(db_field.related_model)
        if "queryset" not in kwargs and isinstance(related_admin, PracticeScopedAdminMixin):
            # get_field_queryset keeps the related admin's ordering; None when it has none.
            queryset = self.get_field_queryset(kwargs.get("using"), db_field, request)
            if queryset is None:
                queryset = db_field.related_model._default_manager.using(kwargs.get("using"))
            kwargs["queryset"] = related_admin.scope_queryset(queryset, request)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class PracticeFilter(admin.SimpleListFilter):
    """Filter by practice, offering only the practices the operator may see.

    Django's related-field filter would list every practice's name to every operator."""

    title = "practice"
    parameter_name = "practice"

    def __init__(self, request, params, model, model_admin):
        self.practice_lookup = getattr(model_admin, "practice_lookup", "practice")
        super().__init__(request, params, model, model_admin)

    def lookups(self, request, model_admin):
        practices = Practice.objects.order_by("name")
        if not request.user.is_superuser:
            practices = practices.filter(pk__in=operator_practice_ids(request))
        return list(practices.values_list("pk", "name"))

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        if not (value.isascii() and value.isdigit()):
            raise IncorrectLookupParameters(f"Unknown practice {value!r}.")
        return queryset.filter(**{self.practice_lookup: int(value)})


class ReadOnlyAdminMixin:
    """Records the system writes (joins, tech checks, meetings): viewable, never edited here."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ActionsOnlyAdminMixin:
    """Rows that change only through admin actions calling a service (resolve, revoke): not
    added or deleted here, and every field read-only (list them in ``readonly_fields``). The
    change permission stays, because that is what the actions require."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # Nothing on the page is editable, so a Save button would only mislead.
        no_saving = {"show_save": False, "show_save_and_continue": False, "show_save_and_add_another": False}
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **no_saving})


def run_service_per_row(request, queryset, action, done: str, failed: str) -> None:
    """Call ``action(row)`` for each selected row; report the successes once and each refusal
    (a ValidationError from the service) as its own message, so one bad row never fails the rest."""
    succeeded = 0
    for row in queryset:
        try:
            action(row)
        except ValidationError as error:
            messages.error(request, f"{failed} #{row.pk}: {' '.join(error.messages)}")
        else:
            succeeded += 1
    if succeeded:
        messages.success(request, done.format(count=succeeded))


# --- Practices and memberships -------------------------------------------------------------------


@admin.register(Practice)
class PracticeAdmin(PracticeScopedAdminMixin, admin.ModelAdmin):
    practice_lookup = "pk"
    list_display = ["name", "slug", "timezone", "telehealth_provider", "created_at"]
    list_filter = ["telehealth_provider"]
    search_fields = ["name", "slug", "email"]
    readonly_fields = ["created_at"]

    # An operator could not see a practice they created (they are not a member yet), and
    # removing one deletes every client and session in it: both are for superusers.
    def has_add_permission(self, request):
        return request.user.is_superuser and super().has_add_permission(request)

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser and super().has_delete_permission(request, obj)


@admin.register(Membership)
class MembershipAdmin(PracticeScopedAdminMixin, admin.ModelAdmin):
    list_display = ["user", "practice", "role", "created_at"]
    list_filter = [PracticeFilter, "role"]
    list_select_related = ["user", "practice"]
    search_fields = ["user__email", "user__full_name"]
    autocomplete_fields = ["user"]
    readonly_fields = ["created_at"]


class MembershipInline(PracticeScopedAdminMixin, admin.TabularInline):
    model = Membership
    extra = 0
    fields = ["practice", "role", "created_at"]
    readonly_fields = ["created_at"]

    def get_min_num(self, request, obj=None, **kwargs):
        # An operator only sees users of their own practices: a user they create without a
        # membership would vanish from their console at once.
        return 1 if obj is None and not request.user.is_superuser else 0

    def get_extra(self, request, obj=None, **kwargs):
        # The operator's required row above is the blank one; a superuser gets an optional one.
        return 1 if obj is None and request.user.is_superuser else 0

    def get_formset(self, request, obj=None, **kwargs):
        # min_num alone only shows a blank row; validate_min makes leaving it empty an error.
        return super().get_formset(request, obj, validate_min=True, **kwargs)


@admin.register(ApiToken)
class ApiTokenAdmin(ActionsOnlyAdminMixin, PracticeScopedAdminMixin, admin.ModelAdmin):
    """Tokens are made with ``manage.py create_api_token`` (the raw key is shown once, there);
    here they are listed and revoked. The key hash is never shown."""

    list_display = ["name", "prefix", "practice", "created_at", "last_used_at", "revoked_at"]
    list_filter = [PracticeFilter, ("revoked_at", admin.EmptyFieldListFilter)]
    list_select_related = ["practice"]
    search_fields = ["name", "prefix"]
    fields = ["practice", "name", "prefix", "created_by", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = fields
    actions = ["revoke_selected"]

    @admin.action(description="Revoke selected tokens", permissions=["change"])
    def revoke_selected(self, request, queryset):
        run_service_per_row(
            request,
            queryset,
            lambda token: tokens.api_token_revoke(token=token),
            done="Revoked {count} token(s).",
            failed="Not revoked: token",
        )


# --- Users ----------------------------------------------------------------------------------------


def _clean_unique_email(form) -> str:
    """Sign-in is by e-mail, stored lower-case (UserManager): reject a case-only duplicate."""
    email = form.cleaned_data["email"].strip().lower()
    others = User.objects.filter(email__iexact=email)
    if form.instance.pk:
        others = others.exclude(pk=form.instance.pk)
    if others.exists():
        raise forms.ValidationError("A user with this e-mail address already exists.")
    return email


class UserAddForm(AdminUserCreationForm):
    class Meta:
        model = User
        fields = ("email", "full_name")
        field_classes: dict = {}

    def clean_email(self):
        return _clean_unique_email(self)


class UserEditForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"
        field_classes: dict = {}

    def clean_email(self):
        return _clean_unique_email(self)


# Changing these on any account is a privilege grant; an operator must not be able to do it.
SUPERUSER_ONLY_USER_FIELDS = ("is_superuser", "groups", "user_permissions")


@admin.register(User)
class UserAdmin(PracticeScopedAdminMixin, DjangoUserAdmin):
    form = UserEditForm
    add_form = UserAddForm
    inlines = [MembershipInline]
    list_display = ["email", "full_name", "is_active", "is_staff", "is_superuser", "two_factor", "last_login"]
    list_filter = [PracticeFilter, "is_active", "is_staff", "is_superuser"]
    search_fields = ["email", "full_name"]
    ordering = ["email"]
    readonly_fields = ["two_factor", "last_login", "date_joined"]
    fieldsets = [
        (None, {"fields": ["email", "full_name", "password"]}),
        ("Access", {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]}),
        ("Sign-in", {"fields": ["two_factor", "last_login", "date_joined"]}),
    ]
    add_fieldsets = [
        (
            None,
            {
                "classes": ["wide"],
                "fields": ["email", "full_name", "usable_password", "password1", "password2"],
            },
        ),
    ]

    def scope_queryset(self, queryset, request):
        if request.user.is_superuser:
            return queryset
        # A subquery, not a join through memberships: a user in two of the operator's
        # practices must appear once.
        members = Membership.objects.filter(practice__in=operator_practice_ids(request))
        return queryset.filter(pk__in=members.values("user_id"))

    def get_queryset(self, request):
        confirmed_totp = TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True)
        return super().get_queryset(request).annotate(has_totp=Exists(confirmed_totp))

    @admin.display(boolean=True, description="2FA (TOTP)", ordering="has_totp")
    def two_factor(self, obj) -> bool:
        if hasattr(obj, "has_totp"):
            return obj.has_totp
        return TOTPDevice.objects.filter(user=obj, confirmed=True).exists()

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            readonly += SUPERUSER_ONLY_USER_FIELDS
        return readonly

    def has_change_permission(self, request, obj=None):
        # An operator who could reset a superuser's e-mail or password could become one.
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_delete_permission(request, obj)


# --- Clinicians and clients -------------------------------------------------------------------------


@admin.register(ClinicianProfile)
class ClinicianProfileAdmin(PracticeScopedAdminMixin, admin.ModelAdmin):
    list_display = ["display_name", "practice", "user", "credentials", "is_active"]
    list_filter = [PracticeFilter, "is_active"]
    list_select_related = ["practice", "user"]
    search_fields = ["display_name", "email", "user__email", "user__full_name", "telehealth_user_id"]
    autocomplete_fields = ["user"]


@admin.register(Client)
class ClientAdmin(PracticeScopedAdminMixin, admin.ModelAdmin):
    list_display = ["last_name", "first_name", "practice", "status", "preferred_channel", "sms_consent"]
    list_filter = [PracticeFilter, "status", "preferred_channel", "source"]
    list_select_related = ["practice"]
    search_fields = ["first_name", "last_name", "preferred_name", "email", "phone", "external_id"]
    # Consent is evidence (when, how, recorded by whom): it is recorded through the staff
    # pages and the SMS keywords, never typed in here.
    readonly_fields = [
        "sms_consent_at",
        "sms_consent_source",
        "sms_consent_recorded_by",
        "created_at",
        "updated_at",
    ]
    fieldsets = [
        (None, {"fields": ["practice", "first_name", "last_name", "preferred_name", "status"]}),
        ("Contact", {"fields": ["phone", "email", "timezone", "preferred_channel"]}),
        (
            "Text-message consent",
            {"fields": ["sms_consent_at", "sms_consent_source", "sms_consent_recorded_by"]},
        ),
        ("Origin", {"fields": ["source", "external_id", "created_at", "updated_at"]}),
    ]

    @admin.display(boolean=True, description="SMS consent")
    def sms_consent(self, obj) -> bool:
        return obj.has_sms_consent

    def get_search_results(self, request, queryset, search_term):
        found, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        # Phones are stored as E.164 (+12125550101); let "(212) 555-0101" find them too.
        # ``queryset`` already carries the list filters, so OR-ing with it keeps them.
        e164 = _as_e164(search_term)
        if e164:
            found |= queryset.filter(phone=e164)
        return found, may_have_duplicates

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        # Showing a client's record to an operator is a disclosure: audit it (HIPAA access log).
        if obj is not None and not add:
            accessed.send(sender=Client, instance=obj)
        return super().render_change_form(
            request, context, add=add, change=change, form_url=form_url, obj=obj
        )


def _as_e164(text: str) -> str:
    try:
        number = phonenumbers.parse(text, settings.PHONENUMBER_DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        return ""
    if not phonenumbers.is_valid_number(number):
        return ""
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# --- The audit log ------------------------------------------------------------------------------------


# auditlog's own admin stays read-only; this subclass only fixes its search (it names
# first_name/last_name, which this user model has not, so any search was a server error)
# and keeps it to superusers: entries are not tied to a practice, so they cannot be scoped.
if admin.site.is_registered(AuditLogEntry):
    admin.site.unregister(AuditLogEntry)


@admin.register(AuditLogEntry)
class AuditLogEntryAdmin(AuditlogLogEntryAdmin):
    search_fields = ["object_repr", "changes_text", "actor__email", "actor__full_name", "actor_email"]

    def has_module_permission(self, request):
        return request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return request.user.is_superuser


@admin.register(ConsentEvent)
class ConsentEventAdmin(ReadOnlyAdminMixin, PracticeScopedAdminMixin, admin.ModelAdmin):
    """The history of every consent change (keywords, preference page, staff): evidence, not editable."""

    list_display = ["at", "client", "channel", "action", "source", "changed", "recorded_by"]
    list_filter = [PracticeFilter, "action", "source"]
    list_select_related = ["client", "recorded_by"]
    search_fields = ["=client__id", "client__last_name"]
    date_hierarchy = "at"


class TOTPDeviceConsoleAdmin(TOTPDeviceAdmin):
    """django-otp's own admin, but its configuration and QR-code pages answer 404 for an unknown
    device (they raised DoesNotExist: a 500; found by the hostile-input crawl)."""

    def config_view(self, request, pk):
        get_object_or_404(TOTPDevice, pk=pk)
        return super().config_view(request, pk)

    def qrcode_view(self, request, pk):
        get_object_or_404(TOTPDevice, pk=pk)
        return super().qrcode_view(request, pk)


if admin.site.is_registered(TOTPDevice):
    admin.site.unregister(TOTPDevice)
admin.site.register(TOTPDevice, TOTPDeviceConsoleAdmin)

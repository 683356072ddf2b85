"""The tenant (Practice), staff accounts and their roles, clinician and client profiles.

Every row that holds client data belongs to exactly one practice, and every query a
staff page makes goes through ``for_practice`` so nobody sees another practice's data.
"""

from __future__ import annotations

from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.contrib.sessions.base_session import AbstractBaseSession
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from phonenumber_field.modelfields import PhoneNumberField

from practice.timezones import timezone_choices, validate_timezone


def default_timezone() -> str:
    return settings.DEFAULT_PRACTICE_TIMEZONE


class TimezoneField(models.CharField):
    """An IANA zone name, validated, offered as a choice list in forms."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_length", 64)
        kwargs.setdefault("validators", [validate_timezone])
        super().__init__(*args, **kwargs)

    def formfield(self, **kwargs):
        from django import forms

        choices = timezone_choices()
        if self.blank:
            choices = [("", "Same as the practice"), *choices]
        kwargs.setdefault("widget", forms.Select(choices=choices))
        return super().formfield(**kwargs)


class PracticeScopedQuerySet(models.QuerySet):
    def for_practice(self, practice: Practice):
        return self.filter(practice=practice)


# --- Users and roles -----------------------------------------------------------------------


class UserManager(BaseUserManager):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra):
        if not email:
            raise ValueError("Users need an e-mail address.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra):
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who signs in: practice staff, clinicians and operators (never clients)."""

    email = models.EmailField("e-mail", unique=True)
    full_name = models.CharField(max_length=150)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(
        "operator", default=False, help_text="May use the operator console (Django admin)."
    )
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["full_name"]

    class Meta:
        ordering = ["full_name"]

    def __str__(self) -> str:
        return self.full_name or self.email

    def get_full_name(self) -> str:
        return self.full_name

    def get_short_name(self) -> str:
        return self.full_name.split(" ")[0] if self.full_name else self.email


class BrowserSession(AbstractBaseSession):
    """A browser's session (practice.sessions), with the signed-in user's id in a column of its
    own so their sessions can be found without decoding every session. Not a foreign key: a
    session outlives nothing it names, and visitors' sessions have no user."""

    user_id = models.BigIntegerField(null=True, db_index=True)

    @classmethod
    def get_session_store_class(cls):
        from practice.sessions import SessionStore

        return SessionStore


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    MANAGER = "manager", "Practice manager"
    FRONT_DESK = "front_desk", "Front desk"
    CLINICIAN = "clinician", "Clinician"
    BILLER = "biller", "Biller"


# --- The tenant ----------------------------------------------------------------------------


class TelehealthProvider(models.TextChoices):
    JITSI = "jitsi", "Jitsi"
    ZOOM = "zoom", "Zoom for Healthcare"
    DOXY = "doxy", "Doxy.me"
    MANUAL = "manual", "Manual / EHR link"
    FAKE = "fake", "Fake (development)"


class Practice(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=60, unique=True)
    timezone = TimezoneField(default=default_timezone)
    phone = PhoneNumberField(blank=True, help_text="Shown to clients who need help.")
    email = models.EmailField(blank=True)
    address = models.TextField(blank=True)
    business_hours_start = models.TimeField(default="08:00")
    business_hours_end = models.TimeField(default="19:00")

    # Policies
    late_cancel_window_hours = models.PositiveSmallIntegerField(
        default=24,
        validators=[MaxValueValidator(24 * 14)],
        help_text="A cancellation closer to the start than this counts as a late cancellation.",
    )
    no_show_grace_minutes = models.PositiveSmallIntegerField(
        default=15,
        validators=[MaxValueValidator(120)],
        help_text="Minutes after the start without a join before a client counts as a no-show.",
    )
    no_show_fee = models.DecimalField(
        max_digits=8,
        decimal_places=2,
        default=Decimal("0.00"),
        validators=[MinValueValidator(Decimal("0"))],
    )

    baseline_no_show_rate = models.DecimalField(
        "baseline no-show rate (%)",
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))],
        help_text="The practice's no-show rate before Attend, in percent; the metrics page estimates "
        "the revenue recovered against it.",
    )

    # Telehealth and messaging configuration
    telehealth_provider = models.CharField(
        max_length=20, choices=TelehealthProvider.choices, default=TelehealthProvider.FAKE
    )
    join_opens_minutes_before = models.PositiveSmallIntegerField(
        default=15,
        validators=[MaxValueValidator(120)],
        help_text="How long before the start a client's join link starts working.",
    )
    sms_from_number = PhoneNumberField(blank=True, help_text="Twilio sending number.")
    # The provider's credentials for this practice, encrypted (practice/credentials.py); written
    # from the practice settings page, never shown again. Empty: the deployment's settings.
    telehealth_credentials = models.TextField(blank=True, editable=False)
    email_sender_name = models.CharField(
        max_length=100, blank=True, help_text="Display name on reminder e-mail; practice name if empty."
    )

    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def zoneinfo(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class Membership(models.Model):
    """A user's role in one practice."""

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices)
    is_active = models.BooleanField(
        default=True, help_text="Inactive members cannot sign in to this practice (team page: deactivate)."
    )
    deactivated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = PracticeScopedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["practice", "user"], name="membership_one_role_per_practice")
        ]
        ordering = ["practice", "user"]

    def __str__(self) -> str:
        return f"{self.user} — {self.get_role_display()} at {self.practice}"


# --- People --------------------------------------------------------------------------------


class Modality(models.TextChoices):
    TELEHEALTH = "telehealth", "Telehealth"
    IN_PERSON = "in_person", "In person"


class ClinicianProfile(models.Model):
    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="clinicians")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="clinician_profiles",
        help_text="The clinician's sign-in account, if they have one.",
    )
    display_name = models.CharField(max_length=100, help_text="As clients see it, e.g. “Dr. Smith”.")
    credentials = models.CharField(max_length=100, blank=True, help_text="e.g. PhD, LCSW")
    specialties = models.CharField(max_length=300, blank=True, help_text="Comma-separated.")
    languages = models.CharField(max_length=200, blank=True, default="English")
    modalities = models.CharField(
        max_length=40,
        blank=True,
        default="telehealth,in_person",
        help_text="Comma-separated: telehealth, in_person.",
    )
    phone = PhoneNumberField(blank=True)
    email = models.EmailField(blank=True)
    timezone = TimezoneField(blank=True)
    telehealth_room_url = models.URLField(
        blank=True,
        help_text="Personal room link (Doxy.me, or a fixed link for the manual provider).",
    )
    telehealth_user_id = models.CharField(
        max_length=100,
        blank=True,
        help_text="Zoom user id or e-mail that hosts this clinician's meetings; their e-mail if empty.",
    )
    default_session_minutes = models.PositiveSmallIntegerField(
        default=50, validators=[MinValueValidator(5), MaxValueValidator(480)]
    )
    session_fee = models.DecimalField(
        max_digits=8,
        decimal_places=2,
        default=Decimal("0.00"),
        validators=[MinValueValidator(Decimal("0"))],
    )
    is_active = models.BooleanField(default=True)

    objects = PracticeScopedQuerySet.as_manager()

    class Meta:
        ordering = ["display_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["practice", "user"],
                condition=models.Q(user__isnull=False),
                name="clinician_one_profile_per_user_per_practice",
            )
        ]

    def __str__(self) -> str:
        return self.display_name

    @property
    def zoneinfo(self) -> ZoneInfo:
        return ZoneInfo(self.timezone or self.practice.timezone)


class PreferredChannel(models.TextChoices):
    SMS = "sms", "Text message"
    EMAIL = "email", "E-mail"


class ClientStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    INACTIVE = "inactive", "Inactive"
    DISCHARGED = "discharged", "Discharged"


class ConsentSource(models.TextChoices):
    INTAKE_FORM = "intake_form", "Intake form"
    VERBAL = "verbal", "Verbal, recorded by staff"
    SMS_KEYWORD = "sms_keyword", "SMS keyword (START)"
    EHR = "ehr", "From the EHR"
    API = "api", "Through the API"
    PREFERENCE_CENTER = "preference_center", "Client's preference page"
    ONLINE_BOOKING = "online_booking", "Online booking page"


class Client(models.Model):
    """A person who attends sessions. Clients never sign in; they only receive links."""

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="clients")
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    preferred_name = models.CharField(max_length=100, blank=True)
    phone = PhoneNumberField(blank=True, help_text="Mobile number for text reminders.")
    email = models.EmailField(blank=True)
    timezone = TimezoneField(blank=True, help_text="Leave empty to use the practice's time zone.")
    preferred_channel = models.CharField(
        max_length=10, choices=PreferredChannel.choices, default=PreferredChannel.SMS
    )
    sms_consent_at = models.DateTimeField(null=True, blank=True)
    sms_consent_source = models.CharField(max_length=20, choices=ConsentSource.choices, blank=True)
    sms_consent_recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    status = models.CharField(max_length=12, choices=ClientStatus.choices, default=ClientStatus.ACTIVE)
    no_show_policy_accepted_on = models.DateField(
        null=True,
        blank=True,
        verbose_name="No-show policy signed on",
        help_text="When the client signed the practice's no-show policy. A no-show fee notice is only "
        "sent to clients who signed it.",
    )
    source = models.CharField(max_length=20, default="staff")
    external_source = models.CharField(
        max_length=40, blank=True, help_text="The system the external id is from, e.g. the EHR's name."
    )
    external_id = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PracticeScopedQuerySet.as_manager()

    class Meta:
        ordering = ["last_name", "first_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["practice", "source", "external_source", "external_id"],
                condition=~models.Q(external_id=""),
                name="client_unique_external_id",
            )
        ]
        indexes = [models.Index(fields=["practice", "last_name", "first_name"])]

    def __str__(self) -> str:
        return self.full_name

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def greeting_name(self) -> str:
        return self.preferred_name or self.first_name

    @property
    def has_sms_consent(self) -> bool:
        return bool(self.phone) and self.sms_consent_at is not None

    @property
    def text_channel(self) -> str:
        """How a message meant as a text reaches this client, as the dispatcher decides
        (messaging.dispatch._resolve_channel): "sms" with consent unless they prefer e-mail,
        else "email" when there is an address, else "" (it cannot reach them)."""
        if self.has_sms_consent and self.preferred_channel != PreferredChannel.EMAIL:
            return "sms"
        return "email" if self.email else ""

    def zoneinfo(self, practice: Practice | None = None) -> ZoneInfo:
        return ZoneInfo(self.timezone or (practice or self.practice).timezone)


# --- API tokens ----------------------------------------------------------------------------


class ApiToken(models.Model):
    """A practice's key for the REST API. Only a SHA-256 hash of the token is stored, so a
    leaked database does not leak working keys; ``prefix`` lets staff tell tokens apart.
    Created, checked and revoked through ``practice.tokens``."""

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="What uses this token, e.g. “EHR sync”.")
    prefix = models.CharField(max_length=16, help_text="The token's first characters, to recognise it.")
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = PracticeScopedQuerySet.as_manager()

    class Meta:
        ordering = ["practice", "-created_at"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


# --- Invitations ------------------------------------------------------------------------------


class Invitation(models.Model):
    """A manager's invitation to join the practice with a role. The link carries a random token;
    only its SHA-256 hash is stored. Single use, expiring; made and accepted through
    ``practice.services.invitation_create`` / ``invitation_accept``."""

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField("e-mail")
    full_name = models.CharField(max_length=150)
    role = models.CharField(max_length=20, choices=Role.choices)
    token_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = PracticeScopedQuerySet.as_manager()

    class Meta:
        ordering = ["practice", "-created_at"]

    def __str__(self) -> str:
        return f"Invitation of {self.email} as {self.get_role_display()}"

    def is_open(self, now) -> bool:
        return self.accepted_at is None and self.revoked_at is None and now < self.expires_at


# --- Consent history (SPEC F13) ------------------------------------------------------------


class ConsentAction(models.TextChoices):
    OPT_IN = "opt_in", "Opted in"
    OPT_OUT = "opt_out", "Opted out"


class ConsentChannel(models.TextChoices):
    SMS = "sms", "Text messages"


class ConsentEventSource(models.TextChoices):
    """Where a consent change came from: ConsentSource's values and the ones only events have."""

    INTAKE_FORM = "intake_form", "Intake form"
    VERBAL = "verbal", "Verbal, recorded by staff"
    SMS_KEYWORD = "sms_keyword", "SMS keyword (STOP/START)"
    PREFERENCE_CENTER = "preference_center", "Client's preference page"
    CARRIER = "carrier_21610", "Carrier refused: the number replied STOP (Twilio 21610)"
    EHR = "ehr", "From the EHR"
    API = "api", "Through the API"
    ONLINE_BOOKING = "online_booking", "Online booking page"


class ConsentEvent(models.Model):
    """One consent request or change, kept for good: the client row holds the current state,
    these rows say who asked for what, when and how. Written by practice.consent only.

    ``external_id`` is the provider's id of what caused it (an inbound SMS's MessageSid), so a
    re-delivered webhook is recognised and changes nothing twice."""

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="+")
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="consent_events")
    channel = models.CharField(max_length=10, choices=ConsentChannel.choices, default=ConsentChannel.SMS)
    action = models.CharField(max_length=10, choices=ConsentAction.choices)
    source = models.CharField(max_length=20, choices=ConsentEventSource.choices)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    at = models.DateTimeField()
    changed = models.BooleanField(
        default=True, help_text="False when the client's consent already was as requested."
    )
    detail = models.CharField(max_length=200, blank=True, help_text="e.g. the keyword; never message text.")
    external_id = models.CharField(max_length=64, blank=True)

    objects = PracticeScopedQuerySet.as_manager()

    class Meta:
        ordering = ["client", "at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["client", "external_id"],
                condition=~models.Q(external_id=""),
                name="consent_event_once_per_provider_event",
            )
        ]
        indexes = [
            # Read by practice.consent.client_sms_keyword_apply: "was this inbound SMS seen?"
            models.Index(
                fields=["external_id"], condition=~models.Q(external_id=""), name="consent_event_ext"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()} ({self.get_channel_display()}) for client #{self.client_id}"

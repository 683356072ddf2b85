"""Self-service data (SPEC F4): what the practice offers online, each clinician's matching
profile, one-time codes that prove an address, and booking requests from new clients.

The lists a practice edits (concerns, payers) are rows of their own so that a renamed concern
keeps its clinicians. A booking request holds its slot with a ``scheduling.Hold`` row (under the
calendar's no-overlap rule) until the practice approves or declines it, or the hold expires.
"""

from __future__ import annotations

from django.db import models

from practice.models import ClinicianProfile, Practice, PracticeScopedQuerySet
from scheduling.models import ServiceType


class AgeGroup(models.TextChoices):
    CHILD = "child", "Child (under 13)"
    TEEN = "teen", "Teen (13 to 17)"
    ADULT = "adult", "Adult (18 to 64)"
    OLDER_ADULT = "older_adult", "Older adult (65+)"


US_STATES = [
    ("AL", "Alabama"), ("AK", "Alaska"), ("AZ", "Arizona"), ("AR", "Arkansas"), ("CA", "California"),
    ("CO", "Colorado"), ("CT", "Connecticut"), ("DE", "Delaware"), ("DC", "District of Columbia"),
    ("FL", "Florida"), ("GA", "Georgia"), ("HI", "Hawaii"), ("ID", "Idaho"), ("IL", "Illinois"),
    ("IN", "Indiana"), ("IA", "Iowa"), ("KS", "Kansas"), ("KY", "Kentucky"), ("LA", "Louisiana"),
    ("ME", "Maine"), ("MD", "Maryland"), ("MA", "Massachusetts"), ("MI", "Michigan"), ("MN", "Minnesota"),
    ("MS", "Mississippi"), ("MO", "Missouri"), ("MT", "Montana"), ("NE", "Nebraska"), ("NV", "Nevada"),
    ("NH", "New Hampshire"), ("NJ", "New Jersey"), ("NM", "New Mexico"), ("NY", "New York"),
    ("NC", "North Carolina"), ("ND", "North Dakota"), ("OH", "Ohio"), ("OK", "Oklahoma"), ("OR", "Oregon"),
    ("PA", "Pennsylvania"), ("RI", "Rhode Island"), ("SC", "South Carolina"), ("SD", "South Dakota"),
    ("TN", "Tennessee"), ("TX", "Texas"), ("UT", "Utah"), ("VT", "Vermont"), ("VA", "Virginia"),
    ("WA", "Washington"), ("WV", "West Virginia"), ("WI", "Wisconsin"), ("WY", "Wyoming"),
]  # fmt: skip
STATE_CODES = frozenset(code for code, _ in US_STATES)


class OnlineBooking(models.Model):
    """The practice's public booking page: off until the practice turns it on."""

    practice = models.OneToOneField(Practice, on_delete=models.CASCADE, related_name="online_booking")
    enabled = models.BooleanField(default=False, help_text="Show the booking page at /book/<slug>/.")
    services = models.ManyToManyField(
        ServiceType, blank=True, related_name="+", help_text="The services clients may book online."
    )
    accepts_new_clients = models.BooleanField(default=True)
    request_hold_hours = models.PositiveSmallIntegerField(
        default=24, help_text="Business hours a requested slot stays held for the practice to decide."
    )
    known_clients_book_instantly = models.BooleanField(
        default=False,
        help_text="A person whose verified e-mail or mobile number belongs to exactly one of the "
        "practice's active clients books the time at once, without a request to approve.",
    )
    cancellation_policy = models.TextField(
        blank=True,
        help_text="Shown to clients before they request a slot; they must accept it. "
        "Empty: a sentence built from the practice's late-cancel window and no-show fee.",
    )

    def __str__(self) -> str:
        return f"Online booking of {self.practice}"


class Concern(models.Model):
    """Something a client may come for ("Anxiety", "Couples"), in the practice's own words."""

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="concerns")
    name = models.CharField(max_length=80)
    position = models.PositiveSmallIntegerField(default=0)

    objects = PracticeScopedQuerySet.as_manager()

    class Meta:
        ordering = ["position", "name"]
        constraints = [
            models.UniqueConstraint(fields=["practice", "name"], name="concern_unique_per_practice")
        ]

    def __str__(self) -> str:
        return self.name


class Payer(models.Model):
    """How a client pays: an insurer's plan, or "Self-pay"."""

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="payers")
    name = models.CharField(max_length=120)

    objects = PracticeScopedQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["practice", "name"], name="payer_unique_per_practice")]

    def __str__(self) -> str:
        return self.name


class MatchingProfile(models.Model):
    """What matching knows about a clinician beyond the profile's languages and modalities."""

    clinician = models.OneToOneField(
        ClinicianProfile, on_delete=models.CASCADE, related_name="matching_profile"
    )
    accepting_new_clients = models.BooleanField(default=True)
    concerns = models.ManyToManyField(Concern, blank=True, related_name="clinicians")
    payers = models.ManyToManyField(Payer, blank=True, related_name="clinicians")
    approaches = models.CharField(max_length=200, blank=True, help_text="e.g. CBT, EMDR. Comma-separated.")
    age_groups = models.JSONField(default=list, blank=True, help_text="Age groups seen (AgeGroup values).")
    states_licensed = models.JSONField(default=list, blank=True, help_text="Two-letter US state codes.")
    bio = models.CharField(max_length=400, blank=True, help_text="One or two sentences clients read.")

    def __str__(self) -> str:
        return f"Matching profile of {self.clinician}"


class BookingRequestStatus(models.TextChoices):
    PENDING = "pending", "Waiting for the practice"
    PROPOSED = "proposed", "Another time proposed, waiting for the person"
    APPROVED = "approved", "Approved"
    DECLINED = "declined", "Declined"
    EXPIRED = "expired", "Expired"
    WITHDRAWN = "withdrawn", "Withdrawn"


class BookingRequest(models.Model):
    """A new client asking for a slot. It holds the slot until decided or expired; on approval the
    practice's client record and the appointment are made by the booking services."""

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="booking_requests")
    clinician = models.ForeignKey(ClinicianProfile, on_delete=models.CASCADE, related_name="+")
    # RESTRICT, not PROTECT: a service in use cannot be deleted, but a practice deleted whole takes
    # its rows with it.
    service_type = models.ForeignKey(ServiceType, on_delete=models.RESTRICT, related_name="+")
    modality = models.CharField(max_length=20)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    hold = models.OneToOneField(
        "scheduling.Hold", null=True, blank=True, on_delete=models.SET_NULL, related_name="booking_request"
    )
    status = models.CharField(
        max_length=12, choices=BookingRequestStatus.choices, default=BookingRequestStatus.PENDING
    )
    # The person (health information: shown to the practice's staff, never logged or in URLs).
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    email = models.EmailField()
    phone = models.CharField(max_length=20, blank=True, help_text="E.164.")
    timezone = models.CharField(max_length=64)
    sms_consent = models.BooleanField(default=False)
    # Which address the one-time code proved (the other one is only what the person typed).
    verified_by = models.CharField(max_length=10, default="email", help_text="email or sms")
    policy_accepted_at = models.DateTimeField()
    # The hold's expiry, kept here too: the hold row is gone once swept, the request's outcome stays.
    expires_at = models.DateTimeField()
    concerns = models.ManyToManyField(Concern, blank=True, related_name="+")
    payer = models.ForeignKey(Payer, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    age_group = models.CharField(max_length=12, choices=AgeGroup.choices, blank=True)
    state = models.CharField(max_length=2, blank=True)
    language = models.CharField(max_length=40, blank=True)
    # The language of the booking page the person used ("en", "es"; empty: the practice's default):
    # what the practice writes to them in before they are a client, and a new client's language.
    page_language = models.CharField(max_length=8, blank=True)
    # The practice's answer.
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        "practice.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decline_reason = models.CharField(max_length=300, blank=True)
    appointment = models.OneToOneField(
        "scheduling.Appointment", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # "Propose another time": starts_at/ends_at (and the hold) move to the practice's proposal; the
    # time the person first asked for is kept here. The person answers from a link whose token is
    # stored hashed; a new proposal makes a new link (the old one stops working).
    requested_starts_at = models.DateTimeField(null=True, blank=True)
    proposed_at = models.DateTimeField(null=True, blank=True)
    proposed_by = models.ForeignKey(
        "practice.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    proposal_token_hash = models.CharField(max_length=64, blank=True, db_index=True)
    created_at = models.DateTimeField()

    objects = PracticeScopedQuerySet.as_manager()

    class Meta:
        ordering = ["starts_at"]
        # The staff queue: a practice's pending requests by start.
        indexes = [models.Index(fields=["practice", "status", "starts_at"], name="booking_request_queue")]

    def __str__(self) -> str:
        return f"Booking request #{self.pk}"


class VerificationPurpose(models.TextChoices):
    BOOKING = "booking", "Booking request"
    # No code: the row only counts requests for a client-home link (rate limits).
    HOME_LINK = "home_link", "Client home link request"


class VerificationChannel(models.TextChoices):
    """How a one-time code reaches the person (not stored: the address's hash says enough)."""

    EMAIL = "email", "E-mail"
    SMS = "sms", "Text message"


class VerificationCode(models.Model):
    """A six-digit code sent to an address to prove the person reads it. Only a hash of the code
    and of the address is stored; a code works once, for a few minutes, for a few tries."""

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="+")
    purpose = models.CharField(max_length=20, choices=VerificationPurpose.choices)
    address_hash = models.CharField(max_length=64, db_index=True)
    code_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        # Rate limits count a practice's and an address's recent codes.
        indexes = [models.Index(fields=["practice", "created_at"], name="verification_code_recent")]

    def __str__(self) -> str:
        return f"Verification code #{self.pk}"


class ClientHomeLinkQuerySet(models.QuerySet):
    def valid(self, now):
        return self.filter(expires_at__gt=now)


class ClientHomeLink(models.Model):
    """A link to the client's home page, /h/<token>. Only the token's hash is stored, so every
    request for a link makes a new one; each works for LIFETIME."""

    client = models.ForeignKey("practice.Client", on_delete=models.CASCADE, related_name="+")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()

    objects = ClientHomeLinkQuerySet.as_manager()

    def __str__(self) -> str:
        return f"Home link #{self.pk}"


class DocumentKind(models.TextChoices):
    INTAKE = "intake", "Intake questionnaire"
    CONSENT = "consent", "Consent to sign"


class FieldType(models.TextChoices):
    TEXT = "text", "Text"
    CHOICE = "choice", "Choice"
    DATE = "date", "Date"
    YES_NO = "yesno", "Yes or no"


class DocumentTemplate(models.Model):
    """A form the practice asks new clients to complete before their first session: an intake
    questionnaire or a consent (telehealth consent, the no-show policy). Editing the wording makes
    a new version; a client's signature names the version they signed."""

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="document_templates")
    title = models.CharField(max_length=120)
    kind = models.CharField(max_length=10, choices=DocumentKind.choices)
    body = models.TextField(blank=True, help_text="What the client reads first, e.g. the consent's text.")
    # [{"key": "q1", "label": "…", "type": "text|choice|date|yesno", "choices": [...], "required": true}]
    fields = models.JSONField(default=list, blank=True)
    version = models.PositiveIntegerField(default=1)
    required = models.BooleanField(default=True, help_text="Needed before the client's first session.")
    is_active = models.BooleanField(default=True)

    objects = PracticeScopedQuerySet.as_manager()

    class Meta:
        ordering = ["kind", "title"]

    def __str__(self) -> str:
        return f"{self.title} (v{self.version})"


class DocumentSubmission(models.Model):
    """A client's completed document: their answers (health information: shown to the practice's
    staff only, never logged or put in a message) and the typed-name signature, with when, from
    which address, and which version."""

    template = models.ForeignKey(DocumentTemplate, on_delete=models.CASCADE, related_name="submissions")
    client = models.ForeignKey(
        "practice.Client", on_delete=models.CASCADE, related_name="document_submissions"
    )
    version = models.PositiveIntegerField()
    answers = models.JSONField(default=dict, blank=True)
    signed_name = models.CharField(max_length=200)
    signed_at = models.DateTimeField()
    signed_from = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-signed_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["template", "client", "version"], name="document_signed_once_per_version"
            )
        ]

    def __str__(self) -> str:
        return f"Document submission #{self.pk}"

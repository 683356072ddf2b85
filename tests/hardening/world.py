"""The data the crawl walks over: one practice with every role, sessions, links and tokens, and a
second practice whose ids the first one's staff must not reach."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.test import Client as HttpClient
from django.utils import timezone

from integrations.services import calendar_feed_create, webhook_endpoint_create
from messaging.after_session import after_session_link_for
from messaging.models import OutboxMessage
from messaging.preferences import preference_link_for
from messaging.sequences import sequence_for
from practice.models import Client, ClinicianProfile, Practice, Role
from practice.tokens import api_token_create
from scheduling.client_actions import manage_link_for
from scheduling.ehr import ehr_webhook_secret_rotate
from scheduling.models import FollowUpKind, ServiceType
from scheduling.services import appointment_book, follow_up_raise
from telehealth.services import join_link_for
from tests.conftest import make_practice, make_user, verified_session

TWILIO_TOKEN = "crawl-twilio-auth-token"
ZOOM_SECRET = "crawl-zoom-secret"
SITE_URL = "https://attend.example.org"
PRACTICE_NUMBER = "+12125550199"


@dataclass
class World:
    practice: Practice
    other: Practice
    sessions: dict[str, HttpClient]
    api_token: str
    other_api_token: str
    ehr_secret: str
    link_tokens: dict[str, str]  # first path segment ("a", "j", …) → a real token
    appointment_id: int
    participant_id: int
    client_phone: str
    provider_message_id: str
    meeting_id: str
    extra: dict = field(default_factory=dict)


def _practice_rows(practice: Practice, *, clinician_user, when: datetime, prefix: str):
    service = ServiceType.objects.create(
        practice=practice, name="Individual", code="90834", default_minutes=45, default_fee=Decimal("150")
    )
    clinician = ClinicianProfile.objects.create(
        practice=practice, user=clinician_user, display_name=f"Dr. {prefix}", default_session_minutes=45
    )
    ann = Client.objects.create(
        practice=practice,
        first_name="Ann",
        last_name=prefix,
        phone="+12015550123",
        email=f"ann@{prefix}.test",
        sms_consent_at=when - timedelta(days=30),
        sms_consent_source="intake_form",
    )
    bob = Client.objects.create(
        practice=practice, first_name="Bob", last_name=prefix, email=f"bob@{prefix}.test"
    )
    appointment = appointment_book(
        practice=practice, clinician=clinician, clients=[ann], service_type=service, starts_at=when
    )
    started = appointment_book(
        practice=practice,
        clinician=clinician,
        clients=[bob],
        service_type=service,
        starts_at=timezone.now().replace(second=0, microsecond=0) - timedelta(minutes=5),
    )
    return clinician, ann, bob, appointment, started


def build_world(settings) -> World:
    settings.TWILIO_AUTH_TOKEN = TWILIO_TOKEN
    settings.SITE_URL = SITE_URL
    settings.ZOOM_WEBHOOK_SECRET_TOKEN = ZOOM_SECRET
    settings.SMS_BACKEND = "messaging.backends.locmem.LocMemSMSBackend"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

    practice = make_practice("Riverside Counseling", "riverside")
    practice.sms_from_number = PRACTICE_NUMBER
    practice.save()
    other = make_practice("Harbor Therapy", "harbor", tz="America/Los_Angeles")
    users = {
        role: make_user(practice, role, f"{role}@riverside.test", f"{role.title()} Person")
        for role in (Role.OWNER, Role.MANAGER, Role.FRONT_DESK, Role.CLINICIAN, Role.BILLER)
    }
    other_manager = make_user(other, Role.MANAGER, "olga@harbor.test", "Olga Other")
    other_clinician_user = make_user(other, Role.CLINICIAN, "oscar@harbor.test", "Oscar Other")

    tomorrow = (timezone.now() + timedelta(days=1)).replace(hour=15, minute=0, second=0, microsecond=0)
    clinician, ann, _bob, appointment, started = _practice_rows(
        practice, clinician_user=users[Role.CLINICIAN], when=tomorrow, prefix="riverside"
    )
    _practice_rows(other, clinician_user=other_clinician_user, when=tomorrow, prefix="harbor")

    now = timezone.now()
    participant = appointment.participants.get()
    started_participant = started.participants.get()
    follow_up_raise(
        appointment=started, participant=started_participant, kind=FollowUpKind.TECH_CHECK_FAILED, detail="x"
    )
    sequence_for(practice)
    sequence_for(other)
    _, api_token = api_token_create(practice=practice, name="crawl")
    _, other_api_token = api_token_create(practice=other, name="other crawl")
    webhook_endpoint_create(
        practice=practice, url="https://hooks.example.test/attend", event_types=["appointment.booked"]
    )
    _, feed_token = calendar_feed_create(clinician=clinician)
    message = OutboxMessage.objects.filter(appointment=appointment).order_by("pk").first()
    provider_message_id = "SM" + "c" * 32
    if message is not None:
        OutboxMessage.objects.filter(pk=message.pk).update(
            state="accepted", provider_message_id=provider_message_id, channel="sms"
        )

    sessions = {role: verified_session(user) for role, user in users.items()}
    sessions["other_manager"] = verified_session(other_manager)
    sessions["anonymous"] = HttpClient()
    return World(
        practice=practice,
        other=other,
        sessions=sessions,
        api_token=api_token,
        other_api_token=other_api_token,
        ehr_secret=ehr_webhook_secret_rotate(practice=practice),
        link_tokens={
            "a": manage_link_for(participant=participant, now=now),
            "j": join_link_for(started_participant).token,
            "t": join_link_for(participant).token,
            "p": preference_link_for(ann, now),
            "s": after_session_link_for(started_participant, now),
            "cal": feed_token,
        },
        appointment_id=appointment.pk,
        participant_id=participant.pk,
        client_phone=ann.phone.as_e164,
        provider_message_id=provider_message_id,
        meeting_id="85000000001",
    )

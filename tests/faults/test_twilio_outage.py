"""Drill: Twilio answers 500 and 503, is unreachable, and times out, during a burst of texts.

The real ``twilio`` client talks to the Twilio stand-in (tests/messaging/twilio_server.py)
through a FaultProxy; the clock is time-travelled and the dispatcher sweeps whenever a row
falls due. From T0 for 10 minutes Twilio answers every request with an error (the first two
500, then 503); between T0+3 and T0+4 min it cannot even be reached (the proxy refuses
connections); the texts due at T0+1 min are taken by Twilio but answered only after the
client's timeout.

- Texts for tomorrow (T-24): retried with backoff, sent by text once Twilio is back, once.
- Texts for a session starting at T0+15 min (T-15): retried until another try would come after
  the start, then failed and sent by e-mail instead.
- Texts whose request timed out: ``unknown`` (Twilio may have them; here it does), never resent
  and not sent by e-mail either.
Each of those steps is visible on the session's timeline (messaging.services.message_timeline).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail

from messaging.models import OutboxState
from messaging.services import message_timeline
from practice.models import Client, ClinicianProfile, ConsentSource
from scheduling.services import appointment_book
from tests.faults.conftest import follow_the_clock
from tests.faults.proxy import CUT, FaultProxy
from tests.messaging.twilio_server import FakeTwilioServer

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]

NEW_YORK = ZoneInfo("America/New_York")
T0 = datetime(2026, 6, 9, 14, 0, tzinfo=NEW_YORK)  # a Tuesday afternoon: no quiet hours
OUTAGE = timedelta(minutes=10)  # Twilio answers 500/503
UNREACHABLE = (T0 + timedelta(minutes=3), T0 + timedelta(minutes=4))
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "test-auth-token-0123456789abcdef"
TIMEOUT_SECONDS = 1.0


@pytest.fixture
def twilio(settings):
    with (
        FakeTwilioServer(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN) as server,
        FaultProxy(server.port, name="twilio") as proxy,
    ):
        settings.SMS_BACKEND = "messaging.backends.twilio_sms.TwilioSMSBackend"
        settings.TWILIO_ACCOUNT_SID = ACCOUNT_SID
        settings.TWILIO_AUTH_TOKEN = AUTH_TOKEN
        settings.TWILIO_FROM_NUMBER = "+15005550006"
        settings.TWILIO_API_BASE = f"http://127.0.0.1:{proxy.port}"
        settings.TWILIO_TIMEOUT_SECONDS = TIMEOUT_SECONDS
        settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
        settings.SITE_URL = "https://attend.example.org"
        yield server, proxy


def book(practice, service_type, index: int, starts_at: datetime):
    """A session with a clinician of its own, for a client who agreed to texts."""
    clinician = ClinicianProfile.objects.create(practice=practice, display_name=f"Dr. Drill {index}")
    client = Client.objects.create(
        practice=practice,
        first_name=f"Client{index}",
        last_name="Drill",
        phone=f"+1212555{index:04d}",
        email=f"client{index}@example.test",
        sms_consent_at=starts_at - timedelta(days=30),
        sms_consent_source=ConsentSource.INTAKE_FORM,
    )
    appointment = appointment_book(
        practice=practice,
        clinician=clinician,
        clients=[client],
        starts_at=starts_at,
        service_type=service_type,
    )
    return appointment, client.phone.as_e164


def test_twilio_errors_and_timeouts_retry_then_fall_back_to_email_each_on_the_timeline(
    practice, service_type, twilio
):
    server, proxy = twilio
    with time_machine.travel(T0 - timedelta(hours=1), tick=False) as traveller:
        tomorrow = [book(practice, service_type, i, T0 + timedelta(days=1)) for i in range(3)]
        imminent = [book(practice, service_type, 10 + i, T0 + timedelta(minutes=15)) for i in range(3)]
        timing_out = [
            book(practice, service_type, 20 + i, T0 + timedelta(days=1, minutes=1)) for i in range(2)
        ]
        follow_the_clock(traveller, until=T0 - timedelta(minutes=1), wake_at=[])  # the confirmations
        mail.outbox.clear()
        traveller.move_to(T0)

        server.fail_next(500)
        server.fail_next(500)
        server.under_load(latency=0, rate_5xx=1.0)  # then 503 to everything
        seen: dict[int, set[tuple[str, str]]] = {}  # appointment -> (kind, state) seen on its timeline

        def on_wake(now):
            if now >= T0 + OUTAGE:
                server.under_load(latency=0)  # answering again
            if UNREACHABLE[0] <= now < UNREACHABLE[1]:
                proxy.cut()
            elif proxy.mode == CUT:
                proxy.pass_through()
            if now == T0 + timedelta(minutes=1):
                for _ in timing_out:  # taken, but answered after the client gave up
                    server.slow_next(TIMEOUT_SECONDS + 2)

        def after_sweep(now):
            for appointment, _ in tomorrow + imminent + timing_out:
                seen.setdefault(appointment.pk, set()).update(
                    (entry["kind"], entry["state"], entry["reason"].split(":")[0])
                    for entry in message_timeline(appointment=appointment)
                )

        sweeps = follow_the_clock(
            traveller,
            until=T0 + timedelta(minutes=30),
            wake_at=[T0 + timedelta(minutes=1), *UNREACHABLE, T0 + OUTAGE],
            on_wake=on_wake,
            after_sweep=after_sweep,
        )

    requests = Counter(request.form.get("To") for request in server.requests)
    accepted = Counter(server.accepted_to)
    print(f"\n[drill twilio] {len(server.requests)} requests, {len(server.issued_sids)} accepted; sweeps:")
    for line in sweeps:
        print("  " + line)

    def timeline(appointment) -> dict[str, dict]:
        return {entry["kind"]: entry for entry in message_timeline(appointment=appointment)}

    for appointment, phone in tomorrow:
        t24 = timeline(appointment)["t24_sms"]
        print(
            f"  tomorrow {phone}: {t24['state']} after {t24['attempts']} attempts, requests={requests[phone]}"
        )
        assert (t24["state"], t24["channel"]) == (OutboxState.ACCEPTED, "sms")
        assert t24["sent_at"] >= T0 + OUTAGE
        assert accepted[phone] == 1, "sent by text exactly once"
        assert requests[phone] == t24["attempts"] - 1, "every attempt but the refused one reached Twilio"
        assert ("t24_sms", OutboxState.PLANNED, "Retrying after") in seen[appointment.pk]
        assert "t24_sms:email" not in timeline(appointment)
    reasons_seen = {reason for appointment, _ in tomorrow for (_, _, reason) in seen[appointment.pk]}
    assert "Retrying after" in reasons_seen

    for appointment, phone in imminent:
        entries = timeline(appointment)
        text, email = entries["t15_sms"], entries["t15_sms:email"]
        print(f"  imminent {phone}: text {text['state']} ({text['reason']}); e-mail {email['state']}")
        assert text["state"] == OutboxState.FAILED and "Twilio" in text["reason"]
        assert ("t15_sms", OutboxState.PLANNED, "Retrying after") in seen[appointment.pk]
        assert accepted[phone] == 0
        assert (email["state"], email["channel"]) == (OutboxState.ACCEPTED, "email")
        assert email["sent_at"] < appointment.starts_at
        # Why it went by e-mail shows while it waits; once sent, the failed text above it says why.
        assert ("t15_sms:email", OutboxState.PLANNED, "E-mail instead of a text") in seen[appointment.pk]
    fallback_to = Counter(address for message in mail.outbox for address in message.to)
    assert all(fallback_to[f"client{10 + i}@example.test"] == 1 for i in range(3)), fallback_to

    for appointment, phone in timing_out:
        entries = timeline(appointment)
        text = entries["t24_sms"]
        print(f"  timed out {phone}: {text['state']} ({text['reason']})")
        assert text["state"] == OutboxState.UNKNOWN and "may have been accepted" in text["reason"]
        assert requests[phone] == 1, "Twilio got it once (and answered too late); never resent"
        assert "t24_sms:email" not in entries
    # Nothing went by text twice to anyone.
    assert max(accepted.values()) == 1

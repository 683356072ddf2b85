"""Drill: the SMTP server refuses connections for 10 minutes (time-travelled with time-machine).

Attend sends e-mail through Django's SMTP backend to an aiosmtpd server on loopback, behind a
FaultProxy. At T0 the proxy refuses every connection; the dispatcher sweeps whenever a row
falls due (the clock jumps from one due time to the next, as a running dispatcher would see
it); at T0 + 10 min the server is back. Afterwards: every e-mail whose moment had not passed
went out exactly once, after the outage; the ones for a session that started during the
outage are marked skipped or failed with a reason and were never sent late; nothing was dropped.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime, timedelta
from email import message_from_bytes
from zoneinfo import ZoneInfo

import pytest
import time_machine
from aiosmtpd.controller import Controller

from messaging.models import Channel, OutboxMessage, OutboxState
from messaging.planning import send_deadline
from practice.models import Client
from scheduling.services import appointment_book
from tests.bench.smtp_sink import free_port
from tests.faults.conftest import follow_the_clock
from tests.faults.proxy import FaultProxy

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]

NEW_YORK = ZoneInfo("America/New_York")
T0 = datetime(2026, 6, 9, 14, 0, tzinfo=NEW_YORK)  # a Tuesday afternoon
OUTAGE = timedelta(minutes=10)
HORIZON = timedelta(minutes=60)  # how long the drill follows the clock


class RecordingSMTPHandler:
    def __init__(self):
        self.received: list[tuple[str, str]] = []  # (recipient, subject)
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        subject = message_from_bytes(envelope.content)["Subject"]
        with self.lock:
            self.received.extend((rcpt, subject) for rcpt in envelope.rcpt_tos)
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp(settings):
    """An SMTP server behind a proxy, and Attend's e-mail pointed at the proxy."""
    handler = RecordingSMTPHandler()
    server = Controller(handler, hostname="127.0.0.1", port=free_port())
    server.start()
    try:
        with FaultProxy(server.port, name="smtp") as proxy:
            settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
            settings.EMAIL_HOST = "127.0.0.1"
            settings.EMAIL_PORT = proxy.port
            settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
            settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
            settings.EMAIL_TIMEOUT = 5
            settings.SMS_BACKEND = "messaging.backends.locmem.LocMemSMSBackend"
            yield handler, proxy
    finally:
        server.stop()


def book(practice, clinician, service_type, *, name: str, starts_at: datetime):
    client = Client.objects.create(
        practice=practice, first_name=name, last_name="Drill", email=f"{name.lower()}@example.test"
    )
    return appointment_book(
        practice=practice,
        clinician=clinician,
        clients=[client],
        starts_at=starts_at,
        service_type=service_type,
    )


def test_email_retries_through_a_ten_minute_smtp_outage_and_nothing_is_dropped_or_sent_late(
    practice, clinician, other_clinician, service_type, smtp
):
    handler, proxy = smtp
    restored_at = T0 + OUTAGE
    with time_machine.travel(T0, tick=False) as traveller:
        # Booked at T0: the confirmation e-mail of each is due at once, into the outage.
        later = [
            book(
                practice, clinician, service_type, name=f"Later{i}", starts_at=T0 + timedelta(days=2, hours=i)
            )
            for i in range(4)
        ]
        # These sessions start during the outage: their confirmations must not arrive late.
        soon = [
            book(practice, clinician, service_type, name="Soon", starts_at=T0 + timedelta(minutes=5)),
            book(
                practice, other_clinician, service_type, name="Soonish", starts_at=T0 + timedelta(minutes=8)
            ),
        ]
        proxy.cut()

        def on_wake(now):
            if now >= restored_at and proxy.mode == "cut":
                proxy.pass_through()

        sweeps = follow_the_clock(traveller, until=T0 + HORIZON, wake_at=[restored_at], on_wake=on_wake)

    emails = OutboxMessage.objects.filter(channel=Channel.EMAIL).select_related("appointment", "step")
    confirmations = {row.appointment_id: row for row in emails.filter(kind="confirmation")}
    received = Counter(handler.received)
    print(f"\n[drill smtp] outage {OUTAGE}, sweeps: {sweeps}")
    for row in confirmations.values():
        print(
            f"  {row.appointment.starts_at - T0} ahead: {row.state} after {row.attempts} attempts, "
            f"sent {row.sent_at and row.sent_at - T0}; {row.reason}"
        )

    # Nothing went out during the outage (it was refused), and nothing twice.
    assert all(count == 1 for count in received.values()), received
    # Sessions still ahead: their confirmation went out once the server was back, after retries.
    for appointment in later:
        row = confirmations[appointment.pk]
        assert row.state == OutboxState.ACCEPTED, f"{row.state}: {row.reason}"
        assert row.sent_at >= restored_at
        assert row.attempts >= 2
        assert sum(1 for rcpt, _ in received if rcpt == row.participant.client.email) == 1
    # Sessions that started meanwhile: marked with a reason, never sent after their start.
    for appointment in soon:
        row = confirmations[appointment.pk]
        assert row.state in (OutboxState.SKIPPED, OutboxState.FAILED), row.state
        assert row.reason
        assert row.participant.client.email not in {rcpt for rcpt, _ in received}
    # None dropped, none late: every e-mail due in the drill either went out before its deadline
    # or is settled with a reason; none is left pending past its moment.
    horizon_end = T0 + HORIZON
    for row in emails:
        deadline = send_deadline(due_at=row.due_at, appointment=row.appointment, step=row.step)
        if row.state == OutboxState.ACCEPTED:
            assert row.sent_at <= deadline
        elif row.due_at <= horizon_end:
            assert row.state in (OutboxState.SKIPPED, OutboxState.FAILED, OutboxState.PLANNED), row.state
            assert row.reason
            assert row.state != OutboxState.PLANNED or row.due_at > horizon_end - timedelta(minutes=15)
    assert proxy.connections > 0, "the e-mails that went out passed through the proxy"

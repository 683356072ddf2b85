"""Drill: a web request killed in the middle of a booking.

A real web server (``manage.py runserver``) books group sessions through the API
(``POST /api/v1/appointments/`` → ``scheduling.services.appointment_book``), its database
connection going through a FaultProxy slowed down so one booking takes about a second. Each
round kills the request at a different moment of it, two ways:

- the database connection is reset (RST) under the server, mid-transaction;
- the server process is SIGKILLed (and started again).

After every round: no half-booked session — no appointment without its two participants — and
no meeting without a session. The client then retries with the same ``Idempotency-Key`` and ends
up with exactly one booking. At the end the worker's catch-up sweeps (messages and meetings)
give every session that committed its reminders and its meeting, even when the kill landed
between the commit and the work that follows it.
"""

from __future__ import annotations

import signal
import threading
import time
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
import requests
from django.db.models import Count
from django.utils import timezone

from messaging.services import message_plan_missing
from practice.models import Client
from practice.tokens import api_token_create
from scheduling.models import Appointment, ServiceType
from telehealth.models import Meeting
from telehealth.services import meetings_retry_due
from tests.bench.smtp_sink import free_port
from tests.faults.conftest import child_env, database_url, manage, postgres_port, stop_process, wait_until
from tests.faults.proxy import FaultProxy

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]

SLOW = 0.01  # s added to every chunk between the server and PostgreSQL, each way
# Where in a booking each round kills it: at these fractions of its duration, and (None) the
# moment the new appointment becomes visible to another connection, which is its commit when the
# booking is one transaction (and its first insert when it is not).
FRACTIONS = (0.25, 0.6, 0.9, None)


class Server:
    def __init__(self, tmp_path, proxy: FaultProxy):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp_path / "server.log"
        self.env = child_env(
            DATABASE_URL=database_url(port=proxy.port),
            DJANGO_SECURE_SSL_REDIRECT="false",
            SMS_BACKEND="messaging.backends.locmem.LocMemSMSBackend",
        )
        self.process = None

    def start(self) -> None:
        self.process = manage("runserver", "--noreload", f"127.0.0.1:{self.port}", env=self.env, log=self.log)
        wait_until(self._answers, timeout=30, interval=0.1, what="the web server to start")

    def _answers(self) -> bool:
        try:
            requests.get(f"{self.url}/api/v1/", timeout=1)
            return True
        except requests.RequestException:
            return False

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, grace=5)


def half_booked() -> list:
    """Appointments that do not have both their participants (every booking here has two)."""
    counts = Appointment.objects.annotate(n=Count("participants")).exclude(n=2)
    return list(counts.values_list("pk", "n"))


def orphan_meetings() -> int:
    return Meeting.objects.exclude(appointment__in=Appointment.objects.all()).count()


def test_a_booking_killed_mid_request_leaves_no_half_booked_session(practice, clinician, tmp_path):
    group = ServiceType.objects.create(
        practice=practice,
        name="Group",
        code="90853",
        default_minutes=60,
        default_fee=Decimal(60),
        is_group=True,
    )
    clients = [
        Client.objects.create(
            practice=practice, first_name=name, last_name="Drill", email=f"{name}@example.test"
        )
        for name in ("ann", "bob")
    ]
    _, raw_token = api_token_create(practice=practice, name="drill")
    first_start = (timezone.now() + timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    slots = iter(first_start + timedelta(hours=2 * i) for i in range(40))

    def post(starts_at, key: str, timeout: float = 30) -> requests.Response:
        body = {
            "clinician": clinician.pk,
            "clients": [c.pk for c in clients],
            "service_type": group.pk,
            "starts_at": starts_at.isoformat(),
        }
        headers = {"Authorization": f"Token {raw_token}", "Idempotency-Key": key}
        return requests.post(
            f"{server.url}/api/v1/appointments/", json=body, headers=headers, timeout=timeout
        )

    results = []
    with FaultProxy(postgres_port(), name="postgres") as proxy:
        server = Server(tmp_path, proxy)
        server.start()
        try:
            proxy.slow(SLOW)
            started = time.monotonic()
            assert post(next(slots), uuid.uuid4().hex).status_code == 201
            booking_seconds = time.monotonic() - started

            for kind in ("db_reset", "sigkill"):
                for fraction in FRACTIONS:
                    starts_at, key = next(slots), uuid.uuid4().hex
                    outcome: dict = {}

                    def request(starts_at=starts_at, key=key, outcome=outcome):
                        try:
                            outcome["status"] = post(starts_at, key).status_code
                        except requests.RequestException as error:
                            outcome["status"] = type(error).__name__

                    thread = threading.Thread(target=request)
                    thread.start()
                    if fraction is None:
                        wait_until(
                            lambda starts_at=starts_at: Appointment.objects.filter(
                                starts_at=starts_at
                            ).exists(),
                            timeout=15,
                            interval=0.002,
                            what="the booking to become visible",
                        )
                    else:
                        time.sleep(booking_seconds * fraction)
                    if kind == "db_reset":
                        proxy.reset()
                    else:
                        server.kill()
                    thread.join(timeout=30)
                    committed = Appointment.objects.filter(starts_at=starts_at).exists()
                    assert half_booked() == [], f"{kind} at {fraction}: a half-booked session"
                    assert orphan_meetings() == 0
                    if kind == "sigkill":
                        server.start()
                    # The client retries with the same key: one booking in the end, whatever happened.
                    retry = post(starts_at, key)
                    assert retry.status_code == 201, retry.text
                    assert Appointment.objects.filter(starts_at=starts_at).count() == 1
                    results.append(
                        (
                            kind,
                            fraction,
                            outcome["status"],
                            committed,
                            retry.headers.get("Idempotent-Replayed"),
                        )
                    )
        finally:
            proxy.pass_through()
            server.stop()

    print(f"\n[drill booking] one booking through the slowed proxy: {booking_seconds:.2f} s")
    for kind, fraction, status, committed, replayed in results:
        moment = "first sight" if fraction is None else f"{fraction:.0%}"
        print(
            f"  {kind:8} at {moment}: first answer {status}, committed before the kill: {committed}, "
            f"retry replayed: {bool(replayed)}"
        )
    assert half_booked() == []
    assert {status for _, _, status, _, _ in results} - {201}, "some kills must have cut a request short"
    # Sessions that committed just before a kill still get their reminders and meeting from
    # the worker's catch-up sweeps (messaging: message_plan_missing; telehealth: meetings sweep).
    unplanned = Appointment.objects.filter(outbox_messages__isnull=True).count()
    message_plan_missing(now=timezone.now())
    meetings_retry_due(now=timezone.now())
    print(f"  sessions with no reminders planned before the catch-up sweep: {unplanned}")
    assert not Appointment.objects.filter(outbox_messages__isnull=True).exists()
    assert not Appointment.objects.filter(meeting__isnull=True).exists()
    assert orphan_meetings() == 0

"""A real dispatcher process killed with SIGKILL mid-burst, then restarted: nothing is sent twice
and nothing is lost (SPEC F11). Needs PostgreSQL, where another process can see the test data."""

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from messaging import dispatch
from messaging.backends import locmem
from messaging.models import OutboxMessage, OutboxState, Sequence
from messaging.services import sequence_for
from practice.models import Client
from scheduling.services import appointment_book

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="another process must see the test database"
    ),
]


def book_many(practice, clinician, service_type, count, capture):
    # Real time of day here (a child process cannot be time-travelled): at night the practice's
    # quiet hours would hold the texts, and this test is about crashes, so they are off.
    sequence_for(practice)
    Sequence.objects.filter(practice=practice).update(quiet_start=None, quiet_end=None)
    start = timezone.now() + timedelta(hours=3)
    for index in range(count):
        client = Client.objects.create(
            practice=practice,
            first_name=f"C{index}",
            last_name="Crash",
            phone=f"+1212555{index:04d}",
            sms_consent_at=timezone.now(),
            sms_consent_source="intake_form",
            email=f"c{index}@example.test",
        )
        with capture(execute=True):
            appointment_book(
                practice=practice,
                clinician=clinician,
                clients=[client],
                starts_at=start + timedelta(minutes=50 * index),
                service_type=service_type,
            )


def run_dispatcher(record_file: Path) -> subprocess.Popen:
    db = connection.settings_dict  # the test database, which the child process must use too
    host = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    env = os.environ | {
        "DATABASE_URL": f"postgres://{db['USER']}@{host}/{db['NAME']}",
        "SMS_BACKEND": "tests.messaging.recording_backend.FileRecordingSMSBackend",
        "RECORDING_SMS_FILE": str(record_file),
        "RECORDING_SMS_DELAY": "0.2",
        "DISPATCH_CONCURRENCY": "2",
        "DISPATCH_HANDOVER_CHUNK": "2",
        "EMAIL_URL": "consolemail://",
    }
    return subprocess.Popen(
        [sys.executable, "manage.py", "dispatch_due"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_a_dispatcher_killed_mid_burst_and_restarted_sends_each_text_at_most_once(
    practice, clinician, service_type, django_capture_on_commit_callbacks, tmp_path, settings
):
    settings.SMS_BACKEND = "messaging.backends.locmem.LocMemSMSBackend"
    locmem.outbox.clear()
    book_many(practice, clinician, service_type, 30, django_capture_on_commit_callbacks)
    # Make every text of these sessions due now, as at the top of the hour.
    OutboxMessage.objects.filter(channel="sms", state=OutboxState.PLANNED).update(due_at=timezone.now())
    due_texts = OutboxMessage.objects.filter(channel="sms", state=OutboxState.PLANNED).count()
    assert due_texts >= 30
    record = tmp_path / "sent.txt"
    record.touch()

    process = run_dispatcher(record)
    deadline = time.monotonic() + 60
    while len(record.read_text().splitlines()) < 6 and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    sent_before_crash = record.read_text().splitlines()
    assert 6 <= len(sent_before_crash) < due_texts, "the kill must land mid-burst"

    # The restarted dispatcher runs once the dead one's leases have run out.
    later = timezone.now() + timedelta(seconds=settings.DISPATCH_SENDING_LEASE_SECONDS + 1)
    dispatch.dispatch_due(now=later)

    sent_after = [f"{m.to}|{m.body}" for m in locmem.outbox]
    everything = sent_before_crash + sent_after
    assert len(everything) == len(set(everything)), "a text went out twice"
    rows = OutboxMessage.objects.filter(channel="sms", kind__in=["t2h_tech_check", "t15_sms", "t24_sms"])
    assert not rows.filter(state__in=["planned", "claimed", "sending"]).exists(), "a text was left behind"
    unknown = rows.filter(state=OutboxState.UNKNOWN).count()
    accepted = rows.filter(state=OutboxState.ACCEPTED).count()
    # Each text either went out once and is accepted, or was caught mid-hand-over and is marked
    # unknown for a person (or the provider's status callback) to settle: none is lost silently.
    assert accepted + unknown == rows.exclude(state=OutboxState.SKIPPED).count()
    # At most the two chunks (DISPATCH_HANDOVER_CHUNK each) that were with the provider.
    assert unknown <= 4
    assert sent_after, "the restarted dispatcher sent the rest"

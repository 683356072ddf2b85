"""Every client page and message shows dates on the client's clock, never built from UTC: a
Saturday-evening session in Los Angeles is on Sunday in UTC, and must read "Saturday"."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail
from django.test import Client as HttpClient

from messaging import dispatch
from messaging.after_session import after_session_link_for
from messaging.backends import locmem
from scheduling.client_actions import manage_link_for
from scheduling.models import Attendance
from scheduling.services import appointment_book, appointment_mark_attendance
from telehealth.services import join_link_for

pytestmark = pytest.mark.django_db

LA = ZoneInfo("America/Los_Angeles")
START = datetime(2026, 12, 12, 18, 0, tzinfo=LA)  # Saturday 18:00 in LA, Sunday 02:00 UTC
BOOKED = datetime(2026, 12, 1, 9, 0, tzinfo=LA)


@pytest.fixture
def session(practice, clinician, consenting_ann, service_type, django_capture_on_commit_callbacks):
    practice.timezone = "America/Los_Angeles"
    practice.save()
    consenting_ann.refresh_from_db()
    with time_machine.travel(BOOKED, tick=False), django_capture_on_commit_callbacks(execute=True):
        return appointment_book(
            practice=practice,
            clinician=clinician,
            clients=[consenting_ann],
            starts_at=START,
            service_type=service_type,
        )


def weekdays(text: str) -> set[str]:
    names = {"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"}
    return {name for name in names if name in text}


def test_client_pages_show_the_saturday_of_a_late_los_angeles_session(session, clinician):
    participant = session.participants.get()
    web = HttpClient()
    before = START - timedelta(hours=3)
    pages = {}
    with time_machine.travel(before, tick=False):
        pages["manage"] = web.get(f"/a/{manage_link_for(participant=participant, now=before)}")
        token = join_link_for(participant).token
        pages["join (too early)"] = web.get(f"/j/{token}")
        pages["tech check"] = web.get(f"/t/{token}")
    after = START + timedelta(hours=1, minutes=30)
    with time_machine.travel(START + timedelta(minutes=5), tick=False):
        appointment_mark_attendance(
            appointment=session, client=participant.client, attendance=Attendance.ATTENDED, by=clinician.user
        )
    with time_machine.travel(after, tick=False):
        pages["after session"] = web.get(f"/s/{after_session_link_for(participant, after)}")

    for name, response in pages.items():
        assert response.status_code == 200, name
        assert weekdays(response.content.decode()) == {"Saturday"}, name


def test_messages_to_a_client_name_the_saturday_of_a_late_los_angeles_session(session):
    moments = [BOOKED + timedelta(minutes=1)]
    moments += [START - timedelta(hours=h) for h in (24, 2, 1)]
    moments += [START - timedelta(minutes=m) for m in (15, 0)]
    moments += [START + timedelta(hours=h) for h in (1, 3, 24)]
    for moment in moments:
        with time_machine.travel(moment, tick=False):
            dispatch.dispatch_due()

    texts = [sms.body for sms in locmem.outbox] + [email.body for email in mail.outbox]
    texts += [email.subject for email in mail.outbox]
    dated = [text for text in texts if weekdays(text)]
    assert dated, texts
    for text in dated:
        assert weekdays(text) == {"Saturday"}, text

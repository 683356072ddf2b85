"""No staff page issues a query per row (#14): each page is asked for with N and with 3N rows
(sessions, their clients' messages, tech checks and queue items) and must run the same number
of statements. A page that read something per session, client or item would run more for 3N.
(The calendar feed has its own such test in test_calendar.py.)"""

from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from practice.models import Client
from scheduling.models import FollowUp, FollowUpKind
from tests.staff.board_helpers import message, ny, session, tech_check

pytestmark = pytest.mark.django_db

NOON = ny(2026, 6, 10, 12, 0)
N = 4

# page -> (URL name, the persona who opens it)
PAGES = {
    "board": ("board", "front_desk"),
    "board_live": ("board_live", "front_desk"),
    "my_day": ("my_day", "clinician_user"),
    "my_day_live": ("my_day_live", "clinician_user"),
    "my_week": ("my_week", "clinician_user"),
    "queue": ("follow_up_list", "front_desk"),
    "metrics": ("metrics", "manager"),
}


def add_sessions(practice, clinician, service_type, count: int, start: int) -> None:
    """``count`` more sessions today (every third a pair of clients), each client with messages,
    tech checks and an open queue item; some over (attended or not), some still to come."""
    for index in range(start, start + count):
        clients = [
            Client.objects.create(
                practice=practice,
                first_name=f"C{index}-{n}",
                last_name="Row",
                phone=f"+1212555{2000 + 2 * index + n}",
            )
            for n in range(2 if index % 3 == 0 else 1)
        ]
        appointment = session(
            practice=practice,
            clinician=clinician,
            service_type=service_type,
            clients=clients,
            starts_at=ny(2026, 6, 10, 7, 0) + timedelta(minutes=20 * index),
            minutes=15,
        )
        for participant in appointment.participants.all():
            message(participant, "t24_sms", "delivered")
            message(participant, "t15_sms", "failed" if index % 2 else "planned")
            tech_check(participant, passed=index % 2 == 0, problems=[] if index % 2 == 0 else ["slow_upload"])
            FollowUp.objects.create(
                practice=practice,
                appointment=appointment,
                participant=participant,
                kind=FollowUpKind.MESSAGE_PROBLEM if index % 2 else FollowUpKind.TECH_CHECK_FAILED,
                detail="Problems: slow_upload" if index % 2 == 0 else "A reminder failed.",
            )


def statements(http, url_name: str) -> int:
    http.get(reverse(url_name))  # warm: the same first-visit work for N and 3N (e.g. day facts)
    with CaptureQueriesContext(connection) as queries:
        page = http.get(reverse(url_name))
    assert page.status_code == 200
    return len(queries)


@pytest.mark.parametrize("page", PAGES)
def test_a_staff_page_runs_the_same_statements_for_three_times_the_rows(
    request, page, practice, clinician, service_type
):
    url_name, persona = PAGES[page]
    http_user = request.getfixturevalue(persona)
    with time_machine.travel(NOON, tick=False):
        from tests.conftest import verified_session

        http = verified_session(http_user)
        add_sessions(practice, clinician, service_type, N, start=0)
        few = statements(http, url_name)
        add_sessions(practice, clinician, service_type, 2 * N, start=N)
        many = statements(http, url_name)
    assert many == few, f"{page}: {few} statements for {N} sessions, {many} for {3 * N}"

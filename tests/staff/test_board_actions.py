"""One-tap actions from the board and the queue: resend the join link, mark attendance, resolve
a queue item with a note; the queue's tabs, counts and wording; message problems in the queue."""

from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.urls import reverse

from messaging.backends import locmem
from messaging.models import OutboxMessage
from messaging.services import follow_ups_raise_for_message_problems, messages_dispatch_due
from scheduling.models import Attendance, FollowUp, FollowUpKind
from scheduling.services import follow_up_raise
from tests.staff.board_helpers import message, ny, session

pytestmark = pytest.mark.django_db

START = ny(2026, 6, 10, 10, 0)


@pytest.fixture(autouse=True)
def in_memory_channels(settings):
    settings.SMS_BACKEND = "messaging.backends.locmem.LocMemSMSBackend"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SITE_URL = "https://attend.example.org"
    locmem.outbox.clear()
    mail.outbox = []
    yield
    locmem.outbox.clear()


@pytest.fixture
def appointment(practice, clinician, service_type, client_ann):
    client_ann.sms_consent_at = client_ann.created_at
    client_ann.sms_consent_source = "intake_form"
    client_ann.save()
    return session(
        practice=practice,
        clinician=clinician,
        service_type=service_type,
        clients=[client_ann],
        starts_at=START,
    )


@pytest.fixture
def participant(appointment):
    return appointment.participants.get()


def resend(http, participant, next_url="/board/"):
    return http.post(reverse("participant_resend_link", args=[participant.pk]), {"next": next_url})


# --- Resend link -----------------------------------------------------------------------------------


def test_resend_link_texts_the_join_link_once_for_a_double_tap(signed_in, front_desk, participant):
    http = signed_in(front_desk)
    with time_machine.travel(START + timedelta(minutes=6), tick=False):
        first = resend(http, participant)
        resend(http, participant)  # the second tap of a double tap
        messages_dispatch_due()
    assert first.status_code == 302 and first["Location"] == "/board/"
    [row] = OutboxMessage.objects.filter(kind__startswith="link_resend")
    assert (row.kind, row.channel, row.state) == ("link_resend:1", "sms", "accepted")
    [sms] = locmem.outbox
    assert sms.to == "+12125550101"
    assert "https://attend.example.org/j/" in sms.body and "Ann" in sms.body


def test_a_later_resend_is_a_new_message(signed_in, front_desk, participant):
    with time_machine.travel(START - timedelta(minutes=10), tick=False):
        resend(signed_in(front_desk), participant)
    with time_machine.travel(START + timedelta(minutes=6), tick=False):
        resend(signed_in(front_desk), participant)
    kinds = sorted(
        OutboxMessage.objects.filter(kind__startswith="link_resend").values_list("kind", flat=True)
    )
    assert kinds == ["link_resend:1", "link_resend:2"]


def test_without_text_consent_the_link_goes_by_email(signed_in, front_desk, participant, client_ann):
    client_ann.sms_consent_at = None
    client_ann.save()
    with time_machine.travel(START + timedelta(minutes=6), tick=False):
        resend(signed_in(front_desk), participant)
        messages_dispatch_due()
    assert locmem.outbox == []
    [email] = mail.outbox
    assert email.to == ["ann@example.test"] and "/j/" in email.body


def test_a_client_who_cannot_be_reached_is_told_not_silently_dropped(
    signed_in, front_desk, participant, client_ann
):
    client_ann.sms_consent_at = None
    client_ann.email = ""
    client_ann.save()
    with time_machine.travel(START + timedelta(minutes=6), tick=False):
        response = resend(signed_in(front_desk), participant)
    assert not OutboxMessage.objects.filter(kind__startswith="link_resend").exists()
    follow = signed_in(front_desk).get(response["Location"])
    assert follow.status_code in (200, 302)
    stored = [str(m) for m in response.wsgi_request._messages]
    assert any("cannot be reached" in m for m in stored)


def test_no_link_for_a_session_that_is_over(signed_in, front_desk, participant):
    with time_machine.travel(START + timedelta(hours=2), tick=False):
        resend(signed_in(front_desk), participant)
    assert not OutboxMessage.objects.filter(kind__startswith="link_resend").exists()


def test_resend_respects_roles_and_tenancy(
    signed_in, biller, other_manager, other_clinician, clinician_user, participant
):
    with time_machine.travel(START + timedelta(minutes=6), tick=False):
        assert resend(signed_in(biller), participant).status_code == 403
        assert resend(signed_in(other_manager), participant).status_code == 404
        assert resend(signed_in(other_clinician.user), participant).status_code == 404
        assert resend(signed_in(clinician_user), participant).status_code == 302  # their own session
        assert (
            signed_in(clinician_user)
            .get(reverse("participant_resend_link", args=[participant.pk]))
            .status_code
            == 405
        )


def test_an_outside_next_url_is_ignored(signed_in, front_desk, participant):
    with time_machine.travel(START + timedelta(minutes=6), tick=False):
        response = resend(signed_in(front_desk), participant, next_url="https://evil.example/")
    assert response["Location"] == reverse("appointment_detail", args=[participant.appointment_id])


# --- Attendance from the board -------------------------------------------------------------------------


def test_marking_a_no_show_from_the_board(signed_in, front_desk, participant):
    with time_machine.travel(START + timedelta(minutes=20), tick=False):
        response = signed_in(front_desk).post(
            reverse("participant_mark_attendance", args=[participant.pk]),
            {"attendance": "no_show", "next": "/board/"},
        )
    assert response["Location"] == "/board/"
    participant.refresh_from_db()
    assert participant.attendance == Attendance.NO_SHOW
    assert participant.attendance_marked_by.email == "frank@riverside.test"


def test_attendance_buttons_are_shown_only_once_the_session_started(signed_in, front_desk, participant):
    url = reverse("participant_mark_attendance", args=[participant.pk])
    with time_machine.travel(START - timedelta(minutes=20), tick=False):
        assert url not in signed_in(front_desk).get(reverse("board")).content.decode()
    with time_machine.travel(START + timedelta(minutes=20), tick=False):
        assert url in signed_in(front_desk).get(reverse("board")).content.decode()


def test_billers_and_other_practices_cannot_mark_attendance(signed_in, biller, other_manager, participant):
    url = reverse("participant_mark_attendance", args=[participant.pk])
    with time_machine.travel(START + timedelta(minutes=20), tick=False):
        assert signed_in(biller).post(url, {"attendance": "no_show"}).status_code == 403
        assert signed_in(other_manager).post(url, {"attendance": "no_show"}).status_code == 404
    participant.refresh_from_db()
    assert participant.attendance == Attendance.EXPECTED


# --- The queue -----------------------------------------------------------------------------------------


@pytest.fixture
def queue(appointment, participant):
    return {
        "tech": follow_up_raise(
            appointment=appointment,
            participant=participant,
            kind=FollowUpKind.TECH_CHECK_FAILED,
            detail="Problems: camera_blocked, slow_download",
        ),
        "late": follow_up_raise(
            appointment=appointment, participant=participant, kind=FollowUpKind.LATE_ARRIVAL
        ),
    }


def test_the_queue_has_a_tab_per_kind_with_counts(signed_in, front_desk, queue):
    with time_machine.travel(START - timedelta(hours=1), tick=False):
        page = signed_in(front_desk).get(reverse("follow_up_list"))
    counts = {tab["kind"]: tab["count"] for tab in page.context["tabs"]}
    assert counts[FollowUpKind.TECH_CHECK_FAILED] == 1 and counts[FollowUpKind.LATE_ARRIVAL] == 1
    assert counts[FollowUpKind.NO_SHOW] == 0
    assert page.context["total"] == 2
    with time_machine.travel(START - timedelta(hours=1), tick=False):
        late_tab = signed_in(front_desk).get(reverse("follow_up_list"), {"kind": "late_arrival"})
    assert [item.pk for item in late_tab.context["items"]] == [queue["late"].pk]


def test_tech_check_codes_are_shown_in_plain_language(signed_in, front_desk, queue):
    with time_machine.travel(START - timedelta(hours=1), tick=False):
        html = signed_in(front_desk).get(reverse("follow_up_list")).content.decode()
    assert "Camera blocked by the browser" in html
    assert "Connection too slow to receive video" in html
    assert "camera_blocked" not in html
    assert (
        'href="tel:+12125550101"' in html
        and reverse("participant_resend_link", args=[queue["tech"].participant_id]) in html
    )


def test_resolving_with_a_note_comes_back_to_the_same_tab(signed_in, front_desk, queue):
    http = signed_in(front_desk)
    tab = reverse("follow_up_list") + "?kind=tech_check_failed"
    response = http.post(
        reverse("follow_up_resolve", args=[queue["tech"].pk]),
        {"note": "Called; camera allowed now", "next": tab},
    )
    assert response["Location"] == tab
    queue["tech"].refresh_from_db()
    assert queue["tech"].resolution_note == "Called; camera allowed now"
    assert queue["tech"].resolved_by == front_desk
    assert http.get(tab).context["items"] == []


def test_the_navigation_shows_the_open_count_to_those_who_see_the_queue(
    signed_in, front_desk, other_clinician, queue
):
    with time_machine.travel(START - timedelta(hours=1), tick=False):
        assert signed_in(front_desk).get(reverse("appointment_list")).context["needs_attention_count"] == 2
        assert (
            signed_in(other_clinician.user).get(reverse("appointment_list")).context["needs_attention_count"]
            == 0
        )


# --- Message problems raise queue items ------------------------------------------------------------------


def test_failed_unknown_and_undeliverable_messages_reach_the_queue_once(participant):
    failed = message(participant, "t24_sms", "failed")
    message(participant, "t2h_tech_check", "unknown")
    message(participant, "t15_sms", "undelivered")
    message(participant, "confirmation", "delivered")
    now = START - timedelta(minutes=10)
    OutboxMessage.objects.update(updated_at=now - timedelta(minutes=1))

    assert follow_ups_raise_for_message_problems(now=now) == 3
    assert follow_ups_raise_for_message_problems(now=now) == 0
    kinds = sorted(FollowUp.objects.values_list("kind", flat=True))
    assert kinds == ["message_problem", "message_problem", "undeliverable"]
    # Resolving is final: the same failed message does not come back.
    item = FollowUp.objects.get(source=f"outbox:{failed.pk}")
    item.resolved_at = now
    item.save()
    assert follow_ups_raise_for_message_problems(now=now) == 0
    assert FollowUp.objects.open().count() == 2


def test_messages_of_sessions_that_are_over_are_not_raised(participant):
    message(participant, "t24_sms", "failed")
    now = START + timedelta(hours=3)
    OutboxMessage.objects.update(updated_at=now)
    assert follow_ups_raise_for_message_problems(now=now) == 0

"""A moved session reads as moved and moves the same calendar event; a cancelled one cancels it."""

from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from icalendar import Calendar

from messaging import dispatch
from messaging.backends import locmem
from messaging.models import OutboxMessage
from scheduling.services import appointment_book, appointment_cancel, appointment_reschedule
from tests.messaging.conftest import ny

pytestmark = pytest.mark.django_db

FIRST = ny(2026, 6, 10, 10, 0)


@pytest.fixture
def on_commit(django_capture_on_commit_callbacks):
    def run(moment, action, **kwargs):
        with time_machine.travel(moment, tick=False), django_capture_on_commit_callbacks(execute=True):
            result = action(**kwargs)
        with time_machine.travel(moment + timedelta(minutes=1), tick=False):
            dispatch.dispatch_due()
        return result

    return run


@pytest.fixture
def booked(practice, clinician, consenting_ann, service_type, on_commit):
    return on_commit(
        ny(2026, 6, 1, 9, 0),
        appointment_book,
        practice=practice,
        clinician=clinician,
        clients=[consenting_ann],
        starts_at=FIRST,
        service_type=service_type,
    )


def event_of(message) -> tuple[str, object]:
    (attachment,) = [a for a in message.attachments if a[0] == "session.ics"]
    calendar = Calendar.from_ical(attachment[1])
    (event,) = calendar.walk("VEVENT")
    return str(calendar["method"]), event


def test_a_reschedule_says_moved_from_and_to_and_moves_the_same_calendar_event(booked, on_commit):
    (confirmation,) = mail.outbox
    method, first_event = event_of(confirmation)
    assert method == "PUBLISH" and int(first_event.get("sequence", 0)) == 0

    moved = on_commit(
        ny(2026, 6, 2, 9, 0), appointment_reschedule, appointment=booked, starts_at=ny(2026, 6, 11, 11, 0)
    )

    notice = mail.outbox[-1]
    assert notice.subject == "Your session with Dr. Smith has moved to Thursday, June 11"
    assert "moved from Wednesday, June 10 at 10:00 AM EDT to Thursday, June 11 at 11:00 AM EDT" in notice.body
    assert "is booked for" not in notice.body
    method, event = event_of(notice)
    assert method == "PUBLISH"
    assert str(event["uid"]) == str(first_event["uid"])
    assert int(event["sequence"]) == 1

    on_commit(
        ny(2026, 6, 3, 9, 0), appointment_reschedule, appointment=moved, starts_at=ny(2026, 6, 12, 9, 0)
    )
    method, event = event_of(mail.outbox[-1])
    assert (
        "moved from Thursday, June 11 at 11:00 AM EDT to Friday, June 12 at 9:00 AM EDT"
        in mail.outbox[-1].body
    )
    assert str(event["uid"]) == str(first_event["uid"])
    assert int(event["sequence"]) == 2


def test_a_cancellation_cancels_the_calendar_event_of_the_chain(booked, on_commit):
    (confirmation,) = mail.outbox
    _, first_event = event_of(confirmation)
    moved = on_commit(
        ny(2026, 6, 2, 9, 0), appointment_reschedule, appointment=booked, starts_at=ny(2026, 6, 11, 11, 0)
    )

    on_commit(ny(2026, 6, 4, 9, 0), appointment_cancel, appointment=moved, reason="Client asked")

    # Ann gets texts: the notice goes by text, and by e-mail for the calendar file.
    assert "is cancelled" in locmem.outbox[-1].body
    cancellation = mail.outbox[-1]
    assert "is cancelled" in cancellation.body
    method, event = event_of(cancellation)
    assert method == "CANCEL"
    assert str(event["status"]) == "CANCELLED"
    assert str(event["uid"]) == str(first_event["uid"])
    assert int(event["sequence"]) == 2


def test_a_client_who_gets_texts_is_told_of_a_cancellation_by_text_and_once_by_email(booked, on_commit):
    on_commit(ny(2026, 6, 4, 9, 0), appointment_cancel, appointment=booked, reason="Client asked")
    rows = OutboxMessage.objects.filter(appointment=booked, kind__startswith="cancellation_notice")
    assert sorted(rows.values_list("kind", "channel")) == [
        ("cancellation_notice", "sms"),
        ("cancellation_notice:email", "email"),
    ]
    assert sum("is cancelled" in m.body for m in mail.outbox) == 1


def test_a_weekly_series_of_52_sends_one_confirmation_listing_every_date(
    practice, clinician, consenting_ann, service_type, on_commit
):
    from scheduling.models import Frequency
    from scheduling.services import series_book

    first = ny(2026, 6, 10, 10, 0)
    on_commit(
        ny(2026, 6, 1, 9, 0),
        series_book,
        practice=practice,
        clinician=clinician,
        clients=[consenting_ann],
        first_starts_at=first,
        duration=timedelta(minutes=45),
        frequency=Frequency.WEEKLY,
        occurrences=52,
        service_type=service_type,
    )

    (confirmation,) = mail.outbox
    assert "This confirms all 52 sessions of your series:" in confirmation.body
    assert "- Wednesday, June 10, 10:00 AM EDT" in confirmation.body
    assert "- Wednesday, November 4, 10:00 AM EST" in confirmation.body  # after the clocks change
    calendar = Calendar.from_ical(confirmation.attachments[0][1])
    events = calendar.walk("VEVENT")
    assert len(events) == 52
    assert len({str(event["uid"]) for event in events}) == 52
    skipped = OutboxMessage.objects.filter(kind="confirmation", state="skipped")
    assert skipped.count() == 51
    assert set(skipped.values_list("reason", flat=True)) == {
        "One confirmation for the whole series, sent with its first session."
    }


def test_the_bulk_planner_also_confirms_a_series_once(practice, clinician, consenting_ann, service_type):
    from messaging.services import message_plan_bulk
    from scheduling.models import Appointment, Frequency
    from scheduling.services import series_book

    with time_machine.travel(ny(2026, 6, 1, 9, 0), tick=False):
        series_book(
            practice=practice,
            clinician=clinician,
            clients=[consenting_ann],
            first_starts_at=ny(2026, 6, 10, 10, 0),
            duration=timedelta(minutes=45),
            frequency=Frequency.WEEKLY,
            occurrences=4,
            service_type=service_type,
        )
        message_plan_bulk(appointment_ids=Appointment.objects.values_list("pk", flat=True))
    confirmations = OutboxMessage.objects.filter(kind="confirmation")
    assert sorted(confirmations.values_list("state", flat=True)) == [
        "planned",
        "skipped",
        "skipped",
        "skipped",
    ]


def test_this_and_following_tells_the_client_once_listing_every_moved_session(
    practice, clinician, consenting_ann, service_type, on_commit
):
    from scheduling.models import Frequency
    from scheduling.services import series_book, series_reschedule_following

    series = on_commit(
        ny(2026, 6, 1, 9, 0),
        series_book,
        practice=practice,
        clinician=clinician,
        clients=[consenting_ann],
        first_starts_at=ny(2026, 6, 10, 10, 0),
        duration=timedelta(minutes=45),
        frequency=Frequency.WEEKLY,
        occurrences=4,
        service_type=service_type,
    )
    _, second, _, _ = series.appointments.order_by("starts_at")
    mail.outbox.clear()

    moved = on_commit(
        ny(2026, 6, 2, 9, 0),
        series_reschedule_following,
        appointment=second,
        starts_at=ny(2026, 6, 17, 14, 0),
    )

    assert len(moved) == 3
    about_the_move = [m for m in mail.outbox if "moved" in m.subject.lower()]
    assert len(about_the_move) == 1, [m.subject for m in mail.outbox]
    body = about_the_move[0].body
    assert "Your next 2 sessions of the series moved the same way:" in body
    assert "- Wednesday, June 24, 2:00 PM EDT" in body and "- Wednesday, July 1, 2:00 PM EDT" in body
    skipped = OutboxMessage.objects.filter(
        kind="confirmation", appointment__in=moved[1:], state="skipped"
    ).values_list("reason", flat=True)
    assert list(skipped) == ["One message for the sessions moved together, sent with the first of them."] * 2


def test_a_session_moved_alone_lists_nothing_more(booked, on_commit):
    mail.outbox.clear()
    on_commit(
        ny(2026, 6, 2, 9, 0), appointment_reschedule, appointment=booked, starts_at=ny(2026, 6, 11, 11, 0)
    )
    (moved,) = [m for m in mail.outbox if "moved" in m.subject.lower()]
    assert "moved the same way" not in moved.body


def test_a_text_about_the_move_says_how_many_moved_with_it_not_every_date(
    practice, clinician, consenting_ann, service_type, on_commit
):
    from messaging import compose
    from scheduling.models import Frequency
    from scheduling.services import series_book, series_reschedule_following

    series = on_commit(
        ny(2026, 6, 1, 9, 0),
        series_book,
        practice=practice,
        clinician=clinician,
        clients=[consenting_ann],
        first_starts_at=ny(2026, 6, 10, 10, 0),
        duration=timedelta(minutes=45),
        frequency=Frequency.WEEKLY,
        occurrences=3,
        service_type=service_type,
    )
    first, *_ = on_commit(
        ny(2026, 6, 2, 9, 0),
        series_reschedule_following,
        appointment=series.appointments.order_by("starts_at").first(),
        starts_at=ny(2026, 6, 10, 15, 0),
    )
    message = OutboxMessage.objects.filter(appointment=first, kind="confirmation").first()
    _subject, body = dispatch._templates(message, "sms", "en", "en")
    assert body.endswith("{{ moved_count }}")
    fields = compose.render_context(message, compose.recipient_for(message), uses=body, language="es")
    assert fields["moved_count"] == " Sus 2 citas siguientes de la serie cambiaron de la misma manera."

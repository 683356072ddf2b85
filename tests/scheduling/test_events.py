"""Services tell the apps that build on scheduling what changed, once the change commits."""

from datetime import timedelta

import pytest

from scheduling import events
from scheduling.services import appointment_book, appointment_cancel, appointment_reschedule

pytestmark = pytest.mark.django_db


@pytest.fixture
def received():
    seen: list[events.AppointmentEvent] = []
    events.subscribe(seen.append)
    yield seen
    events.unsubscribe(seen.append)


def test_booking_rescheduling_and_cancelling_publish_after_commit(
    practice, clinician, client_ann, service_type, tomorrow_10am, received, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        first = appointment_book(
            practice=practice,
            clinician=clinician,
            clients=[client_ann],
            starts_at=tomorrow_10am,
            service_type=service_type,
        )
        moved = appointment_reschedule(appointment=first, starts_at=tomorrow_10am + timedelta(hours=2))
        appointment_cancel(appointment=moved)

    assert received == [
        events.AppointmentEvent("booked", first.pk),
        events.AppointmentEvent("rescheduled", moved.pk, previous_id=first.pk),
        events.AppointmentEvent("cancelled", moved.pk),
    ]


def test_a_failed_booking_publishes_nothing(
    practice, clinician, client_ann, service_type, tomorrow_10am, received, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(Exception):  # noqa: B017
        appointment_book(
            practice=practice,
            clinician=clinician,
            clients=[client_ann],
            starts_at=tomorrow_10am,
            ends_at=tomorrow_10am - timedelta(minutes=1),
            service_type=service_type,
        )
    assert received == []


def test_a_failing_subscriber_does_not_stop_the_others(
    practice, clinician, client_ann, service_type, tomorrow_10am, received, django_capture_on_commit_callbacks
):
    def broken(event):
        raise RuntimeError("provider down")

    events.subscribe(broken)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            appointment_book(
                practice=practice,
                clinician=clinician,
                clients=[client_ann],
                starts_at=tomorrow_10am,
                service_type=service_type,
            )
    finally:
        events.unsubscribe(broken)
    assert [e.kind for e in received] == ["booked"]

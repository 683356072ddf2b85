"""Moving "this and following" sessions of a series (the calendar's drag with that choice):
every later upcoming occurrence moves by the same wall-clock change, through
``appointment_reschedule``, all or nothing; across the November DST change too."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import ValidationError

from scheduling.models import Appointment, AppointmentStatus, Frequency
from scheduling.services import appointment_book, appointment_cancel, series_book, series_reschedule_following

pytestmark = pytest.mark.django_db

NEW_YORK = ZoneInfo("America/New_York")


def ny(*args) -> datetime:
    return datetime(*args, tzinfo=NEW_YORK)


@pytest.fixture
def clock():
    with time_machine.travel(ny(2026, 10, 1, 9, 0), tick=False):
        yield


@pytest.fixture
def weekly(clock, practice, clinician, client_ann, service_type):
    """Four Mondays at 10:00, Oct 19 to Nov 9 (the clocks go back on Nov 1)."""
    series = series_book(
        practice=practice,
        clinician=clinician,
        clients=[client_ann],
        first_starts_at=ny(2026, 10, 19, 10, 0),
        duration=timedelta(minutes=45),
        frequency=Frequency.WEEKLY,
        occurrences=4,
        service_type=service_type,
    )
    return list(series.appointments.order_by("starts_at"))


def _live(series_id) -> list[Appointment]:
    return list(
        Appointment.objects.filter(series_id=series_id)
        .exclude(status=AppointmentStatus.RESCHEDULED)
        .order_by("starts_at")
    )


def test_it_moves_this_and_every_later_session_by_the_same_wall_clock_change(weekly, manager):
    second = weekly[1]
    moved = series_reschedule_following(appointment=second, starts_at=ny(2026, 10, 27, 14, 30), by=manager)
    assert [a.starts_at.astimezone(NEW_YORK) for a in moved] == [
        ny(2026, 10, 27, 14, 30),
        ny(2026, 11, 3, 14, 30),  # after the DST change: still 14:30 on the clock
        ny(2026, 11, 10, 14, 30),
    ]
    assert all(a.duration == timedelta(minutes=45) and a.series_id == second.series_id for a in moved)
    # The first session stays; the three old rows are "rescheduled" and point at their new times.
    live = _live(second.series_id)
    assert live[0].pk == weekly[0].pk and live[0].starts_at == ny(2026, 10, 19, 10, 0)
    for old in weekly[1:]:
        old.refresh_from_db()
        assert old.status == AppointmentStatus.RESCHEDULED
        assert old.rescheduled_to in moved


def test_moving_later_by_less_than_a_week_does_not_clash_with_its_own_siblings(weekly):
    moved = series_reschedule_following(appointment=weekly[0], starts_at=ny(2026, 10, 25, 10, 0))
    assert [a.starts_at.astimezone(NEW_YORK).date().isoformat() for a in moved] == [
        "2026-10-25",
        "2026-11-01",
        "2026-11-08",
        "2026-11-15",
    ]


def test_a_clash_on_any_date_moves_nothing_and_names_the_date(
    weekly, practice, clinician, client_bob, service_type
):
    appointment_book(
        practice=practice,
        clinician=clinician,
        clients=[client_bob],
        starts_at=ny(2026, 11, 3, 15, 0),
        service_type=service_type,
    )
    with pytest.raises(ValidationError) as refused:
        series_reschedule_following(appointment=weekly[1], starts_at=ny(2026, 10, 27, 15, 0))
    assert "Nov 2" in " ".join(refused.value.messages)
    assert "already has a session" in " ".join(refused.value.messages)
    assert [a.pk for a in _live(weekly[0].series_id)] == [a.pk for a in weekly]


def test_cancelled_sessions_stay_cancelled_and_are_skipped(weekly):
    appointment_cancel(appointment=weekly[2])
    moved = series_reschedule_following(appointment=weekly[1], starts_at=ny(2026, 10, 26, 11, 0))
    assert len(moved) == 2
    weekly[2].refresh_from_db()
    assert weekly[2].status == AppointmentStatus.CANCELLED and weekly[2].starts_at == ny(2026, 11, 2, 10, 0)


def test_it_refuses_a_session_outside_a_series(clock, practice, clinician, client_ann, service_type):
    single = appointment_book(
        practice=practice,
        clinician=clinician,
        clients=[client_ann],
        starts_at=ny(2026, 10, 20, 10, 0),
        service_type=service_type,
    )
    with pytest.raises(ValidationError, match="not part of a series"):
        series_reschedule_following(appointment=single, starts_at=ny(2026, 10, 20, 11, 0))


def test_it_moves_to_another_clinician(weekly, other_clinician):
    moved = series_reschedule_following(
        appointment=weekly[2], starts_at=weekly[2].starts_at, clinician=other_clinician
    )
    assert [a.clinician_id for a in moved] == [other_clinician.pk, other_clinician.pk]

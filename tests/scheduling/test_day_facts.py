"""The per-day facts of the metrics page (scheduling.day_facts, #14) equal a recount from the
sessions after bookings, cancellations, joins, no-shows (staff and the system), completions,
reschedules, tech checks and a fee change made through the services; a read recounts only what
changed; the backfill migration's marks and the rebuild command give the same facts."""

import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command
from django.db.models import Q

from practice.models import Client, Modality
from scheduling import day_facts
from scheduling.lifecycle import appointment_complete, participant_mark_no_show_by_system
from scheduling.models import Attendance, DayFacts, DayFactsStale
from scheduling.services import (
    appointment_book,
    appointment_cancel,
    appointment_mark_attendance,
    appointment_reschedule,
    participant_record_join,
)
from telehealth.services import tech_check_record

pytestmark = pytest.mark.django_db

NEW_YORK = ZoneInfo("America/New_York")
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=NEW_YORK)


def stored(practice) -> dict:
    """The stored facts, keyed by (day, clinician, modality), zero rows left out."""
    day_facts.refresh(practice)
    return _keyed(DayFacts.objects.filter(practice=practice))


def recounted(practice) -> dict:
    return _keyed(day_facts.count_days(practice, Q()))


def _keyed(facts) -> dict:
    return {
        (f.day, f.clinician_id, f.modality): {name: getattr(f, name) for name in day_facts.COUNTED_FIELDS}
        for f in facts
    }


@pytest.fixture
def clients(practice):
    return [Client.objects.create(practice=practice, first_name=f"C{n}", last_name="Facts") for n in range(6)]


def test_the_stored_facts_equal_a_recount_after_a_week_of_changes(
    practice, clinician, other_clinician, service_type, group_service, clients, manager
):
    ann, bob, cy, di, ed, flo = clients
    with time_machine.travel(NOW, tick=False):
        booked = {
            name: appointment_book(
                practice=practice,
                clinician=who,
                clients=people,
                starts_at=NOW + timedelta(days=offset, hours=hour),
                service_type=group_service if len(people) > 1 else service_type,
                modality=modality,
                fee=Decimal("120.00"),
            )
            for name, who, people, offset, hour, modality in (
                ("ann", clinician, [ann], 1, 0, Modality.TELEHEALTH),
                ("group", clinician, [bob, cy], 1, 2, Modality.TELEHEALTH),
                ("di", other_clinician, [di], 1, 0, Modality.IN_PERSON),
                ("ed", other_clinician, [ed], 2, 14, Modality.TELEHEALTH),  # 23:00 UTC: the next UTC day
                ("flo", clinician, [flo], 3, 1, Modality.TELEHEALTH),
                ("late_cancel", clinician, [ann], 0, 6, Modality.TELEHEALTH),
            )
        }
        assert stored(practice) == recounted(practice)

        appointment_cancel(appointment=booked["late_cancel"], by=manager)  # inside the window
        appointment_cancel(appointment=booked["flo"], by=manager)  # in good time
        moved = appointment_reschedule(
            appointment=booked["ed"], starts_at=NOW + timedelta(days=4), by=manager
        )
        ann_in = booked["ann"].participants.get()
        tech_check_record(
            participant=ann_in,
            camera_ok=True,
            microphone_ok=True,
            browser_ok=True,
            network_ok=True,
            problems=[],
            details={},
        )
        assert stored(practice) == recounted(practice)

    start = booked["ann"].starts_at
    with time_machine.travel(start + timedelta(minutes=7), tick=False):
        participant_record_join(participant=ann_in)  # late
        bob_in, cy_in = booked["group"].participants.order_by("client__first_name")
    with time_machine.travel(booked["group"].starts_at + timedelta(minutes=2), tick=False):
        participant_record_join(participant=bob_in)
    with time_machine.travel(booked["group"].ends_at + timedelta(minutes=20), tick=False):
        assert stored(practice) == recounted(practice)
        participant_mark_no_show_by_system(participant=cy_in, now=datetime.now(UTC))
        assert stored(practice) == recounted(practice)  # an update(), not a save
        appointment_mark_attendance(
            appointment=booked["di"], client=di, attendance=Attendance.NO_SHOW, by=manager
        )
        booked["group"].refresh_from_db()
        appointment_complete(appointment=booked["group"], now=datetime.now(UTC))
        booked["ann"].refresh_from_db()
        assert stored(practice) == recounted(practice)
        appointment_complete(appointment=booked["ann"], now=datetime.now(UTC))
        assert stored(practice) == recounted(practice)  # an update(), not a save
        moved.fee = Decimal("95.00")  # an EHR sync's fee change (scheduling.sync)
        moved.save(update_fields=["fee", "updated_at"])

    facts = stored(practice)
    assert facts == recounted(practice)
    totals = {name: sum(row[name] for row in facts.values()) for name in day_facts.COUNTED_FIELDS}
    assert totals["client_sessions"] == 7  # the rescheduled one left out, its replacement in
    assert (totals["attended"], totals["no_show"], totals["cancelled"], totals["late_cancel"]) == (2, 2, 2, 1)
    assert (totals["tech_checked"], totals["tech_passed"], totals["joined"], totals["joined_on_time"]) == (
        1,
        1,
        2,
        1,
    )
    assert totals["due_fees"] == Decimal("480.00")
    assert not DayFactsStale.objects.filter(practice=practice).exists()


def test_a_read_recounts_only_the_days_that_changed(practice, clinician, service_type, clients, manager):
    with time_machine.travel(NOW, tick=False):
        first, second = (
            appointment_book(
                practice=practice,
                clinician=clinician,
                clients=[client],
                starts_at=NOW + timedelta(days=offset),
                service_type=service_type,
            )
            for offset, client in ((1, clients[0]), (5, clients[1]))
        )
        day_facts.refresh(practice)
        untouched = DayFacts.objects.get(practice=practice, day=second.starts_at.astimezone(NEW_YORK).date())
        appointment_cancel(appointment=first, by=manager)
        assert day_facts.refresh(practice) in (1, 2)  # the local days touching one UTC day
    assert DayFacts.objects.get(pk=untouched.pk).client_sessions == 1  # not rewritten
    assert day_facts.refresh(practice) == 0


def test_the_backfill_marks_and_the_rebuild_command_count_the_same_facts(
    practice, clinician, service_type, clients
):
    with time_machine.travel(NOW, tick=False):
        for offset, client in enumerate(clients):
            appointment_book(
                practice=practice,
                clinician=clinician,
                clients=[client],
                starts_at=NOW + timedelta(days=offset, hours=offset),
                service_type=service_type,
            )
    expected = stored(practice)
    DayFacts.objects.all().delete()  # as before the migration
    out = io.StringIO()
    call_command("day_facts_rebuild", "--practice", str(practice.pk), stdout=out)
    assert "1 practice(s)" in out.getvalue()
    assert _keyed(DayFacts.objects.filter(practice=practice)) == expected == recounted(practice)


def test_a_new_time_zone_moves_the_sessions_to_their_new_local_days(
    practice, clinician, service_type, clients
):
    late_evening = datetime(2026, 3, 3, 0, 30, tzinfo=NEW_YORK)  # Mon 21:30 in Los Angeles
    with time_machine.travel(NOW, tick=False):
        appointment_book(
            practice=practice,
            clinician=clinician,
            clients=[clients[0]],
            starts_at=late_evening,
            service_type=service_type,
        )
    assert {day for day, _, _ in stored(practice)} == {late_evening.date()}
    practice.timezone = "America/Los_Angeles"
    practice.save(update_fields=["timezone"])
    day_facts.mark_all_stale(practice)
    assert {day for day, _, _ in stored(practice)} == {late_evening.date() - timedelta(days=1)}
    assert stored(practice) == recounted(practice)


def _book(practice, clinician, service_type, people, starts_at):
    with time_machine.travel(NOW, tick=False):
        return appointment_book(
            practice=practice,
            clinician=clinician,
            clients=people,
            starts_at=starts_at,
            service_type=service_type,
        )


@pytest.mark.parametrize("how", ["save", "update_fields", "deferred"])
def test_a_session_moved_in_place_leaves_the_day_it_left(practice, clinician, service_type, clients, how):
    """A start changed on the row itself (not through reschedule, which books a new session),
    e.g. an EHR or calendar sync: the day it left is counted again, not only the day it moved to."""
    from scheduling.models import Appointment

    session = _book(practice, clinician, service_type, [clients[0]], NOW + timedelta(days=1))
    assert stored(practice) == recounted(practice)
    if how == "deferred":  # read without its start
        session = Appointment.objects.only("pk", "practice_id").get(pk=session.pk)
    session.starts_at = NOW + timedelta(days=3)
    session.ends_at = session.starts_at + timedelta(minutes=50)
    if how == "update_fields":
        session.save(update_fields=["starts_at", "ends_at"])
    else:
        session.save()
    facts = stored(practice)
    assert facts == recounted(practice)
    assert {day for day, _, _ in facts} == {(NOW + timedelta(days=3)).date()}


def test_a_deleted_session_and_a_deleted_participant_leave_the_facts(
    practice, clinician, service_type, group_service, clients
):
    from scheduling.models import Appointment

    alone = _book(practice, clinician, service_type, [clients[0]], NOW + timedelta(days=1))
    group = _book(practice, clinician, group_service, clients[1:4], NOW + timedelta(days=2))
    _book(practice, clinician, service_type, [clients[4]], NOW + timedelta(days=2, hours=3))
    assert stored(practice) == recounted(practice)
    group.participants.order_by("pk").first().delete()  # one client taken off the group
    assert stored(practice) == recounted(practice)
    alone.delete()
    assert stored(practice) == recounted(practice)
    Appointment.objects.filter(pk=group.pk).delete()  # a queryset: its participants cascade
    facts = stored(practice)
    assert facts == recounted(practice)
    assert sum(row["client_sessions"] for row in facts.values()) == 1


def test_deleting_many_sessions_marks_each_day_once(practice, clinician, service_type, clients):
    from scheduling.models import Appointment

    for hour in range(4):
        _book(practice, clinician, service_type, [clients[hour]], NOW + timedelta(days=1, hours=hour))
    day_facts.refresh(practice)
    Appointment.objects.filter(practice=practice).delete()
    assert DayFactsStale.objects.filter(practice=practice).count() == 1
    assert stored(practice) == recounted(practice) == {}


def test_a_recount_removes_only_the_markers_it_read(practice, clinician, service_type, clients):
    """Markers are inserted per change, never merged into one row per day: a change that commits
    after a recount read the markers keeps its own for the next recount."""
    session = _book(practice, clinician, service_type, [clients[0]], NOW + timedelta(days=1))
    day_facts.mark_stale(practice.pk, [session.starts_at])
    assert DayFactsStale.objects.filter(practice=practice).count() >= 2  # one row per change
    read = list(DayFactsStale.objects.filter(practice=practice).values_list("pk", flat=True))
    original = DayFactsStale.objects.filter

    def late_change(*args, **kwargs):  # a change marked right after the recount read its markers
        if kwargs.get("pk__in") is not None:
            day_facts.mark_stale(practice.pk, [session.starts_at])
        return original(*args, **kwargs)

    from unittest import mock

    with mock.patch.object(DayFactsStale.objects, "filter", side_effect=late_change):
        day_facts.refresh(practice)
    left = DayFactsStale.objects.filter(practice=practice)
    assert left.count() == 1 and left.get().pk not in read

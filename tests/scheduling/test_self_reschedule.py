"""A client moves their own session from /a/<token> (issue 15 item 2): open slots of the same
clinician on the client's clock, a confirm page, the move through appointment_reschedule, and the
practice's policy (until the late-cancel window, 2 moves per session, 4 per client per 30 days,
same clinician unless allowed, no group sessions). A GET never changes anything."""

from __future__ import annotations

import re
import threading
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client as HttpClient

from scheduling.client_actions import (
    appointment_client_move,
    client_move_check,
    client_move_slots,
    manage_link_for,
)
from scheduling.models import (
    ActivityKind,
    Appointment,
    AppointmentActivity,
    AppointmentStatus,
    BookingPolicy,
    WeeklyHours,
)
from scheduling.services import appointment_book, appointment_reschedule

on_postgres = pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL")
NEW_YORK = ZoneInfo("America/New_York")
UTC = ZoneInfo("UTC")
BOOKED_AT = datetime(2026, 6, 1, 9, 0, tzinfo=NEW_YORK)
START = datetime(2026, 6, 10, 10, 0, tzinfo=NEW_YORK)  # a Wednesday
EARLY = datetime(2026, 6, 8, 12, 0, tzinfo=NEW_YORK)  # Monday noon: two days before
THURSDAY_9AM = datetime(2026, 6, 11, 9, 0, tzinfo=NEW_YORK)


def at(moment):
    return time_machine.travel(moment, tick=False)


def slot_key(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


@pytest.fixture
def web(db) -> HttpClient:
    return HttpClient()


@pytest.fixture
def hours(clinician, other_clinician):
    for who in (clinician, other_clinician):
        for weekday in range(5):
            WeeklyHours.objects.create(clinician=who, weekday=weekday, starts_at=time(9), ends_at=time(12))


def _book(practice, clinician, clients, service_type, starts_at=START):
    with at(BOOKED_AT):
        return appointment_book(
            practice=practice,
            clinician=clinician,
            clients=clients,
            service_type=service_type,
            starts_at=starts_at,
        )


@pytest.fixture
def session(practice, clinician, client_ann, service_type, hours):
    client_ann.timezone = "America/Los_Angeles"
    client_ann.save()
    return _book(practice, clinician, [client_ann], service_type)


@pytest.fixture
def token(session):
    return manage_link_for(participant=session.participants.get(), now=BOOKED_AT)


def _participant(appointment):
    return appointment.participants.select_related(
        "appointment__practice", "appointment__clinician", "client"
    ).get()


def _current(session):
    """The live session this one became after its moves."""
    return Appointment.objects.filter(status__in=["scheduled", "confirmed"]).get(
        participants__client__in=session.clients.all()
    )


# --- The pages ------------------------------------------------------------------------------------


def test_the_session_page_offers_pick_a_new_time(session, token, web):
    with at(EARLY):
        body = web.get(f"/a/{token}").content.decode()

    assert f'href="/a/{token}/move"' in body and "Pick a new time" in body
    assert "Ask the front desk instead" in body


def test_pick_a_new_time_lists_the_next_open_days_on_the_clients_clock(session, token, web):
    with at(EARLY):
        response = web.get(f"/a/{token}/move")

    body = response.content.decode()
    assert response.status_code == 200
    # Monday's hours are over (2 hours' notice from noon): Tuesday first, in Los Angeles time.
    days = re.findall(r"<h2>(.*?)</h2>", body)
    assert days == [
        "Tuesday, June 9",
        "Wednesday, June 10",
        "Thursday, June 11",
        "Friday, June 12",
        "Monday, June 15",
    ]
    assert '6:00 AM <span class="muted">PDT</span>' in body
    assert slot_key(datetime(2026, 6, 9, 9, 0, tzinfo=NEW_YORK)) in body
    assert slot_key(START) not in body  # its own time is not a new time
    assert "America/Los_Angeles" in body


def test_a_get_never_changes_anything(session, token, web):
    new_time = THURSDAY_9AM
    with at(EARLY):
        web.get(f"/a/{token}/move")
        confirm = web.get(f"/a/{token}/move/confirm?at={slot_key(new_time)}")

    assert "Thursday, June 11 at 6:00 AM PDT" in confirm.content.decode()
    session.refresh_from_db()
    assert session.status == AppointmentStatus.SCHEDULED
    assert Appointment.objects.count() == 1 and not AppointmentActivity.objects.exists()


def test_confirming_moves_the_session_through_reschedule(session, token, web):
    with at(EARLY):
        response = web.post(f"/a/{token}/move/confirm", {"at": slot_key(THURSDAY_9AM)})
        after = web.get(f"/a/{token}?done=move").content.decode()

    assert response.status_code == 302 and response["Location"] == f"/a/{token}?done=move"
    session.refresh_from_db()
    assert session.status == AppointmentStatus.RESCHEDULED
    new = session.rescheduled_to
    assert (new.starts_at, new.clinician_id, new.duration) == (
        THURSDAY_9AM,
        session.clinician_id,
        session.duration,
    )
    entry = AppointmentActivity.objects.get(kind=ActivityKind.MOVED)
    assert entry.appointment_id == new.pk
    assert entry.detail == "Moved from Wed Jun 10, 10:00 AM EDT to Thu Jun 11, 9:00 AM EDT"
    # The same link follows the session to its new time.
    assert "your session is moved" in after and "Thursday, June 11 at 6:00 AM PDT" in after


def test_a_time_taken_meanwhile_says_so_and_shows_fresh_slots(
    session, token, web, practice, other_clinician, clinician, client_bob, service_type
):
    with at(EARLY):
        web.get(f"/a/{token}/move")
        appointment_book(
            practice=practice,
            clinician=clinician,
            clients=[client_bob],
            service_type=service_type,
            starts_at=THURSDAY_9AM,
        )
        response = web.post(f"/a/{token}/move/confirm", {"at": slot_key(THURSDAY_9AM)})

    body = response.content.decode()
    assert response.status_code == 409
    assert "that time was just taken" in body
    assert slot_key(THURSDAY_9AM) not in body
    assert slot_key(THURSDAY_9AM + timedelta(minutes=45)) in body
    session.refresh_from_db()
    assert session.status == AppointmentStatus.SCHEDULED


def test_a_time_the_selector_does_not_offer_is_refused(session, token, web):
    off_grid = THURSDAY_9AM + timedelta(minutes=10)
    outside_hours = datetime(2026, 6, 11, 15, 0, tzinfo=NEW_YORK)
    with at(EARLY):
        for when in (off_grid, outside_hours):
            assert web.post(f"/a/{token}/move/confirm", {"at": slot_key(when)}).status_code == 409
        assert web.post(f"/a/{token}/move/confirm", {"at": "tomorrow"}).status_code == 400
    assert Appointment.objects.count() == 1


# --- Policy ---------------------------------------------------------------------------------------


def test_moving_is_allowed_until_the_minute_the_late_cancel_window_starts(session, token, web, practice):
    window_starts = START - timedelta(hours=practice.late_cancel_window_hours)
    participant = _participant(session)

    assert client_move_check(participant, window_starts).allowed
    refused = client_move_check(participant, window_starts + timedelta(minutes=1))
    assert not refused.allowed and f"less than {practice.late_cancel_window_hours} hours" in refused.reason
    with at(window_starts + timedelta(minutes=1)):
        page = web.get(f"/a/{token}").content.decode()
        response = web.post(f"/a/{token}/move/confirm", {"at": slot_key(THURSDAY_9AM)})
    assert "Pick a new time" not in page and "I need to reschedule" in page  # the request path stays
    assert response.status_code == 409 and Appointment.objects.count() == 1


def test_the_third_move_of_a_session_is_refused(session):
    first = appointment_client_move(participant=_participant(session), starts_at=THURSDAY_9AM, now=EARLY)
    second = appointment_client_move(
        participant=_participant(first), starts_at=THURSDAY_9AM + timedelta(days=1), now=EARLY
    )
    # A staff move in between does not count as the client's.
    third_place = appointment_reschedule(
        appointment=second, starts_at=THURSDAY_9AM + timedelta(days=5), now=EARLY
    )

    with pytest.raises(ValidationError, match="already been moved 2 times"):
        appointment_client_move(
            participant=_participant(third_place), starts_at=THURSDAY_9AM + timedelta(days=6), now=EARLY
        )


def test_a_client_may_move_at_most_so_many_sessions_in_30_days(
    session, practice, clinician, client_ann, service_type
):
    BookingPolicy.objects.create(practice=practice, max_moves_per_client=1)
    other = _book(practice, clinician, [client_ann], service_type, starts_at=START + timedelta(days=7))
    appointment_client_move(participant=_participant(session), starts_at=THURSDAY_9AM, now=EARLY)

    with pytest.raises(ValidationError, match="moved 1 sessions in the last 30 days"):
        appointment_client_move(
            participant=_participant(other), starts_at=THURSDAY_9AM + timedelta(days=7), now=EARLY
        )
    # 30 days later the count starts again.
    later = _book(practice, clinician, [client_ann], service_type, starts_at=START + timedelta(days=40))
    assert client_move_check(_participant(later), EARLY + timedelta(days=30, minutes=1)).allowed


def test_group_sessions_cannot_be_moved(practice, clinician, client_ann, client_bob, group_service, hours):
    group = _book(practice, clinician, [client_ann, client_bob], group_service)
    ann = group.participants.get(client=client_ann)

    check = client_move_check(ann, EARLY)
    assert not check.allowed and "group session" in check.reason
    with pytest.raises(ValidationError, match="group session"):
        appointment_client_move(participant=ann, starts_at=THURSDAY_9AM, now=EARLY)


def test_another_clinician_only_when_the_practice_allows(session, practice, other_clinician, token, web):
    participant = _participant(session)
    with pytest.raises(ValidationError, match="same clinician only"):
        appointment_client_move(
            participant=participant, starts_at=THURSDAY_9AM, now=EARLY, clinician=other_clinician
        )

    BookingPolicy.objects.create(practice=practice, clients_may_change_clinician=True)
    with at(EARLY):
        listing = web.get(f"/a/{token}/move?with={other_clinician.pk}").content.decode()
        moved = web.post(
            f"/a/{token}/move/confirm", {"at": slot_key(THURSDAY_9AM), "with": other_clinician.pk}
        )
    assert "Dr. Jones" in listing and moved.status_code == 302
    assert _current(session).clinician == other_clinician


def test_a_practice_can_turn_self_moves_off(session, practice, token, web):
    BookingPolicy.objects.create(practice=practice, clients_may_reschedule=False)
    with at(EARLY):
        body = web.get(f"/a/{token}").content.decode()
        listing = web.get(f"/a/{token}/move").content.decode()

    assert "Pick a new time" not in body.replace("<title>Pick a new time", "")
    assert "be moved online here" in listing


def test_moves_keep_the_practice_notice(session, practice):
    BookingPolicy.objects.create(practice=practice, move_notice_hours=48)
    starts = [slot.starts_at for slot in client_move_slots(_participant(session), EARLY)]

    # Two days from Monday noon is Wednesday noon, when the working day is over.
    assert starts[0] == THURSDAY_9AM
    assert all(start >= EARLY + timedelta(hours=48) for start in starts)


# --- Race (PostgreSQL) ----------------------------------------------------------------------------


@pytest.mark.postgres_only
@on_postgres
@pytest.mark.django_db(transaction=True)
def test_two_clients_taking_the_same_slot_at_once_one_wins_the_other_sees_fresh_slots(
    practice, clinician, client_ann, client_bob, service_type, hours
):
    ann_session = _book(practice, clinician, [client_ann], service_type, starts_at=START)
    bob_session = _book(
        practice, clinician, [client_bob], service_type, starts_at=START + timedelta(days=1, hours=1)
    )
    participants = {"ann": _participant(ann_session), "bob": _participant(bob_session)}
    start_together = threading.Barrier(2)
    results: dict[str, str] = {}

    def move(who):
        try:
            start_together.wait()
            appointment_client_move(participant=participants[who], starts_at=THURSDAY_9AM, now=EARLY)
            results[who] = "won"
        except ValidationError as error:
            results[who] = error.error_list[0].code
        finally:
            connection.close()

    threads = [threading.Thread(target=move, args=(who,)) for who in participants]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results.values()) == ["slot_taken", "won"]
    loser = next(who for who, result in results.items() if result == "slot_taken")
    fresh = client_move_slots(participants[loser], EARLY)
    assert THURSDAY_9AM not in [slot.starts_at for slot in fresh]
    assert Appointment.objects.filter(starts_at=THURSDAY_9AM, status="scheduled").count() == 1

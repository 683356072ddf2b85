"""A telehealth session gets its meeting after booking commits, and the meeting follows it:
reschedule moves it, cancel revokes it, failures are retried or put in the staff queue."""

from __future__ import annotations

import importlib
import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.apps import apps
from django.conf import settings
from django.db import transaction
from django_q.models import Schedule

from practice.models import Modality, TelehealthProvider
from scheduling.models import FollowUp, FollowUpKind
from scheduling.services import appointment_book, appointment_cancel, appointment_reschedule
from telehealth import services, tasks
from telehealth.models import Meeting, MeetingState
from telehealth.providers import fake
from telehealth.providers import zoom as zoom_module
from telehealth.providers.fake import FakeProvider
from tests.telehealth.vendor_servers import FakeZoom

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)
STARTS = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _clean_fake():
    fake.reset()
    yield
    fake.reset()


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def zoom(settings, practice, clinician):
    zoom_module.clear_token_cache()
    with FakeZoom() as server:
        settings.TELEHEALTH_PROVIDERS = {**settings.TELEHEALTH_PROVIDERS, "zoom": server.config()}
        practice.telehealth_provider = TelehealthProvider.ZOOM
        practice.save()
        clinician.email = "smith@riverside.test"
        clinician.save()
        yield server
    zoom_module.clear_token_cache()


@pytest.fixture
def book(django_capture_on_commit_callbacks, practice, clinician, service_type):
    """Book through the scheduling service and run what happens after commit."""

    def _book(clients, *, starts_at=STARTS, service=None, modality=Modality.TELEHEALTH):
        with django_capture_on_commit_callbacks(execute=True):
            return appointment_book(
                practice=practice,
                clinician=clinician,
                clients=clients,
                starts_at=starts_at,
                service_type=service or service_type,
                modality=modality,
            )

    return _book


def meeting_of(appointment) -> Meeting:
    return Meeting.objects.get(appointment=appointment)


# --- Creation ------------------------------------------------------------------------------


def test_booking_a_telehealth_session_creates_a_ready_meeting(clock, book, client_ann):
    appointment = book([client_ann])

    meeting = meeting_of(appointment)
    assert meeting.state == MeetingState.READY
    assert meeting.provider == "fake"
    assert meeting.join_url == f"{settings.SITE_URL}/meeting/fake/{meeting.key}"
    assert (meeting.attempts, meeting.last_error, meeting.next_attempt_at) == (1, "", None)


def test_an_in_person_session_gets_no_meeting(clock, book, client_ann):
    appointment = book([client_ann], modality=Modality.IN_PERSON)

    assert not Meeting.objects.filter(appointment=appointment).exists()
    assert fake.calls == []


def test_booking_with_zoom_creates_the_meeting_at_zoom_without_client_names(clock, zoom, book, client_ann):
    appointment = book([client_ann])

    meeting = meeting_of(appointment)
    [create] = zoom.requests_to("POST", "/v2/users/")
    assert create.path == "/v2/users/smith@riverside.test/meetings"
    assert create.body["start_time"] == "2026-11-24T15:00:00Z"
    assert create.body["duration"] == 45
    assert create.body["timezone"] == "America/New_York"
    assert meeting.state == MeetingState.READY
    assert meeting.external_id == "85000000001"
    assert meeting.join_url == "https://zoom.invalid/j/85000000001?pwd=abc"
    sent = json.dumps([s.body for s in zoom.seen])
    assert "Ann" not in sent and "Avery" not in sent


def test_a_group_session_shares_one_meeting(clock, zoom, book, client_ann, client_bob, group_service):
    appointment = book([client_ann, client_bob], service=group_service)

    assert Meeting.objects.filter(appointment=appointment).count() == 1
    assert len(zoom.requests_to("POST", "/v2/users/")) == 1
    ann, bob = appointment.participants.order_by("client__first_name")
    assert services.participant_join_url(participant=ann) == services.participant_join_url(participant=bob)
    assert services.participant_join_url(participant=ann) == meeting_of(appointment).join_url


def test_the_provider_is_never_called_inside_a_transaction(
    clock, practice, clinician, client_ann, service_type
):
    # Booked without running the after-commit work, so no meeting exists yet.
    appointment = appointment_book(
        practice=practice,
        clinician=clinician,
        clients=[client_ann],
        starts_at=STARTS,
        service_type=service_type,
    )

    with pytest.raises(RuntimeError), transaction.atomic():
        services.meeting_create_for(appointment=appointment)

    assert fake.calls == []


# --- Reschedule and cancel --------------------------------------------------------------------


def test_rescheduling_moves_the_zoom_meeting_to_the_new_time(
    clock, zoom, book, client_ann, django_capture_on_commit_callbacks
):
    appointment = book([client_ann])
    before = meeting_of(appointment)

    with django_capture_on_commit_callbacks(execute=True):
        moved = appointment_reschedule(appointment=appointment, starts_at=STARTS + timedelta(days=1, hours=2))

    after = meeting_of(moved)
    assert after.pk == before.pk
    assert (after.external_id, after.join_url) == (before.external_id, before.join_url)
    assert after.state == MeetingState.READY
    [patch] = zoom.requests_to("PATCH", "/v2/meetings/85000000001")
    assert patch.body["start_time"] == "2026-11-25T17:00:00Z"
    assert len(zoom.requests_to("POST", "/v2/users/")) == 1
    assert not Meeting.objects.filter(appointment=appointment).exists()


def test_rescheduling_a_session_whose_meeting_failed_tries_again(
    clock, book, client_ann, django_capture_on_commit_callbacks
):
    fake.fail_next(permanent=True)
    appointment = book([client_ann])
    assert meeting_of(appointment).state == MeetingState.FAILED

    with django_capture_on_commit_callbacks(execute=True):
        moved = appointment_reschedule(appointment=appointment, starts_at=STARTS + timedelta(hours=3))

    assert meeting_of(moved).state == MeetingState.READY


def test_cancelling_revokes_the_zoom_meeting(
    clock, zoom, book, client_ann, django_capture_on_commit_callbacks
):
    appointment = book([client_ann])

    with django_capture_on_commit_callbacks(execute=True):
        appointment_cancel(appointment=appointment)

    assert [d.path for d in zoom.requests_to("DELETE")] == ["/v2/meetings/85000000001"]
    assert zoom.meetings == {}
    meeting = meeting_of(appointment)
    assert meeting.state == MeetingState.CANCELLED
    assert services.participant_join_url(participant=appointment.participants.get()) is None


def test_a_failed_delete_is_recorded_on_the_meeting(
    clock, zoom, book, client_ann, django_capture_on_commit_callbacks
):
    appointment = book([client_ann])
    zoom.answer_next("DELETE", "/v2/meetings/", 500, {"code": 500, "message": "Internal error"})

    with django_capture_on_commit_callbacks(execute=True):
        appointment_cancel(appointment=appointment)

    meeting = meeting_of(appointment)
    assert meeting.state == MeetingState.CANCELLED
    assert meeting.last_error.startswith("Not deleted at the provider: Zoom answered 500")


def test_a_session_cancelled_while_its_meeting_is_being_created_does_not_keep_it(
    clock, book, client_ann, monkeypatch
):
    real_create = FakeProvider.create

    def create_while_staff_cancel(self, request):
        result = real_create(self, request)
        # Meanwhile another worker runs the cancellation's task.
        services.meeting_cancel_for(appointment=Meeting.objects.get(key=request.key).appointment)
        return result

    monkeypatch.setattr(FakeProvider, "create", create_while_staff_cancel)
    appointment = book([client_ann])

    meeting = meeting_of(appointment)
    assert meeting.state == MeetingState.CANCELLED
    assert ("cancel", f"fake-{meeting.key}") in fake.calls


# --- Failures and retries ----------------------------------------------------------------------


def test_a_transient_failure_is_retried_with_backoff(clock, book, client_ann):
    fake.fail_next(times=2)
    appointment = book([client_ann])

    meeting = meeting_of(appointment)
    assert meeting.state == MeetingState.PENDING
    assert meeting.attempts == 1
    assert meeting.last_error == "fake transient failure on create"
    assert meeting.next_attempt_at == NOW + timedelta(seconds=30)

    assert services.meetings_retry_due(now=NOW + timedelta(seconds=29)) == 0
    assert services.meetings_retry_due(now=NOW + timedelta(seconds=30)) == 1
    meeting.refresh_from_db()
    assert meeting.attempts == 2
    assert meeting.next_attempt_at == NOW + timedelta(seconds=30 + 60)  # the delay doubled

    services.meetings_retry_due(now=NOW + timedelta(seconds=90))
    meeting.refresh_from_db()
    assert (meeting.state, meeting.attempts, meeting.last_error) == (MeetingState.READY, 3, "")
    assert not FollowUp.objects.exists()


def test_zoom_rate_limit_waits_as_long_as_zoom_asks(clock, zoom, book, client_ann):
    zoom.answer_next("POST", "/v2/users/", 429, {"code": 429, "message": "Slow down"}, {"Retry-After": "300"})

    appointment = book([client_ann])

    meeting = meeting_of(appointment)
    assert meeting.state == MeetingState.PENDING
    assert meeting.next_attempt_at == NOW + timedelta(seconds=300)
    services.meetings_retry_due(now=NOW + timedelta(seconds=300))
    meeting.refresh_from_db()
    assert meeting.state == MeetingState.READY


def test_a_zoom_outage_is_retried_by_the_sweep_task(clock, zoom, book, client_ann):
    zoom.answer_next("POST", "/v2/users/", 503, {"code": 503, "message": "Unavailable"})
    appointment = book([client_ann])
    assert meeting_of(appointment).state == MeetingState.PENDING

    clock.shift(timedelta(seconds=30))
    tasks.meetings_sweep()

    assert meeting_of(appointment).state == MeetingState.READY
    assert len(zoom.requests_to("POST", "/v2/users/")) == 2


def test_a_permanent_failure_fails_the_meeting_and_alerts_staff(clock, book, client_ann):
    fake.fail_next(permanent=True)

    appointment = book([client_ann])

    meeting = meeting_of(appointment)
    assert meeting.state == MeetingState.FAILED
    assert meeting.next_attempt_at is None
    [item] = FollowUp.objects.for_practice(appointment.practice).open()
    assert (item.appointment, item.kind) == (appointment, FollowUpKind.MEETING_FAILED)
    assert item.detail == "fake permanent failure on create"
    assert services.meetings_retry_due(now=NOW + timedelta(hours=1)) == 0


def test_transient_failures_give_up_after_the_last_attempt(clock, book, client_ann):
    fake.fail_next(times=services.MAX_ATTEMPTS)
    appointment = book([client_ann])

    for _ in range(services.MAX_ATTEMPTS):
        services.meetings_retry_due(now=NOW + timedelta(days=1))
        Meeting.objects.filter(appointment=appointment, state=MeetingState.PENDING).update(
            next_attempt_at=NOW
        )

    meeting = meeting_of(appointment)
    assert meeting.state == MeetingState.FAILED
    assert meeting.attempts == services.MAX_ATTEMPTS
    assert FollowUp.objects.filter(appointment=appointment, kind=FollowUpKind.MEETING_FAILED).count() == 1


def test_zoom_rejecting_the_host_fails_the_meeting(clock, zoom, book, client_ann):
    zoom.answer_next("POST", "/v2/users/", 404, {"code": 1001, "message": "User does not exist."})

    appointment = book([client_ann])

    assert meeting_of(appointment).state == MeetingState.FAILED
    assert FollowUp.objects.filter(appointment=appointment, kind=FollowUpKind.MEETING_FAILED).exists()


def test_manual_practice_without_a_link_waits_for_one(
    clock, practice, book, client_ann, django_capture_on_commit_callbacks
):
    practice.telehealth_provider = TelehealthProvider.MANUAL
    practice.save()
    appointment = book([client_ann])
    assert meeting_of(appointment).state == MeetingState.AWAITING_LINK
    assert FollowUp.objects.filter(appointment=appointment, kind=FollowUpKind.MEETING_FAILED).exists()

    services.meeting_set_link(appointment=appointment, join_url="https://ehr.example/session/77")
    with django_capture_on_commit_callbacks(execute=True):
        moved = appointment_reschedule(appointment=appointment, starts_at=STARTS + timedelta(hours=2))

    meeting = meeting_of(moved)
    assert (meeting.state, meeting.join_url) == (MeetingState.READY, "https://ehr.example/session/77")


def test_a_pasted_link_must_be_https(clock, book, client_ann):
    appointment = book([client_ann])

    with pytest.raises(Exception) as caught:
        services.meeting_set_link(appointment=appointment, join_url="http://ehr.example/77", host_url="nope")

    assert set(caught.value.message_dict) == {"join_url", "host_url"}


# --- The sweep ------------------------------------------------------------------------------


def test_the_sweep_creates_meetings_a_worker_never_got_to(
    clock, practice, clinician, client_ann, service_type
):
    appointment = appointment_book(
        practice=practice,
        clinician=clinician,
        clients=[client_ann],
        starts_at=STARTS,
        service_type=service_type,
    )
    assert not Meeting.objects.filter(appointment=appointment).exists()

    assert services.meetings_retry_due() == 1

    assert meeting_of(appointment).state == MeetingState.READY


def test_the_sweep_is_scheduled_every_minute_exactly_once():
    migration = importlib.import_module("telehealth.migrations.0002_meetings_sweep_schedule")
    migration.add_schedule(apps, None)  # running it again changes nothing

    [schedule] = Schedule.objects.filter(func="telehealth.tasks.meetings_sweep")
    assert (schedule.name, schedule.schedule_type, schedule.minutes, schedule.repeats) == (
        "telehealth.meetings_sweep",
        Schedule.MINUTES,
        1,
        -1,
    )


def test_the_sweep_stops_starting_provider_calls_when_its_time_budget_is_spent(clock, book, client_ann):
    fake.fail_next()
    appointment = book([client_ann])

    done = services.meetings_retry_due(now=NOW + timedelta(minutes=5), budget_seconds=-1)

    assert done == 0
    assert meeting_of(appointment).state == MeetingState.PENDING
    assert fake.calls == [("create", meeting_of(appointment).key)]

"""Look-ahead preparation (issue #19): rows are decided and rendered before they fall due, held,
and handed over at their second; the last check of what can change late comes right before the
provider call, and exactly once holds when a dispatcher dies holding prepared rows."""

# ruff: noqa: F811  (the ``session`` fixture is imported from test_dispatch)

import threading
import time as time_module
from datetime import time, timedelta

import pytest
import time_machine
from django.core import mail
from django.db import connection

from messaging import dispatch
from messaging.backends import locmem
from messaging.models import OutboxMessage, OutboxState
from messaging.preferences import client_preferences_update
from practice.models import Client
from scheduling.models import Appointment, AppointmentStatus
from scheduling.services import appointment_cancel, appointment_reschedule, participant_record_join
from tests.messaging.test_dispatch import SESSION, book_hourly, row, session, use_sms  # noqa: F401

pytestmark = pytest.mark.django_db

T15 = SESSION - timedelta(minutes=15)


def settle_everything_before(moment):
    """Send what is due before ``moment`` (the confirmation, T-24 and so on) so each test looks
    at one row."""
    with time_machine.travel(moment - timedelta(seconds=1), tick=False):
        dispatch.dispatch_due()
    locmem.outbox.clear()


def prepare_at(dispatcher, moment):
    with time_machine.travel(moment, tick=False):
        return dispatcher.sweep()


def test_a_row_prepared_ahead_is_held_and_handed_over_only_at_its_second(session):
    settle_everything_before(T15)
    with dispatch.Dispatcher(lookahead_seconds=60) as dispatcher:
        early = prepare_at(dispatcher, T15 - timedelta(seconds=40))
        assert early.claimed == 1 and early.sent == 0
        assert row(session, "t15_sms").state == OutboxState.CLAIMED
        assert locmem.outbox == []
        # A second before: still held, still not sent, not claimed twice.
        almost = prepare_at(dispatcher, T15 - timedelta(seconds=1))
        assert almost.claimed == 0 and almost.sent == 0
        assert locmem.outbox == []
        assert dispatcher.next_wake() == T15

        due = prepare_at(dispatcher, T15)

    assert due.sent == 1
    assert len(locmem.outbox) == 1
    t15 = row(session, "t15_sms")
    assert t15.state == OutboxState.ACCEPTED
    assert t15.sent_at == T15


def test_rows_beyond_the_look_ahead_are_left_planned(session):
    settle_everything_before(T15)
    with dispatch.Dispatcher(lookahead_seconds=60) as dispatcher:
        report = prepare_at(dispatcher, T15 - timedelta(seconds=61))
        assert dispatcher.next_wake() == T15 - timedelta(seconds=60)

    assert report.claimed == 0
    assert row(session, "t15_sms").state == OutboxState.PLANNED


def test_a_dispatcher_stopping_with_rows_held_gives_them_back(session):
    settle_everything_before(T15)
    with dispatch.Dispatcher(lookahead_seconds=60) as dispatcher:
        prepare_at(dispatcher, T15 - timedelta(seconds=30))
        assert row(session, "t15_sms").state == OutboxState.CLAIMED

    t15 = row(session, "t15_sms")
    assert (t15.state, t15.claim_token, t15.lease_until) == (OutboxState.PLANNED, "", None)
    assert locmem.outbox == []


@pytest.mark.parametrize("change", ["cancel", "reschedule"])
def test_a_session_cancelled_or_moved_after_preparation_gets_no_reminder(session, change):
    settle_everything_before(T15)
    with dispatch.Dispatcher(lookahead_seconds=60) as dispatcher:
        prepare_at(dispatcher, T15 - timedelta(seconds=30))
        with time_machine.travel(T15 - timedelta(seconds=10), tick=False):
            appointment = Appointment.objects.get(pk=session.pk)
            if change == "cancel":
                appointment_cancel(appointment=appointment, reason="Client asked")
            else:
                appointment_reschedule(appointment=appointment, starts_at=SESSION + timedelta(days=1))
        report = prepare_at(dispatcher, T15)

    assert report.rechecked == 1
    assert [m for m in locmem.outbox if "cancelled" not in m.body] == []
    t15 = row(session, "t15_sms")
    assert t15.state == OutboxState.CANCELLED
    assert t15.reason.startswith(
        "The session was cancelled" if change == "cancel" else "The session was moved"
    )


def test_a_client_who_switches_a_reminder_off_after_preparation_does_not_get_it(session):
    day_before = SESSION - timedelta(days=1)
    settle_everything_before(day_before)
    ann = Client.objects.get(pk=session.participants.get().client_id)
    with dispatch.Dispatcher(lookahead_seconds=60) as dispatcher:
        prepare_at(dispatcher, day_before - timedelta(seconds=30))
        assert row(session, "t24_sms").state == OutboxState.CLAIMED
        with time_machine.travel(day_before - timedelta(seconds=5), tick=False):
            client_preferences_update(
                client=ann,
                texts=True,
                quiet_start=None,
                quiet_end=None,
                opted_out_steps=["t24_sms"],
                now=day_before - timedelta(seconds=5),
            )
        report = prepare_at(dispatcher, day_before)

    assert report.rechecked == 1 and report.sent == 0
    assert locmem.outbox == []
    t24 = row(session, "t24_sms")
    assert t24.state == OutboxState.SKIPPED
    assert "switched this reminder off" in t24.reason


def test_a_client_who_replies_stop_after_preparation_gets_no_text(session):
    day_before = SESSION - timedelta(days=1)
    settle_everything_before(day_before)
    ann = Client.objects.get(pk=session.participants.get().client_id)
    with dispatch.Dispatcher(lookahead_seconds=60) as dispatcher:
        prepare_at(dispatcher, day_before - timedelta(seconds=30))
        with time_machine.travel(day_before - timedelta(seconds=5), tick=False):
            Client.objects.filter(pk=ann.pk).update(sms_consent_at=None)
        prepare_at(dispatcher, day_before)

    assert locmem.outbox == []  # no text: it went by e-mail instead
    t24 = row(session, "t24_sms")
    assert (t24.state, t24.channel) == (OutboxState.ACCEPTED, "email")
    assert mail.outbox[-1].to == [ann.email]


def test_quiet_hours_are_judged_at_the_due_second_not_when_prepared(session):
    """Prepared at 09:59:10 for 10:00 (client's clock): their quiet hours from 10:00 hold it."""
    day_before = SESSION - timedelta(days=1)
    settle_everything_before(day_before)
    ann = Client.objects.get(pk=session.participants.get().client_id)
    client_preferences_update(
        client=ann,
        texts=True,
        quiet_start=time(10, 0),
        quiet_end=time(11, 0),
        opted_out_steps=[],
        now=day_before,
    )
    with dispatch.Dispatcher(lookahead_seconds=60) as dispatcher:
        prepare_at(dispatcher, day_before - timedelta(seconds=50))
        assert row(session, "t24_sms").state == OutboxState.CLAIMED
        report = prepare_at(dispatcher, day_before)

    assert locmem.outbox == []
    assert report.deferred == 1
    t24 = row(session, "t24_sms")
    assert (t24.state, t24.due_at) == (OutboxState.PLANNED, day_before + timedelta(hours=1))


def test_a_client_who_joins_after_preparation_is_not_reported_as_missing(session):
    prompt_due = SESSION + timedelta(minutes=5)
    settle_everything_before(prompt_due)
    participant = session.participants.get()
    with dispatch.Dispatcher(lookahead_seconds=60) as dispatcher:
        prepare_at(dispatcher, prompt_due - timedelta(seconds=30))
        assert row(session, "t5_clinician_prompt").state == OutboxState.CLAIMED
        with time_machine.travel(prompt_due - timedelta(seconds=10), tick=False):
            participant_record_join(participant=participant)
        prepare_at(dispatcher, prompt_due)

    assert locmem.outbox == []
    prompt = row(session, "t5_clinician_prompt")
    assert prompt.state == OutboxState.SKIPPED
    assert prompt.reason == "The client had already joined."


def test_a_dispatcher_that_dies_holding_prepared_rows_loses_nothing_and_sends_nothing_twice(session):
    settle_everything_before(T15)
    dead = dispatch.Dispatcher(lookahead_seconds=60)
    dead.__enter__()  # ... and it never leaves: killed while holding the prepared row
    prepare_at(dead, T15 - timedelta(seconds=30))
    assert row(session, "t15_sms").state == OutboxState.CLAIMED

    # Its lease runs until a claim lease after the row's due time: nobody else takes it before.
    with time_machine.travel(T15 + timedelta(seconds=30), tick=False):
        assert dispatch.dispatch_due().sent == 0
    assert locmem.outbox == []
    with time_machine.travel(T15 + timedelta(seconds=61), tick=False):
        report = dispatch.dispatch_due()

    assert report.requeued_leases == 1 and report.sent == 1
    assert len(locmem.outbox) == 1
    assert row(session, "t15_sms").state == OutboxState.ACCEPTED
    # Were the dead one to wake up, its prepared row is no longer its own: nothing goes twice.
    assert prepare_at(dead, T15 + timedelta(seconds=62)).sent == 0
    assert len(locmem.outbox) == 1
    dead._sender.close()


def test_rows_planned_late_are_prepared_and_sent_in_the_same_sweep(session):
    settle_everything_before(T15)
    with dispatch.Dispatcher(lookahead_seconds=60) as dispatcher:
        report = prepare_at(dispatcher, T15 + timedelta(seconds=3))

    assert report.claimed == 1 and report.sent == 1


# --- The last check comes right before the provider call (the B3 stale-send gap) -------------


class CancelsTheOtherWhileWithTheProvider:
    """A provider whose first request is held until a second chunk has been handed over (or a
    second passes), while another request commits the cancellation of the other session — the
    change that used to slip between a chunk's check and its calls."""

    def __init__(self, cancel_other_of, second_hand_over: threading.Event):
        self.cancel_other_of = cancel_other_of
        self.second_hand_over = second_hand_over
        self.calls = 0

    def send(self, message):
        self.calls += 1
        if self.calls == 1:
            self.second_hand_over.wait(timeout=1)
            try:
                self.cancel_other_of(message.to)
            finally:
                connection.close()  # this thread's own connection
        return locmem.LocMemSMSBackend().send(message)


@pytest.mark.django_db(transaction=True)
def test_a_change_committed_while_the_previous_chunk_is_with_the_provider_stops_the_next_chunk(
    practice, clinician, service_type, django_capture_on_commit_callbacks, monkeypatch, settings
):
    book_hourly(2, practice, clinician, service_type, django_capture_on_commit_callbacks)
    texts = OutboxMessage.objects.filter(kind="t15_sms")
    texts.update(due_at=T15)
    OutboxMessage.objects.exclude(kind="t15_sms").update(state=OutboxState.SKIPPED)  # only the two texts
    settings.DISPATCH_HANDOVER_CHUNK = 1
    settings.DISPATCH_CONCURRENCY = 1
    sessions = {a.participants.get().client.phone.as_e164: a.pk for a in Appointment.objects.all()}

    def cancel_other_of(number):
        (other,) = [pk for phone, pk in sessions.items() if phone != number]
        Appointment.objects.filter(pk=other).update(status=AppointmentStatus.CANCELLED)

    second_hand_over = threading.Event()
    real_hand_over, hand_overs = dispatch._hand_over, []

    def counting_hand_over(*args, **kwargs):
        result = real_hand_over(*args, **kwargs)
        hand_overs.append(result)
        if len(hand_overs) == 2:
            second_hand_over.set()
        return result

    monkeypatch.setattr(dispatch, "_hand_over", counting_hand_over)
    use_sms(monkeypatch, CancelsTheOtherWhileWithTheProvider(cancel_other_of, second_hand_over))
    with time_machine.travel(T15, tick=False):
        dispatch.dispatch_due()

    # The first text went; the second session was cancelled while it was with the provider, and
    # its text, checked only when its own calls could start, did not.
    assert len(locmem.outbox) == 1
    assert texts.filter(state=OutboxState.ACCEPTED).count() == 1
    withdrawn = texts.get(appointment__status=AppointmentStatus.CANCELLED)
    assert withdrawn.state == OutboxState.CANCELLED
    assert withdrawn.reason == "The session was cancelled."


class ChangesTheOtherDuringItsOwnCall:
    """A provider whose first request, while the whole chunk is already "sending", changes the
    other recipient's session or consent through the real service (in another connection, as a
    web request or the inbound SMS webhook would): ``change_other_of(number)``."""

    def __init__(self, change_other_of):
        self.change_other_of = change_other_of
        self.calls = 0

    def send(self, message):
        self.calls += 1
        if self.calls == 1:
            try:
                self.change_other_of(message.to)
            finally:
                connection.close()
            # The service has returned (its after-commit work done) before the next call starts;
            # NOTIFY reaches the listening connection asynchronously, within milliseconds.
            time_module.sleep(0.1)
        return locmem.LocMemSMSBackend().send(message)


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="the fence is PostgreSQL's NOTIFY")
def test_a_session_cancelled_after_its_chunk_was_handed_over_is_fenced_before_its_call(
    practice, clinician, service_type, django_capture_on_commit_callbacks, monkeypatch, settings
):
    book_hourly(2, practice, clinician, service_type, django_capture_on_commit_callbacks)
    texts = OutboxMessage.objects.filter(kind="t15_sms")
    texts.update(due_at=T15)
    OutboxMessage.objects.exclude(kind="t15_sms").update(state=OutboxState.SKIPPED)  # only the two texts
    settings.DISPATCH_HANDOVER_CHUNK = 2  # both texts in one chunk, marked "sending" together
    settings.DISPATCH_CONCURRENCY = 1
    sessions = {a.participants.get().client.phone.as_e164: a.pk for a in Appointment.objects.all()}

    def cancel_other_of(number):
        (other,) = [pk for phone, pk in sessions.items() if phone != number]
        with time_machine.travel(T15, tick=False):
            appointment_cancel(appointment=Appointment.objects.get(pk=other), reason="Client asked")

    use_sms(monkeypatch, ChangesTheOtherDuringItsOwnCall(cancel_other_of))
    with time_machine.travel(T15, tick=False):
        first = dispatch.dispatch_due()
        second = dispatch.dispatch_due()  # the fenced row, planned again, is decided again

    reminders = [m for m in locmem.outbox if "cancelled" not in m.body]
    assert len(reminders) == 1
    assert first.fenced == 1
    withdrawn = texts.get(appointment__status=AppointmentStatus.CANCELLED)
    assert withdrawn.state == OutboxState.CANCELLED
    assert withdrawn.reason == "The session was cancelled."
    assert second.sent <= 1  # at most the cancellation notice


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="the fence is PostgreSQL's NOTIFY")
def test_a_client_who_replies_stop_after_their_chunk_was_handed_over_is_fenced_before_the_call(
    practice, clinician, service_type, django_capture_on_commit_callbacks, monkeypatch, settings
):
    from practice.consent import client_sms_opt_out
    from practice.models import ConsentEventSource

    book_hourly(2, practice, clinician, service_type, django_capture_on_commit_callbacks)
    texts = OutboxMessage.objects.filter(kind="t15_sms")
    texts.update(due_at=T15)
    OutboxMessage.objects.exclude(kind="t15_sms").update(state=OutboxState.SKIPPED)  # only the two texts
    settings.DISPATCH_HANDOVER_CHUNK = 2  # both texts in one chunk, marked "sending" together
    settings.DISPATCH_CONCURRENCY = 1
    clients = {
        a.participants.get().client.phone.as_e164: a.participants.get().client_id
        for a in Appointment.objects.all()
    }

    def stop_other_of(number):
        (other,) = [pk for phone, pk in clients.items() if phone != number]
        client_sms_opt_out(
            client=Client.objects.get(pk=other), source=ConsentEventSource.SMS_KEYWORD, now=T15
        )

    use_sms(monkeypatch, ChangesTheOtherDuringItsOwnCall(stop_other_of))
    with time_machine.travel(T15, tick=False):
        first = dispatch.dispatch_due()
        dispatch.dispatch_due()  # the fenced row, planned again, is decided again by the same rules

    assert len(locmem.outbox) == 1  # one text: the client who said STOP got none
    assert first.fenced == 1
    stopped = texts.get(participant__client__sms_consent_at__isnull=True)
    assert stopped.state == OutboxState.SKIPPED
    assert "no consent to texts on record" in stopped.reason

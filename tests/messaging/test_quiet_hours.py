"""Practice-wide quiet hours combined with the client's own (docs/preferences.md): no texts or
pushes at night on the client's clock, urgent steps excepted, and the timeline says which rule
held or rerouted a message."""

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest
import time_machine
from auditlog.models import LogEntry
from django.core import mail

from messaging import dispatch
from messaging.backends import locmem
from messaging.models import ClientPreferences, OutboxMessage, OutboxState, Sequence
from messaging.quiet_hours import CLIENT, PRACTICE, quiet_spell, window
from messaging.services import sequence_for
from scheduling.services import appointment_book
from tests.messaging.conftest import NEW_YORK, ny

pytestmark = pytest.mark.django_db

PRACTICE_NIGHT = window(time(21, 0), time(8, 0), PRACTICE)


# --- The rule itself (pure) ------------------------------------------------------------------------


def test_it_is_quiet_inside_the_practice_window_and_not_outside():
    assert quiet_spell(ny(2026, 6, 1, 20, 59), NEW_YORK, [PRACTICE_NIGHT]) is None
    spell = quiet_spell(ny(2026, 6, 1, 21, 0), NEW_YORK, [PRACTICE_NIGHT])
    assert spell.until == ny(2026, 6, 2, 8, 0)
    assert spell.rules == (PRACTICE,)
    assert quiet_spell(ny(2026, 6, 2, 8, 0), NEW_YORK, [PRACTICE_NIGHT]) is None


def test_a_clients_own_quiet_hours_only_add_quiet_time():
    client_morning = window(time(7, 0), time(9, 30), CLIENT)

    spell = quiet_spell(ny(2026, 6, 1, 23, 0), NEW_YORK, [PRACTICE_NIGHT, client_morning])
    assert spell.until == ny(2026, 6, 2, 9, 30)  # the practice's night runs into the client's morning
    assert spell.rules == (PRACTICE, CLIENT)
    assert spell.description == "the practice's and the client's quiet hours"

    # A client window inside the practice's cannot shorten it.
    short = window(time(22, 0), time(23, 0), CLIENT)
    assert quiet_spell(ny(2026, 6, 1, 23, 30), NEW_YORK, [PRACTICE_NIGHT, short]).until == ny(
        2026, 6, 2, 8, 0
    )
    assert quiet_spell(ny(2026, 6, 1, 12, 0), NEW_YORK, [PRACTICE_NIGHT, short]) is None


def test_no_windows_or_an_empty_window_mean_never_quiet():
    assert window(None, None, PRACTICE) is None
    assert window(time(8, 0), time(8, 0), PRACTICE) is None
    assert quiet_spell(ny(2026, 6, 1, 3, 0), NEW_YORK, [None, None]) is None


def test_practice_quiet_hours_are_read_on_the_clients_clock():
    los_angeles = ZoneInfo("America/Los_Angeles")
    # 23:00 in New York is 20:00 in Los Angeles: not yet night for a client there.
    assert quiet_spell(ny(2026, 6, 1, 23, 0), los_angeles, [PRACTICE_NIGHT]) is None
    spell = quiet_spell(ny(2026, 6, 2, 1, 0), los_angeles, [PRACTICE_NIGHT])
    assert spell.until == datetime(2026, 6, 2, 8, 0, tzinfo=los_angeles)


@pytest.mark.parametrize(
    ("night_of", "expected_utc_end"),
    [
        ((2026, 3, 7), datetime(2026, 3, 8, 12, 0, tzinfo=UTC)),  # spring forward: 08:00 EDT
        ((2026, 10, 31), datetime(2026, 11, 1, 13, 0, tzinfo=UTC)),  # fall back: 08:00 EST
    ],
)
def test_the_quiet_night_ends_at_8_local_on_dst_nights(night_of, expected_utc_end):
    spell = quiet_spell(ny(*night_of, 23, 30), NEW_YORK, [PRACTICE_NIGHT])
    assert spell.until == expected_utc_end
    assert spell.until.astimezone(NEW_YORK).hour == 8


def test_a_zone_without_dst():
    phoenix = ZoneInfo("America/Phoenix")
    spell = quiet_spell(datetime(2026, 3, 8, 10, 0, tzinfo=UTC), phoenix, [PRACTICE_NIGHT])  # 03:00 MST
    assert spell.until == datetime(2026, 3, 8, 15, 0, tzinfo=UTC)


# --- The dispatcher ----------------------------------------------------------------------------


@pytest.fixture
def early_session(practice, clinician, consenting_ann, service_type, django_capture_on_commit_callbacks):
    """A 7:30 session: its day-before text falls at 7:30, inside the practice's night."""
    with (
        time_machine.travel(ny(2026, 6, 1, 9, 0), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        return appointment_book(
            practice=practice,
            clinician=clinician,
            clients=[consenting_ann],
            starts_at=ny(2026, 6, 10, 7, 30),
            service_type=service_type,
        )


def sweep_at(moment):
    with time_machine.travel(moment, tick=False):
        return dispatch.dispatch_due()


def row(appointment, kind):
    return OutboxMessage.objects.get(appointment=appointment, kind=kind)


def test_a_text_in_the_practices_quiet_hours_waits_and_says_which_rule(early_session):
    sweep_at(ny(2026, 6, 9, 7, 30))

    held = row(early_session, "t24_sms")
    assert held.state == OutboxState.PLANNED
    assert held.due_at == ny(2026, 6, 9, 8, 0)
    assert held.reason == "Held for the practice's quiet hours (9:00 PM-8:00 AM), until 8:00 AM EDT."
    assert locmem.outbox == []

    sweep_at(ny(2026, 6, 9, 8, 0))
    assert row(early_session, "t24_sms").state == OutboxState.ACCEPTED


def test_the_clients_own_hours_extend_the_practices_night(early_session, consenting_ann):
    ClientPreferences.objects.create(
        practice=consenting_ann.practice, client=consenting_ann, quiet_start=time(7, 0), quiet_end=time(9, 0)
    )

    sweep_at(ny(2026, 6, 9, 7, 30))

    held = row(early_session, "t24_sms")
    assert held.due_at == ny(2026, 6, 9, 9, 0)
    assert held.reason == "Held for the practice's and the client's quiet hours, until 9:00 AM EDT."


def test_a_text_the_night_outlasts_goes_by_email_naming_the_practice_rule(early_session):
    sweep_at(ny(2026, 6, 9, 8, 0))  # the day-before text, in daylight
    mail.outbox.clear()

    sweep_at(ny(2026, 6, 10, 5, 30))  # the 2-hour prompt: the night ends after the 7:30 start

    prompt = row(early_session, "t2h_tech_check")
    assert prompt.state == OutboxState.ACCEPTED
    assert prompt.channel == "email"
    assert prompt.reason.startswith("Sent by e-mail: the practice's quiet hours (9:00 PM-8:00 AM)")
    assert len(mail.outbox) == 1


def test_the_urgent_join_text_goes_in_the_practices_quiet_hours(early_session):
    sweep_at(ny(2026, 6, 10, 7, 15))

    assert row(early_session, "t15_sms").state == OutboxState.ACCEPTED
    assert "starts in 15 minutes" in locmem.outbox[-1].body


def test_a_practice_without_quiet_hours_texts_at_any_time(early_session, practice):
    Sequence.objects.filter(practice=practice).update(quiet_start=None, quiet_end=None)

    sweep_at(ny(2026, 6, 9, 7, 30))

    assert row(early_session, "t24_sms").state == OutboxState.ACCEPTED


def test_e_mail_steps_are_not_held(
    practice, clinician, consenting_ann, service_type, django_capture_on_commit_callbacks
):
    with (
        time_machine.travel(ny(2026, 6, 1, 23, 0), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        appointment = appointment_book(
            practice=practice,
            clinician=clinician,
            clients=[consenting_ann],
            starts_at=ny(2026, 6, 10, 10, 0),
            service_type=service_type,
        )
    sweep_at(ny(2026, 6, 1, 23, 0))
    assert row(appointment, "confirmation").state == OutboxState.ACCEPTED


# --- Editing in the operator console -----------------------------------------------------------------


def _admin(signed_in, manager):
    manager.is_staff = manager.is_superuser = True
    manager.save()
    return signed_in(manager)


def _settings_post(http, sequence, **fields):
    page = http.get(f"/admin/messaging/sequence/{sequence.pk}/change/")
    formset = page.context["inline_admin_formsets"][0].formset
    from tests.messaging.test_sequence_admin import _form_data, _main_form_data

    data = {**_main_form_data(page.context["adminform"].form), **_form_data(formset), **fields}
    return http.post(f"/admin/messaging/sequence/{sequence.pk}/change/", data)


def test_the_default_is_nine_at_night_to_eight_in_the_morning(practice):
    sequence = sequence_for(practice)
    assert (sequence.quiet_start, sequence.quiet_end) == (time(21, 0), time(8, 0))


def test_managers_change_practice_quiet_hours_in_the_console_and_it_is_audited(signed_in, manager, practice):
    http = _admin(signed_in, manager)
    sequence = sequence_for(practice)

    response = _settings_post(http, sequence, quiet_start="22:00", quiet_end="07:00")

    assert response.status_code == 302
    sequence.refresh_from_db()
    assert (sequence.quiet_start, sequence.quiet_end) == (time(22, 0), time(7, 0))
    entry = LogEntry.objects.get_for_object(sequence).latest("timestamp")
    assert entry.actor == manager
    assert "quiet_start" in entry.changes_dict


def test_half_a_quiet_window_is_refused_next_to_its_field(signed_in, manager, practice):
    http = _admin(signed_in, manager)
    sequence = sequence_for(practice)

    response = _settings_post(http, sequence, quiet_start="22:00", quiet_end="")

    assert response.status_code == 200
    assert "Give both a start and an end" in response.content.decode()
    sequence.refresh_from_db()
    assert sequence.quiet_start == time(21, 0)

"""Clinician overrides (SPEC F14): a client-facing step switched off for a client or one session,
precedence appointment > client > practice, applied at send time, shown on the timeline,
audit-logged, and changed only by those allowed to."""

import pytest
import time_machine
from auditlog.models import LogEntry
from django.core.exceptions import ValidationError

from messaging import dispatch
from messaging.backends import locmem
from messaging.models import ClientPreferences, OutboxMessage, OutboxState, StepOverride
from messaging.overrides import OFF, ON, step_override_set
from messaging.services import sequence_for
from scheduling.services import appointment_book
from tests.messaging.conftest import ny

pytestmark = pytest.mark.django_db

NOW = ny(2026, 6, 1, 9, 0)


def book(practice, clinician, clients, starts_at, service_type, capture):
    with time_machine.travel(NOW, tick=False), capture(execute=True):
        return appointment_book(
            practice=practice,
            clinician=clinician,
            clients=clients,
            starts_at=starts_at,
            service_type=service_type,
        )


@pytest.fixture
def session(practice, clinician, consenting_ann, service_type, django_capture_on_commit_callbacks):
    return book(
        practice,
        clinician,
        [consenting_ann],
        ny(2026, 6, 10, 10, 0),
        service_type,
        django_capture_on_commit_callbacks,
    )


@pytest.fixture
def next_session(practice, clinician, consenting_ann, service_type, django_capture_on_commit_callbacks):
    return book(
        practice,
        clinician,
        [consenting_ann],
        ny(2026, 6, 17, 10, 0),
        service_type,
        django_capture_on_commit_callbacks,
    )


def step(practice, key):
    return sequence_for(practice).steps.get(key=key)


def switch(practice, clinician, client, key, state, by, appointment=None):
    return step_override_set(
        step=step(practice, key),
        client=client,
        clinician=clinician,
        appointment=appointment,
        state=state,
        by=by,
        now=NOW,
    )


def sweep_at(moment):
    with time_machine.travel(moment, tick=False):
        return dispatch.dispatch_due()


def row(appointment, kind):
    return OutboxMessage.objects.get(appointment=appointment, kind=kind)


# --- Applied at send time ----------------------------------------------------------------------


def test_a_client_level_override_skips_the_step_in_every_session_with_that_clinician(
    practice, clinician, clinician_user, consenting_ann, session, next_session
):
    switch(practice, clinician, consenting_ann, "t15_sms", OFF, clinician_user)

    sweep_at(ny(2026, 6, 10, 9, 45))
    sweep_at(ny(2026, 6, 17, 9, 45))

    for appointment in (session, next_session):
        skipped = row(appointment, "t15_sms")
        assert skipped.state == OutboxState.SKIPPED
        assert skipped.reason == "Switched off by Dr. Smith for this client."
    assert not any("15 minutes" in sms.body for sms in locmem.outbox)


def test_an_appointment_override_only_touches_that_session(
    practice, clinician, clinician_user, consenting_ann, session, next_session
):
    switch(practice, clinician, consenting_ann, "t15_sms", OFF, clinician_user, appointment=session)

    sweep_at(ny(2026, 6, 10, 9, 45))
    sweep_at(ny(2026, 6, 17, 9, 45))

    assert row(session, "t15_sms").reason == "Switched off by Dr. Smith for this session."
    assert row(next_session, "t15_sms").state == OutboxState.ACCEPTED


def test_an_appointment_override_can_switch_back_on_what_the_client_level_one_switched_off(
    practice, clinician, clinician_user, consenting_ann, session, next_session
):
    switch(practice, clinician, consenting_ann, "t15_sms", OFF, clinician_user)
    switch(practice, clinician, consenting_ann, "t15_sms", ON, clinician_user, appointment=session)

    sweep_at(ny(2026, 6, 10, 9, 45))
    sweep_at(ny(2026, 6, 17, 9, 45))

    assert row(session, "t15_sms").state == OutboxState.ACCEPTED
    assert row(next_session, "t15_sms").state == OutboxState.SKIPPED


def test_switching_on_never_overrides_what_the_client_refused(
    practice, clinician, clinician_user, consenting_ann, session
):
    ClientPreferences.objects.create(practice=practice, client=consenting_ann, opted_out_steps=["t24_sms"])
    switch(practice, clinician, consenting_ann, "t24_sms", ON, clinician_user, appointment=session)

    sweep_at(ny(2026, 6, 9, 10, 0))

    assert "switched this reminder off on their preference page" in row(session, "t24_sms").reason


def test_another_clinicians_override_does_not_touch_this_clinicians_sessions(
    practice, clinician, other_clinician, consenting_ann, session, manager
):
    switch(practice, other_clinician, consenting_ann, "t15_sms", OFF, manager)

    sweep_at(ny(2026, 6, 10, 9, 45))

    assert row(session, "t15_sms").state == OutboxState.ACCEPTED


def test_staff_setting_it_for_a_clinician_are_named(practice, clinician, front_desk, consenting_ann, session):
    switch(practice, clinician, consenting_ann, "t2h_tech_check", OFF, front_desk)

    sweep_at(ny(2026, 6, 10, 8, 0))

    assert row(session, "t2h_tech_check").reason == "Switched off by Frank Desk for this client."


def test_a_sweep_reads_the_overrides_of_a_whole_batch_in_one_query(
    practice, clinician, clinician_user, consenting_ann, session, next_session, django_assert_max_num_queries
):
    from messaging.overrides import OverrideLookup

    switch(practice, clinician, consenting_ann, "t15_sms", OFF, clinician_user)
    rows = list(OutboxMessage.objects.select_related("appointment", "participant"))
    with django_assert_max_num_queries(1):
        lookup = OverrideLookup.for_messages(rows)
        off = [r.kind for r in rows if lookup.switched_off(r)]
    assert off == ["t15_sms", "t15_sms"]


# --- The service's rules ---------------------------------------------------------------------------


def test_client_level_overrides_can_only_switch_off(practice, clinician, clinician_user, consenting_ann):
    with pytest.raises(ValidationError):
        switch(practice, clinician, consenting_ann, "t15_sms", ON, clinician_user)


def test_clinician_facing_steps_cannot_be_switched(practice, clinician, clinician_user, consenting_ann):
    with pytest.raises(ValidationError):
        switch(practice, clinician, consenting_ann, "note_reminder", OFF, clinician_user)


def test_a_session_override_needs_the_client_in_that_session(
    practice, clinician, clinician_user, client_bob, session
):
    with pytest.raises(ValidationError):
        switch(practice, clinician, client_bob, "t15_sms", OFF, clinician_user, appointment=session)


def test_back_to_default_removes_the_override_and_every_change_is_audited(
    practice, clinician, clinician_user, consenting_ann
):
    override = switch(practice, clinician, consenting_ann, "t15_sms", OFF, clinician_user)
    pk = override.pk

    assert switch(practice, clinician, consenting_ann, "t15_sms", None, clinician_user) is None

    assert not StepOverride.objects.exists()
    actions = list(
        LogEntry.objects.filter(content_type__model="stepoverride", object_pk=str(pk)).values_list(
            "action", flat=True
        )
    )
    assert sorted(actions) == [LogEntry.Action.CREATE, LogEntry.Action.DELETE]


# --- The timeline --------------------------------------------------------------------------------


def test_the_session_page_shows_an_override_before_and_after_the_message_is_due(
    practice, clinician, clinician_user, consenting_ann, session, signed_in
):
    switch(practice, clinician, consenting_ann, "t15_sms", OFF, clinician_user, appointment=session)
    http = signed_in(clinician_user)

    before = http.get(f"/appointments/{session.pk}/").content.decode()
    assert "Switched off by Dr. Smith for this session. It will not be sent." in before
    assert f"/appointments/{session.pk}/reminders/" in before

    sweep_at(ny(2026, 6, 10, 9, 45))
    after = http.get(f"/appointments/{session.pk}/").content.decode()
    assert "Switched off by Dr. Smith for this session." in after
    assert "It will not be sent." not in after


# --- The pages --------------------------------------------------------------------------------------


def test_a_clinician_switches_a_step_off_for_one_session(
    practice, clinician_user, consenting_ann, session, signed_in
):
    http = signed_in(clinician_user)
    url = f"/appointments/{session.pk}/reminders/"
    page = http.get(url)
    assert page.status_code == 200
    participant = session.participants.get()
    t15 = step(practice, "t15_sms")
    field = f"p{participant.pk}-s{t15.pk}"
    assert f'for="id_{field}"' in page.content.decode()  # every select has its label

    data = {name: "default" for name in page.context["form"].fields}
    data[field] = "off"
    response = http.post(url, data)

    assert response.status_code == 302
    override = StepOverride.objects.get()
    assert (override.appointment_id, override.step_id, override.enabled) == (session.pk, t15.pk, False)
    assert LogEntry.objects.get_for_object(override).get().actor == clinician_user


def test_a_clinician_switches_a_step_off_for_a_client(
    practice, clinician, clinician_user, consenting_ann, session, signed_in
):
    http = signed_in(clinician_user)
    url = f"/clients/{consenting_ann.pk}/reminders/"
    page = http.get(url)
    assert page.status_code == 200
    t24 = step(practice, "t24_sms")
    data = {name: "default" for name in page.context["form"].fields}
    data[f"s{t24.pk}"] = "off"

    assert http.post(url, data).status_code == 302

    override = StepOverride.objects.get()
    assert (override.clinician, override.client, override.appointment) == (clinician, consenting_ann, None)
    assert "Off (switched off by Dr. Smith)" in http.get(url).content.decode()


def test_front_desk_sets_overrides_for_any_clinicians_sessions(
    practice,
    other_clinician,
    consenting_ann,
    service_type,
    front_desk,
    signed_in,
    django_capture_on_commit_callbacks,
):
    theirs = book(
        practice,
        other_clinician,
        [consenting_ann],
        ny(2026, 6, 11, 10, 0),
        service_type,
        django_capture_on_commit_callbacks,
    )
    http = signed_in(front_desk)
    assert http.get(f"/appointments/{theirs.pk}/reminders/").status_code == 200
    page = http.get(f"/clients/{consenting_ann.pk}/reminders/?clinician={other_clinician.pk}")
    assert page.status_code == 200
    assert page.context["clinician"] == other_clinician


def test_a_clinician_cannot_open_another_clinicians_session_or_client(
    practice,
    other_clinician,
    client_bob,
    service_type,
    clinician,
    clinician_user,
    signed_in,
    django_capture_on_commit_callbacks,
):
    theirs = book(
        practice,
        other_clinician,
        [client_bob],
        ny(2026, 6, 11, 10, 0),
        service_type,
        django_capture_on_commit_callbacks,
    )
    http = signed_in(clinician_user)

    assert http.get(f"/appointments/{theirs.pk}/reminders/").status_code == 404
    assert http.get(f"/clients/{client_bob.pk}/reminders/").status_code == 404
    assert http.post(f"/appointments/{theirs.pk}/reminders/", {}).status_code == 404
    assert not StepOverride.objects.exists()


def test_a_clinician_cannot_act_for_another_clinician_on_a_shared_client(
    practice, other_clinician, consenting_ann, clinician_user, session, signed_in
):
    http = signed_in(clinician_user)
    assert (
        http.get(f"/clients/{consenting_ann.pk}/reminders/?clinician={other_clinician.pk}").status_code == 404
    )


def test_billers_have_no_access(biller, consenting_ann, session, signed_in):
    http = signed_in(biller)
    assert http.get(f"/appointments/{session.pk}/reminders/").status_code == 403
    assert http.get(f"/clients/{consenting_ann.pk}/reminders/").status_code == 403


def test_another_practices_manager_gets_404(other_manager, consenting_ann, session, signed_in):
    http = signed_in(other_manager)
    assert http.get(f"/appointments/{session.pk}/reminders/").status_code == 404
    assert http.get(f"/clients/{consenting_ann.pk}/reminders/").status_code == 404


def test_a_forged_choice_is_a_field_error_not_a_500(practice, clinician_user, session, signed_in):
    http = signed_in(clinician_user)
    url = f"/appointments/{session.pk}/reminders/"
    data = {name: "sometimes" for name in http.get(url).context["form"].fields}

    response = http.post(url, data)

    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not StepOverride.objects.exists()


def test_the_client_page_links_to_reminder_settings(consenting_ann, session, manager, signed_in):
    page = signed_in(manager).get(f"/clients/{consenting_ann.pk}/")
    assert f"/clients/{consenting_ann.pk}/reminders/" in page.content.decode()

"""The board's and queue's links are reversed once per page and filled in per row: each must be
the URL ``reverse`` gives for that row."""

import pytest
from django.urls import reverse

from scheduling.models import Appointment
from staff.board import LinkPattern, session_rows, sessions_between
from tests.staff.board_helpers import ny, session


@pytest.mark.parametrize("ids", [(1, 2), (12, 345), (900, 9), (2**40, 7)])
def test_a_filled_pattern_is_the_reversed_url(ids):
    assert LinkPattern("appointment_check_in", arity=2).fill(*ids) == reverse(
        "appointment_check_in", args=ids
    )


def test_a_pattern_takes_as_many_ids_as_it_was_made_for():
    with pytest.raises(ValueError):
        LinkPattern("appointment_detail").fill(1, 2)


@pytest.mark.django_db
def test_every_row_link_is_its_own_reversed_url(practice, clinician, service_type, client_ann, client_bob):
    appointment = session(
        practice=practice,
        clinician=clinician,
        service_type=service_type,
        clients=[client_ann, client_bob],
        starts_at=ny(2026, 6, 10, 9, 0),
    )
    start, end = ny(2026, 6, 10, 0, 0), ny(2026, 6, 11, 0, 0)
    (row,) = session_rows(sessions_between(Appointment.objects.all(), start, end), now=start)
    pk = appointment.pk
    assert (row.links.detail, row.links.host_join, row.links.reschedule, row.links.cancel) == (
        reverse("appointment_detail", args=[pk]),
        reverse("host_join", args=[pk]),
        reverse("appointment_reschedule", args=[pk]),
        reverse("appointment_cancel", args=[pk]),
    )
    for participant_row in row.participants:
        participant = participant_row.participant
        assert (
            participant_row.links.client,
            participant_row.links.check_in,
            participant_row.links.resend_link,
            participant_row.links.mark_attendance,
        ) == (
            reverse("client_detail", args=[participant.client_id]),
            reverse("appointment_check_in", args=[pk, participant.pk]),
            reverse("participant_resend_link", args=[participant.pk]),
            reverse("participant_mark_attendance", args=[participant.pk]),
        )

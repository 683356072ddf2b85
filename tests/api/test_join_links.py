"""Appointment answers carry each participant's one-tap join and tech-check links and the
clinician's host link (issue 15: an EHR sending its own reminders needs them)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from practice.models import Modality
from scheduling.services import appointment_book
from telehealth.models import JoinLink
from tests.api.conftest import API

pytestmark = pytest.mark.django_db


def _book(practice, clinician, clients, service_type, starts_at, modality=Modality.TELEHEALTH):
    return appointment_book(
        practice=practice,
        clinician=clinician,
        clients=clients,
        service_type=service_type,
        starts_at=starts_at,
        modality=modality,
    )


def test_a_telehealth_session_shows_working_links_as_soon_as_it_is_booked(
    api,
    client,
    practice,
    clinician,
    client_ann,
    service_type,
    tomorrow_10am,
    settings,
    django_capture_on_commit_callbacks,
):
    settings.SITE_URL = "https://attend.example.org"
    with django_capture_on_commit_callbacks(execute=True):
        appointment = _book(practice, clinician, [client_ann], service_type, tomorrow_10am)
    body = api.get(f"{API}/appointments/{appointment.pk}/").json()
    participant = body["participants"][0]
    token = JoinLink.objects.get(participant__appointment=appointment).token
    assert participant["join_url"] == f"https://attend.example.org/j/{token}"
    assert participant["tech_check_url"] == f"https://attend.example.org/t/{token}"
    assert body["host_url"] == f"https://attend.example.org/appointments/{appointment.pk}/host/"
    # The link works: the join page knows it (too early, so it explains instead of redirecting).
    assert client.get(f"/j/{token}").status_code in (200, 302)


def test_an_in_person_session_has_no_video_links(
    api, practice, clinician, client_ann, service_type, tomorrow_10am, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        appointment = _book(
            practice, clinician, [client_ann], service_type, tomorrow_10am, Modality.IN_PERSON
        )
    body = api.get(f"{API}/appointments/{appointment.pk}/").json()
    assert body["host_url"] is None
    assert body["participants"][0]["join_url"] is None


def test_the_list_reads_the_links_in_a_fixed_number_of_queries(
    api,
    practice,
    clinician,
    client_ann,
    client_bob,
    service_type,
    tomorrow_10am,
    django_capture_on_commit_callbacks,
):
    from datetime import timedelta

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert api.get(f"{API}/appointments/").status_code == 200
        return len(queries)

    with django_capture_on_commit_callbacks(execute=True):
        _book(practice, clinician, [client_ann], service_type, tomorrow_10am)
    one = count()
    with django_capture_on_commit_callbacks(execute=True):
        for day in range(1, 6):
            _book(practice, clinician, [client_bob], service_type, tomorrow_10am + timedelta(days=day))
    assert count() == one

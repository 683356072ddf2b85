"""The audit log viewer: this practice's entries only, reads included, filters, sentences, the
practice's time zone, pagination."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from auditlog.models import LogEntry
from django.urls import reverse

from practice.audit import acting_as
from practice.services import client_update
from staff.audit_views import audited_models, practice_path

pytestmark = pytest.mark.django_db


def test_every_audited_model_is_traced_to_a_practice():
    from practice.models import Client, Practice
    from scheduling.models import AppointmentParticipant

    paths = dict(audited_models())
    assert paths[Practice] == "pk" and paths[Client] == "practice"
    assert practice_path(AppointmentParticipant) == "appointment__practice"


def test_the_log_shows_changes_and_reads_of_this_practice_only(
    signed_in, manager, front_desk, client_ann, other_client, other_manager
):
    with acting_as(front_desk):
        client_update(client=client_ann, fields={"preferred_name": "Annie"}, sms_consent=False)
    with acting_as(other_manager):
        client_update(client=other_client, fields={"preferred_name": "Zee"}, sms_consent=False)
    http = signed_in(manager)
    http.get(reverse("client_detail", args=[client_ann.pk]))  # an access entry

    page = http.get(reverse("audit_log"))
    assert page.status_code == 200
    text = page.content.decode()
    assert "Frank Desk</strong> changed the client “Ann Avery”: preferred name from nothing to Annie" in text
    assert "Maria Manager</strong> viewed the client “Ann Avery”" in text
    assert "Zimmer" not in text and "Zee" not in text


def test_filters_by_actor_kind_and_dates_in_the_practice_zone(signed_in, manager, front_desk, client_ann):
    with acting_as(front_desk):
        client_update(client=client_ann, fields={"preferred_name": "Annie"}, sms_consent=False)
    entry = LogEntry.objects.get_for_object(client_ann).latest("timestamp")
    # 23:30 in New York on Jan 5 is Jan 6 in UTC: the date filter follows the practice's clock.
    LogEntry.objects.filter(pk=entry.pk).update(timestamp=datetime(2027, 1, 6, 4, 30, tzinfo=ZoneInfo("UTC")))
    http = signed_in(manager)
    on_the_5th = http.get(reverse("audit_log"), {"date_from": "2027-01-05", "date_to": "2027-01-05"})
    assert [row["entry"].pk for row in on_the_5th.context["rows"]] == [entry.pk]
    assert "Jan 5, 2027 11:30 PM" in on_the_5th.content.decode()
    assert not http.get(reverse("audit_log"), {"date_from": "2027-01-06"}).context["rows"]
    by_manager = http.get(reverse("audit_log"), {"actor": manager.pk, "date_from": "2027-01-01"})
    assert not by_manager.context["rows"]
    by_desk = http.get(reverse("audit_log"), {"actor": front_desk.pk})
    assert entry.pk in [row["entry"].pk for row in by_desk.context["rows"]]
    from django.contrib.contenttypes.models import ContentType

    from practice.models import Practice

    kind = ContentType.objects.get_for_model(Practice).pk
    assert entry.pk not in [
        row["entry"].pk for row in http.get(reverse("audit_log"), {"kind": kind}).context["rows"]
    ]


def test_bad_filters_are_field_errors_not_500(signed_in, manager, other_manager):
    http = signed_in(manager)
    for query in (
        {"actor": other_manager.pk},
        {"actor": "x"},
        {"kind": "99999"},
        {"date_from": "2027-13-45"},
        {"date_from": "2027-02-02", "date_to": "2027-01-01"},
        {"page": "\x00"},
    ):
        response = http.get(reverse("audit_log"), query)
        assert response.status_code in (200, 400), query


def test_the_log_is_paginated(signed_in, manager, client_ann):
    for n in range(55):
        client_update(client=client_ann, fields={"preferred_name": f"A{n}"}, sms_consent=False)
    http = signed_in(manager)
    first = http.get(reverse("audit_log"))
    assert len(first.context["rows"]) == 50 and first.context["page"].has_next()
    second = http.get(reverse("audit_log"), {"page": 2})
    assert second.context["rows"]


def test_a_cancellation_reads_as_a_sentence(
    signed_in, manager, front_desk, practice, clinician, client_ann, tomorrow_10am, service_type
):
    from scheduling.services import appointment_book, appointment_cancel

    session = appointment_book(
        practice=practice,
        clinician=clinician,
        clients=[client_ann],
        starts_at=tomorrow_10am,
        service_type=service_type,
    )
    with acting_as(front_desk):
        appointment_cancel(appointment=session)
    text = signed_in(manager).get(reverse("audit_log")).content.decode()
    assert "Frank Desk</strong> changed the session" in text
    assert "status from scheduled to cancelled" in text


def test_a_second_factor_reset_and_a_deactivation_read_as_sentences(signed_in, manager, front_desk):
    from practice.models import Membership
    from practice.services import membership_deactivate, two_factor_reset

    me = Membership.objects.get(user=manager)
    desk = Membership.objects.get(user=front_desk)
    two_factor_reset(membership=desk, by=me)
    with acting_as(manager):
        membership_deactivate(membership=desk, by=me)
    text = signed_in(manager).get(reverse("audit_log")).content.decode()
    assert "Maria Manager</strong> changed the team membership" in text
    assert "second factor from enrolled to reset" in text
    assert "is active from yes to no" in text


def test_a_deleted_row_s_deletion_stays_in_its_practice_s_log(signed_in, manager, other_manager, clinician):
    from datetime import timedelta

    from django.utils import timezone

    from scheduling.setup_services import time_off_add, time_off_remove

    frozen_now = timezone.now()
    with acting_as(manager):
        row = time_off_add(
            clinician=clinician,
            starts_at=frozen_now + timedelta(days=3),
            ends_at=frozen_now + timedelta(days=4),
        )
        time_off_remove(row=type(row).objects.get(pk=row.pk))  # as the page loads it: nothing cached
    deletion = LogEntry.objects.get(action=LogEntry.Action.DELETE)
    assert deletion.additional_data == {"practice_id": clinician.practice_id}

    rows = signed_in(manager).get(reverse("audit_log")).context["rows"]
    assert deletion.pk in [row["entry"].pk for row in rows]
    assert deletion.pk not in [
        row["entry"].pk for row in signed_in(other_manager).get(reverse("audit_log")).context["rows"]
    ]

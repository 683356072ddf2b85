"""Per-token throttling (429 with Retry-After), the token as the audit actor, and the purge of
old Idempotency-Key records."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import time_machine
from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType

from practice.models import Client
from scheduling.api.idempotency import idempotency_records_purge
from scheduling.models import IdempotencyRecord
from scheduling.tasks import purge_idempotency_records
from tests.api.conftest import API, assert_error_shape

UTC = ZoneInfo("UTC")


def test_a_token_over_its_rate_gets_429_with_retry_after(api, other_api, settings):
    settings.API_THROTTLE_RATE = "3/minute"
    with time_machine.travel(datetime(2026, 5, 1, 12, 0, tzinfo=UTC), tick=False):
        answers = [api.get(f"{API}/clients/").status_code for _ in range(3)]
        throttled = api.get(f"{API}/clients/")
        other = other_api.get(f"{API}/clients/")  # another token has its own budget

    assert answers == [200, 200, 200]
    body = assert_error_shape(throttled, 429)
    assert body["errors"]["non_field_errors"] == [body["detail"]]
    assert 0 < int(throttled.headers["Retry-After"]) <= 60
    assert other.status_code == 200

    with time_machine.travel(datetime(2026, 5, 1, 12, 1, 1, tzinfo=UTC), tick=False):
        assert api.get(f"{API}/clients/").status_code == 200


def test_requests_without_a_token_are_401_not_throttled(client, settings):
    settings.API_THROTTLE_RATE = "1/minute"

    statuses = {client.get(f"{API}/clients/").status_code for _ in range(3)}

    assert statuses == {401}


def test_audit_entries_of_api_writes_name_the_token(api, practice):
    response = api.post(f"{API}/clients/", {"first_name": "Ann", "last_name": "Avery"}, format="json")
    api.patch(f"{API}/clients/{response.json()['id']}/", {"preferred_name": "A"}, format="json")

    entries = LogEntry.objects.filter(content_type=ContentType.objects.get_for_model(Client))
    assert entries.count() == 2
    for entry in entries:
        assert entry.actor is None
        assert entry.actor_email.startswith('API token "EHR sync" (att_')
        assert entry.additional_data["api_token"] == "EHR sync"


def test_an_unchanged_ehr_push_writes_no_audit_entry(api):
    body = {"external_id": "C-1", "first_name": "Ann", "last_name": "Avery"}
    api.post(f"{API}/ehr/simplepractice/clients/", body, format="json")
    before = LogEntry.objects.count()

    api.post(f"{API}/ehr/simplepractice/clients/", body, format="json")

    assert LogEntry.objects.count() == before


def test_idempotency_records_older_than_a_day_are_purged(api, settings):
    settings.IDEMPOTENCY_KEY_HOURS = 24
    start = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        api.post(
            f"{API}/clients/",
            {"first_name": "A", "last_name": "B"},
            format="json",
            HTTP_IDEMPOTENCY_KEY="old",
        )
    with time_machine.travel(start + timedelta(hours=20), tick=False):
        api.post(
            f"{API}/clients/",
            {"first_name": "C", "last_name": "D"},
            format="json",
            HTTP_IDEMPOTENCY_KEY="new",
        )

    with time_machine.travel(start + timedelta(hours=25), tick=False):
        assert purge_idempotency_records() == 1
        assert idempotency_records_purge() == 0

    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]

"""The outbox keeps an index for every lookup after messaging 0011 trimmed them (issue #8, B2).

The provider id and fallback indexes are partial (only rows that have one), and the appointment
has no index of its own (the unique key leads with it): status callbacks must still find their
row, and on PostgreSQL through an index."""

import pytest
import time_machine
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from messaging.models import OutboxMessage, OutboxState
from messaging.services import message_record_status
from scheduling.services import appointment_book
from tests.messaging.conftest import ny

pytestmark = pytest.mark.django_db

OUTBOX = OutboxMessage._meta.db_table
on_postgresql = pytest.mark.skipif(connection.vendor != "postgresql", reason="EXPLAIN of PostgreSQL")


@pytest.fixture
def session(practice, clinician, consenting_ann, service_type, django_capture_on_commit_callbacks):
    with (
        time_machine.travel(ny(2026, 6, 1, 9, 0), tick=False),
        django_capture_on_commit_callbacks(execute=True),  # the booking plans its messages on commit
    ):
        return appointment_book(
            practice=practice,
            clinician=clinician,
            clients=[consenting_ann],
            starts_at=ny(2026, 6, 10, 10, 0),
            service_type=service_type,
        )


def sent_text(session, sid: str) -> OutboxMessage:
    """The session's T-24 text as the dispatcher leaves it after the provider accepted it."""
    OutboxMessage.objects.filter(appointment=session, kind="t24_sms").update(
        state=OutboxState.ACCEPTED, provider_message_id=sid
    )
    return OutboxMessage.objects.get(appointment=session, kind="t24_sms")


def test_a_status_callback_finds_its_row_among_rows_without_a_provider_id(session):
    text = sent_text(session, "SM0123456789")
    assert OutboxMessage.objects.filter(appointment=session, provider_message_id="").count() > 1

    message_record_status(provider_message_id="SM0123456789", status="delivered")

    text.refresh_from_db()
    assert text.state == OutboxState.DELIVERED
    unchanged = OutboxMessage.objects.filter(appointment=session).exclude(pk=text.pk)
    assert set(unchanged.values_list("state", flat=True)) == {OutboxState.PLANNED}


def test_a_callback_with_an_empty_provider_id_matches_nothing(session):
    message_record_status(provider_message_id="", status="delivered")

    assert not OutboxMessage.objects.filter(appointment=session, state=OutboxState.DELIVERED).exists()


def index_used(sql: str, params) -> str:
    """The plan of ``sql`` with sequential scans priced out: it names an index only if one can
    answer the query (its partial condition is implied by the WHERE clause)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan TO off")
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


@on_postgresql
def test_the_status_callback_lookup_uses_the_partial_provider_id_index(session):
    sent_text(session, "SM0123456789")
    with CaptureQueriesContext(connection) as queries:
        message_record_status(provider_message_id="SM0123456789", status="delivered")
    [lookup] = [q["sql"] for q in queries if q["sql"].startswith("SELECT") and f'FROM "{OUTBOX}"' in q["sql"]]

    assert "outbox_provider_id_set" in index_used(lookup, None)


@on_postgresql
def test_fallback_and_appointment_lookups_still_have_an_index(session):
    by_fallback = OutboxMessage.objects.filter(fallback_of_id=1).query.sql_with_params()
    by_appointment = OutboxMessage.objects.filter(appointment=session).query.sql_with_params()

    assert "outbox_fallback_of_set" in index_used(*by_fallback)
    assert "outbox_once_per_recipient_and_kind" in index_used(*by_appointment)

"""Handing a task to django-q2 (practice.queue.enqueue) with the real ORM broker."""

import pytest
from django.db import connection
from django_q.models import OrmQ

from practice.queue import enqueue


@pytest.mark.django_db(transaction=True)
def test_enqueueing_outside_a_transaction_keeps_the_callers_connection(settings):
    """django-q2's ORM broker closes "old" connections before enqueueing outside a transaction;
    with CONN_MAX_AGE 0 that was the caller's own, reopened by its next statement (B3 found one
    reconnect per reschedule or cancel: the meeting task is enqueued after commit)."""
    settings.TASKS_EAGER = False
    connection.ensure_connection()
    assert connection.get_autocommit()
    assert connection.settings_dict["CONN_MAX_AGE"] == 0
    before = connection.connection

    enqueue("telehealth.tasks.meetings_sweep")

    assert connection.connection is before
    assert OrmQ.objects.count() == 1

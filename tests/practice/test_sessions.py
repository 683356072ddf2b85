"""The session engine (practice.sessions): database sessions with the signed-in user in a column
of its own, so signing someone out everywhere needs no decoding; expired sessions are deleted
daily by the worker."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django_q.models import Schedule

from practice.models import BrowserSession
from practice.sessions import SessionStore, sessions_clear_expired, user_sessions_delete

pytestmark = pytest.mark.django_db


def test_a_sign_in_records_the_user_and_a_visitor_has_none(signed_in, manager):
    signed_in(manager).get(reverse("board"))
    visitor = SessionStore()
    visitor["book:1"] = {"step": "times"}
    visitor.save()

    assert BrowserSession.objects.get(user_id=manager.pk)
    assert BrowserSession.objects.get(session_key=visitor.session_key).user_id is None


def test_signing_out_everywhere_ends_only_that_persons_sessions(signed_in, manager, front_desk):
    desk_one, desk_two, boss = signed_in(front_desk), signed_in(front_desk), signed_in(manager)

    assert user_sessions_delete(front_desk.pk) == 2

    assert desk_one.get(reverse("board")).status_code == 302
    assert desk_two.get(reverse("board")).status_code == 302
    assert boss.get(reverse("board")).status_code == 200


def test_a_garbled_user_id_in_the_session_is_a_visitor():
    store = SessionStore()
    store["_auth_user_id"] = "\x00not a number"
    store.save()
    assert BrowserSession.objects.get(session_key=store.session_key).user_id is None


def test_expired_sessions_are_deleted_daily(manager):
    live, expired = SessionStore(), SessionStore()
    live.save()
    expired.set_expiry(1)
    expired.save()
    BrowserSession.objects.filter(session_key=expired.session_key).update(
        expire_date=timezone.now() - timedelta(minutes=1)
    )

    sessions_clear_expired()

    assert set(BrowserSession.objects.values_list("session_key", flat=True)) == {live.session_key}
    schedule = Schedule.objects.get(name="practice.clear_expired_sessions")
    assert (schedule.func, schedule.schedule_type) == (
        "practice.sessions.sessions_clear_expired",
        Schedule.DAILY,
    )

"""What every staff page pays (#14, B5): the session is written only when the last-activity stamp
moved by a minute (the idle sign-out stays within a minute of its limit, never later), the member
and practice are one query, and the navigation's counts are kept a few seconds per process
except on the queue page, which shows its own."""

from datetime import timedelta
from importlib import import_module

import pytest
import time_machine
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from messaging.models import DispatcherHeartbeat
from practice.middleware import ACTIVITY_STAMP_SECONDS, membership_of
from practice.models import Membership, Role
from scheduling.models import FollowUpKind
from scheduling.services import follow_up_raise, follow_up_resolve
from tests.conftest import make_practice
from tests.staff.board_helpers import ny, session

pytestmark = pytest.mark.django_db

START = ny(2026, 6, 10, 10, 0)


def _session_writes(http, url, **extra) -> int:
    table = import_module(settings.SESSION_ENGINE).SessionStore.get_model_class()._meta.db_table
    with CaptureQueriesContext(connection) as queries:
        assert http.get(url, **extra).status_code == 200
    return sum(1 for query in queries if query["sql"].startswith(f'UPDATE "{table}"'))


def test_a_page_view_writes_the_session_only_when_the_activity_stamp_moved_a_minute(signed_in, manager):
    http = signed_in(manager)
    url = reverse("appointment_list")
    begun = timezone.now()
    with time_machine.travel(begun, tick=False):
        assert _session_writes(http, url) == 1  # the first stamp
        assert _session_writes(http, url) == 0
    with time_machine.travel(begun + timedelta(seconds=ACTIVITY_STAMP_SECONDS - 1), tick=False):
        assert _session_writes(http, url) == 0
    with time_machine.travel(begun + timedelta(seconds=ACTIVITY_STAMP_SECONDS + 1), tick=False):
        assert _session_writes(http, url) == 1


def test_steady_activity_keeps_a_session_past_the_idle_limit(signed_in, manager, settings):
    """A view every 50 s for longer than the limit: the stamp still follows (a minute behind at
    most), so the member is never signed out while working."""
    http = signed_in(manager)
    url = reverse("appointment_list")
    begun = timezone.now()
    for step in range(0, settings.SESSION_IDLE_TIMEOUT_MINUTES * 60 * 2, 50):
        with time_machine.travel(begun + timedelta(seconds=step), tick=False):
            assert http.get(url).status_code == 200, step


def test_the_idle_sign_out_comes_at_most_a_minute_early_never_late(signed_in, manager, settings):
    limit = timedelta(minutes=settings.SESSION_IDLE_TIMEOUT_MINUTES)
    url = reverse("appointment_list")
    begun = timezone.now()
    # Last stamped at `begun`; a view 59 s later is not stamped; idle from then on.
    http = signed_in(manager)
    with time_machine.travel(begun, tick=False):
        http.get(url)
    with time_machine.travel(begun + timedelta(seconds=59), tick=False):
        http.get(url)
    with time_machine.travel(begun + limit - timedelta(seconds=1), tick=False):
        assert http.get(url).status_code == 200  # 14:01 after the last view: still in
    http = signed_in(manager)
    with time_machine.travel(begun, tick=False):
        http.get(url)
    with time_machine.travel(begun + limit + timedelta(seconds=1), tick=False):
        assert http.get(url).status_code == 302  # the limit after the last view: out


def test_the_member_and_practice_are_one_query_and_the_chosen_practice_comes_first(
    manager, practice, other_practice
):
    second = Membership.objects.create(practice=other_practice, user=manager, role=Role.FRONT_DESK)
    with CaptureQueriesContext(connection) as queries:
        assert membership_of(manager, other_practice.pk) == second
    assert len(queries) == 1
    assert membership_of(manager, None).practice == practice  # the first one
    second.is_active = False
    second.save(update_fields=["is_active"])
    assert membership_of(manager, other_practice.pk).practice == practice  # never a deactivated one
    third = make_practice("Third", "third")
    assert membership_of(manager, third.pk).practice == practice  # not a member there


@pytest.fixture
def item(practice, clinician, service_type, client_ann):
    appointment = session(
        practice=practice,
        clinician=clinician,
        service_type=service_type,
        clients=[client_ann],
        starts_at=START,
    )
    return follow_up_raise(
        appointment=appointment, participant=appointment.participants.get(), kind=FollowUpKind.LATE_ARRIVAL
    )


def test_the_queue_page_shows_its_own_count_in_the_navigation_at_once(signed_in, front_desk, item):
    http = signed_in(front_desk)
    with time_machine.travel(START - timedelta(hours=1), tick=False):
        assert http.get(reverse("appointment_list")).context["needs_attention_count"] == 1
        follow_up_resolve(item=item, by=front_desk, note="")
        page = http.get(reverse("follow_up_list"))
    assert page.context["total"] == 0
    assert page.context["needs_attention_count"] == 0  # not the count kept from the page before


def test_other_pages_show_a_new_count_within_the_memo_time(signed_in, front_desk, item, settings):
    http = signed_in(front_desk)
    with time_machine.travel(START - timedelta(hours=1), tick=False):
        assert http.get(reverse("appointment_list")).context["needs_attention_count"] == 1
        follow_up_resolve(item=item, by=front_desk, note="")
        settings.NAV_CACHE_SECONDS = 0  # as once the memo's seconds are up
        assert http.get(reverse("appointment_list")).context["needs_attention_count"] == 0


def test_the_count_is_read_once_per_memo_time_and_kept_per_practice_and_clinician(
    signed_in, front_desk, other_clinician, item
):
    desk, other = signed_in(front_desk), signed_in(other_clinician.user)
    url = reverse("appointment_list")
    DispatcherHeartbeat.objects.create(name="dispatcher", last_sweep_at=START - timedelta(hours=1, seconds=5))
    with time_machine.travel(START - timedelta(hours=1), tick=False):
        assert desk.get(url).context["needs_attention_count"] == 1
        assert other.get(url).context["needs_attention_count"] == 0  # not the front desk's count
        with CaptureQueriesContext(connection) as queries:
            assert desk.get(url).context["needs_attention_count"] == 1
    assert not any('"scheduling_followup"' in query["sql"] for query in queries)
    assert not any('"messaging_dispatcherheartbeat"' in query["sql"] for query in queries)  # a recent sweep


def test_a_stalled_dispatcher_is_read_again_on_every_page(signed_in, manager):
    http = signed_in(manager)
    url = reverse("appointment_list")
    assert "Reminders may be stalled" in http.get(url).content.decode()
    DispatcherHeartbeat.objects.create(name="dispatcher", last_sweep_at=timezone.now())
    assert "Reminders may be stalled" not in http.get(url).content.decode()

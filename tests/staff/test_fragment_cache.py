"""The kept HTML of session cards and queue items (staff.cards.FragmentCache, #14): a card is
rendered once per version and then read from memory, and the cache can never show what changed
since — a change to a session, the clock turning a client late, another page's options, another
member's CSRF token."""

import re
from datetime import timedelta

import pytest
import time_machine
from django.test import Client as HttpClient
from django.urls import reverse

from scheduling.models import FollowUpKind
from scheduling.services import follow_up_raise, participant_record_join
from staff import cards
from tests.staff.board_helpers import ny, session

pytestmark = pytest.mark.django_db

NOON = ny(2026, 6, 10, 12, 0)
TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


@pytest.fixture(autouse=True)
def empty_cache():
    cards.fragments.clear()


@pytest.fixture
def live(practice, clinician, service_type, client_ann):
    return session(
        practice=practice,
        clinician=clinician,
        service_type=service_type,
        clients=[client_ann],
        starts_at=NOON,
    )


def _rendered(monkeypatch) -> list[str]:
    names = []
    render = cards._render

    def counting(name, context, *, tz):
        names.append(name)
        return render(name, context, tz=tz)

    monkeypatch.setattr(cards, "_render", counting)
    return names


def test_a_card_is_rendered_once_per_version(signed_in, front_desk, live, monkeypatch):
    rendered = _rendered(monkeypatch)
    http = signed_in(front_desk)
    with time_machine.travel(NOON + timedelta(minutes=1), tick=False):
        first = http.get(reverse("board")).content.decode()
        second = http.get(reverse("board")).content.decode()
    assert rendered == [cards.CARD_TEMPLATE]  # the second view read it from memory
    assert TOKEN.sub("", first) == TOKEN.sub("", second)


def test_a_change_to_a_session_shows_on_the_next_view(signed_in, front_desk, live):
    http = signed_in(front_desk)
    with time_machine.travel(NOON + timedelta(minutes=1), tick=False):
        assert "Not joined yet" in http.get(reverse("board")).content.decode()
        participant_record_join(participant=live.participants.get())
        page = http.get(reverse("board")).content.decode()
    assert "Not joined yet" not in page and "Joined" in page


def test_the_clock_alone_turns_a_kept_card_late(signed_in, front_desk, live):
    http = signed_in(front_desk)
    with time_machine.travel(NOON + timedelta(minutes=1), tick=False):
        assert "Late: not joined" not in http.get(reverse("board")).content.decode()
    with time_machine.travel(NOON + timedelta(minutes=6), tick=False):
        assert "Late: not joined" in http.get(reverse("board")).content.decode()


def test_the_board_and_my_day_keep_their_own_card_of_the_same_session(
    signed_in, front_desk, clinician_user, clinician, live
):
    with time_machine.travel(NOON + timedelta(minutes=1), tick=False):
        board = signed_in(front_desk).get(reverse("board")).content.decode()
        my_day = signed_in(clinician_user).get(reverse("my_day")).content.decode()
    assert f'<span class="session-clinician">{clinician.display_name}</span>' in board
    assert "session-clinician" not in my_day  # not the board's card
    assert 'name="next" value="/me/day/"' in my_day and 'name="next" value="/me/day/"' not in board


def test_a_card_from_memory_carries_the_viewers_own_csrf_token(signed_in, front_desk, manager, live):
    """The kept HTML holds a marker, not a token: a form from it posts with the viewer's own."""
    with time_machine.travel(NOON + timedelta(minutes=1), tick=False):
        signed_in(manager).get(reverse("board"))  # renders and keeps the card
        http = signed_in(front_desk)
        strict = HttpClient(enforce_csrf_checks=True)
        strict.cookies = http.cookies
        page = strict.get(reverse("board")).content.decode()
        tokens = TOKEN.findall(page)
        assert tokens and cards.CSRF_MARKER not in page
        participant = live.participants.get()
        response = strict.post(
            reverse("participant_resend_link", args=[participant.pk]),
            {"csrfmiddlewaretoken": tokens[0], "next": "/board/"},
        )
    assert response.status_code == 302  # 403 with another member's token or the marker


def test_a_queue_item_changed_shows_its_change(signed_in, front_desk, live, monkeypatch):
    item = follow_up_raise(
        appointment=live, participant=live.participants.get(), kind=FollowUpKind.TECH_CHECK_FAILED
    )
    http = signed_in(front_desk)
    with time_machine.travel(NOON - timedelta(hours=1), tick=False):
        http.get(reverse("follow_up_list"))
        rendered = _rendered(monkeypatch)
        http.get(reverse("follow_up_list"))
        assert rendered == []  # from memory
        item.detail = "Problems: camera_blocked"
        item.save(update_fields=["detail"])
        page = http.get(reverse("follow_up_list")).content.decode()
    assert rendered == [cards.QUEUE_ITEM_TEMPLATE]
    assert "Camera blocked by the browser" in page


def test_the_cache_keeps_at_most_its_limit(settings):
    settings.FRAGMENT_CACHE_ENTRIES = 2
    for n in range(5):
        cards.fragments.put(bytes([n]), f"<p>{n}</p>")
    assert len(cards.fragments) == 2
    assert cards.fragments.get(bytes([4])) == "<p>4</p>" and cards.fragments.get(bytes([0])) is None


@pytest.mark.parametrize("query", [None, {}, "chosen", {"clinician": "999999"}, {"clinician": "x"}])
def test_the_boards_clinician_list_is_the_select_widgets_html(front_desk, clinician, other_clinician, query):
    from scheduling.forms import DayFilterForm
    from staff.board_views import clinician_select

    membership = front_desk.memberships.get()
    if query == "chosen":
        query = {"clinician": str(other_clinician.pk)}
    filters = DayFilterForm(query, membership=membership)
    assert clinician_select(filters) == str(filters["clinician"])

"""The board's live refresh sends only the cards that changed since the browser's last refresh
(#14): the browser names the versions it shows, unchanged cards come back as placeholders."""

import re
from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse

from scheduling.services import participant_record_join
from tests.staff.board_helpers import ny, session

pytestmark = pytest.mark.django_db

NOON = ny(2026, 6, 10, 12, 0)
CARD = re.compile(r'data-session="(\d+)" data-version="([0-9a-f]{16})"')


def on_screen(html: str) -> str:
    return " ".join(f"{pk}:{version}" for pk, version in CARD.findall(html))


def test_only_the_changed_card_is_sent_again(
    signed_in, front_desk, practice, clinician, service_type, client_ann, client_bob
):
    sessions = [
        session(
            practice=practice,
            clinician=clinician,
            service_type=service_type,
            clients=[client],
            starts_at=NOON + timedelta(hours=offset),
        )
        for offset, client in ((-0.05, client_ann), (2, client_bob))
    ]
    http = signed_in(front_desk)
    with time_machine.travel(NOON, tick=False):
        first = http.get(reverse("board_live")).content.decode()
        have = on_screen(first)
        assert len(have.split()) == 2

        unchanged = http.get(reverse("board_live"), HTTP_X_ATTEND_HAVE=have).content.decode()
        assert CARD.findall(unchanged) == []
        assert [int(pk) for pk in re.findall(r'data-keep="(\d+)"', unchanged)] == [s.pk for s in sessions]
        assert "Updated" in unchanged  # the totals always come

        participant_record_join(participant=sessions[0].participants.get())
        changed = http.get(reverse("board_live"), HTTP_X_ATTEND_HAVE=have).content.decode()
    assert [int(pk) for pk, _ in CARD.findall(changed)] == [sessions[0].pk]
    assert re.findall(r'data-keep="(\d+)"', changed) == [str(sessions[1].pk)]
    assert "Joined" in changed


def test_a_card_turns_late_with_the_clock_alone(
    signed_in, front_desk, practice, clinician, service_type, client_ann
):
    session(
        practice=practice,
        clinician=clinician,
        service_type=service_type,
        clients=[client_ann],
        starts_at=NOON,
    )
    http = signed_in(front_desk)
    with time_machine.travel(NOON + timedelta(minutes=1), tick=False):
        have = on_screen(http.get(reverse("board_live")).content.decode())
    with time_machine.travel(NOON + timedelta(minutes=6), tick=False):
        later = http.get(reverse("board_live"), HTTP_X_ATTEND_HAVE=have).content.decode()
    assert "Late: not joined" in later


def test_a_malformed_header_gets_the_whole_region(
    signed_in, front_desk, practice, clinician, service_type, client_ann
):
    session(
        practice=practice,
        clinician=clinician,
        service_type=service_type,
        clients=[client_ann],
        starts_at=NOON,
    )
    with time_machine.travel(NOON, tick=False):
        page = (
            signed_in(front_desk)
            .get(reverse("board_live"), HTTP_X_ATTEND_HAVE="1:zz x:y ;drop")
            .content.decode()
        )
    assert len(CARD.findall(page)) == 1

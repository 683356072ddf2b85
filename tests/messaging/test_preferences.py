"""The client's preference center (SPEC F13): opaque expiring links, channel choice recorded as
consent, quiet hours and per-step opt-outs, and the dispatcher's two questions about them."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import Client as HttpClient

from messaging.models import ClientPreferences, PreferenceLink
from messaging.preferences import (
    LINK_LIFETIME,
    client_preferences_update,
    in_quiet_hours,
    optional_steps_for,
    preference_link_client,
    preference_link_for,
    preference_links_prune,
    quiet_hours_end,
    step_opted_out,
)
from practice.consent import ConsentError
from practice.models import Client, ConsentAction, ConsentEvent, ConsentEventSource, PreferredChannel
from tests.messaging.conftest import ny

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 6, 1, 14, 0, tzinfo=UTC)


@pytest.fixture
def web(db) -> HttpClient:
    return HttpClient(enforce_csrf_checks=True)


@pytest.fixture
def ann_link(consenting_ann) -> str:
    with time_machine.travel(NOW, tick=False):
        return preference_link_for(consenting_ann, NOW)


def page(web, token: str, at: datetime = NOW):
    with time_machine.travel(at, tick=False):
        return web.get(f"/p/{token}")


def csrf_of(response) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', response.content.decode()).group(1)


def submit(web, token: str, data: dict, at: datetime = NOW):
    """Open the page, then post the form as a browser would (with its CSRF token)."""
    opened = page(web, token, at)
    form = {"channel": "texts", "quiet_start": "", "quiet_end": "", "csrfmiddlewaretoken": csrf_of(opened)}
    form |= data
    with time_machine.travel(at, tick=False):
        return web.post(f"/p/{token}", form)


def preferences(client: Client) -> ClientPreferences:
    return ClientPreferences.objects.get(client=client)


# --- Links --------------------------------------------------------------------------------------


def test_a_link_token_is_long_random_and_stored_only_as_a_hash(consenting_ann):
    token = preference_link_for(consenting_ann, NOW)
    other = preference_link_for(consenting_ann, NOW)

    assert token != other
    assert len(token) >= 22  # ≥ 128 bits in URL-safe base64
    link = PreferenceLink.objects.get(token_hash=hashlib.sha256(token.encode()).hexdigest())
    assert link.client == consenting_ann
    assert link.expires_at == NOW + LINK_LIFETIME
    assert token not in str(list(PreferenceLink.objects.values()))


def test_a_link_works_until_it_expires(consenting_ann, ann_link):
    assert preference_link_client(ann_link, NOW + LINK_LIFETIME - timedelta(seconds=1)) == consenting_ann
    assert preference_link_client(ann_link, NOW + LINK_LIFETIME) is None


@pytest.mark.parametrize("token", ["", "nope", "x" * 65])
def test_unknown_tokens_open_nothing(consenting_ann, ann_link, token):
    assert preference_link_client(token, NOW) is None


def test_expired_links_are_pruned(consenting_ann, ann_link):
    fresh = preference_link_for(consenting_ann, NOW + timedelta(days=20))

    assert preference_links_prune(now=NOW + LINK_LIFETIME) == 1
    assert preference_link_client(fresh, NOW + LINK_LIFETIME) == consenting_ann


# --- The page ------------------------------------------------------------------------------------


def test_the_page_shows_the_clients_choices_and_the_practice_phone(web, ann_link):
    response = page(web, ann_link)

    html = response.content.decode()
    assert response.status_code == 200
    assert "Hi Ann" in html
    assert "Riverside Counseling" in html
    assert 'href="tel:+12125550100"' in html
    assert re.search(r'<input[^>]*value="texts"[^>]*checked', html)
    assert "Avery" not in html and "ann@example.test" not in html and "555-0101" not in html


def test_the_page_is_never_cached_and_sends_its_address_to_no_other_site(web, ann_link):
    response = page(web, ann_link)

    assert "no-store" in response["Cache-Control"]
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Robots-Tag"] == "noindex, nofollow"


def test_the_page_is_accessible_and_has_no_inline_script_or_style(web, ann_link):
    html = page(web, ann_link).content.decode()

    assert "<script" not in html and "style=" not in html and "<style" not in html
    assert html.count("<fieldset") >= 3 and html.count("<legend") >= 3
    for field_id in re.findall(r'<input[^>]*type="(?:time|radio|checkbox)"[^>]*id="([^"]+)"', html):
        assert f'for="{field_id}"' in html, field_id
    assert "css/preferences.css" in html


@pytest.mark.parametrize("when", ["expired", "unknown"])
def test_an_expired_or_unknown_link_gets_a_friendly_404(web, ann_link, when):
    if when == "expired":
        response = page(web, ann_link, at=NOW + LINK_LIFETIME + timedelta(minutes=1))
    else:
        response = page(web, "not-a-real-token-at-all")

    assert response.status_code == 404
    assert "This link doesn't work any more" in response.content.decode()
    assert "Ann" not in response.content.decode()
    assert response["Referrer-Policy"] == "no-referrer"


def test_an_expired_link_cannot_change_anything(web, consenting_ann, ann_link):
    with time_machine.travel(NOW + LINK_LIFETIME, tick=False):
        response = web.post(f"/p/{ann_link}", {"channel": "email"})

    assert response.status_code in (403, 404)
    consenting_ann.refresh_from_db()
    assert consenting_ann.has_sms_consent


def test_a_post_without_the_csrf_token_is_refused(web, consenting_ann, ann_link):
    with time_machine.travel(NOW, tick=False):
        response = web.post(f"/p/{ann_link}", {"channel": "email"})

    assert response.status_code == 403
    consenting_ann.refresh_from_db()
    assert consenting_ann.has_sms_consent


def test_a_client_only_ever_sees_and_changes_their_own_preferences(web, consenting_ann, client_bob, ann_link):
    bob_link = preference_link_for(client_bob, NOW)

    assert "Hi Bob" in page(web, bob_link).content.decode()
    assert "Bob" not in page(web, ann_link).content.decode()
    submit(web, ann_link, {"channel": "email", "client": client_bob.pk, "client_id": client_bob.pk})

    assert not ClientPreferences.objects.filter(client=client_bob).exists()
    assert not ConsentEvent.objects.filter(client=client_bob).exists()
    assert preferences(consenting_ann)


# --- Saving ---------------------------------------------------------------------------------------


def test_choosing_email_only_opts_out_of_texts_and_is_recorded(web, consenting_ann, ann_link):
    response = submit(web, ann_link, {"channel": "email"})

    assert response.status_code == 302
    assert response["Location"] == f"/p/{ann_link}?saved=1"
    consenting_ann.refresh_from_db()
    assert consenting_ann.has_sms_consent is False
    assert consenting_ann.preferred_channel == PreferredChannel.EMAIL
    event = consenting_ann.consent_events.get()
    assert (event.action, event.source, event.at) == (
        ConsentAction.OPT_OUT,
        ConsentEventSource.PREFERENCE_CENTER,
        NOW,
    )
    html = page(web, f"{ann_link}?saved=1").content.decode()
    assert "Your preferences are saved." in html
    assert re.search(r'<input[^>]*value="email"[^>]*checked', html)


def test_choosing_texts_again_records_an_opt_in(web, client_ann):
    token = preference_link_for(client_ann, NOW)  # Ann has a phone but no consent yet

    submit(web, token, {"channel": "texts"})

    client_ann.refresh_from_db()
    assert client_ann.has_sms_consent
    assert client_ann.preferred_channel == PreferredChannel.SMS
    assert client_ann.consent_events.get().action == ConsentAction.OPT_IN


def test_saving_without_changing_the_channel_records_no_consent_event(web, consenting_ann, ann_link):
    submit(web, ann_link, {"channel": "texts", "quiet_start": "21:00", "quiet_end": "08:00"})

    assert not ConsentEvent.objects.exists()


def test_a_client_who_prefers_email_is_shown_email_only_and_keeps_staff_recorded_consent(
    web, consenting_ann, ann_link
):
    consenting_ann.preferred_channel = PreferredChannel.EMAIL
    consenting_ann.save()

    assert re.search(r'value="email"[^>]*checked', page(web, ann_link).content.decode())
    submit(web, ann_link, {"channel": "email", "quiet_start": "22:00", "quiet_end": "07:00"})

    consenting_ann.refresh_from_db()
    assert consenting_ann.has_sms_consent  # nothing changed, so nothing was withdrawn
    assert not ConsentEvent.objects.exists()


def test_quiet_hours_and_step_choices_are_saved(web, consenting_ann, ann_link):
    submit(
        web,
        ann_link,
        {"quiet_start": "21:30", "quiet_end": "07:15", "wanted_steps": ["t24_sms", "t0_push"]},
    )

    saved = preferences(consenting_ann)
    assert (saved.quiet_start, saved.quiet_end) == (time(21, 30), time(7, 15))
    assert saved.opted_out_steps == ["after_session", "t24_sms_in_person", "t2h_tech_check"]
    html = page(web, ann_link).content.decode()
    assert 'value="21:30"' in html and 'value="07:15"' in html
    assert re.search(r'value="t24_sms"[^>]*checked', html)
    assert not re.search(r'value="t2h_tech_check"[^>]*checked', html)


def test_clearing_quiet_hours_removes_them(web, consenting_ann, ann_link):
    submit(web, ann_link, {"quiet_start": "21:00", "quiet_end": "07:00"})
    submit(web, ann_link, {"quiet_start": "", "quiet_end": ""})

    assert preferences(consenting_ann).has_quiet_hours is False


def test_only_optional_client_steps_are_offered(practice):
    keys = [step.key for step in optional_steps_for(practice)]

    assert keys == ["t24_sms", "t24_sms_in_person", "t2h_tech_check", "t0_push", "after_session"]


def test_a_step_the_practice_switched_off_is_not_offered(practice):
    sequence_steps = optional_steps_for(practice)  # makes the default sequence
    assert sequence_steps
    practice.sequence.steps.filter(key="t0_push").update(is_active=False)

    assert "t0_push" not in [step.key for step in optional_steps_for(practice)]


@pytest.mark.parametrize(
    ("data", "field", "error"),
    [
        ({"quiet_start": "21:00"}, "quiet_end", "Please give both a start and an end"),
        ({"quiet_end": "07:00"}, "quiet_start", "Please give both a start and an end"),
        ({"quiet_start": "25:99", "quiet_end": "07:00"}, "quiet_start", "Enter a valid time."),
        ({"quiet_start": "08:00", "quiet_end": "08:00"}, "quiet_end", "The end must differ from the start."),
        ({"quiet_start": "18:00", "quiet_end": "07:00"}, "quiet_end", "at most 12 hours"),
        ({"channel": "carrier-pigeon"}, "channel", "Select a valid choice."),
        ({"wanted_steps": ["confirmation"]}, "wanted_steps", "Select a valid choice."),
    ],
)
def test_bad_input_is_shown_next_to_its_field_and_saves_nothing(
    web, consenting_ann, ann_link, data, field, error
):
    response = submit(web, ann_link, data)

    html = response.content.decode()
    assert response.status_code == 200
    assert error in html
    assert re.search(
        rf'id="id_{field}[^"]*"[^>]*aria-invalid="true"|aria-invalid="true"[^>]*id="id_{field}', html
    )
    assert not ClientPreferences.objects.exists()


def test_texts_cannot_be_chosen_without_a_mobile_number(web, practice):
    client = Client.objects.create(practice=practice, first_name="Cy", last_name="Nophone", email="cy@x.test")
    token = preference_link_for(client, NOW)

    html = submit(web, token, {"channel": "texts"}).content.decode()

    assert "We don&#x27;t have a mobile number for you" in html
    assert not ConsentEvent.objects.exists()
    with pytest.raises(ConsentError):
        client_preferences_update(
            client=client, texts=True, quiet_start=None, quiet_end=None, opted_out_steps=[], now=NOW
        )


def test_email_only_without_an_email_address_is_allowed_with_a_warning(web, consenting_ann, ann_link):
    consenting_ann.email = ""
    consenting_ann.save()

    assert "We don't have an e-mail address for you" in page(web, ann_link).content.decode()
    submit(web, ann_link, {"channel": "email"})

    consenting_ann.refresh_from_db()
    assert consenting_ann.has_sms_consent is False


# --- The dispatcher's questions -------------------------------------------------------------------


def set_preferences(client: Client, **fields) -> Client:
    client_preferences_update(
        client=client,
        texts=client.has_sms_consent,
        quiet_start=fields.get("quiet_start"),
        quiet_end=fields.get("quiet_end"),
        opted_out_steps=fields.get("opted_out_steps", []),
        now=NOW,
    )
    return Client.objects.get(pk=client.pk)  # fresh, as the dispatcher would load it


def test_step_opted_out_says_which_reminders_the_client_switched_off(consenting_ann):
    assert step_opted_out(consenting_ann, "t24_sms") is False  # no preferences yet

    ann = set_preferences(consenting_ann, opted_out_steps=["t24_sms", "confirmation", "t15_sms"])

    assert step_opted_out(ann, "t24_sms") is True
    assert step_opted_out(ann, "t2h_tech_check") is False
    assert step_opted_out(ann, "confirmation") is False  # never optional, never stored
    assert preferences(ann).opted_out_steps == ["t24_sms"]


def test_quiet_hours_across_midnight(consenting_ann):
    ann = set_preferences(consenting_ann, quiet_start=time(21, 0), quiet_end=time(8, 0))

    assert in_quiet_hours(ann, ny(2026, 6, 1, 20, 59)) is False
    assert in_quiet_hours(ann, ny(2026, 6, 1, 21, 0)) is True
    assert in_quiet_hours(ann, ny(2026, 6, 2, 0, 30)) is True
    assert in_quiet_hours(ann, ny(2026, 6, 2, 7, 59)) is True
    assert in_quiet_hours(ann, ny(2026, 6, 2, 8, 0)) is False
    assert quiet_hours_end(ann, ny(2026, 6, 1, 23, 0)) == ny(2026, 6, 2, 8, 0)
    assert quiet_hours_end(ann, ny(2026, 6, 2, 6, 0)) == ny(2026, 6, 2, 8, 0)
    assert quiet_hours_end(ann, ny(2026, 6, 2, 12, 0)) is None


def test_quiet_hours_within_a_day(consenting_ann):
    ann = set_preferences(consenting_ann, quiet_start=time(12, 0), quiet_end=time(13, 30))

    assert in_quiet_hours(ann, ny(2026, 6, 1, 11, 59)) is False
    assert in_quiet_hours(ann, ny(2026, 6, 1, 12, 45)) is True
    assert in_quiet_hours(ann, ny(2026, 6, 1, 13, 30)) is False


def test_quiet_hours_are_on_the_clients_own_clock(consenting_ann):
    consenting_ann.timezone = "America/Los_Angeles"  # the practice is in New York
    consenting_ann.save()
    ann = set_preferences(consenting_ann, quiet_start=time(22, 0), quiet_end=time(7, 0))

    # 08:00 in New York is 05:00 in Los Angeles: still quiet for Ann.
    assert in_quiet_hours(ann, ny(2026, 6, 2, 8, 0)) is True
    assert in_quiet_hours(ann, ny(2026, 6, 2, 10, 0)) is False
    assert quiet_hours_end(ann, ny(2026, 6, 2, 8, 0)) == datetime(
        2026, 6, 2, 7, 0, tzinfo=ZoneInfo("America/Los_Angeles")
    )


@pytest.mark.parametrize(
    ("moment", "quiet"),
    [
        (datetime(2026, 3, 8, 6, 30, tzinfo=UTC), True),  # 01:30 EST, before the clocks spring forward
        (datetime(2026, 3, 8, 10, 59, tzinfo=UTC), True),  # 06:59 EDT
        (datetime(2026, 3, 8, 11, 0, tzinfo=UTC), False),  # 07:00 EDT
        (datetime(2026, 11, 1, 11, 59, tzinfo=UTC), True),  # 06:59 EST, after the clocks fell back
        (datetime(2026, 11, 1, 12, 0, tzinfo=UTC), False),  # 07:00 EST
    ],
)
def test_quiet_hours_follow_the_wall_clock_on_dst_nights(consenting_ann, moment, quiet):
    ann = set_preferences(consenting_ann, quiet_start=time(22, 0), quiet_end=time(7, 0))

    assert in_quiet_hours(ann, moment) is quiet


def test_quiet_hours_in_a_zone_without_dst(consenting_ann):
    consenting_ann.timezone = "America/Phoenix"
    consenting_ann.save()
    ann = set_preferences(consenting_ann, quiet_start=time(22, 0), quiet_end=time(7, 0))

    assert in_quiet_hours(ann, datetime(2026, 3, 8, 13, 59, tzinfo=UTC)) is True  # 06:59 MST
    assert in_quiet_hours(ann, datetime(2026, 3, 8, 14, 0, tzinfo=UTC)) is False


def test_no_quiet_hours_means_never_quiet(consenting_ann):
    ann = set_preferences(consenting_ann)

    assert in_quiet_hours(ann, ny(2026, 6, 1, 3, 0)) is False
    assert quiet_hours_end(ann, ny(2026, 6, 1, 3, 0)) is None


def test_reading_preferences_costs_one_query_per_client(consenting_ann, django_assert_num_queries):
    set_preferences(
        consenting_ann, quiet_start=time(22, 0), quiet_end=time(7, 0), opted_out_steps=["t24_sms"]
    )
    ann = Client.objects.select_related("practice", "message_preferences").get(pk=consenting_ann.pk)

    with django_assert_num_queries(0):
        step_opted_out(ann, "t24_sms")
        in_quiet_hours(ann, NOW)

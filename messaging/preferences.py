"""The client's preference center (SPEC F13): links, the preferences it saves, and the two
questions the dispatcher asks (is this step switched off? is it quiet time for the client?).

- ``preference_link_for`` makes a fresh /p/<token> link to put into a message.
- ``client_preferences_update`` is the one write path for what the page saves; channel
  changes go through practice.consent, so they are recorded as ConsentEvents.
- ``step_opted_out`` and ``in_quiet_hours`` read a client's preferences without writing; they
  use ``client.message_preferences`` (select_related it to save a query per message).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from messaging.models import Audience, ClientPreferences, PreferenceLink, Step
from messaging.sequences import sequence_for
from practice.consent import ConsentError, client_sms_opt_in, client_sms_opt_out
from practice.models import Client, ConsentEventSource, Practice, PreferredChannel

LINK_LIFETIME = timedelta(days=30)
TOKEN_BYTES = 24  # 192 bits
MAX_TOKEN_LENGTH = 64
MAX_QUIET_HOURS = timedelta(hours=12)

# Reminders a client may switch off: client-facing nudges whose content reaches them another
# way too. Never the booking confirmation or a cancellation notice (they say what changed), nor
# the 15-minute text (it carries the join link when it is needed); texts as a whole can still
# be switched to e-mail.
OPTIONAL_STEP_KEYS: dict[str, str] = {
    "t24_sms": _("A reminder the day before a video session"),
    "t24_sms_in_person": _("A reminder the day before an in-person session"),
    "t2h_tech_check": _(
        "A prompt 2 hours before a video session to test your camera and connection (only if you haven't yet)"
    ),
    "t0_push": _("A browser notification when your video session starts"),
    "after_session": _(
        "An e-mail after each session with two quick questions and a link to book your next one"
    ),
}


# --- Links ------------------------------------------------------------------------------------


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def preference_link_for(client: Client, now: datetime) -> str:
    """A new token for the client's preference page, valid for LINK_LIFETIME. Only its hash is
    stored, so each call makes a new link (one per message that carries one)."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    PreferenceLink.objects.create(
        client=client, token_hash=_hash(token), created_at=now, expires_at=now + LINK_LIFETIME
    )
    return token


def preference_link_client(token: str, now: datetime) -> Client | None:
    """The client a still-valid token belongs to, else None."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    link = (
        PreferenceLink.objects.valid(now)
        .filter(token_hash=_hash(token))
        .select_related("client__practice")
        .first()
    )
    return link.client if link else None


def preference_links_prune(*, now: datetime) -> int:
    """Delete expired links (they open nothing); for a daily housekeeping task."""
    deleted, _ = PreferenceLink.objects.filter(expires_at__lte=now).delete()
    return deleted


# --- Reading preferences (pure apart from one cached lookup) -----------------------------------


def preferences_of(client: Client) -> ClientPreferences | None:
    try:
        return client.message_preferences
    except ClientPreferences.DoesNotExist:
        return None


def step_opted_out(client: Client, step_key: str) -> bool:
    """Whether the client switched this reminder off on their preference page."""
    preferences = preferences_of(client)
    return (
        preferences is not None
        and step_key in OPTIONAL_STEP_KEYS
        and step_key in (preferences.opted_out_steps or ())
    )


def in_quiet_hours(client: Client, at: datetime) -> bool:
    """Whether ``at`` (aware) falls in the client's quiet hours, on their own wall clock."""
    preferences = preferences_of(client)
    return preferences is not None and preferences.quiet_at(at, client.zoneinfo())


def quiet_hours_end(client: Client, at: datetime) -> datetime | None:
    """When the quiet hours ``at`` falls in end (aware, client's zone), or None if it is not quiet
    time: for deferring a message instead of skipping it."""
    preferences = preferences_of(client)
    if preferences is None or not preferences.quiet_at(at, client.zoneinfo()):
        return None
    tz = client.zoneinfo()
    local = at.astimezone(tz)
    end = datetime.combine(local.date(), preferences.quiet_end, tzinfo=tz)
    if end <= local:
        end = datetime.combine(local.date() + timedelta(days=1), preferences.quiet_end, tzinfo=tz)
    return end


def quiet_hours_length(start: time, end: time) -> timedelta:
    minutes = (end.hour * 60 + end.minute) - (start.hour * 60 + start.minute)
    return timedelta(minutes=minutes % (24 * 60))


# --- What the page offers and saves ------------------------------------------------------------


@dataclass(frozen=True)
class OptionalStep:
    key: str
    label: str


def optional_steps_for(practice: Practice) -> list[OptionalStep]:
    """The reminders of the practice's sequence a client may switch off, in sequence order."""
    keys = (
        Step.objects.filter(
            sequence=sequence_for(practice),
            is_active=True,
            audience=Audience.CLIENT,
            key__in=list(OPTIONAL_STEP_KEYS),
        )
        .order_by("position", "pk")
        .values_list("key", flat=True)
    )
    return [OptionalStep(key=key, label=OPTIONAL_STEP_KEYS[key]) for key in keys]


def _offered_or_default(practice: Practice, language: str) -> str:
    from messaging.languages import offered_languages

    offered = offered_languages(sequence_for(practice))
    if language and language not in offered:
        raise ValueError(f"The practice does not offer messages in {language!r}.")
    return "" if language == offered[0] else language


def client_language_set(*, client: Client, language: str) -> ClientPreferences:
    """Set only the language of a client's messages (one the practice offers; its default is
    stored as ""), e.g. for a new client from the page language they booked on."""
    with transaction.atomic():
        preferences, _ = ClientPreferences.objects.select_for_update().get_or_create(
            client=client, defaults={"practice_id": client.practice_id}
        )
        preferences.language = _offered_or_default(client.practice, language)
        preferences.save(update_fields=["language"])
    return preferences


def wants_texts(client: Client) -> bool:
    """What the page shows as the channel choice: texts only with consent and no e-mail wish."""
    return client.has_sms_consent and client.preferred_channel == PreferredChannel.SMS


def client_preferences_update(
    *,
    client: Client,
    texts: bool,
    quiet_start: time | None,
    quiet_end: time | None,
    opted_out_steps: Iterable[str],
    now: datetime,
    language: str | None = None,
) -> ClientPreferences:
    """Save what the client chose on their page. A channel change is an SMS opt-in or opt-out
    (source: preference center); choosing texts needs a mobile number (ConsentError).
    ``language``: one the practice offers (messaging.languages), "" for the practice's default,
    None to leave it as it is."""
    if (quiet_start is None) != (quiet_end is None):
        raise ValueError("Quiet hours need both a start and an end.")
    if texts and not client.phone:
        raise ConsentError("There is no mobile number on file to send texts to.")
    with transaction.atomic():
        preferences, _ = ClientPreferences.objects.select_for_update().get_or_create(
            client=client, defaults={"practice_id": client.practice_id}
        )
        preferences.quiet_start = quiet_start
        preferences.quiet_end = quiet_end
        preferences.opted_out_steps = sorted(set(opted_out_steps) & set(OPTIONAL_STEP_KEYS))
        if language is not None:
            preferences.language = _offered_or_default(client.practice, language)
        preferences.save()
        if texts != wants_texts(client):
            source = ConsentEventSource.PREFERENCE_CENTER
            if texts:
                client_sms_opt_in(client=client, source=source, now=now, detail="Chose texts and e-mail")
            else:
                client_sms_opt_out(client=client, source=source, now=now, detail="Chose e-mail only")
            channel = PreferredChannel.SMS if texts else PreferredChannel.EMAIL
            if client.preferred_channel != channel:
                client.preferred_channel = channel
                client.save(update_fields=["preferred_channel", "updated_at"])
    client.message_preferences = preferences
    return preferences

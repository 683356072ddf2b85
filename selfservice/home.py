"""The client home, /h/<token> (issue 15): a client's upcoming sessions with join, tech check, and
move or cancel; their message preferences. No account: the link is the credential, like the
session link. Links are minted when asked for (by e-mail), hashed at rest, valid 30 days.

The actions hand over to the pages that already do them: the one-tap join and tech check links
(telehealth), the session page for moving and cancelling (scheduling), the preference page
(messaging). Those pages' links are minted by a POST from here, so opening the home page (a GET,
which link scanners do) writes nothing.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext

from practice.client_language import client_language
from practice.models import Client, Practice
from scheduling.models import AppointmentParticipant, AppointmentStatus
from selfservice.forms import DAY_PARTS, WEEKDAYS
from selfservice.models import ClientHomeLink, VerificationCode, VerificationPurpose
from selfservice.models import VerificationChannel as Channel
from selfservice.services import (
    address_key,
    asked_for_text_send,
    keyed_digest,
    known_client_for,
    rate_limit_count,
)
from waitlist.models import EntryStatus
from waitlist.services import entries_of_client

LIFETIME = timedelta(days=30)
# A link texted on request is of no use hours later: the provider may drop it after this.
LINK_TEXT_VALID_FOR = timedelta(hours=1)
TOKEN_BYTES = 24
MAX_TOKEN_LENGTH = 64
UPCOMING_LIMIT = 10
# Sessions the home lists: coming up, or on now (a client may still join).
HOME_STATUSES = (AppointmentStatus.SCHEDULED, AppointmentStatus.CONFIRMED, AppointmentStatus.IN_PROGRESS)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def home_link_for(*, client: Client, now: datetime) -> str:
    token = secrets.token_urlsafe(TOKEN_BYTES)
    ClientHomeLink.objects.create(
        client=client, token_hash=_hash(token), created_at=now, expires_at=now + LIFETIME
    )
    return token


def home_link_path_for_message(client: Client, now: datetime) -> str:
    """A fresh home link for the footer of a message to the client (messaging.home_links). One
    stored row per message, like the other links a message carries; the client's expired ones are
    deleted here, so the rows stay bounded without a sweep."""
    ClientHomeLink.objects.filter(client=client, expires_at__lte=now).delete()
    return reverse("client_home", args=[home_link_for(client=client, now=now)])


def home_link_client(token: str, now: datetime) -> Client | None:
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    link = (
        ClientHomeLink.objects.valid(now)
        .select_related("client__practice")
        .filter(token_hash=_hash(token))
        .first()
    )
    return link.client if link is not None else None


def home_link_send(*, practice: Practice, address: str, now: datetime, channel: str = Channel.EMAIL) -> None:
    """Send the client with this address their home link: by e-mail, or (``channel`` sms) by text
    to their mobile number. Says nothing about whether the address is known: unknown addresses get
    nothing, and the page answers the same. Rate-limited per address and per practice, counted
    whether or not the address is known."""
    address_hash = keyed_digest(address_key(address, channel))
    with transaction.atomic():
        rate_limit_count(
            practice=practice, purpose=VerificationPurpose.HOME_LINK, address_hash=address_hash, now=now
        )
        VerificationCode.objects.create(
            practice=practice,
            purpose=VerificationPurpose.HOME_LINK,
            address_hash=address_hash,
            code_hash="",
            created_at=now,
            expires_at=now,
            used_at=now,
        )
        client = _client_with_address(practice=practice, address=address, channel=channel)
        token = home_link_for(client=client, now=now) if client is not None else None
    if token is None:
        return
    url = settings.SITE_URL.rstrip("/") + reverse("client_home", args=[token])
    # In the client's language, like their pages (practice.client_language).
    with translation.override(client_language(client)):
        if channel == Channel.SMS:
            body = gettext("Your sessions with %(practice)s: %(url)s") % {
                "practice": practice.name,
                "url": url,
            }
            asked_for_text_send(
                practice=practice,
                phone=client.phone.as_e164,
                body=body,
                what="Home link",
                valid_for=LINK_TEXT_VALID_FOR,
                now=now,
            )
            return
        subject = gettext("Your sessions with %(practice)s") % {"practice": practice.name}
        message = gettext(
            "Hello %(name)s,\n\nHere is your link to see your upcoming sessions with %(practice)s, join "
            "them, and move or cancel them:\n\n%(url)s\n\nIt works for 30 days. If you did not ask for it, "
            "you can ignore this e-mail."
        ) % {"name": client.greeting_name, "practice": practice.name, "url": url}
    send_mail(subject=subject, message=message, from_email=None, recipient_list=[client.email])


def _client_with_address(*, practice: Practice, address: str, channel: str) -> Client | None:
    """The active client the link goes to. A mobile number must belong to exactly one of them (a
    family's shared phone gets nothing, as on the booking page); an e-mail goes to the first."""
    if channel == Channel.SMS:
        return known_client_for(practice=practice, address=address, channel=channel)
    return (
        Client.objects.for_practice(practice)
        .filter(email__iexact=address.strip(), status="active")
        .order_by("pk")
        .first()
    )


@dataclass(frozen=True)
class UpcomingSession:
    participant_id: int
    starts_at: datetime
    ends_at: datetime
    clinician_name: str
    service_name: str
    modality: str
    status: str
    join_token: str | None


def upcoming_sessions(*, client: Client, now: datetime) -> list[UpcomingSession]:
    participants = (
        AppointmentParticipant.objects.filter(
            client=client,
            appointment__practice_id=client.practice_id,
            appointment__status__in=HOME_STATUSES,
            appointment__ends_at__gt=now,
        )
        .select_related("appointment__clinician", "appointment__service_type", "join_link")
        .order_by("appointment__starts_at")[:UPCOMING_LIMIT]
    )
    sessions = []
    for participant in participants:
        appointment = participant.appointment
        join_link = getattr(participant, "join_link", None)
        sessions.append(
            UpcomingSession(
                participant_id=participant.pk,
                starts_at=appointment.starts_at,
                ends_at=appointment.ends_at,
                clinician_name=appointment.clinician.display_name,
                service_name=appointment.service_type.name,
                modality=appointment.modality,
                status=appointment.status,
                join_token=join_link.token if join_link is not None else None,
            )
        )
    return sessions


@dataclass(frozen=True)
class WaitlistWish:
    entry_id: int
    service_name: str
    clinician_names: list[str]  # empty: any who offers the service
    days: list[str]  # empty: any day
    times: list[str]  # empty: any time, on the client's clock
    latest_date: date | None
    paused: bool


def waitlist_of(client: Client) -> list[WaitlistWish]:
    """The client's entries still waiting, in words for their home page."""
    weekday_names = dict(WEEKDAYS)
    part_names = {(start, end): label for _value, label, start, end in DAY_PARTS}
    wishes = []
    for entry in entries_of_client(client):
        wishes.append(
            WaitlistWish(
                entry_id=entry.pk,
                service_name=entry.service_type.name,
                clinician_names=[clinician.display_name for clinician in entry.clinicians.all()],
                days=[str(weekday_names[day]) for day in entry.weekdays if day in weekday_names],
                times=[
                    str(part_names.get((start, end), f"{start}-{end}")) for start, end in entry.time_windows
                ],
                latest_date=entry.latest_date,
                paused=entry.status == EntryStatus.PAUSED,
            )
        )
    return wishes

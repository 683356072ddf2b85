"""Turning an outbox row into the words and addresses that go out.

The rendering context is built here from the whitelist of messaging.content only: names, the
local date and time, the practice's phone and opaque links. Nothing else is ever read into it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.utils import formataddr, parseaddr
from functools import lru_cache
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils import timezone
from django.utils.html import escape, linebreaks, urlize
from icalendar import Calendar, Event
from phonenumber_field.phonenumber import PhoneNumber

from messaging import home_links
from messaging.backends.base import EmailAttachment, EmailMessageData, SMSMessage
from messaging.content import render
from messaging.defaults import NO_SHOW_NOTICE
from messaging.languages import DEFAULT_LANGUAGE, local_date, local_time, phrase
from messaging.models import Audience, OutboxMessage
from practice.models import Client, ClinicianProfile
from scheduling.models import UPCOMING_STATUSES, AppointmentStatus


@dataclass(frozen=True)
class Recipient:
    """Who a message is for and how they can be reached."""

    name: str
    phone: str  # E.164 or ""
    email: str
    sms_allowed: bool  # has a number and (for clients) recorded consent
    prefers_email: bool
    tz: ZoneInfo


def e164(phone) -> str:
    """The number in E.164, or "" when there is none: what ``phone.as_e164 if phone else ""``
    gives, without ``bool(phone)``, which validates and formats the number only to test it
    (four times a message, ~0.1 ms of the dispatcher's time a row)."""
    if not isinstance(phone, PhoneNumber) or not (phone.raw_input or phone.national_number):
        return ""
    return phone.as_e164


@lru_cache(maxsize=1024)
def national_format(number: str) -> str:
    """An E.164 number as its country writes it, "" for none: a practice's phone is in every
    message it sends, and formatting it costs ~0.05 ms."""
    return PhoneNumber.from_string(number).as_national if number else ""


def client_recipient(client: Client) -> Recipient:
    phone = e164(client.phone)
    return Recipient(
        name=client.greeting_name,
        phone=phone,
        email=client.email,
        sms_allowed=bool(phone) and client.sms_consent_at is not None,  # Client.has_sms_consent
        prefers_email=client.preferred_channel == "email",
        tz=client.zoneinfo(),
    )


def clinician_recipient(clinician: ClinicianProfile) -> Recipient:
    email = clinician.email or (clinician.user.email if clinician.user else "")
    phone = e164(clinician.phone)
    return Recipient(
        name=clinician.display_name,
        phone=phone,
        email=email,
        sms_allowed=bool(phone),
        prefers_email=False,
        tz=clinician.zoneinfo,
    )


def recipient_for(message: OutboxMessage) -> Recipient:
    if message.recipient_key.startswith(Audience.CLINICIAN):
        return clinician_recipient(message.appointment.clinician)
    return client_recipient(message.participant.client)


def absolute_url(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path


_TOKEN = "attendtokenplaceholder"


@lru_cache(maxsize=64)
def _route_around_token(name: str, urlconf: str, prefix: str) -> tuple[str, str]:
    path = reverse(name, urlconf=urlconf, args=[_TOKEN])
    before, _, after = path.partition(_TOKEN)
    return before, after


def token_path(name: str, token: str, routing: tuple[str, str] | None = None) -> str:
    """``reverse(name, args=[token])`` for URL-safe tokens, without resolving the route for
    every message (it cost the dispatcher ~0.2 ms a row). ``routing``: ``_routing()``, when
    the caller already has it (reading it costs two context-local lookups)."""
    before, after = _route_around_token(name, *(routing or _routing()))
    return before + token + after


def _routing() -> tuple[str, str]:
    """What a reversed URL depends on besides its name: the URLconf and the script prefix."""
    return get_urlconf() or settings.ROOT_URLCONF, get_script_prefix()


@lru_cache(maxsize=16)
def _route(name: str, urlconf: str, prefix: str) -> str:
    return reverse(name, urlconf=urlconf)


def _links(message: OutboxMessage) -> dict[str, str]:
    """One-tap links of the client the message is about (none for a whole-session message)."""
    if message.participant is None or message.recipient_key.startswith(Audience.CLINICIAN):
        return {}
    from telehealth.services import join_link_for

    # The dispatcher loads the link with the row; the lookup only runs for a first message.
    try:
        link = message.participant.join_link
    except ObjectDoesNotExist:
        link = join_link_for(message.participant)
    token, routing = link.token, _routing()
    return {
        "join_link": absolute_url(token_path("join", token, routing)),
        "tech_check_link": absolute_url(token_path("tech_check", token, routing)),
    }


def _preferences_link(message: OutboxMessage, now: datetime) -> dict[str, str]:
    """A fresh preference-page link for the client (a stored row each: made only when used)."""
    if message.participant is None or message.recipient_key.startswith(Audience.CLINICIAN):
        return {}
    from messaging.preferences import preference_link_for

    token = preference_link_for(message.participant.client, now)
    return {"preferences_link": absolute_url(reverse("preference_center", args=[token]))}


def _after_session_link(message: OutboxMessage, now: datetime) -> dict[str, str]:
    """A fresh after-session page link for the participant (a stored row: made only when used)."""
    if message.participant is None or message.recipient_key.startswith(Audience.CLINICIAN):
        return {}
    from messaging.after_session import after_session_link_for

    token = after_session_link_for(message.participant, now)
    return {"after_session_link": absolute_url(reverse("after_session", args=[token]))}


def _manage_link(message: OutboxMessage, now: datetime) -> dict[str, str]:
    """A fresh /a/<token> link to the client's page for this session (a stored row each: made
    only when used). Valid until the session ends; a no-show notice's for some days after."""
    if message.participant is None or message.recipient_key.startswith(Audience.CLINICIAN):
        return {}
    from scheduling.client_actions import AFTER_NO_SHOW_LIFETIME, manage_link_for

    after_no_show = message.kind.startswith(NO_SHOW_NOTICE["kind"])
    token = manage_link_for(
        participant=message.participant,
        now=now,
        valid_until=now + AFTER_NO_SHOW_LIFETIME if after_no_show else None,
    )
    return {"manage_link": absolute_url(reverse("client_manage", args=[token]))}


def render_context(
    message: OutboxMessage, recipient: Recipient, *, uses: str = "", language: str = DEFAULT_LANGUAGE
) -> dict[str, str]:
    """The whitelisted fields for ``message``, dates in ``language``; ``uses`` is the template
    text, so links that cost a stored row are only made when the template asks for them."""
    appointment = message.appointment
    practice = appointment.practice
    local_start: datetime = appointment.starts_at.astimezone(recipient.tz)
    about_client = message.participant.client.greeting_name if message.participant else ""
    return {
        "client_name": about_client,
        "clinician_name": appointment.clinician.display_name,
        "practice_name": practice.email_sender_name or practice.name,
        "practice_phone": national_format(e164(practice.phone)),
        "session_date": local_date(local_start, language),
        "session_time": local_time(local_start, language),
        **_links(message),
        **(_preferences_link(message, timezone.now()) if "preferences_link" in uses else {}),
        **(_after_session_link(message, timezone.now()) if "after_session_link" in uses else {}),
        **(_manage_link(message, timezone.now()) if "manage_link" in uses else {}),
        **({"no_show_fee": f"${practice.no_show_fee}"} if "no_show_fee" in uses else {}),
        **(_previous_time(appointment, recipient, language) if "previous_session" in uses else {}),
        **(_series_dates(appointment, recipient, language) if "series_dates" in uses else {}),
        **(_moved_dates(appointment, recipient, language) if "moved_" in uses else {}),
    }


def series_sessions(appointment) -> list:
    """The upcoming sessions of the appointment's series, in order (just it when none)."""
    if appointment.series_id is None:
        return [appointment]
    return list(
        appointment.series.appointments.filter(status__in=UPCOMING_STATUSES).order_by("starts_at")
    ) or [appointment]


def _series_dates(appointment, recipient: Recipient, language: str) -> dict[str, str]:
    sessions = series_sessions(appointment)
    lines = []
    for session in sessions:
        local = session.starts_at.astimezone(recipient.tz)
        lines.append(f"- {local_date(local, language)}, {local_time(local, language)}")
    return {"series_dates": phrase("series_dates", language).format(count=len(sessions)) + "\n".join(lines)}


def _moved_dates(appointment, recipient: Recipient, language: str) -> dict[str, str]:
    """The upcoming sessions moved together with this one ("this and following"), a line each;
    empty when it moved alone."""
    along = list(appointment.moved_along.filter(status__in=UPCOMING_STATUSES).order_by("starts_at"))
    if not along:
        return {"moved_dates": "", "moved_count": ""}
    lines = []
    for session in along:
        local = session.starts_at.astimezone(recipient.tz)
        lines.append(f"- {local_date(local, language)}, {local_time(local, language)}")
    return {
        "moved_dates": phrase("moved_dates", language).format(count=len(along)) + "\n".join(lines),
        "moved_count": phrase("moved_count", language).format(count=len(along)),
    }


def _previous_time(appointment, recipient: Recipient, language: str) -> dict[str, str]:
    """Where a moved session was, on the recipient's clock."""
    previous = appointment.rescheduled_from
    if previous is None:
        return {}
    local = previous.starts_at.astimezone(recipient.tz)
    return {
        "previous_session_date": local_date(local, language),
        "previous_session_time": local_time(local, language),
    }


# A reschedule chain longer than this is not followed further for the calendar event's UID.
MAX_CHAIN = 100


def calendar_identity(appointment) -> tuple[str, int]:
    """(UID, SEQUENCE) of the session's calendar event. A moved session keeps the event of the
    first booking of its chain, so the client's calendar moves the event rather than adding a
    second one; each move (and a cancellation) raises the sequence (RFC 5546)."""
    root, moves = appointment, 0
    while root.rescheduled_from_id is not None and moves < MAX_CHAIN:
        root, moves = root.rescheduled_from, moves + 1
    return f"appointment-{root.pk}@{settings.CALENDAR_UID_DOMAIN}", moves


def home_footer(message: OutboxMessage, language: str, now: datetime) -> str:
    """ "Your sessions and forms: <link>" for an e-mail to a client: their own home link (a fresh
    token each, so a group session's participants never share one); nothing for the clinician's
    messages or while no app provides the home (messaging.home_links)."""
    if message.participant is None or message.recipient_key.startswith(Audience.CLINICIAN):
        return ""
    path = home_links.home_link_path(message.participant.client, now)
    return phrase("home_footer", language).format(link=absolute_url(path)) if path else ""


def sms_for(
    message: OutboxMessage,
    body_template: str,
    recipient: Recipient,
    valid_until,
    language: str = DEFAULT_LANGUAGE,
) -> SMSMessage:
    practice = message.appointment.practice
    context = render_context(message, recipient, uses=body_template, language=language)
    return SMSMessage(
        to=recipient.phone,
        body=render(body_template, context),
        from_number=e164(practice.sms_from_number),
        status_callback_url=absolute_url(_route("twilio_status", *_routing())),
        valid_until=valid_until,
    )


def email_for(
    message: OutboxMessage,
    *,
    subject: str,
    body_template: str,
    recipient: Recipient,
    attach_calendar: bool,
    language: str = DEFAULT_LANGUAGE,
) -> EmailMessageData:
    context = render_context(message, recipient, uses=subject + body_template, language=language)
    footer = home_footer(message, language, timezone.now())
    text = render(body_template, context) + footer + phrase("no_reply", language)
    practice = message.appointment.practice
    sender_name = practice.email_sender_name or practice.name
    attachments = (calendar_attachment(message, context),) if attach_calendar else ()
    return EmailMessageData(
        to=recipient.email,
        subject=render(subject, context) or f"A message from {sender_name}",
        text=text,
        html=linebreaks(urlize(escape(text))),
        from_email=formataddr((sender_name, parseaddr(settings.DEFAULT_FROM_EMAIL)[1])),
        attachments=attachments,
    )


def calendar_attachment(message: OutboxMessage, context: dict[str, str]) -> EmailAttachment:
    """The session as an RFC 5545 event. Times are UTC so every calendar shows them right. One
    event per reschedule chain (``calendar_identity``); a cancelled session's file cancels it."""
    appointment = message.appointment
    cancelled = appointment.status == AppointmentStatus.CANCELLED
    calendar = Calendar()
    calendar.add("prodid", "-//Attend//Session reminders//EN")
    calendar.add("version", "2.0")
    calendar.add("method", "CANCEL" if cancelled else "PUBLISH")
    # A series' confirmation carries all its sessions, each its own event (each can be moved or
    # cancelled on its own later, by the same UID).
    sessions = [appointment] if cancelled or message.step is None else series_sessions(appointment)
    for session in sessions:
        uid, sequence = calendar_identity(session)
        event = Event()
        event.add("uid", uid)
        event.add("sequence", sequence + (1 if cancelled else 0))
        if cancelled:
            event.add("status", "CANCELLED")
        event.add("dtstamp", session.updated_at)
        event.add("dtstart", session.starts_at)
        event.add("dtend", session.ends_at)
        event.add("summary", f"Session with {context['clinician_name']}")
        if context.get("join_link"):
            # Join links are per session: the later sessions' links come in their reminders.
            if session.pk == appointment.pk:
                event.add("location", "Video session")
                event.add(
                    "description",
                    f"Join: {context['join_link']}\nTest your setup: {context['tech_check_link']}",
                )
            else:
                event.add("location", "Video session (the link comes in the reminders)")
        calendar.add_component(event)
    return EmailAttachment(filename="session.ics", content=calendar.to_ical(), mimetype="text/calendar")

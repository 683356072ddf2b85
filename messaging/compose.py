"""Turning an outbox row into the words and addresses that go out.

The rendering context is built here from the whitelist of messaging.content only: names, the
local date and time, the practice's phone and opaque links. Nothing else is ever read into it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.utils import formataddr, parseaddr
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape, linebreaks, urlize
from icalendar import Calendar, Event

from messaging.backends.base import EmailAttachment, EmailMessageData, SMSMessage
from messaging.content import render
from messaging.defaults import NO_SHOW_NOTICE
from messaging.languages import DEFAULT_LANGUAGE, local_date, local_time, phrase
from messaging.models import Audience, OutboxMessage
from practice.models import Client, ClinicianProfile


@dataclass(frozen=True)
class Recipient:
    """Who a message is for and how they can be reached."""

    name: str
    phone: str  # E.164 or ""
    email: str
    sms_allowed: bool  # has a number and (for clients) recorded consent
    prefers_email: bool
    tz: ZoneInfo


def client_recipient(client: Client) -> Recipient:
    return Recipient(
        name=client.greeting_name,
        phone=client.phone.as_e164 if client.phone else "",
        email=client.email,
        sms_allowed=client.has_sms_consent,
        prefers_email=client.preferred_channel == "email",
        tz=client.zoneinfo(),
    )


def clinician_recipient(clinician: ClinicianProfile) -> Recipient:
    email = clinician.email or (clinician.user.email if clinician.user else "")
    return Recipient(
        name=clinician.display_name,
        phone=clinician.phone.as_e164 if clinician.phone else "",
        email=email,
        sms_allowed=bool(clinician.phone),
        prefers_email=False,
        tz=clinician.zoneinfo,
    )


def recipient_for(message: OutboxMessage) -> Recipient:
    if message.recipient_key.startswith(Audience.CLINICIAN):
        return clinician_recipient(message.appointment.clinician)
    return client_recipient(message.participant.client)


def absolute_url(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path


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
    token = link.token
    return {
        "join_link": absolute_url(reverse("join", args=[token])),
        "tech_check_link": absolute_url(reverse("tech_check", args=[token])),
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
        "practice_phone": practice.phone.as_national if practice.phone else "",
        "session_date": local_date(local_start, language),
        "session_time": local_time(local_start, language),
        **_links(message),
        **(_preferences_link(message, timezone.now()) if "preferences_link" in uses else {}),
        **(_after_session_link(message, timezone.now()) if "after_session_link" in uses else {}),
        **(_manage_link(message, timezone.now()) if "manage_link" in uses else {}),
        **({"no_show_fee": f"${practice.no_show_fee}"} if "no_show_fee" in uses else {}),
    }


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
        from_number=practice.sms_from_number.as_e164 if practice.sms_from_number else "",
        status_callback_url=absolute_url(reverse("twilio_status")),
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
    text = render(body_template, context) + phrase("no_reply", language)
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
    """The session as an RFC 5545 event. Times are UTC so every calendar shows them right."""
    appointment = message.appointment
    event = Event()
    event.add("uid", f"appointment-{appointment.pk}@{settings.CALENDAR_UID_DOMAIN}")
    event.add("dtstamp", appointment.updated_at)
    event.add("dtstart", appointment.starts_at)
    event.add("dtend", appointment.ends_at)
    event.add("summary", f"Session with {context['clinician_name']}")
    if context.get("join_link"):
        event.add("location", "Video session")
        event.add(
            "description", f"Join: {context['join_link']}\nTest your setup: {context['tech_check_link']}"
        )
    calendar = Calendar()
    calendar.add("prodid", "-//Attend//Session reminders//EN")
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    calendar.add_component(event)
    return EmailAttachment(filename="session.ics", content=calendar.to_ical(), mimetype="text/calendar")

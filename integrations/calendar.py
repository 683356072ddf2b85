"""Calendars (SPEC F21): a clinician's private iCal feed, and importing sessions from an .ics file.

The feed is what a clinician's phone or desktop calendar subscribes to; it is synced to that
calendar's servers, so events carry the minimum a clinician needs to recognise a session:
"Session · A.A." (the client's initials), the modality, and a link to the session page in
Attend (which needs a sign-in). No full names, notes, service types or join links.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Prefetch
from django.urls import reverse
from icalendar import Calendar, Event, Timezone

from practice.models import Client, ClientStatus, ClinicianProfile
from scheduling.models import (
    Appointment,
    AppointmentParticipant,
    AppointmentSource,
    AppointmentStatus,
    ServiceType,
)
from scheduling.services import appointment_book

FEED_PAST = timedelta(days=30)
FEED_FUTURE = timedelta(days=365)
# Calendar apps that honour it re-fetch this often (Google decides for itself).
REFRESH_INTERVAL = timedelta(minutes=15)
WITHDRAWN = (AppointmentStatus.CANCELLED, AppointmentStatus.RESCHEDULED)


# --- The feed ------------------------------------------------------------------------------------


def event_uid(appointment: Appointment) -> str:
    # The same UID as the .ics attached to reminder e-mails (messaging.compose).
    return f"appointment-{appointment.pk}@{settings.CALENDAR_UID_DOMAIN}"


def client_initials(client: Client) -> str:
    letters = [name.strip()[:1].upper() for name in (client.first_name, client.last_name) if name.strip()]
    return ".".join(letters) + "." if letters else "?"


def event_summary(appointment: Appointment, participants: list[AppointmentParticipant]) -> str:
    if len(participants) > 1:
        summary = f"Group session · {len(participants)} clients"
    elif participants:
        summary = f"Session · {client_initials(participants[0].client)}"
    else:
        summary = "Session"
    if appointment.status == AppointmentStatus.NO_SHOW:
        summary += " (no-show)"
    elif appointment.status == AppointmentStatus.CANCELLED:
        summary = "Cancelled: " + summary
    elif appointment.status == AppointmentStatus.RESCHEDULED:
        summary = "Moved: " + summary
    return summary


def _vevent(appointment: Appointment, tz: ZoneInfo, now: datetime) -> Event:
    participants = list(appointment.participants.all())
    event = Event()
    event.add("uid", event_uid(appointment))
    event.add("dtstamp", now)
    event.add("last-modified", appointment.updated_at)
    # Any change bumps the sequence, so calendar apps take the newer copy.
    event.add("sequence", int(appointment.updated_at.timestamp()) - 1_700_000_000)
    event.add("dtstart", appointment.starts_at.astimezone(tz))
    event.add("dtend", appointment.ends_at.astimezone(tz))
    event.add("summary", event_summary(appointment, participants))
    event.add("location", appointment.get_modality_display())
    link = settings.SITE_URL + reverse("appointment_detail", args=[appointment.pk])
    event.add("description", f"{appointment.get_modality_display()} session. Details in Attend: {link}")
    event.add("url", link)
    event.add("class", "PRIVATE")
    event.add("status", "CANCELLED" if appointment.status in WITHDRAWN else "CONFIRMED")
    event.add("transp", "TRANSPARENT" if appointment.status in WITHDRAWN else "OPAQUE")
    return event


def feed_appointments(clinician: ClinicianProfile, now: datetime):
    return (
        Appointment.objects.filter(
            clinician=clinician, starts_at__gte=now - FEED_PAST, starts_at__lt=now + FEED_FUTURE
        )
        .prefetch_related(
            Prefetch(
                "participants",
                queryset=AppointmentParticipant.objects.select_related("client").order_by("pk"),
            )
        )
        .order_by("starts_at")
    )


def feed_calendar(*, clinician: ClinicianProfile, now: datetime) -> bytes:
    """The clinician's sessions from FEED_PAST ago to FEED_FUTURE ahead, in the practice's zone
    (with its VTIMEZONE, so every client shows the right wall-clock time across DST changes).
    Cancelled and moved sessions stay in the feed as STATUS:CANCELLED so subscribed calendars
    drop them."""
    practice = clinician.practice
    tz = practice.zoneinfo
    calendar = Calendar()
    calendar.add("prodid", "-//Attend//Clinician calendar//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", f"Attend · {clinician.display_name}")
    calendar.add("x-wr-timezone", practice.timezone)
    calendar.add("refresh-interval", REFRESH_INTERVAL, parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", REFRESH_INTERVAL)
    calendar.add_component(
        Timezone.from_tzinfo(
            tz,
            tzid=practice.timezone,
            first_date=(now - FEED_PAST - timedelta(days=366)).date(),
            last_date=(now + FEED_FUTURE + timedelta(days=366)).date(),
        )
    )
    for appointment in feed_appointments(clinician, now):
        calendar.add_component(_vevent(appointment, tz, now))
    return calendar.to_ical()


# --- Import --------------------------------------------------------------------------------------

MAX_IMPORT_BYTES = 1_000_000
MAX_IMPORT_EVENTS = 300
RECURRING_REFUSED = (
    "Repeating events are not imported one by one: book them as a series instead "
    "(New session → Repeats), or export the calendar with the occurrences expanded."
)


@dataclass
class ImportCandidate:
    """One VEVENT of an uploaded file, as it would be booked, or why it cannot be."""

    number: int  # 1-based position in the file, to find it again
    uid: str = ""
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    client: Client | None = None
    errors: list[str] = field(default_factory=list)
    booked: Appointment | None = None

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def external_id(self) -> str:
        # Keeps a re-import from booking the same event twice. "ics:" keeps these apart from an
        # EHR's own ids (same source); long UIDs are hashed to fit the column.
        if not self.uid:
            return ""
        if len(self.uid) <= 96:
            return "ics:" + self.uid
        return "ics:sha256:" + hashlib.sha256(self.uid.encode()).hexdigest()


def _aware(value, tz: ZoneInfo) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    if value.tzinfo is None:  # a "floating" time: the clinician's wall clock
        return value.replace(tzinfo=tz)
    return value


def _attendee_emails(vevent) -> list[str]:
    attendees = vevent.get("attendee") or []
    if not isinstance(attendees, list):
        attendees = [attendees]
    emails = []
    for attendee in attendees:
        text = str(attendee)
        if text.lower().startswith("mailto:"):
            emails.append(text[7:].strip().lower())
    return emails


def _read_calendar(content: bytes) -> Calendar:
    if len(content) > MAX_IMPORT_BYTES:
        raise ValidationError({"file": ["The file is larger than 1 MB; export a shorter date range."]})
    try:
        calendars = Calendar.from_ical(content, multiple=True)
    except (ValueError, KeyError, IndexError, TypeError) as error:
        raise ValidationError({"file": ["This is not a calendar (.ics) file we can read."]}) from error
    if not calendars:
        raise ValidationError({"file": ["This is not a calendar (.ics) file we can read."]})
    return calendars[0]


def ics_import_preview(
    *,
    content: bytes,
    clinician: ClinicianProfile,
    service_type: ServiceType,
    default_client: Client | None,
    now: datetime,
) -> list[ImportCandidate]:
    """What booking each event of ``content`` would do, with per-event errors; writes nothing.

    A client is found by an ATTENDEE e-mail that matches an active client of the practice, else
    ``default_client``. The booking service has the last word when the import is confirmed."""
    calendar = _read_calendar(content)
    vevents = list(calendar.walk("VEVENT"))
    if not vevents:
        raise ValidationError({"file": ["The file has no events."]})
    if len(vevents) > MAX_IMPORT_EVENTS:
        raise ValidationError(
            {"file": [f"The file has more than {MAX_IMPORT_EVENTS} events; import fewer at once."]}
        )
    practice = clinician.practice
    clients_by_email = {
        client.email.lower(): client
        for client in Client.objects.for_practice(practice)
        .filter(status=ClientStatus.ACTIVE)
        .exclude(email="")
    }
    tz = clinician.zoneinfo
    candidates = [
        _candidate(number, vevent, tz, service_type, clients_by_email, default_client)
        for number, vevent in enumerate(vevents, start=1)
    ]
    _check_against_schedule(candidates, clinician, now)
    return candidates


def _candidate(number, vevent, tz, service_type, clients_by_email, default_client) -> ImportCandidate:
    candidate = ImportCandidate(number=number, uid=str(vevent.get("uid", "")).strip())
    errors = candidate.errors
    if vevent.get("rrule") or vevent.get("rdate") or vevent.get("recurrence-id"):
        errors.append(RECURRING_REFUSED)
        return candidate
    if str(vevent.get("status", "")).upper() == "CANCELLED":
        errors.append("Cancelled in the source calendar.")
        return candidate
    try:
        start = vevent.decoded("dtstart") if vevent.get("dtstart") else None
        end = vevent.decoded("dtend") if vevent.get("dtend") else None
        duration = vevent.decoded("duration") if vevent.get("duration") else None
    except (ValueError, KeyError, TypeError):
        errors.append("The event's times cannot be read.")
        return candidate
    if start is None:
        errors.append("The event has no start time.")
        return candidate
    if isinstance(start, date) and not isinstance(start, datetime):
        errors.append("All-day events are not sessions.")
        return candidate
    candidate.starts_at = _aware(start, tz)
    if end is not None:
        candidate.ends_at = _aware(end, tz)
        if candidate.ends_at is None:
            errors.append("The event's end is a date without a time.")
    elif isinstance(duration, timedelta):
        candidate.ends_at = candidate.starts_at + duration
    else:
        candidate.ends_at = candidate.starts_at + timedelta(minutes=service_type.default_minutes)
    if candidate.ends_at is not None and candidate.ends_at <= candidate.starts_at:
        errors.append("The event ends before it starts.")
    matches = {
        clients_by_email[email].pk: clients_by_email[email]
        for email in _attendee_emails(vevent)
        if email in clients_by_email
    }
    if len(matches) > 1:
        errors.append("The event's attendees match several clients; book group sessions by hand.")
    elif matches:
        candidate.client = next(iter(matches.values()))
    elif default_client is not None:
        candidate.client = default_client
    else:
        errors.append(
            "No client: no attendee e-mail matches a client, and no client was chosen for all events."
        )
    return candidate


def _check_against_schedule(
    candidates: list[ImportCandidate], clinician: ClinicianProfile, now: datetime
) -> None:
    """The checks the booking service will make, done up front so the preview shows them."""
    from scheduling.services import MAX_SESSION_LENGTH, PAST_BOOKING_TOLERANCE

    tz = clinician.zoneinfo
    taken_ids = set(
        Appointment.objects.for_practice(clinician.practice)
        .filter(source=AppointmentSource.EHR_IMPORT)
        .exclude(status=AppointmentStatus.RESCHEDULED)
        .exclude(external_id="")
        .values_list("external_id", flat=True)
    )
    accepted: list[ImportCandidate] = []
    seen_uids: set[str] = set()
    for candidate in candidates:
        if not candidate.ok:
            continue
        start, end = candidate.starts_at, candidate.ends_at
        if start < now - PAST_BOOKING_TOLERANCE:
            candidate.errors.append("This time is in the past.")
        if end - start > MAX_SESSION_LENGTH:
            candidate.errors.append("A session can be at most 8 hours long.")
        if candidate.uid and (candidate.external_id in taken_ids or candidate.uid in seen_uids):
            candidate.errors.append("Already imported (same event UID).")
        clash = Appointment.objects.overlapping(
            clinician_id=clinician.pk, starts_at=start, ends_at=end
        ).first()
        if clash is not None:
            when = clash.starts_at.astimezone(tz).strftime("%a %b %-d, %-I:%M %p %Z")
            candidate.errors.append(f"{clinician.display_name} already has a session at this time ({when}).")
        if any(other.starts_at < end and other.ends_at > start for other in accepted):
            candidate.errors.append("Overlaps another event in this file.")
        if candidate.uid:
            seen_uids.add(candidate.uid)
        if candidate.ok:
            accepted.append(candidate)


def ics_import_confirm(
    *,
    content: bytes,
    clinician: ClinicianProfile,
    service_type: ServiceType,
    modality: str,
    default_client: Client | None,
    by=None,
    now: datetime | None = None,
) -> list[ImportCandidate]:
    """Book every event of ``content`` that has no error, each through ``appointment_book`` in
    its own transaction (a clash found now is reported on that event; the others are booked)."""
    now = now or datetime.now(UTC)
    candidates = ics_import_preview(
        content=content,
        clinician=clinician,
        service_type=service_type,
        default_client=default_client,
        now=now,
    )
    for candidate in candidates:
        if not candidate.ok:
            continue
        try:
            candidate.booked = appointment_book(
                practice=clinician.practice,
                clinician=clinician,
                clients=[candidate.client],
                starts_at=candidate.starts_at.astimezone(UTC),
                ends_at=candidate.ends_at.astimezone(UTC),
                service_type=service_type,
                modality=modality,
                source=AppointmentSource.EHR_IMPORT,
                external_id=candidate.external_id,
                booked_by=by,
                now=now,
            )
        except ValidationError as error:
            candidate.errors.extend(error.messages)
    return candidates

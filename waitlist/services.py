"""Waitlist actions (issue 16). Staff pages, the API, the offer page, the appointment-event task
and the sweep all call these; each is one transaction (network sends happen after the claim
commits, in ``offer_messages_dispatch``).

Locking order, the same as the booking services': the clinician's calendar (their profile row,
``scheduling.services`` takes it too), then the freed slot, then its offers.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings as django_settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, OuterRef, Q, Subquery
from django.utils import formats, timezone, translation

from integrations.models import EventType, WebhookEndpoint
from integrations.outbox import webhook_event_record
from messaging.backends import get_email_backend, get_sms_backend
from messaging.backends.base import ChannelError, EmailMessageData, SMSMessage
from messaging.content import GSM7_BASIC, GSM7_EXTENSION, render, validate_template
from messaging.languages import DEFAULT_LANGUAGE, client_language, local_date, local_time, offered_languages
from messaging.models import ClientPreferences
from messaging.quiet_hours import CLIENT, PRACTICE, quiet_spell, window
from messaging.sequences import sequence_for
from practice.models import Client, ClinicianProfile, Modality, Practice, PreferredChannel
from scheduling.availability import (
    MAX_MINUTES,
    MAX_RANGE,
    MIN_MINUTES,
    Audience,
    Slot,
    local_label,
    open_slots,
    slot_rules,
)
from scheduling.models import (
    SLOT_HOLDING_STATUSES,
    UPCOMING_STATUSES,
    Appointment,
    AppointmentParticipant,
    AppointmentStatus,
    BookingPolicy,
    Hold,
    HoldKind,
    ServiceType,
)
from scheduling.services import appointment_book, appointment_reschedule, hold_place
from waitlist import policy
from waitlist.models import (
    Band,
    EntryStatus,
    FreedSlot,
    MessageState,
    Offer,
    OfferMessage,
    OfferStatus,
    SlotSource,
    SlotStatus,
    WaitlistEntry,
    WaitlistSettings,
)

logger = logging.getLogger(__name__)

# The offer texts, in each language a practice may offer its clients (messaging.languages): plain
# templates under the content check (messaging.content) — only its allowed fields — followed by
# how long the hold lasts and the offer link, which are not fields of the reminder whitelist.
# Which language: the client's, as for their reminders (``messaging.languages.client_language``).
# A Spanish text is folded to the GSM-7 alphabet (á→a, í→i, ó→o, ú→u; é, ñ, ü, ¿ and ¡ are in it):
# one accented weekday would switch a text to UCS-2 and make it three segments with the link.
TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "offer_sms": (
            "{{ practice_name }}: a session with {{ clinician_name }} opened on {{ session_date }} at "
            "{{ session_time }}."
        ),
        "offer_sms_tail": " Held for you until {until}: reply YES to take it, or see {link}",
        "offer_email_subject": "A session time opened up",
        "offer_email": (
            "Hello {{ client_name }},\n\nA session with {{ clinician_name }} opened on {{ session_date }} "
            "at {{ session_time }}. You are on {{ practice_name }}'s waitlist, so we are holding it for you"
        ),
        "offer_email_tail": " until {until}. To take it, open this link and confirm:\n\n{link}\n",
        "still_wanted_subject": "Your place on the waitlist",
        "still_wanted": (
            "{{ practice_name }}: we offered you a few session times from the waitlist and did not hear "
            "back, so we paused your place. Call us at {{ practice_phone }} if you still want an earlier "
            "time."
        ),
        "yes_done": "Done: your session with {clinician} on {when} is booked. A confirmation follows.",
        "yes_taken": "Sorry, that time was just taken. You keep your place on the waitlist.",
        "yes_ended": "This offer has ended. You keep your place on the waitlist.",
    },
    "es": {
        "offer_sms": (
            "{{ practice_name }}: se liberó una cita con {{ clinician_name }} el {{ session_date }} a las "
            "{{ session_time }}."
        ),
        "offer_sms_tail": " Se la guardamos hasta el {until}: responda SI para tomarla, o vea {link}",
        "offer_email_subject": "Se liberó una hora para su cita",
        "offer_email": (
            "Hola, {{ client_name }}:\n\nSe liberó una cita con {{ clinician_name }} el {{ session_date }} "
            "a las {{ session_time }}. Usted está en la lista de espera de {{ practice_name }}, así que se "
            "la guardamos"
        ),
        "offer_email_tail": " hasta el {until}. Para tomarla, abra este enlace y confírmela:\n\n{link}\n",
        "still_wanted_subject": "Su lugar en la lista de espera",
        "still_wanted": (
            "{{ practice_name }}: le ofrecimos algunas horas de la lista de espera y no recibimos "
            "respuesta, así que pausamos su lugar. Llámenos al {{ practice_phone }} si todavía quiere "
            "una hora antes."
        ),
        "yes_done": (
            "Listo: su cita con {clinician} el {when} quedó reservada. Le enviaremos una confirmación."
        ),
        "yes_taken": "Lo sentimos, esa hora acaba de ser tomada. Conserva su lugar en la lista de espera.",
        "yes_ended": "Esta oferta ya terminó. Conserva su lugar en la lista de espera.",
    },
}
# When the hold ends ("until") and when the booked session is (the YES answer), on the client's
# clock: English as it always read, Spanish with Django's day and month names, 24-hour times.
WHEN_FORMATS = {"es": (r"D j \d\e F, H:i", r"l j \d\e F \a \l\a\s H:i")}
OFFER_SMS = TEXTS["en"]["offer_sms"]
OFFER_EMAIL = TEXTS["en"]["offer_email"]
STILL_WANTED = TEXTS["en"]["still_wanted"]
for _texts in TEXTS.values():
    for _name in ("offer_sms", "offer_email", "still_wanted"):
        validate_template(_texts[_name])


def text(language: str, name: str) -> str:
    return TEXTS.get(language, TEXTS[DEFAULT_LANGUAGE])[name]


def gsm7(body: str) -> str:
    """``body`` with the accents GSM-7 lacks dropped (á→a, Í→I, …); GSM-7 letters stay."""
    out = []
    for ch in body:
        if ch in GSM7_BASIC or ch in GSM7_EXTENSION:
            out.append(ch)
            continue
        base = "".join(c for c in unicodedata.normalize("NFD", ch) if not unicodedata.combining(c))
        out.append(base if base and all(c in GSM7_BASIC for c in base) else ch)
    return "".join(out)


def _when(moment: datetime, language: str, which: int) -> str:
    """``moment`` (already on the client's clock) for the hold's end (0) or the booked session (1)."""
    formats_of = WHEN_FORMATS.get(language)
    if formats_of is None:
        return moment.strftime(("%a %-I:%M %p", "%a %b %-d at %-I:%M %p")[which])
    with translation.override(language):
        return formats.date_format(moment, formats_of[which])


CLAIM_LEASE = timedelta(minutes=2)
ACCEPTED, TAKEN, EXPIRED, DECLINED, ENDED = "accepted", "taken", "expired", "declined", "ended"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def offer_for_token(token: str) -> Offer | None:
    if not token or len(token) > 100:
        return None
    return (
        Offer.objects.filter(token_hash=hash_token(token))
        .select_related("slot__clinician", "client", "practice", "entry")
        .first()
    )


def _event(
    practice_id: int, event_type: str, now: datetime, data: dict, appointment_id=None, view=None
) -> None:
    """The signed webhook event, in the change's transaction: ids, times and states only. With
    ``view`` (a wave's `_PracticeView`) the practice's endpoints were read once for all its events."""
    endpoints = None
    if view is not None:
        endpoints = [endpoint for endpoint in view.endpoints if event_type in endpoint.event_types]
        if not endpoints:
            return
    webhook_event_record(
        practice_id=practice_id,
        event_type=event_type,
        occurred_at=now,
        appointment_id=appointment_id,
        data=data,
        endpoints=endpoints,
        now=now,
    )


@dataclass
class _PracticeView:
    """What offering a slot reads about its practice, once per task instead of once per use: the
    waitlist settings, the booking rules, the practice's quiet hours and languages (its reminder
    sequence) and its active webhook endpoints."""

    settings: WaitlistSettings
    rules: object
    practice_quiet: object
    languages: list[str]
    endpoints: list

    def language(self, chosen: str) -> str:
        """A client's message language, as messaging.languages.client_language decides it."""
        return chosen if chosen in self.languages else self.languages[0]


def _practice_view(practice: Practice, settings: WaitlistSettings | None = None) -> _PracticeView:
    sequence = sequence_for(practice)
    return _PracticeView(
        settings=settings or WaitlistSettings.for_practice(practice),
        rules=slot_rules(BookingPolicy.for_practice(practice), Audience.STAFF),
        practice_quiet=window(sequence.quiet_start, sequence.quiet_end, PRACTICE),
        languages=offered_languages(sequence),
        endpoints=list(WebhookEndpoint.objects.filter(practice_id=practice.pk, is_active=True)),
    )


def _offer_data(offer: Offer) -> dict:
    return {
        "offer": {
            "id": offer.pk,
            "status": offer.status,
            "waitlist_entry_id": offer.entry_id,
            "client_id": offer.client_id,
            "slot_id": offer.slot_id,
            "wave": offer.wave,
            "sent_at": offer.sent_at.isoformat(),
            "expires_at": offer.expires_at.isoformat(),
            "appointment_id": offer.appointment_id,
        }
    }


def _lock_calendars(*clinician_ids: int) -> None:
    """The booking services' calendar lock (scheduling.services._hold_calendars), taken first."""
    rows = ClinicianProfile.objects.select_for_update(no_key=True).filter(pk__in=set(clinician_ids))
    list(rows.order_by("pk").values_list("pk", flat=True))


# --- Settings and entries ----------------------------------------------------------------------


SETTINGS_FIELDS = [
    field.name
    for field in WaitlistSettings._meta.get_fields()
    if getattr(field, "concrete", False) and field.name not in ("id", "practice")
]


def waitlist_settings_update(*, practice: Practice, fields: dict) -> WaitlistSettings:
    with transaction.atomic():
        settings, _ = WaitlistSettings.objects.select_for_update().get_or_create(practice=practice)
        for name, value in fields.items():
            if name not in SETTINGS_FIELDS:
                raise ValueError(f"Not a waitlist setting: {name}")
            setattr(settings, name, value)
        settings.full_clean()
        settings.save()
    return settings


def _validate_entry(entry: WaitlistEntry, clinicians) -> None:
    errors: dict[str, list[str]] = {}
    if entry.client.practice_id != entry.practice_id:
        errors["client"] = ["This client is not a client of this practice."]
    if entry.service_type.practice_id != entry.practice_id:
        errors["service_type"] = ["This service is not offered by this practice."]
    if entry.modality and entry.modality not in Modality.values:
        errors["modality"] = ["Choose telehealth, in person, or either."]
    if any(c.practice_id != entry.practice_id for c in clinicians):
        errors["clinicians"] = ["Choose clinicians of this practice."]
    if not isinstance(entry.weekdays, list) or any(d not in range(7) for d in entry.weekdays):
        errors["weekdays"] = ["Weekdays are 0 (Monday) to 6 (Sunday)."]
    try:
        windows = entry.windows()
        if any(start >= end and end != time(0) for start, end in windows):
            errors["time_windows"] = ["Each time window must end after it starts."]
    except (TypeError, ValueError):
        errors["time_windows"] = ['Time windows look like [["09:00", "12:00"]].']
    if entry.earliest_date and entry.latest_date and entry.latest_date < entry.earliest_date:
        errors["latest_date"] = ["The latest date must not be before the earliest."]
    if entry.band not in Band.values:
        errors["band"] = ["Choose urgent, soon or routine."]
    if entry.earlier_than is not None:
        appointment = entry.earlier_than
        if (
            appointment.practice_id != entry.practice_id
            or not appointment.participants.filter(client_id=entry.client_id).exists()
        ):
            errors["earlier_than"] = ["Choose a session of this client."]
        elif appointment.status not in UPCOMING_STATUSES:
            errors["earlier_than"] = ["That session is not upcoming."]
    if errors:
        raise ValidationError(errors)


def waitlist_entry_create(
    *,
    practice: Practice,
    client: Client,
    service_type: ServiceType,
    modality: str = "",
    clinicians=(),
    weekdays=(),
    time_windows=(),
    earliest_date: date | None = None,
    latest_date: date | None = None,
    earlier_than: Appointment | None = None,
    band: str = Band.ROUTINE,
    note: str = "",
    by=None,
    now: datetime | None = None,
) -> WaitlistEntry:
    now = now or timezone.now()
    clinicians = list(clinicians)
    entry = WaitlistEntry(
        practice=practice,
        client=client,
        service_type=service_type,
        modality=modality,
        weekdays=sorted(set(weekdays)),
        time_windows=[list(w) for w in time_windows],
        earliest_date=earliest_date,
        latest_date=latest_date,
        earlier_than=earlier_than,
        band=band,
        note=note[:200],
        created_by=by,
        created_at=now,
    )
    _validate_entry(entry, clinicians)
    with transaction.atomic():
        entry.save()
        entry.clinicians.set(clinicians)
        _wake_waiting_slots(practice.pk, timezone.now())
    return entry


ENTRY_FIELDS = {
    "service_type",
    "modality",
    "weekdays",
    "time_windows",
    "earliest_date",
    "latest_date",
    "earlier_than",
    "band",
    "note",
    "status",
}


def waitlist_entry_update(*, entry: WaitlistEntry, fields: dict, clinicians=None) -> WaitlistEntry:
    """Change what an entry waits for. Status may go between active and paused only (resuming
    clears the count of expired offers)."""
    with transaction.atomic():
        entry = WaitlistEntry.objects.select_for_update(no_key=True).get(pk=entry.pk)
        for name, value in fields.items():
            if name not in ENTRY_FIELDS:
                raise ValueError(f"Not an entry field: {name}")
            if name == "status":
                if value not in (EntryStatus.ACTIVE, EntryStatus.PAUSED) or entry.status not in (
                    EntryStatus.ACTIVE,
                    EntryStatus.PAUSED,
                ):
                    raise ValidationError(
                        {"status": ["Only an active entry can be paused, or a paused one resumed."]}
                    )
                if value == EntryStatus.ACTIVE:
                    entry.expired_in_a_row = 0
            setattr(entry, name, value)
        clinicians = list(entry.clinicians.all()) if clinicians is None else list(clinicians)
        _validate_entry(entry, clinicians)
        entry.save()
        entry.clinicians.set(clinicians)
        _wake_waiting_slots(entry.practice_id, timezone.now())
    return entry


def waitlist_entry_remove(*, entry: WaitlistEntry, now: datetime | None = None) -> WaitlistEntry:
    """Take the client off the waitlist; a live offer of theirs is withdrawn."""
    now = now or timezone.now()
    with transaction.atomic():
        entry = WaitlistEntry.objects.select_for_update(no_key=True).get(pk=entry.pk)
        if entry.status in (EntryStatus.ACTIVE, EntryStatus.PAUSED):
            entry.status = EntryStatus.REMOVED
            entry.save(update_fields=["status", "updated_at"])
        Offer.objects.filter(entry=entry, status=OfferStatus.LIVE).update(
            status=OfferStatus.SKIPPED, settled_at=now
        )
    return entry


# --- The client's own entries (the booking page and the client home, in selfservice) ------------


def entries_of_client(client: Client):
    """A client's entries still waiting (active or paused), for their client home."""
    return (
        WaitlistEntry.objects.filter(
            practice_id=client.practice_id,
            client=client,
            status__in=[EntryStatus.ACTIVE, EntryStatus.PAUSED],
        )
        .select_related("service_type")
        .prefetch_related("clinicians")
        .order_by("created_at", "pk")
    )


def entry_create_from_booking_page(
    *,
    client: Client,
    service_type: ServiceType,
    modality: str = "",
    clinicians=(),
    weekdays=(),
    time_windows=(),
    earliest_date: date | None = None,
    latest_date: date | None = None,
    now: datetime | None = None,
) -> WaitlistEntry:
    """The booking page's "nothing fits — tell me when something opens": a routine entry made by
    the client themselves (the clinicians set the band later). A client already waiting for the
    same service has that entry's wishes replaced rather than a second entry made, so asking
    twice never doubles their offers. Without a latest date the entry lasts the practice's
    booking horizon (it expires then, instead of waiting for ever)."""
    now = now or timezone.now()
    practice = client.practice
    if service_type.practice_id != practice.pk or not service_type.is_active or service_type.is_group:
        raise ValidationError({"service_type": ["Choose one of the practice's individual services."]})
    if latest_date is None:
        horizon = BookingPolicy.for_practice(practice).horizon_days
        latest_date = (now + timedelta(days=horizon)).astimezone(client.zoneinfo(practice)).date()
    wishes = {
        "modality": modality,
        "weekdays": sorted(set(weekdays)),
        "time_windows": [list(w) for w in time_windows],
        "earliest_date": earliest_date,
        "latest_date": latest_date,
    }
    existing = (
        WaitlistEntry.objects.filter(
            practice=practice, client=client, service_type=service_type, status=EntryStatus.ACTIVE
        )
        .order_by("created_at")
        .first()
    )
    if existing is not None:
        return waitlist_entry_update(entry=existing, fields=wishes, clinicians=clinicians)
    return waitlist_entry_create(
        practice=practice,
        client=client,
        service_type=service_type,
        clinicians=clinicians,
        note="From the booking page.",
        now=now,
        **wishes,
    )


def entry_remove_by_client(
    *, entry: WaitlistEntry, client: Client, now: datetime | None = None
) -> WaitlistEntry:
    """The client home's "remove me": only the client's own entry (anything else is refused the
    same way as a missing one, so nobody learns whose entry an id is)."""
    if entry.client_id != client.pk or entry.practice_id != client.practice_id:
        raise ValidationError("This is not one of your waitlist entries.")
    return waitlist_entry_remove(entry=entry, now=now)


# --- Freed slots and waves ---------------------------------------------------------------------


def freed_slot_record(*, appointment_id: int, now: datetime | None = None) -> FreedSlot | None:
    """A cancellation or a move gave time back: remember it (once per appointment) to offer it.
    A slot a client moving up left behind is offered on at most ``max_cascade_steps`` deep."""
    return _record(appointment_id, now or timezone.now())[0]


def freed_slot_record_and_offer(*, appointment_id: int, now: datetime | None = None) -> list[Offer]:
    """What the worker does for a cancellation or a move (``tasks.offer_freed_slot``): record the
    freed slot and send its first wave in ONE transaction, reading the practice once for both.
    The offers carry ``message_id``: their message rows, for the sender right after the commit."""
    now = now or timezone.now()
    with transaction.atomic():
        slot, view = _record(appointment_id, now)
        if slot is None or slot.status != SlotStatus.OFFERING:
            return []
        return freed_slot_offer_next_wave(slot=slot, now=now, view=view)


def _record(appointment_id: int, now: datetime) -> tuple[FreedSlot | None, _PracticeView | None]:
    appointment = (
        Appointment.objects.select_related("service_type", "practice").filter(pk=appointment_id).first()
    )
    if appointment is None or appointment.status not in (
        AppointmentStatus.CANCELLED,
        AppointmentStatus.RESCHEDULED,
    ):
        return None
    settings = WaitlistSettings.for_practice(appointment.practice)
    if not settings.enabled or appointment.service_type.is_group or appointment.starts_at <= now:
        return None, None
    step = 1
    if appointment.status == AppointmentStatus.RESCHEDULED:
        moved_to = (
            Appointment.objects.filter(rescheduled_from=appointment).values_list("pk", flat=True).first()
        )
        filled = FreedSlot.objects.filter(filled_appointment_id=moved_to).first() if moved_to else None
        if filled is not None:
            step = filled.step + 1
            if step > settings.max_cascade_steps:
                return None, None
    too_soon = appointment.starts_at - now < timedelta(minutes=settings.min_lead_minutes)
    view = _practice_view(appointment.practice, settings)
    try:
        with transaction.atomic():
            slot = FreedSlot.objects.create(
                practice=appointment.practice,
                clinician_id=appointment.clinician_id,
                service_type=appointment.service_type,
                modality=appointment.modality,
                starts_at=appointment.starts_at,
                ends_at=appointment.ends_at,
                freed_at=now,
                source=SlotSource.MOVED
                if appointment.status == AppointmentStatus.RESCHEDULED
                else SlotSource.CANCELLED,
                source_appointment=appointment,
                step=step,
                status=SlotStatus.UNFILLED if too_soon else SlotStatus.OFFERING,
                reason="Too close to the start to offer." if too_soon else "",
                settled_at=now if too_soon else None,
            )
            _slot_freed_event(slot, now, appointment_id=appointment.pk, view=view)
    except IntegrityError:
        return FreedSlot.objects.filter(source_appointment=appointment).first(), view
    return slot, view


def _slot_freed_event(slot: FreedSlot, now: datetime, appointment_id: int | None = None, view=None) -> None:
    _event(
        slot.practice_id,
        EventType.SLOT_FREED,
        now,
        {
            "slot": {
                "id": slot.pk,
                "clinician_id": slot.clinician_id,
                "service_type_id": slot.service_type_id,
                "starts_at": slot.starts_at.isoformat(),
                "ends_at": slot.ends_at.isoformat(),
                "step": slot.step,
                "status": slot.status,
                "source": slot.source,
            }
        },
        appointment_id=appointment_id,
        view=view,
    )


# At most this many slots from one change (new weekly hours over the booking horizon give ~80).
MAX_SLOTS_PER_CHANGE = 200


def freed_time_record(
    *,
    clinician_id: int,
    windows: list[tuple[datetime, datetime]],
    source: str,
    key: str,
    service_type_id: int | None = None,
    modality: str = "",
    now: datetime | None = None,
) -> list[FreedSlot]:
    """Time given back other than by a session (``scheduling.freed_time``: a removed time off, new
    weekly hours; a declined or expired booking request): one ``FreedSlot`` for each start the
    open-slot selector says it makes bookable (a slot overlapping the freed time, inside the
    clinician's hours, clear of sessions, holds and time off, with the practice's buffer) that
    someone waiting could take, from the minimum lead up to the practice's booking horizon.

    Which service: the one asked for (a booking request), else the services waited for with this
    clinician, most wanted first, each taking the starts the ones before left. Modality: the one
    asked for, else either (blank) — the client's choice decides at booking. Recorded once per
    ``key`` and start, so a change handled twice offers nothing twice."""
    now = now or timezone.now()
    clinician = ClinicianProfile.objects.select_related("practice").filter(pk=clinician_id).first()
    if clinician is None or not clinician.is_active:
        return []
    practice = clinician.practice
    settings = WaitlistSettings.for_practice(practice)
    if not settings.enabled:
        return []
    booking_policy = BookingPolicy.for_practice(practice)
    earliest = now + timedelta(minutes=settings.min_lead_minutes)
    latest = now + timedelta(days=booking_policy.horizon_days)
    windows = [(max(start, earliest), min(end, latest)) for start, end in windows]
    windows = [(start, end) for start, end in windows if start < end]
    if not windows:
        return []
    wanting = _entries_wanting(clinician, service_type_id, modality)
    if not wanting:
        return []
    rules = slot_rules(booking_policy, Audience.STAFF)
    exact = service_type_id is not None
    taken = list(
        FreedSlot.objects.filter(
            clinician=clinician,
            status=SlotStatus.OFFERING,
            starts_at__lt=windows[-1][1] + timedelta(minutes=MAX_MINUTES),
            ends_at__gt=windows[0][0] - timedelta(minutes=MAX_MINUTES),
        ).values_list("starts_at", "ends_at")
    )
    chosen: list[tuple[ServiceType, Slot]] = []
    for service_type, entries in wanting:
        for slot in _starts_made_bookable(clinician, windows, service_type, exact, now, rules):
            if slot.starts_at < earliest:
                continue
            if any(slot.starts_at < t_end and t_start < slot.ends_at for t_start, t_end in taken):
                continue
            if not any(
                entry.accepts(
                    starts_at=slot.starts_at, ends_at=slot.ends_at, tz=entry.client.zoneinfo(practice)
                )
                for entry in entries
            ):
                continue
            taken.append((slot.starts_at, slot.ends_at))
            chosen.append((service_type, slot))
    slots = []
    for service_type, slot in sorted(chosen, key=lambda pair: pair[1].starts_at)[:MAX_SLOTS_PER_CHANGE]:
        try:
            with transaction.atomic():
                freed = FreedSlot.objects.create(
                    practice=practice,
                    clinician=clinician,
                    service_type=service_type,
                    modality=modality,
                    starts_at=slot.starts_at,
                    ends_at=slot.ends_at,
                    freed_at=now,
                    source=source,
                    source_key=f"{key}:{slot.starts_at.isoformat()}"[:80],
                )
                _slot_freed_event(freed, now)
        except IntegrityError:
            continue  # this change was handled already
        slots.append(freed)
    return slots


def _entries_wanting(
    clinician: ClinicianProfile, service_type_id: int | None, modality: str
) -> list[tuple[ServiceType, list[WaitlistEntry]]]:
    """The active entries this clinician could serve, by service, the most wanted service first."""
    offered = set(_clinician_modalities(clinician))
    entries = (
        WaitlistEntry.objects.filter(practice_id=clinician.practice_id, status=EntryStatus.ACTIVE)
        .filter(Q(clinicians__isnull=True) | Q(clinicians=clinician))
        .filter(service_type__is_active=True, service_type__is_group=False)
        .select_related("client", "service_type")
        .distinct()
    )
    if service_type_id is not None:
        entries = entries.filter(service_type_id=service_type_id)
    by_service: dict[int, list[WaitlistEntry]] = {}
    for entry in entries:
        if entry.modality and entry.modality not in ({modality} if modality else offered):
            continue
        by_service.setdefault(entry.service_type_id, []).append(entry)
    ordered = sorted(by_service.values(), key=lambda group: (-len(group), group[0].service_type_id))
    return [(group[0].service_type, group) for group in ordered]


def _starts_made_bookable(clinician, windows, service_type, exact: bool, now, rules) -> list[Slot]:
    """The open-slot selector's starts whose slot overlaps the freed windows. ``exact`` (a booking
    request's time): a window as long as the service is the slot itself, asked of the selector
    when its wave goes out, as a cancelled session's time is."""
    length = timedelta(minutes=service_type.default_minutes)
    found = []
    for start, end in windows:
        if exact and end - start == length:
            found.append(Slot(start, end))
            continue
        for slot in _open_slots_in(
            clinician, start - length + timedelta(minutes=1), end, service_type, now, rules
        ):
            if slot.ends_at > start and slot.starts_at < end:
                found.append(slot)
    return found


def _open_slots_in(clinician, starts, ends, service_type, now, rules) -> list[Slot]:
    """The open-slot selector over any range (it answers at most a month at a time)."""
    found: list[Slot] = []
    while starts < ends:
        chunk_end = min(starts + MAX_RANGE, ends)
        found += open_slots(
            clinician=clinician,
            starts=starts,
            ends=chunk_end,
            minutes=service_type.default_minutes,
            now=now,
            rules=rules,
        )
        starts = chunk_end
    return found


def channel_for(client: Client) -> tuple[str, str] | None:
    """(channel, address) for an offer: a text with consent on record unless they prefer e-mail,
    else e-mail; None when neither can reach them."""
    if client.has_sms_consent and client.preferred_channel == PreferredChannel.SMS:
        return "sms", client.phone.as_e164
    if client.email:
        return "email", client.email
    return None


def _bookable_start(slot: FreedSlot, now: datetime, rules) -> datetime | None:
    """Ask the open-slot selector (scheduling.availability) which start the freed time makes
    bookable: the freed time itself when the selector finds all of it free (every 5-minute start
    in it open: hours, time off, sessions, holds), else the selector's open start overlapping it
    nearest its own start (under the practice's buffer), else None."""
    length = slot.ends_at - slot.starts_at
    fine = open_slots(
        clinician=slot.clinician, starts=slot.starts_at, ends=slot.ends_at, minutes=MIN_MINUTES, now=now
    )
    starts = {s.starts_at for s in fine}
    needed = {slot.starts_at + timedelta(minutes=m) for m in range(0, slot.minutes, MIN_MINUTES)}
    if needed <= starts and rules.buffer == timedelta(0):
        return slot.starts_at
    found = open_slots(
        clinician=slot.clinician,
        starts=slot.starts_at - length + timedelta(minutes=1),
        ends=slot.ends_at,
        minutes=slot.minutes,
        now=now,
        rules=rules,
    )
    if not found:
        return None
    return min(found, key=lambda s: abs(s.starts_at - slot.starts_at)).starts_at


def _local_day_start(now: datetime, tz) -> datetime:
    return datetime.combine(now.astimezone(tz).date(), time(0), tzinfo=tz)


@dataclass
class _Reach:
    """What the candidate search read about the practice's waiting clients, in a fixed number of
    queries whatever their number: their offers of the last two days, their own quiet hours, the
    practice's, and who has a session at the slot's time."""

    offers: dict[int, list[tuple[str, datetime, datetime]]]  # status, sent, expires
    own_quiet: dict[int, tuple[time, time]]
    practice_quiet: object
    busy: dict[int, set[int]]
    chosen_language: dict[int, str]

    def quiet_windows(self, client_id: int) -> list:
        windows = [self.practice_quiet]
        if client_id in self.own_quiet:
            windows.append(window(*self.own_quiet[client_id], CLIENT))
        return windows


def _reach(slot: FreedSlot, now: datetime, view: _PracticeView) -> _Reach:
    offers: dict[int, list[tuple[str, datetime, datetime]]] = {}
    recent = Offer.objects.filter(practice_id=slot.practice_id).filter(
        Q(status=OfferStatus.LIVE) | Q(sent_at__gte=now - timedelta(days=2))
    )
    for client_id, *offer in recent.values_list("client_id", "status", "sent_at", "expires_at"):
        offers.setdefault(client_id, []).append(tuple(offer))
    own_quiet, chosen_language = {}, {}
    for client_id, start, end, language in (
        ClientPreferences.objects.filter(practice_id=slot.practice_id)
        .filter(Q(quiet_start__isnull=False, quiet_end__isnull=False) | ~Q(language=""))
        .values_list("client_id", "quiet_start", "quiet_end", "language")
    ):
        if start is not None and end is not None:
            own_quiet[client_id] = (start, end)
        chosen_language[client_id] = language
    busy: dict[int, set[int]] = {}
    for client_id, appointment_id in AppointmentParticipant.objects.filter(
        appointment__practice_id=slot.practice_id,
        appointment__status__in=SLOT_HOLDING_STATUSES,
        appointment__starts_at__lt=slot.ends_at,
        appointment__ends_at__gt=slot.starts_at,
    ).values_list("client_id", "appointment_id"):
        busy.setdefault(client_id, set()).add(appointment_id)
    return _Reach(
        offers=offers,
        own_quiet=own_quiet,
        practice_quiet=view.practice_quiet,
        busy=busy,
        chosen_language=chosen_language,
    )


def _waiting_entries(slot: FreedSlot):
    """The practice's active entries that could want this slot, judged by what SQL can say (the
    service, modality, clinician and dates, a day either side for the client's zone), each with
    the clinician of the client's last session before the slot: ONE query (plus one for the
    clinicians chosen), however many are waiting."""
    last_clinician = (
        Appointment.objects.filter(participants__client=OuterRef("client_id"), starts_at__lt=slot.starts_at)
        .exclude(status=AppointmentStatus.CANCELLED)
        .order_by("-starts_at")
        .values("clinician_id")[:1]
    )
    first_day, last_day = (
        (slot.starts_at - timedelta(days=1)).date(),
        (slot.ends_at + timedelta(days=1)).date(),
    )
    return (
        WaitlistEntry.objects.filter(
            practice_id=slot.practice_id, status=EntryStatus.ACTIVE, service_type_id=slot.service_type_id
        )
        .filter(Q(modality="") | Q(modality__in=_slot_modalities(slot)))
        .filter(Q(clinicians__isnull=True) | Q(clinicians=slot.clinician_id))
        .filter(Q(earliest_date__isnull=True) | Q(earliest_date__lte=last_day))
        .filter(Q(latest_date__isnull=True) | Q(latest_date__gte=first_day))
        .exclude(pk__in=Offer.objects.filter(slot=slot).values("entry_id"))
        .annotate(last_clinician_id=Subquery(last_clinician), client_zone=F("client__timezone"))
        .select_related("earlier_than", "practice")
        .distinct()
    )


def _clinician_modalities(clinician: ClinicianProfile) -> list[str]:
    offered = [m.strip() for m in clinician.modalities.split(",") if m.strip() in Modality.values]
    return offered or list(Modality.values)


def _slot_modalities(slot: FreedSlot) -> list[str]:
    """A slot freed by a session keeps its modality; time freed otherwise (blank) is either of the
    clinician's."""
    return [slot.modality] if slot.modality else _clinician_modalities(slot.clinician)


def _candidates(
    slot: FreedSlot,
    settings: WaitlistSettings,
    now: datetime,
    blocked_until: list | None = None,
    view: _PracticeView | None = None,
) -> list[tuple[WaitlistEntry, policy.Candidate]]:
    """The entries this slot may be offered to, best first. A fixed number of queries (about
    seven) however many entries wait: everything about the waiting clients is read for the
    practice at once (``_reach``) and judged here; the client rows (slow to build: phone numbers)
    only for the entries the slot suits. Each returned entry carries ``quiet_windows``.
    ``blocked_until`` collects when the clients who fit but cannot be offered it yet may be."""
    view = view or _practice_view(slot.practice, settings)
    reach = _reach(slot, now, view)
    suited = []
    for entry in _waiting_entries(slot):
        tz = ZoneInfo(entry.client_zone or slot.practice.timezone)
        if not entry.accepts(starts_at=slot.starts_at, ends_at=slot.ends_at, tz=tz):
            continue
        if entry.latest_date and now.astimezone(tz).date() > entry.latest_date:
            continue
        days_gained = 0.0
        moving = entry.earlier_than
        if moving is not None:
            if moving.status not in UPCOMING_STATUSES or moving.starts_at <= slot.starts_at:
                continue
            days_gained = (moving.starts_at - slot.starts_at) / timedelta(days=1)
            same = moving.clinician_id == slot.clinician_id
        else:
            same = entry.last_clinician_id == slot.clinician_id
        if reach.busy.get(entry.client_id, set()) - {moving.pk if moving is not None else None}:
            continue  # they have a session at that time (other than the one they would move)
        suited.append((entry, tz, same, days_gained))
    clients = Client.objects.in_bulk([entry.client_id for entry, *_ in suited])
    found = []
    for entry, tz, same, days_gained in suited:
        entry.client = clients[entry.client_id]
        if channel_for(entry.client) is None:
            continue
        offers = reach.offers.get(entry.client_id, [])
        day_start = _local_day_start(now, tz)
        live = [expires for status, _, expires in offers if status == OfferStatus.LIVE]
        today = sum(sent_at >= day_start for _, sent_at, _ in offers)
        if not policy.may_receive_offer(
            live_offers=len(live), offers_today=today, per_day=settings.offers_per_client_per_day
        ):
            # Blocked for now, not for good: until their live offer ends, or tomorrow (their day).
            _note(blocked_until, min(live) if live else _local_day_start(now + timedelta(days=1), tz))
            continue
        # Offers go out only when the client's quiet hours allow.
        entry.quiet_windows = reach.quiet_windows(entry.client_id)
        entry.language = view.language(reach.chosen_language.get(entry.client_id, ""))
        spell = quiet_spell(now, tz, entry.quiet_windows)
        if spell is not None:
            _note(blocked_until, spell.until)
            continue
        band = policy.effective_band(entry.band, waiting=entry.waiting(now), aging_days=settings.aging_days)
        found.append(
            (
                entry,
                policy.Candidate(
                    entry_id=entry.pk,
                    band=band,
                    same_clinician=same,
                    days_gained=days_gained,
                    waiting_since=entry.created_at,
                ),
            )
        )
    by_id = {candidate.entry_id: entry for entry, candidate in found}
    return [(by_id[c.entry_id], c) for c in policy.rank([c for _, c in found])]


def _note(times: list | None, when: datetime) -> None:
    if times is not None:
        times.append(when)


def _wake_waiting_slots(practice_id: int, now: datetime, freed_offers: list[Offer] | None = None) -> None:
    """Someone joined the waitlist (all the practice's waiting slots), or offers ended early and
    their clients are free again (``freed_offers``: the slots whose retry was those offers'
    expiry, i.e. that waited first for one of these clients): tried at the next sweep instead
    of at their planned retry."""
    waiting = FreedSlot.objects.filter(practice_id=practice_id, status=SlotStatus.OFFERING, retry_at__gt=now)
    if freed_offers is not None:
        waiting = waiting.filter(retry_at__in={offer.expires_at for offer in freed_offers})
    waiting.update(retry_at=now)


def _settle_slot(slot: FreedSlot, status: str, reason: str, now: datetime) -> None:
    if slot.hold_id is not None:
        Hold.objects.filter(pk=slot.hold_id).delete()
    slot.status, slot.reason, slot.settled_at, slot.hold = status, reason[:200], now, None
    slot.save(update_fields=["status", "reason", "settled_at", "hold"])


def _expire_offer(offer: Offer, settings: WaitlistSettings, now: datetime) -> None:
    offer.status, offer.expired_at, offer.settled_at = OfferStatus.EXPIRED, now, now
    offer.save(update_fields=["status", "expired_at", "settled_at"])
    entry = WaitlistEntry.objects.select_for_update(no_key=True).get(pk=offer.entry_id)
    entry.expired_in_a_row += 1
    if entry.status == EntryStatus.ACTIVE and policy.should_pause(
        entry.expired_in_a_row, settings.expired_in_a_row_to_pause
    ):
        entry.status = EntryStatus.PAUSED
        # Asked once, and not at night: an offer can run out during quiet hours (its hold is
        # capped by the slot's start), the question waits for the morning.
        key = f"paused:{entry.pk}:{entry.expired_in_a_row}"
        _plan_message(entry=entry, offer=None, key=key, now=now, due_at=_after_quiet_hours(entry, now))
    entry.save(update_fields=["expired_in_a_row", "status", "updated_at"])
    _event(offer.practice_id, EventType.WAITLIST_OFFER_EXPIRED, now, _offer_data(offer))


def _context(
    practice: Practice, clinician: ClinicianProfile, client: Client, starts_at: datetime, language: str
) -> dict[str, str]:
    local = starts_at.astimezone(client.zoneinfo(practice))
    return {
        "client_name": client.greeting_name,
        "clinician_name": clinician.display_name,
        "practice_name": practice.name,
        "practice_phone": str(practice.phone or ""),
        "session_date": local_date(local, language),
        "session_time": local_time(local, language),
    }


def offer_sms(context: dict[str, str], until: str, link: str, language: str = DEFAULT_LANGUAGE) -> str:
    """The offer text: the checked template, how long the hold lasts, the link."""
    body = render(text(language, "offer_sms"), context) + text(language, "offer_sms_tail").format(
        until=until, link=link
    )
    return body if language == DEFAULT_LANGUAGE else gsm7(body)


def _after_quiet_hours(entry: WaitlistEntry, now: datetime) -> datetime:
    """``now``, or the end of the client's quiet spell (the practice's or their own) if in one."""
    client = entry.client
    sequence = sequence_for(entry.practice)
    windows = [window(sequence.quiet_start, sequence.quiet_end, PRACTICE)]
    preferences = ClientPreferences.objects.filter(client=client).first()
    if preferences is not None:
        windows.append(window(preferences.quiet_start, preferences.quiet_end, CLIENT))
    spell = quiet_spell(now, client.zoneinfo(entry.practice), windows)
    return spell.until if spell is not None else now


def _plan_message(
    *,
    entry: WaitlistEntry,
    offer: Offer | None,
    key: str,
    now: datetime,
    token: str = "",
    due_at: datetime | None = None,
    language: str | None = None,
) -> OfferMessage | None:
    """One message row (unique key: planned once, ever), sent by offer_messages_dispatch. An
    offer's is made with the offer (its key is new); the "still want it?" one may be asked twice."""
    client = entry.client
    reach = channel_for(client)
    if reach is None:
        return None
    channel, to = reach
    practice = entry.practice
    language = language or client_language(client)
    if offer is not None:
        link = f"{django_settings.SITE_URL.rstrip('/')}/o/{token}"
        context = _context(practice, offer.slot.clinician, client, offer.slot.starts_at, language)
        # The hold's end on the client's clock, so they know how long they have (the clock stops
        # in their quiet hours, so it may be the next morning).
        until = _when(offer.expires_at.astimezone(client.zoneinfo(practice)), language, 0)
        if channel == "sms":
            subject, body = "", offer_sms(context, until, link, language)
        else:
            subject = text(language, "offer_email_subject")
            body = render(text(language, "offer_email"), context) + text(language, "offer_email_tail").format(
                until=until, link=link
            )
        valid_until = offer.expires_at
    else:
        context = _context(practice, ClinicianProfile(display_name=""), client, now, language)
        subject, body = (
            text(language, "still_wanted_subject"),
            render(text(language, "still_wanted"), context),
        )
        if channel == "sms" and language != DEFAULT_LANGUAGE:
            body = gsm7(body)
        valid_until = None
    fields = dict(
        practice=practice,
        entry=entry,
        offer=offer,
        channel=channel,
        to=to,
        subject=subject,
        body=body,
        valid_until=valid_until,
        due_at=due_at or now,
    )
    if offer is not None:
        return OfferMessage.objects.create(key=key, **fields)
    return OfferMessage.objects.get_or_create(key=key, defaults=fields)[0]


def freed_slot_offer_next_wave(
    *, slot: FreedSlot, now: datetime | None = None, force: bool = False, view: _PracticeView | None = None
) -> list[Offer]:
    """Send the next wave of offers for a freed slot, when its current wave is over (every offer
    expired, declined or skipped), or at once with ``force`` (staff: "offer this slot now").
    The wave's size and hold come from the lead time (policy.wave_for); the slot is held for the
    wave (one hold, shared by its offers). Nothing left to offer, or too late: the slot is settled
    as not refilled and its hold released."""
    now = now or timezone.now()
    view = view or _practice_view(slot.practice)
    settings = view.settings
    with transaction.atomic():
        _lock_calendars(slot.clinician_id)
        slot = (
            FreedSlot.objects.select_for_update(of=("self",), no_key=True)
            .select_related("practice", "clinician__practice")
            .get(pk=slot.pk)
        )
        if slot.status != SlotStatus.OFFERING:
            return []
        live = list(Offer.objects.select_for_update().filter(slot=slot, status=OfferStatus.LIVE))
        for offer in live:
            if offer.expires_at <= now:
                _expire_offer(offer, settings, now)
            elif force:
                offer.status, offer.settled_at = OfferStatus.SKIPPED, now
                offer.save(update_fields=["status", "settled_at"])
        if not force and any(offer.expires_at > now for offer in live):
            return []
        wave = policy.wave_for(slot.starts_at - now, settings)
        if wave is None:
            _settle_slot(slot, SlotStatus.UNFILLED, "Too close to the start to offer.", now)
            return []
        if slot.hold_id is not None:
            Hold.objects.filter(pk=slot.hold_id).delete()
            slot.hold = None
        start = _bookable_start(slot, now, view.rules)
        if start is None:
            _settle_slot(slot, SlotStatus.UNFILLED, "No longer free in the calendar.", now)
            return []
        if start != slot.starts_at:
            length = slot.ends_at - slot.starts_at
            slot.starts_at, slot.ends_at = start, start + length
        blocked_until: list[datetime] = []
        chosen = _candidates(slot, settings, now, blocked_until, view)[: wave.size]
        if not chosen and blocked_until:
            # Someone fits but cannot be offered it yet (their quiet hours, a live offer of another
            # slot, the day's limit): the sweep tries again once the first of them may be.
            slot.retry_at = min(blocked_until)
            slot.save(update_fields=["hold", "starts_at", "ends_at", "retry_at"])
            return []
        if not chosen:
            _settle_slot(slot, SlotStatus.UNFILLED, "Nobody on the waitlist fits.", now)
            return []
        # Each offer's clock stops during its client's quiet hours; never past the start less the lead.
        cap = min(
            slot.starts_at,
            max(slot.starts_at - timedelta(minutes=settings.min_lead_minutes), now + wave.hold),
        )
        expiries = {
            entry.pk: policy.offer_expiry(
                sent_at=now,
                hold=wave.hold,
                tz=entry.client.zoneinfo(slot.practice),
                windows=entry.quiet_windows,
                cap=cap,
            )
            for entry, _ in chosen
        }
        try:
            hold = hold_place(
                practice=slot.practice,
                clinician=slot.clinician,
                starts_at=slot.starts_at,
                ends_at=slot.ends_at,
                expires_at=max(expiries.values()),
                kind=HoldKind.WAITLIST_OFFER,
                client=chosen[0][0].client if len(chosen) == 1 else None,
                note=f"Waitlist: freed slot #{slot.pk}, wave {slot.wave + 1}",
                now=now,
            )
        except ValidationError:
            _settle_slot(slot, SlotStatus.UNFILLED, "No longer free in the calendar.", now)
            return []
        slot.wave += 1
        slot.hold, slot.retry_at = hold, None
        slot.save(update_fields=["wave", "hold", "starts_at", "ends_at", "retry_at"])
        offers = []
        for entry, _ in chosen:
            token = secrets.token_urlsafe(24)
            try:
                with transaction.atomic():
                    offer = Offer.objects.create(
                        practice=slot.practice,
                        entry=entry,
                        client=entry.client,
                        slot=slot,
                        hold=hold,
                        wave=slot.wave,
                        token_hash=hash_token(token),
                        sent_at=now,
                        expires_at=expiries[entry.pk],
                    )
            except IntegrityError:
                continue  # this client got a live offer of another slot a moment ago
            offer.slot = slot
            message = _plan_message(
                entry=entry,
                offer=offer,
                key=f"offer:{offer.pk}",
                now=now,
                token=token,
                language=entry.language,
            )
            offer.message_id = message.pk if message is not None else None
            _event(slot.practice_id, EventType.WAITLIST_OFFER_SENT, now, _offer_data(offer), view=view)
            offer.token = token  # for the caller (tests, the staff page's message); never stored
            offers.append(offer)
        if not offers:
            _settle_slot(slot, SlotStatus.UNFILLED, "Nobody on the waitlist fits.", now)
            return []
    return offers


def waitlist_sweep(*, now: datetime | None = None) -> int:
    """Every minute: entries past their latest date expire; slots whose wave is over get the
    next one (or settle). Safe to run twice: each slot is settled under its lock."""
    now = now or timezone.now()
    for entry_id, practice_tz, client_tz, latest in WaitlistEntry.objects.filter(
        status__in=[EntryStatus.ACTIVE, EntryStatus.PAUSED],
        latest_date__isnull=False,
        latest_date__lte=now.date(),
    ).values_list("pk", "practice__timezone", "client__timezone", "latest_date"):
        if now.astimezone(ZoneInfo(client_tz or practice_tz)).date() > latest:
            WaitlistEntry.objects.filter(
                pk=entry_id, status__in=[EntryStatus.ACTIVE, EntryStatus.PAUSED]
            ).update(status=EntryStatus.EXPIRED)
    sent = 0
    offering = FreedSlot.objects.filter(status=SlotStatus.OFFERING)
    # A wave's hold is gone (staff booked over the offer, which took it; or it ran out): if a
    # session now takes the time, the slot is filled by it. (A slot waiting for a client has no
    # hold either, but a retry time.)
    for slot in offering.filter(hold__isnull=True, wave__gt=0, retry_at__isnull=True):
        freed_slot_settle_if_taken(slot=slot, now=now)
    # The slots with something to do: no wave out (all its offers ended) and not waiting for a
    # client to become free. One query, not one per slot each minute.
    out = Offer.objects.filter(status=OfferStatus.LIVE, expires_at__gt=now).values("slot_id")
    due = (
        offering.filter(Q(retry_at__isnull=True) | Q(retry_at__lte=now))
        .exclude(pk__in=out)
        .select_related("practice")
    )
    for slot in due:
        sent += len(freed_slot_offer_next_wave(slot=slot, now=now))
    return sent


def waitlist_next_event(*, now: datetime) -> datetime | None:
    """When the sweep next has something to do: the first live offer to expire or the first
    waiting slot to retry (the benchmark's simulated clock jumps there)."""
    expiry = (
        Offer.objects.filter(status=OfferStatus.LIVE, expires_at__gt=now)
        .order_by("expires_at")
        .values_list("expires_at", flat=True)
        .first()
    )
    retry = (
        FreedSlot.objects.filter(status=SlotStatus.OFFERING, retry_at__gt=now)
        .order_by("retry_at")
        .values_list("retry_at", flat=True)
        .first()
    )
    # A slot already due (woken by an offer that ended early, or waiting on one not yet swept):
    # the next minute's sweep.
    due = FreedSlot.objects.filter(status=SlotStatus.OFFERING, retry_at__lte=now).exists()
    soon = now + timedelta(minutes=1) if due else None
    return min((t for t in (expiry, retry, soon) if t is not None), default=None)


def freed_slot_settle_if_taken(*, slot: FreedSlot, now: datetime | None = None) -> bool:
    """The hold of a slot on offer is gone and a session now takes its time (staff booked over
    the offer explicitly, which withdraws it): its live offers end as taken and the slot counts
    as filled by that session. True if so."""
    now = now or timezone.now()
    with transaction.atomic():
        _lock_calendars(slot.clinician_id)
        slot = FreedSlot.objects.select_for_update(no_key=True).get(pk=slot.pk)
        if slot.status != SlotStatus.OFFERING or slot.hold_id is not None:
            return False
        taker = (
            Appointment.objects.overlapping(
                clinician_id=slot.clinician_id, starts_at=slot.starts_at, ends_at=slot.ends_at
            )
            .order_by("created_at")
            .first()
        )
        if taker is None:
            return False
        Offer.objects.filter(slot=slot, status=OfferStatus.LIVE).update(
            status=OfferStatus.TAKEN, settled_at=now
        )
        slot.status, slot.filled_appointment, slot.settled_at = SlotStatus.FILLED, taker, now
        slot.reason = "Booked directly over the offer."
        slot.save(update_fields=["status", "filled_appointment", "settled_at", "reason"])
    return True


def freed_slot_reopen(*, slot: FreedSlot, now: datetime | None = None) -> list[Offer]:
    """Staff: "offer this slot now" — a slot not refilled (or still being offered) goes to the
    next wave at once, if it is still free and far enough ahead."""
    now = now or timezone.now()
    with transaction.atomic():
        updated = FreedSlot.objects.filter(pk=slot.pk, status=SlotStatus.UNFILLED).update(
            status=SlotStatus.OFFERING, reason="", settled_at=None
        )
    if not updated and slot.status != SlotStatus.OFFERING:
        raise ValidationError("This slot was refilled.")
    slot.refresh_from_db()
    return freed_slot_offer_next_wave(slot=slot, now=now, force=True)


def offer_skip(*, offer: Offer, now: datetime | None = None) -> list[Offer]:
    """Staff: "skip this client" — withdraw their live offer (their place stays) and, when that
    ends the wave, send the next one."""
    now = now or timezone.now()
    with transaction.atomic():
        changed = Offer.objects.filter(pk=offer.pk, status=OfferStatus.LIVE).update(
            status=OfferStatus.SKIPPED, settled_at=now
        )
    if not changed:
        raise ValidationError("This offer is no longer waiting for an answer.")
    _wake_waiting_slots(offer.practice_id, now, [offer])
    return freed_slot_offer_next_wave(slot=offer.slot, now=now)


# --- The client's answer -----------------------------------------------------------------------


def offer_accept(*, offer: Offer, now: datetime | None = None) -> str:
    """The client takes the slot: ONE locked transaction that books it through the booking
    services (a client moving up has their session rescheduled into it), withdraws the wave's
    other offers and fulfils the entry. Returns ACCEPTED; TAKEN when someone else was first
    (nothing changes for this client: they keep their place); EXPIRED; or the offer's end."""
    now = now or timezone.now()
    entry = WaitlistEntry.objects.select_related("earlier_than").get(pk=offer.entry_id)
    moving = (
        entry.earlier_than if entry.earlier_than and entry.earlier_than.status in UPCOMING_STATUSES else None
    )
    clinician_id = FreedSlot.objects.values_list("clinician_id", flat=True).get(pk=offer.slot_id)
    with transaction.atomic():
        _lock_calendars(clinician_id, *([moving.clinician_id] if moving else []))
        slot = (
            FreedSlot.objects.select_for_update(of=("self",), no_key=True)
            .select_related("practice", "clinician", "service_type")
            .get(pk=offer.slot_id)
        )
        offer = Offer.objects.select_for_update().get(pk=offer.pk)
        if offer.status == OfferStatus.ACCEPTED:
            return ACCEPTED
        if offer.status == OfferStatus.TAKEN:
            return TAKEN
        if offer.status != OfferStatus.LIVE:
            return ENDED
        if offer.expires_at <= now:
            return EXPIRED
        hold = Hold.objects.filter(pk=slot.hold_id).first() if slot.hold_id else None
        if slot.status != SlotStatus.OFFERING or hold is None or offer.hold_id != slot.hold_id:
            _taken(offer, now)
            return TAKEN
        client = Client.objects.get(pk=offer.client_id)
        try:
            with transaction.atomic():
                if moving is not None:
                    Hold.objects.filter(pk=hold.pk).delete()
                    appointment = appointment_reschedule(
                        appointment=moving,
                        starts_at=slot.starts_at,
                        ends_at=slot.ends_at,
                        clinician=slot.clinician,
                        now=now,
                    )
                else:
                    appointment = appointment_book(
                        practice=slot.practice,
                        clinician=slot.clinician,
                        clients=[client],
                        starts_at=slot.starts_at,
                        ends_at=slot.ends_at,
                        service_type=slot.service_type,
                        modality=entry.modality or _slot_modalities(slot)[0],
                        hold=hold,
                        now=now,
                    )
        except ValidationError:
            _taken(offer, now)
            return TAKEN
        offer.status, offer.accepted_at, offer.settled_at = OfferStatus.ACCEPTED, now, now
        offer.appointment, offer.hold = appointment, None
        offer.save(update_fields=["status", "accepted_at", "settled_at", "appointment", "hold"])
        others = list(Offer.objects.filter(slot=slot, status=OfferStatus.LIVE).only("expires_at"))
        Offer.objects.filter(pk__in=[other.pk for other in others]).update(
            status=OfferStatus.TAKEN, settled_at=now
        )
        slot.status, slot.filled_appointment, slot.settled_at, slot.hold = (
            SlotStatus.FILLED,
            appointment,
            now,
            None,
        )
        slot.save(update_fields=["status", "filled_appointment", "settled_at", "hold"])
        WaitlistEntry.objects.filter(pk=entry.pk).update(status=EntryStatus.FULFILLED, expired_in_a_row=0)
        _wake_waiting_slots(slot.practice_id, now, others)  # the wave's other clients are free again
        _event(
            slot.practice_id,
            EventType.WAITLIST_OFFER_ACCEPTED,
            now,
            _offer_data(offer),
            appointment_id=appointment.pk,
        )
    return ACCEPTED


def _taken(offer: Offer, now: datetime) -> None:
    offer.status, offer.settled_at = OfferStatus.TAKEN, now
    offer.save(update_fields=["status", "settled_at"])
    _wake_waiting_slots(offer.practice_id, now, [offer])


def offer_decline(*, offer: Offer, now: datetime | None = None) -> str:
    """The client says no to this time (their place stays); when that ends the wave, the next
    one goes out."""
    now = now or timezone.now()
    with transaction.atomic():
        changed = Offer.objects.filter(pk=offer.pk, status=OfferStatus.LIVE, expires_at__gt=now).update(
            status=OfferStatus.DECLINED, declined_at=now, settled_at=now
        )
        if changed:
            WaitlistEntry.objects.filter(pk=offer.entry_id).update(expired_in_a_row=0)
            _wake_waiting_slots(offer.practice_id, now, [offer])
    if not changed:
        return ENDED
    freed_slot_offer_next_wave(slot=offer.slot, now=now)
    return DECLINED


# --- Sending -------------------------------------------------------------------------------------


def offer_messages_dispatch(
    *,
    now: datetime | None = None,
    limit: int = 50,
    sms_backend=None,
    email_backend=None,
    ids: list[int] | None = None,
) -> int:
    """Send due offer messages, each at most once: claim by a conditional UPDATE (planned →
    claimed, with a lease), commit, then mark sending and hand it to the backend, and record what
    came back. A claim whose lease ran out before sending goes back to planned (it never reached
    the provider); a row left in ``sending`` becomes ``unknown`` and is never resent.

    ``ids``: only these rows (the worker's task, right after committing the offers it made: the
    same claim and the same states, without looking for other due rows or lapsed leases — the
    minute sweep does that)."""
    now = now or timezone.now()
    if ids is None:
        OfferMessage.objects.filter(state=MessageState.CLAIMED, lease_until__lt=now).update(
            state=MessageState.PLANNED, claim_token=""
        )
        OfferMessage.objects.filter(state=MessageState.SENDING, lease_until__lt=now).update(
            state=MessageState.UNKNOWN, reason="The sender stopped while sending; not resent automatically."
        )
        ids = list(
            OfferMessage.objects.filter(state=MessageState.PLANNED, due_at__lte=now).values_list(
                "pk", flat=True
            )[:limit]
        )
    if not ids:
        return 0
    token = uuid.uuid4().hex
    OfferMessage.objects.filter(pk__in=ids, state=MessageState.PLANNED, due_at__lte=now).update(
        state=MessageState.CLAIMED, claim_token=token, lease_until=now + CLAIM_LEASE
    )
    sent = 0
    for message in OfferMessage.objects.filter(
        pk__in=ids, claim_token=token, state=MessageState.CLAIMED
    ).select_related("offer"):
        if message.offer is not None and not message.offer.is_live_at(now):
            OfferMessage.objects.filter(pk=message.pk, claim_token=token).update(
                state=MessageState.SKIPPED, reason="The offer ended before it was sent.", body=""
            )
            continue
        if not OfferMessage.objects.filter(
            pk=message.pk, claim_token=token, state=MessageState.CLAIMED
        ).update(state=MessageState.SENDING):
            continue
        try:
            if message.channel == "sms":
                backend = sms_backend or get_sms_backend()
                result = backend.send(
                    SMSMessage(to=message.to, body=message.body, valid_until=message.valid_until)
                )
            else:
                backend = email_backend or get_email_backend()
                result = backend.send(
                    EmailMessageData(to=message.to, subject=message.subject, text=message.body)
                )
        except ChannelError as error:
            state = MessageState.UNKNOWN if error.ambiguous else MessageState.FAILED
            OfferMessage.objects.filter(pk=message.pk, claim_token=token).update(
                state=state, reason=str(error)[:300]
            )
            continue
        except Exception as error:  # a bug in a backend: the provider may have it
            logger.exception("waitlist message %s", message.pk)
            OfferMessage.objects.filter(pk=message.pk, claim_token=token).update(
                state=MessageState.UNKNOWN, reason=f"Unexpected error: {type(error).__name__}"
            )
            continue
        OfferMessage.objects.filter(pk=message.pk, claim_token=token).update(
            state=MessageState.ACCEPTED,
            provider_message_id=result.provider_message_id[:100],
            sent_at=now,
            body="",  # the link's token is not kept once sent
        )
        sent += 1
    return sent


def slot_label(offer: Offer) -> str:
    """The slot on the client's clock, for the offer page."""
    return local_label(offer.slot.starts_at, offer.client.zoneinfo(offer.practice))


def offer_accept_by_text(*, clients: list[Client], now: datetime) -> str | None:
    """A "YES" text from these clients' number (messaging.inbound_hooks): if exactly one of them
    holds a live offer that was texted to them, accept it and say how it went; else None (the
    YES is then an ordinary opt-in, and a family phone with two live offers is not guessed)."""
    offers = list(
        Offer.objects.filter(
            client__in=clients,
            status=OfferStatus.LIVE,
            expires_at__gt=now,
            messages__channel="sms",
            messages__state=MessageState.ACCEPTED,
        )
        .select_related("slot__clinician", "client", "practice")
        .distinct()
    )
    if len(offers) != 1:
        return None
    offer = offers[0]
    outcome = offer_accept(offer=offer, now=now)
    language = client_language(offer.client)
    if outcome == ACCEPTED:
        when = offer.slot.starts_at.astimezone(offer.client.zoneinfo(offer.practice))
        answer = text(language, "yes_done").format(
            clinician=offer.slot.clinician.display_name, when=_when(when, language, 1)
        )
    elif outcome == TAKEN:
        answer = text(language, "yes_taken")
    else:
        answer = text(language, "yes_ended")
    return answer if language == DEFAULT_LANGUAGE else gsm7(answer)

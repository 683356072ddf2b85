"""Self-service writes (SPEC F4): one-time codes, booking requests and the practice's answer.

Every function is a transaction boundary. Messages to the person (the code, a decline) go out
after the commit and carry the practice's name, a time and nothing else; approval books through
``scheduling.services.appointment_book``, so the confirmation, reminders and meeting follow as for
any booking.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext

from integrations.models import EventType
from integrations.outbox import webhook_event_record
from messaging.backends import get_sms_backend
from messaging.backends.base import ChannelError, SMSMessage
from messaging.languages import local_date, local_time
from messaging.preferences import client_language_set
from practice.client_language import practice_languages
from practice.consent import (
    CARRIER_UNSUBSCRIBED_CODE,
    client_sms_opt_in,
    client_sms_opt_out_from_carrier,
    normalise_phone,
)
from practice.models import (
    Client,
    ClientStatus,
    ConsentAction,
    ConsentChannel,
    ConsentEvent,
    ConsentSource,
    Practice,
)
from practice.services import client_create
from scheduling.availability import Slot, open_slots
from scheduling.freed_time import REQUEST_DECLINED, REQUEST_EXPIRED, FreedTime, publish_on_commit
from scheduling.models import AppointmentSource, HoldKind
from scheduling.services import appointment_book, hold_place, hold_release
from selfservice.models import (
    BookingRequest,
    BookingRequestStatus,
    Concern,
    MatchingProfile,
    OnlineBooking,
    Payer,
    VerificationCode,
    VerificationPurpose,
)
from selfservice.models import VerificationChannel as Channel
from selfservice.selectors import new_client_rules, times_for
from waitlist.services import entry_create_from_booking_page

logger = logging.getLogger(__name__)

# A booking request is waiting while it is pending (for the practice) or has a proposed time (for
# the person); either way its hold keeps the time.
WAITING_STATUSES = (BookingRequestStatus.PENDING, BookingRequestStatus.PROPOSED)
PROPOSAL_TOKEN_BYTES = 24
MAX_TOKEN_LENGTH = 64

CODE_LIFETIME = timedelta(minutes=10)
CODE_ATTEMPTS = 5
# Rate limits (issue 15), the same for codes by e-mail and by text and for client-home links:
# requests for one address, and for everyone of one practice, counted per purpose.
PER_ADDRESS = (3, timedelta(minutes=15))
PER_PRACTICE = (60, timedelta(hours=1))


class RateLimited(Exception):
    """Too many codes were asked for; the page says to try again later."""


def online_booking_of(practice: Practice) -> OnlineBooking:
    """The practice's settings, or unsaved defaults (booking off): reading never writes."""
    settings_row = OnlineBooking.objects.filter(practice=practice).first()
    return settings_row if settings_row is not None else OnlineBooking(practice=practice)


# --- Business hours ----------------------------------------------------------------------------


def add_business_hours(*, start: datetime, hours: int, practice: Practice) -> datetime:
    """The instant ``hours`` business hours after ``start``: the practice's daily hours on its
    clock, Monday to Friday. A request made on Friday evening with 24 hours to decide is held
    until the practice has had 24 working hours to look at it."""
    tz = practice.zoneinfo
    # str() first: a practice made in this process still holds the field default "08:00".
    opens = time.fromisoformat(str(practice.business_hours_start))
    closes = time.fromisoformat(str(practice.business_hours_end))
    remaining = timedelta(hours=hours)
    cursor = start.astimezone(tz)
    for _ in range(400):  # bounded: 400 days cover any setting the form allows
        day = cursor.date()
        if day.weekday() < 5:
            day_open = datetime.combine(day, opens, tzinfo=tz)
            day_close = datetime.combine(day, closes, tzinfo=tz)
            begin = max(cursor, day_open)
            if begin < day_close:
                available = day_close - begin
                if remaining <= available:
                    return begin + remaining
                remaining -= available
        cursor = datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz)
    raise ValueError("The practice's business hours are empty.")


# --- One-time codes ----------------------------------------------------------------------------


def keyed_digest(value: str) -> str:
    return hmac.new(settings.SECRET_KEY.encode(), value.encode(), hashlib.sha256).hexdigest()


def normalized_address(address: str) -> str:
    return address.strip().lower()


def rate_limit_count(*, practice: Practice, purpose: str, address_hash: str, now: datetime) -> None:
    """Refuse (``RateLimited``) one more request of ``purpose`` past the per-practice or the
    per-address limit. Counted whether or not the address is known, so the limits say nothing
    either. Call it in the transaction that then records the request's row."""
    per_address, address_window = PER_ADDRESS
    per_practice, practice_window = PER_PRACTICE
    recent = VerificationCode.objects.filter(practice=practice, purpose=purpose)
    if recent.filter(created_at__gt=now - practice_window).count() >= per_practice:
        raise RateLimited("practice")
    if recent.filter(address_hash=address_hash, created_at__gt=now - address_window).count() >= per_address:
        raise RateLimited("address")


def address_key(address: str, channel: str) -> str:
    """The form of an address that is hashed: a lower-case e-mail, or a phone number in E.164."""
    return normalise_phone(address) if channel == Channel.SMS else normalized_address(address)


def verification_code_send(
    *,
    practice: Practice,
    address: str,
    channel: str = Channel.EMAIL,
    purpose: str = VerificationPurpose.BOOKING,
    now: datetime | None = None,
) -> None:
    """Send a six-digit code to ``address``, an e-mail or (``channel`` sms) a mobile number. The
    same whether or not the address is known to the practice; refused (``RateLimited``) past the
    per-address or per-practice limit, the same limits for both channels."""
    now = now or timezone.now()
    key = address_key(address, channel)
    if not key:
        raise ValidationError({"address": [gettext("Enter a valid address.")]})
    address_hash = keyed_digest(key)
    with transaction.atomic():
        rate_limit_count(practice=practice, purpose=purpose, address_hash=address_hash, now=now)
        code = f"{secrets.randbelow(10**6):06d}"
        VerificationCode.objects.create(
            practice=practice,
            purpose=purpose,
            address_hash=address_hash,
            code_hash=keyed_digest(f"{address_hash}:{code}"),
            created_at=now,
            expires_at=now + CODE_LIFETIME,
        )
    if channel == Channel.SMS:
        _text_code(practice=practice, phone=key, code=code, now=now)
        return
    minutes = int(CODE_LIFETIME.total_seconds() // 60)
    send_mail(
        subject=gettext("Your code for %(practice)s: %(code)s") % {"practice": practice.name, "code": code},
        message=gettext(
            "Your code is %(code)s. Enter it on %(practice)s's booking page to continue.\n"
            "It works for %(minutes)s minutes. If you did not ask for it, you can ignore this e-mail."
        )
        % {"code": code, "practice": practice.name, "minutes": minutes},
        from_email=None,
        recipient_list=[address],
    )


def number_refuses_texts(*, practice: Practice, phone: str) -> bool:
    """True when a client of the practice with this number has withdrawn SMS consent (STOP, a
    carrier refusal, or recorded by staff) and not given it again: a code is not texted there."""
    latest = (
        ConsentEvent.objects.filter(practice=practice, client__phone=phone, channel=ConsentChannel.SMS)
        .order_by("-at", "-pk")
        .values_list("action", flat=True)
        .first()
    )
    return latest == ConsentAction.OPT_OUT


def _text_code(*, practice: Practice, phone: str, code: str, now: datetime) -> None:
    """Text the code at once, through the SMS backend the reminders use, from the practice's sender.

    A code the person just asked for on our page is a transactional one-time message: it needs no
    prior SMS consent (consent covers reminders) and is sent outside the outbox, so quiet hours do
    not delay it. A number that said STOP is still respected: it gets nothing, and the page
    answers the same (the person can ask for the code by e-mail). A failed send is logged without
    the number."""
    minutes = int(CODE_LIFETIME.total_seconds() // 60)
    body = gettext("%(code)s is your code for %(practice)s. It works for %(minutes)s minutes.") % {
        "code": code,
        "practice": practice.name,
        "minutes": minutes,
    }
    asked_for_text_send(
        practice=practice, phone=phone, body=body, what="Code", valid_for=CODE_LIFETIME, now=now
    )


def asked_for_text_send(
    *, practice: Practice, phone: str, body: str, what: str, valid_for: timedelta, now: datetime
) -> None:
    """Text something the person just asked for on our pages (a code, their home link) at once,
    from the practice's sender, outside the outbox; a number that said STOP gets nothing. ``what``
    names it in the log, which never carries the number."""
    if number_refuses_texts(practice=practice, phone=phone):
        return
    from_number = practice.sms_from_number.as_e164 if practice.sms_from_number else ""
    try:
        get_sms_backend().send(
            SMSMessage(to=phone, body=body, from_number=from_number, valid_until=now + valid_for)
        )
    except ChannelError as error:
        logger.warning("%s text (practice %s) not sent: %s", what, practice.pk, error.code or "error")
        if error.code == CARRIER_UNSUBSCRIBED_CODE:
            client_sms_opt_out_from_carrier(phone=phone, now=now, from_number=from_number)


def verification_code_check(
    *,
    practice: Practice,
    address: str,
    code: str,
    channel: str = Channel.EMAIL,
    purpose: str = VerificationPurpose.BOOKING,
    now: datetime | None = None,
) -> bool:
    """True once for the right code of the address's latest live code; each wrong try counts."""
    now = now or timezone.now()
    address_hash = keyed_digest(address_key(address, channel))
    with transaction.atomic():
        latest = (
            VerificationCode.objects.select_for_update()
            .filter(practice=practice, purpose=purpose, address_hash=address_hash, used_at__isnull=True)
            .order_by("-created_at")
            .first()
        )
        if latest is None or latest.expires_at <= now or latest.attempts >= CODE_ATTEMPTS:
            return False
        if not hmac.compare_digest(latest.code_hash, keyed_digest(f"{address_hash}:{code.strip()}")):
            VerificationCode.objects.filter(pk=latest.pk).update(attempts=latest.attempts + 1)
            return False
        VerificationCode.objects.filter(pk=latest.pk).update(used_at=now)
        return True


# --- Booking requests --------------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    first_name: str
    last_name: str
    email: str
    phone: str  # E.164 or empty
    timezone: str
    sms_consent: bool


def booking_request_create(
    *,
    practice: Practice,
    clinician,
    service_type,
    modality: str,
    starts_at: datetime,
    person: Person,
    needs: dict,
    verified_by: str = Channel.EMAIL,
    page_language: str = "",
    now: datetime | None = None,
) -> BookingRequest:
    """Hold the slot and record the request, in one transaction. A slot taken meanwhile raises
    the booking services' ValidationError (the page shows fresh times). ``page_language``: the
    booking page's language, which the practice's e-mails about the request are written in."""
    now = now or timezone.now()
    online = online_booking_of(practice)
    if not online.enabled:
        raise ValidationError("This practice does not take bookings online.")
    verified_address = person.phone if verified_by == Channel.SMS else person.email
    if not online.accepts_new_clients and not known_client_for(
        practice=practice, address=verified_address, channel=verified_by
    ):
        # Existing clients may still ask for a time; someone new is told before anything is held.
        raise not_accepting_new_clients(practice)
    ends_at = starts_at + timedelta(minutes=service_type.default_minutes)
    expires_at = add_business_hours(start=now, hours=online.request_hold_hours, practice=practice)
    with transaction.atomic():
        hold = hold_place(
            practice=practice,
            clinician=clinician,
            starts_at=starts_at,
            ends_at=ends_at,
            expires_at=expires_at,
            kind=HoldKind.BOOKING_REQUEST,
            note="Online booking request",
            now=now,
        )
        request = BookingRequest.objects.create(
            practice=practice,
            clinician=clinician,
            service_type=service_type,
            modality=modality,
            starts_at=starts_at,
            ends_at=ends_at,
            hold=hold,
            first_name=person.first_name,
            last_name=person.last_name,
            email=person.email,
            phone=person.phone,
            timezone=person.timezone,
            sms_consent=person.sms_consent,
            verified_by=verified_by,
            policy_accepted_at=now,
            expires_at=expires_at,
            payer_id=needs.get("payer_id"),
            age_group=needs.get("age_group", ""),
            state=needs.get("state", ""),
            language=needs.get("language", ""),
            page_language=page_language,
            created_at=now,
        )
        request.concerns.set(needs.get("concern_ids", []))
        _record_event(request, EventType.BOOKING_REQUESTED, now)
    return request


# --- Known clients book instantly ---------------------------------------------------------------


def not_accepting_new_clients(practice: Practice) -> ValidationError:
    """The practice's "no new clients online" answer, shown only after the code is verified (so
    the page never tells whether an address belongs to a client)."""
    return ValidationError(
        gettext("%(practice)s is not taking new clients online right now. Please call us.")
        % {"practice": practice.name},
        code="not_accepting",
    )


def known_client_for(*, practice: Practice, address: str, channel: str) -> Client | None:
    """The practice's one active client with this verified e-mail (any case) or mobile number;
    None when there is none or more than one (a shared family address makes a request)."""
    key = address_key(address, channel)
    if not key:
        return None
    by_address = {"phone": key} if channel == Channel.SMS else {"email__iexact": key}
    clients = Client.objects.for_practice(practice).filter(status=ClientStatus.ACTIVE, **by_address)
    found = list(clients.order_by("pk")[:2])
    return found[0] if len(found) == 1 else None


def booking_instant_create(
    *,
    practice: Practice,
    client: Client,
    clinician,
    service_type,
    modality: str,
    starts_at: datetime,
    sms_consent_phone: str = "",
    now: datetime | None = None,
):
    """Book a known client's pick at once, where the practice allows it: the time must still be
    one the booking page offers, and the booking services keep every rule (no overlap with a
    session or hold, the client in one session at a time) and send the confirmation, reminders
    and meeting as for any booking. ``sms_consent_phone``: the number the person agreed to get
    texts at on the page; recorded (source "Online booking page") only if it is the client's own
    number and they have not consented yet. Raises ValidationError (the page shows fresh times)."""
    now = now or timezone.now()
    online = online_booking_of(practice)
    if not (online.enabled and online.known_clients_book_instantly):
        raise ValidationError("This practice does not book clients instantly online.")
    if client.practice_id != practice.pk:
        raise ValidationError("This client is not a client of this practice.")
    with transaction.atomic():
        if not slot_is_open(clinician=clinician, service_type=service_type, starts_at=starts_at, now=now):
            raise ValidationError({"starts_at": ["That time is no longer open."]}, code="taken")
        appointment = appointment_book(
            practice=practice,
            clinician=clinician,
            clients=[client],
            starts_at=starts_at,
            service_type=service_type,
            modality=modality,
            source=AppointmentSource.CLIENT_BOOKING,
            now=now,
        )
        if sms_consent_phone and client.sms_consent_at is None and client.phone == sms_consent_phone:
            client_sms_opt_in(client=client, source=ConsentSource.ONLINE_BOOKING, now=now)
    return appointment


# --- "Nothing fits — tell me when something opens" ----------------------------------------------


def waitlist_join_from_booking_page(
    *,
    practice: Practice,
    person: Person,
    address: str,
    channel: str,
    service_type,
    modality: str,
    clinicians,
    weekdays,
    time_windows,
    latest_date,
    now: datetime | None = None,
):
    """Put the person whose ``address`` was just verified on the practice's waitlist
    (waitlist.services.entry_create_from_booking_page: asking twice updates their entry). A known
    client (exactly one active client with the address) waits as themselves; anyone else gets a
    client record made from the page's details (source "online booking", SMS consent recorded
    as ticked) where the practice accepts new clients, else ValidationError. Returns the entry."""
    now = now or timezone.now()
    online = online_booking_of(practice)
    if not online.enabled:
        raise ValidationError("This practice does not take bookings online.")
    with transaction.atomic():
        client = known_client_for(practice=practice, address=address, channel=channel)
        if client is None:
            if not online.accepts_new_clients:
                raise not_accepting_new_clients(practice)
            client = client_create(
                practice=practice,
                fields={
                    "first_name": person.first_name,
                    "last_name": person.last_name,
                    "email": person.email,
                    "phone": person.phone,
                    "timezone": person.timezone,
                    "source": "online_booking",
                },
                sms_consent=person.sms_consent and bool(person.phone),
                consent_source=ConsentSource.ONLINE_BOOKING,
                by=None,
            )
        return entry_create_from_booking_page(
            client=client,
            service_type=service_type,
            modality=modality,
            clinicians=clinicians,
            weekdays=weekdays,
            time_windows=time_windows,
            latest_date=latest_date,
            now=now,
        )


def _record_event(request: BookingRequest, event_type: str, now: datetime) -> None:
    """The signed webhook event, in the change's transaction. Ids, times and states only: never
    the person's name, contact details, concerns or the decline's wording (docs/webhooks.md)."""
    webhook_event_record(
        practice_id=request.practice_id,
        event_type=event_type,
        occurred_at=now,
        appointment_id=request.appointment_id,
        data={
            "booking_request": {
                "id": request.pk,
                "status": request.status,
                "clinician_id": request.clinician_id,
                "service_type_id": request.service_type_id,
                "modality": request.modality,
                "starts_at": request.starts_at.isoformat(),
                "ends_at": request.ends_at.isoformat(),
                "expires_at": request.expires_at.isoformat(),
                "appointment_id": request.appointment_id,
            }
        },
        now=now,
    )


def _pending(request: BookingRequest, now: datetime, also: tuple[str, ...] = ()) -> BookingRequest:
    """The request, locked, if it is still waiting (``also``: other waiting states the caller
    accepts) and its hold has not run out."""
    locked = (
        # Only the request row: PostgreSQL refuses FOR UPDATE on the nullable side of the
        # hold's outer join; the hold itself is guarded by the no-overlap rule.
        BookingRequest.objects.select_for_update(of=("self",)).select_related("hold").get(pk=request.pk)
    )
    waiting = (BookingRequestStatus.PENDING, *also)
    if locked.status in WAITING_STATUSES and locked.expires_at <= now:
        raise ValidationError("This request expired: its time is no longer held.")
    if locked.status == BookingRequestStatus.PROPOSED and locked.status not in waiting:
        raise ValidationError("Another time was proposed: the person answers it from their link.")
    if locked.status not in waiting:
        raise ValidationError(f"This request was already {locked.get_status_display().lower()}.")
    return locked


def _client_for(request: BookingRequest, *, by, now: datetime) -> Client:
    """The practice's client with this e-mail, or a new one from the request's details. The person
    accepted the practice's cancellation and no-show policy on the booking page: a new record
    carries that date (the no-show notice names the fee only to clients who signed it)."""
    if request.verified_by == Channel.SMS:
        # The code proved the number, not the e-mail the person typed: only the number may find
        # an existing record (a typed e-mail must not attach the booking to someone else's).
        existing = known_client_for(practice=request.practice, address=request.phone, channel=Channel.SMS)
    else:
        existing = Client.objects.for_practice(request.practice).filter(email__iexact=request.email).first()
    if existing is not None:
        return existing
    policy_day = request.policy_accepted_at.astimezone(request.practice.zoneinfo).date()
    client = client_create(
        practice=request.practice,
        fields={
            "first_name": request.first_name,
            "last_name": request.last_name,
            "email": request.email,
            "phone": request.phone,
            "timezone": request.timezone,
            "source": "online_booking",
            "no_show_policy_accepted_on": policy_day,
        },
        sms_consent=request.sms_consent and bool(request.phone),
        consent_source=ConsentSource.ONLINE_BOOKING,
        by=by,
    )
    # Someone who booked on the Spanish page reads their confirmation and reminders in Spanish.
    client_language_set(client=client, language=_page_language(request))
    return client


def booking_request_approve(*, request: BookingRequest, by, now: datetime | None = None):
    """Book the requested slot for the person (a client record is made if needed): the hold is
    given back and the session booked in one transaction, so nobody else can take the time."""
    now = now or timezone.now()
    with transaction.atomic():
        request = _pending(request, now)
        return _book_held_time(request, by=by, now=now)


def _book_held_time(request: BookingRequest, *, by, now: datetime) -> BookingRequest:
    """Book the request's (locked) held time through the booking services, which take up the hold
    in the same locked transaction: the confirmation, reminders and meeting follow."""
    client = _client_for(request, by=by, now=now)
    appointment = appointment_book(
        practice=request.practice,
        clinician=request.clinician,
        clients=[client],
        starts_at=request.starts_at,
        ends_at=request.ends_at,
        service_type=request.service_type,
        modality=request.modality,
        source=AppointmentSource.CLIENT_BOOKING,
        booked_by=by,
        hold=request.hold,
        now=now,
    )
    BookingRequest.objects.filter(pk=request.pk).update(
        status=BookingRequestStatus.APPROVED,
        decided_at=now,
        decided_by=by,
        appointment=appointment,
        hold=None,
    )
    request.refresh_from_db()
    _record_event(request, EventType.BOOKING_APPROVED, now)
    return request


def booking_request_decline(*, request: BookingRequest, by, reason: str, now: datetime | None = None):
    """Give the time back and tell the person, with the practice's reason. A request with a
    proposed time may be declined too (the practice takes its proposal back)."""
    now = now or timezone.now()
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": ["Say why, in a sentence the person will read."]})
    with transaction.atomic():
        request = _pending(request, now, also=(BookingRequestStatus.PROPOSED,))
        if request.hold is not None:
            hold_release(hold=request.hold)
        BookingRequest.objects.filter(pk=request.pk).update(
            status=BookingRequestStatus.DECLINED,
            decided_at=now,
            decided_by=by,
            decline_reason=reason[:300],
            hold=None,
        )
        request.refresh_from_db()
        _record_event(request, EventType.BOOKING_DECLINED, now)
        _publish_freed(request, (request.starts_at, request.ends_at), key=f"booking_request:{request.pk}")
    transaction.on_commit(lambda: _send_decline(request))
    return request


def _send_decline(request: BookingRequest) -> None:
    language = _page_language(request)
    with translation.override(language):
        send_mail(
            subject=gettext("%(practice)s: about your request") % {"practice": request.practice.name},
            message=gettext(
                "Hello %(name)s,\n\n%(practice)s could not offer the time you asked for (%(asked)s)."
                "\n\n%(reason)s\n\nYou can pick another time on the booking page or call %(phone)s."
            )
            % {
                "name": request.first_name,
                "practice": request.practice.name,
                "asked": _when(request.starts_at, request, language),
                "reason": request.decline_reason,
                "phone": request.practice.phone,
            },
            from_email=None,
            recipient_list=[request.email],
        )


def _page_language(request: BookingRequest) -> str:
    """The booking page's language the person used (requests made before it was recorded, and
    one no longer offered, get the practice's default)."""
    offered = practice_languages(request.practice)
    return request.page_language if request.page_language in offered else offered[0]


def _when(moment: datetime, request: BookingRequest, language: str) -> str:
    """A moment on the person's clock, in their language ("Thursday, December 10, 1:10 PM CST")."""
    local = moment.astimezone(ZoneInfo(request.timezone))
    return f"{local_date(local, language)}, {local_time(local, language)}"


def booking_requests_expire(*, now: datetime | None = None) -> int:
    """Mark waiting requests (pending, or with a proposed time) past their expiry as expired
    (their holds ran out with them and the hold sweep removes those). Safe to run twice: the
    second run finds nothing."""
    now = now or timezone.now()
    with transaction.atomic():
        expiring = list(
            BookingRequest.objects.select_for_update().filter(
                status__in=WAITING_STATUSES, expires_at__lte=now
            )
        )
        count = BookingRequest.objects.filter(
            pk__in=[r.pk for r in expiring], status__in=WAITING_STATUSES
        ).update(status=BookingRequestStatus.EXPIRED, decided_at=now)
        for request in expiring:
            request.status = BookingRequestStatus.EXPIRED  # its hold no longer keeps the time
            key = f"booking_request:{request.pk}"
            _publish_freed(request, (request.starts_at, request.ends_at), key=key, source=REQUEST_EXPIRED)
    return count


# --- Another time, proposed by the practice ----------------------------------------------------


def proposal_times(request: BookingRequest, *, now: datetime) -> list[Slot]:
    """The times the practice may propose instead: the same clinician's open starts for the same
    service under the booking page's rules (notice, horizon, buffer), the next days that have any."""
    return times_for(
        clinician=request.clinician, service=request.service_type, now=now, tz=request.practice.zoneinfo
    )


def slot_is_open(*, clinician, service_type, starts_at: datetime, now: datetime) -> bool:
    """Whether the booking page may still give ``starts_at``: one of the clinician's open starts
    for the service under the practice's new-client rules (hours, notice, horizon, buffer)."""
    rules = new_client_rules(clinician.practice)
    return any(
        slot.starts_at == starts_at
        for slot in open_slots(
            clinician=clinician,
            starts=starts_at,
            ends=starts_at + timedelta(minutes=1),
            minutes=service_type.default_minutes,
            now=now,
            rules=rules,
        )
    )


def booking_request_propose(
    *, request: BookingRequest, starts_at: datetime, by, now: datetime | None = None
) -> tuple[BookingRequest, str]:
    """Offer the person another open time instead of the one they asked for: the request's hold
    moves to it (under the calendar's no-overlap rule, in one transaction: if the new time cannot
    be held, the old hold stays), the hold runs for a fresh ``request_hold_hours`` business hours,
    and the person is e-mailed a link to accept or decline. Returns the request and the link's
    token (stored only hashed). Proposing again replaces the proposal and its link."""
    now = now or timezone.now()
    online = online_booking_of(request.practice)
    with transaction.atomic():
        request = _pending(request, now, also=(BookingRequestStatus.PROPOSED,))
        if starts_at == request.starts_at:
            raise ValidationError({"starts_at": ["Pick a time other than the one already held."]})
        # The request's own hold must not keep the new time out (a time half an hour later).
        if request.hold is not None:
            hold_release(hold=request.hold)
        given_back = (request.starts_at, request.ends_at)
        if not slot_is_open(
            clinician=request.clinician, service_type=request.service_type, starts_at=starts_at, now=now
        ):
            raise ValidationError({"starts_at": ["That time is no longer open. Pick another."]})
        ends_at = starts_at + timedelta(minutes=request.service_type.default_minutes)
        expires_at = add_business_hours(start=now, hours=online.request_hold_hours, practice=request.practice)
        hold = hold_place(
            practice=request.practice,
            clinician=request.clinician,
            starts_at=starts_at,
            ends_at=ends_at,
            expires_at=expires_at,
            kind=HoldKind.BOOKING_REQUEST,
            note="Time proposed to an online booking request",
            by=by,
            now=now,
        )
        token = secrets.token_urlsafe(PROPOSAL_TOKEN_BYTES)
        BookingRequest.objects.filter(pk=request.pk).update(
            status=BookingRequestStatus.PROPOSED,
            requested_starts_at=request.requested_starts_at or request.starts_at,
            starts_at=starts_at,
            ends_at=ends_at,
            hold=hold,
            expires_at=expires_at,
            proposed_at=now,
            proposed_by=by,
            proposal_token_hash=_token_hash(token),
        )
        request.refresh_from_db()
        _record_event(request, EventType.BOOKING_PROPOSED, now)
        # The time first held is free again (the waitlist may offer it), less what the proposal keeps.
        _publish_freed(request, given_back, key=f"booking_request:{request.pk}:moved:{int(now.timestamp())}")
    transaction.on_commit(lambda: _send_proposal(request, token))
    return request, token


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def proposal_for_token(token: str) -> BookingRequest | None:
    """The request a proposal link belongs to, whatever its state now (the page says what
    happened: booked, declined, expired); None for a link that never was or was replaced by a
    newer proposal. Once answered the link changes nothing more."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    return (
        BookingRequest.objects.select_related("practice", "clinician", "service_type")
        .filter(proposal_token_hash=_token_hash(token))
        .first()
    )


def _proposed(request: BookingRequest, now: datetime) -> BookingRequest:
    locked = (
        # Only the request row: PostgreSQL refuses FOR UPDATE on the nullable side of the
        # hold's outer join; the hold itself is guarded by the no-overlap rule.
        BookingRequest.objects.select_for_update(of=("self",)).select_related("hold").get(pk=request.pk)
    )
    if locked.status != BookingRequestStatus.PROPOSED:
        raise ValidationError("This proposal was already answered.")
    if locked.expires_at <= now:
        raise ValidationError("This proposal has expired: the time is no longer held for you.")
    return locked


def booking_request_accept_proposal(
    *, request: BookingRequest, now: datetime | None = None
) -> BookingRequest:
    """The person accepts the proposed time: booked as an approval is (by the member of staff who
    proposed it), in one locked transaction that takes up the hold."""
    now = now or timezone.now()
    with transaction.atomic():
        request = _proposed(request, now)
        return _book_held_time(request, by=request.proposed_by, now=now)


def booking_request_decline_proposal(
    *, request: BookingRequest, now: datetime | None = None
) -> BookingRequest:
    """The person turns the proposed time down: the request is withdrawn and the time is free
    again at once (``booking.declined``, status ``withdrawn``)."""
    now = now or timezone.now()
    with transaction.atomic():
        request = _proposed(request, now)
        if request.hold is not None:
            hold_release(hold=request.hold)
        BookingRequest.objects.filter(pk=request.pk).update(
            status=BookingRequestStatus.WITHDRAWN, decided_at=now, hold=None
        )
        request.refresh_from_db()
        _record_event(request, EventType.BOOKING_DECLINED, now)
        _publish_freed(request, (request.starts_at, request.ends_at), key=f"booking_request:{request.pk}")
    return request


def _publish_freed(
    request: BookingRequest, window: tuple[datetime, datetime], *, key: str, source: str = REQUEST_DECLINED
) -> None:
    """Announce, after the commit, time this request gave back (scheduling.freed_time: the
    waitlist offers it). The part of the window the request still holds is not free."""
    starts_at, ends_at = window
    if request.hold_id is not None and request.status in WAITING_STATUSES:
        if request.starts_at <= starts_at < request.ends_at:
            starts_at = request.ends_at
        if request.starts_at < ends_at <= request.ends_at:
            ends_at = request.starts_at
    if starts_at >= ends_at:
        return
    publish_on_commit(
        FreedTime(
            clinician_id=request.clinician_id,
            windows=((starts_at, ends_at),),
            source=source,
            key=key,
            service_type_id=request.service_type_id,
            modality=request.modality,
        )
    )


def _send_proposal(request: BookingRequest, token: str) -> None:
    """E-mail only: the person has no client record yet, so no SMS consent on file to text them
    under (their booking-page consent is recorded when they are booked)."""
    url = settings.SITE_URL.rstrip("/") + reverse("booking_proposal", args=[token])
    language = _page_language(request)
    with translation.override(language):
        _send_proposal_mail(request, url, language)


def _send_proposal_mail(request: BookingRequest, url: str, language: str) -> None:
    send_mail(
        subject=gettext("%(practice)s: another time for your session") % {"practice": request.practice.name},
        message=gettext(
            "Hello %(name)s,\n\n%(practice)s cannot offer the time you asked for (%(asked)s), but "
            "%(clinician)s can see you on %(proposed)s instead. "
            "We are holding it for you until %(until)s.\n\n"
            "Accept or decline it here:\n%(url)s\n\n"
            "If you decline, the time is given back and you can pick another one on the booking page."
        )
        % {
            "name": request.first_name,
            "practice": request.practice.name,
            "asked": _when(request.requested_starts_at, request, language),
            "clinician": request.clinician.display_name,
            "proposed": _when(request.starts_at, request, language),
            "until": _when(request.expires_at, request, language),
            "url": url,
        },
        from_email=None,
        recipient_list=[request.email],
    )


# --- Settings ------------------------------------------------------------------------------------


def online_booking_update(
    *, practice: Practice, fields: dict, services: list, concerns: list[str], payers: list[str]
) -> OnlineBooking:
    """Save the booking page's settings and the practice's lists of concerns and payers. A name
    that stays keeps its row (and the clinicians who picked it); a removed name is deleted."""
    with transaction.atomic():
        online, _ = OnlineBooking.objects.get_or_create(practice=practice)
        for name, value in fields.items():
            setattr(online, name, value)
        online.full_clean()
        online.save()
        online.services.set([service for service in services if service.practice_id == practice.pk])
        _replace_names(Concern, practice, concerns, ordered=True)
        _replace_names(Payer, practice, payers, ordered=False)
    return online


def _replace_names(model, practice: Practice, names: list[str], *, ordered: bool) -> None:
    wanted = []
    for name in names:
        cleaned = " ".join(name.split())[:80]
        if cleaned and cleaned.lower() not in {w.lower() for w in wanted}:
            wanted.append(cleaned)
    model.objects.filter(practice=practice).exclude(name__in=wanted).delete()
    for position, name in enumerate(wanted):
        defaults = {"position": position} if ordered else {}
        model.objects.update_or_create(practice=practice, name=name, defaults=defaults)


def matching_profile_update(*, clinician, fields: dict, concerns: list, payers: list) -> MatchingProfile:
    with transaction.atomic():
        profile, _ = MatchingProfile.objects.get_or_create(clinician=clinician)
        for name, value in fields.items():
            setattr(profile, name, value)
        profile.full_clean()
        profile.save()
        profile.concerns.set([c for c in concerns if c.practice_id == clinician.practice_id])
        profile.payers.set([p for p in payers if p.practice_id == clinician.practice_id])
    return profile

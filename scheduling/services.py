"""Scheduling actions. Every caller (staff pages, API, EHR sync, admin, tasks) books,
moves, cancels and records attendance through these functions, so each rule lives once.

Services raise ``django.core.exceptions.ValidationError`` with a dict of field errors, so a
form or serializer can show each message beside its field. Nothing is half-saved: every
service is one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from copy import copy
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from auditlog.context import disable_auditlog
from auditlog.diff import model_instance_diff
from auditlog.models import LogEntry
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from practice.models import Client, ClientStatus, ClinicianProfile, Modality, Practice
from scheduling.availability import local_label
from scheduling.events import AppointmentEvent, publish_on_commit
from scheduling.models import (
    SLOT_HOLDING_STATUSES,
    UPCOMING_STATUSES,
    ActivityChannel,
    ActivityKind,
    Appointment,
    AppointmentActivity,
    AppointmentParticipant,
    AppointmentSource,
    AppointmentStatus,
    Attendance,
    BookingPolicy,
    FollowUp,
    Frequency,
    Hold,
    HoldKind,
    Series,
    ServiceType,
)

MAX_SESSION_LENGTH = timedelta(hours=8)
# Staff may enter a session that began a little while ago (a walk-in being recorded).
PAST_BOOKING_TOLERANCE = timedelta(hours=1)
# A client who joins later than this after the start counts as late (SPEC F9 step 6: T+5).
LATE_JOIN_AFTER = timedelta(minutes=5)

DOUBLE_BOOKING_MESSAGE = "%(clinician)s already has a session at this time (%(when)s)."
HELD_MESSAGE = "This time in %(clinician)s's calendar is held (%(when)s) until %(until)s."
CLIENT_CLASH_MESSAGE = (
    "%(client)s already has a session at this time (%(when)s with %(clinician)s). "
    "For a real exception, give a reason to book anyway."
)
# The database's names for its calendar rules (migrations scheduling 0002 and 0012).
OVERLAP_CONSTRAINT_MARKERS = ("appointment_no_overlap",)
HOLD_CONSTRAINT_MARKERS = ("calendar_no_overlap", "hold_no_overlap")
CLIENT_CONSTRAINT_MARKERS = ("client_no_overlap",)


# --- Validation helpers -----------------------------------------------------------------------


_local_label = local_label


def _validate_people(
    *, practice: Practice, clinician: ClinicianProfile, clients: Sequence[Client], service_type: ServiceType
) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if clinician.practice_id != practice.pk:
        errors.setdefault("clinician", []).append("This clinician is not part of this practice.")
    elif not clinician.is_active:
        errors.setdefault("clinician", []).append("This clinician is no longer active.")
    if service_type.practice_id != practice.pk:
        errors.setdefault("service_type", []).append("This service type belongs to another practice.")
    if not clients:
        errors.setdefault("clients", []).append("Choose at least one client.")
    elif len({c.pk for c in clients}) != len(clients):
        errors.setdefault("clients", []).append("A client is listed twice.")
    elif any(c.practice_id != practice.pk for c in clients):
        errors.setdefault("clients", []).append("A chosen client is not a client of this practice.")
    elif any(c.status != ClientStatus.ACTIVE for c in clients):
        errors.setdefault("clients", []).append("Only active clients can be booked.")
    elif len(clients) > 1 and not service_type.is_group:
        errors.setdefault("clients", []).append(
            "Several clients need a group service type; choose one or book one client."
        )
    return errors


def _validate_times(
    *, starts_at: datetime, ends_at: datetime, now: datetime, allow_past: bool
) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if timezone.is_naive(starts_at) or timezone.is_naive(ends_at):
        # A programming error, not user input: forms always produce aware datetimes.
        raise ValueError("Appointment times must be timezone-aware.")
    if ends_at <= starts_at:
        errors.setdefault("ends_at", []).append("The session must end after it starts.")
    elif ends_at - starts_at > MAX_SESSION_LENGTH:
        errors.setdefault("ends_at", []).append("A session can be at most 8 hours long.")
    if not allow_past and starts_at < now - PAST_BOOKING_TOLERANCE:
        errors.setdefault("starts_at", []).append("This time is in the past.")
    return errors


def _raise_if(errors: dict[str, list[str]]) -> None:
    if errors:
        raise ValidationError(errors)


def _double_booking_error(clinician: ClinicianProfile, other: Appointment | None, tz: ZoneInfo):
    when = _local_label(other.starts_at, tz) if other else "overlapping"
    return ValidationError(
        {
            "starts_at": [
                ValidationError(
                    DOUBLE_BOOKING_MESSAGE,
                    code="double_booking",
                    params={"clinician": clinician.display_name, "when": when},
                )
            ]
        }
    )


def _hold_calendars(*clinician_ids: int) -> None:
    """Take the booking lock on these clinicians' calendars (their profile rows, in id order),
    held until the transaction ends. Every service that puts a session into a calendar takes it
    first, so bookings into one calendar run one at a time: the slot check then sees every
    booking made before it, and PostgreSQL's no-overlap constraint never has to weigh two
    unfinished inserts for one slot against each other (it settles that by aborting one of them
    with a deadlock error, which is what eight simultaneous pushes of one EHR appointment got).
    FOR NO KEY UPDATE: it does not block the foreign-key checks of rows that point at the
    profile. SQLite runs one writer at a time anyway; there it adds nothing."""
    rows = ClinicianProfile.objects.select_for_update(no_key=True).filter(pk__in=set(clinician_ids))
    list(rows.order_by("pk").values_list("pk", flat=True))


def _ensure_slot_free(
    *, practice: Practice, clinician: ClinicianProfile, starts_at: datetime, ends_at: datetime
) -> None:
    clash = (
        Appointment.objects.overlapping(clinician_id=clinician.pk, starts_at=starts_at, ends_at=ends_at)
        .order_by("starts_at")
        .first()
    )
    if clash is not None:
        raise _double_booking_error(clinician, clash, practice.zoneinfo)


def _hold_clients(*client_ids: int) -> None:
    """Take the lock on these clients' rows (in id order) until the transaction ends, after the
    calendars: bookings of one client run one at a time, so the client check below sees every
    session booked before it (the database's own check, migration 0012, takes the same lock)."""
    rows = Client.objects.select_for_update(no_key=True).filter(pk__in=set(client_ids))
    list(rows.order_by("pk").values_list("pk", flat=True))


def _held_error(clinician: ClinicianProfile, hold: Hold | None, tz: ZoneInfo) -> ValidationError:
    when = _local_label(hold.starts_at, tz) if hold else "overlapping"
    until = _local_label(hold.expires_at, tz) if hold else "it is released"
    return ValidationError(
        {
            "starts_at": [
                ValidationError(
                    HELD_MESSAGE,
                    code="held",
                    params={"clinician": clinician.display_name, "when": when, "until": until},
                )
            ]
        }
    )


def _ensure_not_held(
    *,
    practice: Practice,
    clinician: ClinicianProfile,
    starts_at: datetime,
    ends_at: datetime,
    now: datetime,
    release: Hold | None = None,
) -> None:
    """Refuse a time another hold keeps. An expired hold keeps no one out: it is deleted here (the
    caller holds the calendar), as is ``release``, the hold this booking takes up."""
    overlapping = Hold.objects.overlapping(clinician_id=clinician.pk, starts_at=starts_at, ends_at=ends_at)
    overlapping.filter(expires_at__lte=now).delete()
    if release is not None:
        Hold.objects.filter(pk=release.pk).delete()
    clash = overlapping.filter(expires_at__gt=now).order_by("starts_at").first()
    if clash is not None:
        raise _held_error(clinician, clash, practice.zoneinfo)


def _client_clashes(
    *, client_ids: Sequence[int], starts_at: datetime, ends_at: datetime
) -> list[AppointmentParticipant]:
    """Each client's live session overlapping [starts_at, ends_at), if any (rows booked as an
    exception, with an ``overlap_reason``, do not count, as in the database's rule)."""
    return list(
        AppointmentParticipant.objects.filter(
            client_id__in=client_ids,
            overlap_reason="",
            appointment__status__in=SLOT_HOLDING_STATUSES,
            appointment__starts_at__lt=ends_at,
            appointment__ends_at__gt=starts_at,
        )
        .exclude(attendance=Attendance.CANCELLED)
        .select_related("client", "appointment__clinician")
        .order_by("appointment__starts_at")
    )


def _client_clash_error(clash: AppointmentParticipant | None, tz: ZoneInfo, field: str) -> ValidationError:
    params = {"client": "A client", "when": "overlapping", "clinician": "another clinician"}
    if clash is not None:
        params = {
            "client": clash.client.full_name,
            "when": _local_label(clash.appointment.starts_at, tz),
            "clinician": clash.appointment.clinician.display_name,
        }
    return ValidationError(
        {field: [ValidationError(CLIENT_CLASH_MESSAGE, code="client_double_booking", params=params)]}
    )


def _overlap_reasons(
    *,
    practice: Practice,
    client_ids: Sequence[int],
    starts_at: datetime,
    ends_at: datetime,
    reason: str,
    field: str,
) -> dict[int, str]:
    """The clients who would be in two sessions at once: refused, unless staff give ``reason``
    for a real exception, which is then stored (and audit-logged) on those clients' new rows."""
    clashes = _client_clashes(client_ids=client_ids, starts_at=starts_at, ends_at=ends_at)
    if not clashes:
        return {}
    if not reason.strip():
        raise _client_clash_error(clashes[0], practice.zoneinfo, field)
    return {clash.client_id: reason.strip()[:300] for clash in clashes}


def _is_overlap_violation(error: IntegrityError) -> bool:
    text = str(error)
    return any(marker in text for marker in OVERLAP_CONSTRAINT_MARKERS)


def _calendar_error(
    error: IntegrityError, *, clinician: ClinicianProfile, tz: ZoneInfo, client_field: str
) -> ValidationError | None:
    """The field error for a calendar rule the database enforced (another transaction won the
    race between our check and our insert), or None for any other integrity error."""
    text = str(error)
    if any(marker in text for marker in OVERLAP_CONSTRAINT_MARKERS):
        return _double_booking_error(clinician, None, tz)
    if any(marker in text for marker in HOLD_CONSTRAINT_MARKERS):
        return _held_error(clinician, None, tz)
    if any(marker in text for marker in CLIENT_CONSTRAINT_MARKERS):
        return _client_clash_error(None, tz, client_field)
    return None


def _ensure_external_id_free(
    *, practice: Practice, source: str, external_source: str, external_id: str
) -> None:
    if not external_id:
        return
    taken = (
        Appointment.objects.for_practice(practice)
        .filter(source=source, external_source=external_source, external_id=external_id)
        .exclude(status=AppointmentStatus.RESCHEDULED)
        .exists()
    )
    if taken:
        raise ValidationError({"external_id": ["An appointment with this external id already exists."]})


def _insert_logged(row: Appointment | AppointmentParticipant):
    """Insert a new row, audit-logged like ``objects.create``. django-auditlog's entry for a new
    row reads every reverse one-to-one relation of it (one query each: an appointment's meeting
    and replacement, a participant's join link and survey answer) only to find nothing, as
    nothing can point at a row not inserted yet: say so up front. (The row remembers "none",
    exactly as it did after auditlog's own reads.)"""
    for relation in row._meta.related_objects:
        if relation.one_to_one:
            relation.set_cached_value(row, None)
    row.save(force_insert=True)
    return row


def _insert_appointment(
    *, client_ids: Sequence[int], overlap_reasons: dict[int, str] | None = None, **fields
) -> Appointment:
    """Insert one appointment and its participants (one row and one audit entry each: the
    audit log records every participant, with any overlap reason); the caller holds the
    transaction."""
    reasons = overlap_reasons or {}
    appointment = _insert_logged(Appointment(**fields))
    for client_id in client_ids:
        _insert_logged(
            AppointmentParticipant(
                appointment=appointment, client_id=client_id, overlap_reason=reasons.get(client_id, "")
            )
        )
    return appointment


# --- Booking ----------------------------------------------------------------------------------


def appointment_book(
    *,
    practice: Practice,
    clinician: ClinicianProfile,
    clients: Sequence[Client],
    starts_at: datetime,
    ends_at: datetime | None = None,
    service_type: ServiceType,
    modality: str = Modality.TELEHEALTH,
    fee: Decimal | None = None,
    source: str = AppointmentSource.STAFF,
    external_source: str = "",
    external_id: str = "",
    booked_by=None,
    allow_past: bool = False,
    hold: Hold | None = None,
    client_overlap_reason: str = "",
    now: datetime | None = None,
) -> Appointment:
    """Book a session. ``ends_at`` defaults to the service type's length, ``fee`` to its fee.

    The time must be free in the clinician's calendar (no live session, no unexpired hold other
    than ``hold``, which this booking takes up and releases) and in each client's (no live session
    with anyone, unless ``client_overlap_reason`` says why this is a real exception)."""
    now = now or timezone.now()
    clients = list(clients)
    if ends_at is None:
        ends_at = starts_at + timedelta(minutes=service_type.default_minutes)
    errors = _validate_people(
        practice=practice, clinician=clinician, clients=clients, service_type=service_type
    )
    errors |= _validate_times(starts_at=starts_at, ends_at=ends_at, now=now, allow_past=allow_past)
    if modality not in Modality.values:
        errors.setdefault("modality", []).append("Choose telehealth or in person.")
    if fee is not None and fee < 0:
        errors.setdefault("fee", []).append("The fee cannot be negative.")
    _raise_if(errors)

    fields = dict(
        practice=practice,
        clinician=clinician,
        starts_at=starts_at,
        ends_at=ends_at,
        service_type=service_type,
        modality=modality,
        fee=service_type.default_fee if fee is None else fee,
        source=source,
        external_source=external_source,
        external_id=external_id,
        booked_by=booked_by,
    )
    try:
        with transaction.atomic():
            _hold_calendars(clinician.pk)
            client_ids = [c.pk for c in clients]
            _hold_clients(*client_ids)
            _ensure_external_id_free(
                practice=practice, source=source, external_source=external_source, external_id=external_id
            )
            _ensure_slot_free(practice=practice, clinician=clinician, starts_at=starts_at, ends_at=ends_at)
            _ensure_not_held(
                practice=practice,
                clinician=clinician,
                starts_at=starts_at,
                ends_at=ends_at,
                now=now,
                release=hold,
            )
            reasons = _overlap_reasons(
                practice=practice,
                client_ids=client_ids,
                starts_at=starts_at,
                ends_at=ends_at,
                reason=client_overlap_reason,
                field="clients",
            )
            appointment = _insert_appointment(client_ids=client_ids, overlap_reasons=reasons, **fields)
            publish_on_commit(AppointmentEvent("booked", appointment.pk))
            return appointment
    except IntegrityError as error:
        # Another booking for the same slot (or client) committed between our check and our
        # insert: the database's rule caught it.
        translated = _calendar_error(error, clinician=clinician, tz=practice.zoneinfo, client_field="clients")
        if translated is not None:
            raise translated from error
        raise


def series_occurrence_starts(
    *, first_starts_at: datetime, frequency: str, occurrences: int, tz: ZoneInfo
) -> list[datetime]:
    """Start times of a series, keeping the same local wall-clock time across DST changes."""
    first_local = first_starts_at.astimezone(tz).replace(tzinfo=None)
    step = Frequency(frequency).interval
    starts = []
    for index in range(occurrences):
        local = first_local + index * step
        starts.append(local.replace(tzinfo=tz).astimezone(ZoneInfo("UTC")))
    return starts


def series_book(
    *,
    practice: Practice,
    clinician: ClinicianProfile,
    clients: Sequence[Client],
    first_starts_at: datetime,
    duration: timedelta,
    frequency: str,
    occurrences: int,
    service_type: ServiceType,
    modality: str = Modality.TELEHEALTH,
    fee: Decimal | None = None,
    source: str = AppointmentSource.STAFF,
    booked_by=None,
    client_overlap_reason: str = "",
    now: datetime | None = None,
) -> Series:
    """Book a weekly or bi-weekly series, all or nothing: if any occurrence clashes, nothing is
    booked and the error names every clashing date."""
    now = now or timezone.now()
    clients = list(clients)
    errors = _validate_people(
        practice=practice, clinician=clinician, clients=clients, service_type=service_type
    )
    errors |= _validate_times(
        starts_at=first_starts_at, ends_at=first_starts_at + duration, now=now, allow_past=False
    )
    if frequency not in Frequency.values:
        errors.setdefault("frequency", []).append("Choose every week or every 2 weeks.")
    if not 2 <= occurrences <= 52:
        errors.setdefault("occurrences", []).append("A series has between 2 and 52 sessions.")
    _raise_if(errors)

    tz = clinician.zoneinfo
    starts = series_occurrence_starts(
        first_starts_at=first_starts_at, frequency=frequency, occurrences=occurrences, tz=tz
    )
    try:
        with transaction.atomic():
            _hold_calendars(clinician.pk)
            client_ids = [c.pk for c in clients]
            _hold_clients(*client_ids)
            clashes = [
                start
                for start in starts
                if Appointment.objects.overlapping(
                    clinician_id=clinician.pk, starts_at=start, ends_at=start + duration
                ).exists()
            ]
            if clashes:
                dates = ", ".join(start.astimezone(tz).strftime("%b %-d") for start in clashes)
                raise ValidationError(
                    {"first_starts_at": [f"{clinician.display_name} is already booked on {dates}."]}
                )
            reasons_by_start = {}
            for start in starts:
                _ensure_not_held(
                    practice=practice, clinician=clinician, starts_at=start, ends_at=start + duration, now=now
                )
                reasons_by_start[start] = _overlap_reasons(
                    practice=practice,
                    client_ids=client_ids,
                    starts_at=start,
                    ends_at=start + duration,
                    reason=client_overlap_reason,
                    field="clients",
                )
            series = Series.objects.create(
                practice=practice,
                clinician=clinician,
                frequency=frequency,
                first_starts_at=first_starts_at,
                duration_minutes=int(duration.total_seconds() // 60),
                occurrences=occurrences,
                created_by=booked_by,
            )
            for start in starts:
                occurrence = _insert_appointment(
                    client_ids=client_ids,
                    overlap_reasons=reasons_by_start[start],
                    practice=practice,
                    clinician=clinician,
                    starts_at=start,
                    ends_at=start + duration,
                    service_type=service_type,
                    modality=modality,
                    fee=service_type.default_fee if fee is None else fee,
                    source=source,
                    booked_by=booked_by,
                    series=series,
                )
                publish_on_commit(AppointmentEvent("booked", occurrence.pk))
            return series
    except IntegrityError as error:
        translated = _calendar_error(error, clinician=clinician, tz=tz, client_field="clients")
        if translated is not None:
            raise translated from error
        raise


def series_cancel_rest(
    *,
    series: Series,
    after: datetime | None = None,
    by=None,
    by_client: bool = False,
    reason: str = "",
    now: datetime | None = None,
) -> list[Appointment]:
    """Cancel every upcoming occurrence of a series that starts at or after ``after`` (default:
    now), all or nothing; occurrences already held, cancelled or moved are left as they are.
    Each one is cancelled through ``appointment_cancel`` (late-cancel flag, events, reminders)."""
    now = now or timezone.now()
    after = max(after or now, now)
    with transaction.atomic():
        occurrences = list(
            Appointment.objects.filter(
                series=series, starts_at__gte=after, status__in=UPCOMING_STATUSES
            ).order_by("starts_at")
        )
        return [
            appointment_cancel(appointment=occurrence, by=by, by_client=by_client, reason=reason, now=now)
            for occurrence in occurrences
        ]


def series_reschedule_following(
    *,
    appointment: Appointment,
    starts_at: datetime,
    clinician: ClinicianProfile | None = None,
    by=None,
    now: datetime | None = None,
) -> list[Appointment]:
    """Move ``appointment`` and every later upcoming occurrence of its series by the same change
    of wall-clock time (and to ``clinician``), all or nothing: "this and following" on the
    calendar. Each occurrence moves through ``appointment_reschedule`` (its rules, events and
    reminders); a refusal for any date names that date and leaves every session where it was.
    Occurrences already held, cancelled or moved are left as they are. The ``Series`` row keeps
    recording how the series was booked."""
    now = now or timezone.now()
    if appointment.series_id is None:
        raise ValidationError({"starts_at": ["This session is not part of a series."]})
    tz = (clinician or appointment.clinician).zoneinfo
    wall_shift = starts_at.astimezone(tz).replace(tzinfo=None) - appointment.starts_at.astimezone(tz).replace(
        tzinfo=None
    )
    with transaction.atomic():
        occurrences = list(
            Appointment.objects.filter(
                series_id=appointment.series_id,
                starts_at__gte=appointment.starts_at,
                status__in=UPCOMING_STATUSES,
            )
            .select_related("practice", "clinician")
            .order_by("starts_at")
        )
        if appointment.pk not in {o.pk for o in occurrences}:
            _require_upcoming(appointment, "rescheduled")
        # Later sessions first when moving later (earlier first when moving earlier), so no
        # occurrence lands on a sibling that has not moved yet.
        if wall_shift > timedelta(0):
            occurrences.reverse()
        moved = []
        for occurrence in occurrences:
            local = occurrence.starts_at.astimezone(tz).replace(tzinfo=None) + wall_shift
            new_start = local.replace(tzinfo=tz).astimezone(ZoneInfo("UTC"))
            try:
                moved.append(
                    appointment_reschedule(
                        appointment=occurrence,
                        starts_at=new_start,
                        clinician=clinician,
                        by=by,
                        now=now,
                    )
                )
            except ValidationError as error:
                day = occurrence.starts_at.astimezone(tz).strftime("%b %-d")
                raise ValidationError(
                    {"starts_at": [f"The session of {day}: {' '.join(error.messages)}"]}
                ) from error
        moved.sort(key=lambda row: row.starts_at)
        # One message about the move, with the first session (planned once this commits).
        later = [row.pk for row in moved[1:]]
        if later:
            Appointment.objects.filter(pk__in=later).update(moved_with=moved[0])
            for row in moved[1:]:
                row.moved_with = moved[0]
        return moved


# --- Changes ----------------------------------------------------------------------------------


def _save_logged(row: Appointment | AppointmentParticipant, *, before, fields: list[str]) -> None:
    """``row.save(update_fields=fields)`` with the audit entry django-auditlog would write, diffed
    against ``before`` (a copy of the row as this transaction read it, under the appointment's
    lock) instead of against the row read once more, which is what auditlog's own signal does.
    The diff is taken before saving, as the signal does (so ``updated_at`` is not in it)."""
    changes = model_instance_diff(
        before, row, fields_to_check=fields, use_json_for_changes=settings.AUDITLOG_STORE_JSON_CHANGES
    )
    with disable_auditlog():
        row.save(update_fields=fields)
    if changes:
        LogEntry.objects.log_create(row, action=LogEntry.Action.UPDATE, changes=changes)


def _lock(appointment: Appointment) -> Appointment:
    """Re-read the appointment under a row lock so concurrent changes serialise. Only the
    appointment's row (``of=self``): locking the joined practice and clinician rows too (FOR UPDATE)
    blocked every insert pointing at the practice (their foreign-key checks) until the change
    committed, and deadlocked a cancellation against the waitlist's offer task for the same
    practice (benchmark B6); the calendar lock, where needed, is ``_hold_calendars``."""
    return (
        Appointment.objects.select_for_update(of=("self",))
        .select_related("practice", "clinician")
        .get(pk=appointment.pk)
    )


def _require_upcoming(appointment: Appointment, action: str) -> None:
    if not appointment.is_upcoming:
        raise ValidationError(
            f"This session is {appointment.get_status_display().lower()} and can no longer be {action}."
        )


def appointment_reschedule(
    *,
    appointment: Appointment,
    starts_at: datetime,
    ends_at: datetime | None = None,
    clinician: ClinicianProfile | None = None,
    by=None,
    allow_past: bool = False,
    client_overlap_reason: str = "",
    now: datetime | None = None,
) -> Appointment:
    """Move a session. The old appointment becomes ``rescheduled`` and links to a new one
    with the same clients, service and external id (SPEC F3). The new time must be free like a
    booking's: no session or unexpired hold of the clinician, no other session of a client
    (a client booked as an exception keeps their reason, or staff give one now)."""
    now = now or timezone.now()
    if ends_at is None:
        ends_at = starts_at + appointment.duration
    clinician = clinician or appointment.clinician
    errors = _validate_times(starts_at=starts_at, ends_at=ends_at, now=now, allow_past=allow_past)
    if clinician.practice_id != appointment.practice_id:
        errors.setdefault("clinician", []).append("This clinician is not part of this practice.")
    _raise_if(errors)
    if (
        starts_at == appointment.starts_at
        and ends_at == appointment.ends_at
        and clinician == appointment.clinician
    ):
        raise ValidationError({"starts_at": ["Choose a different time or clinician."]})

    try:
        with transaction.atomic():
            # Both calendars before the appointment's row: a booking holding a calendar can find
            # this session's slot changing under it and wait for this transaction, so taking a
            # calendar after the row could close a cycle.
            _hold_calendars(appointment.clinician_id, clinician.pk)
            old = _lock(appointment)
            _require_upcoming(old, "rescheduled")
            # Ids only: the replacement's rows need nothing else of the clients.
            kept_reasons = dict(old.participants.values_list("client_id", "overlap_reason"))
            client_ids = list(kept_reasons)
            _hold_clients(*client_ids)
            before = copy(old)
            old.status = AppointmentStatus.RESCHEDULED
            _save_logged(old, before=before, fields=["status", "updated_at"])
            # The old slot is released above, so a session can move by less than its length.
            _ensure_slot_free(
                practice=old.practice, clinician=clinician, starts_at=starts_at, ends_at=ends_at
            )
            _ensure_not_held(
                practice=old.practice, clinician=clinician, starts_at=starts_at, ends_at=ends_at, now=now
            )
            reasons = {client_id: reason for client_id, reason in kept_reasons.items() if reason}
            reasons |= _overlap_reasons(
                practice=old.practice,
                client_ids=[client_id for client_id in client_ids if client_id not in reasons],
                starts_at=starts_at,
                ends_at=ends_at,
                reason=client_overlap_reason,
                field="starts_at",
            )
            new = _insert_appointment(
                client_ids=client_ids,
                overlap_reasons=reasons,
                practice=old.practice,
                clinician=clinician,
                starts_at=starts_at,
                ends_at=ends_at,
                # By id: the service type and series rows are not needed, only their keys.
                service_type_id=old.service_type_id,
                modality=old.modality,
                fee=old.fee,
                source=old.source,
                external_source=old.external_source,
                external_id=old.external_id,
                series_id=old.series_id,
                rescheduled_from=old,
                booked_by=by,
            )
            publish_on_commit(AppointmentEvent("rescheduled", new.pk, previous_id=old.pk))
            return new
    except IntegrityError as error:
        translated = _calendar_error(
            error, clinician=clinician, tz=appointment.practice.zoneinfo, client_field="starts_at"
        )
        if translated is not None:
            raise translated from error
        raise


# What a cancellation changes (the UPDATE and its audit entry cover these only).
CANCEL_FIELDS = [
    "status",
    "cancelled_at",
    "cancelled_by",
    "cancelled_by_client",
    "cancel_reason",
    "is_late_cancel",
    "updated_at",
]


def appointment_cancel(
    *,
    appointment: Appointment,
    by=None,
    by_client: bool = False,
    reason: str = "",
    now: datetime | None = None,
) -> Appointment:
    """Cancel a session, recording who cancelled and whether it was inside the late-cancel
    window of the practice policy."""
    now = now or timezone.now()
    with transaction.atomic():
        appointment = _lock(appointment)
        _require_upcoming(appointment, "cancelled")
        before = copy(appointment)
        appointment.status = AppointmentStatus.CANCELLED
        appointment.cancelled_at = now
        appointment.cancelled_by = by
        appointment.cancelled_by_client = by_client
        appointment.cancel_reason = reason[:300]
        appointment.is_late_cancel = appointment.is_late_cancel_at(now)
        _save_logged(appointment, before=before, fields=CANCEL_FIELDS)
        # One save per participant, not one UPDATE: the audit log records each of them.
        for participant in appointment.participants.all():
            before = copy(participant)
            participant.attendance = Attendance.CANCELLED
            _save_logged(participant, before=before, fields=["attendance"])
        publish_on_commit(AppointmentEvent("cancelled", appointment.pk))
    return appointment


def appointment_confirm(*, appointment: Appointment, now: datetime | None = None) -> Appointment:
    """Mark a scheduled session confirmed (the client confirmed by link, reply or phone)."""
    with transaction.atomic():
        appointment = _lock(appointment)
        if appointment.status == AppointmentStatus.CONFIRMED:
            return appointment
        if appointment.status != AppointmentStatus.SCHEDULED:
            raise ValidationError(
                f"A {appointment.get_status_display().lower()} session cannot be confirmed."
            )
        appointment.status = AppointmentStatus.CONFIRMED
        appointment.save(update_fields=["status", "updated_at"])
        publish_on_commit(AppointmentEvent("confirmed", appointment.pk))
    return appointment


MARKABLE_ATTENDANCE = (Attendance.ATTENDED, Attendance.LATE, Attendance.NO_SHOW)


def _status_from_attendance(appointment: Appointment, attendances: list[str], now: datetime) -> str:
    """The appointment status that the participants' attendance implies."""
    if any(a in (Attendance.ATTENDED, Attendance.LATE) for a in attendances):
        return AppointmentStatus.COMPLETED if now >= appointment.ends_at else AppointmentStatus.IN_PROGRESS
    if attendances and all(a == Attendance.NO_SHOW for a in attendances):
        return AppointmentStatus.NO_SHOW
    return appointment.status


def appointment_mark_attendance(
    *,
    appointment: Appointment,
    client: Client,
    attendance: str,
    by=None,
    note: str = "",
    now: datetime | None = None,
) -> AppointmentParticipant:
    """Record one participant's attendance and move the appointment's status to match
    (all no-show → no-show; anyone attended → in progress, or completed once it has ended).
    Reversing a recorded no-show needs a note saying why."""
    now = now or timezone.now()
    if attendance not in MARKABLE_ATTENDANCE:
        raise ValidationError({"attendance": ["Choose attended, attended late or no-show."]})
    with transaction.atomic():
        appointment = _lock(appointment)
        if appointment.status in (AppointmentStatus.CANCELLED, AppointmentStatus.RESCHEDULED):
            raise ValidationError(
                f"This session was {appointment.get_status_display().lower()}; attendance cannot be recorded."
            )
        if now < appointment.starts_at:
            raise ValidationError("Attendance can be recorded once the session has started.")
        participant = appointment.participants.select_for_update().filter(client=client).first()
        if participant is None:
            raise ValidationError({"client": ["This client is not in this session."]})
        if (
            participant.attendance == Attendance.NO_SHOW
            and attendance != Attendance.NO_SHOW
            and not note.strip()
        ):
            raise ValidationError({"note": ["Say why the no-show is being reversed."]})
        was = participant.attendance
        participant.attendance = attendance
        participant.attendance_marked_at = now
        participant.attendance_marked_by = by
        participant.attendance_note = note[:300]
        participant.save()
        _record_no_show_change(participant, was=was, by=by, note=note, now=now)

        attendances = list(appointment.participants.values_list("attendance", flat=True))
        new_status = _status_from_attendance(appointment, attendances, now)
        if new_status != appointment.status:
            appointment.status = new_status
            appointment.save(update_fields=["status", "updated_at"])
            _publish_status(appointment)
        publish_on_commit(AppointmentEvent("attendance", appointment.pk))
    return participant


def _record_no_show_change(
    participant: AppointmentParticipant, *, was: str, by, note: str, now: datetime
) -> None:
    """Staff marking or reversing a no-show: on the session's timeline, and the no-show events
    (which start the no-show sequence) when it is newly marked."""
    if (was == Attendance.NO_SHOW) == (participant.attendance == Attendance.NO_SHOW):
        return
    reversed_ = was == Attendance.NO_SHOW
    AppointmentActivity.objects.create(
        practice_id=participant.appointment.practice_id,
        appointment_id=participant.appointment_id,
        participant=participant,
        kind=ActivityKind.NO_SHOW_REVERSED if reversed_ else ActivityKind.NO_SHOW_MARKED,
        channel=ActivityChannel.STAFF,
        detail=note[:300],
        actor=by,
        at=now,
    )
    if not reversed_:
        publish_no_show(participant)


def _publish_status(appointment: Appointment) -> None:
    if appointment.status == AppointmentStatus.IN_PROGRESS:
        publish_on_commit(AppointmentEvent("in_progress", appointment.pk))
    elif appointment.status == AppointmentStatus.COMPLETED:
        publish_completed(appointment)


def publish_no_show(participant: AppointmentParticipant) -> None:
    """Events of a participant who just became a no-show, by the system or by staff: "no_show",
    and "payment_due" when a no-show fee applies (scheduling.lifecycle)."""
    appointment_id = participant.appointment_id
    publish_on_commit(AppointmentEvent("no_show", appointment_id, participant_id=participant.pk))
    if participant.no_show_fee_applies():
        publish_on_commit(AppointmentEvent("payment_due", appointment_id, participant_id=participant.pk))


def publish_completed(appointment: Appointment) -> None:
    """A session became completed: "completed", and "payment_due" when it has a fee."""
    publish_on_commit(AppointmentEvent("completed", appointment.pk))
    if appointment.fee > 0:
        publish_on_commit(AppointmentEvent("payment_due", appointment.pk))


# --- Booking policy -------------------------------------------------------------------------------


def booking_policy_update(*, practice: Practice, fields: dict) -> BookingPolicy:
    """Save the practice's open-slot and self-service rules (the row is made on first save)."""
    with transaction.atomic():
        policy = BookingPolicy.objects.select_for_update().filter(practice=practice).first()
        policy = policy or BookingPolicy(practice=practice)
        for name, value in fields.items():
            setattr(policy, name, value)
        policy.full_clean()
        policy.save()
    return policy


# --- Holds ------------------------------------------------------------------------------------


def hold_place(
    *,
    practice: Practice,
    clinician: ClinicianProfile,
    starts_at: datetime,
    ends_at: datetime,
    expires_at: datetime,
    kind: str,
    client: Client | None = None,
    note: str = "",
    by=None,
    now: datetime | None = None,
) -> Hold:
    """Keep [starts_at, ends_at) in the clinician's calendar until ``expires_at`` (a booking
    request waiting for the practice, a waitlist offer waiting for the client). Under the same
    rule and the same calendar lock as a booking: refused over a live session or another
    unexpired hold; an expired hold there is removed first."""
    now = now or timezone.now()
    errors = _validate_times(starts_at=starts_at, ends_at=ends_at, now=now, allow_past=False)
    if timezone.is_naive(expires_at):
        raise ValueError("A hold's expiry must be timezone-aware.")
    if expires_at <= now:
        errors.setdefault("expires_at", []).append("A hold must expire in the future.")
    if kind not in HoldKind.values:
        errors.setdefault("kind", []).append("Unknown kind of hold.")
    if clinician.practice_id != practice.pk:
        errors.setdefault("clinician", []).append("This clinician is not part of this practice.")
    elif not clinician.is_active:
        errors.setdefault("clinician", []).append("This clinician is no longer active.")
    if client is not None and client.practice_id != practice.pk:
        errors.setdefault("client", []).append("This client is not a client of this practice.")
    _raise_if(errors)
    try:
        with transaction.atomic():
            _hold_calendars(clinician.pk)
            _ensure_slot_free(practice=practice, clinician=clinician, starts_at=starts_at, ends_at=ends_at)
            _ensure_not_held(
                practice=practice, clinician=clinician, starts_at=starts_at, ends_at=ends_at, now=now
            )
            return Hold.objects.create(
                practice=practice,
                clinician=clinician,
                client=client,
                kind=kind,
                starts_at=starts_at,
                ends_at=ends_at,
                expires_at=expires_at,
                note=note[:200],
                created_by=by,
            )
    except IntegrityError as error:
        translated = _calendar_error(error, clinician=clinician, tz=practice.zoneinfo, client_field="client")
        if translated is not None:
            raise translated from error
        raise


def hold_release(*, hold: Hold) -> bool:
    """Give the held time back (request declined, offer turned down). Releasing a hold that is
    already gone (released, swept, taken up by its booking) changes nothing: False."""
    with transaction.atomic():
        deleted, _ = Hold.objects.filter(pk=hold.pk).delete()
    return deleted > 0


def holds_sweep_expired(*, now: datetime | None = None) -> int:
    """Delete every hold past its expiry; how many. Safe to run twice or from two workers at
    once (a second run finds nothing). Run every minute with the lifecycle sweep."""
    now = now or timezone.now()
    with transaction.atomic():
        deleted, _ = Hold.objects.filter(expires_at__lte=now).delete()
    return deleted


# --- Staff queues ------------------------------------------------------------------------------


def follow_up_raise(
    *,
    appointment: Appointment,
    kind: str,
    participant: AppointmentParticipant | None = None,
    detail: str = "",
    source: str = "",
) -> FollowUp:
    """Put an item in the staff queue, once: an open item of the same kind is reused. With a
    ``source`` (say ``outbox:<id>``) the item is raised at most once ever for that source."""
    if source:
        with transaction.atomic():
            item, _ = FollowUp.objects.get_or_create(
                practice_id=appointment.practice_id,
                source=source,
                defaults={
                    "appointment": appointment,
                    "participant": participant,
                    "kind": kind,
                    "detail": detail[:300],
                },
            )
        return item
    with transaction.atomic():
        item, _ = FollowUp.objects.get_or_create(
            appointment=appointment,
            participant=participant,
            kind=kind,
            source="",
            resolved_at__isnull=True,
            defaults={"practice_id": appointment.practice_id, "detail": detail[:300]},
        )
    return item


def follow_up_resolve(*, item: FollowUp, by, note: str = "", now: datetime | None = None) -> FollowUp:
    if item.resolved_at is not None:
        raise ValidationError("This item was already resolved.")
    item.resolved_at = now or timezone.now()
    item.resolved_by = by
    item.resolution_note = note[:300]
    item.save(update_fields=["resolved_at", "resolved_by", "resolution_note"])
    return item


def participant_record_join(
    *, participant: AppointmentParticipant, at: datetime | None = None
) -> AppointmentParticipant:
    """A client joined the session (one-tap link or provider webhook): mark them attended
    (late if more than LATE_JOIN_AFTER after the start) and the session in progress. Joining
    again changes nothing. "Late" matches the T+5 late-arrival step of the sequence."""
    at = at or timezone.now()
    with transaction.atomic():
        appointment = _lock(participant.appointment)
        participant = appointment.participants.select_for_update().get(pk=participant.pk)
        if participant.joined_at is not None:
            return participant
        participant.joined_at = at
        system_no_show = (
            participant.attendance == Attendance.NO_SHOW
            and participant.attendance_marked_by_id is None
            and at < appointment.ends_at
        )
        if participant.attendance == Attendance.EXPECTED or system_no_show:
            is_late = at > appointment.starts_at + LATE_JOIN_AFTER
            participant.attendance = Attendance.LATE if is_late else Attendance.ATTENDED
        if system_no_show:
            # The sweep marked them a no-show at the end of the grace period, and they came after
            # all: the join is the better evidence (a no-show staff recorded stays theirs to undo).
            participant.attendance_note = "Joined after the grace period"
            participant.attendance_marked_at = at
            AppointmentActivity.objects.create(
                practice_id=appointment.practice_id,
                appointment=appointment,
                participant=participant,
                kind=ActivityKind.NO_SHOW_REVERSED,
                channel=ActivityChannel.SYSTEM,
                detail="The client joined after the grace period.",
                at=at,
            )
        participant.save(update_fields=["joined_at", "attendance", "attendance_note", "attendance_marked_at"])
        if appointment.status in (AppointmentStatus.SCHEDULED, AppointmentStatus.CONFIRMED) or (
            appointment.status == AppointmentStatus.NO_SHOW and system_no_show
        ):
            appointment.status = AppointmentStatus.IN_PROGRESS
            appointment.save(update_fields=["status", "updated_at"])
            _publish_status(appointment)
        publish_on_commit(AppointmentEvent("joined", appointment.pk))
    return participant

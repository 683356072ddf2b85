"""Sync from an EHR (SPEC F19/F20): create-or-update by the EHR's own id.

An EHR (or a CSV export of one) may send the same appointment any number of times. It is
found by (practice, source "ehr_import", external source, external id): unique in the database
for live appointments (``appointment_unique_external_id``). What happens then goes through the
ordinary services, so every rule, audit entry and reminder follows one path:

- not known yet → ``appointment_book`` ("created");
- same data → nothing at all: no write, no event, no reminder ("unchanged");
- new time or clinician → ``appointment_reschedule`` ("rescheduled"), which re-plans reminders;
- status cancelled → ``appointment_cancel`` ("cancelled");
- status confirmed → ``appointment_confirm`` ("confirmed").

The API (scheduling/api/ehr.py), the signed webhook (scheduling/ehr.py) and CSV imports
(scheduling/imports.py) call these functions.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from practice.models import Client, ClinicianProfile, Modality, Practice
from practice.services import EXTERNAL_CLIENT_SOURCE
from scheduling.models import Appointment, AppointmentSource, AppointmentStatus, ServiceType
from scheduling.services import (
    appointment_book,
    appointment_cancel,
    appointment_confirm,
    appointment_reschedule,
)

# A source names the system the ids come from ("simplepractice", "csv"): lower case, digits, - and _.
SOURCE_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
SYNC_STATUSES = (AppointmentStatus.SCHEDULED, AppointmentStatus.CONFIRMED, AppointmentStatus.CANCELLED)
DEFAULT_CANCEL_REASON = "Cancelled in the EHR."


def live_synced_appointment(*, practice: Practice, source: str, external_id: str) -> Appointment | None:
    """The current appointment an external system knows by ``external_id`` (a rescheduled one
    hands the id on to its replacement, so there is at most one)."""
    return (
        Appointment.objects.for_practice(practice)
        .filter(source=AppointmentSource.EHR_IMPORT, external_source=source, external_id=external_id)
        .exclude(status=AppointmentStatus.RESCHEDULED)
        .select_related("practice", "clinician", "service_type")
        .first()
    )


def synced_clients(*, practice: Practice, source: str, external_ids: Sequence[str]) -> dict[str, Client]:
    """The clients of ``source`` with these external ids, by external id (missing ones absent)."""
    rows = Client.objects.for_practice(practice).filter(
        source=EXTERNAL_CLIENT_SOURCE, external_source=source, external_id__in=list(external_ids)
    )
    return {client.external_id: client for client in rows}


def appointment_upsert(
    *,
    practice: Practice,
    source: str,
    external_id: str,
    clinician: ClinicianProfile,
    clients: Sequence[Client],
    service_type: ServiceType,
    starts_at: datetime,
    ends_at: datetime | None = None,
    modality: str = Modality.TELEHEALTH,
    fee: Decimal | None = None,
    status: str = AppointmentStatus.SCHEDULED,
    cancel_reason: str = "",
    now: datetime | None = None,
) -> tuple[Appointment | None, str]:
    """Make the appointment ``source`` knows as ``external_id`` match what it sent.

    Returns the current appointment (None when a cancellation names one never synced) and what
    happened: "created", "unchanged", "rescheduled", "cancelled", "confirmed", "updated" or
    "ignored". Raises ValidationError (field errors) for what cannot be applied."""
    now = now or timezone.now()
    if status not in SYNC_STATUSES:
        raise ValidationError({"status": ["Choose scheduled, confirmed or cancelled."]})
    if status == AppointmentStatus.CANCELLED:
        return synced_appointment_cancel(
            practice=practice, source=source, external_id=external_id, reason=cancel_reason, now=now
        )
    wanted = {
        "clinician": clinician,
        "clients": list(clients),
        "service_type": service_type,
        "starts_at": starts_at,
        "ends_at": ends_at,
        "modality": modality,
        "fee": fee,
        "status": status,
    }
    with transaction.atomic():
        current = live_synced_appointment(practice=practice, source=source, external_id=external_id)
        if current is None:
            try:
                return _create(practice=practice, source=source, external_id=external_id, now=now, **wanted)
            except (ValidationError, IntegrityError):
                # The same appointment pushed twice at once: the other push created it between
                # our look-up and our insert (the unique or no-overlap constraint stopped ours).
                current = live_synced_appointment(practice=practice, source=source, external_id=external_id)
                if current is None:
                    raise
        return _apply(current, now=now, **wanted)


def synced_appointment_cancel(
    *, practice: Practice, source: str, external_id: str, reason: str = "", now: datetime | None = None
) -> tuple[Appointment | None, str]:
    """The external system cancelled the appointment it knows as ``external_id``: "cancelled",
    "unchanged" if it already was, "ignored" if it was never synced (nothing to undo)."""
    now = now or timezone.now()
    with transaction.atomic():
        current = live_synced_appointment(practice=practice, source=source, external_id=external_id)
        if current is None:
            return None, "ignored"
        if current.status == AppointmentStatus.CANCELLED:
            return current, "unchanged"
        cancelled = appointment_cancel(appointment=current, reason=reason or DEFAULT_CANCEL_REASON, now=now)
        return cancelled, "cancelled"


def _create(*, practice, source, external_id, now, status, **fields):
    with transaction.atomic():
        appointment = appointment_book(
            practice=practice,
            source=AppointmentSource.EHR_IMPORT,
            external_source=source,
            external_id=external_id,
            now=now,
            **fields,
        )
        if status == AppointmentStatus.CONFIRMED:
            appointment = appointment_confirm(appointment=appointment, now=now)
    return appointment, "created"


def _apply(
    current: Appointment,
    *,
    clinician,
    clients,
    service_type,
    starts_at,
    ends_at,
    modality,
    fee,
    status,
    now,
) -> tuple[Appointment, str]:
    if current.status == AppointmentStatus.CANCELLED:
        raise ValidationError(
            {
                "status": [
                    "This appointment was cancelled and cannot be restored; send it with a new external id."
                ]
            }
        )
    _refuse_unsupported_changes(current, clients=clients, service_type=service_type, modality=modality)

    result = "unchanged"
    ends_at = ends_at or starts_at + current.duration
    if (starts_at, ends_at, clinician.pk) != (current.starts_at, current.ends_at, current.clinician_id):
        current = appointment_reschedule(
            appointment=current, starts_at=starts_at, ends_at=ends_at, clinician=clinician, now=now
        )
        result = "rescheduled"
    if fee is not None and fee != current.fee:
        # One column of one row: no other rows, provider or message depend on the fee.
        current.fee = fee
        current.save(update_fields=["fee", "updated_at"])
        result = "updated" if result == "unchanged" else result
    if status == AppointmentStatus.CONFIRMED and current.status == AppointmentStatus.SCHEDULED:
        current = appointment_confirm(appointment=current, now=now)
        result = "confirmed" if result == "unchanged" else result
    return current, result


def _refuse_unsupported_changes(current: Appointment, *, clients, service_type, modality) -> None:
    """Clients, service and modality shape the meeting and the reminders planned at booking, so
    they are not changed in place: the EHR cancels and sends a new appointment instead."""
    hint = "cannot change on a synced appointment; cancel it and send a new one."
    errors: dict[str, list[str]] = {}
    if {c.pk for c in clients} != set(current.participants.values_list("client_id", flat=True)):
        errors["clients"] = [f"The clients {hint}"]
    if service_type.pk != current.service_type_id:
        errors["service_type"] = [f"The service type {hint}"]
    if modality != current.modality:
        errors["modality"] = [f"The modality {hint}"]
    if errors:
        raise ValidationError(errors)

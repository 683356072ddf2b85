"""The session page's History: audit-log entries of an appointment as sentences a person reads
("Booked by Fran Delgado for Wed Jun 10, 10:00 AM", "Moved from … to …", "Status changed from
Scheduled to Confirmed"), with times on the practice's clock.

Pure functions over django-auditlog's ``changes_dict`` (field → [old, new] as stored strings):
reverse relations, ids and bookkeeping timestamps are left out; fields without a sentence of
their own read "<Field> changed from <old> to <new>".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

from practice.models import Modality
from scheduling.models import Appointment, AppointmentSource, AppointmentStatus

# Written by the system alongside other changes, or not facts about the session.
QUIET_FIELDS = {"id", "created_at", "updated_at", "practice", "ends_at", "cancelled_at", "cancelled_by"}
CREATE, UPDATE, DELETE = 0, 1, 2

STATUS_SENTENCES = {
    AppointmentStatus.CONFIRMED: "Confirmed",
    AppointmentStatus.IN_PROGRESS: "Started: someone joined",
    AppointmentStatus.COMPLETED: "Completed",
    AppointmentStatus.NO_SHOW: "Marked as a no-show",
    AppointmentStatus.CANCELLED: "Cancelled",
    AppointmentStatus.RESCHEDULED: "Moved to another time",
}
SOURCE_WORDS = {
    AppointmentSource.CLIENT_BOOKING: "on the client booking page",
    AppointmentSource.API: "through the API",
    AppointmentSource.EHR_IMPORT: "from the EHR",
}


@dataclass(frozen=True)
class HistoryLine:
    when: datetime  # on the practice's clock
    when_text: str
    text: str


def local_text(moment: datetime, tz: tzinfo) -> str:
    """'Wed Jun 10, 10:00 AM' on ``tz``'s clock."""
    local = moment.astimezone(tz)
    return f"{local:%a %b} {local.day}, {local:%-I:%M %p}"


def _instant(stored: str) -> datetime | None:
    """A datetime as django-auditlog stores it (UTC, sometimes without an offset)."""
    if stored in ("", "None"):
        return None
    try:
        value = datetime.fromisoformat(stored)
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _is_relation_placeholder(values) -> bool:
    # Reverse relations show as "messaging.OutboxMessage.None": not a change anyone made.
    return any(isinstance(v, str) and v.endswith(".None") and v.count(".") >= 2 for v in values)


def _label(field: str) -> str:
    try:
        return str(Appointment._meta.get_field(field).verbose_name).capitalize()
    except Exception:
        return field.replace("_", " ").capitalize()


def _choice(field: str, value: str) -> str:
    choices = {
        "status": AppointmentStatus,
        "modality": Modality,
        "source": AppointmentSource,
    }.get(field)
    if choices is not None and value in choices.values:
        return str(choices(value).label)
    if value in ("", "None"):
        return "nothing"
    return {"True": "yes", "False": "no"}.get(value, value)


def _by(actor_name: str | None) -> str:
    return f" by {actor_name}" if actor_name else " by the system"


def created_sentence(
    changes: dict, *, actor_name: str | None, tz: tzinfo, moved_from: Appointment | None
) -> str:
    starts = _instant(changes.get("starts_at", ["", ""])[1])
    at = f" for {local_text(starts, tz)}" if starts else ""
    if moved_from is not None:
        return f"Moved here from {local_text(moved_from.starts_at, tz)}{_by(actor_name)}"
    source = SOURCE_WORDS.get(changes.get("source", ["", ""])[1], "")
    series = " as part of a series" if changes.get("series", ["", "None"])[1] not in ("", "None") else ""
    return f"Booked{_by(actor_name)}{at}{series}{(' ' + source) if source else ''}"


def updated_sentences(changes: dict, *, tz: tzinfo, moved_to: Appointment | None) -> list[str]:
    sentences = []
    status = changes.get("status")
    if status:
        old, new = status
        if new == AppointmentStatus.RESCHEDULED and moved_to is not None:
            sentences.append(f"Moved to {local_text(moved_to.starts_at, tz)}")
        elif new in STATUS_SENTENCES and old in (AppointmentStatus.SCHEDULED, AppointmentStatus.CONFIRMED):
            sentences.append(STATUS_SENTENCES[new])
        else:
            sentences.append(f"Status changed from {_choice('status', old)} to {_choice('status', new)}")
    if "starts_at" in changes:
        old, new = (_instant(v) for v in changes["starts_at"])
        if old and new:
            sentences.append(f"Moved from {local_text(old, tz)} to {local_text(new, tz)}")
    if changes.get("cancel_reason", ["", ""])[1]:
        sentences.append(f"Reason: “{changes['cancel_reason'][1]}”")
    if changes.get("cancelled_by_client", ["", ""])[1] == "True":
        sentences.append("The client cancelled")
    if changes.get("is_late_cancel", ["", ""])[1] == "True":
        sentences.append("Inside the late-cancel window")
    handled = {"status", "starts_at", "cancel_reason", "cancelled_by_client", "is_late_cancel"}
    for field, values in changes.items():
        if field in handled or field in QUIET_FIELDS or _is_relation_placeholder(values):
            continue
        old, new = values
        sentences.append(f"{_label(field)} changed from {_choice(field, old)} to {_choice(field, new)}")
    return sentences


def history_lines(appointment: Appointment, entries, *, tz: tzinfo) -> list[HistoryLine]:
    """``entries`` (newest first, actors loaded) as sentences."""
    moved_to = Appointment.objects.filter(rescheduled_from=appointment).only("starts_at").first()
    lines = []
    # Newest first; entries of one instant in the order they were written.
    for entry in sorted(entries, key=lambda e: (e.timestamp, e.pk), reverse=True):
        actor_name = (entry.actor.get_full_name() or str(entry.actor)) if entry.actor else None
        changes = entry.changes_dict or {}
        if entry.action == CREATE:
            text = created_sentence(
                changes, actor_name=actor_name, tz=tz, moved_from=appointment.rescheduled_from
            )
        elif entry.action == DELETE:
            text = f"Deleted{_by(actor_name)}"
        else:
            sentences = updated_sentences(changes, tz=tz, moved_to=moved_to)
            if not sentences:
                continue
            text = "; ".join(sentences) + _by(actor_name)
        lines.append(
            HistoryLine(
                when=entry.timestamp.astimezone(tz), when_text=local_text(entry.timestamp, tz), text=text
            )
        )
    return lines

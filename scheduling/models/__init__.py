"""The scheduling app's models, one module per concern; all are importable from here.

- ``appointments``: service types, appointments with their participants and attendance,
  recurring series, follow-ups, the appointment activity log, client session links and API
  idempotency records.
- ``availability``: clinicians' weekly hours and time off (SPEC F4).
- ``holds``: holds on a clinician's time and the practice's booking policy (issue 15).
- ``day_facts``: per-day counts the metrics page reads, kept current as sessions change (#14).
- ``ehr``: inbound EHR webhooks, each practice's signing secret and the events received (F20).
"""

from scheduling.models.appointments import (
    SLOT_HOLDING_STATUSES,
    STATUS_TRANSITIONS,
    UPCOMING_STATUSES,
    ActivityChannel,
    ActivityKind,
    Appointment,
    AppointmentActivity,
    AppointmentParticipant,
    AppointmentQuerySet,
    AppointmentSource,
    AppointmentStatus,
    Attendance,
    FollowUp,
    FollowUpKind,
    FollowUpQuerySet,
    Frequency,
    IdempotencyRecord,
    ManageLink,
    ManageLinkQuerySet,
    Series,
    ServiceType,
)
from scheduling.models.availability import TimeOff, Weekday, WeeklyHours
from scheduling.models.day_facts import DayFacts, DayFactsStale
from scheduling.models.ehr import EhrWebhookEvent, EhrWebhookSecret
from scheduling.models.holds import BookingPolicy, Hold, HoldKind, HoldQuerySet

__all__ = [
    "SLOT_HOLDING_STATUSES",
    "STATUS_TRANSITIONS",
    "UPCOMING_STATUSES",
    "ActivityChannel",
    "ActivityKind",
    "Appointment",
    "AppointmentActivity",
    "AppointmentParticipant",
    "AppointmentQuerySet",
    "AppointmentSource",
    "AppointmentStatus",
    "Attendance",
    "BookingPolicy",
    "DayFacts",
    "DayFactsStale",
    "EhrWebhookEvent",
    "EhrWebhookSecret",
    "FollowUp",
    "FollowUpKind",
    "FollowUpQuerySet",
    "Frequency",
    "Hold",
    "HoldKind",
    "HoldQuerySet",
    "IdempotencyRecord",
    "ManageLink",
    "ManageLinkQuerySet",
    "Series",
    "ServiceType",
    "TimeOff",
    "Weekday",
    "WeeklyHours",
]

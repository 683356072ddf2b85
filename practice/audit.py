"""Audit logging (django-auditlog): which models are logged, and the actor outside requests.

Inside a request AuditlogMiddleware records the signed-in user. Commands and tasks that
change audited data wrap the change in ``acting_as(user)`` so the entry names who did it.
"""

from contextlib import contextmanager

from auditlog.context import set_actor
from auditlog.registry import auditlog


def register_models() -> None:
    from practice.models import Client, ClinicianProfile, ConsentEvent, Membership, Practice
    from scheduling.models import (
        Appointment,
        AppointmentActivity,
        AppointmentParticipant,
        Series,
        ServiceType,
    )

    auditlog.register(Practice)
    auditlog.register(Membership)
    auditlog.register(ClinicianProfile)
    # Consent (sms_consent_*) lives on the client row, so its changes are logged here too.
    auditlog.register(Client)
    auditlog.register(ConsentEvent)
    auditlog.register(ServiceType)
    auditlog.register(Series)
    auditlog.register(Appointment)
    auditlog.register(AppointmentParticipant)
    # A client's free-text reply stays in its own table, never in the audit log.
    auditlog.register(AppointmentActivity, exclude_fields=["body"])


@contextmanager
def acting_as(user):
    with set_actor(user):
        yield

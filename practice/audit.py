"""Audit logging (django-auditlog): which models are logged, and the actor outside requests.

Inside a request AuditlogMiddleware records the signed-in user. Commands and tasks that
change audited data wrap the change in ``acting_as(user)`` so the entry names who did it.
"""

from contextlib import contextmanager

from auditlog.context import set_actor
from auditlog.registry import auditlog


def register_models() -> None:
    """The tenant app's models; each app above registers its own in its ``AppConfig.ready``."""
    from practice.models import Client, ClinicianProfile, ConsentEvent, Invitation, Membership, Practice

    # The encrypted telehealth credentials stay out of the diffs; practice.credentials logs
    # which of them changed (never their values).
    auditlog.register(Practice, exclude_fields=["telehealth_credentials"])
    auditlog.register(Membership)
    auditlog.register(ClinicianProfile)
    # Consent (sms_consent_*) lives on the client row, so its changes are logged here too.
    auditlog.register(Client)
    auditlog.register(ConsentEvent)
    # Who invited whom with which role; the token's hash stays out.
    auditlog.register(Invitation, exclude_fields=["token_hash"])


@contextmanager
def acting_as(user):
    with set_actor(user):
        yield

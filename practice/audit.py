"""Audit logging (django-auditlog): which models are logged, and the actor outside requests.

Inside a request AuditlogMiddleware records the signed-in user. Commands and tasks that
change audited data wrap the change in ``acting_as(user)`` so the entry names who did it.

Every app registers its audited models through ``register`` here, which also tags each entry
with the practice its row belongs to (``additional_data["practice_id"]``): an entry names its row
only by content type and id, so once the row is deleted nothing else says whose it was, and the
practice's audit log viewer could not show who deleted what.
"""

from contextlib import contextmanager

from auditlog.context import set_actor
from auditlog.registry import auditlog
from django.core.exceptions import ObjectDoesNotExist
from django.db import models

PRACTICE_KEY = "practice_id"


def register(model, **options) -> None:
    """``auditlog.register(model, **options)``, with the practice tag on every entry."""
    auditlog.register(model, **options)
    path = practice_path(model)
    if path is not None:
        model.get_additional_data = _practice_tag(path.split("__"))


def practice_path(model, depth: int = 0) -> str | None:
    """The lookup from ``model`` to its Practice ("pk" for Practice itself), or None."""
    from practice.models import Practice, User

    if model is Practice:
        return "pk"
    if depth > 3:
        return None
    for field in model._meta.get_fields():
        if isinstance(field, models.ForeignKey) and field.related_model is Practice:
            return field.name
    for field in model._meta.get_fields():
        if isinstance(field, models.ForeignKey) and field.related_model not in (None, User):
            below = practice_path(field.related_model, depth + 1)
            if below is not None:
                return f"{field.name}__{below}"
    return None


def _practice_tag(steps: list[str]):
    """auditlog calls an instance's ``get_additional_data()`` for each entry it writes. A direct
    ``practice`` key costs nothing; a longer path (a participant's appointment's practice) reads
    the related row unless it is already loaded, as it is where the services made the row."""

    def get_additional_data(instance) -> dict | None:
        if steps == ["pk"]:
            return {PRACTICE_KEY: instance.pk}
        row = instance
        try:
            for step in steps[:-1]:
                row = getattr(row, step)
        except ObjectDoesNotExist:
            return None
        practice_id = getattr(row, f"{steps[-1]}_id", None)
        return {PRACTICE_KEY: practice_id} if practice_id is not None else None

    return get_additional_data


def register_models() -> None:
    """The tenant app's models; each app above registers its own in its ``AppConfig.ready``."""
    from practice.models import Client, ClinicianProfile, ConsentEvent, Invitation, Membership, Practice

    # The encrypted telehealth credentials stay out of the diffs; practice.credentials logs
    # which of them changed (never their values).
    register(Practice, exclude_fields=["telehealth_credentials"])
    register(Membership)
    register(ClinicianProfile)
    # Consent (sms_consent_*) lives on the client row, so its changes are logged here too.
    register(Client)
    register(ConsentEvent)
    # Who invited whom with which role; the token's hash stays out.
    register(Invitation, exclude_fields=["token_hash"])


@contextmanager
def acting_as(user):
    with set_actor(user):
        yield

"""Actions of the tenant app: clients and their SMS consent, and staff two-factor devices.

Like scheduling.services, these are the only write paths: staff pages, the admin, the API and
imports all call them, so every rule (and every audit entry) exists once.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from practice.consent import ConsentError, client_sms_opt_in, client_sms_opt_out
from practice.models import Client, ConsentSource, Practice, User

BACKUP_CODE_COUNT = 10
BACKUP_DEVICE_NAME = "Backup codes"


# --- Clients ----------------------------------------------------------------------------------


def _set_sms_consent(client: Client, *, consent: bool, source: str, by: User | None, now: datetime) -> None:
    """Consent changes made on the staff form go through the same services as STOP/START and the
    preference page, so each one is a ConsentEvent (who, when, how) as well as the client's state."""
    if consent == (client.sms_consent_at is not None):
        return
    if consent:
        try:
            client_sms_opt_in(client=client, source=source or ConsentSource.VERBAL, by=by, now=now)
        except ConsentError as error:  # no mobile number: a field error for the form or API caller
            raise ValidationError({"sms_consent": [str(error)]}) from error
    else:
        client_sms_opt_out(client=client, source=ConsentSource.VERBAL, by=by, now=now, detail="Staff form")


def client_create(
    *,
    practice: Practice,
    fields: dict,
    sms_consent: bool = False,
    consent_source: str = "",
    by: User | None = None,
    now: datetime | None = None,
) -> Client:
    """Create a client of ``practice``. ``fields`` are validated model fields (a form's
    cleaned_data); consent is recorded with who recorded it and when."""
    now = now or timezone.now()
    with transaction.atomic():
        client = Client(practice=practice, **fields)
        client.full_clean()
        client.save()
        _set_sms_consent(client, consent=sms_consent, source=consent_source, by=by, now=now)
    return client


def client_update(
    *,
    client: Client,
    fields: dict,
    sms_consent: bool,
    consent_source: str = "",
    by: User | None = None,
    now: datetime | None = None,
) -> Client:
    now = now or timezone.now()
    with transaction.atomic():
        for name, value in fields.items():
            setattr(client, name, value)
        client.full_clean()
        client.save()
        _set_sms_consent(client, consent=sms_consent, source=consent_source, by=by, now=now)
    return client


# --- Two-factor devices -----------------------------------------------------------------------


def totp_device_start_enrolment(*, user: User) -> TOTPDevice:
    """The unconfirmed authenticator-app device a user is enrolling (one at a time)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-pk").first()
    return device or TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)


def totp_device_confirm(*, device: TOTPDevice, token: str) -> bool:
    """Confirm enrolment if ``token`` is the app's current code; other unconfirmed devices go."""
    if not device.verify_token(token.strip().replace(" ", "")):
        return False
    with transaction.atomic():
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        TOTPDevice.objects.filter(user=device.user, confirmed=False).delete()
    return True


def backup_codes_regenerate(*, user: User, count: int = BACKUP_CODE_COUNT) -> list[str]:
    """Replace the user's single-use backup codes; the new codes are returned once, to show."""
    codes = [f"{secrets.randbelow(10**8):08d}" for _ in range(count)]
    with transaction.atomic():
        device, _ = StaticDevice.objects.get_or_create(
            user=user, name=BACKUP_DEVICE_NAME, defaults={"confirmed": True}
        )
        device.token_set.all().delete()
        StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


def backup_codes_remaining(*, user: User) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


# --- Practice settings ---------------------------------------------------------------------------


def practice_set_baseline_no_show_rate(*, practice: Practice, rate: Decimal | None) -> Practice:
    """The no-show rate (percent) the practice had before Attend, for the revenue estimate of the
    metrics page; None removes it. Audit-logged with the practice (django-auditlog)."""
    with transaction.atomic():
        practice = Practice.objects.select_for_update().get(pk=practice.pk)
        practice.baseline_no_show_rate = rate
        practice.full_clean(validate_unique=False, validate_constraints=False)
        practice.save(update_fields=["baseline_no_show_rate"])
    return practice


# --- Sync from an EHR (SPEC F19/F20) ------------------------------------------------------------

EXTERNAL_CLIENT_SOURCE = "ehr_import"


def _differs(client: Client, name: str, value) -> bool:
    current = getattr(client, name)
    if name == "phone":  # a PhoneNumber in the model, E.164 text from the callers
        current = current.as_e164 if current else ""
    return current != value


def client_upsert(
    *,
    practice: Practice,
    source: str,
    external_id: str,
    fields: dict,
    sms_consent: bool | None = None,
    by: User | None = None,
    now: datetime | None = None,
) -> tuple[Client, str]:
    """Create or update the client an external system (``source``, e.g. an EHR's name) knows as
    ``external_id``. Pushing the same data again changes nothing (no save, no audit entry).
    ``sms_consent`` None leaves consent as it is. Returns the client and "created", "updated"
    or "unchanged". The API, the EHR webhook and CSV imports all call this."""
    now = now or timezone.now()
    key = {
        "practice": practice,
        "source": EXTERNAL_CLIENT_SOURCE,
        "external_source": source,
        "external_id": external_id,
    }
    with transaction.atomic():
        client = Client.objects.select_for_update().filter(**key).first()
        if client is None:
            try:
                with transaction.atomic():
                    client = client_create(
                        practice=practice,
                        fields={**fields, **{k: v for k, v in key.items() if k != "practice"}},
                        sms_consent=bool(sms_consent),
                        consent_source=ConsentSource.EHR,
                        by=by,
                        now=now,
                    )
                return client, "created"
            except (IntegrityError, ValidationError):
                # The same client pushed twice at once: the other push created it first (the
                # unique constraint, or full_clean's check of it, stopped ours).
                client = Client.objects.select_for_update().filter(**key).first()
                if client is None:
                    raise
        changed = {name: value for name, value in fields.items() if _differs(client, name, value)}
        consent_now = client.sms_consent_at is not None
        wanted_consent = consent_now if sms_consent is None else sms_consent
        if not changed and wanted_consent == consent_now:
            return client, "unchanged"
        client = client_update(
            client=client,
            fields=changed,
            sms_consent=wanted_consent,
            consent_source=ConsentSource.EHR,
            by=by,
            now=now,
        )
        return client, "updated"

"""Actions of the tenant app: clients and their SMS consent, and staff two-factor devices.

Like scheduling.services, these are the only write paths: staff pages, the admin, the API and
imports all call them, so every rule (and every audit entry) exists once.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from decimal import Decimal

from auditlog.models import LogEntry
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from practice.consent import ConsentError, client_sms_opt_in, client_sms_opt_out
from practice.models import (
    ApiToken,
    Client,
    ClinicianProfile,
    ConsentSource,
    Invitation,
    Membership,
    Practice,
    Role,
    User,
)
from practice.tokens import hash_token

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


# --- The team: invitations, roles, deactivation, second-factor reset ----------------------------

INVITATION_LIFETIME = timedelta(days=7)
OWNER_ONLY_MESSAGE = "Only an owner can change an owner's access or make someone an owner."
LAST_OWNER_MESSAGE = "The practice needs at least one active owner. Make someone else an owner first."


def _require_may_manage(*, by: Membership, target_role: str, new_role: str | None = None) -> None:
    """Owners and managers run the team; only owners touch owners or make new ones."""
    if by.role not in (Role.OWNER, Role.MANAGER):
        raise PermissionDenied("Only owners and managers manage the team.")
    if by.role != Role.OWNER and Role.OWNER in (target_role, new_role):
        raise ValidationError({"role": [OWNER_ONLY_MESSAGE]})


def _active_owner_count(practice: Practice) -> int:
    return Membership.objects.filter(practice=practice, role=Role.OWNER, is_active=True).count()


def invitation_create(
    *, practice: Practice, email: str, full_name: str, role: str, by: Membership, now: datetime | None = None
) -> tuple[Invitation, str]:
    """Invite someone by e-mail. Returns the invitation and the raw token for the link (shown in
    the e-mail only; the database keeps its hash). An open invitation to the same address is
    replaced, so only the newest link works."""
    now = now or timezone.now()
    email = (email or "").strip().lower()
    _require_may_manage(by=by, target_role=role)
    if role not in Role.values:
        raise ValidationError({"role": ["Choose a role."]})
    if Membership.objects.filter(practice=practice, user__email__iexact=email, is_active=True).exists():
        raise ValidationError({"email": ["This person is already on the team."]})
    raw = secrets.token_urlsafe(32)
    with transaction.atomic():
        Invitation.objects.filter(
            practice=practice, email__iexact=email, accepted_at__isnull=True, revoked_at__isnull=True
        ).update(revoked_at=now)
        invitation = Invitation(
            practice=practice,
            email=email,
            full_name=(full_name or "").strip(),
            role=role,
            token_hash=hash_token(raw),
            created_by=by.user,
            expires_at=now + INVITATION_LIFETIME,
        )
        invitation.full_clean()
        invitation.save()
    return invitation, raw


def invitation_send(*, invitation: Invitation, raw_token: str) -> None:
    """E-mail the link (after the invitation committed; never inside a transaction)."""
    link = f"{settings.SITE_URL}{reverse('invitation_accept', args=[raw_token])}"
    expires = timezone.localtime(invitation.expires_at, invitation.practice.zoneinfo)
    body = (
        f"Hello {invitation.full_name or invitation.email},\n\n"
        f"{invitation.created_by or 'Your practice manager'} invited you to {invitation.practice.name} "
        f"on Attend as {invitation.get_role_display().lower()}.\n\n"
        f"Set your password here (the link works once, until {expires:%B %-d, %Y %H:%M %Z}):\n{link}\n\n"
        "You will then set up two-step sign-in with an authenticator app on your phone.\n"
    )
    send_mail(
        f"You are invited to {invitation.practice.name} on Attend",
        body,
        settings.DEFAULT_FROM_EMAIL,
        [invitation.email],
    )


def invitation_for_token(raw_token: str, *, now: datetime | None = None) -> Invitation | None:
    """The open invitation behind a link, or None (unknown, used, revoked or expired)."""
    now = now or timezone.now()
    if not raw_token or len(raw_token) > 100:
        return None
    invitation = (
        Invitation.objects.select_related("practice").filter(token_hash=hash_token(raw_token)).first()
    )
    if invitation is None or not invitation.is_open(now):
        return None
    return invitation


def _ensure_clinician_profile(practice: Practice, user: User) -> None:
    """A clinician can be booked at once: they get a profile with their name if they had none."""
    if not ClinicianProfile.objects.filter(practice=practice, user=user).exists():
        ClinicianProfile.objects.create(
            practice=practice, user=user, display_name=user.full_name, email=user.email
        )


def invitation_accept(
    *, raw_token: str, password: str | None, full_name: str = "", now: datetime | None = None
) -> User:
    """Use an invitation: make the account (with ``password``) or, for someone who already has
    one, add the membership. Single use: the row is locked and marked accepted."""
    now = now or timezone.now()
    with transaction.atomic():
        invitation = (
            Invitation.objects.select_for_update()
            .select_related("practice")
            .filter(token_hash=hash_token(raw_token or ""))
            .first()
        )
        if invitation is None or not invitation.is_open(now):
            raise ValidationError("This invitation link has expired or was already used. Ask for a new one.")
        user = User.objects.filter(email__iexact=invitation.email).first()
        if user is None:
            if not password:
                raise ValidationError({"password1": ["Choose a password."]})
            user = User.objects.create_user(
                email=invitation.email, password=password, full_name=full_name or invitation.full_name
            )
        membership = Membership.objects.filter(practice=invitation.practice, user=user).first()
        if membership is None:
            Membership.objects.create(practice=invitation.practice, user=user, role=invitation.role)
        else:
            membership.role = invitation.role
            membership.is_active = True
            membership.deactivated_at = None
            membership.save(update_fields=["role", "is_active", "deactivated_at"])
        if invitation.role == Role.CLINICIAN:
            _ensure_clinician_profile(invitation.practice, user)
        invitation.accepted_at = now
        invitation.accepted_by = user
        invitation.save(update_fields=["accepted_at", "accepted_by"])
    return user


def invitation_revoke(*, invitation: Invitation, by: Membership, now: datetime | None = None) -> Invitation:
    now = now or timezone.now()
    _require_may_manage(by=by, target_role=invitation.role)
    Invitation.objects.filter(pk=invitation.pk, accepted_at__isnull=True, revoked_at__isnull=True).update(
        revoked_at=now
    )
    invitation.refresh_from_db(fields=["revoked_at"])
    return invitation


def membership_set_role(*, membership: Membership, role: str, by: Membership) -> Membership:
    """Change a member's role. Only owners touch owners; the last active owner stays an owner."""
    if role not in Role.values:
        raise ValidationError({"role": ["Choose a role."]})
    with transaction.atomic():
        membership = Membership.objects.select_for_update().get(pk=membership.pk)
        _require_may_manage(by=by, target_role=membership.role, new_role=role)
        if role == membership.role:
            return membership
        # Lock the practice's owners so two demotions at once cannot both pass the count.
        list(
            Membership.objects.select_for_update().filter(practice_id=membership.practice_id, role=Role.OWNER)
        )
        if (
            membership.role == Role.OWNER
            and membership.is_active
            and _active_owner_count(membership.practice) <= 1
        ):
            raise ValidationError({"role": [LAST_OWNER_MESSAGE]})
        membership.role = role
        membership.save(update_fields=["role"])
        if role == Role.CLINICIAN:
            _ensure_clinician_profile(membership.practice, membership.user)
    return membership


def _user_sessions_revoke(user: User) -> int:
    """End the user's signed-in sessions (found by the user column of practice.sessions)."""
    from practice.sessions import user_sessions_delete

    return user_sessions_delete(user.pk)


def membership_deactivate(
    *, membership: Membership, by: Membership, now: datetime | None = None
) -> Membership:
    """Take someone off the team: the membership goes inactive (they can no longer open this
    practice), their signed-in sessions end and the API tokens they made for it are revoked."""
    now = now or timezone.now()
    with transaction.atomic():
        membership = Membership.objects.select_for_update().select_related("user").get(pk=membership.pk)
        _require_may_manage(by=by, target_role=membership.role)
        if not membership.is_active:
            return membership
        list(
            Membership.objects.select_for_update().filter(practice_id=membership.practice_id, role=Role.OWNER)
        )
        if membership.role == Role.OWNER and _active_owner_count(membership.practice) <= 1:
            raise ValidationError({"role": [LAST_OWNER_MESSAGE]})
        membership.is_active = False
        membership.deactivated_at = now
        membership.save(update_fields=["is_active", "deactivated_at"])
        ApiToken.objects.filter(
            practice_id=membership.practice_id, created_by=membership.user, revoked_at__isnull=True
        ).update(revoked_at=now)
        _user_sessions_revoke(membership.user)
    return membership


def membership_reactivate(*, membership: Membership, by: Membership) -> Membership:
    with transaction.atomic():
        membership = Membership.objects.select_for_update().get(pk=membership.pk)
        _require_may_manage(by=by, target_role=membership.role)
        membership.is_active = True
        membership.deactivated_at = None
        membership.save(update_fields=["is_active", "deactivated_at"])
    return membership


def two_factor_reset(*, membership: Membership, by: Membership) -> int:
    """Remove a member's authenticator and backup codes: they enrol again at next sign-in. Their
    sessions end. Audit-logged on the membership ("second factor reset by …")."""
    with transaction.atomic():
        membership = Membership.objects.select_for_update().select_related("user").get(pk=membership.pk)
        _require_may_manage(by=by, target_role=membership.role)
        user = membership.user
        removed, _ = TOTPDevice.objects.filter(user=user).delete()
        StaticDevice.objects.filter(user=user).delete()
        LogEntry.objects.log_create(
            membership,
            force_log=True,
            action=LogEntry.Action.UPDATE,
            changes={"second factor": ["enrolled", "reset: enrol again at next sign-in"]},
            actor=by.user,
        )
        _user_sessions_revoke(user)
    return removed


PRACTICE_SETTINGS_FIELDS = (
    "name",
    "phone",
    "email",
    "address",
    "timezone",
    "business_hours_start",
    "business_hours_end",
    "late_cancel_window_hours",
    "no_show_grace_minutes",
    "no_show_fee",
    "telehealth_provider",
    "join_opens_minutes_before",
    "sms_from_number",
    "email_sender_name",
)


def practice_update(*, practice: Practice, fields: dict) -> Practice:
    """Change the practice's own settings (name, contact, zone, business hours, policies,
    telehealth provider, SMS sender). Audit-logged with the practice (django-auditlog)."""
    unknown = set(fields) - set(PRACTICE_SETTINGS_FIELDS)
    if unknown:
        raise ValueError(f"Not practice settings: {sorted(unknown)}")
    with transaction.atomic():
        practice = Practice.objects.select_for_update().get(pk=practice.pk)
        for name, value in fields.items():
            setattr(practice, name, value)
        errors = {}
        try:
            practice.full_clean(validate_unique=False, validate_constraints=False)
        except ValidationError as error:
            errors = error.message_dict
        start, end = practice.business_hours_start, practice.business_hours_end
        if start and end and end <= start and "business_hours_end" not in errors:
            errors["business_hours_end"] = ["Business hours must end after they start."]
        if errors:
            raise ValidationError(errors)
        practice.save(update_fields=list(fields))
    return practice

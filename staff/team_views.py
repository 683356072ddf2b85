"""The team page (owners and managers): who works here with which role, invitations by e-mail,
role changes, deactivation and second-factor resets. Every row is looked up through
``request.practice`` (another practice's member is a 404); every change is a service in
practice/services.py, which holds the rules (only owners touch owners; the last owner stays)."""

from __future__ import annotations

import logging
import smtplib

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Exists, OuterRef
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST
from django_otp.plugins.otp_totp.models import TOTPDevice

from integrations.services import calendar_feed_revoke
from practice import services
from practice.access import MANAGERS, staff_view
from practice.forms import add_service_errors
from practice.models import ClinicianProfile, Invitation, Membership, Role

logger = logging.getLogger(__name__)


class InviteForm(forms.Form):
    full_name = forms.CharField(label="Name", max_length=150)
    email = forms.EmailField(label="E-mail", max_length=254)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.CLINICIAN)

    def __init__(self, *args, by: Membership, **kwargs):
        super().__init__(*args, **kwargs)
        if by.role != Role.OWNER:
            self.fields["role"].choices = [c for c in Role.choices if c[0] != Role.OWNER]


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


def _members(practice):
    confirmed = TOTPDevice.objects.filter(user=OuterRef("user_id"), confirmed=True)
    return (
        Membership.objects.for_practice(practice)
        .select_related("user")
        .annotate(has_two_factor=Exists(confirmed))
        .order_by("-is_active", "user__full_name", "user__email")
    )


def _team_page(request, *, invite_form=None, row_errors=None, status=200):
    now = timezone.now()
    invitations = [
        i
        for i in Invitation.objects.for_practice(request.practice).filter(
            accepted_at__isnull=True, revoked_at__isnull=True
        )
        if i.is_open(now)
    ]
    is_owner = request.membership.role == Role.OWNER
    members = list(_members(request.practice))
    for member in members:
        member.is_me = member.user_id == request.user.pk
        member.editable = member.is_active and not member.is_me and (is_owner or member.role != Role.OWNER)
        member.errors = (row_errors or {}).get(member.pk, [])
    context = {
        "members": members,
        "invitations": invitations,
        "invite_form": invite_form or InviteForm(by=request.membership),
        "roles": Role.choices,
        "is_owner": is_owner,
        "nav": "settings",
    }
    return render(request, "staff/admin/team.html", context, status=status)


@staff_view(MANAGERS)
def team(request):
    if request.method != "POST":
        return _team_page(request)
    form = InviteForm(request.POST, by=request.membership)
    if form.is_valid():
        try:
            invitation, raw = services.invitation_create(
                practice=request.practice,
                email=form.cleaned_data["email"],
                full_name=form.cleaned_data["full_name"],
                role=form.cleaned_data["role"],
                by=request.membership,
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            # The invitation is committed (no request-wide transaction): now the network.
            try:
                services.invitation_send(invitation=invitation, raw_token=raw)
            except (OSError, smtplib.SMTPException):
                logger.exception("Invitation e-mail %s could not be sent", invitation.pk)
                services.invitation_revoke(invitation=invitation, by=request.membership)
                form.add_error(None, "The e-mail could not be sent just now, so nothing was sent. Try again.")
                return _team_page(request, invite_form=form, status=503)
            messages.success(request, f"Invitation sent to {invitation.email}. The link works for 7 days.")
            return redirect("team")
    return _team_page(request, invite_form=form, status=400)


def _member(request, pk: int) -> Membership:
    return get_object_or_404(Membership.objects.select_related("user"), pk=pk, practice=request.practice)


def _refused(request, member: Membership, error: Exception):
    text = error.messages if isinstance(error, ValidationError) else [str(error)]
    return _team_page(
        request, row_errors={member.pk: text}, status=400 if isinstance(error, ValidationError) else 403
    )


@require_POST
@staff_view(MANAGERS)
def member_role(request, pk: int):
    member = _member(request, pk)
    form = RoleForm(request.POST)
    if not form.is_valid():
        return _refused(request, member, ValidationError("Choose one of the roles."))
    try:
        services.membership_set_role(membership=member, role=form.cleaned_data["role"], by=request.membership)
    except (ValidationError, PermissionDenied) as error:
        return _refused(request, member, error)
    messages.success(request, f"{member.user} is now {Role(form.cleaned_data['role']).label.lower()}.")
    return redirect("team")


@require_POST
@staff_view(MANAGERS)
def member_deactivate(request, pk: int):
    member = _member(request, pk)
    if member.user_id == request.user.pk:
        return _refused(request, member, ValidationError("You cannot deactivate yourself."))
    try:
        services.membership_deactivate(membership=member, by=request.membership)
    except (ValidationError, PermissionDenied) as error:
        return _refused(request, member, error)
    # Their private calendar feed (integrations, above practice) stops too.
    for profile in ClinicianProfile.objects.for_practice(request.practice).filter(user=member.user):
        calendar_feed_revoke(clinician=profile)
    messages.success(
        request,
        f"{member.user} can no longer sign in to this practice; their sessions, API tokens and "
        "calendar feed are revoked.",
    )
    return redirect("team")


@require_POST
@staff_view(MANAGERS)
def member_reactivate(request, pk: int):
    member = _member(request, pk)
    try:
        services.membership_reactivate(membership=member, by=request.membership)
    except (ValidationError, PermissionDenied) as error:
        return _refused(request, member, error)
    messages.success(request, f"{member.user} can sign in to this practice again.")
    return redirect("team")


@require_POST
@staff_view(MANAGERS)
def member_reset_two_factor(request, pk: int):
    member = _member(request, pk)
    try:
        services.two_factor_reset(membership=member, by=request.membership)
    except (ValidationError, PermissionDenied) as error:
        return _refused(request, member, error)
    messages.success(
        request,
        f"Two-step sign-in of {member.user} is reset: they set up an authenticator at their next sign-in.",
    )
    if member.user_id == request.user.pk:
        return redirect("login")
    return redirect("team")


@require_POST
@staff_view(MANAGERS)
def invitation_revoke(request, pk: int):
    invitation = get_object_or_404(Invitation, pk=pk, practice=request.practice)
    try:
        services.invitation_revoke(invitation=invitation, by=request.membership)
    except (ValidationError, PermissionDenied) as error:
        messages.error(request, " ".join(getattr(error, "messages", [str(error)])))
        return redirect("team")
    messages.success(request, f"The invitation to {invitation.email} is withdrawn.")
    return redirect("team")

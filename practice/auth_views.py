"""Sign-in, sign-out, and the second factor: enrolment (QR code), verification, backup codes.

A password alone never reaches a staff page: RequireTwoFactorMiddleware sends a signed-in user
without a verified device here, to enrol if they have no authenticator yet, else to verify.
"""

from __future__ import annotations

import segno
from django.contrib import messages
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth import login as auth_login
from django.contrib.auth import views as django_auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods
from django_otp import devices_for_user, user_has_device
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from practice.forms import (
    EmailAuthenticationForm,
    OneTimeCodeForm,
    RateLimitedPasswordResetForm,
    SetPasswordOnInviteForm,
    add_service_errors,
)
from practice.models import User
from practice.parsing import local_url
from practice.services import (
    backup_codes_regenerate,
    backup_codes_remaining,
    invitation_for_token,
    totp_device_confirm,
    totp_device_start_enrolment,
)
from practice.services import (
    invitation_accept as accept_invitation,
)

# New backup codes are shown once, on the page after they were made.
FRESH_CODES_SESSION_KEY = "attend_fresh_backup_codes"


def _next_url(request) -> str:
    target = request.POST.get(REDIRECT_FIELD_NAME) or request.GET.get(REDIRECT_FIELD_NAME, "")
    return local_url(target, host=request.get_host(), require_https=request.is_secure()) or reverse("home")


login_view = django_auth_views.LoginView.as_view(
    template_name="registration/login.html",
    authentication_form=EmailAuthenticationForm,
    redirect_authenticated_user=True,
)

logout_view = django_auth_views.LogoutView.as_view()


@never_cache
@sensitive_post_parameters("code")
@login_required
@require_http_methods(["GET", "POST"])
def two_factor_verify(request):
    user = request.user
    if user.is_verified():
        return redirect(_next_url(request))
    if not user_has_device(user):
        return redirect(f"{reverse('two_factor_setup')}?{request.GET.urlencode()}")
    form = OneTimeCodeForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        devices = _devices_for_code(list(devices_for_user(user, confirmed=True)), form.cleaned_data["code"])
        throttled = _is_throttled(devices)
        device = None if throttled else _device_accepting(devices, form.cleaned_data["code"])
        if device is not None:
            otp_login(request, device)
            if device.persistent_id.startswith("otp_static"):
                left = backup_codes_remaining(user=user)
                messages.warning(request, f"You used a backup code; {left} remain.")
            return redirect(_next_url(request))
        form.add_error(
            "code",
            THROTTLED_MESSAGE
            if throttled
            else "That code is not right, or it has expired. Try the newest code.",
        )
    return render(request, "registration/two_factor_verify.html", {"form": form, "next": _next_url(request)})


THROTTLED_MESSAGE = "Too many wrong codes in a row. Wait a few seconds, then enter the newest code."


def _is_throttled(devices) -> bool:
    """True while a device refuses codes after repeated failures (django-otp doubles the wait
    after each wrong code), so guessing six digits is hopeless."""
    return any(not device.verify_is_allowed()[0] for device in devices)


def _devices_for_code(devices, code: str) -> list:
    """The devices ``code`` can belong to: an authenticator's code has its number of digits, any
    other code is a backup code. Trying a backup code on the authenticator too would count it as
    a wrong authenticator code and throttle the next sign-in."""
    authenticators = [
        device
        for device in devices
        if isinstance(device, TOTPDevice) and code.isdigit() and len(code) == device.digits
    ]
    return authenticators or [device for device in devices if not isinstance(device, TOTPDevice)]


def _device_accepting(devices, code: str):
    """The device (authenticator or backup codes) that accepts ``code``, if any."""
    for device in devices:
        if device.verify_token(code):
            return device
    return None


@never_cache
@sensitive_post_parameters("code")
@login_required
@require_http_methods(["GET", "POST"])
def two_factor_setup(request):
    """Enrol an authenticator app: scan the QR code (or type the key), then enter a code."""
    user = request.user
    if user_has_device(user) and not user.is_verified():
        # Someone holding only the password must not be able to add a second authenticator.
        return redirect(f"{reverse('two_factor_verify')}?{request.GET.urlencode()}")
    device = totp_device_start_enrolment(user=user)
    form = OneTimeCodeForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        throttled = _is_throttled([device])
        if not throttled and totp_device_confirm(device=device, token=form.cleaned_data["code"]):
            otp_login(request, device)
            request.session[FRESH_CODES_SESSION_KEY] = backup_codes_regenerate(user=user)
            messages.success(request, "Two-step sign-in is on. Keep your backup codes somewhere safe.")
            return redirect(f"{reverse('two_factor_backup_codes')}?next={_next_url(request)}")
        form.add_error(
            "code",
            THROTTLED_MESSAGE
            if throttled
            else "That code does not match. Check the phone's clock and try again.",
        )
    context = {
        "form": form,
        "qr_svg": segno.make(device.config_url, error="m").svg_inline(scale=5, dark="#1b2430"),
        "secret": _grouped_secret(device),
        "next": _next_url(request),
    }
    return render(request, "registration/two_factor_setup.html", context)


def _grouped_secret(device) -> str:
    from base64 import b32encode

    key = b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(key[i : i + 4] for i in range(0, len(key), 4))


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def backup_codes(request):
    """Show freshly made codes once; a verified user can make a new set (the old ones stop working)."""
    # /accounts/ pages are exempt from the 2FA middleware, so this page checks for itself.
    if not request.user.is_verified():
        return redirect("two_factor_verify")
    if request.method == "POST":
        request.session[FRESH_CODES_SESSION_KEY] = backup_codes_regenerate(user=request.user)
        messages.success(request, "New backup codes made. The old ones no longer work.")
        return redirect("two_factor_backup_codes")
    codes = request.session.pop(FRESH_CODES_SESSION_KEY, None)
    context = {
        "codes": codes,
        "remaining": backup_codes_remaining(user=request.user),
        "next": _next_url(request),
    }
    return render(request, "registration/backup_codes.html", context)


# --- Joining from an invitation ---------------------------------------------------------------------


@never_cache
@sensitive_post_parameters("password1", "password2")
@require_http_methods(["GET", "POST"])
def invitation_accept(request, token: str):
    """The link from an invitation e-mail. Opening it changes nothing (link scanners open links);
    posting the form makes the account, signs the person in with the password, and the 2FA
    middleware then sends them to enrol an authenticator."""
    invitation = invitation_for_token(token)
    if invitation is None:
        return render(request, "registration/invitation_invalid.html", status=404)
    if request.user.is_authenticated:
        return render(
            request, "registration/invitation_signed_in.html", {"invitation": invitation}, status=409
        )
    existing = User.objects.filter(email__iexact=invitation.email).first()
    form = None
    if existing is None:
        form = SetPasswordOnInviteForm(
            request.POST if request.method == "POST" else None,
            email=invitation.email,
            initial={"full_name": invitation.full_name},
        )
    if request.method == "POST" and (form is None or form.is_valid()):
        try:
            user = accept_invitation(
                raw_token=token,
                password=form.cleaned_data["password1"] if form else None,
                full_name=form.cleaned_data["full_name"] if form else "",
            )
        except ValidationError as error:
            if form is None:
                return render(request, "registration/invitation_invalid.html", status=404)
            add_service_errors(form, error)
        else:
            if existing is not None:
                messages.success(request, f"You joined {invitation.practice.name}. Sign in to continue.")
                return redirect("login")
            auth_login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, "Your password is set. Now set up two-step sign-in.")
            return redirect("two_factor_setup")
    context = {"invitation": invitation, "form": form, "existing": existing}
    return render(
        request, "registration/invitation_accept.html", context, status=400 if form and form.errors else 200
    )


class PasswordResetView(django_auth_views.PasswordResetView):
    """ "Forgot password": the same answer whether or not the address is known, rate-limited
    per address and per e-mail (practice/forms.py)."""

    form_class = RateLimitedPasswordResetForm
    template_name = "registration/password_reset_form.html"
    email_template_name = "registration/password_reset_email.txt"
    subject_template_name = "registration/password_reset_subject.txt"

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "client_address": self.request.META.get("REMOTE_ADDR", "")}


password_reset = PasswordResetView.as_view()
password_reset_done = django_auth_views.PasswordResetDoneView.as_view(
    template_name="registration/password_reset_done.html"
)
password_reset_confirm = django_auth_views.PasswordResetConfirmView.as_view(
    template_name="registration/password_reset_confirm.html"
)
password_reset_complete = django_auth_views.PasswordResetCompleteView.as_view(
    template_name="registration/password_reset_complete.html"
)

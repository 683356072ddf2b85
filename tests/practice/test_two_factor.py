"""Sign-in with a password and a second factor (TOTP or a backup code), and its enforcement."""

from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery"


def current_code(device: TOTPDevice) -> str:
    """What the user's authenticator app shows right now."""
    value = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits)
    return f"{value:0{device.digits}d}"


def sign_in_with_password(client, user):
    return client.post(reverse("login"), {"username": user.email, "password": PASSWORD})


def test_a_password_alone_does_not_open_staff_pages(client, manager):
    sign_in_with_password(client, manager)

    response = client.get(reverse("appointment_list"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("two_factor_setup"))


def test_a_new_user_enrols_with_the_qr_code_and_gets_backup_codes(client, manager):
    sign_in_with_password(client, manager)

    page = client.get(reverse("two_factor_setup"))
    assert page.status_code == 200
    assert b"<svg" in page.content
    device = TOTPDevice.objects.get(user=manager, confirmed=False)

    wrong = client.post(
        reverse("two_factor_setup"), {"code": "000000" if current_code(device) != "000000" else "111111"}
    )
    assert wrong.status_code == 200
    assert "does not match" in wrong.content.decode()

    # django-otp makes the next try wait a second after a wrong code.
    with time_machine.travel(timezone.now() + timedelta(seconds=2), tick=False):
        done = client.post(reverse("two_factor_setup"), {"code": current_code(device)})
    assert done.status_code == 302
    assert done["Location"].startswith(reverse("two_factor_backup_codes"))
    device.refresh_from_db()
    assert device.confirmed

    codes_page = client.get(done["Location"])
    codes = codes_page.context["codes"]
    assert len(codes) == 10
    assert StaticToken.objects.filter(device__user=manager).count() == 10
    assert client.get(reverse("appointment_list")).status_code == 200


def test_an_enrolled_user_must_verify_and_cannot_enrol_a_second_device(client, manager):
    TOTPDevice.objects.create(user=manager, name="phone", confirmed=True)
    sign_in_with_password(client, manager)

    assert client.get(reverse("appointment_list"))["Location"].startswith(reverse("two_factor_verify"))
    assert client.get(reverse("two_factor_setup"))["Location"].startswith(reverse("two_factor_verify"))
    assert TOTPDevice.objects.filter(user=manager).count() == 1


def test_the_authenticator_code_verifies_and_returns_to_the_page_asked_for(client, manager):
    device = TOTPDevice.objects.create(user=manager, name="phone", confirmed=True)
    sign_in_with_password(client, manager)
    wanted = reverse("client_list")

    response = client.post(f"{reverse('two_factor_verify')}?next={wanted}", {"code": current_code(device)})

    assert response.status_code == 302
    assert response["Location"] == wanted
    assert client.get(wanted).status_code == 200


def test_a_wrong_code_is_refused_with_a_field_error(client, manager):
    device = TOTPDevice.objects.create(user=manager, name="phone", confirmed=True)
    sign_in_with_password(client, manager)
    wrong = "123456" if current_code(device) != "123456" else "654321"

    response = client.post(reverse("two_factor_verify"), {"code": wrong})

    assert response.status_code == 200
    assert "not right" in response.context["form"].errors["code"][0]
    assert client.get(reverse("appointment_list")).status_code == 302


def test_a_right_code_right_after_a_wrong_one_waits_for_the_throttle(client, manager):
    device = TOTPDevice.objects.create(user=manager, name="phone", confirmed=True)
    sign_in_with_password(client, manager)
    right = current_code(device)
    client.post(reverse("two_factor_verify"), {"code": "000000" if right != "000000" else "111111"})

    response = client.post(reverse("two_factor_verify"), {"code": right})

    assert "Too many wrong codes" in response.context["form"].errors["code"][0]


def test_symbols_in_a_code_are_a_field_error_not_a_crash(client, manager):
    TOTPDevice.objects.create(user=manager, name="phone", confirmed=True)
    sign_in_with_password(client, manager)

    response = client.post(reverse("two_factor_verify"), {"code": "abc<script>"})

    assert response.status_code == 200
    assert response.context["form"].errors["code"] == ["Codes are made of letters and digits only."]


def test_a_backup_code_works_once(client, manager):
    from practice.services import backup_codes_regenerate

    TOTPDevice.objects.create(user=manager, name="phone", confirmed=True)
    code = backup_codes_regenerate(user=manager)[0]
    sign_in_with_password(client, manager)
    assert client.post(reverse("two_factor_verify"), {"code": code}).status_code == 302

    client.post(reverse("logout"))
    sign_in_with_password(client, manager)
    again = client.post(reverse("two_factor_verify"), {"code": code})

    assert again.status_code == 200
    assert StaticToken.objects.filter(device__user=manager).count() == 9


def test_a_printed_demo_style_backup_code_works_in_any_case(client, manager):
    from django_otp.plugins.otp_static.models import StaticDevice

    TOTPDevice.objects.create(user=manager, name="phone", confirmed=True)
    device = StaticDevice.objects.create(user=manager, name="Backup codes", confirmed=True)
    device.token_set.create(token="ar6m7s7e")
    sign_in_with_password(client, manager)

    response = client.post(reverse("two_factor_verify"), {"code": "AR6M 7S7E"})

    assert response.status_code == 302


def test_backup_codes_cannot_be_remade_with_only_the_password(client, manager):
    TOTPDevice.objects.create(user=manager, name="phone", confirmed=True)
    sign_in_with_password(client, manager)

    response = client.post(reverse("two_factor_backup_codes"))

    assert response["Location"].startswith(reverse("two_factor_verify"))
    assert not StaticToken.objects.filter(device__user=manager).exists()


def test_the_operator_console_needs_the_second_factor_too(client, manager):
    manager.is_staff = manager.is_superuser = True
    manager.save()
    sign_in_with_password(client, manager)

    response = client.get("/admin/")

    assert response.status_code == 302
    assert "/admin/" not in response["Location"].split("?")[0]


def test_staff_are_signed_out_after_inactivity(signed_in, manager, settings):
    http = signed_in(manager)
    assert http.get(reverse("appointment_list")).status_code == 200

    later = timezone.now() + timedelta(minutes=settings.SESSION_IDLE_TIMEOUT_MINUTES + 1)
    with time_machine.travel(later, tick=False):
        response = http.get(reverse("appointment_list"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_activity_within_the_limit_keeps_the_session(signed_in, manager, settings):
    http = signed_in(manager)
    http.get(reverse("appointment_list"))

    later = timezone.now() + timedelta(minutes=settings.SESSION_IDLE_TIMEOUT_MINUTES - 1)
    with time_machine.travel(later, tick=False):
        assert http.get(reverse("appointment_list")).status_code == 200


def test_repeated_wrong_passwords_lock_the_account_out_for_a_while(client, manager, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(reverse("login"), {"username": manager.email, "password": "wrong-password"})

    response = client.post(reverse("login"), {"username": manager.email, "password": PASSWORD})

    assert response.status_code == 429
    assert "Too many sign-in attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_a_wrong_password_shows_a_clear_message(client, manager):
    response = client.post(reverse("login"), {"username": manager.email, "password": "nope"})

    assert response.status_code == 200
    assert "do not match an account" in response.content.decode()


def test_the_operator_console_sends_visitors_to_the_staff_sign_in(client):
    response = client.get("/admin/", follow=True)

    assert response.redirect_chain[-1][0].startswith(reverse("login"))
    assert response.status_code == 200


def test_a_verified_member_who_is_not_an_operator_is_refused_by_the_console(signed_in, manager):
    response = signed_in(manager).get("/admin/", follow=True)

    assert response.status_code == 403

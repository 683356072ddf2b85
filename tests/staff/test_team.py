"""The team page: invitations (single use, expiring, hashed), roles (only owners touch owners;
the last owner stays), deactivation (sessions and tokens revoked), second-factor reset, and
"forgot password"."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from auditlog.models import LogEntry
from django.core import mail
from django.test import Client as HttpClient
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from practice.models import ApiToken, BrowserSession, ClinicianProfile, Invitation, Membership, Role, User
from practice.services import invitation_create
from practice.tokens import api_token_create, hash_token
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner(practice):
    return make_user(practice, Role.OWNER, "olive@riverside.test", "Olive Owner")


def _invite(http, **data):
    payload = {"full_name": "Nina New", "email": "nina@riverside.test", "role": Role.CLINICIAN, **data}
    return http.post(reverse("team"), payload)


def _link_from_mail() -> str:
    return re.search(r"https?://\S+/accounts/invite/\S+/", mail.outbox[-1].body).group(0)


def test_a_manager_invites_a_clinician_who_sets_a_password_then_must_enrol_2fa(
    signed_in, manager, practice, django_capture_on_commit_callbacks
):
    http = signed_in(manager)
    with django_capture_on_commit_callbacks(execute=True):
        response = _invite(http)
    assert response.status_code == 302
    invitation = Invitation.objects.get()
    link = _link_from_mail()
    raw = link.rstrip("/").rsplit("/", 1)[1]
    assert invitation.token_hash == hash_token(raw) and raw not in invitation.token_hash
    path = link.split("127.0.0.1:8000", 1)[-1]

    newcomer = HttpClient()
    page = newcomer.get(path)
    assert page.status_code == 200 and b"Join Riverside Counseling" in page.content
    assert not User.objects.filter(email="nina@riverside.test").exists()  # a GET changes nothing

    weak = newcomer.post(path, {"full_name": "Nina New", "password1": "123", "password2": "123"})
    assert weak.status_code == 400 and weak.context["form"].errors["password1"]

    done = newcomer.post(
        path,
        {
            "full_name": "Nina New",
            "password1": "a-long-good-passphrase",
            "password2": "a-long-good-passphrase",
        },
    )
    assert done.status_code == 302 and done["Location"] == reverse("two_factor_setup")
    user = User.objects.get(email="nina@riverside.test")
    assert Membership.objects.get(user=user, practice=practice).role == Role.CLINICIAN
    assert ClinicianProfile.objects.filter(user=user, practice=practice, display_name="Nina New").exists()
    # Signed in with the password only: every staff page sends them to enrol.
    board = newcomer.get(reverse("my_day"))
    assert board.status_code == 302 and reverse("two_factor_setup") in board["Location"]

    # Single use.
    again = HttpClient().get(path)
    assert again.status_code == 404


def test_an_expired_invitation_link_does_not_work(manager, practice):
    membership = Membership.objects.get(user=manager)
    invitation, raw = invitation_create(
        practice=practice, email="late@x.test", full_name="Late", role=Role.FRONT_DESK, by=membership
    )
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    path = reverse("invitation_accept", args=[raw])
    assert HttpClient().get(path).status_code == 404
    assert HttpClient().post(path, {"password1": "x", "password2": "x"}).status_code == 404
    assert HttpClient().get(reverse("invitation_accept", args=["nonsense"])).status_code == 404


def test_a_new_invitation_replaces_the_open_one(manager, practice):
    membership = Membership.objects.get(user=manager)
    _, first = invitation_create(
        practice=practice, email="a@x.test", full_name="A", role=Role.BILLER, by=membership
    )
    invitation_create(practice=practice, email="A@x.test", full_name="A", role=Role.BILLER, by=membership)
    assert HttpClient().get(reverse("invitation_accept", args=[first])).status_code == 404


def test_invite_form_errors_are_beside_their_fields(signed_in, manager):
    http = signed_in(manager)
    response = _invite(http, email="not-an-address", role="emperor", full_name="")
    assert response.status_code == 400
    errors = response.context["invite_form"].errors
    assert set(errors) == {"email", "role", "full_name"}
    already = _invite(http, email=manager.email)
    assert already.status_code == 400 and already.context["invite_form"].errors["email"]


def test_a_manager_cannot_invite_an_owner_or_change_an_owner(signed_in, manager, owner):
    http = signed_in(manager)
    assert _invite(http, role=Role.OWNER).status_code == 400
    owner_membership = Membership.objects.get(user=owner)
    response = http.post(reverse("member_role", args=[owner_membership.pk]), {"role": Role.BILLER})
    assert response.status_code == 400
    assert Membership.objects.get(pk=owner_membership.pk).role == Role.OWNER
    assert http.post(reverse("member_deactivate", args=[owner_membership.pk])).status_code == 400
    assert http.post(reverse("member_reset_two_factor", args=[owner_membership.pk])).status_code == 400


def test_the_last_owner_cannot_be_demoted_or_deactivated(signed_in, owner, practice):
    second = make_user(practice, Role.OWNER, "second@riverside.test", "Second Owner")
    http = signed_in(second)
    owner_membership = Membership.objects.get(user=owner)
    assert (
        http.post(reverse("member_role", args=[owner_membership.pk]), {"role": Role.MANAGER}).status_code
        == 302
    )
    # Now `second` is the only owner: demoting them (by anyone) is refused.
    second_membership = Membership.objects.get(user=second)
    ex_owner = signed_in(owner)  # now a manager
    refused = ex_owner.post(reverse("member_role", args=[second_membership.pk]), {"role": Role.MANAGER})
    assert refused.status_code == 400
    from practice.services import membership_set_role

    with pytest.raises(Exception, match="at least one active owner"):
        membership_set_role(membership=second_membership, role=Role.MANAGER, by=second_membership)


def test_roles_change_with_field_errors_for_bad_input(signed_in, manager, front_desk):
    http = signed_in(manager)
    member = Membership.objects.get(user=front_desk)
    assert http.post(reverse("member_role", args=[member.pk]), {"role": "\x00;drop"}).status_code == 400
    assert http.post(reverse("member_role", args=[member.pk]), {"role": Role.BILLER}).status_code == 302
    assert Membership.objects.get(pk=member.pk).role == Role.BILLER
    assert LogEntry.objects.get_for_object(member).filter(action=LogEntry.Action.UPDATE).exists()


def test_deactivation_ends_sessions_revokes_tokens_and_shuts_the_practice(
    signed_in, manager, front_desk, practice
):
    victim = signed_in(front_desk)
    assert victim.get(reverse("board")).status_code == 200
    assert BrowserSession.objects.filter(user_id=front_desk.pk).count() == 1
    token, _ = api_token_create(practice=practice, name="Desk script", created_by=front_desk)
    other_token, _ = api_token_create(practice=practice, name="Manager's", created_by=manager)
    member = Membership.objects.get(user=front_desk)

    response = signed_in(manager).post(reverse("member_deactivate", args=[member.pk]))

    assert response.status_code == 302
    member.refresh_from_db()
    assert member.is_active is False and member.deactivated_at is not None
    assert ApiToken.objects.get(pk=token.pk).revoked_at is not None
    assert ApiToken.objects.get(pk=other_token.pk).revoked_at is None
    assert victim.get(reverse("board")).status_code == 302  # signed out
    assert not any(
        s.get_decoded().get("_auth_user_id") == str(front_desk.pk) for s in BrowserSession.objects.all()
    )
    assert BrowserSession.objects.filter(user_id=manager.pk).exists(), "the manager stays signed in"
    # Signing in again gives no access to this practice.
    again = signed_in(front_desk)
    assert again.get(reverse("board")).status_code == 403
    # Reactivation restores it.
    signed_in(manager).post(reverse("member_reactivate", args=[member.pk]))
    assert signed_in(front_desk).get(reverse("board")).status_code == 200


def test_a_manager_cannot_deactivate_themselves(signed_in, manager):
    member = Membership.objects.get(user=manager)
    assert signed_in(manager).post(reverse("member_deactivate", args=[member.pk])).status_code == 400


def test_resetting_the_second_factor_makes_them_enrol_again_and_is_audited(
    signed_in, manager, clinician_user
):
    victim = signed_in(clinician_user)
    StaticDevice.objects.create(user=clinician_user, name="Backup codes")
    member = Membership.objects.get(user=clinician_user)

    assert signed_in(manager).post(reverse("member_reset_two_factor", args=[member.pk])).status_code == 302

    assert not TOTPDevice.objects.filter(user=clinician_user).exists()
    assert not StaticDevice.objects.filter(user=clinician_user).exists()
    entry = LogEntry.objects.get_for_object(member).latest("timestamp")
    assert entry.actor == manager and "second factor" in entry.changes_dict
    assert victim.get(reverse("my_day")).status_code == 302
    http = HttpClient()
    http.force_login(clinician_user)
    enrol = http.get(reverse("my_day"))
    assert reverse("two_factor_setup") in enrol["Location"]


def test_only_managers_see_the_team_page(signed_in, front_desk, clinician_user, biller, manager):
    assert signed_in(manager).get(reverse("team")).status_code == 200
    for user in (front_desk, clinician_user, biller):
        assert signed_in(user).get(reverse("team")).status_code == 403


def test_another_practices_manager_gets_404_on_every_team_route(
    signed_in, other_manager, front_desk, manager, practice
):
    member = Membership.objects.get(user=front_desk)
    invitation, _ = invitation_create(
        practice=practice,
        email="x@x.test",
        full_name="X",
        role=Role.BILLER,
        by=Membership.objects.get(user=manager),
    )
    http = signed_in(other_manager)
    for name in ("member_role", "member_deactivate", "member_reactivate", "member_reset_two_factor"):
        assert http.post(reverse(name, args=[member.pk]), {"role": Role.OWNER}).status_code == 404, name
    assert http.post(reverse("invitation_revoke", args=[invitation.pk])).status_code == 404
    listing = http.get(reverse("team"))
    assert front_desk.email.encode() not in listing.content
    assert Membership.objects.get(pk=member.pk).is_active


def test_forgot_password_answers_the_same_and_is_rate_limited(manager, settings):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "pw"}
    }
    http = HttpClient()
    known = http.post(reverse("password_reset"), {"email": manager.email})
    unknown = http.post(reverse("password_reset"), {"email": "nobody@nowhere.test"})
    assert known.status_code == unknown.status_code == 302
    assert known["Location"] == unknown["Location"] == reverse("password_reset_done")
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [manager.email]
    for _ in range(5):
        http.post(reverse("password_reset"), {"email": manager.email})
    assert len(mail.outbox) == 3  # three per address per hour


def test_a_reset_link_points_at_the_site_url_and_sets_a_new_password(manager, settings):
    settings.SITE_URL = "https://attend.example"
    http = HttpClient()
    http.post(reverse("password_reset"), {"email": manager.email})  # the request host is "testserver"
    link = re.search(r"(\S+)/accounts/password-reset/(\S+)/", mail.outbox[-1].body)
    assert link.group(1) == "https://attend.example"
    form = http.get(f"/accounts/password-reset/{link.group(2)}/", follow=True)
    assert form.status_code == 200 and form.context["validlink"]
    done = http.post(
        form.redirect_chain[-1][0],
        {"new_password1": "another-long-passphrase", "new_password2": "another-long-passphrase"},
    )
    assert done.status_code == 302 and done["Location"] == reverse("password_reset_complete")
    manager.refresh_from_db()
    assert manager.check_password("another-long-passphrase")


def test_the_sign_in_page_links_to_forgot_password():
    assert reverse("password_reset").encode() in HttpClient().get(reverse("login")).content


def test_an_invitation_whose_email_fails_is_withdrawn_and_said_so(signed_in, manager, monkeypatch):
    import smtplib

    from practice import services

    def broken(**kwargs):
        raise smtplib.SMTPServerDisconnected("gone")

    monkeypatch.setattr(services, "invitation_send", broken)
    response = _invite(signed_in(manager))
    assert response.status_code == 503
    assert "could not be sent" in response.content.decode()
    assert Invitation.objects.get().revoked_at is not None


def test_deactivating_a_clinician_revokes_their_calendar_feed(signed_in, manager, clinician, clinician_user):
    from integrations.models import CalendarFeed
    from integrations.services import calendar_feed_create

    feed, _ = calendar_feed_create(clinician=clinician)
    member = Membership.objects.get(user=clinician_user)
    assert signed_in(manager).post(reverse("member_deactivate", args=[member.pk])).status_code == 302
    assert CalendarFeed.objects.get(pk=feed.pk).revoked_at is not None

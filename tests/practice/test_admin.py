"""The operator console (Django admin): every page opens, operators see only their practices,
actions go through the services, secrets stay hidden and client views are audited."""

from __future__ import annotations

from datetime import timedelta

import pytest
from auditlog.models import LogEntry
from django.contrib import admin
from django.contrib.auth.models import Group
from django.test import Client as HttpClient
from django.urls import reverse

from practice.models import ApiToken, Client, ClinicianProfile, Membership, Role, User
from practice.tokens import api_token_create
from scheduling.models import (
    Appointment,
    AppointmentParticipant,
    AppointmentStatus,
    FollowUp,
    FollowUpKind,
    Frequency,
    Series,
    ServiceType,
)
from scheduling.services import appointment_book, appointment_cancel, follow_up_raise, series_book
from telehealth import services as telehealth
from telehealth.models import JoinEvent, JoinLink, JoinSource, Meeting, TechCheckResult
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


def changelist(model) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


def change_page(obj) -> str:
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])


def page_messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def book(practice, clinician, client, starts_at, service_type, **extra) -> Appointment:
    return appointment_book(
        practice=practice,
        clinician=clinician,
        clients=[client],
        starts_at=starts_at,
        service_type=service_type,
        **extra,
    )


@pytest.fixture
def superuser() -> User:
    return User.objects.create_superuser(
        email="root@attend.test", password="correct-horse-battery", full_name="Rita Root"
    )


@pytest.fixture
def root(signed_in, superuser) -> HttpClient:
    return signed_in(superuser)


@pytest.fixture
def operator(practice) -> User:
    """A manager of Riverside who is also an operator: in the "Operators" group that
    practice/migrations/0010_operators_group.py makes."""
    user = make_user(practice, Role.MANAGER, "opal@riverside.test", "Opal Operator")
    user.is_staff = True
    user.save()
    user.groups.add(Group.objects.get(name="Operators"))
    return user


@pytest.fixture
def op(signed_in, operator) -> HttpClient:
    return signed_in(operator)


@pytest.fixture
def appointment(practice, clinician, client_ann, service_type, tomorrow_10am, manager) -> Appointment:
    return book(practice, clinician, client_ann, tomorrow_10am, service_type, booked_by=manager)


@pytest.fixture
def every_kind_of_row(
    practice, clinician, other_clinician, client_ann, client_bob, service_type, tomorrow_10am, manager
):
    """At least one row of every model in the console, made the way the product makes them."""
    appt = book(practice, clinician, client_ann, tomorrow_10am, service_type, booked_by=manager)
    participant = appt.participants.get()
    series_book(
        practice=practice,
        clinician=other_clinician,
        clients=[client_bob],
        first_starts_at=tomorrow_10am + timedelta(days=1),
        duration=timedelta(minutes=45),
        frequency=Frequency.WEEKLY,
        occurrences=2,
        service_type=service_type,
    )
    follow_up_raise(appointment=appt, kind=FollowUpKind.TECH_CHECK_FAILED, participant=participant)
    telehealth.meeting_create_for(appointment=appt)
    telehealth.join_link_for(participant)
    telehealth.tech_check_record(
        participant=participant,
        camera_ok=False,
        microphone_ok=True,
        browser_ok=True,
        network_ok=True,
        problems=["camera_blocked"],
        details={"rtt_ms": 80},
    )
    telehealth.join_record(participant=participant, source=JoinSource.LINK, at=appt.starts_at)
    api_token_create(practice=practice, name="EHR sync", created_by=manager)
    for model in [Series, FollowUp, Meeting, JoinLink, JoinEvent, TechCheckResult, ApiToken, LogEntry]:
        assert model.objects.exists(), f"the fixture made no {model.__name__}"
    return appt


# --- Every page opens ----------------------------------------------------------------------------


def test_every_model_of_the_product_is_in_the_console():
    registered = {model._meta.label for model in admin.site._registry}
    expected = {
        "practice.User",
        "practice.Practice",
        "practice.Membership",
        "practice.ClinicianProfile",
        "practice.Client",
        "scheduling.ServiceType",
        "scheduling.Series",
        "scheduling.Appointment",
        "scheduling.AppointmentParticipant",
        "scheduling.FollowUp",
        "telehealth.Meeting",
        "telehealth.JoinLink",
        "telehealth.JoinEvent",
        "telehealth.TechCheckResult",
        "practice.ApiToken",
        "auditlog.LogEntry",
    }
    assert expected <= registered


def test_superuser_opens_every_changelist_and_change_page(root, every_kind_of_row):
    opened_change_pages = []
    for model in admin.site._registry:
        response = root.get(changelist(model))
        assert response.status_code == 200, model._meta.label
        obj = model._default_manager.order_by("pk").first()
        if obj is not None:
            response = root.get(change_page(obj))
            assert response.status_code == 200, model._meta.label
            opened_change_pages.append(model._meta.label)
    assert {"scheduling.Appointment", "telehealth.Meeting", "practice.Client"} <= set(opened_change_pages)


@pytest.mark.parametrize("term", ["Avery", "42", "+12125550101", "'unbalanced", "ann@example.test"])
def test_search_on_every_changelist_answers_without_error(root, every_kind_of_row, term):
    for model in admin.site._registry:
        response = root.get(changelist(model), {"q": term})
        assert response.status_code == 200, model._meta.label


def test_a_bad_practice_filter_value_is_not_a_server_error(root, client_ann):
    response = root.get(changelist(Client), {"practice": "riverside"})
    assert response.status_code == 302
    assert "e=1" in response["Location"]


def test_the_add_pages_that_exist_open(root, practice):
    for model in [User, Client, ServiceType, Membership]:
        response = root.get(reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_add"))
        assert response.status_code == 200, model._meta.label


# --- 2FA -------------------------------------------------------------------------------------------


def test_signed_in_superuser_without_2fa_is_refused(superuser):
    http = HttpClient()
    http.force_login(superuser)

    for url in [reverse("admin:index"), changelist(Client)]:
        response = http.get(url)
        assert response.status_code == 302
        assert not response["Location"].startswith("/admin/")


def test_superuser_without_2fa_is_refused_by_the_admin_site_itself(superuser, rf):
    """Even if the 2FA middleware were removed, OTPAdminSite turns an unverified user away."""
    request = rf.get("/admin/")
    request.user = superuser
    superuser.is_verified = lambda: False
    assert admin.site.has_permission(request) is False


# --- Scoping ---------------------------------------------------------------------------------------


def test_operator_sees_their_practices_clients_but_not_anothers(op, client_ann, other_client):
    listing = op.get(changelist(Client))
    assert listing.status_code == 200
    assert client_ann.last_name in listing.content.decode()
    assert other_client.last_name not in listing.content.decode()

    assert op.get(change_page(client_ann)).status_code == 200
    foreign = op.get(change_page(other_client))
    assert foreign.status_code == 302  # Django's "does not exist" redirect: no data shown
    assert other_client.last_name not in op.get(foreign["Location"]).content.decode()


def test_operator_is_offered_only_their_practices_in_forms(op, practice, other_practice):
    form = op.get(reverse("admin:practice_client_add")).context["adminform"].form
    assert list(form.fields["practice"].queryset) == [practice]

    response = op.post(
        reverse("admin:practice_client_add"),
        {
            "practice": other_practice.pk,
            "first_name": "Mallory",
            "last_name": "Mole",
            "status": "active",
            "preferred_channel": "sms",
            "source": "staff",
        },
    )
    assert response.status_code == 200
    assert "practice" in response.context["adminform"].form.errors
    assert not Client.objects.filter(last_name="Mole").exists()


def test_operator_user_list_holds_only_members_of_their_practices(op, manager, other_manager, superuser):
    listing = op.get(changelist(User)).content.decode()
    assert manager.email in listing
    assert other_manager.email not in listing
    assert superuser.email not in listing


def test_operator_cannot_make_anyone_a_superuser(op, front_desk):
    form = op.get(change_page(front_desk)).context["adminform"].form
    assert "is_superuser" not in form.fields
    assert "user_permissions" not in form.fields


def test_operator_cannot_change_a_superuser_who_is_a_member(op, practice, superuser):
    Membership.objects.create(practice=practice, user=superuser, role=Role.OWNER)
    response = op.get(change_page(superuser))
    assert response.status_code == 200
    assert "is_superuser" not in response.context["adminform"].form.fields
    assert "email" not in response.context["adminform"].form.fields  # a read-only view
    password_url = reverse("admin:auth_user_password_change", args=[superuser.pk])
    assert op.get(password_url).status_code == 403


def test_operator_may_not_read_the_unscoped_audit_log(op):
    assert op.get(changelist(LogEntry)).status_code == 403


# --- Search ----------------------------------------------------------------------------------------


def found(http, model, term) -> list:
    return list(http.get(changelist(model), {"q": term}).context["cl"].result_list)


def test_clients_are_found_by_last_name(root, client_ann, client_bob):
    assert found(root, Client, "Baker") == [client_bob]


def test_clients_are_found_by_a_phone_number_as_people_type_it(root, client_ann, client_bob):
    assert found(root, Client, "(212) 555-0101") == [client_ann]


def test_appointments_are_found_by_client_name_and_by_id(
    root, appointment, practice, other_clinician, client_bob, service_type, tomorrow_10am
):
    bobs = book(practice, other_clinician, client_bob, tomorrow_10am, service_type)

    assert found(root, Appointment, "Avery") == [appointment]
    assert found(root, Appointment, str(bobs.pk)) == [bobs]


# --- Appointments: read-only times, actions through the services -------------------------------------


def test_appointments_cannot_be_added_in_the_admin(root):
    assert root.get(reverse("admin:scheduling_appointment_add")).status_code == 403


def test_appointment_time_status_and_clinician_are_read_only(root, appointment, other_clinician):
    response = root.get(change_page(appointment))
    assert set(response.context["adminform"].form.fields) == {"fee", "external_id"}

    root.post(
        change_page(appointment),
        {
            "fee": "99.00",
            "external_id": "EHR-1",
            "status": "completed",
            "starts_at_0": "2030-01-01",
            "clinician": other_clinician.pk,
            "participants-TOTAL_FORMS": "1",
            "participants-INITIAL_FORMS": "1",
            "follow_ups-TOTAL_FORMS": "0",
            "follow_ups-INITIAL_FORMS": "0",
        },
    )
    appointment.refresh_from_db()
    assert (appointment.fee, appointment.external_id) == (99, "EHR-1")
    assert appointment.status == AppointmentStatus.SCHEDULED
    assert appointment.clinician_id != other_clinician.pk


def test_appointment_page_shows_participants_with_attendance(root, appointment, client_ann):
    page = root.get(change_page(appointment)).content.decode()
    assert client_ann.full_name in page
    assert "Expected" in page


def test_cancel_action_cancels_through_the_service_and_reports_the_refused_row(
    root, superuser, appointment, practice, other_clinician, client_bob, service_type, tomorrow_10am
):
    already = book(practice, other_clinician, client_bob, tomorrow_10am, service_type)
    appointment_cancel(appointment=already, reason="Client called")

    response = root.post(
        changelist(Appointment),
        {"action": "cancel_selected", "_selected_action": [appointment.pk, already.pk]},
        follow=True,
    )

    assert response.status_code == 200
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.CANCELLED
    assert appointment.cancelled_by == superuser
    assert appointment.participants.get().attendance == "cancelled"  # the service's doing
    notes = page_messages(response)
    assert "Cancelled 1 session(s)." in notes
    assert any(f"#{already.pk}" in note and "cancelled" in note for note in notes)
    already.refresh_from_db()
    assert already.cancel_reason == "Client called"


def test_mark_confirmed_action_confirms_through_the_service(root, appointment):
    response = root.post(
        changelist(Appointment),
        {"action": "mark_confirmed", "_selected_action": [appointment.pk]},
        follow=True,
    )
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.CONFIRMED
    assert "Confirmed 1 session(s)." in page_messages(response)


def test_operator_actions_reach_only_their_practices_sessions(
    op, appointment, other_practice, other_manager, other_client
):
    other_service = ServiceType.objects.create(practice=other_practice, name="Intake")
    other_doc = ClinicianProfile.objects.create(practice=other_practice, display_name="Dr. Far")
    foreign = book(other_practice, other_doc, other_client, appointment.starts_at, other_service)

    op.post(changelist(Appointment), {"action": "cancel_selected", "_selected_action": [foreign.pk]})

    foreign.refresh_from_db()
    assert foreign.status == AppointmentStatus.SCHEDULED


# --- Follow-ups ---------------------------------------------------------------------------------------


def test_resolve_action_resolves_through_the_service(root, superuser, appointment):
    item = follow_up_raise(appointment=appointment, kind=FollowUpKind.NO_SHOW)

    response = root.post(
        changelist(FollowUp), {"action": "resolve_selected", "_selected_action": [item.pk]}, follow=True
    )
    response = root.post(
        changelist(FollowUp), {"action": "resolve_selected", "_selected_action": [item.pk]}, follow=True
    )

    item.refresh_from_db()
    assert item.resolved_by == superuser
    assert item.resolved_at is not None
    assert any("already resolved" in note for note in page_messages(response))


# --- Secrets and audit -----------------------------------------------------------------------------


def test_join_link_pages_never_show_the_token_or_nonce(root, appointment):
    link = telehealth.join_link_for(appointment.participants.get())

    for url in [changelist(JoinLink), change_page(link)]:
        page = root.get(url).content.decode()
        assert link.token not in page
        assert link.nonce not in page
        assert link.token_hash not in page


def test_viewing_a_client_writes_an_access_entry_naming_the_operator(root, superuser, client_ann, client_bob):
    root.get(change_page(client_ann))

    accesses = LogEntry.objects.filter(action=LogEntry.Action.ACCESS)
    assert [(entry.object_pk, entry.actor) for entry in accesses] == [(str(client_ann.pk), superuser)]


def test_audit_log_entries_stay_read_only(root, client_ann):
    entry = LogEntry.objects.get_for_object(client_ann).first()
    response = root.get(change_page(entry))
    assert response.status_code == 200
    assert "form" not in response.context["adminform"].form.fields
    assert response.context["has_change_permission"] is False
    assert root.get(reverse("admin:auditlog_logentry_add")).status_code == 403


# --- Users --------------------------------------------------------------------------------------------


def test_user_list_shows_who_has_a_confirmed_totp_device(root, superuser, manager):
    rows = {user.email: user.has_totp for user in root.get(changelist(User)).context["cl"].result_list}
    assert rows[superuser.email] is True  # signed_in gave the superuser a confirmed device
    assert rows[manager.email] is False


def membership_formset(practice_pk, role) -> dict:
    return {
        "memberships-TOTAL_FORMS": "1",
        "memberships-INITIAL_FORMS": "0",
        "memberships-0-practice": str(practice_pk),
        "memberships-0-role": role,
    }


def test_operator_adds_a_user_with_email_sign_in_and_a_membership(op, practice):
    response = op.post(
        reverse("admin:practice_user_add"),
        {
            "email": "New.Hire@Riverside.test",
            "full_name": "Nina Hire",
            "usable_password": "true",
            "password1": "a-long-unusual-passphrase",
            "password2": "a-long-unusual-passphrase",
            **membership_formset(practice.pk, Role.FRONT_DESK),
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    user = User.objects.get(email="new.hire@riverside.test")
    assert user.check_password("a-long-unusual-passphrase")
    assert user.memberships.get().practice == practice


def test_adding_a_user_rejects_an_email_that_differs_only_in_case(root, manager, practice):
    response = root.post(
        reverse("admin:practice_user_add"),
        {
            "email": manager.email.upper(),
            "full_name": "Copy Cat",
            "usable_password": "false",
            **membership_formset(practice.pk, Role.BILLER),
        },
    )
    assert response.status_code == 200
    assert "email" in response.context["adminform"].form.errors


def test_operator_must_give_a_new_user_a_practice(op):
    response = op.post(
        reverse("admin:practice_user_add"),
        {
            "email": "floating@nowhere.test",
            "full_name": "Flo Ating",
            "usable_password": "false",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200
    assert not User.objects.filter(email="floating@nowhere.test").exists()


def test_participants_are_listed_read_only(root, appointment):
    participant = AppointmentParticipant.objects.get(appointment=appointment)
    response = root.get(change_page(participant))
    assert response.status_code == 200
    assert response.context["has_change_permission"] is False


# --- API tokens ---------------------------------------------------------------------------------------


def test_api_tokens_are_listed_without_their_hash_and_cannot_be_added(root, practice):
    token, raw = api_token_create(practice=practice, name="EHR sync")

    for url in [changelist(ApiToken), change_page(token)]:
        page = root.get(url).content.decode()
        assert token.prefix in page
        assert token.key_hash not in page
        assert raw not in page
    assert root.get(reverse("admin:practice_apitoken_add")).status_code == 403


def test_revoke_action_revokes_through_the_service_and_keeps_the_first_time(root, practice):
    token, _ = api_token_create(practice=practice, name="EHR sync")
    select = {"action": "revoke_selected", "_selected_action": [token.pk]}

    response = root.post(changelist(ApiToken), select, follow=True)
    token.refresh_from_db()
    first_revoked_at = token.revoked_at
    assert first_revoked_at is not None
    assert "Revoked 1 token(s)." in page_messages(response)

    root.post(changelist(ApiToken), select)
    token.refresh_from_db()
    assert token.revoked_at == first_revoked_at


def test_appointment_page_links_to_its_meeting_and_join_events(root, appointment):
    meeting = telehealth.meeting_create_for(appointment=appointment)
    page = root.get(change_page(appointment)).content.decode()
    meeting_list = f"{changelist(Meeting)}?appointment={appointment.pk}"
    assert meeting_list in page
    assert f"{changelist(JoinEvent)}?appointment={appointment.pk}" in page

    assert list(root.get(meeting_list).context["cl"].result_list) == [meeting]

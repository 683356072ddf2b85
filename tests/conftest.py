"""Persona fixtures shared by every test.

Two practices: "Riverside Counseling" (the one under test) and "Harbor Therapy" (the other
tenant, whose manager must never see Riverside's data). Staff clients returned by
``signed_in`` have passed 2FA, exactly as a real login would leave the session.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.test import Client as HttpClient
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from practice.models import Client, ClinicianProfile, Membership, Practice, Role, User
from scheduling.models import ServiceType

NEW_YORK = ZoneInfo("America/New_York")


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_navigation_counts():
    """The navigation's few-seconds memos (practice.context_processors.ShortMemo) start empty in
    every test: ids are reused between tests, so a count kept from another test could show."""
    from practice.context_processors import MEMOS

    for memo in MEMOS:
        memo.clear()


def make_practice(name: str, slug: str, tz: str = "America/New_York") -> Practice:
    return Practice.objects.create(name=name, slug=slug, timezone=tz, phone="+12125550100")


def make_user(practice: Practice, role: str, email: str, name: str) -> User:
    user = User.objects.create_user(email=email, password="correct-horse-battery", full_name=name)
    Membership.objects.create(practice=practice, user=user, role=role)
    return user


@pytest.fixture
def practice(db) -> Practice:
    return make_practice("Riverside Counseling", "riverside")


@pytest.fixture
def other_practice(db) -> Practice:
    return make_practice("Harbor Therapy", "harbor", tz="America/Los_Angeles")


@pytest.fixture
def service_type(practice) -> ServiceType:
    return ServiceType.objects.create(
        practice=practice,
        name="Individual therapy",
        code="90834",
        default_minutes=45,
        default_fee=Decimal("150.00"),
    )


@pytest.fixture
def group_service(practice) -> ServiceType:
    return ServiceType.objects.create(
        practice=practice,
        name="Group therapy",
        code="90853",
        default_minutes=90,
        default_fee=Decimal("60.00"),
        is_group=True,
    )


@pytest.fixture
def manager(practice) -> User:
    return make_user(practice, Role.MANAGER, "maria@riverside.test", "Maria Manager")


@pytest.fixture
def front_desk(practice) -> User:
    return make_user(practice, Role.FRONT_DESK, "frank@riverside.test", "Frank Desk")


@pytest.fixture
def biller(practice) -> User:
    return make_user(practice, Role.BILLER, "bill@riverside.test", "Bill Biller")


@pytest.fixture
def clinician_user(practice) -> User:
    return make_user(practice, Role.CLINICIAN, "smith@riverside.test", "Alex Smith")


@pytest.fixture
def clinician(practice, clinician_user) -> ClinicianProfile:
    return ClinicianProfile.objects.create(
        practice=practice,
        user=clinician_user,
        display_name="Dr. Smith",
        credentials="PhD",
        default_session_minutes=45,
        session_fee=Decimal("150.00"),
    )


@pytest.fixture
def other_clinician(practice) -> ClinicianProfile:
    user = make_user(practice, Role.CLINICIAN, "jones@riverside.test", "Sam Jones")
    return ClinicianProfile.objects.create(practice=practice, user=user, display_name="Dr. Jones")


@pytest.fixture
def client_ann(practice) -> Client:
    return Client.objects.create(
        practice=practice,
        first_name="Ann",
        last_name="Avery",
        phone="+12125550101",
        email="ann@example.test",
    )


@pytest.fixture
def client_bob(practice) -> Client:
    return Client.objects.create(
        practice=practice,
        first_name="Bob",
        last_name="Baker",
        phone="+12125550102",
        email="bob@example.test",
    )


@pytest.fixture
def other_manager(other_practice) -> User:
    return make_user(other_practice, Role.MANAGER, "olga@harbor.test", "Olga Other")


@pytest.fixture
def other_client(other_practice) -> Client:
    return Client.objects.create(practice=other_practice, first_name="Zed", last_name="Zimmer")


@pytest.fixture
def tomorrow_10am() -> datetime:
    """10:00 New York time tomorrow, as an aware datetime."""
    local = datetime.now(NEW_YORK) + timedelta(days=1)
    return local.replace(hour=10, minute=0, second=0, microsecond=0)


def verified_session(user: User) -> HttpClient:
    """An HTTP client signed in as ``user`` with a confirmed TOTP device, past 2FA."""
    device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)
    http = HttpClient()
    http.force_login(user)
    session = http.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return http


@pytest.fixture
def signed_in():
    return verified_session


@pytest.fixture(autouse=True)
def _tasks_inline(settings):
    """Background tasks run inline, so a test sees their effect once the transaction commits."""
    settings.TASKS_EAGER = True

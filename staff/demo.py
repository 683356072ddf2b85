"""The demo data behind ``manage.py seed_demo`` and ``manage.py rundemo`` (SPEC F26).

Two practices: "Lakeside Therapy Collective" (slug ``lakeside``) with staff of every role,
three clinicians, about twenty clients and a day of sessions placed around the current time,
and "Harbor Therapy" (slug ``harbor``), a small second tenant that Lakeside's staff must never see.

Every demo account signs in with the password in the DEMO_PASSWORD environment variable, or
``attend-demo-password`` when it is unset, and passes 2FA with one of its printed single-use
backup codes (a django-otp StaticDevice; each also has a confirmed TOTP device).

Appointments are made only through ``scheduling.services`` with one ``now``, so the demo
obeys the same rules as real bookings (no double booking, attendance transitions, late-cancel
policy) and publishes the same events (the telehealth app creates meetings from them).
It lives in staff/, the top floor, because it reads every app below.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from practice.audit import acting_as
from practice.models import (
    Client,
    ClinicianProfile,
    ConsentSource,
    Membership,
    Modality,
    Practice,
    PreferredChannel,
    Role,
    TelehealthProvider,
    User,
)
from scheduling.models import (
    Appointment,
    Attendance,
    Frequency,
    Series,
    ServiceType,
    TimeOff,
    WeeklyHours,
)
from scheduling.services import (
    appointment_book,
    appointment_cancel,
    appointment_confirm,
    appointment_mark_attendance,
    series_book,
)
from staff.demo_clock import demo_clock_for
from staff.demo_self_service import build_harbor_booking_page, build_self_service

DEFAULT_DEMO_PASSWORD = "attend-demo-password"
LAKESIDE_SLUG = "lakeside"
HARBOR_SLUG = "harbor"
DEMO_PRACTICE_SLUGS = (LAKESIDE_SLUG, HARBOR_SLUG)
BACKUP_CODES_PER_USER = 6
LOGIN_PATH = "/accounts/login/"

H = timedelta(hours=1)
M = timedelta(minutes=1)
D = timedelta(days=1)


def demo_password() -> str:
    return os.environ.get("DEMO_PASSWORD") or DEFAULT_DEMO_PASSWORD


# --- What the demo contains ---------------------------------------------------------------


@dataclass(frozen=True)
class StaffSpec:
    email: str
    full_name: str
    role: str


@dataclass(frozen=True)
class ClinicianSpec:
    email: str
    full_name: str
    display_name: str
    credentials: str
    specialties: str
    languages: str
    modalities: str
    fee: Decimal


@dataclass(frozen=True)
class ClientSpec:
    first_name: str
    last_name: str
    phone: str
    preferred_name: str = ""
    timezone: str = ""
    sms_consent: bool = True


@dataclass(frozen=True)
class SessionPlan:
    """One session, placed ``start`` after the anchor (the current quarter-hour)."""

    clinician: int
    start: timedelta
    service: str
    clients: tuple[int, ...]
    modality: str = Modality.TELEHEALTH
    # completed | no_show | late_cancel | in_progress | confirmed | scheduled
    outcome: str = "scheduled"


LAKESIDE_STAFF = (
    StaffSpec("owner@lakeside.example.com", "Olivia Owens", Role.OWNER),
    StaffSpec("manager@lakeside.example.com", "Marcus Bell", Role.MANAGER),
    StaffSpec("frontdesk@lakeside.example.com", "Fran Delgado", Role.FRONT_DESK),
    StaffSpec("billing@lakeside.example.com", "Bianca Lowe", Role.BILLER),
)

LAKESIDE_CLINICIANS = (
    ClinicianSpec(
        "rivera@lakeside.example.com",
        "Maya Rivera",
        "Dr. Rivera",
        "PsyD",
        "Anxiety, Depression, Trauma",
        "English, Spanish",
        "telehealth,in_person",
        Decimal("160.00"),
    ),
    ClinicianSpec(
        "okafor@lakeside.example.com",
        "James Okafor",
        "Dr. Okafor",
        "PhD",
        "ADHD, Couples, Life transitions",
        "English",
        "telehealth",
        Decimal("175.00"),
    ),
    ClinicianSpec(
        "natarajan@lakeside.example.com",
        "Priya Natarajan",
        "Dr. Natarajan",
        "PhD, LMFT",
        "Grief, Family, Group therapy",
        "English, Hindi, Tamil",
        "telehealth,in_person",
        Decimal("150.00"),
    ),
)

# Phone numbers are in 555-0100..0199, which the North American numbering plan reserves for
# fiction, so a misconfigured demo can never text a real person.
LAKESIDE_CLIENTS = (
    ClientSpec("Ava", "Thompson", "+13155550101"),
    ClientSpec("Benjamin", "Carter", "+13155550102", preferred_name="Ben"),
    ClientSpec("Chloe", "Nguyen", "+13155550103"),
    ClientSpec("Daniel", "Kim", "+13155550104", preferred_name="Dan"),
    ClientSpec("Elena", "Garcia", "+13155550105"),
    ClientSpec("Farid", "Haddad", "+13155550106", sms_consent=False),
    ClientSpec("Grace", "O'Brien", "+13155550107"),
    ClientSpec("Hiro", "Tanaka", "+13155550108"),
    ClientSpec("Isabel", "Moreno", "+13155550109", preferred_name="Isa"),
    ClientSpec("Jamal", "Washington", "+13155550110"),
    ClientSpec("Katarzyna", "Nowak", "+13155550111", preferred_name="Kasia"),
    ClientSpec("Liam", "Murphy", "+13155550112"),
    ClientSpec("Maya", "Patel", "+13155550113", timezone="America/Chicago"),
    ClientSpec("Noah", "Schmidt", "+13155550114"),
    ClientSpec("Olivia", "Rossi", "+13155550115"),
    ClientSpec("Pedro", "Alves", "+13155550116"),
    ClientSpec("Quinn", "Harper", "+13155550117", sms_consent=False),
    ClientSpec("Rosa", "Jimenez", "+13155550118"),
    ClientSpec("Samuel", "Osei", "+13155550119", preferred_name="Sam", sms_consent=False),
    ClientSpec("Tara", "Lindqvist", "+13155550120"),
)

# Per clinician the sessions never overlap: today's lie within anchor-5h..anchor+5h, and each
# later day's within the same window shifted by whole days, so no time of day can make two
# collide. Client 19 has the weekly series (see SERIES_PLAN).
LAKESIDE_SESSIONS = (
    # Dr. Rivera
    SessionPlan(0, -5 * H, "individual", (0,), outcome="completed"),
    SessionPlan(0, -4 * H, "individual", (1,), Modality.IN_PERSON, outcome="completed"),
    SessionPlan(0, -3 * H, "individual", (2,), outcome="no_show"),
    SessionPlan(0, -15 * M, "individual", (3,), outcome="in_progress"),
    SessionPlan(0, 1 * H, "individual", (4,), outcome="confirmed"),
    SessionPlan(0, 2 * H, "intake", (5,)),
    SessionPlan(0, 3 * H + 30 * M, "individual", (6,), Modality.IN_PERSON),
    SessionPlan(0, D, "individual", (0,), outcome="confirmed"),
    SessionPlan(0, D + 2 * H, "individual", (6,), Modality.IN_PERSON),
    SessionPlan(0, 2 * D + 1 * H, "individual", (1,)),
    SessionPlan(0, 3 * D, "individual", (3,)),
    # Dr. Okafor
    SessionPlan(1, -4 * H - 30 * M, "individual", (7,), outcome="completed"),
    SessionPlan(1, -3 * H, "intake", (8,), outcome="completed"),
    SessionPlan(1, -1 * H - 45 * M, "individual", (9,), outcome="late_cancel"),
    # Starts 15-30 minutes from now: its join link opens during the demo.
    SessionPlan(1, 30 * M, "individual", (10,), outcome="confirmed"),
    SessionPlan(1, 1 * H + 30 * M, "individual", (11,)),
    SessionPlan(1, 4 * H, "individual", (12,)),
    SessionPlan(1, D + 1 * H, "individual", (7,)),
    SessionPlan(1, 2 * D, "individual", (11,)),
    SessionPlan(1, 3 * D + 1 * H, "individual", (9,)),
    # Dr. Natarajan
    SessionPlan(2, -2 * H, "individual", (13,), outcome="completed"),
    SessionPlan(2, 45 * M, "group", (14, 15, 16, 17)),
    SessionPlan(2, 3 * H, "individual", (18,), Modality.IN_PERSON),
    SessionPlan(2, D - 1 * H, "individual", (13,)),
    SessionPlan(2, 2 * D + 2 * H, "intake", (5,)),
)

# Weekly hours per clinician (weekday 0 = Monday: start, end), local to the practice, so open-slot
# search finds free times on the demo. The demo's sessions lie within 08:00-19:00 on whatever
# day it runs, weekends included, so some clinicians work Saturday or Sunday as well.
LAKESIDE_HOURS = (
    # Dr. Rivera: weekdays with a lunch break, Saturday mornings.
    {**{day: (("08:00", "12:00"), ("13:00", "19:00")) for day in range(5)}, 5: (("08:00", "13:00"),)},
    # Dr. Okafor: late starts, long evenings, Sunday afternoons.
    {**{day: (("10:00", "19:00"),) for day in range(5)}, 6: (("12:00", "18:00"),)},
    # Dr. Natarajan: every day but Monday, early.
    {day: (("08:00", "16:00"),) for day in range(1, 7)},
)
HARBOR_HOURS = ({day: (("09:00", "17:00"),) for day in range(7)},)
# One absence: Dr. Okafor is at a conference for three days starting eight days after the demo.
TIME_OFF_PLAN = (1, 8 * D, 3 * D, "Conference")

SERIES_PLAN = SessionPlan(2, D + 2 * H, "individual", (19,))
SERIES_OCCURRENCES = 8

HARBOR_STAFF = (StaffSpec("manager@harbor.example.com", "Hannah Brooks", Role.MANAGER),)
HARBOR_CLINICIANS = (
    ClinicianSpec(
        "lee@harbor.example.com",
        "Daniel Lee",
        "Dr. Lee",
        "PhD",
        "Anxiety, Insomnia",
        "English, Korean",
        "telehealth",
        Decimal("165.00"),
    ),
)
HARBOR_CLIENTS = (
    ClientSpec("Uma", "Fischer", "+12065550161"),
    ClientSpec("Victor", "Reyes", "+12065550162"),
)
HARBOR_SESSIONS = (SessionPlan(0, D + 3 * H, "individual", (0,)),)

SERVICE_TYPES = {
    "individual": dict(name="Individual psychotherapy", code="90834", default_minutes=50, fee="150.00"),
    "intake": dict(name="Intake evaluation", code="90791", default_minutes=60, fee="200.00"),
    "group": dict(name="Group psychotherapy", code="90853", default_minutes=90, fee="60.00", is_group=True),
}

ROLE_ORDER = [Role.OWNER, Role.MANAGER, Role.FRONT_DESK, Role.BILLER, Role.CLINICIAN]


def demo_emails() -> list[str]:
    specs = (*LAKESIDE_STAFF, *LAKESIDE_CLINICIANS, *HARBOR_STAFF, *HARBOR_CLINICIANS)
    return [spec.email for spec in specs]


# --- Reset ------------------------------------------------------------------------------------


def demo_exists() -> bool:
    return Practice.objects.filter(slug__in=DEMO_PRACTICE_SLUGS).exists()


def non_demo_practices_with_demo_slugs() -> list[str]:
    """Slugs of practices that use a demo slug but have no demo account as a member: real
    practices, which seed_demo must never delete or mistake for the demo."""
    ours = Membership.objects.filter(user__email__in=demo_emails()).values("practice_id")
    return sorted(
        Practice.objects.filter(slug__in=DEMO_PRACTICE_SLUGS)
        .exclude(pk__in=ours)
        .values_list("slug", flat=True)
    )


def demo_conflicting_users() -> list[str]:
    """Demo e-mail addresses already taken by accounts (which would block a fresh build)."""
    return sorted(User.objects.filter(email__in=demo_emails()).values_list("email", flat=True))


@transaction.atomic
def demo_reset() -> None:
    """Delete the demo practices, everything in them, and the demo accounts."""
    practices = Practice.objects.filter(slug__in=DEMO_PRACTICE_SLUGS)
    members = set(Membership.objects.filter(practice__in=practices).values_list("user_id", flat=True))
    # An account that also belongs to a real practice is not ours to delete.
    elsewhere = set(
        Membership.objects.filter(user_id__in=members)
        .exclude(practice__in=practices)
        .values_list("user_id", flat=True)
    )
    doomed_users = Q(pk__in=members - elsewhere) | Q(email__in=demo_emails())
    # Appointments and series hold PROTECTed references to clinicians, clients and service
    # types, so they go first; the rest cascades from the practice.
    Appointment.objects.filter(practice__in=practices).delete()
    Series.objects.filter(practice__in=practices).delete()
    practices.delete()
    User.objects.filter(doomed_users).delete()


# --- Build ------------------------------------------------------------------------------------


@dataclass
class BuiltPractice:
    practice: Practice
    users: dict[str, User] = field(default_factory=dict)
    clinicians: list[ClinicianProfile] = field(default_factory=list)
    clients: list[Client] = field(default_factory=list)
    services: dict[str, ServiceType] = field(default_factory=dict)


def quarter_hour_anchor(now: datetime) -> datetime:
    """``now`` rounded down to the quarter-hour, in UTC (every zone's offset is a multiple of
    15 minutes, so this is a local quarter-hour too)."""
    now = now.astimezone(UTC)
    return now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0)


def _create_account(spec, *, password_hash: str, is_operator: bool = False) -> User:
    user = User.objects.create(
        email=spec.email,
        full_name=spec.full_name,
        password=password_hash,
        is_staff=is_operator,
    )
    if is_operator:
        # An operator, not a superuser: the console shows only this practice's rows
        # (the "Operators" group, practice/migrations/0010_operators_group.py).
        user.groups.add(*Group.objects.filter(name="Operators"))
    TOTPDevice.objects.create(user=user, name="Authenticator app (demo)", confirmed=True)
    backup = StaticDevice.objects.create(user=user, name="Backup codes", confirmed=True)
    StaticToken.objects.bulk_create(
        StaticToken(device=backup, token=StaticToken.random_token()) for _ in range(BACKUP_CODES_PER_USER)
    )
    return user


def _add_people(
    built: BuiltPractice,
    *,
    staff: tuple[StaffSpec, ...],
    clinicians: tuple[ClinicianSpec, ...],
    clients: tuple[ClientSpec, ...],
    password_hash: str,
    consent_recorded_by: User,
    now: datetime,
) -> None:
    practice = built.practice
    for spec in staff:
        user = built.users.get(spec.email) or _create_account(spec, password_hash=password_hash)
        built.users[spec.email] = user
        Membership.objects.create(practice=practice, user=user, role=spec.role)
    for spec in clinicians:
        user = _create_account(spec, password_hash=password_hash)
        built.users[spec.email] = user
        Membership.objects.create(practice=practice, user=user, role=Role.CLINICIAN)
        built.clinicians.append(
            ClinicianProfile.objects.create(
                practice=practice,
                user=user,
                display_name=spec.display_name,
                credentials=spec.credentials,
                specialties=spec.specialties,
                languages=spec.languages,
                modalities=spec.modalities,
                email=spec.email,
                default_session_minutes=50,
                session_fee=spec.fee,
            )
        )
    for index, spec in enumerate(clients):
        consented = spec.sms_consent
        built.clients.append(
            Client.objects.create(
                practice=practice,
                first_name=spec.first_name,
                last_name=spec.last_name,
                preferred_name=spec.preferred_name,
                phone=spec.phone,
                email=f"{spec.first_name}.{spec.last_name}@example.com".lower().replace("'", ""),
                timezone=spec.timezone,
                preferred_channel=PreferredChannel.SMS if consented else PreferredChannel.EMAIL,
                sms_consent_at=now - timedelta(days=30 + 3 * index) if consented else None,
                sms_consent_source=ConsentSource.INTAKE_FORM if consented else "",
                sms_consent_recorded_by=consent_recorded_by if consented else None,
            )
        )
    for key, spec in SERVICE_TYPES.items():
        built.services[key] = ServiceType.objects.create(
            practice=practice,
            name=spec["name"],
            code=spec["code"],
            default_minutes=spec["default_minutes"],
            default_fee=Decimal(spec["fee"]),
            is_group=spec.get("is_group", False),
        )


def _add_hours(built: BuiltPractice, hours: tuple[dict[int, tuple[tuple[str, str], ...]], ...]) -> None:
    WeeklyHours.objects.bulk_create(
        WeeklyHours(
            clinician=built.clinicians[index],
            weekday=weekday,
            starts_at=time.fromisoformat(start),
            ends_at=time.fromisoformat(end),
        )
        for index, week in enumerate(hours)
        for weekday, stretches in week.items()
        for start, end in stretches
    )


def _book(built: BuiltPractice, plan: SessionPlan, *, anchor: datetime, now: datetime, by: User):
    """Book one planned session and take it to its planned outcome, through the services."""
    clients = [built.clients[i] for i in plan.clients]
    starts_at = anchor + plan.start
    appointment = appointment_book(
        practice=built.practice,
        clinician=built.clinicians[plan.clinician],
        clients=clients,
        starts_at=starts_at,
        service_type=built.services[plan.service],
        modality=plan.modality,
        booked_by=by,
        allow_past=starts_at < now,
        now=now,
    )
    if plan.outcome in ("completed", "in_progress", "no_show"):
        attendance = Attendance.NO_SHOW if plan.outcome == "no_show" else Attendance.ATTENDED
        for client in clients:
            appointment_mark_attendance(
                appointment=appointment, client=client, attendance=attendance, by=by, now=now
            )
    elif plan.outcome == "late_cancel":
        # Recorded as the client's call two hours before the start: inside the late-cancel
        # window, before the session, as it would have happened.
        appointment_cancel(
            appointment=appointment,
            by=by,
            by_client=True,
            reason="Client called to cancel.",
            now=starts_at - 2 * H,
        )
    elif plan.outcome == "confirmed":
        appointment_confirm(appointment=appointment, now=now)
    return appointment


# Lakeside offers its clients Spanish; Elena (client 4, a video session in an hour) reads her
# pages, reminders and automatic texts in Spanish.
SPANISH_SPEAKING_CLIENT = 4


def _offer_spanish(built: BuiltPractice, *, now: datetime) -> None:
    from messaging.preferences import client_preferences_update
    from messaging.services import sequence_set_languages

    sequence_set_languages(practice=built.practice, languages=["en", "es"])
    client = built.clients[SPANISH_SPEAKING_CLIENT]
    client_preferences_update(
        client=client,
        texts=client.sms_consent_at is not None,
        quiet_start=None,
        quiet_end=None,
        opted_out_steps=[],
        now=now,
        language="es",
    )


def _build_lakeside(*, password_hash: str, now: datetime, anchor: datetime) -> BuiltPractice:
    owner = _create_account(LAKESIDE_STAFF[0], password_hash=password_hash, is_operator=True)
    with acting_as(owner):
        practice = Practice.objects.create(
            name="Lakeside Therapy Collective",
            slug=LAKESIDE_SLUG,
            timezone="America/New_York",
            phone="+13155550100",
            email="hello@lakeside.example.com",
            address="120 Harbor Street, Suite 300\nSyracuse, NY 13202",
            late_cancel_window_hours=24,
            no_show_grace_minutes=15,
            no_show_fee=Decimal("75.00"),
            telehealth_provider=TelehealthProvider.FAKE,
            join_opens_minutes_before=15,
            sms_from_number="+13155550199",
            email_sender_name="Lakeside Therapy Collective",
        )
        built = BuiltPractice(practice=practice, users={owner.email: owner})
        _add_people(
            built,
            staff=LAKESIDE_STAFF,
            clinicians=LAKESIDE_CLINICIANS,
            clients=LAKESIDE_CLIENTS,
            password_hash=password_hash,
            consent_recorded_by=owner,
            now=now,
        )
        _add_hours(built, LAKESIDE_HOURS)
        _offer_spanish(built, now=now)
        clinician, after, length, note = TIME_OFF_PLAN
        day = (anchor + after).astimezone(practice.zoneinfo).date()
        TimeOff.objects.create(
            clinician=built.clinicians[clinician],
            starts_at=datetime.combine(day, time(0), tzinfo=practice.zoneinfo),
            ends_at=datetime.combine(day + length, time(0), tzinfo=practice.zoneinfo),
            note=note,
        )
        front_desk = built.users[LAKESIDE_STAFF[2].email]
        for plan in LAKESIDE_SESSIONS:
            _book(built, plan, anchor=anchor, now=now, by=front_desk)
        series_book(
            practice=practice,
            clinician=built.clinicians[SERIES_PLAN.clinician],
            clients=[built.clients[i] for i in SERIES_PLAN.clients],
            first_starts_at=anchor + SERIES_PLAN.start,
            duration=timedelta(minutes=built.services[SERIES_PLAN.service].default_minutes),
            frequency=Frequency.WEEKLY,
            occurrences=SERIES_OCCURRENCES,
            service_type=built.services[SERIES_PLAN.service],
            booked_by=front_desk,
            now=now,
        )
        build_self_service(
            practice=practice,
            clinicians=built.clinicians,
            clients=built.clients,
            services=built.services,
            now=now,
            by=front_desk,
        )
    return built


def _build_harbor(*, password_hash: str, now: datetime, anchor: datetime) -> BuiltPractice:
    manager = _create_account(HARBOR_STAFF[0], password_hash=password_hash)
    with acting_as(manager):
        practice = Practice.objects.create(
            name="Harbor Therapy",
            slug=HARBOR_SLUG,
            timezone="America/Los_Angeles",
            phone="+12065550150",
            email="hello@harbor.example.com",
            address="8 Pier Road\nSeattle, WA 98101",
            telehealth_provider=TelehealthProvider.FAKE,
        )
        built = BuiltPractice(practice=practice, users={manager.email: manager})
        _add_people(
            built,
            staff=HARBOR_STAFF,
            clinicians=HARBOR_CLINICIANS,
            clients=HARBOR_CLIENTS,
            password_hash=password_hash,
            consent_recorded_by=manager,
            now=now,
        )
        _add_hours(built, HARBOR_HOURS)
        for plan in HARBOR_SESSIONS:
            _book(built, plan, anchor=anchor, now=now, by=manager)
        build_harbor_booking_page(practice=practice, clinicians=built.clinicians, services=built.services)
    return built


def demo_build(*, now: datetime | None = None, password: str | None = None) -> Practice:
    """Create both demo practices in one transaction and return Lakeside. The caller checks
    ``demo_exists()`` first (or runs ``demo_reset()``).

    The day is built around the demo's clock (staff/demo_clock.py): ``now``, or when that is
    outside Lakeside's working day, the next early afternoon there; rundemo runs the server and
    the worker on that clock."""
    real_now = now or timezone.now()
    now = demo_clock_for(real_now)
    anchor = quarter_hour_anchor(now)
    # One hash for every account: hashing is deliberately slow, and the password is shared.
    password_hash = make_password(password or demo_password())
    with transaction.atomic():
        lakeside = _build_lakeside(password_hash=password_hash, now=now, anchor=anchor)
        _build_harbor(password_hash=password_hash, now=now, anchor=anchor)
        # demo_clock_offset() recomputes the clock from this instant.
        Practice.objects.filter(pk=lakeside.practice.pk).update(created_at=real_now)
    return lakeside.practice


def demo_clock_offset() -> timedelta:
    """How far ahead of the real time the demo's clock runs (zero without a demo): the same
    choice seed_demo made, recomputed from when Lakeside was created."""
    built_at = Practice.objects.filter(slug=LAKESIDE_SLUG).values_list("created_at", flat=True).first()
    if built_at is None:
        return timedelta(0)
    return demo_clock_for(built_at) - built_at


# --- Logins, for the commands to print --------------------------------------------------------


@dataclass(frozen=True)
class DemoLogin:
    practice: str
    email: str
    role: str
    backup_codes: tuple[str, ...]


def demo_logins() -> list[DemoLogin]:
    """The demo accounts as they are in the database now: unused backup codes only."""
    memberships = (
        Membership.objects.filter(practice__slug__in=DEMO_PRACTICE_SLUGS)
        .select_related("practice", "user")
        .order_by("practice__name")
    )
    codes: dict[int, list[str]] = {}
    for user_id, token in StaticToken.objects.filter(
        device__user__in=[m.user_id for m in memberships], device__confirmed=True
    ).values_list("device__user_id", "token"):
        codes.setdefault(user_id, []).append(token)
    logins = [
        DemoLogin(
            practice=m.practice.name,
            email=m.user.email,
            role=m.get_role_display(),
            backup_codes=tuple(sorted(codes.get(m.user_id, []))),
        )
        for m in memberships
    ]
    rank = {role.label: index for index, role in enumerate(ROLE_ORDER)}
    return sorted(logins, key=lambda login: (login.practice, rank.get(login.role, 99), login.email))


def format_logins(logins: list[DemoLogin], *, password: str) -> str:
    """A plain table; columns are separated by at least two spaces so scripts can split it."""
    lines = []
    practice = None
    header = f"{'E-mail':<34}  {'Role':<16}  {'Password':<22}  Backup codes (single use, for 2FA)"
    for login in logins:
        if login.practice != practice:
            practice = login.practice
            lines += ["", practice, header, "-" * len(header)]
        codes = " ".join(login.backup_codes) or "(none left: run seed_demo --reset)"
        lines.append(f"{login.email:<34}  {login.role:<16}  {password:<22}  {codes}")
    return "\n".join(lines).lstrip("\n")

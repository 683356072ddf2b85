"""The demo: seed_demo builds a realistic practice around the current time, and rundemo runs
the web server and the worker and stops them both, leaving no process behind."""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from datetime import time as wall_time
from io import StringIO
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from auditlog.models import LogEntry
from django.conf import settings
from django.core.management import CommandError, call_command
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from practice.models import Client, ClinicianProfile, ConsentSource, Membership, Practice, Role, User
from scheduling.availability import open_slots
from scheduling.models import Appointment, AppointmentStatus, Series, TimeOff, WeeklyHours
from staff import demo
from staff.demo_clock import CLOCK_ENV, demo_clock_for
from staff.management.commands.rundemo import Child, stop_children

NEW_YORK = ZoneInfo("America/New_York")
MANAGE_PY = str(Path(settings.BASE_DIR) / "manage.py")
OWNER = "owner@lakeside.example.com"


def seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def lakeside() -> Practice:
    return Practice.objects.get(slug="lakeside")


def printed_codes(output: str, email: str) -> list[str]:
    """The backup codes printed for ``email`` (columns are separated by two or more spaces)."""
    line = next(line for line in output.splitlines() if line.startswith(email + " "))
    return re.split(r"\s{2,}", line.strip())[3].split()


def assert_no_clinician_is_double_booked(practice: Practice) -> None:
    # Completed and no-show sessions count too: a realistic day has no overlaps at all.
    taken = (
        Appointment.objects.for_practice(practice)
        .exclude(status__in=[AppointmentStatus.CANCELLED, AppointmentStatus.RESCHEDULED])
        .order_by("starts_at")
    )
    by_clinician = defaultdict(list)
    for appointment in taken:
        by_clinician[appointment.clinician_id].append(appointment)
    for appointments in by_clinician.values():
        for earlier, later in itertools.pairwise(appointments):
            assert earlier.ends_at <= later.starts_at, f"{earlier} overlaps {later}"


def assert_day_around(now: datetime) -> None:
    """Sessions of every kind placed around ``now``: past, in progress, upcoming, later days."""
    appointments = Appointment.objects.for_practice(lakeside())
    around_now = appointments.filter(
        starts_at__gte=now - timedelta(hours=6), starts_at__lte=now + timedelta(hours=6)
    )
    assert around_now.count() >= 15
    assert around_now.filter(status=AppointmentStatus.COMPLETED, ends_at__lte=now).count() >= 4
    no_show = around_now.get(status=AppointmentStatus.NO_SHOW)
    assert no_show.starts_at < now
    late_cancel = around_now.get(status=AppointmentStatus.CANCELLED)
    assert late_cancel.is_late_cancel and late_cancel.cancelled_by_client
    in_progress = appointments.get(status=AppointmentStatus.IN_PROGRESS)
    assert in_progress.starts_at <= now < in_progress.ends_at
    upcoming_hours = around_now.filter(
        status__in=[AppointmentStatus.SCHEDULED, AppointmentStatus.CONFIRMED], starts_at__gt=now
    )
    assert upcoming_hours.count() >= 6
    assert upcoming_hours.filter(starts_at__lte=now + timedelta(minutes=30)).exists()
    assert appointments.filter(starts_at__gt=now + timedelta(hours=18), series__isnull=True).count() >= 7

    group = appointments.get(service_type__is_group=True)
    assert group.participants.count() >= 3
    telehealth = appointments.filter(modality="telehealth").count()
    in_person = appointments.filter(modality="in_person").count()
    assert in_person >= 3 and telehealth > 3 * in_person

    series = Series.objects.for_practice(lakeside()).get()
    assert series.frequency == "weekly"
    assert series.appointments.count() == series.occurrences == 8
    assert_no_clinician_is_double_booked(lakeside())


# --- seed_demo ------------------------------------------------------------------------------------


def test_seed_demo_builds_the_lakeside_practice_with_staff_clinicians_and_clients(db):
    seed()

    practice = lakeside()
    assert practice.name == "Lakeside Therapy Collective"
    assert practice.timezone == "America/New_York"
    assert practice.phone and practice.address
    roles = set(Membership.objects.for_practice(practice).values_list("role", flat=True))
    assert roles == {Role.OWNER, Role.MANAGER, Role.FRONT_DESK, Role.BILLER, Role.CLINICIAN}

    clinicians = ClinicianProfile.objects.for_practice(practice)
    assert clinicians.count() == 3
    for clinician in clinicians:
        assert clinician.display_name.startswith("Dr. ")
        assert clinician.user is not None and clinician.email
        assert clinician.credentials and clinician.specialties and clinician.languages
        assert clinician.session_fee > 0

    codes = {s.code: s for s in practice.service_types.all()}
    assert {code: s.default_minutes for code, s in codes.items()} == {"90834": 50, "90791": 60, "90853": 90}
    assert codes["90853"].is_group and not codes["90834"].is_group

    clients = Client.objects.for_practice(practice)
    assert 18 <= clients.count() <= 25
    for client in clients:
        assert re.fullmatch(r"\+1\d{3}55501\d\d", client.phone.as_e164), client.phone.as_e164
        assert client.email.endswith("@example.com")
    consented = clients.filter(sms_consent_at__isnull=False)
    assert consented.count() > clients.count() / 2
    assert set(consented.values_list("sms_consent_source", flat=True)) == {ConsentSource.INTAKE_FORM}
    assert clients.filter(timezone="America/Chicago").count() == 1


def test_seed_demo_places_a_day_of_sessions_around_now(db):
    now = datetime.now(UTC)
    with time_machine.travel(now, tick=False):
        seed()
    assert_day_around(demo_clock_for(now))


@pytest.mark.parametrize(
    "local_now",
    [
        datetime(2026, 5, 12, 23, 50, tzinfo=NEW_YORK),
        datetime(2026, 5, 13, 0, 10, tzinfo=NEW_YORK),
        # The US DST nights: the clock jumps forward at 02:00, and repeats 01:00-02:00.
        datetime(2026, 3, 8, 1, 50, tzinfo=NEW_YORK),
        datetime(2026, 11, 1, 1, 30, tzinfo=NEW_YORK),
    ],
    ids=["23:50", "00:10", "spring-forward-night", "fall-back-night"],
)
def test_seed_demo_works_at_any_time_of_day_or_night(db, local_now):
    with time_machine.travel(local_now, tick=False):
        seed()
    assert_day_around(demo_clock_for(local_now))


def test_an_evening_demo_moves_the_clock_to_business_hours_not_the_sessions(db):
    evening = datetime(2026, 5, 12, 21, 10, tzinfo=NEW_YORK)
    with time_machine.travel(evening, tick=False):
        seed()

    demo_now = demo_clock_for(evening)
    assert demo_now == datetime(2026, 5, 13, 13, 30, tzinfo=NEW_YORK)
    assert demo.demo_clock_offset() == demo_now - evening
    assert_day_around(demo_now)
    for appointment in Appointment.objects.for_practice(lakeside()).filter(series__isnull=True):
        local = appointment.starts_at.astimezone(NEW_YORK)
        assert local.date() in (demo_now.date(), demo_now.date() + timedelta(days=1)) or (
            local.date() > demo_now.date()
        )
        assert wall_time(8) <= local.time() and appointment.ends_at.astimezone(NEW_YORK).time() <= wall_time(
            19
        )


def test_a_demo_built_in_the_early_afternoon_keeps_the_real_clock(db):
    afternoon = datetime(2026, 5, 12, 13, 20, tzinfo=NEW_YORK)
    with time_machine.travel(afternoon, tick=False):
        seed()
    assert demo.demo_clock_offset() == timedelta(0)
    assert_day_around(afternoon)


def test_the_demo_clinicians_have_weekly_hours_and_open_slots(db):
    now = datetime(2026, 5, 12, 10, 0, tzinfo=NEW_YORK)  # a Tuesday
    with time_machine.travel(now, tick=False):
        seed()
    demo_now = demo_clock_for(now)
    for clinician in ClinicianProfile.objects.filter(practice__slug__in=["lakeside", "harbor"]):
        assert WeeklyHours.objects.filter(clinician=clinician).count() >= 5
        week = open_slots(
            clinician=clinician, starts=demo_now, ends=demo_now + timedelta(days=7), minutes=50, now=demo_now
        )
        assert len(week) >= 10, clinician
    time_off = TimeOff.objects.get(clinician__practice__slug="lakeside")
    assert time_off.starts_at > demo_now
    assert not open_slots(
        clinician=time_off.clinician,
        starts=time_off.starts_at,
        ends=time_off.ends_at,
        minutes=50,
        now=demo_now,
    )


def test_the_demo_has_a_spanish_speaking_client_whose_pages_are_in_spanish(db, client):
    """Lakeside offers Spanish; Elena chose it: her session page and the booking page (for a
    Spanish browser) speak Spanish, her English-speaking neighbours' pages do not."""
    from django.utils import timezone as django_timezone

    from scheduling.client_actions import manage_link_for
    from scheduling.models import AppointmentParticipant

    now = datetime(2026, 5, 12, 13, 30, tzinfo=NEW_YORK)
    with time_machine.travel(now, tick=False):
        seed()
        elena, ava = (
            AppointmentParticipant.objects.filter(client__first_name=name, appointment__starts_at__gt=now)
            .order_by("appointment__starts_at")
            .first()
            for name in ("Elena", "Ava")
        )
        pages = {
            name: client.get(
                f"/a/{manage_link_for(participant=participant, now=django_timezone.now())}"
            ).content.decode()
            for name, participant in (("Elena", elena), ("Ava", ava))
        }
        booking = client.get("/book/lakeside/", HTTP_ACCEPT_LANGUAGE="es").content.decode()
    assert "Hola, Elena" in pages["Elena"] and "Su cita con" in pages["Elena"]
    assert "Hi Ava" in pages["Ava"] and "Su cita" not in pages["Ava"]
    assert "Encuentre un terapeuta" in booking and ">English</button>" in booking


def test_the_demo_shows_the_booking_page_a_waiting_request_and_a_waitlist_offer(
    db, client, django_capture_on_commit_callbacks
):
    """A newcomer finds every self-service feature working: both booking pages on with matched
    clinicians, a request in the queue, documents to complete, a waitlist with entries, and a
    cancelled session whose time the worker offers to the first clients in line."""
    from selfservice.models import (
        BookingRequest,
        BookingRequestStatus,
        DocumentTemplate,
        MatchingProfile,
        OnlineBooking,
    )
    from waitlist.models import FreedSlot, Offer, SlotSource, WaitlistEntry

    now = datetime(2026, 5, 12, 13, 30, tzinfo=NEW_YORK)  # a Tuesday, in the demo's hours
    with time_machine.travel(now, tick=False), django_capture_on_commit_callbacks(execute=True):
        seed()
    for slug in ("lakeside", "harbor"):
        assert client.get(f"/book/{slug}/").status_code == 200
    assert MatchingProfile.objects.filter(clinician__practice__slug="lakeside").count() == 3
    lakeside_online = OnlineBooking.objects.get(practice__slug="lakeside")
    assert lakeside_online.known_clients_book_instantly
    assert Client.objects.filter(practice__slug="lakeside", email="ava.thompson@example.com").count() == 1
    statuses = dict(BookingRequest.objects.values_list("first_name", "status"))
    assert statuses == {"Nora": BookingRequestStatus.PENDING, "Omar": BookingRequestStatus.PROPOSED}
    proposed = BookingRequest.objects.get(first_name="Omar")
    assert proposed.requested_starts_at < proposed.starts_at and proposed.hold.starts_at == proposed.starts_at
    assert DocumentTemplate.objects.filter(practice__slug="lakeside").count() == 2
    assert WaitlistEntry.objects.filter(practice__slug="lakeside").count() == 4
    freed = FreedSlot.objects.get(source=SlotSource.CANCELLED)
    assert freed.starts_at - now > timedelta(days=1)
    given_back = FreedSlot.objects.get(source=SlotSource.REQUEST_DECLINED)
    assert given_back.starts_at == proposed.requested_starts_at, "the time first asked for is free again"
    # The freed time is offered to the waitlist (two days out: the first two clients at once)...
    first_wave = set(Offer.objects.filter(slot=freed).values_list("client_id", flat=True))
    assert len(first_wave) == 2
    # ...and the time off given back to the next in line (the others hold an offer each: the
    # cancelled slot's two, and the time the proposal moved away from).
    off = Offer.objects.get(slot__source=SlotSource.TIME_OFF_REMOVED)
    assert off.client_id not in first_wave
    assert Offer.objects.filter(client_id=off.client_id).count() == 1


def test_a_process_started_with_the_demo_offset_runs_on_the_moved_clock(tmp_path):
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'clock.sqlite3'}", CLOCK_ENV: "7200"}
    done = subprocess.run(
        [
            sys.executable,
            MANAGE_PY,
            "shell",
            "-c",
            "from django.utils import timezone; print(timezone.now().isoformat())",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    shown = datetime.fromisoformat(done.stdout.split()[-1])
    assert abs(shown - datetime.now(UTC) - timedelta(hours=2)) < timedelta(minutes=1)


def test_seed_demo_prints_the_port_it_is_given_and_no_logins_when_asked(db):
    output = seed("--port", "9000")
    assert "http://127.0.0.1:9000/accounts/login/" in output
    assert "rundemo --port 9000" in output
    assert ":8000" not in output

    quiet = seed("--reset", "--no-logins")
    assert OWNER not in quiet


def test_rundemo_points_links_at_its_own_port_and_sweeps_once_before_the_worker(db, monkeypatch):
    from messaging.models import DispatcherHeartbeat
    from staff.management.commands import rundemo

    monkeypatch.delenv("SITE_URL", raising=False)
    started = {}

    def fake_start(name, *args, env=None):
        started[name] = env
        return Child(name=name, process=subprocess.Popen(["true"], process_group=0))

    monkeypatch.setattr(rundemo, "start_child", fake_start)
    monkeypatch.setattr(rundemo.Command, "_supervise", lambda self, children, stop: None)
    # The supervisor drops its database connections; the test's transaction needs its own.
    monkeypatch.setattr(rundemo.connections, "close_all", lambda: None)
    with time_machine.travel(datetime(2026, 5, 12, 21, 10, tzinfo=NEW_YORK), tick=False):
        seed()
        out = StringIO()
        call_command("rundemo", "--port", "9000", stdout=out)

    assert started["runserver"]["SITE_URL"] == "http://127.0.0.1:9000"
    assert started["qcluster"]["SITE_URL"] == "http://127.0.0.1:9000"
    offset = float(started["qcluster"][CLOCK_ENV])
    assert (
        offset
        == (
            datetime(2026, 5, 13, 13, 30, tzinfo=NEW_YORK) - datetime(2026, 5, 12, 21, 10, tzinfo=NEW_YORK)
        ).total_seconds()
    )
    assert "http://127.0.0.1:9000/accounts/login/" in out.getvalue()
    assert "16 h 20 min ahead" in out.getvalue()
    # The sweep ran on the demo's clock: the web server (on that clock too) sees it as fresh.
    beat = DispatcherHeartbeat.objects.get(name="dispatcher")
    assert beat.last_sweep_at >= datetime(2026, 5, 13, 13, 30, tzinfo=NEW_YORK)


def test_every_demo_account_has_the_password_and_2fa_devices(db, monkeypatch):
    monkeypatch.setenv("DEMO_PASSWORD", "a-custom-demo-password")
    output = seed()

    users = User.objects.filter(memberships__practice__slug__in=["lakeside", "harbor"]).distinct()
    assert users.count() == 9
    for user in users:
        assert user.check_password("a-custom-demo-password")
        assert TOTPDevice.objects.filter(user=user, confirmed=True).exists()
        assert StaticDevice.objects.get(user=user, confirmed=True).token_set.count() >= 5
        assert user.email in output
    owner = User.objects.get(email=OWNER)
    # An operator of Lakeside only (the Operators group), not a superuser who sees Harbor too.
    assert owner.is_staff and not owner.is_superuser
    assert owner.groups.filter(name="Operators").exists()
    assert not users.filter(is_superuser=True).exists()
    assert "a-custom-demo-password" in output
    assert "/accounts/login/" in output


def test_printed_backup_codes_pass_2fa_once_each(db):
    output = seed()

    codes = printed_codes(output, "rivera@lakeside.example.com")
    device = StaticDevice.objects.get(user__email="rivera@lakeside.example.com")
    assert sorted(codes) == sorted(device.token_set.values_list("token", flat=True))
    assert device.verify_token(codes[0]) is True
    assert device.verify_token(codes[1]) is True
    assert device.verify_token(codes[0]) is False  # single use


def test_audit_entries_of_the_demo_name_someone(db):
    seed()

    owner = User.objects.get(email=OWNER)
    entries = LogEntry.objects.get_for_model(Appointment)
    assert entries.exists()
    assert not entries.filter(actor__isnull=True).exists()
    assert LogEntry.objects.get_for_model(Practice).filter(actor=owner).exists()


def test_the_second_practice_harbor_is_small_and_separate(db):
    seed()

    harbor = Practice.objects.get(slug="harbor")
    assert harbor.name == "Harbor Therapy"
    assert list(Membership.objects.for_practice(harbor).values_list("role", flat=True).order_by("role")) == [
        Role.CLINICIAN,
        Role.MANAGER,
    ]
    assert ClinicianProfile.objects.for_practice(harbor).count() == 1
    assert Client.objects.for_practice(harbor).count() == 2
    # Nobody is a member of both, and no session mixes the two practices' people.
    lakeside_users = set(Membership.objects.for_practice(lakeside()).values_list("user_id", flat=True))
    harbor_users = set(Membership.objects.for_practice(harbor).values_list("user_id", flat=True))
    assert not lakeside_users & harbor_users
    for appointment in Appointment.objects.all():
        assert appointment.clinician.practice_id == appointment.practice_id
        assert {c.practice_id for c in appointment.clients.all()} == {appointment.practice_id}


def test_seed_demo_without_reset_changes_nothing_when_the_demo_exists(db):
    seed()
    practice_pk = lakeside().pk
    appointments = Appointment.objects.count()
    codes = sorted(StaticDevice.objects.get(user__email=OWNER).token_set.values_list("token", flat=True))

    output = seed()

    assert "already exists" in output
    assert lakeside().pk == practice_pk
    assert Appointment.objects.count() == appointments
    assert (
        sorted(StaticDevice.objects.get(user__email=OWNER).token_set.values_list("token", flat=True)) == codes
    )


def test_seed_demo_reset_rebuilds_cleanly_and_keeps_other_practices(db, practice, manager):
    seed()
    old_pk = lakeside().pk
    counts = (User.objects.count(), Appointment.objects.count(), Client.objects.count())
    # A real account that also joined the demo practice is not the demo's to delete.
    Membership.objects.create(practice=lakeside(), user=manager, role=Role.MANAGER)

    output = seed("--reset")

    assert not Practice.objects.filter(pk=old_pk).exists()
    assert (User.objects.count(), Appointment.objects.count(), Client.objects.count()) == counts
    assert Practice.objects.filter(pk=practice.pk).exists()
    assert User.objects.filter(pk=manager.pk).exists()
    assert printed_codes(output, OWNER)
    assert_no_clinician_is_double_booked(lakeside())


def test_a_failed_rebuild_leaves_the_previous_demo_in_place(db, monkeypatch):
    seed()
    old_pk = lakeside().pk
    appointments = Appointment.objects.count()

    def broken_build(**kwargs):
        raise RuntimeError("the build broke half-way")

    monkeypatch.setattr("staff.demo._build_harbor", broken_build)
    with pytest.raises(RuntimeError):
        seed("--reset")

    assert lakeside().pk == old_pk
    assert Appointment.objects.count() == appointments
    assert User.objects.filter(email=OWNER).exists()


def test_seed_demo_never_touches_a_real_practice_that_uses_a_demo_slug(db):
    real = Practice.objects.create(name="Lakeside Counseling", slug="lakeside")
    Membership.objects.create(
        practice=real,
        user=User.objects.create_user(email="boss@lakeside-counseling.test", full_name="Real Boss"),
        role=Role.OWNER,
    )

    for args in ((), ("--reset",)):
        with pytest.raises(CommandError, match="not the demo"):
            seed(*args)

    assert Practice.objects.get(slug="lakeside") == real
    assert not Practice.objects.filter(slug="harbor").exists()


def test_seed_demo_refuses_to_take_over_a_demo_address_without_reset(db):
    User.objects.create_user(email=OWNER, password="whatever-it-was", full_name="Someone")

    with pytest.raises(CommandError, match="--reset"):
        seed()
    assert not Practice.objects.filter(slug="lakeside").exists()

    seed("--reset")
    assert User.objects.get(email=OWNER).is_staff


# --- rundemo ---------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def live_processes_in_group(pgid: int) -> list[int]:
    """Pids of running (not zombie) processes in process group ``pgid``, from /proc."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            pids.append(int(stat.parent.name))
    return pids


def manage(env: dict[str, str], *args: str) -> None:
    done = subprocess.run(
        [sys.executable, MANAGE_PY, *args], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"manage.py {' '.join(args)} failed:\n{done.stderr[-3000:]}"


@pytest.fixture(scope="module")
def demo_env():
    """Environment for a demo on its own temporary SQLite file, migrated and seeded (once for
    the module: the rundemo tests only read it)."""
    path = Path(f"/tmp/attend-rundemo-{uuid.uuid4().hex}.sqlite3")
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{path}", "TASKS_EAGER": "false"}
    try:
        manage(env, "migrate", "--noinput")
        manage(env, "seed_demo")
        yield env
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


def wait_until_healthy(url: str, process: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"rundemo exited early:\n{log.read_text()}"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.25)
    pytest.fail(f"{url} did not answer within {timeout} s:\n{log.read_text()}")


def child_pids(log: Path) -> dict[str, int]:
    return {
        name: int(pid)
        for name, pid in re.findall(r"(runserver|qcluster) started \(pid (\d+)\)", log.read_text())
    }


def start_rundemo(env: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, MANAGE_PY, "rundemo", "--port", str(port)],
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )


def kill_leftovers(process: subprocess.Popen, pids: dict[str, int]) -> None:
    """Only after a failed assertion: never leave our own processes running."""
    if process.poll() is None:
        process.kill()
        process.wait()
    for pid in pids.values():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)


def test_rundemo_serves_the_demo_and_stops_everything_on_sigterm(demo_env, tmp_path):
    port = free_port()
    log = tmp_path / "rundemo.log"
    process = start_rundemo(demo_env, port, log)
    pids: dict[str, int] = {}
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}/healthz", process, log)
        pids = child_pids(log)
        assert set(pids) == {"runserver", "qcluster"}
        assert OWNER in log.read_text()  # the logins are printed

        stopped_at = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
        assert time.monotonic() - stopped_at < 20
    finally:
        kill_leftovers(process, pids)

    for name, pid in pids.items():
        assert live_processes_in_group(pid) == [], f"{name} left processes behind"
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    with socket.socket() as sock, pytest.raises(ConnectionRefusedError):
        sock.connect(("127.0.0.1", port))


def test_rundemo_stops_the_worker_and_fails_when_the_server_cannot_start(demo_env, tmp_path):
    log = tmp_path / "rundemo.log"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        process = start_rundemo(demo_env, busy.getsockname()[1], log)
        try:
            assert process.wait(timeout=120) != 0
        finally:
            kill_leftovers(process, child_pids(log))

    pids = child_pids(log)
    assert "runserver exited" in log.read_text()
    for name, pid in pids.items():
        assert live_processes_in_group(pid) == [], f"{name} left processes behind"


def test_stop_children_kills_a_group_that_ignores_sigterm():
    # A parent and a grandchild in one group, both ignoring SIGTERM, like a hung qcluster.
    stubborn = (
        "import signal, subprocess, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
        "subprocess.Popen([sys.executable, '-c', 'import signal, time; "
        "signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)']); time.sleep(60)"
    )
    process = subprocess.Popen([sys.executable, "-c", stubborn], process_group=0)
    try:
        deadline = time.monotonic() + 10
        while len(live_processes_in_group(process.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(live_processes_in_group(process.pid)) == 2

        started = time.monotonic()
        stop_children([Child(name="stubborn", process=process)], grace=1)

        # Far less than the children's 60 s sleep: they were killed, not waited for. (Generous:
        # a loaded machine may take seconds to schedule the signals.)
        assert time.monotonic() - started < 30
        assert process.returncode == -signal.SIGKILL
        # SIGKILL is delivered asynchronously: the orphaned grandchild is gone a moment later.
        deadline = time.monotonic() + 10
        while live_processes_in_group(process.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert live_processes_in_group(process.pid) == []
    finally:
        kill_leftovers(process, {"stubborn": process.pid})

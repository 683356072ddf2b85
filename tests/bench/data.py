"""Benchmark data: many sessions starting at the same instant, each with its T-15 text due.

``ensure_burst(n)`` builds (once) ``PRACTICES`` practices whose slugs start with ``bench-``,
with ``n`` clinicians, ``n`` clients (each with a number of their own and recorded SMS
consent), ``n`` telehealth appointments at the same time with one participant each, their
join links (made at booking in real life, by the confirmation e-mail), and ``n`` outbox rows
of the T-15 text. The row shape is not invented here: ``messaging.services.message_plan_for``
plans one sample appointment and its T-15 row is copied for the others with ``bulk_create``.
Calling it again with the same ``n`` reuses the data; another ``n`` rebuilds it.

``arm_burst(burst, due_at)`` makes the data fresh for one run, in three set-based statements:
sessions start ``lead`` (15 minutes) after ``due_at``, every T-15 row is planned for
``due_at``, and anything a previous run added (e-mail fallbacks) is removed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from messaging.models import OutboxMessage, OutboxState, Step
from messaging.services import message_plan_for, sequence_for
from practice.models import (
    Client,
    ClinicianProfile,
    ConsentSource,
    Modality,
    Practice,
    PreferredChannel,
    TelehealthProvider,
)
from scheduling.models import Appointment, AppointmentParticipant, AppointmentStatus, ServiceType
from telehealth.models import JoinLink

SLUG_PREFIX = "bench-"
PRACTICES = 100
KIND = "t15_sms"
SESSION = timedelta(minutes=50)
BATCH = 2000


@dataclass(frozen=True)
class Burst:
    practice_ids: tuple[int, ...]
    n: int
    kind: str
    lead: timedelta  # session start minus the row's due time, as message_plan_for computed it
    build_seconds: float = 0.0


def fictional_numbers(n: int) -> list[str]:
    """``n`` distinct North American numbers in 555-0100..0199, which every area code reserves
    for fiction, so a misconfigured run can never text a real person."""
    area_codes = [a for a in range(201, 1000) if a // 10 % 10 != 9 and a % 100 != 11]
    numbers = [f"+1{area}55501{line:02d}" for area in area_codes for line in range(100)]
    if n > len(numbers):
        raise ValueError(f"At most {len(numbers)} distinct fictional numbers.")
    return numbers[:n]


def bench_practice_ids() -> list[int]:
    practices = Practice.objects.filter(slug__startswith=SLUG_PREFIX).order_by("pk")
    return list(practices.values_list("pk", flat=True))


def ensure_burst(n: int, *, log=print) -> Burst:
    ids = bench_practice_ids()
    if ids and _complete(ids, n):
        return Burst(tuple(ids), n, KIND, _lead(ids))
    if ids:
        log(f"  benchmark data does not hold {n} sessions: rebuilding")
        drop(ids)
    return build(n, log=log)


def _complete(ids: list[int], n: int) -> bool:
    rows = OutboxMessage.objects.filter(practice_id__in=ids, kind=KIND).count()
    links = JoinLink.objects.filter(participant__appointment__practice_id__in=ids).count()
    return rows == n and links == n and Appointment.objects.filter(practice_id__in=ids).count() == n


def _lead(ids: list[int]) -> timedelta:
    row = OutboxMessage.objects.filter(practice_id__in=ids, kind=KIND).select_related("appointment").first()
    return row.appointment.starts_at - row.due_at


def drop(ids: list[int]) -> None:
    """Delete the benchmark practices and everything in them (audit log off: it is our data)."""
    from auditlog.context import disable_auditlog

    with disable_auditlog(), transaction.atomic():
        OutboxMessage.objects.filter(practice_id__in=ids).delete()
        Appointment.objects.filter(practice_id__in=ids).delete()
        Practice.objects.filter(pk__in=ids).delete()


def build(n: int, *, log=print) -> Burst:
    started = time.monotonic()
    now = timezone.now()
    starts_at = (now + timedelta(days=1)).replace(microsecond=0)  # arm_burst sets the real time
    numbers = fictional_numbers(n)
    per_practice = -(-n // PRACTICES)
    with transaction.atomic():
        practices = Practice.objects.bulk_create(
            Practice(
                name=f"Benchmark practice {p:03d}",
                slug=f"{SLUG_PREFIX}{p:03d}",
                timezone="America/New_York",
                phone="+13155550100",
                sms_from_number="+13155550199",
                telehealth_provider=TelehealthProvider.FAKE,
            )
            for p in range(min(PRACTICES, n))
        )
        for practice in practices:
            sequence = sequence_for(practice)  # the default steps, as every practice gets them
            # The burst may fall at night on the practice's clock: the T-15 text is urgent and
            # goes anyway, but B3's cancellation notices are not, and must not wait until 8 AM.
            sequence.quiet_start = sequence.quiet_end = None
            sequence.save(update_fields=["quiet_start", "quiet_end"])
        services = ServiceType.objects.bulk_create(
            ServiceType(practice=p, name="Individual psychotherapy", code="90834", default_minutes=50)
            for p in practices
        )
        owner = [practices[i // per_practice] for i in range(n)]
        service = {s.practice_id: s for s in services}
        clinicians = ClinicianProfile.objects.bulk_create(
            (
                ClinicianProfile(
                    practice=owner[i],
                    display_name=f"Dr. Bench {i:05d}",
                    email=f"clinician{i}@bench.example.com",
                    modalities="telehealth",
                )
                for i in range(n)
            ),
            batch_size=BATCH,
        )
        clients = Client.objects.bulk_create(
            (
                Client(
                    practice=owner[i],
                    first_name=f"Client{i:05d}",
                    last_name="Bench",
                    phone=numbers[i],
                    email=f"client{i}@bench.example.com",
                    preferred_channel=PreferredChannel.SMS,
                    sms_consent_at=now - timedelta(days=30),
                    sms_consent_source=ConsentSource.INTAKE_FORM,
                )
                for i in range(n)
            ),
            batch_size=BATCH,
        )
        appointments = Appointment.objects.bulk_create(
            (
                Appointment(
                    practice=owner[i],
                    clinician=clinicians[i],
                    starts_at=starts_at,
                    ends_at=starts_at + SESSION,
                    service_type=service[owner[i].pk],
                    modality=Modality.TELEHEALTH,
                    fee=Decimal("150.00"),
                )
                for i in range(n)
            ),
            batch_size=BATCH,
        )
        participants = AppointmentParticipant.objects.bulk_create(
            (AppointmentParticipant(appointment=appointments[i], client=clients[i]) for i in range(n)),
            batch_size=BATCH,
        )
        JoinLink.objects.bulk_create((JoinLink.build(p) for p in participants), batch_size=BATCH)
        log(f"  people, sessions and join links: {time.monotonic() - started:.1f} s")

        # The row shape, from the real planner: plan one session, keep its T-15 text.
        message_plan_for(appointment=appointments[0], now=now)
        planned = OutboxMessage.objects.filter(appointment=appointments[0])
        sample = planned.get(kind=KIND)
        planned.exclude(pk=sample.pk).delete()
        if sample.state != OutboxState.PLANNED or sample.recipient_key != f"client:{participants[0].pk}":
            raise RuntimeError(f"Unexpected T-15 row from message_plan_for: {sample.__dict__}")
        lead = appointments[0].starts_at - sample.due_at
        steps = dict(
            Step.objects.filter(sequence__practice__in=practices, key=KIND).values_list(
                "sequence__practice_id", "pk"
            )
        )
        OutboxMessage.objects.bulk_create(
            (
                OutboxMessage(
                    practice_id=appointments[i].practice_id,
                    appointment=appointments[i],
                    participant=participants[i],
                    recipient_key=sample.recipient_key.replace(
                        str(participants[0].pk), str(participants[i].pk)
                    ),
                    step_id=steps[appointments[i].practice_id],
                    kind=sample.kind,
                    channel=sample.channel,
                    due_at=appointments[i].starts_at - lead,
                    state=sample.state,
                )
                for i in range(1, n)
            ),
            batch_size=BATCH,
        )
    with connection.cursor() as cursor:
        for model in (OutboxMessage, Appointment, AppointmentParticipant, Client, JoinLink):
            cursor.execute(f'VACUUM ANALYZE "{model._meta.db_table}"')
    seconds = time.monotonic() - started
    log(f"  built {n} sessions and T-15 rows in {seconds:.1f} s")
    return Burst(tuple(p.pk for p in practices), n, KIND, lead, build_seconds=seconds)


def arm_burst(burst: Burst, due_at, *, rows: int | None = None, also_pending: tuple[int, ...] = ()) -> None:
    """Every T-15 row planned for ``due_at`` (sessions start ``lead`` later), nothing else.
    With ``rows``, only that many are planned and the others are marked cancelled.
    ``also_pending``: practices whose pending rows a benchmark keeps on purpose (B5's day);
    pending rows of any other practice stop the run."""
    ids = list(burst.practice_ids)
    starts_at = due_at + burst.lead
    with transaction.atomic():
        OutboxMessage.objects.filter(practice_id__in=ids).exclude(kind=burst.kind).delete()
        Appointment.objects.filter(practice_id__in=ids).update(
            starts_at=starts_at, ends_at=starts_at + SESSION, status=AppointmentStatus.SCHEDULED
        )
        OutboxMessage.objects.filter(practice_id__in=ids).update(
            state=OutboxState.PLANNED,
            due_at=due_at,
            channel="sms",
            claim_token="",
            lease_until=None,
            provider_message_id="",
            sent_at=None,
            settled_at=None,
            attempts=0,
            reason="",
            updated_at=timezone.now(),
        )
        if rows is not None and rows < burst.n:
            ours = OutboxMessage.objects.filter(practice_id__in=ids).order_by("pk")
            first_unused = ours.values_list("pk", flat=True)[rows]
            ours.filter(pk__gte=first_unused).update(state=OutboxState.CANCELLED)
    with connection.cursor() as cursor:
        cursor.execute(f'VACUUM ANALYZE "{OutboxMessage._meta.db_table}"')
        cursor.execute(f'VACUUM ANALYZE "{Appointment._meta.db_table}"')
    pending = (OutboxState.PLANNED, OutboxState.CLAIMED, OutboxState.SENDING)
    others = (
        OutboxMessage.objects.filter(state__in=pending)
        .exclude(practice_id__in=ids)
        .exclude(practice_id__in=also_pending)
        .count()
    )
    if others:
        raise RuntimeError(f"{others} pending outbox rows outside the benchmark: use a database of its own.")


def burst_states(burst: Burst) -> dict[str, int]:
    rows = OutboxMessage.objects.filter(practice_id__in=burst.practice_ids).values("state")
    return {row["state"]: row["n"] for row in rows.annotate(n=Count("pk")).order_by("state")}


def burst_numbers(burst: Burst) -> dict[str, str]:
    """Phone number (E.164, as the backend saw it) -> state of its T-15 row."""
    rows = OutboxMessage.objects.filter(practice_id__in=burst.practice_ids, kind=burst.kind)
    return {phone.as_e164: state for phone, state in rows.values_list("participant__client__phone", "state")}

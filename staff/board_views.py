"""The pages staff live in all day: the today board (managers, front desk), the clinician's
"my day" and "my week", and the needs-attention queue with its one-tap actions.

Reading goes through ``staff.board`` (a fixed number of queries per page); every action calls
the one service for it (scheduling / messaging services) and comes back to the page it came from.
Client names and phone numbers appear in page bodies only, never in titles or URLs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache, partial

import phonenumbers
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import CharField, Count
from django.db.models.functions import Cast
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from messaging.services import message_plan_link_resend, note_reminders_for
from practice.access import BOOKERS, SCHEDULERS, require_manage_appointment, staff_view
from practice.models import ClinicianProfile, Role
from practice.parsing import local_url
from scheduling.forms import AttendanceForm, DayFilterForm
from scheduling.models import Appointment, AppointmentParticipant, FollowUp, FollowUpKind
from scheduling.models.appointments import UPCOMING_STATUSES
from scheduling.services import appointment_mark_attendance, follow_up_resolve
from staff.board import (
    ACTIVE_STATUSES,
    STATUS_LABELS,
    LinkPattern,
    day_bounds,
    day_totals,
    session_rows,
    sessions_between,
    week_of,
)
from staff.cards import cards_on_screen, queue_items, session_cards
from telehealth.techcheck_rules import staff_wording

CLINICIAN_ONLY = frozenset({Role.CLINICIAN})
# The request attribute the queue page sets to the count it shows, which the navigation then
# shows too (staff.context_processors.needs_attention).
QUEUE_TOTAL = "_needs_attention_total"
QUEUE_ROLES = BOOKERS  # front desk, managers and clinicians act on the queue; billers do not


def _refresh_seconds() -> int:
    return getattr(settings, "BOARD_REFRESH_SECONDS", 20)


# --- Today board ------------------------------------------------------------------------------------


def _board_context(request) -> dict:
    tz = request.practice.zoneinfo
    now = timezone.now()
    today = timezone.localdate(now, timezone=tz)
    filters = DayFilterForm(request.GET or None, membership=request.membership)
    day, clinician = today, None
    if filters.is_valid():
        day = filters.cleaned_data["date"] or today
        clinician = filters.cleaned_data["clinician"]
    appointments = sessions_between(Appointment.objects.visible_to(request.membership), *day_bounds(day, tz))
    if clinician is not None:
        appointments = appointments.filter(clinician=clinician)
    rows = session_rows(appointments, now=now)
    query = {
        key: value
        for key, value in (("clinician", clinician and clinician.pk), ("date", day != today and day))
        if value
    }
    return {
        "rows": rows,
        "totals": day_totals(rows),
        "day": day,
        "today": today,
        "now": now,
        "tz": tz,
        "filters": filters,
        "clinician_select": clinician_select(filters),
        "clinician": clinician,
        "refresh_url": reverse("board_live") + (f"?{urlencode(query)}" if query else ""),
        "refresh_seconds": _refresh_seconds(),
        "back": request.get_full_path(),
        "nav": "board",
    }


def clinician_select(filters: DayFilterForm) -> str:
    """``{{ filters.clinician }}``, the same HTML as Django's Select widget writes it, from the
    clinicians' ids and names (the widget's templates and an instance per clinician were a sixth
    of the board's rendering in B5's profile). A form with errors keeps the widget (it marks the
    field invalid)."""
    if filters.is_bound and filters.errors:
        return str(filters["clinician"])
    field = filters.fields["clinician"]
    chosen = filters["clinician"].value()
    chosen = "" if chosen is None else str(chosen)
    options = [
        ("", field.empty_label),
        *((str(pk), name) for pk, name in field.queryset.values_list("pk", "display_name")),
    ]
    return format_html(
        '<select name="clinician" id="id_clinician">\n{}</select>',
        format_html_join(
            "",
            '  <option value="{}"{}>{}</option>\n\n',
            ((value, mark_safe(" selected") if value == chosen else "", label) for value, label in options),
        ),
    )


def _with_cards(request, context: dict, **options) -> dict:
    """The context with its rows rendered as session cards (``staff.cards``)."""
    context["session_cards"] = session_cards(
        request, context["rows"], tz=context["tz"], now=context["now"], back=context["back"], **options
    )
    return context


def _live(request, template: str, context: dict, **options):
    """A refreshing region: only the cards that changed since the browser's last refresh are
    rendered and sent (the others as placeholders it fills with the cards it has)."""
    return render(request, template, _with_cards(request, context, have=cards_on_screen(request), **options))


@staff_view(SCHEDULERS)
def board(request):
    """Every session of the day (practice time zone) with each client's live status."""
    context = _with_cards(request, _board_context(request), show_clinician=True)
    return render(request, "staff/board.html", context)


@staff_view(SCHEDULERS)
def board_live(request):
    """The board's refreshing region alone, fetched by static/js/board-refresh.js."""
    context = _board_context(request)
    context["back"] = reverse("board") + request.get_full_path().removeprefix(reverse("board_live"))
    return _live(request, "staff/includes/board_live.html", context, show_clinician=True)


# --- Clinician pages --------------------------------------------------------------------------------


def _own_profile(request) -> ClinicianProfile | None:
    return ClinicianProfile.objects.for_practice(request.practice).filter(user=request.user).first()


def _clinician_context(request, start, end, *, now) -> dict:
    rows = session_rows(
        sessions_between(Appointment.objects.visible_to(request.membership), start, end), now=now
    )
    ended = [row.appointment.pk for row in rows if row.appointment.ends_at <= now]
    notes = note_reminders_for(appointment_ids=ended)
    for row in rows:
        row.note_reminder = notes.get(row.appointment.pk)
    return {
        "rows": rows,
        "notes_due": [row for row in rows if row.note_reminder is not None],
        "now": now,
        "tz": request.practice.zoneinfo,
        "profile": _own_profile(request),
        "back": request.get_full_path(),
    }


@staff_view(CLINICIAN_ONLY)
def my_day(request):
    tz = request.practice.zoneinfo
    now = timezone.now()
    today = timezone.localdate(now, timezone=tz)
    context = _clinician_context(request, *day_bounds(today, tz), now=now)
    context.update(
        day=today,
        totals=day_totals(context["rows"]),
        refresh_url=reverse("my_day_live"),
        refresh_seconds=_refresh_seconds(),
        nav="my_day",
    )
    return render(request, "staff/my_day.html", _with_cards(request, context, host_links=True))


@staff_view(CLINICIAN_ONLY)
def my_day_live(request):
    tz = request.practice.zoneinfo
    now = timezone.now()
    context = _clinician_context(request, *day_bounds(timezone.localdate(now, timezone=tz), tz), now=now)
    context.update(totals=day_totals(context["rows"]), back=reverse("my_day"))
    return _live(request, "staff/includes/my_day_live.html", context, host_links=True)


@staff_view(CLINICIAN_ONLY)
def my_week(request):
    tz = request.practice.zoneinfo
    now = timezone.now()
    filters = DayFilterForm(request.GET or None, membership=request.membership)
    anchor = timezone.localdate(now, timezone=tz)
    if filters.is_valid() and filters.cleaned_data["date"]:
        anchor = filters.cleaned_data["date"]
    monday, next_monday = week_of(anchor)
    start, _ = day_bounds(monday, tz)
    end, _ = day_bounds(next_monday, tz)
    context = _clinician_context(request, start, end, now=now)
    by_day = {monday + timedelta(days=offset): [] for offset in range(7)}
    for row in context["rows"]:
        by_day[row.appointment.starts_at.astimezone(tz).date()].append(row)
    cards = partial(session_cards, request, tz=tz, now=now, back=context["back"], host_links=True)
    context.update(
        days=list(by_day.items()),
        week=[(day, rows, cards(rows)) for day, rows in by_day.items()],
        monday=monday,
        previous_week=monday - timedelta(days=7),
        next_week=next_monday,
        today=timezone.localdate(now, timezone=tz),
        nav="my_week",
    )
    return render(request, "staff/my_week.html", context)


# --- One-tap actions ------------------------------------------------------------------------------------


def _back(request, fallback: str):
    target = local_url(request.POST.get("next", ""), host=request.get_host())
    return redirect(target or fallback)


def _visible_participant(request, pk: int) -> AppointmentParticipant:
    visible = Appointment.objects.visible_to(request.membership).values("pk")
    participant = get_object_or_404(
        AppointmentParticipant.objects.select_related(
            "client", "appointment__practice", "appointment__clinician"
        ),
        pk=pk,
        appointment__in=visible,
    )
    require_manage_appointment(request.membership, participant.appointment)
    return participant


@require_POST
@staff_view(BOOKERS)
def participant_resend_link(request, pk: int):
    """Send the client their join link again (outbox kind link_resend:<n>; a double tap sends one)."""
    participant = _visible_participant(request, pk)
    try:
        message, created = message_plan_link_resend(participant=participant)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        how = "text" if message.channel == "sms" else "e-mail"
        if created:
            messages.success(request, f"Join link sent again to {participant.client.greeting_name} by {how}.")
        else:
            messages.info(
                request,
                f"The link was already re-sent to {participant.client.greeting_name} by {how} moments ago.",
            )
    return _back(request, reverse("appointment_detail", args=[participant.appointment_id]))


@require_POST
@staff_view(BOOKERS)
def participant_mark_attendance(request, pk: int):
    """Attended / late / no-show from the board, through the same service as the session page."""
    participant = _visible_participant(request, pk)
    appointment = participant.appointment
    form = AttendanceForm({**request.POST.dict(), "client": participant.client_id}, appointment=appointment)
    if not form.is_valid():
        messages.error(request, " ".join(m for errors in form.errors.values() for m in errors))
    else:
        try:
            appointment_mark_attendance(
                appointment=appointment,
                client=participant.client,
                attendance=form.cleaned_data["attendance"],
                note=form.cleaned_data["note"],
                by=request.user,
            )
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, f"{participant.client.greeting_name}: attendance recorded.")
    return _back(request, reverse("appointment_detail", args=[appointment.pk]))


# --- Needs-attention queue ------------------------------------------------------------------------------

# Tabs in the order a front desk works them; each says in words what the items are.
QUEUE_TABS = [
    (
        FollowUpKind.TECH_CHECK_FAILED,
        "Tech check failed",
        "The client's tech check found a problem: call or text to help.",
    ),
    (FollowUpKind.LATE_ARRIVAL, "Late", "The client has not joined a session that has started."),
    (FollowUpKind.NO_SHOW, "No-shows", "Follow up, offer a new time, and apply the no-show policy."),
    (
        FollowUpKind.UNDELIVERABLE,
        "Undeliverable",
        "A text could not be delivered: check the number with the client.",
    ),
    (FollowUpKind.MESSAGE_PROBLEM, "Messages", "A reminder failed, or it is unknown whether it went out."),
    (
        FollowUpKind.MEETING_FAILED,
        "Video links",
        "The video link could not be made: add one by hand or retry.",
    ),
    (
        FollowUpKind.CONSENT_MISSING,
        "Consents",
        "A session is within a day and the client has not signed a required consent.",
    ),
]


def open_follow_ups(membership):
    """Open items the member may see: their practice's, and a clinician's only for their own
    sessions (the rule of ``Appointment.objects.visible_to``). Written as filters on the item and
    a join, not ``appointment__in=<visible appointments>``: PostgreSQL planned that IN (subquery)
    as a merge join walking the whole appointments primary key (~1 s with a million sessions, on
    every staff page through the navigation's count)."""
    items = FollowUp.objects.for_practice(membership.practice).open()
    if membership.role == Role.CLINICIAN:
        items = items.filter(appointment__clinician__user_id=membership.user_id)
    return items


def describe(item: FollowUp | QueueItem) -> list[str]:
    """Plain-language lines for an item: tech-check problem codes become words."""
    detail = item.detail or ""
    if item.kind == FollowUpKind.TECH_CHECK_FAILED and detail.startswith("Problems: "):
        return staff_wording(code.strip() for code in detail.removeprefix("Problems: ").split(","))
    return [detail] if detail else []


class QueueLinks:
    """An item's links, reversed once per page (see ``staff.board.LinkPattern``)."""

    def __init__(self):
        self._client = LinkPattern("client_detail")
        self._session = LinkPattern("appointment_detail")
        self._reschedule = LinkPattern("appointment_reschedule")
        self._resend_link = LinkPattern("participant_resend_link")
        self._resolve = LinkPattern("follow_up_resolve")

    def of(self, item: QueueItem) -> dict[str, str]:
        return {
            "client": self._client.fill(item.client_id) if item.participant_id else "",
            "session": self._session.fill(item.appointment_id),
            "reschedule": self._reschedule.fill(item.appointment_id),
            "resend_link": self._resend_link.fill(item.participant_id) if item.participant_id else "",
            "resolve": self._resolve.fill(item.pk),
        }


KIND_LABELS = dict(FollowUpKind.choices)


@dataclass(slots=True)
class QueueItem:
    """What the queue shows of one item, read as values (no FollowUp, Appointment, participant
    and client instances per item: B5's profile of the queue)."""

    pk: int
    kind: str
    detail: str
    created_at: datetime
    appointment_id: int
    participant_id: int | None
    starts_at: datetime
    ends_at: datetime
    status: str
    modality: str
    clinician_name: str
    client_id: int | None
    client_first_name: str | None
    client_last_name: str | None
    phone_e164: str
    lines: list[str] = field(default_factory=list)
    links: dict[str, str] = field(default_factory=dict)
    can_resend: bool = False

    @property
    def kind_label(self) -> str:
        return KIND_LABELS.get(self.kind, self.kind)

    def get_kind_display(self) -> str:
        return self.kind_label

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.status, self.status)

    @property
    def is_upcoming(self) -> bool:
        return self.status in UPCOMING_STATUSES

    @property
    def client_name(self) -> str:
        return f"{self.client_first_name or ''} {self.client_last_name or ''}".strip()

    @property
    def phone_national(self) -> str:
        return national_format(self.phone_e164)


@lru_cache(maxsize=4096)
def national_format(e164: str) -> str:
    """ "(212) 555-0102" for a stored E.164 number, "" for none; parsed once per number."""
    if not e164:
        return ""
    return phonenumbers.format_number(phonenumbers.parse(e164), phonenumbers.PhoneNumberFormat.NATIONAL)


QUEUE_ITEM_FIELDS = (
    "pk",
    "kind",
    "detail",
    "created_at",
    "appointment_id",
    "participant_id",
    "appointment__starts_at",
    "appointment__ends_at",
    "appointment__status",
    "appointment__modality",
    "appointment__clinician__display_name",
    "participant__client_id",
    "participant__client__first_name",
    "participant__client__last_name",
)


def queue_items_of(items_qs, *, now: datetime) -> list[QueueItem]:
    """Up to 200 items, the earliest session first, as values with their lines and links."""
    rows = (
        items_qs.annotate(phone_text=Cast("participant__client__phone", CharField()))
        .values_list(*QUEUE_ITEM_FIELDS, "phone_text")
        .order_by("appointment__starts_at", "created_at")[:200]
    )
    links = QueueLinks()
    items = []
    for *values, phone in rows:
        item = QueueItem(*values, phone_e164=phone or "")
        item.lines = describe(item)
        item.links = links.of(item)
        item.can_resend = bool(
            item.participant_id
            and item.modality == "telehealth"
            and item.status in ACTIVE_STATUSES
            and item.ends_at > now
        )
        items.append(item)
    return items


@staff_view(QUEUE_ROLES)
def follow_up_list(request):
    """The needs-attention queue, a tab per kind with its count; every item resolvable with a note."""
    items_qs = open_follow_ups(request.membership)
    counts = dict(items_qs.values_list("kind").annotate(n=Count("pk")).order_by())
    kind = request.GET.get("kind", "")
    if kind not in FollowUpKind.values:
        kind = ""
    shown = items_qs.filter(kind=kind) if kind else items_qs
    now = timezone.now()
    tz = request.practice.zoneinfo
    items = queue_items_of(shown, now=now)
    back = request.get_full_path()
    tabs = [
        {"kind": k, "label": label, "help": help_text, "count": counts.get(k, 0), "current": k == kind}
        for k, label, help_text in QUEUE_TABS
    ]
    # The navigation's count is this page's own (not the few-seconds memo of other pages).
    setattr(request, QUEUE_TOTAL, sum(counts.values()))
    context = {
        "items": items,
        "queue_items": queue_items(request, items, tz=tz, back=back),
        "tabs": tabs,
        "kind": kind,
        "current_tab": next((tab for tab in tabs if tab["current"]), None),
        "total": sum(counts.values()),
        "tz": tz,
        "now": now,
        "back": back,
        "nav": "queue",
    }
    return render(request, "staff/follow_up_list.html", context)


@require_POST
@staff_view(QUEUE_ROLES)
def follow_up_resolve_view(request, pk: int):
    item = get_object_or_404(open_follow_ups(request.membership), pk=pk)
    note = request.POST.get("note", "").strip()[:300]
    try:
        follow_up_resolve(item=item, by=request.user, note=note)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, "Marked as handled." + (" Note saved." if note else ""))
    return _back(request, reverse("follow_up_list"))

"""Reminder settings pages for staff (SPEC F14): switch a client-facing step off for a client
(all of their sessions with one clinician) or for one session.

Clinicians see and change their own clients and sessions only; managers and front desk any
clinician's. Billers have no access. Everything else 404s: another practice's client or session,
another clinician's for a clinician. Every change goes through messaging.overrides.step_override_set
(audit-logged)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone

from messaging.models import Anchor, StepOverride
from messaging.overrides import OFF, ON, overridable_steps, step_override_set
from messaging.planning import applies_to_session
from messaging.services import sequence_for
from practice.access import BOOKERS, SCHEDULERS, require_manage_appointment, staff_view, visible_clients
from practice.models import ClinicianProfile, Role
from scheduling.models import Appointment, AppointmentParticipant

DEFAULT = "default"


class OverrideForm(forms.Form):
    """One select per (field name, label, choices), built by the view."""

    def __init__(self, *args, rows, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        for name, label, choices in rows:
            self.fields[name] = forms.ChoiceField(label=label, choices=choices)


def _state(override: StepOverride | None) -> str:
    if override is None:
        return DEFAULT
    return ON if override.enabled else OFF


def _apply(request, form: OverrideForm, targets: dict, now) -> int:
    """Call the service for every select whose value changed; returns how many changed."""
    changed = 0
    for name, target in targets.items():
        wanted = form.cleaned_data[name]
        if wanted == target["current"]:
            continue
        step_override_set(
            **target["scope"], state=None if wanted == DEFAULT else wanted, by=request.user, now=now
        )
        changed += 1
    return changed


# --- One session -------------------------------------------------------------------------------


def _client_level_label(override: StepOverride | None) -> str:
    if override is None:
        return "As usual: on"
    return f"As for this client: off (by {override.set_by_name})"


@staff_view(BOOKERS)
def appointment_reminders(request, pk: int):
    appointment = get_object_or_404(
        Appointment.objects.visible_to(request.membership).select_related("clinician", "practice"), pk=pk
    )
    require_manage_appointment(request.membership, appointment)
    participants = list(
        AppointmentParticipant.objects.filter(appointment=appointment).select_related("client")
    )
    # Only what this session plans and has not sent at booking: the in-person reminder means
    # nothing for a video session, and the confirmation has gone out already.
    steps = [
        step
        for step in overridable_steps(sequence_for(appointment.practice))
        if step.anchor != Anchor.BOOKING and applies_to_session(step, appointment)
    ]
    overrides = StepOverride.objects.filter(
        client__in=[p.client_id for p in participants], step__in=steps, clinician=appointment.clinician
    ).filter(appointment__isnull=True) | StepOverride.objects.filter(appointment=appointment)
    by_session = {(o.client_id, o.step_id): o for o in overrides if o.appointment_id}
    by_client = {(o.client_id, o.step_id): o for o in overrides if not o.appointment_id}
    rows, targets, groups = [], {}, []
    for participant in participants:
        fields = []
        for step in steps:
            key = (participant.client_id, step.pk)
            name = f"p{participant.pk}-s{step.pk}"
            choices = [
                (DEFAULT, _client_level_label(by_client.get(key))),
                (OFF, "Off for this session"),
                (ON, "On for this session"),
            ]
            rows.append((name, step.name, choices))
            targets[name] = {
                "current": _state(by_session.get(key)),
                "scope": {
                    "step": step,
                    "client": participant.client,
                    "clinician": appointment.clinician,
                    "appointment": appointment,
                },
            }
            fields.append(name)
        groups.append((participant, fields))
    initial = {name: target["current"] for name, target in targets.items()}
    form = OverrideForm(request.POST if request.method == "POST" else None, rows=rows, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            changed = _apply(request, form, targets, timezone.now())
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, f"Reminder settings saved ({changed} changed).")
            return redirect("appointment_reminders", pk=appointment.pk)
    context = {
        "appointment": appointment,
        "form": form,
        "groups": [(participant, [form[name] for name in names]) for participant, names in groups],
        "tz": request.practice.zoneinfo,
        "nav": "appointments",
    }
    return render(request, "messaging/appointment_reminders.html", context)


# --- One client (all their sessions with one clinician) ---------------------------------------


def _clinicians_for(request, client) -> list[ClinicianProfile]:
    """Whose sessions the page may change: a clinician their own; schedulers any clinician the
    client has sessions with (else every active clinician)."""
    practice_clinicians = ClinicianProfile.objects.for_practice(request.practice)
    if request.membership.role == Role.CLINICIAN:
        own = list(practice_clinicians.filter(user=request.user))
        if not own:
            raise PermissionDenied("Your account has no clinician profile in this practice.")
        return own
    if request.membership.role not in SCHEDULERS:
        raise PermissionDenied("Your role cannot change reminders.")
    seen = list(practice_clinicians.filter(appointments__participants__client=client).distinct())
    return seen or list(practice_clinicians.filter(is_active=True))


@staff_view(BOOKERS)
def client_reminders(request, pk: int):
    client = get_object_or_404(visible_clients(request.membership), pk=pk)
    clinicians = _clinicians_for(request, client)
    chosen = request.GET.get("clinician") or request.POST.get("clinician")
    clinician = clinicians[0] if clinicians else None
    if chosen:
        clinician = next((c for c in clinicians if str(c.pk) == chosen), None)
        if clinician is None:
            raise Http404("No such clinician for this client.")
    if clinician is None:
        raise Http404("The practice has no clinicians.")
    steps = overridable_steps(sequence_for(request.practice))
    current = {
        o.step_id: o
        for o in StepOverride.objects.filter(
            client=client, clinician=clinician, appointment__isnull=True, step__in=steps
        )
    }
    rows, targets = [], {}
    for step in steps:
        name = f"s{step.pk}"
        existing = current.get(step.pk)
        off_label = f"Off (switched off by {existing.set_by_name})" if existing else "Off"
        rows.append((name, step.name, [(DEFAULT, "On (the practice's sequence)"), (OFF, off_label)]))
        targets[name] = {
            "current": _state(current.get(step.pk)),
            "scope": {"step": step, "client": client, "clinician": clinician, "appointment": None},
        }
    initial = {name: target["current"] for name, target in targets.items()}
    form = OverrideForm(request.POST if request.method == "POST" else None, rows=rows, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            changed = _apply(request, form, targets, timezone.now())
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, f"Reminder settings saved ({changed} changed).")
            return redirect(f"{request.path}?clinician={clinician.pk}")
    context = {
        "client": client,
        "clinician": clinician,
        "clinicians": clinicians,
        "form": form,
        "nav": "clients",
    }
    return render(request, "messaging/client_reminders.html", context)

"""The per-day facts the metrics page reads (#14): a summary of each practice's client sessions
and appointments per local day, clinician and modality, kept current as they change.

Why: the metrics page counted every client session of its period (twelve weeks: thousands of rows
for a busy practice, a Python pass and seven aggregate queries) on every view. These rows hold
the same counts per day, so a page reads at most days x clinicians x modalities small rows.

How they stay current (``scheduling.day_facts``): every change to an appointment, a participant
or a tech check (saved, deleted, or moved to another day) marks its day stale
(``DayFactsStale``, in the transaction of the change); the
next read recomputes the stale days of that practice from the sessions themselves (a few dozen
rows a day) before it reads. ``manage.py day_facts_rebuild`` recomputes everything (backfill, or
after a bulk load that bypassed the services).
"""

from __future__ import annotations

from django.db import models

from practice.models import ClinicianProfile, Practice


class DayFacts(models.Model):
    """Counts of one local day (the practice's zone) for one clinician and modality. Client
    sessions (one client in one appointment) for attendance and telehealth; appointments for
    utilization; rescheduled appointments are left out (their replacement carries the outcome).
    Definitions: docs/metrics.md."""

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    clinician = models.ForeignKey(ClinicianProfile, on_delete=models.CASCADE, related_name="+")
    modality = models.CharField(max_length=12)
    # Client sessions: all of them, then by outcome.
    client_sessions = models.PositiveIntegerField(default=0)
    attended = models.PositiveIntegerField(default=0)
    no_show = models.PositiveIntegerField(default=0)
    cancelled = models.PositiveIntegerField(default=0)
    late_cancel = models.PositiveIntegerField(default=0)
    due_fees = models.DecimalField(max_digits=14, decimal_places=2, default=0)  # of attended + no-show
    # Telehealth client sessions that were not cancelled, and what their clients did.
    eligible = models.PositiveIntegerField(default=0)
    tech_checked = models.PositiveIntegerField(default=0)
    tech_passed = models.PositiveIntegerField(default=0)
    joined = models.PositiveIntegerField(default=0)
    joined_on_time = models.PositiveIntegerField(default=0)
    # Appointments (not client sessions), for utilization.
    booked_sessions = models.PositiveIntegerField(default=0)
    attended_sessions = models.PositiveIntegerField(default=0)
    booked_seconds = models.BigIntegerField(default=0)
    attended_seconds = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["practice", "day", "clinician", "modality"], name="day_facts_one_row_per_key"
            )
        ]

    def __str__(self) -> str:
        return f"Facts of {self.day}: clinician {self.clinician_id}, {self.modality}"


class DayFactsStale(models.Model):
    """A UTC day of a practice whose facts changed since they were last counted: one row per
    change, inserted in the transaction of the change; the recount removes exactly the rows it
    read. Rows are only ever inserted (no upsert of one row per day), so changes on the same day
    never wait for each other's commit, and a change still uncommitted when a recount reads keeps
    its own row for the next one (scheduling.day_facts)."""

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="+")
    utc_day = models.DateField()
    marked_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"Stale facts: {self.utc_day} UTC (practice {self.practice_id})"

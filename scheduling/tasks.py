"""Background work of the scheduling app (run by django-q2)."""

from django.utils import timezone


def sweep_lifecycle() -> int:
    """Scheduled every minute (migration scheduling 0006): late arrivals, no-shows, completions."""
    from scheduling.lifecycle import appointments_sweep_lifecycle

    report = appointments_sweep_lifecycle(now=timezone.now())
    return report.late_flagged + report.no_shows + report.completed

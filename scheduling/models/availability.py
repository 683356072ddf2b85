"""Clinician availability (SPEC F4): weekly working hours and time off.

Weekly hours are wall-clock times in the clinician's zone (the practice's unless the clinician
has one of their own), so "Mondays 09:00-17:00" stays 09:00-17:00 local across daylight-saving
changes; turning them into UTC instants happens per date, in ``scheduling.availability``.
Time off is a pair of instants (UTC in the database) because it is an absence at a real time.
"""

from __future__ import annotations

from django.db import models

from practice.models import ClinicianProfile


class Weekday(models.IntegerChoices):
    MONDAY = 0, "Monday"
    TUESDAY = 1, "Tuesday"
    WEDNESDAY = 2, "Wednesday"
    THURSDAY = 3, "Thursday"
    FRIDAY = 4, "Friday"
    SATURDAY = 5, "Saturday"
    SUNDAY = 6, "Sunday"


class WeeklyHours(models.Model):
    """One stretch of working time on one weekday (several per day for a lunch break)."""

    clinician = models.ForeignKey(ClinicianProfile, on_delete=models.CASCADE, related_name="weekly_hours")
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices)
    starts_at = models.TimeField(help_text="Local time in the clinician's (or the practice's) time zone.")
    ends_at = models.TimeField()

    class Meta:
        verbose_name = "weekly hours"
        verbose_name_plural = "weekly hours"
        ordering = ["clinician", "weekday", "starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_at__gt=models.F("starts_at")), name="weekly_hours_end_after_start"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.starts_at:%H:%M}-{self.ends_at:%H:%M}"


class TimeOff(models.Model):
    """An absence (holiday, training, sick day): no open slots inside it."""

    clinician = models.ForeignKey(ClinicianProfile, on_delete=models.CASCADE, related_name="time_off")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    note = models.CharField(max_length=100, blank=True, help_text="Administrative only, e.g. “Vacation”.")

    class Meta:
        verbose_name = "time off"
        verbose_name_plural = "time off"
        ordering = ["clinician", "starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_at__gt=models.F("starts_at")), name="time_off_end_after_start"
            )
        ]
        # Read by scheduling.availability.open_slots: a clinician's absences overlapping a range.
        indexes = [models.Index(fields=["clinician", "starts_at"], name="time_off_by_clinician")]

    def __str__(self) -> str:
        return f"Time off from {self.starts_at:%Y-%m-%d %H:%M} UTC"

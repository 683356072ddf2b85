from django.apps import AppConfig


class SchedulingConfig(AppConfig):
    name = "scheduling"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from auditlog.registry import auditlog

        from scheduling.models import (
            Appointment,
            AppointmentActivity,
            AppointmentParticipant,
            BookingPolicy,
            Hold,
            Series,
            ServiceType,
            TimeOff,
            WeeklyHours,
        )

        auditlog.register(ServiceType)
        auditlog.register(Series)
        auditlog.register(Appointment)
        # Includes overlap_reason: a client booked into two sessions at once, and why.
        auditlog.register(AppointmentParticipant)
        # A client's free-text reply stays in its own table, never in the audit log.
        auditlog.register(AppointmentActivity, exclude_fields=["body"])
        # Availability, edited on the staff "Hours" pages (scheduling/setup_services.py).
        auditlog.register(WeeklyHours)
        auditlog.register(TimeOff)
        auditlog.register(Hold)
        auditlog.register(BookingPolicy)

        from scheduling.day_facts import connect_signals

        connect_signals()

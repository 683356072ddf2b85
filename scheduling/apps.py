from django.apps import AppConfig


class SchedulingConfig(AppConfig):
    name = "scheduling"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from practice import audit
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

        audit.register(ServiceType)
        audit.register(Series)
        audit.register(Appointment)
        # Includes overlap_reason: a client booked into two sessions at once, and why.
        audit.register(AppointmentParticipant)
        # A client's free-text reply stays in its own table, never in the audit log.
        audit.register(AppointmentActivity, exclude_fields=["body"])
        # Availability, edited on the staff "Hours" pages (scheduling/setup_services.py).
        audit.register(WeeklyHours)
        audit.register(TimeOff)
        audit.register(Hold)
        audit.register(BookingPolicy)

        from scheduling.day_facts import connect_signals

        connect_signals()

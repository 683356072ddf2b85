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
        )

        auditlog.register(ServiceType)
        auditlog.register(Series)
        auditlog.register(Appointment)
        auditlog.register(AppointmentParticipant)
        # A client's free-text reply stays in its own table, never in the audit log.
        auditlog.register(AppointmentActivity, exclude_fields=["body"])
        auditlog.register(Hold)
        auditlog.register(BookingPolicy)

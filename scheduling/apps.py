from django.apps import AppConfig


class SchedulingConfig(AppConfig):
    name = "scheduling"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The models practice.audit registers predate these; new scheduling models register here.
        from auditlog.registry import auditlog

        from scheduling.models import BookingPolicy, Hold

        auditlog.register(Hold)
        auditlog.register(BookingPolicy)

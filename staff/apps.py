from django.apps import AppConfig


class StaffConfig(AppConfig):
    """The pages staff use (top floor): it reads every app below it; nothing imports it."""

    name = "staff"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Only when `manage.py rundemo` started this process (staff/demo_clock.py).
        from staff.demo_clock import start_from_environment

        start_from_environment()

from django.apps import AppConfig


class StaffConfig(AppConfig):
    """The pages staff use (top floor): it reads every app below it; nothing imports it."""

    name = "staff"
    default_auto_field = "django.db.models.BigAutoField"

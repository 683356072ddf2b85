from django.apps import AppConfig


class WaitlistConfig(AppConfig):
    """The waitlist (issue 16): entries, freed slots offered in waves as holds, the offer page.
    Reads scheduling, telehealth, messaging and integrations; selfservice and staff read it."""

    name = "waitlist"
    default_auto_field = "django.db.models.BigAutoField"

from django.apps import AppConfig


class WaitlistConfig(AppConfig):
    """The waitlist (issue 16): entries, freed slots offered in waves as holds, the offer page.
    Reads scheduling, telehealth, messaging and integrations; selfservice and staff read it."""

    name = "waitlist"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from practice import audit
        from scheduling import events, freed_time
        from waitlist.models import WaitlistEntry, WaitlistSettings
        from waitlist.tasks import on_appointment_event, on_time_freed

        events.subscribe(on_appointment_event)
        freed_time.subscribe(on_time_freed)

        from messaging import inbound_hooks
        from waitlist.services import offer_accept_by_text

        inbound_hooks.on_yes(offer_accept_by_text)
        audit.register(WaitlistSettings)
        audit.register(WaitlistEntry, include_fields=["status", "band", "earliest_date", "latest_date"])

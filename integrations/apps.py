from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    """Outbound signed webhooks and calendar feeds/import (SPEC F20 outbound, F21).

    A separate app because it reads every other app (appointments, tech checks, messages,
    consent) while none of them may import it: they announce facts through
    ``scheduling.events`` and ``practice.facts``, and this app records them in its outbox."""

    name = "integrations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from integrations.outbox import on_appointment_event, on_fact
        from practice import facts
        from scheduling import events

        events.subscribe_in_transaction(on_appointment_event)
        facts.subscribe(on_fact)

        # Endpoint and feed changes are settings changes: audit-logged, never with their secrets.
        from integrations.models import CalendarFeed, WebhookEndpoint
        from practice import audit

        audit.register(WebhookEndpoint, exclude_fields=["secret", "previous_secret"])
        audit.register(CalendarFeed, exclude_fields=["token_hash"])

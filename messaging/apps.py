from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "messaging"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from messaging.tasks import on_appointment_event
        from scheduling import events

        events.subscribe(on_appointment_event)
        # The last check before each provider call (messaging.fence): raised in the change's own
        # transaction, so it is there when the change commits. PostgreSQL only (NOTIFY): on
        # SQLite it would only cost each change a savepoint.
        from django.db import connection

        from messaging.fence import fence_appointment_change

        if connection.vendor == "postgresql":
            events.subscribe_in_transaction(fence_appointment_change)
            from django.db.models.signals import post_save

            from messaging.fence import fence_client_change
            from messaging.models import ClientPreferences as Preferences
            from practice.models import Client

            for model in (Client, Preferences):
                post_save.connect(fence_client_change, sender=model, dispatch_uid=f"fence-{model.__name__}")

        # Client pages read in the language of the client's messages (practice.client_language).
        from messaging import languages
        from practice import client_language

        client_language.register(
            client_language=languages.client_language, practice_languages=languages.practice_languages
        )

        # Registered here rather than in practice/audit.py: practice must not import messaging.
        from messaging.models import ClientPreferences, Sequence, Step, StepOverride
        from practice import audit

        audit.register(ClientPreferences)
        # Practice messaging settings (quiet hours, languages, the steps) and clinician overrides:
        # every edit is logged (who, when, what).
        audit.register(Sequence)
        audit.register(Step)
        audit.register(StepOverride)

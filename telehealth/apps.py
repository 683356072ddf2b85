from django.apps import AppConfig


class TelehealthConfig(AppConfig):
    name = "telehealth"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from scheduling import events
        from scheduling.api import links
        from telehealth import day_facts
        from telehealth.api_links import LINKS
        from telehealth.tasks import on_appointment_event

        events.subscribe(on_appointment_event)
        links.register(LINKS)
        day_facts.register()

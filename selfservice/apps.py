from django.apps import AppConfig


class SelfServiceConfig(AppConfig):
    """Client-facing pages beyond one session: the public booking page with matching and booking
    requests. Reads scheduling, telehealth, messaging and integrations; only staff/ reads it."""

    name = "selfservice"
    verbose_name = "Self-service"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from practice import audit
        from selfservice.models import BookingRequest, DocumentSubmission, DocumentTemplate, MatchingProfile

        audit.register(MatchingProfile)
        audit.register(DocumentTemplate)
        # A signature is logged with its version and time; the answers never.
        audit.register(
            DocumentSubmission, include_fields=["template", "client", "version", "signed_name", "signed_at"]
        )
        # The person's details and what they need are health information: logged as changes of
        # state only, never their contents.
        audit.register(BookingRequest, include_fields=["status", "decided_by", "appointment"])

        # Every e-mail to a client ends with a link to their home (messaging.home_links).
        from messaging import home_links
        from selfservice.home import home_link_path_for_message

        home_links.register(home_link_path_for_message)

"""``manage.py ehr_webhook_secret --practice <slug> [--rotate]``: the EHR webhook's signing secret.

Without --rotate it creates the practice's first secret (and refuses if one exists); with
--rotate it replaces it, the old one working for 24 more hours. stdout carries only the secret
(shown once); the URL to give the EHR and the notes go to stderr.
"""

from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from practice.models import Practice
from scheduling.ehr import PREVIOUS_SECRET_GRACE, ehr_webhook_secret_rotate
from scheduling.models import EhrWebhookSecret


class Command(BaseCommand):
    help = "Create (or with --rotate, replace) a practice's EHR webhook signing secret and print it once."

    def add_arguments(self, parser):
        parser.add_argument("--practice", required=True, help="The practice's slug, e.g. lakeside.")
        parser.add_argument("--rotate", action="store_true", help="Replace the existing secret.")

    def handle(self, *args, practice: str, rotate: bool, **options):
        found = Practice.objects.filter(slug=practice).first()
        if found is None:
            raise CommandError(f"No practice has the slug {practice!r}.")
        exists = EhrWebhookSecret.objects.filter(practice=found).exists()
        if exists and not rotate:
            raise CommandError("This practice already has a secret; use --rotate to replace it.")
        if rotate and not exists:
            raise CommandError("This practice has no secret yet; run without --rotate to create one.")
        raw = ehr_webhook_secret_rotate(practice=found)
        path = reverse("ehr_webhook", kwargs={"practice_slug": found.slug})
        note = f" The previous secret works for {PREVIOUS_SECRET_GRACE} more." if rotate else ""
        self.stderr.write(
            f"EHR webhook secret for {found.name}: configure the EHR to POST to <SITE_URL>{path} "
            f"and sign with it. Store it now: it is not shown again.{note}"
        )
        self.stdout.write(raw)

"""``manage.py create_api_token --practice <slug> [--name NAME]``: print a new API token once.

stdout carries only the token (last line), so a script can capture it with
``TOKEN=$(python manage.py create_api_token --practice lakeside | tail -n 1)``; the note
about storing it goes to stderr. Keep the command name and flags stable: deploy scripts use them.
"""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from practice.models import Practice
from practice.tokens import api_token_create


class Command(BaseCommand):
    help = "Create an API token for a practice and print it once (it is not stored)."

    def add_arguments(self, parser):
        parser.add_argument("--practice", required=True, help="The practice's slug, e.g. lakeside.")
        parser.add_argument("--name", default="Command-line token", help="What will use the token.")

    def handle(self, *args, practice: str, name: str, **options):
        found = Practice.objects.filter(slug=practice).first()
        if found is None:
            known = ", ".join(Practice.objects.order_by("slug").values_list("slug", flat=True)) or "none"
            raise CommandError(f"No practice has the slug {practice!r} (known slugs: {known}).")
        try:
            token, raw = api_token_create(practice=found, name=name)
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from error
        self.stderr.write(
            f"API token {token.name!r} for {found.name} (starts {token.prefix}). "
            "Store it now: it cannot be shown again."
        )
        self.stdout.write(raw)

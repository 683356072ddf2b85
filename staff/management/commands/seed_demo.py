"""``manage.py seed_demo [--reset]``: build the demo practices (see practice/demo.py).

Without --reset an existing demo is left exactly as it is. The demo password is
DEMO_PASSWORD from the environment, or ``attend-demo-password``.
"""

import logging
import os

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from staff import demo


class Command(BaseCommand):
    help = (
        "Create the demo practices 'Lakeside Therapy Collective' and 'Harbor Therapy' with staff, "
        "clients and a day of sessions around now. Password: $DEMO_PASSWORD or "
        f"'{demo.DEFAULT_DEMO_PASSWORD}'."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--reset",
            action="store_true",
            help="Delete the demo practices, their data and the demo accounts first, then rebuild.",
        )
        parser.add_argument(
            "--port",
            type=int,
            default=int(os.environ.get("PORT") or 8000),
            help="Port rundemo will serve on, for the address printed ($PORT or 8000).",
        )
        parser.add_argument(
            "--no-logins",
            action="store_true",
            help="Do not print the logins (`make demo` runs rundemo next, which prints them).",
        )

    def handle(self, *args, reset: bool, port: int, no_logins: bool, **options):
        if foreign := demo.non_demo_practices_with_demo_slugs():
            raise CommandError(
                f"A practice that is not the demo uses the slug {', '.join(foreign)}; "
                "seed_demo will not change or delete it."
            )
        if not reset and demo.demo_exists():
            self.stdout.write(
                "The demo practice already exists; nothing was changed. "
                "Run `manage.py seed_demo --reset` to rebuild it."
            )
            return
        if not reset and (taken := demo.demo_conflicting_users()):
            raise CommandError(
                f"Demo accounts already exist without the demo practice ({', '.join(taken)}). "
                "Run `manage.py seed_demo --reset` to replace them."
            )
        password = demo.demo_password()
        # django-q logs one line per enqueued task (a meeting per session), which would bury
        # the logins table; its warnings and errors still show.
        queue_logger = logging.getLogger("django-q")
        level = queue_logger.level
        queue_logger.setLevel(logging.WARNING)
        try:
            # One transaction: a build that fails leaves the previous demo in place.
            with transaction.atomic():
                if reset:
                    demo.demo_reset()
                practice = demo.demo_build(password=password)
        finally:
            queue_logger.setLevel(level)
        if reset:
            self.stdout.write("Deleted the previous demo data.")
        self.stdout.write(self.style.SUCCESS(f"Built the demo practice {practice.name}."))
        if no_logins:
            return
        port_option = "" if port == 8000 else f" --port {port}"
        self.stdout.write(
            f"Start it with `python manage.py rundemo{port_option}`, then open "
            f"http://127.0.0.1:{port}{demo.LOGIN_PATH} and sign in with an account below; "
            "at the 2FA step enter one of its backup codes (each works once).\n"
        )
        self.stdout.write(demo.format_logins(demo.demo_logins(), password=password))

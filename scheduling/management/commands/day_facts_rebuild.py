"""``manage.py day_facts_rebuild [--practice ID ...]``: count every day's facts of the metrics
page again from the sessions (scheduling.day_facts.rebuild). For a backfill at once, or after
rows were written without the ORM (a bulk load, a restore of part of a table)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from practice.models import Practice
from scheduling import day_facts


class Command(BaseCommand):
    help = "Recount the per-day facts of the metrics page from the sessions."

    def add_arguments(self, parser):
        parser.add_argument("--practice", type=int, action="append", default=[], help="Only this practice.")

    def handle(self, *args, practice: list[int], **options):
        practices = Practice.objects.order_by("pk")
        if practice:
            practices = practices.filter(pk__in=practice)
        rows = counted = 0
        for each in practices.iterator():
            rows += day_facts.rebuild(each)
            counted += 1
        self.stdout.write(f"Recounted the day facts of {counted} practice(s): {rows} row(s).")

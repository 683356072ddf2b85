"""``manage.py import_csv --practice <slug> --kind clients|appointments [--source csv] [--dry-run] FILE``

Imports a CSV through the same services as the staff page (scheduling.imports). Prints the
counts and, per row with errors, the row number, column and problem: never the values.
Exits with status 1 when any row had an error.
"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from practice.models import Practice
from scheduling.imports import import_csv


class Command(BaseCommand):
    help = "Import clients or appointments from a CSV file (matched by external_id; safe to repeat)."

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--practice", required=True, help="The practice's slug.")
        parser.add_argument("--kind", required=True, choices=["clients", "appointments"])
        parser.add_argument("--source", default="csv", help="Where the ids come from, e.g. the EHR's name.")
        parser.add_argument("--dry-run", action="store_true", help="Report what would happen; save nothing.")

    def handle(self, *args, file: Path, practice: str, kind: str, source: str, dry_run: bool, **options):
        found = Practice.objects.filter(slug=practice).first()
        if found is None:
            raise CommandError(f"No practice has the slug {practice!r}.")
        try:
            text = file.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as error:
            raise CommandError(f"Cannot read the file as UTF-8: {type(error).__name__}.") from error
        report = import_csv(
            practice=found,
            kind=kind,
            source=source,
            text=text,
            dry_run=dry_run,
            actor="CSV import (command line)",
        )
        if report.file_errors:
            raise CommandError(" ".join(report.file_errors))
        verb = "would be" if dry_run else "were"
        parts = [f"{count} {verb} {result}" for result, count in report.counts.items()]
        if report.error_rows:
            parts.append(f"{len(report.error_rows)} with errors (skipped)")
        summary = ", ".join(parts) or "no rows"
        self.stdout.write(f"{len(report.rows)} rows: {summary}.")
        for row in report.error_rows:
            for column, message in row.errors:
                self.stdout.write(f"row {row.row}, {column}: {message}")
        if report.error_rows:
            raise SystemExit(1)

from django.core.management.base import BaseCommand
from django.utils import timezone

from scheduling.lifecycle import appointments_sweep_lifecycle


class Command(BaseCommand):
    help = (
        "Run one session-lifecycle sweep: late arrivals (T+5), no-shows at the end of the grace "
        "period, completed sessions. Safe to run while the scheduled sweep runs too."
    )

    def handle(self, *args, **options):
        report = appointments_sweep_lifecycle(now=timezone.now())
        self.stdout.write(
            f"late arrivals flagged {report.late_flagged}, no-shows marked {report.no_shows}, "
            f"sessions completed {report.completed}"
        )

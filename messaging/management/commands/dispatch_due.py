from django.core.management.base import BaseCommand

from messaging import services


class Command(BaseCommand):
    help = "Run one reminder dispatcher sweep: send everything due now, then report."

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=None, help="Rows claimed per batch.")

    def handle(self, *args, limit=None, **options):
        report = services.messages_dispatch_due(limit=limit)
        counts = {
            "claimed": report.claimed,
            "sent": report.sent,
            "skipped": report.skipped,
            "held for quiet hours": report.deferred,
            "retried": report.retried,
            "failed": report.failed,
            "unknown": report.unknown,
            "requeued after a lost lease": report.requeued_leases,
        }
        self.stdout.write(", ".join(f"{name} {count}" for name, count in counts.items()))

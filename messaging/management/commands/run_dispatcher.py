import signal
import threading

from django.core.management.base import BaseCommand

from messaging.tasks import run_dispatcher


class Command(BaseCommand):
    help = (
        "Run the reminder dispatcher as a process of its own until stopped: it sweeps as each "
        "message falls due (at least every DISPATCH_INTERVAL_SECONDS). SIGTERM or Ctrl-C lets the "
        "sweep in progress finish first."
    )

    def handle(self, *args, **options):
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        sent = run_dispatcher(stop)
        self.stdout.write(f"dispatcher stopped; sent {sent}")

"""B4's transport baseline: ``python -m tests.bench.transport --messages N --threads T``.

The provider hand-off without the dispatcher: the real ``TwilioSMSBackend`` (settings from the
environment, as for the runner) called by T threads in a plain loop, no database, no claiming,
no recording. What this reaches on the same machine, against the same server in the same run,
is the most the dispatcher could reach here; the gap between it and concurrency / latency is
the machine (the server, the client library and the dispatcher share 2 cores). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from concurrent.futures import ThreadPoolExecutor


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, required=True)
    parser.add_argument("--threads", type=int, required=True)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "practice.settings")
    import django

    django.setup()
    from messaging.backends import get_sms_backend
    from messaging.backends.base import ChannelError, SMSMessage
    from tests.bench.data import fictional_numbers

    backend = get_sms_backend()
    # Numbers of their own (the 555-0199 block's last ones are never in a burst of 30,000).
    numbers = fictional_numbers(args.messages + 30_000)[30_000:]
    body = (
        "Your session with Dr. Example starts in 15 minutes. Tap to join: https://attend.example.org/j/"
        + ("x" * 43)
    )

    def send(number: str) -> bool:
        try:
            backend.send(SMSMessage(to=number, body=body, from_number="+12125550100"))
            return True
        except ChannelError:
            return False

    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu_before = usage.ru_utime + usage.ru_stime
    started = time.time()
    with ThreadPoolExecutor(max_workers=args.threads) as pool:
        outcomes = list(pool.map(send, numbers))
    seconds = time.time() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(
        json.dumps(
            {
                "requests": len(outcomes),
                "accepted": sum(outcomes),
                "seconds": seconds,
                "cpu_seconds": usage.ru_utime + usage.ru_stime - cpu_before,
            }
        )
    )


if __name__ == "__main__":
    main()

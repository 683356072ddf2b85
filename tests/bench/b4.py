"""B4 — provider hand-off: the real backends against servers on loopback (issue #8).

SMS: ``messaging.backends.twilio_sms.TwilioSMSBackend`` with the real ``twilio`` client, against
``tests.messaging.twilio_server`` in load mode in its own process: every request answered after
150 ms, 2 % with 429 (Retry-After) and 1 % with 503. The dispatcher (``tests.bench.runner``, one
process, DISPATCH_CONCURRENCY threads) drains ``--messages`` texts; the rows the provider
refused come back after their retry delay and a second pass sends them. Figures: messages/s
against the ceiling concurrency / latency, CPU per call, duplicates (numbers the server accepted
more than once), peak RSS.

E-mail: ``messaging.backends.email.DjangoEmailBackend`` over SMTP to an aiosmtpd server on
loopback (``tests.bench.smtp_sink``), the same rows sent as e-mail.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import time

from django.conf import settings
from django.utils import timezone

from messaging.models import OutboxMessage, OutboxState
from tests.bench import data
from tests.bench.b1 import ROOT, child_env, machine, say

LATENCY = 0.150
RATE_429 = 0.02
RATE_5XX = 0.01
TARGET_SHARE_OF_CEILING = 0.9


def _server(command: list[str]) -> tuple[subprocess.Popen, int]:
    server = subprocess.Popen(command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    return server, int(server.stdout.readline())


def _server_report(server: subprocess.Popen) -> dict:
    out, _ = server.communicate(input="", timeout=60)
    return json.loads(out.strip().splitlines()[-1])


def _dispatch(env: dict) -> dict:
    """One runner from now until a sweep claims nothing; its JSON report."""
    runner = subprocess.run(
        [sys.executable, "-m", "tests.bench.runner", "--start-at", str(time.time()), "--max-seconds", "600"],
        cwd=ROOT,
        env=child_env(**env),
        capture_output=True,
        text=True,
        timeout=900,
    )
    if runner.returncode:
        raise RuntimeError(f"The dispatcher runner failed: {runner.stderr[-2000:]}")
    return json.loads(runner.stdout.strip().splitlines()[-1])


def _rows(burst: data.Burst) -> dict[str, int]:
    return data.burst_states(burst)


def _twilio_server() -> tuple[subprocess.Popen, dict[str, str]]:
    """A Twilio stand-in in load mode, and the environment that points the backend at it."""
    sid, token = "AC" + secrets.token_hex(16), secrets.token_hex(16)
    load = [f"--latency={LATENCY}", f"--rate-429={RATE_429}", f"--rate-5xx={RATE_5XX}"]
    server, port = _server(
        [
            sys.executable,
            "-m",
            "tests.messaging.twilio_server",
            f"--account-sid={sid}",
            f"--auth-token={token}",
            *load,
        ]
    )
    return server, {
        "SMS_BACKEND": "messaging.backends.twilio_sms.TwilioSMSBackend",
        "TWILIO_ACCOUNT_SID": sid,
        "TWILIO_AUTH_TOKEN": token,
        "TWILIO_API_BASE": f"http://127.0.0.1:{port}",
    }


def transport_baseline(messages: int) -> dict:
    """The same backend and server, DISPATCH_CONCURRENCY threads in a plain loop (tests.bench.transport)."""
    server, env = _twilio_server()
    try:
        loop = subprocess.run(
            [
                sys.executable,
                "-m",
                "tests.bench.transport",
                f"--messages={messages}",
                f"--threads={settings.DISPATCH_CONCURRENCY}",
            ],
            cwd=ROOT,
            env=child_env(**env),
            capture_output=True,
            text=True,
            timeout=900,
        )
    finally:
        _server_report(server)
    if loop.returncode:
        raise RuntimeError(f"The transport baseline failed: {loop.stderr[-2000:]}")
    result = json.loads(loop.stdout.strip().splitlines()[-1])
    result["requests_per_second"] = result["requests"] / result["seconds"]
    return result


def sms(burst: data.Burst, messages: int) -> dict:
    baseline = transport_baseline(messages)
    server, env = _twilio_server()
    try:
        data.arm_burst(burst, timezone.now(), rows=messages)
        first = _dispatch(env)
        states_after_first = _rows(burst)
        retry_at = (
            OutboxMessage.objects.filter(practice_id__in=burst.practice_ids, state=OutboxState.PLANNED)
            .order_by("-due_at")
            .values_list("due_at", flat=True)
            .first()
        )
        second = None
        if retry_at is not None:
            time.sleep(max(0.0, (retry_at - timezone.now()).total_seconds() + 0.5))
            second = _dispatch(env)
    finally:
        report = _server_report(server)
    accepted = report["accepted_per_number"]
    seconds = first["finished"] - first["started"]
    concurrency = settings.DISPATCH_CONCURRENCY
    ceiling = concurrency / LATENCY
    rate = first["sent"] / seconds
    # Refused requests took their 150 ms too: compare requests with requests.
    request_rate = (first["sent"] + first["retried"] + first["unknown"] + first["failed"]) / seconds
    cpu = first["cpu_seconds"] + (second["cpu_seconds"] if second else 0)
    return {
        "messages": messages,
        "latency_ms": LATENCY * 1000,
        "rate_429": RATE_429,
        "rate_5xx": RATE_5XX,
        "concurrency": concurrency,
        "first_pass_seconds": seconds,
        "first_pass_sent": first["sent"],
        "first_pass_retried": first["retried"],
        "messages_per_second": rate,
        "ceiling_per_second": ceiling,
        "share_of_ceiling": rate / ceiling,
        "requests_per_second": request_rate,
        "transport_baseline": baseline,
        "share_of_baseline": request_rate / baseline["requests_per_second"],
        "requests": report["requests"],
        "cpu_ms_per_request": 1000 * cpu / max(1, report["requests"]),
        "duplicates": sum(count - 1 for count in accepted.values() if count > 1),
        "accepted_by_server": sum(accepted.values()),
        "states_after_first_pass": states_after_first,
        "final_states": _rows(burst),
        "peak_rss_mb": max(r["maxrss_kb"] for r in (first, second) if r) / 1024,
    }


def email(burst: data.Burst, messages: int) -> dict:
    server, port = _server([sys.executable, "-m", "tests.bench.smtp_sink"])
    try:
        data.arm_burst(burst, timezone.now(), rows=messages)
        OutboxMessage.objects.filter(practice_id__in=burst.practice_ids, state=OutboxState.PLANNED).update(
            channel="email"
        )
        run = _dispatch({"EMAIL_URL": f"smtp://127.0.0.1:{port}"})
    finally:
        report = _server_report(server)
    seconds = run["finished"] - run["started"]
    per = report["per_recipient"]
    return {
        "messages": messages,
        "seconds": seconds,
        "sent": run["sent"],
        "messages_per_second": run["sent"] / seconds,
        "received_by_server": report["messages"],
        "cpu_ms_per_message": 1000 * run["cpu_seconds"] / max(1, run["sent"]),
        "duplicates": sum(count - 1 for count in per.values() if count > 1),
        "final_states": _rows(burst),
        "peak_rss_mb": run["maxrss_kb"] / 1024,
    }


def run(args) -> dict:
    begun = time.monotonic()
    info = machine()
    say(f"B4 provider hand-off — {info['date']}, load {info['load_average_at_start']}")
    burst = data.ensure_burst(args.n, log=say)
    say(
        f"SMS: {args.messages} texts through TwilioSMSBackend to a local Twilio stand-in "
        "(150 ms, 2 % 429, 1 % 503)"
    )
    results = {"machine": info, "sms": sms(burst, args.messages)}
    say(f"e-mail: {args.messages} messages through DjangoEmailBackend to aiosmtpd on loopback")
    results["email"] = email(burst, args.messages)
    results["total_seconds"] = time.monotonic() - begun
    say()
    say(summary(results))
    return results


def summary(r: dict) -> str:
    s, e = r["sms"], r["email"]
    loop = s["transport_baseline"]
    loop_cpu_ms = 1000 * loop["cpu_seconds"] / loop["requests"]
    return "\n".join(
        [
            f"B4 provider hand-off — {r['machine']['date']}",
            f"SMS (Twilio client, {s['latency_ms']:.0f} ms a request, {s['concurrency']} threads): "
            f"{s['messages_per_second']:.1f} messages/s = {100 * s['share_of_ceiling']:.0f} % of the ceiling "
            f"{s['ceiling_per_second']:.0f}/s (target >= {100 * TARGET_SHARE_OF_CEILING:.0f} %)",
            f"    requests/s {s['requests_per_second']:.1f} = {100 * s['share_of_baseline']:.0f} % of the "
            f"same backend and server in a plain {s['concurrency']}-thread loop without the dispatcher "
            f"({loop['requests_per_second']:.1f} requests/s, {loop_cpu_ms:.2f} ms CPU a request)",
            f"    first pass {s['first_pass_sent']} sent in {s['first_pass_seconds']:.1f} s, "
            f"{s['first_pass_retried']} refused (429/503) and retried after their delay; "
            f"final {s['final_states']}",
            f"    duplicates {s['duplicates']} (target 0); {s['requests']} requests, CPU "
            f"{s['cpu_ms_per_request']:.2f} ms a request; dispatcher peak RSS {s['peak_rss_mb']:.0f} MB",
            f"e-mail (SMTP, aiosmtpd on loopback): {e['messages_per_second']:.1f} messages/s, "
            f"{e['received_by_server']} received, duplicates {e['duplicates']}, "
            f"CPU {e['cpu_ms_per_message']:.2f} ms a message; dispatcher peak RSS {e['peak_rss_mb']:.0f} MB; "
            f"final {e['final_states']}",
            f"whole run {r['total_seconds']:.0f} s",
        ]
    )

"""The webhook deliverer: claim due deliveries, commit, POST them concurrently, record each outcome.

Same rules as the reminder dispatcher (messaging.dispatch):
1. A delivery is claimed by one deliverer only: ``SELECT … FOR UPDATE SKIP LOCKED`` on
   PostgreSQL, a conditional ``UPDATE … WHERE state='pending'`` on SQLite (writers serialised),
   with a lease and a claim token naming the claimant. Claiming counts the attempt.
2. No network call inside a transaction or while a row lock is held.
3. Results are recorded only by the claimant (conditional on its token).

Unlike a text message, a webhook may safely be sent again: receivers de-duplicate by the event
id (``webhook-id``), which every attempt repeats. So a deliverer that dies mid-send leaves a
delivery whose lease expires and which is simply attempted again; a timeout is retried. From
our side each (event, endpoint) is one row, attempted by one deliverer at a time, and never
attempted again once the endpoint answered 2xx.
"""

from __future__ import annotations

import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

import requests
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from integrations.models import DeliveryState, WebhookDelivery
from integrations.signing import signed_headers

logger = logging.getLogger(__name__)

# Wait before attempt n+1 after n failed attempts; the length bounds the attempts (8 in all,
# over about 10 hours, so a receiver down for a night's deploy still gets everything).
RETRY_DELAYS = (
    timedelta(seconds=30),
    timedelta(minutes=2),
    timedelta(minutes=10),
    timedelta(minutes=30),
    timedelta(hours=1),
    timedelta(hours=3),
    timedelta(hours=6),
)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
CONNECT_TIMEOUT_SECONDS = 5


def lease_for(batch_size: int) -> timedelta:
    """Longer than a whole batch can take (every request hitting both timeouts), so a live
    deliverer's claim never expires under it."""
    rounds = -(-batch_size // settings.WEBHOOK_CONCURRENCY)
    return timedelta(seconds=rounds * (CONNECT_TIMEOUT_SECONDS + settings.WEBHOOK_TIMEOUT_SECONDS) + 30)


def retry_delay(attempts: int) -> timedelta | None:
    """The wait after ``attempts`` failed attempts, or None when no attempt is left."""
    if attempts >= MAX_ATTEMPTS:
        return None
    return RETRY_DELAYS[attempts - 1]


@dataclass
class DeliveryReport:
    claimed: int = 0
    delivered: int = 0
    retried: int = 0
    failed: int = 0
    cancelled: int = 0
    requeued_leases: int = 0


@dataclass(frozen=True)
class Attempt:
    delivery_id: int
    url: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


# --- Claiming ------------------------------------------------------------------------------------


def claim_due(*, now: datetime, limit: int) -> str:
    token = uuid.uuid4().hex
    due = WebhookDelivery.objects.filter(state=DeliveryState.PENDING, next_attempt_at__lte=now).order_by(
        "next_attempt_at", "pk"
    )
    claim = {
        "state": DeliveryState.SENDING,
        "claim_token": token,
        "lease_until": max(now, timezone.now()) + lease_for(limit),
        "last_attempt_at": now,
    }
    with transaction.atomic():
        if connection.vendor == "postgresql":
            ids = list(due.select_for_update(skip_locked=True).values_list("pk", flat=True)[:limit])
            WebhookDelivery.objects.filter(pk__in=ids).update(**claim)
        else:
            ids = list(due.values_list("pk", flat=True)[:limit])
            WebhookDelivery.objects.filter(pk__in=ids, state=DeliveryState.PENDING).update(**claim)
    return token


def expire_leases(*, now: datetime) -> int:
    """Deliveries whose deliverer died mid-attempt: due again at once (or failed if that was
    the last attempt; the attempt counts, it may have reached the receiver)."""
    expired = list(
        WebhookDelivery.objects.filter(state=DeliveryState.SENDING, lease_until__lt=now).values_list(
            "pk", "attempts", "claim_token"
        )
    )
    for pk, attempts, token in expired:
        _settle_failure(
            pk, token, attempts + 1, Outcome(None, "The deliverer stopped during this attempt."), now
        )
    return len(expired)


# --- Sending and recording ----------------------------------------------------------------------


def _attempt_for(delivery: WebhookDelivery, now: datetime) -> Attempt:
    endpoint = delivery.endpoint
    secrets_ = [endpoint.secret]
    if (
        endpoint.previous_secret
        and endpoint.previous_secret_expires_at
        and endpoint.previous_secret_expires_at > now
    ):
        secrets_.append(endpoint.previous_secret)
    body = delivery.event.body.encode("utf-8")
    headers = signed_headers(
        secrets_=secrets_, event_id=delivery.event.event_id, timestamp=int(time.time()), body=body
    )
    return Attempt(delivery_id=delivery.pk, url=endpoint.url, headers=headers, body=body)


def post(attempt: Attempt) -> Outcome:
    try:
        response = requests.post(
            attempt.url,
            data=attempt.body,
            headers=attempt.headers,
            timeout=(CONNECT_TIMEOUT_SECONDS, settings.WEBHOOK_TIMEOUT_SECONDS),
            allow_redirects=False,  # a redirect is a failure: the registered URL is what we trust
            stream=True,
        )
        response.close()  # the body is not read: receivers answer with a status code
    except requests.Timeout:
        return Outcome(None, "Timed out waiting for the endpoint.")
    except requests.ConnectionError:
        return Outcome(None, "Could not connect to the endpoint.")
    except requests.RequestException as error:
        return Outcome(None, f"Request failed: {type(error).__name__}")
    if 200 <= response.status_code < 300:
        return Outcome(response.status_code)
    return Outcome(response.status_code, f"The endpoint answered HTTP {response.status_code}.")


def _record(attempt: Attempt, token: str, attempts: int, outcome: Outcome, report: DeliveryReport) -> None:
    now = timezone.now()
    if outcome.ok:
        WebhookDelivery.objects.filter(
            pk=attempt.delivery_id, claim_token=token, state=DeliveryState.SENDING
        ).update(
            state=DeliveryState.DELIVERED,
            attempts=attempts,
            last_status_code=outcome.status_code,
            last_error="",
            delivered_at=now,
            next_attempt_at=None,
            lease_until=None,
        )
        report.delivered += 1
        return
    if _settle_failure(attempt.delivery_id, token, attempts, outcome, now) == DeliveryState.PENDING:
        report.retried += 1
    else:
        report.failed += 1


def _settle_failure(pk: int, token: str, attempts: int, outcome: Outcome, now: datetime) -> str:
    delay = retry_delay(attempts)
    state = DeliveryState.PENDING if delay is not None else DeliveryState.FAILED
    WebhookDelivery.objects.filter(pk=pk, claim_token=token, state=DeliveryState.SENDING).update(
        state=state,
        attempts=attempts,
        last_status_code=outcome.status_code,
        last_error=outcome.error[:300],
        next_attempt_at=now + delay if delay is not None else None,
        claim_token="",
        lease_until=None,
    )
    return state


def _claimed(token: str) -> list[WebhookDelivery]:
    return list(
        WebhookDelivery.objects.filter(claim_token=token, state=DeliveryState.SENDING)
        .select_related("event", "endpoint")
        .order_by("next_attempt_at", "pk")
    )


def deliver_due(
    *, now: datetime | None = None, limit: int = 100, budget_seconds: float | None = None
) -> DeliveryReport:
    """One sweep: every delivery due by ``now`` is attempted once (in batches of ``limit``)."""
    started = time.monotonic()
    now = now or timezone.now()
    report = DeliveryReport(requeued_leases=expire_leases(now=now))
    with ThreadPoolExecutor(max_workers=settings.WEBHOOK_CONCURRENCY) as pool:
        while True:
            token = claim_due(now=now, limit=limit)
            rows = _claimed(token)
            if not rows:
                break
            report.claimed += len(rows)
            _deliver_batch(rows, token, now, pool, report)
            if len(rows) < limit or (
                budget_seconds is not None and time.monotonic() - started >= budget_seconds
            ):
                break
    return report


def _deliver_batch(rows, token, now, pool, report) -> None:
    attempts: list[tuple[Attempt, int]] = []
    for delivery in rows:
        if not delivery.endpoint.is_active:
            WebhookDelivery.objects.filter(pk=delivery.pk, claim_token=token).update(
                state=DeliveryState.CANCELLED,
                last_error="The endpoint was disabled before this was sent.",
                next_attempt_at=None,
                lease_until=None,
            )
            report.cancelled += 1
            continue
        attempts.append((_attempt_for(delivery, now), delivery.attempts + 1))
    outcomes = pool.map(lambda pair: post(pair[0]), attempts)
    for (attempt, count), outcome in zip(attempts, outcomes, strict=True):
        _record(attempt, token, count, outcome, report)

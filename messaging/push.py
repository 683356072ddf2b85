"""Web-push subscriptions and sending to all of a client's browsers (SPEC F9 step 5, F12).

Services (the one write path):

- ``push_subscription_save``: store (or refresh) the subscription a client's browser made on a
  client page; validates everything first, stores nothing on bad input;
- ``push_subscription_revoke``: the push service said the subscription is gone (404/410);
- ``push_subscriptions_for``: a client's active subscriptions.

Sending a T-0 push for one outbox row follows the dispatcher's rule "no network inside a
transaction, no database in the sending threads":

1. ``push_targets_for(client=…, title=…, body=…, url=…, ttl_seconds=…)`` (dispatcher thread,
   reads the database) returns one ``PushTarget`` per active subscription;
2. ``push_fan_out(backend=…, targets=…)`` (a pool thread, network only) sends to each and
   returns a ``PushFanOut``: one outcome per subscription and one overall outcome for the row
   (a ``SendResult`` or a ``ChannelError``);
3. ``push_fan_out_record(fan_out=…, now=…)`` (dispatcher thread) revokes the subscriptions the
   push service called gone and stamps ``last_success_at`` on the others.
"""

from __future__ import annotations

import base64
import binascii
import logging
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.utils import timezone

from messaging.backends.base import ChannelError, SendResult
from messaging.backends.webpush import PushMessageData
from messaging.compose import recipient_for, render_context
from messaging.content import render
from messaging.languages import phrase
from messaging.models import PushSubscription
from messaging.planning import send_deadline

logger = logging.getLogger(__name__)

P256DH_BYTES = 65  # an uncompressed P-256 point: 0x04 || X || Y
AUTH_BYTES = 16
ENDPOINT_MAX_LENGTH = 1000
USER_AGENT_MAX_LENGTH = 300
# A token page can be posted to in a loop; a client has a handful of browsers at most. Past
# this many, the least recently refreshed subscriptions are deleted (not revoked: the table
# must not grow with every post).
MAX_ACTIVE_PER_CLIENT = 10
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
# The browsers' push services (Chrome/Edge/Opera via FCM, Firefox, Safari, legacy Edge). The
# server POSTs to whatever endpoint a client page submits, so only these hosts (and their
# subdomains) are accepted: a token holder cannot make Attend call arbitrary URLs.
# Override with settings.WEBPUSH_ENDPOINT_HOSTS.
DEFAULT_ENDPOINT_HOSTS = (
    "fcm.googleapis.com",
    "android.googleapis.com",
    "push.services.mozilla.com",
    "push.apple.com",
    "notify.windows.com",
)
GONE = "gone"


# --- Validation ----------------------------------------------------------------------------------


def _insecure_endpoints_allowed() -> bool:
    return bool(settings.DEBUG or getattr(settings, "WEBPUSH_ALLOW_INSECURE_ENDPOINTS", False))


def _endpoint_error(endpoint: str) -> str:
    if not isinstance(endpoint, str) or not endpoint:
        return "The subscription has no endpoint."
    if len(endpoint) > ENDPOINT_MAX_LENGTH:
        return f"The endpoint is longer than {ENDPOINT_MAX_LENGTH} characters."
    try:
        URLValidator(schemes=["https", "http"])(endpoint)
        parts = urlsplit(endpoint)
    except (ValidationError, ValueError):
        return "The endpoint is not a valid URL."
    host = (parts.hostname or "").lower()
    if host in LOCAL_HOSTS and _insecure_endpoints_allowed():
        return ""  # a push service on this machine (development, tests)
    if parts.scheme != "https":
        return "The endpoint must be an https:// URL."
    allowed = getattr(settings, "WEBPUSH_ENDPOINT_HOSTS", DEFAULT_ENDPOINT_HOSTS)
    if not any(host == known or host.endswith("." + known) for known in allowed):
        return "The endpoint is not a known browser push service."
    return ""


def decode_base64url(value: str) -> bytes | None:
    """Bytes of an (optionally padded) base64url string; None if it is not one."""
    if not isinstance(value, str) or not value or len(value) > 200:
        return None
    stripped = value.rstrip("=")
    if not stripped or any(not (c.isascii() and (c.isalnum() or c in "-_")) for c in stripped):
        return None
    try:
        return base64.urlsafe_b64decode(stripped + "=" * (-len(stripped) % 4))
    except (binascii.Error, ValueError):
        return None


def _p256dh_error(value: str) -> str:
    raw = decode_base64url(value)
    if raw is None or len(raw) != P256DH_BYTES:
        return f"The p256dh key must be {P256DH_BYTES} bytes, base64url-encoded."
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
    except ValueError:
        return "The p256dh key is not a point on the P-256 curve."
    return ""


def _auth_error(value: str) -> str:
    raw = decode_base64url(value)
    if raw is None or len(raw) != AUTH_BYTES:
        return f"The auth secret must be {AUTH_BYTES} bytes, base64url-encoded."
    return ""


def _canonical(value: str) -> str:
    """Keys are stored unpadded, as browsers send them."""
    return value.rstrip("=")


# --- Services ------------------------------------------------------------------------------------


def push_subscription_save(
    *, participant, endpoint: str, p256dh: str, auth: str, user_agent: str = ""
) -> PushSubscription:
    """Store the subscription a browser made on the client page of ``participant``.

    The subscription is the client's (later sessions reach the same browser). Saving the same
    endpoint again refreshes its keys and makes a revoked one active again. Raises
    ``ValidationError`` with field errors (endpoint, p256dh, auth) and stores nothing if any is
    wrong."""
    errors = {}
    for field, message in (
        ("endpoint", _endpoint_error(endpoint)),
        ("p256dh", _p256dh_error(p256dh)),
        ("auth", _auth_error(auth)),
    ):
        if message:
            errors[field] = [message]
    if errors:
        raise ValidationError(errors)

    client = participant.client
    with transaction.atomic():
        subscription, created = PushSubscription.objects.update_or_create(
            client=client,
            endpoint=endpoint,
            defaults={
                "practice_id": client.practice_id,
                "p256dh": _canonical(p256dh),
                "auth": _canonical(auth),
                "user_agent": (user_agent or "")[:USER_AGENT_MAX_LENGTH],
                "revoked_at": None,
            },
        )
        surplus = list(
            PushSubscription.objects.filter(client=client)
            .exclude(pk=subscription.pk)
            .order_by("-updated_at", "-pk")
            .values_list("pk", flat=True)[MAX_ACTIVE_PER_CLIENT - 1 :]
        )
        if surplus:
            PushSubscription.objects.filter(pk__in=surplus).delete()
    logger.info(
        "push subscription %s %s for client %s",
        subscription.pk,
        "created" if created else "refreshed",
        client.pk,
    )
    return subscription


def push_subscription_revoke(*, subscription: PushSubscription, now: datetime | None = None) -> bool:
    """Mark a subscription dead (the push service answered 404/410). False if it already was."""
    now = now or timezone.now()
    revoked = PushSubscription.objects.filter(pk=subscription.pk, revoked_at__isnull=True).update(
        revoked_at=now, updated_at=now
    )
    if revoked:
        subscription.revoked_at = now
        logger.info("push subscription %s revoked: the push service says it is gone", subscription.pk)
    return bool(revoked)


def push_subscriptions_for(client) -> list[PushSubscription]:
    """The client's active subscriptions, oldest first."""
    return list(PushSubscription.objects.filter(client=client).active().order_by("created_at", "pk"))


# --- Sending to every browser of a client --------------------------------------------------------


@dataclass(frozen=True)
class PushTarget:
    subscription_id: int
    message: PushMessageData


@dataclass(frozen=True)
class PushFanOut:
    """What happened to one notification sent to each of a client's subscriptions."""

    accepted: tuple[tuple[int, SendResult], ...]
    failed: tuple[tuple[int, ChannelError], ...]

    @property
    def gone_ids(self) -> list[int]:
        return [pk for pk, error in self.failed if error.code == GONE]

    def outcome(self) -> SendResult | ChannelError:
        """The outbox row's outcome: accepted if any browser's push service took it.

        Otherwise: ambiguous if any request may have got through (never resent, as for SMS);
        else transient if any failure was (a retry cannot duplicate anything, none was taken);
        else permanent, with code "gone" when every subscription was gone."""
        if self.accepted:
            return self.accepted[0][1]
        errors = [error for _, error in self.failed]
        if not errors:
            return ChannelError("The client has no active push subscription.", permanent=True, code=GONE)
        for error in errors:
            if error.ambiguous:
                return error
        for error in errors:
            if not error.permanent:
                return error
        if all(error.code == GONE for error in errors):
            return ChannelError(
                "Every push subscription of the client is gone (the browser unsubscribed).",
                permanent=True,
                code=GONE,
            )
        return next(error for error in errors if error.code != GONE)


def push_targets_for(*, client, title: str, body: str, url: str, ttl_seconds: int) -> list[PushTarget]:
    return [
        PushTarget(
            subscription_id=subscription.pk,
            message=PushMessageData(
                endpoint=subscription.endpoint,
                p256dh=subscription.p256dh,
                auth=subscription.auth,
                title=title,
                body=body,
                url=url,
                ttl_seconds=ttl_seconds,
            ),
        )
        for subscription in push_subscriptions_for(client)
    ]


def push_targets_for_message(
    *, message, now: datetime, language: str = "en", subject: str | None = None, body: str | None = None
) -> list[PushTarget]:
    """The notification of one outbox row (a client's push step), one target per active
    subscription of the client; empty if the client has none.

    Title: the step's subject if it has one, else "Your session with <clinician>". Body: the
    step's body, rendered from the same whitelisted context as texts and e-mails (F15). Link:
    the client's one-tap join link. TTL: until the row's send deadline (for the T-0 step, half
    an hour after the start), so a phone that is offline for a minute still gets it, and one
    that comes back after the session does not. ``subject``/``body``: the step's text in the
    client's ``language`` (messaging.languages.step_text), the step's own by default."""
    if message.participant is None or message.step is None:
        return []
    step = message.step
    subject = step.subject if subject is None else subject
    body = step.body if body is None else body
    context = render_context(message, recipient_for(message), language=language)
    title = render(subject or phrase("push_title", language), context)
    deadline = send_deadline(due_at=message.due_at, appointment=message.appointment, step=step)
    return push_targets_for(
        client=message.participant.client,
        title=title,
        body=render(body, context),
        url=context.get("join_link", ""),
        ttl_seconds=max(0, int((deadline - now).total_seconds())),
    )


def push_fan_out(*, backend, targets: list[PushTarget]) -> PushFanOut:
    """Send to each target, one after the other. Network only: safe in a pool thread."""
    accepted, failed = [], []
    for target in targets:
        try:
            accepted.append((target.subscription_id, backend.send(target.message)))
        except ChannelError as error:
            failed.append((target.subscription_id, error))
    return PushFanOut(accepted=tuple(accepted), failed=tuple(failed))


def push_fan_out_record(*, fan_out: PushFanOut, now: datetime) -> None:
    """Revoke the subscriptions the push service called gone; stamp the ones that worked."""
    if fan_out.gone_ids:
        PushSubscription.objects.filter(pk__in=fan_out.gone_ids, revoked_at__isnull=True).update(
            revoked_at=now, updated_at=now
        )
        logger.info("push subscriptions %s revoked: the push service says they are gone", fan_out.gone_ids)
    worked = [pk for pk, _ in fan_out.accepted]
    if worked:
        PushSubscription.objects.filter(pk__in=worked).update(last_success_at=now)

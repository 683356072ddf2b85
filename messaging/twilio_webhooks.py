"""Twilio webhooks: the message status callback.

Twilio POSTs ``MessageSid``, ``MessageStatus`` and (when it failed) ``ErrorCode`` as a form to
the ``StatusCallback`` URL each outbound SMS names (messaging.compose.sms_for). The request is
signed with the account's Auth Token; nothing happens until that signature checks out. The
callback may arrive twice or out of order: ``message_record_status`` de-duplicates on
(MessageSid, MessageStatus) and never moves a message backwards, so this view stays thin.

Inbound SMS (STOP/START/HELP) is a separate view, not here.
"""

from __future__ import annotations

import logging
import re

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.request_validator import RequestValidator

from messaging.services import message_record_status

logger = logging.getLogger(__name__)

# Statuses of an outbound message's life we act on (Twilio's list for SMS sent from a number).
KNOWN_STATUSES = frozenset({"queued", "sending", "sent", "delivered", "undelivered", "failed"})
# Message SIDs are two letters and 32 hex digits: SM… for SMS, MM… for MMS.
MESSAGE_SID = re.compile(r"^[SM]M[0-9a-f]{32}$")
ERROR_CODE = re.compile(r"^[0-9]{1,20}$")


def public_url(request: HttpRequest) -> str:
    """The exact URL Twilio called, which is what it signed.

    Built from settings.SITE_URL, not ``request.build_absolute_uri()``: behind the TLS-terminating
    proxy Django sees http://, an internal host or port, so the rebuilt URL would differ from the
    https://public-host/... Twilio signed and every genuine callback would be rejected (or, with
    a trusted X-Forwarded-Host, the host would be attacker-chosen). ``get_full_path()`` keeps the
    script prefix and the query string, both part of what Twilio signs.
    """
    return settings.SITE_URL.rstrip("/") + request.get_full_path()


def _signature_is_valid(request: HttpRequest) -> bool:
    token = getattr(settings, "TWILIO_AUTH_TOKEN", "")
    if not token:
        raise ImproperlyConfigured("TWILIO_AUTH_TOKEN is needed to verify Twilio webhooks.")
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature:
        return False
    # Auth Token signatures (HMAC-SHA1) over the URL and the sorted POST parameters. A
    # X-Twilio-Webhooks-Signature-Settings header (SharedKey signing) is not honoured: the
    # Auth Token is the only secret we hold.
    return RequestValidator(token).validate(public_url(request), request.POST, signature)


@csrf_exempt
@require_POST
def twilio_status(request: HttpRequest) -> HttpResponse:
    if not _signature_is_valid(request):
        logger.warning("Twilio status callback with a missing or wrong signature refused")
        return HttpResponseForbidden("Invalid signature.")

    sid = request.POST.get("MessageSid", "")
    status = request.POST.get("MessageStatus", "")
    error_code = request.POST.get("ErrorCode", "")
    if (
        not MESSAGE_SID.match(sid)
        or status not in KNOWN_STATUSES
        or (error_code and not ERROR_CODE.match(error_code))
    ):
        # Only our own fields are logged: the callback also carries To and From.
        logger.warning("Malformed Twilio status callback refused (status %r)", status[:30])
        return HttpResponseBadRequest("Expected MessageSid and a known MessageStatus.")

    message_record_status(provider_message_id=sid, status=status, error_code=error_code, now=timezone.now())
    logger.info("Twilio status %s for %s%s", status, sid, f" (error {error_code})" if error_code else "")
    return HttpResponse(status=204)

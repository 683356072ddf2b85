"""Twilio's inbound SMS webhook: STOP, START and HELP (SPEC F13).

Twilio POSTs each text a client sends to one of our numbers (``MessageSid``, ``From``, ``To``,
``Body``) and sends whatever TwiML we answer as the reply. The request is signed like the status
callback and checked with the same helpers (messaging.twilio_webhooks) before anything is read.

Keywords are whole messages, in any case, with spaces and punctuation ignored ("Stop.", "opt out",
"STOP ALL"): opt-out and opt-in are applied through practice.consent (every client with the
sender's number in the practices texting from the number written to, see there) and recorded as
ConsentEvents keyed by MessageSid, so a re-delivered webhook changes nothing twice. HELP answers
with the practice's name and phone only. Anything else gets an empty reply for now (C/R
confirm/reschedule replies come later).

Twilio's own opt-out handling (on by default for long codes) also answers STOP/START/HELP and
blocks texts to a number that sent STOP; our reply to STOP is then not delivered, which is fine:
the state change here is what matters to us.
"""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.twiml.messaging_response import MessagingResponse

from messaging.twilio_webhooks import MESSAGE_SID, _signature_is_valid
from practice.consent import client_sms_keyword_apply, normalise_phone, practices_sending_from
from practice.models import ConsentAction, Practice

logger = logging.getLogger(__name__)

HELP = "help"
OPT_OUT_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
OPT_IN_WORDS = frozenset({"START", "YES", "UNSTOP"})
HELP_WORDS = frozenset({"HELP", "INFO"})
MAX_KEYWORD_BODY = 40  # a keyword message is short; longer texts are conversation


def keyword_of(body: str) -> tuple[str, str] | None:
    """(opt_out | opt_in | help, the keyword) if the whole message is a keyword, else None."""
    if len(body) > MAX_KEYWORD_BODY:
        return None
    word = "".join(ch for ch in body.upper() if ch.isalnum())
    if word in OPT_OUT_WORDS:
        return ConsentAction.OPT_OUT, word
    if word in OPT_IN_WORDS:
        return ConsentAction.OPT_IN, word
    if word in HELP_WORDS:
        return HELP, word
    return None


def _practice_for(sender: str) -> Practice | None:
    """The practice that texts from ``sender``, if exactly one does (a shared default sender
    names no practice: the reply must not guess, nor reveal which practice a number belongs to)."""
    practices = practices_sending_from(sender)
    return practices[0] if len(practices) == 1 else None


def help_text(practice: Practice | None) -> str:
    if practice is None:
        return "Appointment reminders. For help, call your practice. Reply STOP to opt out."
    phone = f" at {practice.phone.as_national}" if practice.phone else ""
    return (
        f"{practice.name}: appointment reminders. For help, call us{phone}. "
        "Msg & data rates may apply. Reply STOP to opt out."
    )


def opt_out_text(practice: Practice | None) -> str:
    who = practice.name if practice else "this number"
    return f"You are unsubscribed and will get no more texts from {who}. Reply START to resubscribe."


def opt_in_text(practice: Practice | None) -> str:
    who = practice.name if practice else "this number"
    return f"You will get appointment texts from {who} again. Reply HELP for help, STOP to opt out."


def twiml(text: str = "") -> HttpResponse:
    response = MessagingResponse()
    if text:
        response.message(text)
    return HttpResponse(str(response), content_type="application/xml")


@csrf_exempt
@require_POST
def twilio_inbound(request: HttpRequest) -> HttpResponse:
    if not _signature_is_valid(request):
        logger.warning("Twilio inbound SMS with a missing or wrong signature refused")
        return HttpResponseForbidden("Invalid signature.")

    sid = request.POST.get("MessageSid", "")
    phone = normalise_phone(request.POST.get("From", ""))
    sender = normalise_phone(request.POST.get("To", ""))
    if not MESSAGE_SID.match(sid) or not phone or not sender:
        # Numbers and text are never logged.
        logger.warning("Malformed Twilio inbound SMS refused")
        return HttpResponseBadRequest("Expected MessageSid, From and To.")

    matched = keyword_of(request.POST.get("Body", ""))
    if matched is None:
        return twiml()
    action, word = matched
    practice = _practice_for(sender)
    if action == HELP:
        logger.info("Inbound SMS %s: HELP answered", sid)
        return twiml(help_text(practice))

    outcome = client_sms_keyword_apply(
        phone=phone, sender=sender, action=action, keyword=word, message_sid=sid, now=timezone.now()
    )
    logger.info(
        "Inbound SMS %s: %s for %d client(s)%s",
        sid,
        action,
        outcome.clients,
        " (re-delivery, nothing changed)" if outcome.duplicate else "",
    )
    if action == ConsentAction.OPT_OUT:
        return twiml(opt_out_text(practice))
    return twiml(opt_in_text(practice) if outcome.clients else "")

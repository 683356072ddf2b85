"""Twilio's inbound SMS webhook: STOP, START and HELP (SPEC F13).

Twilio POSTs each text a client sends to one of our numbers (``MessageSid``, ``From``, ``To``,
``Body``) and sends whatever TwiML we answer as the reply. The request is signed like the status
callback and checked with the same helpers (messaging.twilio_webhooks) before anything is read.

Keywords are whole messages, in any case, with spaces and punctuation ignored ("Stop.", "opt out",
"STOP ALL"): opt-out and opt-in are applied through practice.consent (every client with the
sender's number in the practices texting from the number written to, see there) and recorded as
ConsentEvents keyed by MessageSid, so a re-delivered webhook changes nothing twice. HELP answers
with the practice's name and phone only. Every answer is in the practice's words and the client's
language (messaging.auto_texts).

Any other text is a reply about a session (SPEC F4): "C"/"CONFIRM" confirms it, "R"/"RESCHEDULE"
asks the front desk for another time, and anything else is kept on the session's timeline as
"client replied" (the words in our database only, never in logs). YES stays an opt-in keyword;
it is also kept on the timeline, since it is the natural answer to the clinician's "Are you OK to
continue?". Which session a reply is about: see ``reply_target``.

Twilio's own opt-out handling (on by default for long codes) also answers STOP/START/HELP and
blocks texts to a number that sent STOP; our reply to STOP is then not delivered, which is fine:
the state change here is what matters to us.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.twiml.messaging_response import MessagingResponse

from messaging import auto_texts, inbound_hooks
from messaging.languages import client_language
from messaging.models import Audience, Channel, OutboxMessage
from messaging.twilio_webhooks import MESSAGE_SID, _signature_is_valid
from practice.consent import (
    client_sms_keyword_apply,
    clients_for_number,
    normalise_phone,
    practices_sending_from,
)
from practice.models import ConsentAction, Practice
from practice.parsing import clean_text
from scheduling import client_actions
from scheduling.lifecycle import LIVE_STATUSES
from scheduling.models import ActivityChannel, AppointmentParticipant, Attendance

logger = logging.getLogger(__name__)

HELP = "help"
OPT_OUT_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
OPT_IN_WORDS = frozenset({"START", "YES", "UNSTOP"})
HELP_WORDS = frozenset({"HELP", "INFO"})
# Spanish speakers answer "ALTO" or "BAJA" rather than STOP, and "AYUDA" for help. Twilio filters
# only the English words itself, so these are honoured here (answered in the practice's words).
# Not "CANCELAR": a client who texts it means the session, and it must not cost them their texts.
OPT_OUT_WORDS_ES = frozenset({"ALTO", "PARAR", "BAJA"})
HELP_WORDS_ES = frozenset({"AYUDA"})
# Spanish "yes": the answer to an offer texted in Spanish (messaging.inbound_hooks); never an
# opt-in keyword (carriers do not treat it as one), so without an offer it is an ordinary reply.
YES_ES_WORDS = frozenset({"SI", "SÍ"})
MAX_KEYWORD_BODY = 40  # a keyword message is short; longer texts are conversation


def keyword_of(body: str) -> tuple[str, str] | None:
    """(opt_out | opt_in | help, the keyword) if the whole message is a keyword, else None."""
    if len(body) > MAX_KEYWORD_BODY:
        return None
    word = "".join(ch for ch in body.upper() if ch.isalnum())
    if word in OPT_OUT_WORDS or word in OPT_OUT_WORDS_ES:
        return ConsentAction.OPT_OUT, word
    if word in OPT_IN_WORDS:
        return ConsentAction.OPT_IN, word
    if word in HELP_WORDS or word in HELP_WORDS_ES:
        return HELP, word
    return None


def _practice_for(sender: str) -> Practice | None:
    """The practice that texts from ``sender``, if exactly one does (a shared default sender
    names no practice: the reply must not guess, nor reveal which practice a number belongs to)."""
    practices = practices_sending_from(sender)
    return practices[0] if len(practices) == 1 else None


def _keyword_answer(key: str, *, practice: Practice | None, phone: str, sender: str) -> str:
    """HELP, STOP or START answered in the practice's words (messaging.auto_texts), in the language
    of the clients with this number."""
    if practice is None:
        return auto_texts.reply(key)
    clients = clients_for_number(phone=phone, sender=sender, fall_back_to_all=False)
    language = auto_texts.language_for_clients(clients, practice)
    return auto_texts.reply(key, practice=practice, language=language)


CONFIRM, RESCHEDULE = "confirm", "reschedule"
REPLY_WORDS = {
    "C": CONFIRM,
    "CONFIRM": CONFIRM,
    "CONFIRMED": CONFIRM,
    "R": RESCHEDULE,
    "RESCHEDULE": RESCHEDULE,
    # The Spanish texts ask for C or R too; the whole words are understood as well.
    "CONFIRMAR": CONFIRM,
    "CONFIRMO": CONFIRM,
    "REPROGRAMAR": RESCHEDULE,
}
# A no-show's reply ("can I come next week?") still reaches that session for this long.
NO_SHOW_REPLIES_FOR = timedelta(days=7)


def reply_action_of(body: str) -> str | None:
    """CONFIRM or RESCHEDULE if the whole message is one of those words (matched like the
    consent keywords: any case, spaces and punctuation ignored), else None."""
    if len(body) > MAX_KEYWORD_BODY:
        return None
    return REPLY_WORDS.get("".join(ch for ch in body.upper() if ch.isalnum()))


@dataclass(frozen=True)
class ReplyTarget:
    participant: AppointmentParticipant | None
    ambiguous: bool = False


def reply_target(*, phone: str, sender: str, now: datetime) -> ReplyTarget:
    """The session a text from ``phone`` to our number ``sender`` is about.

    Candidates are the sessions, at practices texting from ``sender``, of clients with that
    number that are upcoming or under way (or were a no-show in the last week). One session: that
    one. Several: the one we last texted this number about (a reply answers the last text), else
    the soonest if they are all one client's; several clients sharing a number (a family phone)
    with no text to go by is ambiguous, and nothing is done rather than guessing."""
    clients = clients_for_number(phone=phone, sender=sender, fall_back_to_all=False)
    if not clients:
        return ReplyTarget(None)
    live = Q(appointment__status__in=LIVE_STATUSES, appointment__ends_at__gt=now) & ~Q(
        attendance=Attendance.CANCELLED
    )
    recent_no_show = Q(attendance=Attendance.NO_SHOW, appointment__starts_at__gt=now - NO_SHOW_REPLIES_FOR)
    candidates = list(
        AppointmentParticipant.objects.filter(live | recent_no_show, client__in=clients)
        .select_related("appointment__practice", "appointment__clinician", "client")
        .order_by("appointment__starts_at", "client_id")
    )
    if not candidates:
        return ReplyTarget(None)
    if len({p.appointment_id for p in candidates}) == 1:
        return ReplyTarget(candidates[0])
    last_text = (
        OutboxMessage.objects.filter(participant__in=candidates, channel=Channel.SMS, sent_at__isnull=False)
        .exclude(recipient_key__startswith=Audience.CLINICIAN)
        .order_by("-sent_at", "-pk")
        .values_list("participant_id", flat=True)
        .first()
    )
    if last_text is not None:
        return ReplyTarget(next(p for p in candidates if p.pk == last_text))
    if len({p.client_id for p in candidates}) == 1:
        upcoming = [p for p in candidates if p.attendance != Attendance.NO_SHOW]
        return ReplyTarget((upcoming or candidates)[0])
    return ReplyTarget(None, ambiguous=True)


def _handle_session_reply(
    *, sid: str, phone: str, sender: str, body: str, action: str | None
) -> HttpResponse:
    now = timezone.now()
    target = reply_target(phone=phone, sender=sender, now=now)
    participant = target.participant
    if participant is None:
        logger.info(
            "Inbound SMS %s: reply matched %s session", sid, "more than one" if target.ambiguous else "no"
        )
        if action is None:
            return twiml()
        key = "reply_ambiguous" if target.ambiguous else "reply_no_session"
        return twiml(_keyword_answer(key, practice=_practice_for(sender), phone=phone, sender=sender))
    practice = participant.appointment.practice
    # The answer in the practice's words and the client's language (messaging.auto_texts).
    language = client_language(participant.client)
    session = auto_texts.session_context(participant, language)
    try:
        if action == CONFIRM:
            client_actions.appointment_client_confirm(
                participant=participant, channel=ActivityChannel.SMS, now=now, external_id=sid
            )
            answer = auto_texts.reply(
                "reply_confirmed", practice=practice, language=language, context=session
            )
        elif action == RESCHEDULE:
            client_actions.appointment_client_request_reschedule(
                participant=participant, channel=ActivityChannel.SMS, now=now, external_id=sid
            )
            answer = auto_texts.reply(
                "reply_reschedule", practice=practice, language=language, context=session
            )
        else:
            client_actions.appointment_client_reply(
                participant=participant, body=body, now=now, external_id=sid
            )
            answer = ""
    except ValidationError:
        answer = auto_texts.reply("reply_too_late", practice=practice, language=language)
    logger.info(
        "Inbound SMS %s: %s recorded for appointment %s", sid, action or "reply", participant.appointment_id
    )
    return twiml(answer)


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

    # A NUL byte (or a lone surrogate) cannot be stored on PostgreSQL: drop it, keep the text.
    body = clean_text(request.POST.get("Body", ""))
    matched = keyword_of(body)
    if matched is None:
        if (
            len(body) <= MAX_KEYWORD_BODY
            and "".join(ch for ch in body.upper() if ch.isalnum()) in YES_ES_WORDS
        ):
            clients = clients_for_number(phone=phone, sender=sender, fall_back_to_all=False)
            answer = inbound_hooks.answer_yes(clients=clients, now=timezone.now()) if clients else None
            if answer:
                logger.info("Inbound SMS %s: SI answered an offer", sid)
                return twiml(answer)
        return _handle_session_reply(
            sid=sid, phone=phone, sender=sender, body=body, action=reply_action_of(body)
        )
    action, word = matched
    if word == "YES":
        # An app above messaging may have texted an offer this YES accepts (messaging.inbound_hooks).
        clients = clients_for_number(phone=phone, sender=sender, fall_back_to_all=False)
        answer = inbound_hooks.answer_yes(clients=clients, now=timezone.now()) if clients else None
        if answer:
            logger.info("Inbound SMS %s: YES answered an offer", sid)
            return twiml(answer)
        # Also an answer to "Are you OK to continue?": staff see it on the session's timeline.
        _handle_session_reply(sid=sid, phone=phone, sender=sender, body=body, action=None)
    practice = _practice_for(sender)
    if action == HELP:
        logger.info("Inbound SMS %s: HELP answered", sid)
        return twiml(_keyword_answer("reply_help", practice=practice, phone=phone, sender=sender))

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
        return twiml(_keyword_answer("reply_stop", practice=practice, phone=phone, sender=sender))
    if not outcome.clients:
        return twiml()
    return twiml(_keyword_answer("reply_start", practice=practice, phone=phone, sender=sender))

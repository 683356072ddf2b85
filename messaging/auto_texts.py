"""The automatic texts, in the practice's words and the client's language (issue 15 item 9).

Attend answers some texts by itself: a reply of C or R to a reminder, HELP, STOP and START, a
reply it cannot match to a session; and it sends the no-show notice. Each is a template here with
a default in English and in Spanish; a practice may rewrite any of them in each language it
offers (staff "Automatic texts" page, stored in ``Sequence.auto_texts``). The content check of the
reminder steps applies (messaging.content): only the listed {{ fields }}, each text within two
SMS segments with realistic values, in each language.

Which language: the client's (messaging.languages, as for their reminders). A text from a number
no client of the practice has gets the practice's default language; a text to a shared sender
that names no practice gets the English default, naming no practice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction

from messaging.content import FIELD_NAME, PLACEHOLDER, render, sms_template_errors, template_errors
from messaging.defaults import NO_SHOW_NOTICE
from messaging.languages import DEFAULT_LANGUAGE, LANGUAGES, client_language, local_date, local_time
from messaging.models import Sequence

SESSION_FIELDS = (
    "client_name",
    "clinician_name",
    "session_date",
    "session_time",
    "practice_name",
    "practice_phone",
)
PRACTICE_FIELDS = ("practice_name", "practice_phone")
NO_SHOW_FIELDS = (*SESSION_FIELDS, "manage_link")


@dataclass(frozen=True)
class AutoText:
    key: str
    name: str  # what staff see
    when: str  # when it goes out, for the settings page
    channel: str  # "sms" or "email"
    fields: tuple[str, ...]  # the {{ fields }} it may use: only these have values when it goes out
    defaults: dict[str, dict[str, str]]  # language -> {"subject"?, "body"}


def _sms(en: str, es: str) -> dict[str, dict[str, str]]:
    return {"en": {"body": en}, "es": {"body": es}}


NO_SHOW_SUBJECT_ES = "Le extrañamos en su cita del {{ session_date }}"

AUTO_TEXTS: dict[str, AutoText] = {
    text.key: text
    for text in (
        AutoText(
            "reply_confirmed",
            "Answer to C (confirm)",
            "A client replies C or CONFIRM to a reminder.",
            "sms",
            SESSION_FIELDS,
            _sms(
                "Thanks, {{ client_name }}: your session with {{ clinician_name }} on {{ session_date }} "
                "at {{ session_time }} is confirmed.",
                "Gracias, {{ client_name }}: su cita con {{ clinician_name }} del {{ session_date }} "
                "({{ session_time }}) está confirmada.",
            ),
        ),
        AutoText(
            "reply_reschedule",
            "Answer to R (reschedule)",
            "A client replies R or RESCHEDULE: the front desk gets a request.",
            "sms",
            SESSION_FIELDS,
            _sms(
                "Thanks, {{ client_name }}. {{ practice_name }} will contact you to find a new time for your "
                "session with {{ clinician_name }} on {{ session_date }}.",
                "Gracias, {{ client_name }}. {{ practice_name }} le llamará para buscar otra hora para su "
                "cita del {{ session_date }}.",
            ),
        ),
        AutoText(
            "reply_too_late",
            "Answer when a session can't change by text",
            "A client replies C or R about a session that can no longer be changed that way.",
            "sms",
            PRACTICE_FIELDS,
            _sms(
                "This session can no longer be changed by text. Please call {{ practice_name }} at "
                "{{ practice_phone }}.",
                "Esta cita ya no se puede cambiar por mensaje de texto. Llame a {{ practice_name }} al "
                "{{ practice_phone }}.",
            ),
        ),
        AutoText(
            "reply_no_session",
            "Answer when no session matches",
            "A client replies C or R but no upcoming session matches their number.",
            "sms",
            PRACTICE_FIELDS,
            _sms(
                "We couldn't find an upcoming session for this number. Please call {{ practice_name }} at "
                "{{ practice_phone }}.",
                "No encontramos una cita próxima para este número. Llame a {{ practice_name }} al "
                "{{ practice_phone }}.",
            ),
        ),
        AutoText(
            "reply_ambiguous",
            "Answer when several sessions could match",
            "A shared number (a family phone) replies C or R and it is unclear which session it means.",
            "sms",
            PRACTICE_FIELDS,
            _sms(
                "We couldn't tell which session you mean. Please call {{ practice_name }} at "
                "{{ practice_phone }}.",
                "No pudimos saber a qué cita se refiere. Llame a {{ practice_name }} al "
                "{{ practice_phone }}.",
            ),
        ),
        AutoText(
            "reply_help",
            "Answer to HELP",
            "Someone texts HELP, INFO or AYUDA (carriers require this answer to name the practice and STOP).",
            "sms",
            PRACTICE_FIELDS,
            _sms(
                "{{ practice_name }}: appointment reminders. For help, call us at {{ practice_phone }}. "
                "Msg & data rates may apply. Reply STOP to opt out.",
                "{{ practice_name }}: recordatorios de citas. Ayuda: {{ practice_phone }}. Pueden aplicarse "
                "tarifas. Responda STOP para no recibir mensajes.",
            ),
        ),
        AutoText(
            "reply_stop",
            "Answer to STOP",
            "Someone texts STOP (or UNSUBSCRIBE, QUIT, ALTO, BAJA…): texts to them stop.",
            "sms",
            PRACTICE_FIELDS,
            _sms(
                "You are unsubscribed and will get no more texts from {{ practice_name }}. Reply START to "
                "resubscribe.",
                "Ya no recibirá más mensajes de texto de {{ practice_name }}. Responda START para volver a "
                "recibirlos.",
            ),
        ),
        AutoText(
            "reply_start",
            "Answer to START",
            "Someone texts START (or YES, UNSTOP) after opting out: texts to them resume.",
            "sms",
            PRACTICE_FIELDS,
            _sms(
                "You will get appointment texts from {{ practice_name }} again. Reply HELP for help, STOP to "
                "opt out.",
                "Volverá a recibir mensajes de citas de {{ practice_name }}. Responda HELP para pedir ayuda, "
                "STOP para no recibirlos.",
            ),
        ),
        AutoText(
            "no_show_sms",
            "No-show notice (text)",
            "After a missed session, to a client with no fee to pay.",
            "sms",
            NO_SHOW_FIELDS,
            _sms(
                NO_SHOW_NOTICE["sms_body"],
                "Hola, {{ client_name }}: le extrañamos en su cita de hoy ({{ session_time }}) con "
                "{{ clinician_name }}. Para pedir otra hora, toque {{ manage_link }} o llame al "
                "{{ practice_phone }}.",
            ),
        ),
        AutoText(
            "no_show_sms_fee",
            "No-show notice with the fee (text)",
            "After a missed session, to a client who signed a no-show policy with a fee.",
            "sms",
            (*NO_SHOW_FIELDS, "no_show_fee"),
            _sms(
                NO_SHOW_NOTICE["sms_body_fee"],
                "Hola, {{ client_name }}: le extrañamos en su cita de hoy ({{ session_time }}) con "
                "{{ clinician_name }}. Se aplica el cargo por inasistencia de {{ no_show_fee }}, "
                "conforme a lo acordado. Para pedir otra hora: {{ manage_link }}",
            ),
        ),
        AutoText(
            "no_show_email",
            "No-show notice (e-mail)",
            "After a missed session, by e-mail, to a client with no fee to pay.",
            "email",
            NO_SHOW_FIELDS,
            {
                "en": {"subject": NO_SHOW_NOTICE["subject"], "body": NO_SHOW_NOTICE["email_body"]},
                "es": {
                    "subject": NO_SHOW_SUBJECT_ES,
                    "body": "Hola, {{ client_name }}:\n\nLe extrañamos en su cita con "
                    "{{ clinician_name }} del {{ session_date }} ({{ session_time }}).\n\n"
                    "Para pedir otra hora: {{ manage_link }}\n"
                    "O llame a {{ practice_name }} al {{ practice_phone }}.\n",
                },
            },
        ),
        AutoText(
            "no_show_email_fee",
            "No-show notice with the fee (e-mail)",
            "After a missed session, by e-mail, to a client who signed a no-show policy with a fee.",
            "email",
            (*NO_SHOW_FIELDS, "no_show_fee"),
            {
                "en": {"subject": NO_SHOW_NOTICE["subject"], "body": NO_SHOW_NOTICE["email_body_fee"]},
                "es": {
                    "subject": NO_SHOW_SUBJECT_ES,
                    "body": "Hola, {{ client_name }}:\n\nLe extrañamos en su cita con "
                    "{{ clinician_name }} del {{ session_date }} ({{ session_time }}).\n\n"
                    "Según la política de inasistencia que usted firmó, se aplica un cargo de "
                    "{{ no_show_fee }}.\n\nPara pedir otra hora: {{ manage_link }}\n"
                    "O llame a {{ practice_name }} al {{ practice_phone }}.\n",
                },
            },
        ),
    )
}
# The no-show notice's texts by the notice body the dispatcher picked (messaging.defaults).
NO_SHOW_KEYS = {
    "sms_body": "no_show_sms",
    "sms_body_fee": "no_show_sms_fee",
    "email_body": "no_show_email",
    "email_body_fee": "no_show_email_fee",
}


# --- Reading ----------------------------------------------------------------------------------------


def text_of(stored: dict, key: str, language: str) -> dict[str, str]:
    """{"subject"?, "body"} of ``key`` in ``language``: the practice's words (``stored``:
    ``Sequence.auto_texts``), else the default in that language, else the English default."""
    auto_text = AUTO_TEXTS[key]
    own = ((stored or {}).get(key) or {}).get(language) or {}
    default = auto_text.defaults.get(language) or auto_text.defaults[DEFAULT_LANGUAGE]
    return {part: own.get(part) or default.get(part, "") for part in default}


def stored_texts(practice) -> dict:
    if practice is None:
        return {}
    return Sequence.objects.filter(practice=practice).values_list("auto_texts", flat=True).first() or {}


# Answers to a number texting a shared sender: they must not reveal which practice it is, so they
# name none and cannot be edited by one.
NO_PRACTICE_ANSWERS = {
    "reply_help": "Appointment reminders. For help, call your practice. Reply STOP to opt out.",
    "reply_stop": (
        "You are unsubscribed and will get no more texts from this number. Reply START to resubscribe."
    ),
    "reply_start": (
        "You will get appointment texts from this number again. Reply HELP for help, STOP to opt out."
    ),
    "reply_no_session": "We couldn't find an upcoming session for this number. Please call your practice.",
    "reply_ambiguous": "We couldn't tell which session you mean. Please call your practice.",
}


def reply(key: str, *, practice=None, language: str = DEFAULT_LANGUAGE, context: dict | None = None) -> str:
    """An automatic answer, rendered with this text's fields only (``context`` holds the
    session's; the practice's name and phone are added here)."""
    if practice is None:
        return NO_PRACTICE_ANSWERS[key]
    values = {
        "practice_name": practice.email_sender_name or practice.name,
        "practice_phone": practice.phone.as_national if practice.phone else "",
        **(context or {}),
    }
    allowed = {name: value for name, value in values.items() if name in AUTO_TEXTS[key].fields}
    return render(text_of(stored_texts(practice), key, language)["body"], allowed)


def session_context(participant, language: str) -> dict[str, str]:
    """The fields of an answer about a session, on the client's clock and in their language."""
    appointment = participant.appointment
    local: datetime = appointment.starts_at.astimezone(participant.client.zoneinfo(appointment.practice))
    return {
        "client_name": participant.client.greeting_name,
        "clinician_name": appointment.clinician.display_name,
        "session_date": local_date(local, language),
        "session_time": local_time(local, language),
    }


def language_for_clients(clients, practice) -> str:
    """The language of an answer to a number: its clients' one language, else the practice's default."""
    from messaging.languages import practice_languages

    chosen = {client_language(client) for client in clients}
    return chosen.pop() if len(chosen) == 1 else practice_languages(practice)[0]


# --- Checking and saving --------------------------------------------------------------------------


def field_errors(key: str, part: str, text: str, language: str) -> list[str]:
    """The content check of one text: the whitelist, only this text's fields, and SMS length."""
    auto_text = AUTO_TEXTS[key]
    errors = template_errors(text)
    if errors:
        return errors
    used = {FIELD_NAME.match(match.group(1)).group(1) for match in PLACEHOLDER.finditer(text)}
    unused = sorted(used - set(auto_text.fields))
    if unused:
        return [
            "This text can use only "
            + ", ".join(f"{{{{ {field} }}}}" for field in auto_text.fields)
            + ". Not: "
            + ", ".join(f"{{{{ {field} }}}}" for field in unused)
            + "."
        ]
    if auto_text.channel == "sms" and part == "body":
        return sms_template_errors(text, language)
    return []


def auto_texts_update(*, practice, texts: dict, languages: list[str]) -> Sequence:
    """Save the practice's own words ({key: {language: {part: text}}}); a text equal to the
    default, or empty, is not stored (it follows the default). Raises ValidationError keyed
    "key:language:part" with the content check's words. Audit-logged with the sequence."""
    from messaging.sequences import sequence_for

    errors: dict[str, list[str]] = {}
    cleaned: dict = {}
    for key, by_language in texts.items():
        if key not in AUTO_TEXTS:
            raise ValidationError({key: ["Unknown automatic text."]})
        for language, parts in by_language.items():
            if language not in LANGUAGES or language not in languages:
                raise ValidationError({key: [f"The practice does not offer {language!r}."]})
            default = text_of({}, key, language)
            for part, text in parts.items():
                text = (text or "").replace("\r\n", "\n").strip()
                if part not in default:
                    raise ValidationError({key: [f"Unknown part {part!r}."]})
                if not text or text == default[part].strip():
                    continue
                if problems := field_errors(key, part, text, language):
                    errors[f"{key}:{language}:{part}"] = problems
                    continue
                cleaned.setdefault(key, {}).setdefault(language, {})[part] = text
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        sequence = Sequence.objects.select_for_update().get(pk=sequence_for(practice).pk)
        if sequence.auto_texts != cleaned:
            sequence.auto_texts = cleaned
            sequence.save(update_fields=["auto_texts", "updated_at"])
    return sequence

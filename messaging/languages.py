"""Languages of client messages: which exist, which a practice offers, which a client gets, and
the few fixed phrases the engine adds around a step's text.

A step's own subject and body are in the practice's default language (the first of
``Sequence.languages``); ``Step.translations`` holds the others. A client who chose a language
the practice no longer offers, or a step without that translation, gets the default text: a
message in the wrong language is better than none. Clinicians always get the default language.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from functools import lru_cache

from django.utils import formats, translation

# Language code -> its name in that language (how a client recognises their own).
LANGUAGES: dict[str, str] = {"en": "English", "es": "Español"}
DEFAULT_LANGUAGE = "en"

# Phrases the engine itself writes, per language.
PHRASES: dict[str, dict[str, str]] = {
    "en": {
        "sms_as_email_subject": "A message about your session on {{ session_date }}",
        "no_reply": "\n\nThis mailbox is not read. Please contact the practice by phone.",
        "push_title": "Your session with {{ clinician_name }}",
        "series_dates": "\n\nThis confirms all {count} sessions of your series:\n",
        "moved_dates": "\n\nYour next {count} sessions of the series moved the same way:\n",
        "moved_count": " Your next {count} sessions of the series moved the same way.",
        "home_footer": "\n\nYour sessions and forms: {link}",
    },
    "es": {
        "sms_as_email_subject": "Un mensaje sobre su cita del {{ session_date }}",
        "no_reply": "\n\nEste buzón no se revisa. Por favor, comuníquese con el consultorio por teléfono.",
        "push_title": "Su cita con {{ clinician_name }}",
        "series_dates": "\n\nEsto confirma las {count} citas de su serie:\n",
        "moved_dates": "\n\nSus {count} citas siguientes de la serie cambiaron de la misma manera:\n",
        "moved_count": " Sus {count} citas siguientes de la serie cambiaron de la misma manera.",
        "home_footer": "\n\nSus citas y formularios: {link}",
    },
}

# How the session's date reads in a message (Django's translated month and day names).
DATE_FORMATS = {"en": r"l, F j", "es": r"l, j \d\e F"}
TIME_FORMAT = "g:i A T"


def offered_languages(sequence) -> list[str]:
    """The practice's languages, known ones only, the default first; never empty."""
    offered = [code for code in (sequence.languages or []) if code in LANGUAGES]
    return list(dict.fromkeys(offered)) or [DEFAULT_LANGUAGE]


def practice_languages(practice) -> list[str]:
    """The practice's offered languages without making its sequence (a GET must not write)."""
    from messaging.models import Sequence

    stored = Sequence.objects.filter(practice=practice).values_list("languages", flat=True).first()
    return list(dict.fromkeys(code for code in (stored or []) if code in LANGUAGES)) or [DEFAULT_LANGUAGE]


def client_language(client) -> str:
    """The language of a client's messages, and so of their pages (practice.client_language)."""
    from messaging.models import ClientPreferences

    chosen = ClientPreferences.objects.filter(client=client).values_list("language", flat=True).first()
    offered = practice_languages(client.practice)
    return chosen if chosen in offered else offered[0]


def default_language(sequence) -> str:
    return offered_languages(sequence)[0]


def language_choices(sequence) -> list[tuple[str, str]]:
    return [(code, LANGUAGES[code]) for code in offered_languages(sequence)]


def message_language(sequence, chosen: str) -> str:
    """The language a client's messages go out in: their choice if the practice offers it."""
    offered = offered_languages(sequence)
    return chosen if chosen in offered else offered[0]


def step_text(step, language: str, default: str) -> tuple[str, str]:
    """(subject, body) of ``step`` in ``language``, falling back to the step's own text."""
    if language != default:
        translated = (step.translations or {}).get(language) or {}
        if translated.get("body"):
            return translated.get("subject", "") or step.subject, translated["body"]
    return step.subject, step.body


def phrase(key: str, language: str) -> str:
    return PHRASES.get(language, PHRASES[DEFAULT_LANGUAGE])[key]


def local_date(moment: datetime, language: str) -> str:
    return _formatted(
        moment, moment.tzinfo, DATE_FORMATS.get(language, DATE_FORMATS[DEFAULT_LANGUAGE]), language
    )


def local_time(moment: datetime, language: str) -> str:
    return _formatted(moment, moment.tzinfo, TIME_FORMAT, language)


# Formatting under a translation override costs ~0.1 ms, and a burst of reminders is mostly
# sessions starting at the same instant: the dispatcher formats the same few moments thousands
# of times. The zone is part of the key because aware datetimes compare by instant only.
@lru_cache(maxsize=4096)
def _formatted(moment: datetime, zone: tzinfo | None, pattern: str, language: str) -> str:
    with translation.override(language):
        return formats.date_format(moment, pattern)

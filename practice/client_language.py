"""Which language a client's pages are in (English, or Spanish where the practice offers it).

Staff pages are always English. A client page switches once the view knows who is looking:

- a known client (the pages behind /a/, /h/, /j/, /t/, /o/, /p/ links) reads in the language
  their messages go out in: their own choice if the practice offers it, else the practice's
  default (messaging.languages decides; messaging registers it here in its AppConfig.ready,
  because practice sits below messaging and must not import it);
- a visitor of a practice's public pages (/book/<slug>/, /home/<slug>/) reads in the language they
  picked with the page's English/Español switch (Django's language cookie, set by a POST to
  Django's set_language view, so no URL carries it), else the first of their browser's
  Accept-Language the practice offers, else the practice's default.

``activate_*`` switch the request's active translation; ``ResetLanguageMiddleware`` starts every
request in English and puts it back afterwards, so a thread that served a Spanish page never
serves a staff page in Spanish.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.utils import translation
from django.utils.translation.trans_real import parse_accept_lang_header

DEFAULT_LANGUAGE = "en"
# Language code -> its name in that language (how a person recognises their own).
LANGUAGE_NAMES: dict[str, str] = dict(settings.LANGUAGES)

_client_language: Callable[[object], str] | None = None
_practice_languages: Callable[[object], list[str]] | None = None


def register(*, client_language: Callable[[object], str], practice_languages: Callable[[object], list[str]]):
    """Called once by messaging: how to read a client's language and a practice's languages."""
    global _client_language, _practice_languages
    _client_language = client_language
    _practice_languages = practice_languages


def practice_languages(practice) -> list[str]:
    """The languages the practice offers, its default first; never empty."""
    offered = _practice_languages(practice) if _practice_languages else []
    return [code for code in offered if code in LANGUAGE_NAMES] or [DEFAULT_LANGUAGE]


def client_language(client) -> str:
    language = _client_language(client) if _client_language else DEFAULT_LANGUAGE
    return language if language in LANGUAGE_NAMES else DEFAULT_LANGUAGE


def visitor_language(request, practice) -> str:
    """The language of a practice's public page for an anonymous visitor (see the module doc)."""
    offered = practice_languages(practice)
    if len(offered) == 1:
        return offered[0]
    chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME, "")
    if chosen in offered:
        return chosen
    # Django's parser (it ignores an over-long header), sorted by the browser's preference.
    for code, _quality in parse_accept_lang_header(request.headers.get("Accept-Language", "")):
        base = code.split("-")[0].lower()
        if base in offered:
            return base
    return offered[0]


def activate_for_client(client) -> str:
    language = client_language(client)
    translation.activate(language)
    return language


def activate_for_visitor(request, practice) -> str:
    language = visitor_language(request, practice)
    translation.activate(language)
    return language


def language_switch(practice) -> list[tuple[str, str]]:
    """(code, name) of each language a visitor may switch to; empty when there is one."""
    offered = practice_languages(practice)
    return [(code, LANGUAGE_NAMES[code]) for code in offered] if len(offered) > 1 else []


class ResetLanguageMiddleware:
    """Every request starts in the site's language; a client view may switch (above). The
    translation is thread-local, so it is put back after the response."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        translation.activate(settings.LANGUAGE_CODE)
        try:
            response = self.get_response(request)
        finally:
            translation.deactivate()
        return response

"""Client pages in English and Spanish (issue 15 item 9, practice.client_language): a known
client reads their pages in their messages' language, a visitor of the booking page picks with
the English/Español switch (or their browser's Accept-Language), staff pages stay English, and the
Spanish catalogue compiles with every string translated."""

from __future__ import annotations

import gettext
import json
import os
import re
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client as HttpClient
from django.urls import reverse
from django.utils import timezone, translation

from messaging.models import ClientPreferences
from messaging.services import sequence_set_languages
from practice.client_language import client_language, visitor_language
from scheduling.client_actions import manage_link_for
from scheduling.services import appointment_book
from selfservice.home import home_link_for
from telehealth.services import join_link_for
from tests.selfservice.conftest import make_booking_practice

pytestmark = pytest.mark.django_db

LOCALE = Path(settings.BASE_DIR) / "locale"
PO = LOCALE / "es" / "LC_MESSAGES" / "django.po"
MO = LOCALE / "es" / "LC_MESSAGES" / "django.mo"
# CI installs gettext and sets this, so the catalogue checks fail there rather than skip.
SOURCE_APPS = (
    "practice",
    "scheduling",
    "telehealth",
    "messaging",
    "integrations",
    "waitlist",
    "selfservice",
    "staff",
)
# Where `make messages` finds the strings (the sweep test extracts them the same way).
SOURCE_APPS = (
    "practice",
    "scheduling",
    "telehealth",
    "messaging",
    "integrations",
    "waitlist",
    "selfservice",
    "staff",
)
REQUIRE_GETTEXT = os.environ.get("ATTEND_REQUIRE_GETTEXT") == "1"


def _needs_gettext():
    if shutil.which("msgfmt") and shutil.which("xgettext"):
        return
    if REQUIRE_GETTEXT:
        pytest.fail("GNU gettext (msgfmt, xgettext) is required: apt-get install gettext")
    pytest.skip("GNU gettext is not installed")


@pytest.fixture
def spanish_practice(practice):
    sequence_set_languages(practice=practice, languages=["en", "es"])
    return practice


@pytest.fixture
def spanish_ann(spanish_practice, client_ann):
    ClientPreferences.objects.update_or_create(
        client=client_ann, defaults={"language": "es", "practice": client_ann.practice}
    )
    return client_ann


@pytest.fixture
def web(db) -> HttpClient:
    return HttpClient()


def _book(practice, clinician, client, service_type, days=3):
    start = (timezone.now() + timedelta(days=days)).replace(hour=15, minute=0, second=0, microsecond=0)
    return appointment_book(
        practice=practice, clinician=clinician, clients=[client], service_type=service_type, starts_at=start
    )


# --- Which language ------------------------------------------------------------------------------


def test_a_client_reads_the_language_of_their_messages_if_the_practice_offers_it(
    practice, client_ann, client_bob
):
    ClientPreferences.objects.create(client=client_ann, practice=practice, language="es")
    assert client_language(client_ann) == "en", "the practice does not offer Spanish yet"
    sequence_set_languages(practice=practice, languages=["en", "es"])
    assert client_language(client_ann) == "es"
    assert client_language(client_bob) == "en"
    sequence_set_languages(practice=practice, languages=["es", "en"])
    assert client_language(client_bob) == "es", "no choice: the practice's default"


def test_a_visitor_gets_their_cookie_then_their_browser_then_the_practice_default(rf, practice):
    def language(**headers):
        request = rf.get("/", **headers)
        return visitor_language(request, practice)

    assert language(HTTP_ACCEPT_LANGUAGE="es-MX,es;q=0.9") == "en", "English-only practice"
    sequence_set_languages(practice=practice, languages=["en", "es"])
    assert language() == "en"
    assert language(HTTP_ACCEPT_LANGUAGE="es-MX,es;q=0.9,en;q=0.5") == "es"
    assert language(HTTP_ACCEPT_LANGUAGE="fr, en;q=0.8, es;q=0.9") == "es"
    assert language(HTTP_ACCEPT_LANGUAGE="de") == "en"
    assert language(HTTP_ACCEPT_LANGUAGE="es", HTTP_COOKIE="django_language=en") == "en"
    assert language(HTTP_COOKIE="django_language=fr") == "en", "a language not offered is ignored"


# --- Known clients' pages ----------------------------------------------------------------------------


def test_a_spanish_speaking_clients_session_page_is_in_spanish_and_an_english_ones_unchanged(
    web, spanish_ann, client_bob, clinician, service_type
):
    ann = _book(spanish_ann.practice, clinician, spanish_ann, service_type).participants.get()
    bob = _book(client_bob.practice, clinician, client_bob, service_type, days=4).participants.get()
    now = timezone.now()

    page = web.get(reverse("client_manage", args=[manage_link_for(participant=ann, now=now)]))
    html = page.content.decode()
    assert page.status_code == 200 and '<html lang="es">' in html
    assert "Hola, Ann" in html and "Su cita con" in html and "Confirmar que asistiré" in html
    with translation.override("es"):
        local = ann.appointment.starts_at.astimezone(spanish_ann.zoneinfo())
        assert f"{local.day} de " in html  # "miércoles, 10 de junio": the day before the month
    assert "Your session with" not in html and "Confirm I'll be there" not in html

    page = web.get(reverse("client_manage", args=[manage_link_for(participant=bob, now=now)]))
    html = page.content.decode()
    assert '<html lang="en">' in html and "Hi Bob" in html and "Confirm I'll be there" in html
    assert "Your session with" in html and "Su cita" not in html


def test_the_client_home_and_the_documents_page_are_in_spanish(web, spanish_ann, clinician, service_type):
    _book(spanish_ann.practice, clinician, spanish_ann, service_type)
    token = home_link_for(client=spanish_ann, now=timezone.now())
    html = web.get(reverse("client_home", args=[token])).content.decode()
    assert "Sus próximas citas" in html and "Confirmar, cambiar o cancelar" in html
    assert "Your upcoming sessions" not in html


def test_the_language_is_put_back_after_a_spanish_page(web, spanish_ann, clinician, service_type):
    """Translation is per thread: a staff page served next by the same thread must be English."""
    participant = _book(spanish_ann.practice, clinician, spanish_ann, service_type).participants.get()
    web.get(reverse("client_manage", args=[manage_link_for(participant=participant, now=timezone.now())]))
    assert translation.get_language() == settings.LANGUAGE_CODE


def test_the_tech_check_speaks_spanish_in_the_page_its_script_and_its_verdict(
    web, spanish_ann, clinician, service_type
):
    participant = _book(spanish_ann.practice, clinician, spanish_ann, service_type, days=1).participants.get()
    token = join_link_for(participant).token
    html = web.get(reverse("tech_check", args=[token])).content.decode()
    assert "Pruebe su cámara, su micrófono y su conexión" in html
    script_text = json.loads(re.search(r'data-text="([^"]*)"', html).group(1).replace("&quot;", '"'))
    assert script_text["passed_title"] == "Todo está listo para su cita."
    measured = {
        "secure_context": True,
        "get_user_media": True,
        "rtc_peer_connection": True,
        "camera": "denied",
        "microphone": "ok",
        "mic_level": 0.4,
        "rtt_ms": 40.0,
        "download_mbps": 25.0,
        "upload_mbps": 10.0,
    }
    response = web.post(
        reverse("tech_check_result", args=[token]),
        data=json.dumps(measured),
        content_type="application/json",
        HTTP_X_CSRFTOKEN=web.cookies["csrftoken"].value,
    )
    assert response.status_code == 200, response.content
    assert response.json()["problems"][0]["title"] == "Su navegador está bloqueando la cámara."


def test_the_preference_page_follows_the_language_the_client_just_chose(web, spanish_ann):
    from messaging.preferences import preference_link_for

    token = preference_link_for(spanish_ann, timezone.now())
    url = reverse("preference_center", args=[token])
    assert "Sus preferencias de mensajes" in web.get(url).content.decode()
    web.post(url, {"channel": "texts", "language": "en", "quiet_start": "", "quiet_end": ""})
    assert "Your message preferences" in web.get(url).content.decode()


# --- The booking page ------------------------------------------------------------------------------


@pytest.fixture
def booking(spanish_practice, service_type, clinician):
    return make_booking_practice(spanish_practice, service_type, clinician, weekdays=range(5))


def test_the_booking_page_follows_accept_language_and_offers_a_visible_switch(web, booking):
    url = reverse("book_start", args=[booking.slug])
    english = web.get(url).content.decode()
    assert "Find a therapist" in english and "Step 1 of 5" in english
    assert 'action="/language/"' in english and ">Español</button>" in english

    spanish = web.get(url, HTTP_ACCEPT_LANGUAGE="es-US,es;q=0.9").content.decode()
    assert "Encuentre un terapeuta" in spanish and "Paso 1 de 5" in spanish
    assert "¿En qué le gustaría recibir ayuda?" in spanish and "Hora del Este" in spanish
    assert "Find a therapist" not in spanish


def test_the_switch_posts_a_cookie_and_puts_nothing_in_the_url(web, booking):
    url = reverse("book_start", args=[booking.slug])
    response = web.post(reverse("set_language"), {"language": "es", "next": url})
    assert response.status_code == 302 and response.url == url, "back to the same page, no ?lang="
    html = web.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Encuentre un terapeuta" in html, "the switch beats the browser's language"
    assert 'aria-current="true" disabled>Español' in html


def test_an_english_only_practice_shows_no_switch_and_ignores_the_browser(
    web, practice, service_type, clinician
):
    make_booking_practice(practice, service_type, clinician, weekdays=range(5))
    html = web.get(reverse("book_start", args=[practice.slug]), HTTP_ACCEPT_LANGUAGE="es").content.decode()
    assert "Find a therapist" in html and "Español" not in html


def test_the_spanish_booking_page_shows_errors_in_spanish(web, booking):
    url = reverse("book_start", args=[booking.slug])
    html = web.post(url, {"timezone": "Mars/Olympus"}, HTTP_ACCEPT_LANGUAGE="es").content.decode()
    assert "Por favor, corrija los campos marcados abajo." in html


# --- The catalogue ---------------------------------------------------------------------------------


def test_the_spanish_catalogue_compiles_with_nothing_untranslated_or_fuzzy():
    _needs_gettext()
    result = subprocess.run(
        ["msgfmt", "--check", "--statistics", "-o", os.devnull, str(PO)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(r"\d+ translated messages\.\n", result.stderr), result.stderr


def test_our_catalogue_leaves_djangos_date_words_alone():
    """A plain "Wednesday" or "June" in our catalogue would override Django's own, and every date
    in Spanish would read "Miércoles, 10 de Junio"; labels use a context instead."""
    from datetime import date

    from django.utils import formats

    with translation.override("es"):
        assert formats.date_format(date(2026, 6, 10), r"l, j \d\e F") == "miércoles, 10 de junio"


def test_the_committed_mo_is_the_compiled_po(tmp_path):
    _needs_gettext()
    fresh = tmp_path / "django.mo"
    subprocess.run(["msgfmt", "-o", str(fresh), str(PO)], check=True)
    with fresh.open("rb") as compiled, MO.open("rb") as committed:
        assert gettext.GNUTranslations(committed)._catalog == gettext.GNUTranslations(compiled)._catalog, (
            "run `make messages` and commit locale/es/LC_MESSAGES/django.mo"
        )


def test_every_string_marked_in_the_code_has_a_spanish_translation(tmp_path, settings, monkeypatch):
    """The sweep: extract the strings from the code as `make messages` does (into a copy), so a
    string added to a client page without its Spanish fails here."""
    _needs_gettext()
    base = Path(settings.BASE_DIR)
    for name in (*SOURCE_APPS, "templates"):
        shutil.copytree(
            base / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__", "migrations")
        )
    shutil.copytree(base / "locale", tmp_path / "locale")
    settings.LOCALE_PATHS = [tmp_path / "locale"]
    monkeypatch.chdir(tmp_path)
    call_command("makemessages", locale=["es"], no_obsolete=True, add_location="file", verbosity=0)
    result = subprocess.run(
        ["msgfmt", "--statistics", "-o", os.devnull, str(tmp_path / "locale/es/LC_MESSAGES/django.po")],
        capture_output=True,
        text=True,
    )
    assert re.fullmatch(r"\d+ translated messages\.\n", result.stderr), (
        f"{result.stderr.strip()}: run `make messages` and translate the new entries"
    )

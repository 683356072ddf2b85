"""Languages of client messages: per-language step texts under the same whitelist and SMS
length rules, the client's choice on the preference page, and fallback to the default."""

import importlib
import re

import pytest
import time_machine
from django.core import mail
from django.test import Client as HttpClient
from django.utils import timezone

from messaging import dispatch
from messaging.backends import locmem
from messaging.content import (
    MAX_SMS_SEGMENTS,
    SAMPLE_CONTEXTS,
    render,
    sms_segments,
    template_errors,
    translations_errors,
)
from messaging.defaults import CANCELLATION_NOTICE_TEXTS, DEFAULT_STEPS
from messaging.languages import (
    LANGUAGES,
    local_date,
    local_time,
    message_language,
    offered_languages,
    step_text,
)
from messaging.models import ClientPreferences, OutboxMessage, Sequence
from messaging.preferences import preference_link_for
from messaging.services import sequence_for
from scheduling.services import appointment_book, appointment_cancel
from tests.messaging.conftest import ny

pytestmark = pytest.mark.django_db

CLIENT_STEPS = [fields for fields in DEFAULT_STEPS if fields.get("audience", "client") == "client"]


# --- The default texts ------------------------------------------------------------------------------


def test_every_default_client_step_has_a_spanish_text():
    assert {fields["key"] for fields in CLIENT_STEPS if "es" in fields.get("translations", {})} == {
        fields["key"] for fields in CLIENT_STEPS
    }


@pytest.mark.parametrize("fields", DEFAULT_STEPS, ids=lambda f: f["key"])
def test_every_language_of_every_default_step_passes_the_whitelist_and_fits_two_segments(fields):
    texts = {"en": {"subject": fields.get("subject", ""), "body": fields["body"]}}
    texts |= fields.get("translations", {})
    for language, text in texts.items():
        for part in text.values():
            assert template_errors(part) == [], (language, part)
        if fields["channel"] == "sms":
            encoding, segments = sms_segments(render(text["body"], SAMPLE_CONTEXTS[language]))
            assert segments <= MAX_SMS_SEGMENTS, (language, encoding, segments)
    assert (
        translations_errors(fields.get("translations", {}), channel=fields["channel"], languages=LANGUAGES)
        == []
    )


@pytest.mark.parametrize("language", sorted(CANCELLATION_NOTICE_TEXTS))
def test_the_cancellation_notice_fits_two_segments_in_every_language(language):
    texts = CANCELLATION_NOTICE_TEXTS[language]
    assert all(template_errors(text) == [] for key, text in texts.items() if key != "kind")
    _, segments = sms_segments(render(texts["sms_body"], SAMPLE_CONTEXTS[language]))
    assert segments <= MAX_SMS_SEGMENTS


def test_translations_are_checked_like_the_default_text():
    long_spanish = "Hola {{ client_name }}, " + "á" * 120 + " {{ join_link }}"
    errors = translations_errors(
        {"es": {"body": "Hola {{ client.diagnosis }}"}, "fr": {"body": "Bonjour"}, "de": "x"},
        channel="sms",
        languages=LANGUAGES,
    )
    assert any("Español body" in error and "not an allowed field" in error for error in errors)
    assert any("“fr”" in error for error in errors)
    assert any("“de”" in error for error in errors)
    too_long = translations_errors({"es": {"body": long_spanish}}, channel="sms", languages=LANGUAGES)
    assert too_long and "UCS-2" in too_long[0]


def test_the_console_refuses_a_step_whose_spanish_text_uses_a_clinical_field(signed_in, manager, practice):
    from tests.messaging.test_sequence_admin import _form_data, _main_form_data

    manager.is_staff = manager.is_superuser = True
    manager.save()
    sequence = sequence_for(practice)
    http = signed_in(manager)
    url = f"/admin/messaging/sequence/{sequence.pk}/change/"
    page = http.get(url)
    data = {
        **_main_form_data(page.context["adminform"].form),
        **_form_data(page.context["inline_admin_formsets"][0].formset),
    }
    data["steps-1-translations"] = '{"es": {"body": "Hola {{ client.diagnosis }}"}}'

    response = http.post(url, data)

    assert response.status_code == 200
    assert "is not an allowed field" in response.content.decode()
    assert "diagnosis" not in str(sequence.steps.get(key="t24_sms").translations)


# --- Choosing the language ---------------------------------------------------------------------------


def test_a_language_the_practice_does_not_offer_falls_back_to_the_default(practice):
    sequence = sequence_for(practice)
    assert offered_languages(sequence) == ["en"]
    assert message_language(sequence, "es") == "en"
    sequence.languages = ["en", "es"]
    assert message_language(sequence, "es") == "es"
    assert message_language(sequence, "") == "en"


def test_a_step_without_the_translation_uses_the_default_text(practice):
    step = sequence_for(practice).steps.get(key="t15_sms")
    step.translations = {}
    assert step_text(step, "es", "en") == (step.subject, step.body)


def test_dates_read_naturally_in_each_language():
    moment = ny(2026, 9, 30, 10, 30)
    assert local_date(moment, "en") == "Wednesday, September 30"
    assert local_date(moment, "es") == "miércoles, 30 de septiembre"


def test_the_same_instant_reads_in_each_zone_of_its_own():
    # Formatted moments are cached; aware datetimes compare equal across zones, so the zone
    # must be part of what the cache tells apart.
    from zoneinfo import ZoneInfo

    moment = ny(2026, 9, 30, 23, 30)
    pacific = moment.astimezone(ZoneInfo("America/Los_Angeles"))
    assert (local_date(moment, "en"), local_time(moment, "en")) == ("Wednesday, September 30", "11:30 PM EDT")
    assert (local_date(pacific, "en"), local_time(pacific, "en")) == (
        "Wednesday, September 30",
        "8:30 PM PDT",
    )
    utc = moment.astimezone(ZoneInfo("UTC"))
    assert (local_date(utc, "en"), local_time(utc, "en")) == ("Thursday, October 1", "3:30 AM UTC")


@pytest.fixture
def bilingual(practice):
    sequence_for(practice)  # made with the default steps on first use
    Sequence.objects.filter(practice=practice).update(languages=["en", "es"])
    return practice


@pytest.fixture
def session(bilingual, clinician, consenting_ann, service_type, django_capture_on_commit_callbacks):
    with (
        time_machine.travel(ny(2026, 6, 1, 9, 0), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        return appointment_book(
            practice=bilingual,
            clinician=clinician,
            clients=[consenting_ann],
            starts_at=ny(2026, 6, 10, 10, 0),
            service_type=service_type,
        )


def sweep_at(moment):
    with time_machine.travel(moment, tick=False):
        dispatch.dispatch_due()


def test_a_client_who_chose_spanish_gets_spanish_texts_and_e_mails(session, consenting_ann):
    ClientPreferences.objects.create(practice=consenting_ann.practice, client=consenting_ann, language="es")

    sweep_at(ny(2026, 6, 1, 9, 0))
    sweep_at(ny(2026, 6, 9, 10, 0))

    (confirmation,) = mail.outbox
    assert confirmation.subject == "Su cita con Dr. Smith el miércoles, 10 de junio"
    assert "Este buzón no se revisa" in confirmation.body
    assert "Confirme, pida otra hora o cancele aquí: http" in confirmation.body
    day_before = locmem.outbox[0].body
    assert day_before.startswith(
        "Hola Ann, le recordamos su cita por video con Dr. Smith mañana (10:00 AM EDT)."
    )
    assert "Responda C para confirmar, R para cambiar la hora, o gestione su cita: http" in day_before


def test_existing_practices_get_the_new_spanish_texts_unless_they_edited_them(practice):
    from django.apps import apps

    migration = importlib.import_module("messaging.migrations.0012_spanish_texts_with_session_link")
    steps = {step.key: step for step in sequence_for(practice).steps.all()}
    old_t24 = migration.CHANGES["t24_sms"][0]
    steps["t24_sms"].translations = {"es": old_t24}
    steps["t24_sms"].save()
    edited = {"body": "Hola {{ client_name }}, mañana a las {{ session_time }}: {{ join_link }}"}
    steps["t24_sms_in_person"].translations = {"es": edited}
    steps["t24_sms_in_person"].save()

    migration.update_texts(apps, None)

    steps["t24_sms"].refresh_from_db()
    steps["t24_sms_in_person"].refresh_from_db()
    assert steps["t24_sms"].translations["es"] == migration.CHANGES["t24_sms"][1]
    assert "{{ manage_link }}" in steps["t24_sms"].translations["es"]["body"]
    assert steps["t24_sms_in_person"].translations["es"] == edited

    migration.restore_texts(apps, None)

    steps["t24_sms"].refresh_from_db()
    assert steps["t24_sms"].translations["es"] == old_t24


def test_the_clinician_prompt_stays_in_the_default_language(session, consenting_ann):
    ClientPreferences.objects.create(practice=consenting_ann.practice, client=consenting_ann, language="es")
    session.clinician.phone = "+12125550150"
    session.clinician.save()

    sweep_at(ny(2026, 6, 10, 10, 5))

    assert "Ann has not joined" in locmem.outbox[-1].body


def test_a_cancellation_notice_goes_in_the_clients_language(
    session, consenting_ann, django_capture_on_commit_callbacks
):
    ClientPreferences.objects.create(practice=consenting_ann.practice, client=consenting_ann, language="es")
    with (
        time_machine.travel(ny(2026, 6, 2, 9, 0), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        appointment_cancel(appointment=session, by=None, by_client=True)
    sweep_at(ny(2026, 6, 2, 9, 0))

    notice = OutboxMessage.objects.get(kind="cancellation_notice")
    assert notice.state == "accepted"
    assert "fue cancelada" in locmem.outbox[-1].body


def _csrf(response) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', response.content.decode()).group(1)


def test_the_preference_page_offers_languages_only_when_the_practice_has_several(practice, consenting_ann):
    web = HttpClient()
    token = preference_link_for(consenting_ann, timezone.now())
    page = web.get(f"/p/{token}")
    assert page.status_code == 200
    assert "Idioma" not in page.content.decode()

    Sequence.objects.filter(practice=practice).update(languages=["en", "es"])
    page = web.get(f"/p/{token}").content.decode()
    assert '<label for="id_language">Language of your messages / Idioma de sus mensajes</label>' in page
    assert '<option value="es">Español</option>' in page


def test_the_page_tells_the_client_about_the_practices_quiet_hours(practice, consenting_ann):
    token = preference_link_for(consenting_ann, timezone.now())
    page = HttpClient().get(f"/p/{token}").content.decode()
    assert "never sends texts from 9:00 PM to 8:00 AM your time" in page
    Sequence.objects.filter(practice=practice).update(quiet_start=None, quiet_end=None)
    assert "never sends texts" not in HttpClient().get(f"/p/{token}").content.decode()


def test_a_client_saves_their_language_and_back_to_the_default(bilingual, consenting_ann):
    web = HttpClient(enforce_csrf_checks=True)
    token = preference_link_for(consenting_ann, timezone.now())
    form = {"channel": "texts", "quiet_start": "", "quiet_end": "", "language": "es"}

    response = web.post(f"/p/{token}", form | {"csrfmiddlewaretoken": _csrf(web.get(f"/p/{token}"))})
    assert response.status_code == 302
    assert ClientPreferences.objects.get(client=consenting_ann).language == "es"

    form["language"] = "en"
    web.post(f"/p/{token}", form | {"csrfmiddlewaretoken": _csrf(web.get(f"/p/{token}"))})
    assert ClientPreferences.objects.get(client=consenting_ann).language == ""  # the default


def test_a_language_the_practice_does_not_offer_is_a_field_error(bilingual, consenting_ann):
    web = HttpClient()
    token = preference_link_for(consenting_ann, timezone.now())
    response = web.post(f"/p/{token}", {"channel": "texts", "language": "fr"})
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not ClientPreferences.objects.filter(client=consenting_ann).exists()

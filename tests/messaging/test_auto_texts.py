"""The automatic texts in the practice's words and the client's language (issue 15 item 9): the
answers to C, R, HELP, STOP and START and the no-show notice, with English and Spanish defaults
and the content check; and the client-home link in every e-mail's footer (item 6)."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core import mail
from django.core.exceptions import ValidationError

from messaging import dispatch
from messaging.auto_texts import AUTO_TEXTS, auto_texts_update, field_errors
from messaging.backends import locmem
from messaging.content import SAMPLE_CONTEXTS, render, sms_segments
from messaging.models import ClientPreferences, Sequence
from messaging.services import message_plan_for, sequence_set_languages
from scheduling.lifecycle import appointments_sweep_lifecycle
from scheduling.services import appointment_book
from selfservice.home import home_link_client
from selfservice.models import ClientHomeLink
from tests.messaging.conftest import ny
from tests.messaging.test_inbound_sms import inbound, post, reply_of

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("twilio_settings")]

START = ny(2026, 6, 10, 10, 0)


def at(moment):
    return time_machine.travel(moment, tick=False)


REPLY_AT = ny(2026, 6, 9, 9, 0)


def text(web, body, moment=REPLY_AT):
    with at(moment):
        return reply_of(post(web, inbound(body)))[0]


@pytest.fixture
def spanish(practice, ann):
    sequence_set_languages(practice=practice, languages=["en", "es"])
    ClientPreferences.objects.update_or_create(client=ann, defaults={"practice": practice, "language": "es"})
    return ann


@pytest.fixture
def session(practice, clinician, consenting_ann, service_type, numbers):
    with at(ny(2026, 6, 1, 9, 0)):
        return appointment_book(
            practice=practice,
            clinician=clinician,
            clients=[consenting_ann],
            starts_at=START,
            service_type=service_type,
        )


# --- The defaults pass their own check ------------------------------------------------------------


@pytest.mark.parametrize("key", sorted(AUTO_TEXTS))
def test_every_default_passes_the_content_check_in_both_languages(key):
    auto_text = AUTO_TEXTS[key]
    assert set(auto_text.defaults) == {"en", "es"}
    for language, parts in auto_text.defaults.items():
        for part, text in parts.items():
            assert field_errors(key, part, text, language) == [], (key, language, part)
            if auto_text.channel == "sms":
                _, segments = sms_segments(render(text, SAMPLE_CONTEXTS[language]))
                assert segments <= 2


# --- Saving the practice's words -------------------------------------------------------------------


def test_a_practice_rewrites_an_answer_and_the_check_refuses_what_it_must(practice):
    sequence_set_languages(practice=practice, languages=["en", "es"])
    auto_texts_update(
        practice=practice,
        texts={
            "reply_help": {
                "es": {"body": "{{ practice_name }}: ayuda al {{ practice_phone }}. STOP para salir."}
            }
        },
        languages=["en", "es"],
    )
    stored = Sequence.objects.get(practice=practice).auto_texts
    assert stored == {
        "reply_help": {"es": {"body": "{{ practice_name }}: ayuda al {{ practice_phone }}. STOP para salir."}}
    }

    with pytest.raises(ValidationError) as refused:
        auto_texts_update(
            practice=practice,
            texts={
                "reply_confirmed": {"en": {"body": "Confirmed: {{ client.diagnosis }}"}},
                "reply_stop": {"en": {"body": "Bye {{ join_link }}"}},
                "reply_help": {"es": {"body": "x" * 400}},
            },
            languages=["en", "es"],
        )
    errors = refused.value.message_dict
    assert "not an allowed field" in errors["reply_confirmed:en:body"][0]
    assert "can use only" in errors["reply_stop:en:body"][0], "a link this answer has no value for"
    assert "SMS segments" in errors["reply_help:es:body"][0]
    assert Sequence.objects.get(practice=practice).auto_texts == stored, "nothing saved"


def test_a_text_equal_to_the_default_is_not_stored(practice):
    default = AUTO_TEXTS["reply_stop"].defaults["en"]["body"]
    auto_texts_update(practice=practice, texts={"reply_stop": {"en": {"body": default}}}, languages=["en"])
    assert Sequence.objects.get(practice=practice).auto_texts == {}


# --- The answers to texts ---------------------------------------------------------------------------


def test_a_spanish_speaking_clients_c_is_answered_in_spanish_with_a_spanish_date(web, spanish, session):
    assert text(web, "C") == (
        "Gracias, Ann: su cita con Dr. Smith del miércoles, 10 de junio (10:00 AM EDT) está confirmada."
    )


def test_the_practices_own_words_answer_and_only_in_their_language(web, practice, spanish, session):
    auto_texts_update(
        practice=practice,
        texts={"reply_reschedule": {"es": {"body": "Listo, {{ client_name }}: le llamamos pronto."}}},
        languages=["en", "es"],
    )
    assert text(web, "R") == "Listo, Ann: le llamamos pronto."
    ClientPreferences.objects.filter(client=spanish).update(language="")
    assert text(web, "R", ny(2026, 6, 9, 9, 5)).startswith(
        "Thanks, Ann. Riverside Counseling will contact you"
    ), "English default"


def test_help_and_stop_answer_in_the_language_of_the_clients_with_the_number(web, spanish):
    assert text(web, "HELP").startswith("Riverside Counseling: recordatorios de citas.")
    assert text(web, "STOP") == (
        "Ya no recibirá más mensajes de texto de Riverside Counseling. "
        "Responda START para volver a recibirlos."
    )


# --- The no-show notice -------------------------------------------------------------------------


def _no_show_and_send(session, capture):
    with at(START + timedelta(minutes=15)), capture(execute=True):
        appointments_sweep_lifecycle()
    with at(session.ends_at):
        dispatch.dispatch_due()


def test_the_no_show_notice_speaks_spanish_with_the_fee_to_a_client_who_signed(
    practice, spanish, session, django_capture_on_commit_callbacks
):
    practice.no_show_fee = Decimal("75.00")
    practice.save()
    spanish.no_show_policy_accepted_on = date(2026, 1, 5)
    spanish.save()
    _no_show_and_send(session, django_capture_on_commit_callbacks)
    [sms] = locmem.outbox
    assert sms.body.startswith("Hola, Ann: le extrañamos en su cita de hoy (10:00 AM EDT) con Dr. Smith.")
    assert "cargo por inasistencia de $75.00" in sms.body and "https://attend.example.org/a/" in sms.body


def test_the_no_show_notice_uses_the_practices_own_words(
    practice, consenting_ann, session, django_capture_on_commit_callbacks
):
    auto_texts_update(
        practice=practice,
        texts={
            "no_show_sms": {"en": {"body": "{{ client_name }}, we missed you. New time: {{ manage_link }}"}}
        },
        languages=["en"],
    )
    _no_show_and_send(session, django_capture_on_commit_callbacks)
    [sms] = locmem.outbox
    assert re.fullmatch(r"Ann, we missed you\. New time: https://attend\.example\.org/a/\S+", sms.body)


# --- The client-home footer ------------------------------------------------------------------------


def test_every_client_email_ends_with_their_own_home_link_and_texts_do_not(
    practice, clinician, client_bob, consenting_ann, group_service
):
    client_bob.email = "bob@example.test"
    client_bob.save()
    with at(ny(2026, 6, 1, 9, 0)):
        group = appointment_book(
            practice=practice,
            clinician=clinician,
            clients=[consenting_ann, client_bob],
            starts_at=START,
            service_type=group_service,
        )
        message_plan_for(appointment=group)
        dispatch.dispatch_due()
    emails = {message.to[0]: message for message in mail.outbox}
    assert set(emails) == {"ann@example.test", "bob@example.test"}, "each participant's confirmation"
    owners = {}
    for address, email in emails.items():
        found = re.search(r"Your sessions and forms: (https://attend\.example\.org/h/(\S+))", email.body)
        assert found, email.body
        assert found.group(1) in email.alternatives[0][0]
        owners[address] = home_link_client(found.group(2), ny(2026, 6, 1, 9, 0))
    assert owners == {"ann@example.test": consenting_ann, "bob@example.test": client_bob}, "each their own"
    with at(START - timedelta(days=1)):
        dispatch.dispatch_due()  # the day-before reminder, a text to Ann
    assert locmem.outbox and all("/h/" not in sms.body for sms in locmem.outbox), "no footer in texts"


def test_a_clients_expired_home_links_are_deleted_when_a_new_one_is_made(practice, consenting_ann):
    from selfservice.home import home_link_path_for_message

    old = ny(2026, 1, 1, 9, 0)
    home_link_path_for_message(consenting_ann, old)
    home_link_path_for_message(consenting_ann, old + timedelta(days=40))
    assert ClientHomeLink.objects.filter(client=consenting_ann).count() == 1


# --- The settings page ---------------------------------------------------------------------------


def test_managers_edit_the_automatic_texts_in_each_language_with_field_errors(practice, manager, front_desk):
    from django.urls import reverse

    from tests.conftest import verified_session

    sequence_set_languages(practice=practice, languages=["en", "es"])
    url = reverse("auto_texts_settings")
    assert verified_session(front_desk).get(url).status_code == 403
    http = verified_session(manager)
    page = http.get(url)
    html = page.content.decode()
    assert page.status_code == 200
    assert "Answer to HELP" in html and "Español text" in html and "recordatorios de citas" in html
    form = page.context["form"]
    data = {name: field.initial for name, field in form.fields.items()}
    data["reply_stop__es__body"] = "Listo: no le escribiremos más. {{ join_link }}"
    refused = http.post(url, data)
    assert refused.status_code == 400
    assert (
        "can use only" in refused.content.decode()
        and Sequence.objects.get(practice=practice).auto_texts == {}
    )
    data["reply_stop__es__body"] = (
        "Listo: {{ practice_name }} no le escribirá más. Responda START para volver."
    )
    assert http.post(url, data).status_code == 302
    assert Sequence.objects.get(practice=practice).auto_texts == {
        "reply_stop": {"es": {"body": data["reply_stop__es__body"]}}
    }

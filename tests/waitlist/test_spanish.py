"""The waitlist's own messages in the client's language, as their reminders are: the offer text
and e-mail, the "still want it?" text and the answer to a YES (or SÍ/SI) reply."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import time_machine
from django.core import mail

from messaging.backends import locmem
from messaging.content import MAX_SMS_SEGMENTS, SAMPLE_CONTEXTS, render, sms_segments, template_errors
from messaging.models import ClientPreferences
from messaging.services import sequence_set_languages
from scheduling.models import Appointment
from scheduling.services import appointment_cancel
from waitlist import services
from waitlist.models import EntryStatus, Offer, OfferMessage, OfferStatus
from waitlist.services import TEXTS, gsm7, offer_sms, waitlist_entry_create

from .conftest import NEW_YORK, NOW
from .test_reply_yes import _twilio, text_us  # noqa: F401 (the Twilio fixture)

pytestmark = pytest.mark.django_db(transaction=True)
FRIDAY_10 = datetime(2026, 5, 8, 10, tzinfo=NEW_YORK)
WEDNESDAY_10 = datetime(2026, 5, 13, 10, tzinfo=NEW_YORK)


@pytest.fixture
def spanish(practice):
    sequence_set_languages(practice=practice, languages=["en", "es"])

    def speaks_spanish(client):
        ClientPreferences.objects.update_or_create(
            client=client, defaults={"practice": practice, "language": "es"}
        )
        return client

    return speaks_spanish


def waiting(practice, service_type, client):
    return waitlist_entry_create(
        practice=practice, client=client, service_type=service_type, now=NOW - timedelta(days=1)
    )


def test_every_language_passes_the_content_check_and_a_text_stays_two_gsm7_segments():
    link = "https://attend.example.org/o/" + "x" * 32
    for language, texts in TEXTS.items():
        context = SAMPLE_CONTEXTS[language]  # Spanish: "sábado, 30 de septiembre"
        for name in ("offer_sms", "offer_email", "still_wanted"):
            assert template_errors(texts[name]) == [], (language, name)
        for body in (
            offer_sms(context, "mié 30 de septiembre, 22:45", link, language),
            gsm7(render(texts["still_wanted"], context)),
            gsm7(texts["yes_done"].format(clinician=context["clinician_name"], when="miércoles 30 de mayo")),
        ):
            encoding, segments = sms_segments(body)
            assert (encoding, segments <= MAX_SMS_SEGMENTS) == ("GSM-7", True), body


def test_gsm7_drops_only_the_accents_gsm7_lacks():
    assert gsm7("miércoles, sábado: ¿SÍ? Ñandú, pingüino") == "miércoles, sabado: ¿SI? Ñandu, pingüino"


def test_a_spanish_client_is_offered_the_slot_in_spanish_and_an_english_one_in_english(
    practice, service_type, make_client, book, spanish, clock
):
    ana = spanish(make_client("Ana"))
    waiting(practice, service_type, ana)
    appointment_cancel(appointment=book(make_client("Lee"), WEDNESDAY_10), now=NOW)

    [sms] = locmem.outbox
    assert sms.to == ana.phone.as_e164
    assert sms.body.startswith(
        "Riverside Counseling: se libero una cita con Dr. Smith el miércoles, 13 de mayo a las"
    )
    assert "responda SI para tomarla" in sms.body and "/o/" in sms.body
    assert sms_segments(sms.body)[0] == "GSM-7"

    # The next wave: an English client of the same practice still reads English.
    bob = make_client("Bob")
    waiting(practice, service_type, bob)
    appointment_cancel(appointment=book(make_client("Lia"), FRIDAY_10), now=NOW)
    assert locmem.outbox[-1].to == bob.phone.as_e164
    assert "a session with Dr. Smith opened on Friday, May 8 at 10:00 AM EDT" in locmem.outbox[-1].body


def test_a_spanish_client_without_texts_gets_the_offer_email_in_spanish(
    practice, service_type, make_client, book, spanish, clock
):
    ana = spanish(make_client("Ana", texts=False))
    waiting(practice, service_type, ana)
    appointment_cancel(appointment=book(make_client("Lee"), WEDNESDAY_10), now=NOW)

    assert locmem.outbox == []
    [email] = mail.outbox
    assert email.subject == "Se liberó una hora para su cita"
    assert "Hola, Ana:" in email.body and "miércoles, 13 de mayo" in email.body
    assert "hasta el lun 4 de mayo, 14:00. Para tomarla, abra este enlace" in email.body


def test_the_still_want_it_question_is_in_spanish(practice, service_type, make_client, book, spanish):
    ana = spanish(make_client("Ana"))
    entry = waiting(practice, service_type, ana)
    for day in range(3):
        at = NOW + timedelta(days=day)
        with time_machine.travel(at, tick=False):
            appointment_cancel(
                appointment=book(make_client(f"Lee{day}"), datetime(2026, 5, 12 + day, 10, tzinfo=NEW_YORK)),
                now=at,
            )
        services.waitlist_sweep(now=at + timedelta(minutes=121))
        services.offer_messages_dispatch(now=at + timedelta(minutes=121))
    entry.refresh_from_db()
    assert entry.status == EntryStatus.PAUSED
    assert OfferMessage.objects.get(offer__isnull=True).subject == "Su lugar en la lista de espera"
    assert locmem.outbox[-1].body.startswith(
        "Riverside Counseling: le ofrecimos algunas horas de la lista de espera y no "
        "recibimos respuesta, asi que"
    )


@pytest.mark.parametrize("reply", ["Sí", "si", "SI!", "YES"])
def test_a_spanish_client_accepts_by_replying_si_and_is_answered_in_spanish(
    reply, practice, service_type, make_client, book, spanish, clock
):
    ana = spanish(make_client("Ana"))
    waiting(practice, service_type, ana)
    appointment_cancel(appointment=book(make_client("Lee"), FRIDAY_10), now=NOW)

    [answer] = text_us(reply, ana.phone.as_e164)

    assert answer == (
        "Listo: su cita con Dr. Smith el viernes 8 de mayo a las 10:00 quedo reservada. "
        "Le enviaremos una confirmacion."
    )
    assert Offer.objects.get().status == OfferStatus.ACCEPTED
    assert Appointment.objects.get(participants__client=ana).starts_at == FRIDAY_10


def test_si_without_an_offer_is_an_ordinary_reply_not_an_opt_in(practice, make_client, spanish, clock):
    ana = spanish(make_client("Ana", texts=False))
    text_us("Sí", ana.phone.as_e164)
    ana.refresh_from_db()
    assert ana.sms_consent_at is None  # SÍ is not an opt-in keyword

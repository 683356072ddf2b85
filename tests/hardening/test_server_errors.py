"""Each server error found by the hostile-input review (issue 17), as a request that must be
answered with a 4xx (or a page that says what is wrong), never a 500."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice
from openapi_spec_validator import validate as validate_openapi

from messaging.sequences import sequence_for
from messaging.services import sequence_step_update
from practice import parsing
from practice.tokens import api_token_create
from tests.api.conftest import api_client
from tests.hardening.storage import bad_rows

pytestmark = pytest.mark.django_db

EDGE_DAYS = ["9999-12-31", "0001-01-01", "2026-02-30", "\uff12\uff10\uff12\uff16-01-01", "2026-²-01"]


# --- The shared parser -----------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["²", "١٢", "1e3", "", " ", "10" * 30, "--1", "1_000"])
def test_numbers_take_ascii_digits_only(text):
    with pytest.raises(ValidationError):
        parsing.parse_int(text, min_value=0, max_value=10**40)


@pytest.mark.parametrize("text", ["0", "-1", str(2**63), "9" * 20])
def test_ids_are_positive_and_fit_the_database(text):
    assert not parsing.is_id(text)


@pytest.mark.parametrize("text", EDGE_DAYS)
def test_dates_at_or_off_the_calendar_edge_are_refused(text):
    with pytest.raises(ValidationError):
        parsing.parse_date(text)


def test_a_time_in_the_spring_forward_gap_is_refused(practice):
    with pytest.raises(ValidationError):
        parsing.parse_datetime("2026-03-08T02:30", tz=practice.zoneinfo)
    assert parsing.parse_datetime("2026-03-08T03:30", tz=practice.zoneinfo).utcoffset() == timedelta(hours=-4)
    assert parsing.parse_datetime("2026-03-08T02:30:00+00:00").utcoffset() == timedelta(0)


# --- Staff pages with dates at the calendar's edges -------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/board/", {"date": None}),
        ("/board/live/", {"date": None}),
        ("/me/week/", {"date": None}),
        ("/appointments/", {"date": None}),
        ("/metrics/", {"start": None, "end": "2026-01-01"}),
        ("/metrics/", {"start": "2026-01-01", "end": None}),
        ("/metrics/export.csv", {"start": None, "end": None}),
        ("/reports/feedback/", {"start": None, "end": None}),
    ],
)
@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01"])
def test_staff_pages_answer_calendar_edge_dates(signed_in, manager, clinician, path, params, day):
    http = signed_in(clinician.user if path.startswith("/me/") else manager)
    query = {key: value or day for key, value in params.items()}

    response = http.get(path, query)

    assert response.status_code in (200, 302, 400), response.status_code


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01"])
@pytest.mark.parametrize("repeat", ["", "weekly"])
def test_booking_at_the_end_of_the_calendar_is_a_form_error(
    signed_in, manager, clinician, client_ann, service_type, day, repeat
):
    response = signed_in(manager).post(
        reverse("appointment_create"),
        {
            "clinician": clinician.pk,
            "clients": [client_ann.pk],
            "service_type": service_type.pk,
            "date": day,
            "start_time": "23:59",
            "modality": "telehealth",
            "repeat": repeat,
            "occurrences": "52" if repeat else "",
        },
    )

    assert response.status_code == 200
    assert "date" in response.context["form"].errors


def test_rescheduling_to_the_end_of_the_calendar_is_a_form_error(
    signed_in, manager, clinician, client_ann, service_type, tomorrow_10am
):
    from scheduling.services import appointment_book

    appointment = appointment_book(
        practice=clinician.practice,
        clinician=clinician,
        clients=[client_ann],
        service_type=service_type,
        starts_at=tomorrow_10am,
    )
    response = signed_in(manager).post(
        reverse("appointment_reschedule", args=[appointment.pk]),
        {"clinician": clinician.pk, "date": "9999-12-31", "start_time": "23:59", "duration_minutes": "45"},
    )

    assert response.status_code == 200
    assert "date" in response.context["form"].errors


@pytest.mark.parametrize("client_id", ["9" * 20, "-1", "²", "١٢"])
def test_a_huge_or_foreign_digit_id_in_the_booking_form_is_a_form_error(
    signed_in, manager, clinician, service_type, client_id
):
    response = signed_in(manager).post(
        reverse("appointment_create"),
        {
            "clinician": clinician.pk,
            "clients": [client_id],
            "service_type": service_type.pk,
            "date": "2026-05-12",
            "start_time": "10:00",
            "modality": "telehealth",
        },
    )

    assert response.status_code == 200
    assert "clients" in response.context["form"].errors


# --- Tech check download ---------------------------------------------------------------------------


@pytest.mark.parametrize("size", ["²", "١٢", "-1", "10" * 30, "1e3"])
def test_the_download_probe_refuses_a_size_that_is_not_ascii_digits(client, size):
    response = client.get("/t/not-a-real-token/download", {"bytes": size})

    assert response.status_code == 400
    assert "bytes" in response.json()["fields"]


# --- CSV import -------------------------------------------------------------------------------------

APPOINTMENTS = "external_id,client_external_ids,clinician,service,starts_at,minutes\n"


@pytest.mark.parametrize(
    ("row", "column"),
    [
        ("A-1,C-1,{clinician},{service},2026-02-30 10:00,45", "starts_at"),
        ("A-1,C-1,{clinician},{service},9999-12-31 23:59,45", "starts_at"),
        ("A-1,C-1,{clinician},{service},2026-05-12 10:00,²", "minutes"),
        ("A-1,C-1,{clinician},{service},2026-05-12 10:00,١٢٠", "minutes"),
        ("A-1,C-1,²,{service},2026-05-12 10:00,45", "clinician"),
        ("A-1,C-1,{clinician},١٢,2026-05-12 10:00,45", "service"),
    ],
)
@pytest.mark.parametrize("preview", [True, False])
def test_csv_rows_with_foreign_digits_or_impossible_dates_are_row_errors(
    signed_in, manager, clinician, service_type, row, column, preview
):
    text = APPOINTMENTS + row.format(clinician=clinician.pk, service=service_type.pk) + "\n"
    file = SimpleUploadedFile("export.csv", text.encode(), content_type="text/csv")
    data = {"kind": "appointments", "source": "csv", "file": file}
    if preview:
        data["preview"] = "1"
    else:
        data["confirm"] = "1"

    response = signed_in(manager).post("/imports/", data)

    assert response.status_code in (200, 302)
    if preview:
        report = response.context["report"]
        assert column in {name for error_row in report.error_rows for name, _ in error_row.errors}


# --- API -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/clients/", {"first_name": "A", "last_name": "B", "status": "\ud800"}),
        (
            "/api/v1/ehr/acme/clients/",
            {"external_id": "c1", "first_name": "A", "last_name": "B", "status": "\ud800"},
        ),
        ("/api/v1/ehr/acme/appointments/", {"external_id": "a1", "status": "\ud800"}),
        ("/api/v1/ehr/acme/appointments/", {"external_id": "a1", "modality": "\ud800x"}),
        ("/api/v1/appointments/", {"modality": "\ud800"}),
    ],
)
def test_a_lone_surrogate_in_a_choice_field_is_a_400(practice, path, body):
    _, raw = api_token_create(practice=practice, name="sync")
    payload = json.dumps(body)  # ASCII with \ud800 escapes: what a careless client sends

    response = api_client(raw).post(path, payload, content_type="application/json")

    assert response.status_code == 400
    json.dumps(response.json()).encode()  # the answer itself is valid UTF-8 JSON


def test_the_served_openapi_schema_passes_a_standard_validator(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    validate_openapi(json.loads(response.content))


def test_the_api_docs_open_for_a_signed_in_staff_member(signed_in, manager):
    response = signed_in(manager).get("/api/docs/")

    assert response.status_code == 200


# --- Inbound text with a NUL byte ------------------------------------------------------------------


def test_a_signed_inbound_text_with_a_nul_byte_is_stored_without_it(
    practice, clinician, client_ann, service_type, tomorrow_10am, settings
):
    from urllib.parse import urlencode

    from django.test import Client as HttpClient
    from twilio.request_validator import RequestValidator

    from scheduling.models import AppointmentActivity
    from scheduling.services import appointment_book

    settings.TWILIO_AUTH_TOKEN = "test-auth-token"
    settings.SITE_URL = "https://attend.example.org"
    practice.sms_from_number = "+12125550199"
    practice.save()
    appointment_book(
        practice=practice,
        clinician=clinician,
        clients=[client_ann],
        service_type=service_type,
        starts_at=tomorrow_10am,
    )
    before = set(bad_rows())
    params = {
        "MessageSid": "SM" + "a" * 32,
        "From": client_ann.phone.as_e164,
        "To": "+12125550199",
        "Body": "running\x00 late",
    }
    signature = RequestValidator("test-auth-token").compute_signature(
        "https://attend.example.org/hooks/twilio/inbound/", params
    )

    response = HttpClient().post(
        "/hooks/twilio/inbound/",
        urlencode(params),
        content_type="application/x-www-form-urlencoded",
        headers={"X-Twilio-Signature": signature},
    )

    assert response.status_code == 200
    assert AppointmentActivity.objects.filter(kind="replied").exists()
    assert set(bad_rows()) - before == set()


# --- Content whitelist on every path ---------------------------------------------------------------


def test_the_step_service_refuses_a_field_outside_the_whitelist(practice):
    step = sequence_for(practice).steps.first()

    with pytest.raises(ValidationError) as refused:
        sequence_step_update(step=step, changes={"body": "Hi {{ client.diagnosis }}"})

    assert "body" in refused.value.message_dict
    step.refresh_from_db()
    assert "diagnosis" not in step.body


# --- Backup codes ----------------------------------------------------------------------------------


def test_a_backup_code_right_after_another_backup_code_sign_in_is_accepted(client, manager):
    from practice.services import backup_codes_regenerate

    TOTPDevice.objects.create(user=manager, name="phone", confirmed=True)
    first, second = backup_codes_regenerate(user=manager)[:2]
    login = {"username": manager.email, "password": "correct-horse-battery"}
    client.post(reverse("login"), login)
    assert client.post(reverse("two_factor_verify"), {"code": first}).status_code == 302
    client.post(reverse("logout"))

    client.post(reverse("login"), login)
    again = client.post(reverse("two_factor_verify"), {"code": second})

    assert again.status_code == 302
    assert TOTPDevice.objects.get(user=manager).throttling_failure_count == 0


# --- Found by the crawl ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target", ["0", "a\x00b", "2026-03-08T02:30", "https://evil.example/", "//evil.example/"]
)
def test_a_return_address_that_is_no_local_path_falls_back_to_the_board(
    signed_in, manager, clinician, client_ann, service_type, tomorrow_10am, target
):
    from scheduling.services import appointment_book

    appointment = appointment_book(
        practice=clinician.practice,
        clinician=clinician,
        clients=[client_ann],
        service_type=service_type,
        starts_at=tomorrow_10am,
    )
    participant = appointment.participants.get()

    response = signed_in(manager).post(f"/participants/{participant.pk}/resend-link/", {"next": target})

    assert response.status_code == 302
    assert response["Location"].startswith("/")
    assert not response["Location"].startswith("//")


@pytest.mark.parametrize("event_id", ["evt\x00", "evt\ud800"])
def test_an_ehr_event_id_postgresql_cannot_store_is_a_400(client, practice, event_id):
    import time

    from scheduling.ehr import ehr_webhook_secret_rotate, sign

    secret = ehr_webhook_secret_rotate(practice=practice)
    event = {
        "id": event_id,
        "type": "client.upserted",
        "source": "simplepractice",
        "data": {"external_id": "C-1", "first_name": "Erin", "last_name": "Example"},
    }
    body = json.dumps(event).encode()
    stamp = str(int(time.time()))

    response = client.post(
        f"/hooks/ehr/{practice.slug}/",
        body,
        content_type="application/json",
        HTTP_ATTEND_TIMESTAMP=stamp,
        HTTP_ATTEND_SIGNATURE=sign(secret=secret, timestamp=stamp, body=body),
    )

    assert response.status_code == 400
    assert "id" in response.json()["errors"]


# --- Found by the crawl on PostgreSQL (SQLite takes NUL in a filter without complaint) ------------


@pytest.mark.parametrize("path", ["/clients/", "/admin/practice/client/", "/board/"])
def test_a_nul_byte_in_a_search_is_a_400_before_any_query(signed_in, manager, path):
    manager.is_staff = True
    manager.save()

    response = signed_in(manager).get(path, {"q": "a\x00b"})

    assert response.status_code == 400


def test_a_csv_file_with_a_nul_byte_is_refused_as_a_whole(signed_in, manager):
    text = "external_id,first_name,last_name\nC-1,A\x00n,Avery\n"
    file = SimpleUploadedFile("export.csv", text.encode(), content_type="text/csv")

    response = signed_in(manager).post(
        "/imports/", {"kind": "clients", "source": "csv", "file": file, "preview": "1"}
    )

    assert response.status_code == 200
    assert "NUL" in response.content.decode()


@pytest.mark.parametrize("page", ["config", "qrcode"])
def test_the_consoles_authenticator_pages_answer_404_for_an_unknown_device(signed_in, manager, page):
    manager.is_staff = manager.is_superuser = True
    manager.save()

    response = signed_in(manager).get(f"/admin/otp_totp/totpdevice/999999/{page}/")

    assert response.status_code == 404

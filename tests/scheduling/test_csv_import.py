"""CSV import of clients and appointments: staff page (preview = dry run, then confirm) and the
import_csv command, both through the EHR sync services."""

from __future__ import annotations

from datetime import datetime
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from practice.models import Client
from scheduling.imports import import_csv
from scheduling.models import Appointment

NEW_YORK = ZoneInfo("America/New_York")
CLIENTS = (
    "external_id,first_name,last_name,phone,email,sms_consent\n"
    "C-1,Ann,Avery,(212) 555-0101,ann@example.test,yes\n"
    "C-2,Bob,,+12125550102,,no\n"  # row 3: no last name
    "C-3,Cy,Cole,555-NOT-A-PHONE,,maybe\n"  # row 4: bad phone and consent
    "C-4,Di,Dunn,,,\n"
)


def upload(http, text: str, kind: str = "clients", **extra):
    file = SimpleUploadedFile("export.csv", text.encode(), content_type="text/csv")
    return http.post("/imports/", {"kind": kind, "source": "csv", "file": file, "preview": "1", **extra})


def test_the_preview_lists_row_errors_and_saves_nothing(signed_in, manager):
    http = signed_in(manager)

    response = upload(http, CLIENTS)

    assert response.status_code == 200
    report = response.context["report"]
    assert report.counts == {"created": 2}
    errors = {(row.row, column) for row in report.error_rows for column, _ in row.errors}
    assert errors == {(3, "last_name"), (4, "sms_consent")}
    assert not Client.objects.exists()
    html = response.content.decode()
    assert "Preview: nothing has been saved yet" in html
    assert "555-NOT-A-PHONE" not in "".join(m for row in report.error_rows for _, m in row.errors)


def test_confirming_imports_the_good_rows_and_repeating_changes_nothing(signed_in, manager, practice):
    http = signed_in(manager)
    preview = upload(http, CLIENTS)
    confirm = {
        "kind": "clients",
        "source": "csv",
        "text": preview.context["form"]["text"].value(),
        "confirm": "1",
    }

    done = http.post("/imports/", confirm)
    again = http.post("/imports/", confirm)

    assert done.context["report"].counts == {"created": 2}
    assert again.context["report"].counts == {"unchanged": 2}
    ann = Client.objects.get(practice=practice, external_id="C-1")
    assert (ann.phone.as_e164, ann.sms_consent_at is not None, ann.external_source) == (
        "+12125550101",
        True,
        "csv",
    )
    assert Client.objects.count() == 2


def test_appointments_take_local_times_and_refuse_an_ambiguous_one(practice, clinician, service_type):
    import_csv(practice=practice, kind="clients", source="csv", text=CLIENTS, dry_run=False, actor="test")
    text = (
        "external_id,client_external_ids,clinician,service,starts_at,minutes\n"
        "A-1,C-1,Dr. Smith,90834,2026-11-02 09:00,50\n"
        "A-2,C-1,Dr. Smith,90834,2026-11-01 01:30,\n"  # 01:30 happens twice that night
        "A-3,C-1,Dr. Nobody,90834,2026-11-03 09:00,\n"
        "A-4,C-404,Dr. Smith,Individual therapy,2026-11-04 09:00,\n"
    )
    with time_machine.travel(datetime(2026, 10, 20, tzinfo=NEW_YORK), tick=False):
        report = import_csv(
            practice=practice, kind="appointments", source="csv", text=text, dry_run=False, actor="t"
        )

    assert report.counts == {"created": 1}, report.error_rows
    errors = {(row.row, column) for row in report.error_rows for column, _ in row.errors}
    assert errors == {(3, "starts_at"), (4, "clinician"), (5, "client_external_ids")}
    appointment = Appointment.objects.get()
    assert appointment.starts_at == datetime(2026, 11, 2, 9, 0, tzinfo=NEW_YORK)
    assert appointment.duration.total_seconds() == 50 * 60


def test_a_file_with_wrong_columns_is_refused_as_a_whole(practice):
    report = import_csv(
        practice=practice, kind="clients", source="csv", text="id,name\n1,Ann\n", dry_run=False, actor="t"
    )

    assert report.file_errors and not report.rows
    assert not Client.objects.exists()


@pytest.mark.parametrize("role_fixture", ["clinician_user", "biller"])
def test_only_schedulers_may_import(request, signed_in, role_fixture):
    http = signed_in(request.getfixturevalue(role_fixture))

    assert http.get("/imports/").status_code == 403


def test_the_import_lands_in_the_signed_in_members_practice(
    signed_in, other_manager, practice, other_practice
):
    http = signed_in(other_manager)
    preview = upload(http, CLIENTS)
    http.post(
        "/imports/",
        {"kind": "clients", "source": "csv", "text": preview.context["form"]["text"].value(), "confirm": "1"},
    )

    assert Client.objects.filter(practice=other_practice).count() == 2
    assert not Client.objects.filter(practice=practice).exists()


def test_the_command_dry_run_reports_rows_without_values(practice, tmp_path):
    path = tmp_path / "clients.csv"
    path.write_text(CLIENTS)
    out = StringIO()

    with pytest.raises(SystemExit) as exit_:
        call_command(
            "import_csv", str(path), "--practice", "riverside", "--kind", "clients", "--dry-run", stdout=out
        )

    assert exit_.value.code == 1
    printed = out.getvalue()
    assert "2 would be created" in printed and "row 3, last_name:" in printed
    assert "Avery" not in printed and "555" not in printed
    assert not Client.objects.exists()


def test_the_page_explains_the_format(signed_in, front_desk):
    response = signed_in(front_desk).get("/imports/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "client_external_ids" in html and "America/New_York" in html

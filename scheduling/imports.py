"""CSV import of clients and appointments (docs/api.md, "CSV import"), for practices whose EHR
cannot call webhooks: a staff page (upload → dry-run preview → confirm) and
``manage.py import_csv``. Each row goes through the same sync services as the API and the
webhook (client_upsert, appointment_upsert), keyed by the row's external_id, so importing the
same file twice changes nothing and a corrected file can simply be imported again.

A dry run does the whole import in a transaction and rolls it back: the preview shows exactly
what the services would do, errors included. Rows with errors are skipped on import (each row
has its own savepoint); the others are applied. Errors name the row, the column and the
problem, never the value (it may be client data); nothing from the file is logged.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import UTC, timedelta

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.shortcuts import render
from phonenumber_field.phonenumber import to_python as to_phone_number
from rest_framework.exceptions import ValidationError as ApiValidationError

from practice import parsing
from practice.access import SCHEDULERS, staff_view
from practice.models import ClinicianProfile, Practice
from scheduling.api.audit import audit_as
from scheduling.api.ehr import AppointmentUpsertInput, ClientUpsertInput, upsert_appointment, upsert_client
from scheduling.api.errors import NON_FIELD, field_errors
from scheduling.models import ServiceType
from scheduling.sync import SOURCE_PATTERN

MAX_ROWS = 5000
MAX_BYTES = 2 * 1024 * 1024
CLIENT_COLUMNS = [
    "external_id",
    "first_name",
    "last_name",
    "preferred_name",
    "phone",
    "email",
    "timezone",
    "status",
    "sms_consent",
]
APPOINTMENT_COLUMNS = [
    "external_id",
    "client_external_ids",
    "clinician",
    "service",
    "starts_at",
    "minutes",
    "modality",
    "status",
    "fee",
]
REQUIRED = {
    "clients": {"external_id", "first_name", "last_name"},
    "appointments": {"external_id"},
}
# Service and serializer field names → the CSV column they come from.
COLUMN_OF = {"clients": "client_external_ids", "service_type": "service", "ends_at": "minutes"}
YES, NO = {"yes", "y", "true", "1"}, {"no", "n", "false", "0"}


@dataclass
class RowResult:
    row: int  # the line in the file, header = 1
    result: str = ""  # created, updated, unchanged, rescheduled, cancelled, … or "error"
    errors: list[tuple[str, str]] = field(default_factory=list)  # (column, message)


@dataclass
class ImportReport:
    kind: str
    rows: list[RowResult] = field(default_factory=list)
    file_errors: list[str] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        """How many rows each outcome had (created, unchanged, …); rows with errors not counted."""
        counts: dict[str, int] = {}
        for row in self.rows:
            if not row.errors:
                counts[row.result] = counts.get(row.result, 0) + 1
        return dict(sorted(counts.items()))

    @property
    def error_rows(self) -> list[RowResult]:
        return [row for row in self.rows if row.errors]


def read_rows(text: str, kind: str) -> tuple[list[dict[str, str]], list[str]]:
    """The file's data rows as {column: stripped text}, or the problems with the file itself."""
    if parsing.has_unstorable(text):
        return [], ["The file holds NUL or broken characters; save it again as UTF-8 CSV."]
    reader = csv.DictReader(io.StringIO(text))
    columns = {name.strip().lower() for name in (reader.fieldnames or []) if name}
    known = set(CLIENT_COLUMNS if kind == "clients" else APPOINTMENT_COLUMNS)
    problems = []
    if missing := REQUIRED[kind] - columns:
        problems.append(f"The header row lacks the column(s): {', '.join(sorted(missing))}.")
    if unknown := columns - known:
        problems.append(
            f"Unknown column(s): {', '.join(sorted(unknown))}. Expected: {', '.join(sorted(known))}."
        )
    if problems:
        return [], problems
    rows = []
    try:
        for raw in reader:
            rows.append({(k or "").strip().lower(): (v or "").strip() for k, v in raw.items() if k})
            if len(rows) > MAX_ROWS:
                return [], [f"At most {MAX_ROWS} rows per file; split it."]
    except csv.Error:
        return [], ["The file is not valid CSV."]
    return rows, []


def _client_input(row: dict, practice: Practice) -> dict:
    data = {name: row[name] for name in CLIENT_COLUMNS if row.get(name)}
    phone = data.get("phone", "")
    if phone and not phone.startswith("+"):
        number = to_phone_number(phone)  # national format, in PHONENUMBER_DEFAULT_REGION
        if number is not None and number.is_valid():
            data["phone"] = number.as_e164
    consent = data.pop("sms_consent", "").lower()
    if consent in YES | NO:
        data["sms_consent"] = consent in YES
    elif consent:
        raise ValidationError({"sms_consent": ["Use yes or no (or leave empty to keep as is)."]})
    return data


def _local_time(text: str, practice: Practice) -> str:
    """ISO 8601 with an offset as is; a local time ("2026-05-12 10:00") in the practice's zone."""
    message = "Use 2026-05-12 10:00 (practice time) or ISO 8601 with an offset."
    try:
        parsing.parse_datetime(text)
        return text  # with an offset: as written
    except ValidationError as error:
        if error.code != "naive":
            raise ValidationError({"starts_at": [message]}) from None
    # A wall-clock time: read it as UTC only to get the naive value, then place it in the practice's zone.
    parsed = parsing.parse_datetime(text, tz=UTC).replace(tzinfo=None)
    tz = practice.zoneinfo
    first, second = parsed.replace(tzinfo=tz, fold=0), parsed.replace(tzinfo=tz, fold=1)
    if first.utcoffset() != second.utcoffset():
        raise ValidationError(
            {
                "starts_at": [
                    "This local time is skipped or repeated by a daylight-saving change; give the UTC offset."
                ]
            }
        )
    return first.isoformat()


def _lookup(queryset, text: str, column: str, by_name: Q):
    # A number may be an id or a name/code (CPT codes are numbers): either matches, once.
    by_id = Q(pk=parsing.parse_id(text)) if parsing.is_id(text) else Q(pk__in=[])
    matches = list(queryset.filter(by_id | by_name)[:2])
    if len(matches) != 1:
        why = "No such" if not matches else "More than one"
        raise ValidationError({column: [f"{why} {column} in this practice; use its id."]})
    return matches[0].pk


def _appointment_input(row: dict, practice: Practice) -> dict:
    data: dict = {"external_id": row.get("external_id", ""), "status": row.get("status") or "scheduled"}
    if data["status"] == "cancelled":
        return data
    if row.get("client_external_ids"):
        data["clients"] = [part.strip() for part in row["client_external_ids"].split(";") if part.strip()]
    if row.get("clinician"):
        clinicians = ClinicianProfile.objects.for_practice(practice)
        data["clinician"] = _lookup(
            clinicians, row["clinician"], "clinician", Q(display_name__iexact=row["clinician"])
        )
    if row.get("service"):
        services = ServiceType.objects.for_practice(practice)
        by_name = Q(code__iexact=row["service"]) | Q(name__iexact=row["service"])
        data["service_type"] = _lookup(services, row["service"], "service", by_name)
    if row.get("starts_at"):
        data["starts_at"] = _local_time(row["starts_at"], practice)
    for name in ("modality", "fee"):
        if row.get(name):
            data[name] = row[name]
    if row.get("minutes"):
        try:
            data["minutes"] = parsing.parse_int(row["minutes"], min_value=5, max_value=480)
        except ValidationError:
            raise ValidationError({"minutes": ["Use a whole number of minutes from 5 to 480."]}) from None
    return data


def _apply_row(practice: Practice, kind: str, source: str, row: dict):
    if kind == "clients":
        serializer = ClientUpsertInput(data=_client_input(row, practice), context={"practice": practice})
        serializer.is_valid(raise_exception=True)
        return upsert_client(practice=practice, source=source, data=serializer.validated_data)
    data = _appointment_input(row, practice)
    minutes = data.pop("minutes", None)
    serializer = AppointmentUpsertInput(data=data, context={"practice": practice})
    serializer.is_valid(raise_exception=True)
    validated = dict(serializer.validated_data)
    if minutes and "starts_at" in validated:
        validated["ends_at"] = validated["starts_at"] + timedelta(minutes=minutes)
    return upsert_appointment(practice=practice, source=source, data=validated)


def _row_errors(error: ValidationError | ApiValidationError) -> list[tuple[str, str]]:
    """(column, message) pairs: field names turned back into the CSV's column names."""
    out = []
    for name, messages_ in field_errors(error).items():
        column = COLUMN_OF.get(name.split(".")[0], name.split(".")[0])
        out.extend((column if name != NON_FIELD else "row", message) for message in messages_)
    return out


def import_csv(
    *, practice: Practice, kind: str, source: str, text: str, dry_run: bool, actor: str
) -> ImportReport:
    """Import (or with ``dry_run``, try and roll back) a clients or appointments CSV."""
    if kind not in REQUIRED:
        raise ValueError(f"Unknown kind {kind!r}.")
    report = ImportReport(kind=kind)
    if not SOURCE_PATTERN.match(source):
        report.file_errors.append("The source must be lower-case letters, digits, - and _ (e.g. csv).")
        return report
    rows, report.file_errors = read_rows(text, kind)
    with (
        audit_as(label=lambda: actor, data=lambda: {"csv_import": kind, "source": source}, remote_addr=None),
        transaction.atomic(),
    ):
        for number, row in enumerate(rows, start=2):
            outcome = RowResult(row=number)
            try:
                with transaction.atomic():
                    _, outcome.result = _apply_row(practice, kind, source, row)
            except (ValidationError, ApiValidationError) as error:
                outcome.result, outcome.errors = "error", _row_errors(error)
            report.rows.append(outcome)
        if dry_run:
            transaction.set_rollback(True)
    return report


# --- The staff page --------------------------------------------------------------------------------


class ImportForm(forms.Form):
    kind = forms.ChoiceField(choices=[("clients", "Clients"), ("appointments", "Appointments")])
    source = forms.CharField(
        max_length=40,
        initial="csv",
        help_text="Where the ids come from, e.g. your EHR's name. Use the same name every time.",
    )
    file = forms.FileField(required=False, help_text="A .csv file in UTF-8, with a header row.")
    # The file's text, carried from the preview to the confirmation (in the page, never the URL).
    text = forms.CharField(required=False, widget=forms.HiddenInput)

    def clean_source(self):
        source = self.cleaned_data["source"].strip().lower()
        if not SOURCE_PATTERN.match(source):
            raise forms.ValidationError(
                "Use lower-case letters, digits, - and _ (e.g. csv or simplepractice)."
            )
        return source

    def clean(self):
        data = super().clean()
        upload = data.get("file")
        if upload:
            if upload.size > MAX_BYTES:
                raise forms.ValidationError({"file": f"At most {MAX_BYTES // (1024 * 1024)} MB per file."})
            try:
                data["text"] = upload.read().decode("utf-8-sig")
            except UnicodeDecodeError:
                raise forms.ValidationError(
                    {"file": "Save the file as UTF-8 CSV and upload it again."}
                ) from None
        if not data.get("text"):
            raise forms.ValidationError({"file": "Choose a CSV file."})
        return data


@staff_view(SCHEDULERS)
def import_csv_view(request):
    """Upload → preview (a dry run with every row's outcome and errors) → confirm → result."""
    form = ImportForm(request.POST or None, request.FILES or None)
    report = None
    confirmed = False
    if request.method == "POST" and form.is_valid():
        confirmed = "confirm" in request.POST
        user = request.user
        report = import_csv(
            practice=request.practice,
            kind=form.cleaned_data["kind"],
            source=form.cleaned_data["source"],
            text=form.cleaned_data["text"],
            dry_run=not confirmed,
            actor=f"CSV import by {user.email}",
        )
        if confirmed and not report.file_errors:
            messages.success(
                request, "Import finished: " + ", ".join(f"{n} {r}" for r, n in report.counts.items())
            )
        form = ImportForm(initial={**form.cleaned_data, "file": None})
    context = {
        "form": form,
        "report": report,
        "confirmed": confirmed,
        "client_columns": CLIENT_COLUMNS,
        "appointment_columns": APPOINTMENT_COLUMNS,
        "max_rows": MAX_ROWS,
        "tz": request.practice.zoneinfo,
        "region": settings.PHONENUMBER_DEFAULT_REGION,
        "nav": "import",
    }
    return render(request, "scheduling/import_csv.html", context)

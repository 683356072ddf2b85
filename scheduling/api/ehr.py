"""EHR sync through the API (docs/api.md, "EHR sync"): create-or-update by the EHR's own ids.

    POST /api/v1/ehr/{source}/clients/        a client, by its external_id
    POST /api/v1/ehr/{source}/appointments/   an appointment, by its external_id

``source`` names the EHR ("simplepractice"). Sending the same thing again is safe: same data,
no change and no new reminders. The signed webhook (scheduling/ehr.py) parses its events with
the same input serializers and applies them with the same functions.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response

from practice.models import ClientStatus, ClinicianProfile, Modality, Practice
from practice.services import client_upsert
from scheduling.api.serializers import (
    AppointmentSerializer,
    AwareDateTimeField,
    ClientSerializer,
    E164PhoneField,
    TextField,
)
from scheduling.api.views import CONFLICT, ApiView, ScopedIdField, appointment_data, document
from scheduling.models import AppointmentStatus, ServiceType
from scheduling.sync import (
    SOURCE_PATTERN,
    SYNC_STATUSES,
    appointment_upsert,
    synced_appointment_cancel,
    synced_clients,
)

RESULTS = ["created", "updated", "unchanged", "rescheduled", "cancelled", "confirmed", "ignored"]
SOURCE_PARAMETER = OpenApiParameter(
    "source",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    pattern=SOURCE_PATTERN.pattern,
    description="The system the external ids belong to, e.g. `simplepractice`: lower-case letters, "
    "digits, `-` and `_`, at most 40 characters.",
)


def checked_source(source: str) -> str:
    if not SOURCE_PATTERN.match(source):
        raise exceptions.ValidationError(
            {"source": ["Use lower-case letters, digits, - and _ (at most 40), e.g. simplepractice."]}
        )
    return source


class ClientUpsertInput(serializers.Serializer):
    external_id = TextField(max_length=100, help_text="The client's id in the EHR.")
    first_name = TextField(max_length=100)
    last_name = TextField(max_length=100)
    preferred_name = TextField(max_length=100, required=False, allow_blank=True, default="")
    phone = E164PhoneField(required=False, allow_blank=True, default="")
    # No default="" here: the schema would put "" inside its format: email branch (issue 17).
    email = serializers.EmailField(required=False, allow_blank=True, max_length=254)
    timezone = TextField(max_length=64, required=False, allow_blank=True, default="")
    status = serializers.ChoiceField(
        required=False, choices=ClientStatus.choices, default=ClientStatus.ACTIVE
    )
    sms_consent = serializers.BooleanField(
        required=False,
        allow_null=True,
        default=None,
        help_text="true: the client agreed to text reminders; false: withdrawn; absent or null: unchanged.",
    )

    class Meta:
        ref_name = "EhrClientInput"

    def validate(self, attrs):
        attrs.setdefault("email", "")  # absent means none, like the other optional text fields
        return attrs


class AppointmentUpsertInput(serializers.Serializer):
    external_id = TextField(max_length=100, help_text="The appointment's id in the EHR.")
    status = serializers.ChoiceField(
        required=False,
        choices=[(value, value) for value in SYNC_STATUSES],
        default=AppointmentStatus.SCHEDULED,
        help_text="cancelled cancels it (the other fields may then be left out).",
    )
    clinician = ScopedIdField(
        model=ClinicianProfile, name="clinician", required=False, help_text="Attend's id."
    )
    clients = serializers.ListField(
        child=TextField(max_length=100),
        required=False,
        min_length=1,
        max_length=50,
        help_text="The clients' external ids from the same source (send the clients first).",
    )
    service_type = ScopedIdField(
        model=ServiceType, name="service type", required=False, help_text="Attend's id."
    )
    starts_at = AwareDateTimeField(required=False)
    ends_at = AwareDateTimeField(
        required=False, help_text="Default: the service type's length (new) or unchanged."
    )
    modality = serializers.ChoiceField(required=False, choices=Modality.choices, default=Modality.TELEHEALTH)
    fee = serializers.DecimalField(required=False, max_digits=8, decimal_places=2, min_value=0)
    cancel_reason = TextField(required=False, allow_blank=True, max_length=300, default="")

    class Meta:
        ref_name = "EhrAppointmentInput"

    def validate(self, data):
        if data["status"] != AppointmentStatus.CANCELLED:
            missing = [
                name for name in ("clinician", "clients", "service_type", "starts_at") if name not in data
            ]
            if missing:
                raise serializers.ValidationError({name: ["This field is required."] for name in missing})
        return data


def upsert_client(*, practice: Practice, source: str, data: dict):
    fields = dict(data)
    external_id = fields.pop("external_id")
    sms_consent = fields.pop("sms_consent")
    return client_upsert(
        practice=practice, source=source, external_id=external_id, fields=fields, sms_consent=sms_consent
    )


def upsert_appointment(*, practice: Practice, source: str, data: dict):
    """Resolve the clients' external ids and apply ``appointment_upsert``."""
    if data["status"] == AppointmentStatus.CANCELLED:
        return synced_appointment_cancel(
            practice=practice, source=source, external_id=data["external_id"], reason=data["cancel_reason"]
        )
    known = synced_clients(practice=practice, source=source, external_ids=data["clients"])
    unknown = {
        str(index): [f"No client with this external id from {source}; send the client first."]
        for index, external_id in enumerate(data["clients"])
        if external_id not in known
    }
    if unknown:
        raise exceptions.ValidationError({"clients": unknown})
    return appointment_upsert(
        practice=practice,
        source=source,
        external_id=data["external_id"],
        clinician=data["clinician"],
        clients=[known[external_id] for external_id in data["clients"]],
        service_type=data["service_type"],
        starts_at=data["starts_at"],
        ends_at=data.get("ends_at"),
        modality=data["modality"],
        fee=data.get("fee"),
        status=data["status"],
    )


def _result_code(result: str) -> int:
    return status.HTTP_201_CREATED if result == "created" else status.HTTP_200_OK


class EhrClientUpsertApi(ApiView):
    class OutputSerializer(serializers.Serializer):
        result = serializers.ChoiceField(choices=["created", "updated", "unchanged"])
        client = ClientSerializer()

        class Meta:
            ref_name = "EhrClientResult"

    @document(
        "ehr_clients_upsert",
        "Create or update a client by the EHR's id",
        description="Finds the client by (source, external_id): creates it (201) or updates the fields "
        "sent (200); the same data again changes nothing (`unchanged`).",
        tags=["ehr sync"],
        request=ClientUpsertInput,
        parameters=[SOURCE_PARAMETER],
        responses={201: OutputSerializer, 200: OutputSerializer, **CONFLICT},
    )
    def post(self, request, source: str):
        source = checked_source(source)
        data = self.validated(ClientUpsertInput)
        client, result = upsert_client(practice=self.practice, source=source, data=data)
        body = {"result": result, "client": client}
        return Response(EhrClientUpsertApi.OutputSerializer(body).data, status=_result_code(result))


class EhrAppointmentUpsertApi(ApiView):
    class OutputSerializer(serializers.Serializer):
        result = serializers.ChoiceField(choices=RESULTS)
        appointment = AppointmentSerializer(allow_null=True, help_text="null when `ignored`.")

        class Meta:
            ref_name = "EhrAppointmentResult"

    @document(
        "ehr_appointments_upsert",
        "Create, move, confirm or cancel an appointment by the EHR's id",
        description="Finds the live appointment by (source, external_id). Unknown: booked (201, `created`). "
        "Same data: nothing happens (`unchanged`, no new reminders). New time or clinician: rescheduled "
        "(`rescheduled`; the appointment gets a new id that keeps the external id). status cancelled: "
        "cancelled (`cancelled`; `ignored` if it was never sent). Changing the clients, service type or "
        "modality is refused: cancel and send a new one.",
        tags=["ehr sync"],
        request=AppointmentUpsertInput,
        parameters=[SOURCE_PARAMETER],
        responses={201: OutputSerializer, 200: OutputSerializer, **CONFLICT},
    )
    def post(self, request, source: str):
        source = checked_source(source)
        data = self.validated(AppointmentUpsertInput)
        appointment, result = upsert_appointment(practice=self.practice, source=source, data=data)
        body = {"result": result, "appointment": appointment and appointment_data(self.practice, appointment)}
        return Response(body, status=_result_code(result))

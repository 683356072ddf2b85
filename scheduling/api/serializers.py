"""Fields and output serializers shared by the API views.

Serializers only turn JSON into domain types and back (parsing, types, ranges); every
rule about clients and appointments stays in the services. Input serializers are nested
in their view (views.py), one per operation.
"""

from __future__ import annotations

from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import extend_schema_field
from phonenumber_field.phonenumber import PhoneNumber
from phonenumber_field.phonenumber import to_python as to_phone_number
from rest_framework import serializers

from practice.models import Client, ClinicianProfile, ConsentSource
from scheduling.api import links
from scheduling.models import Appointment, AppointmentParticipant

# Ids are 64-bit; a bigger number is simply "not found", never a database error.
MAX_ID = 2**63 - 1
# Far outside any session, and far from datetime's limits (adding a session length to
# 9999-12-31 would overflow).
MIN_YEAR, MAX_YEAR = 1970, 2200


class TextField(serializers.CharField):
    """A CharField that takes JSON strings only (no numbers turned into text) and refuses
    strings the database cannot store (lone surrogates; NUL is refused by CharField)."""

    default_error_messages = {"not_a_string": "Send a string."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("not_a_string")
        value = super().to_internal_value(data)
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise serializers.ValidationError("Not valid Unicode text.") from None
        return value


class AwareDateTimeField(serializers.DateTimeField):
    """ISO 8601 with a UTC offset (``2026-05-12T10:00:00-04:00`` or ``…Z``). A time without an
    offset is refused rather than guessed: the API never assumes a time zone."""

    default_error_messages = {
        "naive": "Include a UTC offset, e.g. 2026-05-12T10:00:00-04:00 or 2026-05-12T14:00:00Z.",
        "range": f"Use a date between {MIN_YEAR} and {MAX_YEAR}.",
    }

    def __init__(self, **kwargs):
        kwargs.setdefault("input_formats", ["iso-8601"])
        super().__init__(**kwargs)

    def to_internal_value(self, value):
        if isinstance(value, str):
            try:
                parsed = parse_datetime(value.strip())
            except ValueError:
                parsed = None
            if parsed is not None and parsed.tzinfo is None:
                self.fail("naive")
        result = super().to_internal_value(value)
        if not MIN_YEAR <= result.year <= MAX_YEAR:
            self.fail("range")
        return result


class E164PhoneField(TextField):
    """A phone number in E.164 (``+12125550101``); returned in E.164 too."""

    default_error_messages = {"invalid_phone": "Enter a valid phone number in E.164 form, e.g. +12125550101."}

    def to_internal_value(self, data):
        text = super().to_internal_value(data)
        if text == "":
            return ""
        number = to_phone_number(text) if text.startswith("+") else None
        if not isinstance(number, PhoneNumber) or not number.is_valid():
            self.fail("invalid_phone")
        return number.as_e164

    def to_representation(self, value):
        return value.as_e164 if isinstance(value, PhoneNumber) and value.is_valid() else str(value or "")


class IdField(serializers.IntegerField):
    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(**kwargs)


# --- Output ------------------------------------------------------------------------------------


class ClientSerializer(serializers.ModelSerializer):
    """Minimum necessary: names, contact, time zone and SMS consent; nothing clinical."""

    phone = E164PhoneField(allow_blank=True, read_only=True, help_text="E.164, or empty.")
    # A plain string in the schema: an empty address is not a valid "format: email".
    email = serializers.CharField(read_only=True, help_text="E-mail address, or empty.")
    sms_consent_source = serializers.ChoiceField(
        choices=ConsentSource.choices, allow_blank=True, read_only=True
    )

    class Meta:
        model = Client
        ref_name = "Client"
        fields = [
            "id",
            "first_name",
            "last_name",
            "preferred_name",
            "phone",
            "email",
            "timezone",
            "sms_consent_at",
            "sms_consent_source",
            "status",
            "external_id",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class ClinicianSerializer(serializers.ModelSerializer):
    class Meta:
        model = ClinicianProfile
        ref_name = "Clinician"
        fields = [
            "id",
            "display_name",
            "credentials",
            "specialties",
            "languages",
            "modalities",
            "timezone",
            "default_session_minutes",
            "is_active",
        ]
        read_only_fields = fields


class ParticipantSerializer(serializers.ModelSerializer):
    client = serializers.IntegerField(source="client_id", read_only=True)
    join_url = serializers.SerializerMethodField(
        help_text="The client's one-tap join link (telehealth sessions; null until the meeting is made)."
    )
    tech_check_url = serializers.SerializerMethodField(help_text="The client's tech-check page.")

    class Meta:
        model = AppointmentParticipant
        ref_name = "Participant"
        fields = ["client", "attendance", "joined_at", "attendance_marked_at", "join_url", "tech_check_url"]
        read_only_fields = fields

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_join_url(self, participant: AppointmentParticipant) -> str | None:
        return links.participant_links(participant).get("join_url")

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_tech_check_url(self, participant: AppointmentParticipant) -> str | None:
        return links.participant_links(participant).get("tech_check_url")


class AppointmentSerializer(serializers.ModelSerializer):
    clinician = serializers.IntegerField(source="clinician_id", read_only=True)
    service_type = serializers.IntegerField(source="service_type_id", read_only=True)
    participants = ParticipantSerializer(many=True, read_only=True)
    rescheduled_from = serializers.IntegerField(source="rescheduled_from_id", read_only=True, allow_null=True)
    rescheduled_to = serializers.SerializerMethodField()
    host_url = serializers.SerializerMethodField(
        help_text="The clinician's host link (they sign in to Attend to use it); null for in-person sessions."
    )

    class Meta:
        model = Appointment
        ref_name = "Appointment"
        fields = [
            "id",
            "clinician",
            "participants",
            "service_type",
            "starts_at",
            "ends_at",
            "modality",
            "fee",
            "status",
            "source",
            "external_id",
            "rescheduled_from",
            "rescheduled_to",
            "cancelled_at",
            "cancelled_by_client",
            "is_late_cancel",
            "host_url",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_host_url(self, appointment: Appointment) -> str | None:
        return links.appointment_links(appointment).get("host_url")

    def get_rescheduled_to(self, appointment: Appointment) -> int | None:
        try:
            return appointment.rescheduled_to.pk
        except Appointment.DoesNotExist:
            return None


def page_serializer(item: type[serializers.Serializer], name: str) -> type[serializers.Serializer]:
    """The schema of one page of a list: ``{count, next, previous, results}``."""
    meta = type("Meta", (), {"ref_name": name})
    return type(
        f"{name}Serializer",
        (serializers.Serializer,),
        {
            "count": serializers.IntegerField(help_text="How many items match, on all pages."),
            "next": serializers.URLField(allow_null=True, help_text="The next page, or null."),
            "previous": serializers.URLField(allow_null=True, help_text="The previous page, or null."),
            "results": item(many=True),
            "Meta": meta,
            "__module__": __name__,
        },
    )


ClientPageSerializer = page_serializer(ClientSerializer, "ClientPage")
ClinicianPageSerializer = page_serializer(ClinicianSerializer, "ClinicianPage")
AppointmentPageSerializer = page_serializer(AppointmentSerializer, "AppointmentPage")

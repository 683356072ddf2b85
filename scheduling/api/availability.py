"""Open-slot search (SPEC F4): GET /api/v1/clinicians/{id}/open-slots/."""

from __future__ import annotations

from django.utils import timezone
from rest_framework import serializers
from rest_framework.response import Response

from practice.models import ClinicianProfile
from scheduling.api.serializers import AwareDateTimeField
from scheduling.api.views import NOT_FOUND, ApiView, document
from scheduling.availability import (
    MAX_MINUTES,
    MAX_RANGE,
    MIN_MINUTES,
    Audience,
    open_slots,
    slot_rules,
)
from scheduling.models import BookingPolicy, ServiceType


class SlotSerializer(serializers.Serializer):
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()

    class Meta:
        ref_name = "Slot"


class ClinicianOpenSlotsApi(ApiView):
    class FilterSerializer(serializers.Serializer):
        # "from" is a Python keyword, so it is declared through the class namespace.
        locals()["from"] = AwareDateTimeField(help_text="Slots starting at or after this.")
        to = AwareDateTimeField(
            help_text=f"Slots starting before this; at most {MAX_RANGE.days} days after from."
        )
        minutes = serializers.IntegerField(
            required=False,
            min_value=MIN_MINUTES,
            max_value=MAX_MINUTES,
            help_text="Length of each slot. Default: the service type's length, else the clinician's "
            "default session length.",
        )
        service_type = serializers.IntegerField(
            required=False, help_text="Id of a service type of the practice: slots of its length."
        )
        audience = serializers.ChoiceField(
            choices=[a.value for a in Audience],
            required=False,
            default=Audience.STAFF.value,
            help_text="Whose rules: `staff` (every open start, the practice's buffer kept), `new_client` "
            "or `move` (the practice's minimum notice and booking horizon as well).",
        )

        def validate(self, data):
            if data["to"] <= data["from"]:
                raise serializers.ValidationError({"to": ["Must be after from."]})
            if data["to"] - data["from"] > MAX_RANGE:
                raise serializers.ValidationError(
                    {"to": [f"Search at most {MAX_RANGE.days} days at a time."]}
                )
            return data

        class Meta:
            ref_name = "OpenSlotsFilter"

    class OutputSerializer(serializers.Serializer):
        clinician = serializers.IntegerField()
        timezone = serializers.CharField(help_text="The zone the clinician's weekly hours are in.")
        minutes = serializers.IntegerField()
        results = SlotSerializer(many=True)

        class Meta:
            ref_name = "OpenSlots"

    @document(
        "clinicians_open_slots",
        "Open slots of a clinician",
        description="Times the clinician can be booked for `minutes`: their weekly hours (local time, "
        "correct across daylight-saving changes) minus time off minus sessions already booked and "
        "unexpired holds, each kept the practice's buffer away, from now on (plus the practice's notice, "
        f"up to its horizon, for client audiences). Ranges of up to {MAX_RANGE.days} days. "
        "An inactive clinician has no open slots.",
        tags=["clinicians"],
        parameters=[FilterSerializer],
        responses={200: OutputSerializer, **NOT_FOUND},
    )
    def get(self, request, pk: int):
        clinician = self.get_scoped(
            ClinicianProfile.objects.for_practice(self.practice).select_related("practice"), pk
        )
        query = self.query(ClinicianOpenSlotsApi.FilterSerializer)
        minutes = query.get("minutes")
        if "service_type" in query:
            service = ServiceType.objects.for_practice(self.practice).filter(pk=query["service_type"]).first()
            if service is None:
                raise serializers.ValidationError({"service_type": ["No such service type."]})
            minutes = minutes or service.default_minutes
        minutes = minutes or clinician.default_session_minutes
        slots = []
        if clinician.is_active:
            slots = open_slots(
                clinician=clinician,
                starts=query["from"],
                ends=query["to"],
                minutes=minutes,
                now=timezone.now(),
                rules=slot_rules(BookingPolicy.for_practice(self.practice), query["audience"]),
            )
        body = {
            "clinician": clinician.pk,
            "timezone": str(clinician.zoneinfo),
            "minutes": minutes,
            "results": slots,
        }
        return Response(ClinicianOpenSlotsApi.OutputSerializer(body).data)

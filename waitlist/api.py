"""Waitlist entries in the REST API, /api/v1/waitlist/ (list, create, read, update, delete), on
the API's base (scheduling.api.views.ApiView); mounted by waitlist/api_urls.py. Every write calls
the same services as the staff page."""

from __future__ import annotations

from rest_framework import serializers
from rest_framework.response import Response

from practice.models import Client, ClinicianProfile, Modality
from scheduling.api.serializers import page_serializer
from scheduling.api.views import (
    CONFLICT,
    IDEMPOTENCY_PARAMETER,
    NOT_FOUND,
    ApiView,
    PageSerializer,
    ScopedIdField,
    document,
)
from scheduling.models import Appointment, ServiceType
from waitlist.models import Band, EntryStatus, WaitlistEntry
from waitlist.services import waitlist_entry_create, waitlist_entry_remove, waitlist_entry_update


class EntrySerializer(serializers.ModelSerializer):
    clinicians = serializers.PrimaryKeyRelatedField(many=True, read_only=True)

    class Meta:
        model = WaitlistEntry
        ref_name = "WaitlistEntry"
        fields = [
            "id",
            "status",
            "client",
            "service_type",
            "modality",
            "clinicians",
            "weekdays",
            "time_windows",
            "earliest_date",
            "latest_date",
            "earlier_than",
            "band",
            "created_at",
        ]
        read_only_fields = fields


EntryPageSerializer = page_serializer(EntrySerializer, "WaitlistEntryPage")


class EntryInput(serializers.Serializer):
    client = ScopedIdField(model=Client, name="client")
    service_type = ScopedIdField(model=ServiceType, name="service type")
    modality = serializers.ChoiceField(
        choices=[("", "Either"), *Modality.choices], required=False, default=""
    )
    clinicians = serializers.ListField(
        child=ScopedIdField(model=ClinicianProfile, name="clinician"), required=False, default=list
    )
    weekdays = serializers.ListField(
        child=serializers.IntegerField(min_value=0, max_value=6), required=False, default=list
    )
    time_windows = serializers.ListField(
        child=serializers.ListField(child=serializers.CharField(max_length=5), min_length=2, max_length=2),
        required=False,
        default=list,
        help_text='On the client\'s clock: [["09:00", "12:00"]]. Empty: any time.',
    )
    earliest_date = serializers.DateField(required=False, allow_null=True, default=None)
    latest_date = serializers.DateField(required=False, allow_null=True, default=None)
    earlier_than = ScopedIdField(
        model=Appointment, name="appointment", required=False, allow_null=True, default=None
    )
    band = serializers.ChoiceField(choices=Band.choices, required=False, default=Band.ROUTINE)

    class Meta:
        ref_name = "WaitlistEntryInput"


class EntryUpdateInput(EntryInput):
    client = None
    service_type = ScopedIdField(model=ServiceType, name="service type", required=False)
    modality = serializers.ChoiceField(choices=[("", "Either"), *Modality.choices], required=False)
    clinicians = serializers.ListField(
        child=ScopedIdField(model=ClinicianProfile, name="clinician"), required=False
    )
    weekdays = serializers.ListField(child=serializers.IntegerField(min_value=0, max_value=6), required=False)
    time_windows = serializers.ListField(
        child=serializers.ListField(child=serializers.CharField(max_length=5), min_length=2, max_length=2),
        required=False,
    )
    earliest_date = serializers.DateField(required=False, allow_null=True)
    latest_date = serializers.DateField(required=False, allow_null=True)
    earlier_than = ScopedIdField(model=Appointment, name="appointment", required=False, allow_null=True)
    band = serializers.ChoiceField(choices=Band.choices, required=False)
    status = serializers.ChoiceField(
        choices=[(EntryStatus.ACTIVE, "Active"), (EntryStatus.PAUSED, "Paused")], required=False
    )

    class Meta:
        ref_name = "WaitlistEntryUpdateInput"


def entries_of(practice):
    return (
        WaitlistEntry.objects.for_practice(practice)
        .prefetch_related("clinicians")
        .order_by("created_at", "pk")
    )


class WaitlistApi(ApiView):
    class FilterSerializer(PageSerializer):
        status = serializers.ChoiceField(required=False, choices=EntryStatus.choices)
        client = serializers.IntegerField(required=False, min_value=1)

        class Meta:
            ref_name = "WaitlistListFilter"

    LOOKUPS = {"status": "status", "client": "client_id"}

    @document(
        "waitlist_list",
        "List waitlist entries",
        description="Clients waiting for a time, oldest first.",
        tags=["waitlist"],
        parameters=[FilterSerializer],
        responses={200: EntryPageSerializer},
    )
    def get(self, request):
        return self.filtered_page(
            entries_of(self.practice), WaitlistApi.FilterSerializer, self.LOOKUPS, EntrySerializer
        )

    @document(
        "waitlist_create",
        "Put a client on the waitlist",
        tags=["waitlist"],
        request=EntryInput,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={201: EntrySerializer, **CONFLICT},
    )
    def post(self, request):
        data = dict(self.validated(EntryInput))
        practice = self.practice
        return self.create_once(
            "waitlist_entry",
            lambda: waitlist_entry_create(practice=practice, **data),
            render=lambda entry: EntrySerializer(entry).data,
            found_in=entries_of(practice),
        )


class WaitlistEntryApi(ApiView):
    @document(
        "waitlist_retrieve",
        "Read a waitlist entry",
        tags=["waitlist"],
        responses={200: EntrySerializer, **NOT_FOUND},
    )
    def get(self, request, pk: int):
        return self.retrieve(entries_of(self.practice), pk, EntrySerializer)

    @document(
        "waitlist_partial_update",
        "Change a waitlist entry",
        description="Any of the fields; status may go between active and paused.",
        tags=["waitlist"],
        request=EntryUpdateInput,
        responses={200: EntrySerializer, **NOT_FOUND},
    )
    def patch(self, request, pk: int):
        entry = self.get_scoped(entries_of(self.practice), pk)
        fields = dict(self.validated(EntryUpdateInput))
        clinicians = fields.pop("clinicians", None)
        entry = waitlist_entry_update(entry=entry, fields=fields, clinicians=clinicians)
        return Response(EntrySerializer(entry).data)

    @document(
        "waitlist_destroy",
        "Take a client off the waitlist",
        description="The entry stays, as removed; a live offer of theirs is withdrawn.",
        tags=["waitlist"],
        request=None,
        responses={200: EntrySerializer, **NOT_FOUND},
    )
    def delete(self, request, pk: int):
        entry = self.get_scoped(entries_of(self.practice), pk)
        return Response(EntrySerializer(waitlist_entry_remove(entry=entry)).data)

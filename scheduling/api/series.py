"""Recurring series (SPEC F3): book a weekly or fortnightly series, list and read series,
cancel the rest of one. Every write calls ``scheduling.services`` (``series_book``,
``series_cancel_rest``), like the staff pages."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Prefetch, QuerySet
from rest_framework import serializers, status
from rest_framework.response import Response

from practice.models import Client, ClinicianProfile, Modality, Practice
from scheduling.api.serializers import AwareDateTimeField, IdField, TextField, page_serializer
from scheduling.api.views import (
    CONFLICT,
    IDEMPOTENCY_PARAMETER,
    NOT_FOUND,
    ApiView,
    PageSerializer,
    ScopedIdField,
    document,
)
from scheduling.models import Appointment, AppointmentSource, Frequency, Series, ServiceType
from scheduling.services import series_book, series_cancel_rest


class SeriesSerializer(serializers.ModelSerializer):
    clinician = serializers.IntegerField(source="clinician_id", read_only=True)
    appointments = serializers.SerializerMethodField(help_text="Ids of the occurrences, in time order.")

    class Meta:
        model = Series
        ref_name = "Series"
        fields = [
            "id",
            "clinician",
            "frequency",
            "first_starts_at",
            "duration_minutes",
            "occurrences",
            "appointments",
            "created_at",
        ]
        read_only_fields = fields

    def get_appointments(self, series: Series) -> list[int]:
        return [appointment.pk for appointment in series.appointments.all()]


SeriesPageSerializer = page_serializer(SeriesSerializer, "SeriesPage")


def series_of(practice: Practice) -> QuerySet:
    occurrences = Appointment.objects.order_by("starts_at", "pk").only("pk", "series_id", "starts_at")
    return (
        Series.objects.for_practice(practice)
        .prefetch_related(Prefetch("appointments", queryset=occurrences))
        .order_by("-created_at", "-pk")
    )


class SeriesListApi(ApiView):
    class FilterSerializer(PageSerializer):
        clinician = IdField(required=False)

        class Meta:
            ref_name = "SeriesListFilter"

    LOOKUPS = {"clinician": "clinician_id"}

    @document(
        "series_list",
        "List recurring series, newest first",
        tags=["series"],
        parameters=[FilterSerializer],
        responses={200: SeriesPageSerializer},
    )
    def get(self, request):
        return self.filtered_page(
            series_of(self.practice), SeriesListApi.FilterSerializer, SeriesListApi.LOOKUPS, SeriesSerializer
        )


class SeriesCreateApi(ApiView):
    class InputSerializer(serializers.Serializer):
        clinician = ScopedIdField(model=ClinicianProfile, name="clinician")
        clients = serializers.ListField(
            child=ScopedIdField(model=Client, name="client"), min_length=1, max_length=50
        )
        service_type = ScopedIdField(model=ServiceType, name="service type")
        first_starts_at = AwareDateTimeField()
        minutes = serializers.IntegerField(
            required=False,
            min_value=5,
            max_value=480,
            help_text="Session length. Default: the service type's.",
        )
        frequency = serializers.ChoiceField(choices=Frequency.choices)
        occurrences = serializers.IntegerField(min_value=2, max_value=52)
        modality = serializers.ChoiceField(
            required=False, choices=Modality.choices, default=Modality.TELEHEALTH
        )
        fee = serializers.DecimalField(required=False, max_digits=8, decimal_places=2, min_value=0)

        class Meta:
            ref_name = "SeriesCreateInput"

    @document(
        "series_create",
        "Book a weekly or fortnightly series",
        description="All or nothing: if any occurrence clashes with a booked session, nothing is booked and "
        "the error on first_starts_at names every clashing date. Occurrences keep the same local time "
        "across daylight-saving changes.",
        tags=["series"],
        request=InputSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={201: SeriesSerializer, **CONFLICT},
    )
    def post(self, request):
        practice = self.practice
        data = self.validated(SeriesCreateApi.InputSerializer)
        minutes = data.get("minutes") or data["service_type"].default_minutes
        return self.create_once(
            "series",
            lambda: series_book(
                practice=practice,
                clinician=data["clinician"],
                clients=data["clients"],
                first_starts_at=data["first_starts_at"],
                duration=timedelta(minutes=minutes),
                frequency=data["frequency"],
                occurrences=data["occurrences"],
                service_type=data["service_type"],
                modality=data["modality"],
                fee=data.get("fee"),
                source=AppointmentSource.API,
            ),
            render=lambda series: SeriesSerializer(series_of(practice).get(pk=series.pk)).data,
            found_in=series_of(practice),
        )


class SeriesCollectionApi(SeriesListApi, SeriesCreateApi):
    """GET lists the practice's series; POST books one."""


class SeriesDetailApi(ApiView):
    @document(
        "series_retrieve",
        "Read a series",
        tags=["series"],
        responses={200: SeriesSerializer, **NOT_FOUND},
    )
    def get(self, request, pk: int):
        return self.retrieve(series_of(self.practice), pk, SeriesSerializer)


class SeriesCancelRestApi(ApiView):
    class InputSerializer(serializers.Serializer):
        after = AwareDateTimeField(
            required=False, help_text="Cancel the occurrences starting at or after this. Default: now."
        )
        reason = TextField(required=False, allow_blank=True, max_length=300, default="")

        class Meta:
            ref_name = "SeriesCancelRestInput"

    class OutputSerializer(serializers.Serializer):
        series = SeriesSerializer()
        cancelled = serializers.ListField(
            child=serializers.IntegerField(), help_text="Appointments cancelled now."
        )

        class Meta:
            ref_name = "SeriesCancelRest"

    @document(
        "series_cancel_rest",
        "Cancel the rest of a series",
        description="Cancels every scheduled or confirmed occurrence from `after` (default now) on, all at "
        "once; sessions already held, cancelled or moved stay as they are. Calling it again cancels "
        "nothing more.",
        tags=["series"],
        request=InputSerializer,
        responses={200: OutputSerializer, **NOT_FOUND},
    )
    def post(self, request, pk: int):
        series = self.get_scoped(series_of(self.practice), pk)
        data = self.validated(SeriesCancelRestApi.InputSerializer)
        cancelled = series_cancel_rest(series=series, after=data.get("after"), reason=data["reason"])
        body = {"series": series_of(self.practice).get(pk=series.pk), "cancelled": [a.pk for a in cancelled]}
        return Response(SeriesCancelRestApi.OutputSerializer(body).data, status=status.HTTP_200_OK)

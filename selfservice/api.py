"""The API's self-service endpoints (docs/api.md): the services a practice offers, booking
requests (list, read, approve, decline) and clinicians' matching attributes.

Here rather than in scheduling/api because selfservice reads scheduling, not the other way round:
these views build on the API's base (scheduling.api.views.ApiView) and are mounted under /api/v1/
by selfservice/api_urls.py. Approve and decline call the same services as the staff queue.
"""

from __future__ import annotations

from rest_framework import serializers
from rest_framework.response import Response

from practice.models import ClinicianProfile
from scheduling.api.serializers import AwareDateTimeField, page_serializer
from scheduling.api.views import CONFLICT, NOT_FOUND, ApiView, PageSerializer, document
from scheduling.models import ServiceType
from selfservice.models import BookingRequest, BookingRequestStatus, MatchingProfile
from selfservice.services import booking_request_approve, booking_request_decline, booking_request_propose


class ServiceTypeSerializer(serializers.ModelSerializer):
    class Meta:
        model = ServiceType
        ref_name = "ServiceType"
        fields = ["id", "name", "code", "default_minutes", "default_fee", "is_group", "is_active"]
        read_only_fields = fields


ServiceTypePageSerializer = page_serializer(ServiceTypeSerializer, "ServiceTypePage")


class ServiceTypeListApi(ApiView):
    @document(
        "service_types_list",
        "List the practice's services",
        description="What a session can be booked as: length in minutes, fee, group or not.",
        tags=["service types"],
        parameters=[PageSerializer],
        responses={200: ServiceTypePageSerializer},
    )
    def get(self, request):
        query = self.query(PageSerializer)
        return self.page(
            ServiceType.objects.for_practice(self.practice).order_by("name", "pk"),
            query,
            ServiceTypeSerializer,
        )


class BookingRequestSerializer(serializers.ModelSerializer):
    """A request from the booking page. The person's details are health information: readable by
    the practice's token, never sent in webhooks."""

    concerns = serializers.SlugRelatedField(slug_field="name", many=True, read_only=True)
    payer = serializers.SlugRelatedField(slug_field="name", read_only=True)

    class Meta:
        model = BookingRequest
        ref_name = "BookingRequest"
        fields = [
            "id",
            "status",
            "clinician",
            "service_type",
            "modality",
            "starts_at",
            "ends_at",
            "expires_at",
            "first_name",
            "last_name",
            "email",
            "phone",
            "timezone",
            "sms_consent",
            "verified_by",
            "concerns",
            "payer",
            "age_group",
            "state",
            "language",
            "created_at",
            "decided_at",
            "decline_reason",
            "appointment",
            "requested_starts_at",
            "proposed_at",
        ]
        read_only_fields = fields


BookingRequestPageSerializer = page_serializer(BookingRequestSerializer, "BookingRequestPage")


def booking_requests_of(practice):
    return (
        BookingRequest.objects.for_practice(practice)
        .select_related("payer")
        .prefetch_related("concerns")
        .order_by("starts_at", "pk")
    )


class BookingRequestListApi(ApiView):
    class FilterSerializer(PageSerializer):
        status = serializers.ChoiceField(required=False, choices=BookingRequestStatus.choices)
        starts_after = AwareDateTimeField(required=False)
        starts_before = AwareDateTimeField(required=False)

        class Meta:
            ref_name = "BookingRequestListFilter"

    LOOKUPS = {"status": "status", "starts_after": "starts_at__gte", "starts_before": "starts_at__lt"}

    @document(
        "booking_requests_list",
        "List booking requests",
        description="Requests new clients made on the booking page, by requested start. A pending request "
        "holds its slot until `expires_at`.",
        tags=["booking requests"],
        parameters=[FilterSerializer],
        responses={200: BookingRequestPageSerializer},
    )
    def get(self, request):
        return self.filtered_page(
            booking_requests_of(self.practice),
            BookingRequestListApi.FilterSerializer,
            BookingRequestListApi.LOOKUPS,
            BookingRequestSerializer,
        )


class BookingRequestDetailApi(ApiView):
    @document(
        "booking_requests_retrieve",
        "Read a booking request",
        tags=["booking requests"],
        responses={200: BookingRequestSerializer, **NOT_FOUND},
    )
    def get(self, request, pk: int):
        return self.retrieve(booking_requests_of(self.practice), pk, BookingRequestSerializer)


class BookingRequestApproveApi(ApiView):
    @document(
        "booking_requests_approve",
        "Approve a booking request",
        description="Books the held slot for the person (a client record is made unless one with the "
        "same e-mail exists). 400 when the request was already answered or expired.",
        tags=["booking requests"],
        request=None,
        responses={200: BookingRequestSerializer, **NOT_FOUND, **CONFLICT},
    )
    def post(self, request, pk: int):
        booking_request = self.get_scoped(booking_requests_of(self.practice), pk)
        approved = booking_request_approve(request=booking_request, by=None)
        return Response(BookingRequestSerializer(approved).data)


class BookingRequestDeclineApi(ApiView):
    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(max_length=300, help_text="Shown to the person in the e-mail.")

        class Meta:
            ref_name = "BookingRequestDeclineInput"

    @document(
        "booking_requests_decline",
        "Decline a booking request",
        description="Frees the held slot and e-mails the person the reason.",
        tags=["booking requests"],
        request=InputSerializer,
        responses={200: BookingRequestSerializer, **NOT_FOUND},
    )
    def post(self, request, pk: int):
        booking_request = self.get_scoped(booking_requests_of(self.practice), pk)
        data = self.validated(BookingRequestDeclineApi.InputSerializer)
        declined = booking_request_decline(request=booking_request, by=None, reason=data["reason"])
        return Response(BookingRequestSerializer(declined).data)


class BookingRequestProposeApi(ApiView):
    class InputSerializer(serializers.Serializer):
        starts_at = AwareDateTimeField(
            help_text="Another open start of the same clinician for the same service "
            "(GET /api/v1/clinicians/{id}/open-slots/?audience=new_client)."
        )

        class Meta:
            ref_name = "BookingRequestProposeInput"

    @document(
        "booking_requests_propose",
        "Propose another time for a booking request",
        description="Moves the request's hold to `starts_at` (which must be open under the booking page's "
        "rules), sets `status` to `proposed` and e-mails the person a link to accept or decline it; "
        "accepting books it as approving does. `requested_starts_at` keeps the time first asked for. "
        "400 when the time is not open or the request was already answered or expired.",
        tags=["booking requests"],
        request=InputSerializer,
        responses={200: BookingRequestSerializer, **NOT_FOUND, **CONFLICT},
    )
    def post(self, request, pk: int):
        booking_request = self.get_scoped(booking_requests_of(self.practice), pk)
        data = self.validated(BookingRequestProposeApi.InputSerializer)
        proposed, _ = booking_request_propose(request=booking_request, starts_at=data["starts_at"], by=None)
        return Response(BookingRequestSerializer(proposed).data)


class MatchingProfileSerializer(serializers.ModelSerializer):
    clinician = serializers.IntegerField(source="clinician_id", read_only=True)
    concerns = serializers.SlugRelatedField(slug_field="name", many=True, read_only=True)
    payers = serializers.SlugRelatedField(slug_field="name", many=True, read_only=True)

    class Meta:
        model = MatchingProfile
        ref_name = "MatchingProfile"
        fields = [
            "clinician",
            "accepting_new_clients",
            "concerns",
            "payers",
            "approaches",
            "age_groups",
            "states_licensed",
            "bio",
        ]
        read_only_fields = fields


NO_PROFILE = {
    "accepting_new_clients": False,
    "concerns": [],
    "payers": [],
    "approaches": "",
    "age_groups": [],
    "states_licensed": [],
    "bio": "",
}


class ClinicianMatchingApi(ApiView):
    @document(
        "clinicians_matching_retrieve",
        "Read a clinician's matching attributes",
        description="What the booking page matches new clients on (languages and modalities are on the "
        "clinician).",
        tags=["clinicians"],
        responses={200: MatchingProfileSerializer, **NOT_FOUND},
    )
    def get(self, request, pk: int):
        clinician = self.get_scoped(ClinicianProfile.objects.for_practice(self.practice), pk)
        profile = (
            MatchingProfile.objects.filter(clinician=clinician).prefetch_related("concerns", "payers").first()
        )
        if profile is None:
            # Not set up for matching yet: the booking page does not show this clinician.
            return Response(NO_PROFILE | {"clinician": clinician.pk})
        return Response(MatchingProfileSerializer(profile).data)

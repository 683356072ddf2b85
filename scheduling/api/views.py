"""The API views: one APIView per operation, each with its nested input serializer, calling
the services for every write (docs/api.md).

Where two operations share a URL (GET and POST /clients/), a small class combines the two
operation classes; each operation class still owns its serializers and schema.
Every query starts from ``self.practice`` (the token's practice), so another practice's
ids behave exactly like ids that do not exist: 404 in a URL, a field error in a body.
"""

from __future__ import annotations

from django.db.models import Model, Prefetch, QuerySet
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, parsers, renderers, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param
from rest_framework.views import APIView

from practice.models import Client, ClientStatus, ClinicianProfile, ConsentSource, Modality, Practice
from practice.services import client_create, client_update
from scheduling.api import links
from scheduling.api.audit import audit_as_api_token
from scheduling.api.authentication import ApiTokenAuthentication, HasApiToken
from scheduling.api.errors import ErrorSerializer, api_exception_handler
from scheduling.api.idempotency import HEADER as IDEMPOTENCY_HEADER
from scheduling.api.idempotency import idempotent_create
from scheduling.api.serializers import (
    MAX_ID,
    AppointmentPageSerializer,
    AppointmentSerializer,
    AwareDateTimeField,
    ClientPageSerializer,
    ClientSerializer,
    ClinicianPageSerializer,
    ClinicianSerializer,
    E164PhoneField,
    IdField,
    TextField,
)
from scheduling.api.throttling import ApiTokenRateThrottle
from scheduling.models import (
    Appointment,
    AppointmentParticipant,
    AppointmentSource,
    AppointmentStatus,
    ServiceType,
)
from scheduling.services import (
    MARKABLE_ATTENDANCE,
    appointment_book,
    appointment_cancel,
    appointment_confirm,
    appointment_mark_attendance,
    appointment_reschedule,
)

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
MAX_OFFSET = 10**9


def document(operation_id: str, summary: str, *, responses: dict, description: str = "", **kwargs):
    """``extend_schema`` for one operation, built on drf-spectacular's AutoSchema even when the
    project's DEFAULT_SCHEMA_CLASS is DRF's own (extend_schema would otherwise subclass that one).

    ``responses`` names the operation's own answers; the errors every operation can give (400,
    401, 429) are added after its successes. Without a ``description``, drf-spectacular shows
    the view's docstring (so those are written for API readers too)."""
    successes = {code: answer for code, answer in responses.items() if code < 400}
    failures = {code: answer for code, answer in responses.items() if code >= 400}
    schema = extend_schema(
        operation_id=operation_id,
        summary=summary,
        description=description,
        responses={**successes, **ERRORS, **failures},
        **kwargs,
    )

    def decorator(method):
        method.schema = AutoSchema
        return schema(method)

    return decorator


class SafeJSONParser(parsers.JSONParser):
    """JSON whose nesting is too deep for Python's parser is a 400, not a 500."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError("JSON parse error - nested too deeply.") from None


class ApiView(APIView):
    """Base of every API operation: token auth, per-token throttling, JSON only, the documented
    error shape, the token named in the audit log, and the helpers every operation shares
    (parse the query or body, find the practice's object, answer a page).

    Set here rather than in settings so the API does not depend on REST_FRAMEWORK defaults
    that the rest of the project may change."""

    authentication_classes = [ApiTokenAuthentication]
    permission_classes = [HasApiToken]
    parser_classes = [SafeJSONParser]
    renderer_classes = [renderers.JSONRenderer]
    throttle_classes = [ApiTokenRateThrottle]
    schema = AutoSchema()

    def get_exception_handler(self):
        return api_exception_handler

    def dispatch(self, request, *args, **kwargs):
        with audit_as_api_token(lambda: getattr(self.request, "auth", None), request):
            return super().dispatch(request, *args, **kwargs)

    @property
    def practice(self) -> Practice:
        return self.request.auth.practice

    def get_scoped(self, queryset: QuerySet, pk: int) -> Model:
        """The practice's object with this id, else 404 (unknown and foreign ids alike)."""
        obj = queryset.filter(pk=pk).first() if 0 < pk <= MAX_ID else None
        if obj is None:
            raise exceptions.NotFound("Not found.")
        return obj

    def retrieve(self, queryset: QuerySet, pk: int, serializer) -> Response:
        """GET of one object: the practice's object with this id as ``serializer`` shows it."""
        return Response(serializer(self.get_scoped(queryset, pk)).data)

    def validated(self, serializer_class, data=None) -> dict:
        """The request body (or ``data``, e.g. the query string) parsed by ``serializer_class``,
        which sees the token's practice as ``context["practice"]``; else a 400 with field errors."""
        serializer = serializer_class(
            data=self.request.data if data is None else data, context={"practice": self.practice}
        )
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def query(self, serializer_class) -> dict:
        return self.validated(serializer_class, self.request.query_params)

    def page(self, queryset: QuerySet, query: dict, item) -> Response:
        """One page of ``queryset`` as ``item`` serializes it, per the query's limit and offset."""
        return paginate(self.request, queryset, limit=query["limit"], offset=query["offset"], item=item)

    def filtered_page(self, queryset: QuerySet, filters, lookups: dict[str, str], item) -> Response:
        """GET of a list: the query string parsed by ``filters``, ``queryset`` narrowed by every
        filter given (``lookups``: ``{parameter: ORM lookup}``), one page as ``item`` shows it."""
        query = self.query(filters)
        return self.page(filtered(queryset, query, lookups), query, item)

    def create_once(self, resource_type: str, create, *, render, found_in: QuerySet) -> Response:
        """POST that creates: 201 with ``render(create())``, once per Idempotency-Key; a replay
        finds the object again in ``found_in`` (the practice's objects of that type)."""
        return idempotent_create(
            request=self.request,
            resource_type=resource_type,
            create=create,
            render=render,
            lookup=lambda pk: found_in.filter(pk=pk).first(),
        )


class NotFoundApi(ApiView):
    """Unknown paths under /api/v1/ answer in the API's error shape (not an HTML page)."""

    authentication_classes: list = []
    permission_classes: list = []
    schema = None

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        raise exceptions.NotFound("Not found.")

    def http_method_not_allowed(self, request, *args, **kwargs):
        raise exceptions.NotFound("Not found.")


# --- Shared pieces --------------------------------------------------------------------------


class ScopedIdField(serializers.IntegerField):
    """An id of one of the token practice's objects (``context["practice"]``), turned into the
    object. Unknown ids and other practices' ids get the same "not found" message."""

    default_error_messages = {"not_found": "No such {name} in this practice."}

    def __init__(self, *, model: type[Model], name: str, **kwargs):
        self.model, self.name = model, name
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | str):
            self.fail("invalid")
        pk = super().to_internal_value(data)
        # The range is checked here, not by validators: those run on the object returned below.
        obj = None
        if 1 <= pk <= MAX_ID:
            obj = self.model.objects.for_practice(self.context["practice"]).filter(pk=pk).first()
        if obj is None:
            self.fail("not_found", name=self.name)
        return obj

    def to_representation(self, value):
        return value.pk


class PageSerializer(serializers.Serializer):
    limit = serializers.IntegerField(
        required=False, default=DEFAULT_LIMIT, min_value=1, max_value=MAX_LIMIT, help_text="Page size."
    )
    offset = serializers.IntegerField(
        required=False, default=0, min_value=0, max_value=MAX_OFFSET, help_text="Items to skip."
    )


def filtered(queryset: QuerySet, query: dict, lookups: dict[str, str]) -> QuerySet:
    """``queryset`` narrowed by every filter the query gave (``{parameter: ORM lookup}``), ANDed."""
    return queryset.filter(**{lookup: query[name] for name, lookup in lookups.items() if name in query})


def paginate(request: Request, queryset: QuerySet, *, limit: int, offset: int, item) -> Response:
    """``{count, next, previous, results}`` with limit/offset links (docs/api.md)."""
    count = queryset.count()
    rows = list(queryset[offset : offset + limit]) if offset < count else []
    url = request.build_absolute_uri()
    next_url = replace_query_param(url, "offset", offset + limit) if offset + limit < count else None
    previous_url = None
    if offset > 0:
        previous_url = (
            remove_query_param(url, "offset")
            if offset - limit <= 0
            else replace_query_param(url, "offset", offset - limit)
        )
    if next_url:
        next_url = replace_query_param(next_url, "limit", limit)
    return Response(
        {
            "count": count,
            "next": next_url,
            "previous": previous_url,
            "results": item(rows, many=True).data,
        }
    )


ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="Invalid input (field errors)."),
    401: OpenApiResponse(ErrorSerializer, description="No token, or an unknown or revoked one."),
    429: OpenApiResponse(
        ErrorSerializer,
        description="Too many requests for this token; the Retry-After header says when to retry.",
    ),
}
NOT_FOUND = {404: OpenApiResponse(ErrorSerializer, description="No such object in this practice.")}
CONFLICT = {409: OpenApiResponse(ErrorSerializer, description="Conflicts with the current state.")}
IDEMPOTENCY_PARAMETER = OpenApiParameter(
    IDEMPOTENCY_HEADER,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description="Any unique string (a UUID): a retry with the same key and body returns the first "
    "result instead of creating again; the same key with a different body is a 409.",
)


def appointments_of(practice: Practice) -> QuerySet:
    return (
        Appointment.objects.for_practice(practice)
        .select_related("rescheduled_to")
        .prefetch_related(
            Prefetch(
                "participants",
                queryset=AppointmentParticipant.objects.select_related(*links.participant_relations()),
            )
        )
        .order_by("starts_at", "pk")
    )


def appointment_data(practice: Practice, appointment: Appointment) -> dict:
    """An appointment as the API shows it, read again (status, participants and links as now)."""
    return AppointmentSerializer(appointments_of(practice).get(pk=appointment.pk)).data


# --- Clients ----------------------------------------------------------------------------------


class ClientListApi(ApiView):
    class FilterSerializer(PageSerializer):
        external_id = TextField(required=False, max_length=100, help_text="The id in your system.")
        external_source = TextField(
            required=False, max_length=40, help_text="The system the external id is from (EHR sync)."
        )
        status = serializers.ChoiceField(required=False, choices=ClientStatus.choices)
        updated_since = AwareDateTimeField(required=False, help_text="Changed at or after this.")

        class Meta:
            ref_name = "ClientListFilter"

    LOOKUPS = {
        "external_id": "external_id",
        "external_source": "external_source",
        "status": "status",
        "updated_since": "updated_at__gte",
    }

    @document(
        "clients_list",
        "List the practice's clients",
        tags=["clients"],
        parameters=[FilterSerializer],
        responses={200: ClientPageSerializer},
    )
    def get(self, request):
        clients = Client.objects.for_practice(self.practice).order_by("last_name", "first_name", "pk")
        return self.filtered_page(
            clients, ClientListApi.FilterSerializer, ClientListApi.LOOKUPS, ClientSerializer
        )


# A client's fields as creating one takes them. Changing one (ClientUpdateApi) takes the same
# fields and re-declares only those it treats differently; they keep their place here.
# (Comments, not docstrings: a serializer's docstring becomes its description in the schema.)
class ClientInput(serializers.Serializer):
    first_name = TextField(max_length=100)
    last_name = TextField(max_length=100)
    preferred_name = TextField(max_length=100, required=False, allow_blank=True)
    phone = E164PhoneField(required=False, allow_blank=True)
    email = serializers.EmailField(required=False, allow_blank=True, max_length=254)
    timezone = TextField(
        max_length=64, required=False, allow_blank=True, help_text="IANA zone; empty: the practice's."
    )
    status = serializers.ChoiceField(required=False, choices=ClientStatus.choices)
    external_id = TextField(max_length=100, required=False, allow_blank=True)
    sms_consent = serializers.BooleanField(
        required=False, default=False, help_text="The client agreed to text reminders (recorded now)."
    )
    sms_consent_source = serializers.ChoiceField(
        required=False, choices=ConsentSource.choices, default=ConsentSource.API
    )

    class Meta:
        ref_name = "ClientCreateInput"

    def get_fields(self):
        # DRF puts re-declared fields last; the documented order is this class's.
        fields = super().get_fields()
        return {name: fields[name] for name in ClientInput._declared_fields}


class ClientCreateApi(ApiView):
    @document(
        "clients_create",
        "Create a client",
        tags=["clients"],
        request=ClientInput,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={201: ClientSerializer, **CONFLICT},
    )
    def post(self, request):
        fields = dict(self.validated(ClientInput))
        sms_consent = fields.pop("sms_consent")
        consent_source = fields.pop("sms_consent_source")
        practice = self.practice
        return self.create_once(
            "client",
            lambda: client_create(
                practice=practice,
                fields={**fields, "source": "api"},
                sms_consent=sms_consent,
                consent_source=consent_source,
            ),
            render=lambda client: ClientSerializer(client).data,
            found_in=Client.objects.for_practice(practice),
        )


class ClientsApi(ClientListApi, ClientCreateApi):
    """GET lists the practice's clients; POST creates one."""


class ClientDetailApi(ApiView):
    @document(
        "clients_retrieve", "Read a client", tags=["clients"], responses={200: ClientSerializer, **NOT_FOUND}
    )
    def get(self, request, pk: int):
        return self.retrieve(Client.objects.for_practice(self.practice), pk, ClientSerializer)


class ClientUpdateApi(ApiView):
    class InputSerializer(ClientInput):
        # Every field optional; sms_consent absent leaves consent as it is.
        first_name = TextField(max_length=100, required=False)
        last_name = TextField(max_length=100, required=False)
        timezone = TextField(max_length=64, required=False, allow_blank=True)
        sms_consent = serializers.BooleanField(
            required=False, help_text="true records consent (if not yet recorded); false withdraws it."
        )

        class Meta:
            ref_name = "ClientUpdateInput"

    @document(
        "clients_partial_update",
        "Change some of a client's fields",
        tags=["clients"],
        request=InputSerializer,
        responses={200: ClientSerializer, **NOT_FOUND, **CONFLICT},
    )
    def patch(self, request, pk: int):
        client = self.get_scoped(Client.objects.for_practice(self.practice), pk)
        fields = dict(self.validated(ClientUpdateApi.InputSerializer))
        sms_consent = fields.pop("sms_consent", client.sms_consent_at is not None)
        consent_source = fields.pop("sms_consent_source")
        client = client_update(
            client=client, fields=fields, sms_consent=sms_consent, consent_source=consent_source
        )
        return Response(ClientSerializer(client).data)


class ClientApi(ClientDetailApi, ClientUpdateApi):
    """GET reads one client; PATCH changes some of its fields."""


# --- Clinicians -------------------------------------------------------------------------------


class ClinicianListApi(ApiView):
    class FilterSerializer(PageSerializer):
        is_active = serializers.BooleanField(required=False, allow_null=True, default=None)

        class Meta:
            ref_name = "ClinicianListFilter"

    @document(
        "clinicians_list",
        "List the practice's clinicians",
        tags=["clinicians"],
        parameters=[FilterSerializer],
        responses={200: ClinicianPageSerializer},
    )
    def get(self, request):
        query = self.query(ClinicianListApi.FilterSerializer)
        qs = ClinicianProfile.objects.for_practice(self.practice).order_by("display_name", "pk")
        if query.get("is_active") is not None:
            qs = qs.filter(is_active=query["is_active"])
        return self.page(qs, query, ClinicianSerializer)


class ClinicianDetailApi(ApiView):
    @document(
        "clinicians_retrieve",
        "Read a clinician",
        tags=["clinicians"],
        responses={200: ClinicianSerializer, **NOT_FOUND},
    )
    def get(self, request, pk: int):
        return self.retrieve(ClinicianProfile.objects.for_practice(self.practice), pk, ClinicianSerializer)


# --- Appointments -----------------------------------------------------------------------------


class AppointmentListApi(ApiView):
    class FilterSerializer(PageSerializer):
        starts_after = AwareDateTimeField(required=False, help_text="Sessions starting at or after this.")
        starts_before = AwareDateTimeField(required=False, help_text="Sessions starting before this.")
        clinician = IdField(required=False)
        status = serializers.ChoiceField(required=False, choices=AppointmentStatus.choices)
        client = IdField(required=False, help_text="Sessions this client takes part in.")
        external_id = TextField(required=False, max_length=100)
        external_source = TextField(
            required=False, max_length=40, help_text="The system the external id is from (EHR sync)."
        )
        source = serializers.ChoiceField(required=False, choices=AppointmentSource.choices)
        series = IdField(required=False, help_text="Occurrences of this series.")
        updated_since = AwareDateTimeField(required=False, help_text="Changed at or after this.")

        class Meta:
            ref_name = "AppointmentListFilter"

    LOOKUPS = {
        "starts_after": "starts_at__gte",
        "starts_before": "starts_at__lt",
        "clinician": "clinician_id",
        "status": "status",
        "external_id": "external_id",
        "external_source": "external_source",
        "source": "source",
        "series": "series_id",
        "updated_since": "updated_at__gte",
    }

    @document(
        "appointments_list",
        "List appointments",
        tags=["appointments"],
        parameters=[FilterSerializer],
        responses={200: AppointmentPageSerializer},
    )
    def get(self, request):
        query = self.query(AppointmentListApi.FilterSerializer)
        qs = filtered(appointments_of(self.practice), query, AppointmentListApi.LOOKUPS)
        if "client" in query:
            # A subquery rather than a join: a group session stays one row.
            qs = qs.filter(
                pk__in=AppointmentParticipant.objects.filter(client_id=query["client"]).values(
                    "appointment_id"
                )
            )
        return self.page(qs, query, AppointmentSerializer)


class AppointmentCreateApi(ApiView):
    class InputSerializer(serializers.Serializer):
        clinician = ScopedIdField(model=ClinicianProfile, name="clinician")
        clients = serializers.ListField(
            child=ScopedIdField(model=Client, name="client"),
            min_length=1,
            max_length=50,
            help_text="Client ids; several only with a group service type.",
        )
        service_type = ScopedIdField(model=ServiceType, name="service type")
        starts_at = AwareDateTimeField()
        ends_at = AwareDateTimeField(required=False, help_text="Default: the service type's length.")
        modality = serializers.ChoiceField(
            required=False, choices=Modality.choices, default=Modality.TELEHEALTH
        )
        fee = serializers.DecimalField(
            required=False,
            max_digits=8,
            decimal_places=2,
            min_value=0,
            help_text="Default: the service's fee.",
        )
        external_id = TextField(required=False, allow_blank=True, max_length=100, default="")

        class Meta:
            ref_name = "AppointmentCreateInput"

    @document(
        "appointments_create",
        "Book an appointment",
        tags=["appointments"],
        request=InputSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={
            201: AppointmentSerializer,
            409: OpenApiResponse(
                ErrorSerializer,
                description="The clinician already has a session at this time (error on starts_at), "
                "or the Idempotency-Key was used for a different request.",
            ),
        },
    )
    def post(self, request):
        practice = self.practice
        data = self.validated(AppointmentCreateApi.InputSerializer)
        return self.create_once(
            "appointment",
            lambda: appointment_book(
                practice=practice,
                clinician=data["clinician"],
                clients=data["clients"],
                service_type=data["service_type"],
                starts_at=data["starts_at"],
                ends_at=data.get("ends_at"),
                modality=data["modality"],
                fee=data.get("fee"),
                source=AppointmentSource.API,
                external_id=data["external_id"],
            ),
            render=lambda appointment: appointment_data(practice, appointment),
            found_in=appointments_of(practice),
        )


class AppointmentsApi(AppointmentListApi, AppointmentCreateApi):
    """GET lists the practice's appointments; POST books one (source "api")."""


class AppointmentDetailApi(ApiView):
    @document(
        "appointments_retrieve",
        "Read an appointment",
        tags=["appointments"],
        responses={200: AppointmentSerializer, **NOT_FOUND},
    )
    def get(self, request, pk: int):
        return self.retrieve(appointments_of(self.practice), pk, AppointmentSerializer)


class AppointmentActionApi(ApiView):
    """An action on one appointment: find it in the practice (else 404), call the service."""

    def appointment(self, pk: int) -> Appointment:
        return self.get_scoped(appointments_of(self.practice), pk)

    def appointment_and_input(self, pk: int, serializer_class) -> tuple[Appointment, dict]:
        """The appointment (404 before the body is looked at) and the parsed body."""
        appointment = self.appointment(pk)
        return appointment, self.validated(serializer_class)

    def answer(self, appointment: Appointment, code: int = status.HTTP_200_OK) -> Response:
        return Response(appointment_data(self.practice, appointment), code)


def appointment_action(operation_id: str, summary: str, **kwargs):
    """``document`` for an appointment action: tagged "appointments", answering 200 with the
    appointment (or as ``responses`` says), 404 for an appointment not in the practice."""
    responses = kwargs.pop("responses", {200: AppointmentSerializer})
    return document(
        operation_id, summary, tags=["appointments"], responses={**NOT_FOUND, **responses}, **kwargs
    )


class AppointmentRescheduleApi(AppointmentActionApi):
    class InputSerializer(serializers.Serializer):
        starts_at = AwareDateTimeField()
        ends_at = AwareDateTimeField(required=False, help_text="Default: keeps the session's length.")
        clinician = ScopedIdField(
            model=ClinicianProfile, name="clinician", required=False, help_text="Default: the same clinician."
        )

        class Meta:
            ref_name = "AppointmentRescheduleInput"

    @appointment_action(
        "appointments_reschedule",
        "Move an appointment to a new time or clinician",
        request=InputSerializer,
        responses={
            201: OpenApiResponse(
                AppointmentSerializer,
                description="The new appointment; the old one is now “rescheduled” and links to it.",
            ),
            **CONFLICT,
        },
    )
    def post(self, request, pk: int):
        appointment, data = self.appointment_and_input(pk, AppointmentRescheduleApi.InputSerializer)
        new = appointment_reschedule(
            appointment=appointment,
            starts_at=data["starts_at"],
            ends_at=data.get("ends_at"),
            clinician=data.get("clinician"),
        )
        return self.answer(new, status.HTTP_201_CREATED)


class AppointmentCancelApi(AppointmentActionApi):
    class InputSerializer(serializers.Serializer):
        reason = TextField(required=False, allow_blank=True, max_length=300, default="")
        by_client = serializers.BooleanField(
            required=False, default=False, help_text="The client cancelled (counts toward late cancels)."
        )

        class Meta:
            ref_name = "AppointmentCancelInput"

    @appointment_action("appointments_cancel", "Cancel an appointment", request=InputSerializer)
    def post(self, request, pk: int):
        appointment, data = self.appointment_and_input(pk, AppointmentCancelApi.InputSerializer)
        appointment_cancel(appointment=appointment, by_client=data["by_client"], reason=data["reason"])
        return self.answer(appointment)


class AppointmentConfirmApi(AppointmentActionApi):
    @appointment_action("appointments_confirm", "Mark an appointment confirmed", request=None)
    def post(self, request, pk: int):
        appointment = self.appointment(pk)
        appointment_confirm(appointment=appointment)
        return self.answer(appointment)


class AppointmentAttendanceApi(AppointmentActionApi):
    class InputSerializer(serializers.Serializer):
        client = ScopedIdField(model=Client, name="client")
        attendance = serializers.ChoiceField(choices=[(value, value) for value in MARKABLE_ATTENDANCE])
        note = TextField(
            required=False,
            allow_blank=True,
            max_length=300,
            default="",
            help_text="Administrative only; required when reversing a no-show.",
        )

        class Meta:
            ref_name = "AppointmentAttendanceInput"

    @appointment_action(
        "appointments_attendance", "Record one participant's attendance", request=InputSerializer
    )
    def post(self, request, pk: int):
        appointment, data = self.appointment_and_input(pk, AppointmentAttendanceApi.InputSerializer)
        appointment_mark_attendance(
            appointment=appointment, client=data["client"], attendance=data["attendance"], note=data["note"]
        )
        return self.answer(appointment)

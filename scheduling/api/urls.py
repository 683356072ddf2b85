"""URLs of the REST API. The project mounts them with ``path("api/", include("scheduling.api.urls"))``:
the API under /api/v1/, its OpenAPI 3 schema at /api/schema/ and Swagger UI at /api/docs/."""

from __future__ import annotations

from csp.decorators import csp_update
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from scheduling.api import availability, ehr, series, views

app_name = "api"

# The schema's settings (settings.SPECTACULAR_SETTINGS) keep it to this API through the hook below.


def only_this_api(endpoints):
    """drf-spectacular preprocessing hook: keep the operations of scheduling.api.views."""
    return [
        endpoint
        for endpoint in endpoints
        if isinstance(getattr(endpoint[3], "cls", None), type) and issubclass(endpoint[3].cls, views.ApiView)
    ]


class SchemaView(SpectacularAPIView):
    pass


class DocsView(SpectacularSwaggerSplitView):
    """Swagger UI from drf-spectacular-sidecar's bundled files (no CDN: works offline), with its
    start-up script served as a separate file so the page needs no inline script."""

    url_name = "api:schema"
    title = "Attend API"

    @staticmethod
    def _swagger_ui_resource(filename):
        from drf_spectacular.views import _get_sidecar_url

        return _get_sidecar_url(f"swagger-ui-dist/{filename}")

    @staticmethod
    def _swagger_ui_favicon():
        from drf_spectacular.views import _get_sidecar_url

        return _get_sidecar_url("swagger-ui-dist/favicon-32x32.png")


v1 = [
    path("clients/", views.ClientsApi.as_view(), name="clients"),
    path("clients/<int:pk>/", views.ClientApi.as_view(), name="client"),
    path("clinicians/", views.ClinicianListApi.as_view(), name="clinicians"),
    path("clinicians/<int:pk>/", views.ClinicianDetailApi.as_view(), name="clinician"),
    path("appointments/", views.AppointmentsApi.as_view(), name="appointments"),
    path("appointments/<int:pk>/", views.AppointmentDetailApi.as_view(), name="appointment"),
    path(
        "appointments/<int:pk>/reschedule/",
        views.AppointmentRescheduleApi.as_view(),
        name="appointment-reschedule",
    ),
    path("appointments/<int:pk>/cancel/", views.AppointmentCancelApi.as_view(), name="appointment-cancel"),
    path("appointments/<int:pk>/confirm/", views.AppointmentConfirmApi.as_view(), name="appointment-confirm"),
    path(
        "appointments/<int:pk>/attendance/",
        views.AppointmentAttendanceApi.as_view(),
        name="appointment-attendance",
    ),
    path(
        "clinicians/<int:pk>/open-slots/",
        availability.ClinicianOpenSlotsApi.as_view(),
        name="clinician-open-slots",
    ),
    path("series/", series.SeriesCollectionApi.as_view(), name="series-list"),
    path("series/<int:pk>/", series.SeriesDetailApi.as_view(), name="series"),
    path("series/<int:pk>/cancel-rest/", series.SeriesCancelRestApi.as_view(), name="series-cancel-rest"),
    path("ehr/<str:source>/clients/", ehr.EhrClientUpsertApi.as_view(), name="ehr-clients"),
    path("ehr/<str:source>/appointments/", ehr.EhrAppointmentUpsertApi.as_view(), name="ehr-appointments"),
    # The message endpoints are in messaging/api_urls.py (mounted by the project URLconf).
]

urlpatterns = [
    path("v1/", include(v1)),
    # Anything else under v1/ is a 404 in the API's error shape, not an HTML page.
    re_path(r"^v1/", views.NotFoundApi.as_view()),
    path("schema/", SchemaView.as_view(), name="schema"),
    # Swagger UI sets inline styles; allow them on this page only.
    path("docs/", csp_update({"style-src": ["'self'", "'unsafe-inline'"]})(DocsView.as_view()), name="docs"),
]

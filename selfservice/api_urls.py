"""The self-service endpoints of the REST API (selfservice/api.py), mounted under /api/v1/ by the
project URLconf before scheduling's API (whose catch-all answers unknown /api/v1/ paths)."""

from django.urls import path

from selfservice import api

app_name = "selfservice_api"

urlpatterns = [
    path("service-types/", api.ServiceTypeListApi.as_view(), name="service-types"),
    path("booking-requests/", api.BookingRequestListApi.as_view(), name="booking-requests"),
    path("booking-requests/<int:pk>/", api.BookingRequestDetailApi.as_view(), name="booking-request"),
    path(
        "booking-requests/<int:pk>/approve/",
        api.BookingRequestApproveApi.as_view(),
        name="booking-request-approve",
    ),
    path(
        "booking-requests/<int:pk>/decline/",
        api.BookingRequestDeclineApi.as_view(),
        name="booking-request-decline",
    ),
    path(
        "booking-requests/<int:pk>/propose/",
        api.BookingRequestProposeApi.as_view(),
        name="booking-request-propose",
    ),
    path("clinicians/<int:pk>/matching/", api.ClinicianMatchingApi.as_view(), name="clinician-matching"),
]

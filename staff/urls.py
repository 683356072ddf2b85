"""The staff pages: home, today board, clinician day and week, queue, clients, metrics, feedback
and settings. Every app below is read from here; the URL names are the ones templates use."""

from django.urls import path

from staff import (
    board_views,
    booking_request_views,
    client_views,
    feedback_views,
    metrics_views,
    self_service_views,
    sequence_views,
    token_views,
    waitlist_views,
)

urlpatterns = [
    path("", client_views.home, name="home"),
    # Today board, clinician pages and the needs-attention queue (staff/board.py reads them).
    path("board/", board_views.board, name="board"),
    path("board/live/", board_views.board_live, name="board_live"),
    path("me/day/", board_views.my_day, name="my_day"),
    path("me/day/live/", board_views.my_day_live, name="my_day_live"),
    path("me/week/", board_views.my_week, name="my_week"),
    path(
        "participants/<int:pk>/resend-link/",
        board_views.participant_resend_link,
        name="participant_resend_link",
    ),
    path(
        "participants/<int:pk>/attendance/",
        board_views.participant_mark_attendance,
        name="participant_mark_attendance",
    ),
    path("queue/", board_views.follow_up_list, name="follow_up_list"),
    path("queue/<int:pk>/resolve/", board_views.follow_up_resolve_view, name="follow_up_resolve"),
    # The waitlist (waitlist app): entries, live offers, freed times.
    path("waitlist/", waitlist_views.waitlist_page, name="waitlist"),
    path("waitlist/add/", waitlist_views.waitlist_add, name="waitlist_add"),
    path("waitlist/<int:pk>/remove/", waitlist_views.waitlist_remove, name="waitlist_remove"),
    path("waitlist/slots/<int:pk>/offer/", waitlist_views.waitlist_offer_now, name="waitlist_offer_now"),
    path("waitlist/offers/<int:pk>/skip/", waitlist_views.waitlist_skip, name="waitlist_skip"),
    # Booking requests from the booking page.
    path("requests/", booking_request_views.booking_requests, name="booking_requests"),
    path(
        "requests/<int:pk>/approve/",
        booking_request_views.booking_request_approve_view,
        name="booking_request_approve",
    ),
    path(
        "requests/<int:pk>/decline/",
        booking_request_views.booking_request_decline_view,
        name="booking_request_decline",
    ),
    # Clients.
    path("clients/", client_views.client_list, name="client_list"),
    path("clients/new/", client_views.client_create, name="client_create"),
    path("clients/<int:pk>/", client_views.client_detail, name="client_detail"),
    path("clients/<int:pk>/edit/", client_views.client_edit, name="client_edit"),
    # Reports.
    path("metrics/", metrics_views.metrics, name="metrics"),
    path("metrics/export.csv", metrics_views.metrics_csv, name="metrics_csv"),
    path("metrics/baseline", metrics_views.metrics_baseline, name="metrics_baseline"),
    path("reports/feedback/", feedback_views.survey_report, name="survey_report"),
    # Settings.
    path("settings/sequence/", sequence_views.sequence_settings, name="sequence_settings"),
    path("settings/sequence/steps/<int:pk>/", sequence_views.step_edit, name="step_edit"),
    path("settings/sequence/preview", sequence_views.step_preview_json, name="step_preview"),
    path("settings/self-service/", self_service_views.self_service_settings, name="self_service_settings"),
    path(
        "settings/matching/<int:clinician_pk>/", self_service_views.matching_profile, name="matching_profile"
    ),
    path("settings/api-tokens/", token_views.api_tokens, name="api_tokens"),
    path("settings/api-tokens/<int:pk>/revoke/", token_views.api_token_revoke_view, name="api_token_revoke"),
]

"""The staff pages: home, today board, clinician day and week, queue, clients, metrics, feedback
and settings. Every app below is read from here; the URL names are the ones templates use."""

from django.urls import path

from staff import (
    audit_views,
    availability_views,
    board_views,
    booking_request_views,
    calendar_views,
    client_views,
    document_views,
    feedback_views,
    metrics_views,
    practice_settings_views,
    self_service_views,
    sequence_views,
    settings_views,
    team_views,
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
    # The calendar grid (staff/calendar.py): page, events of a range, move by drag.
    path("calendar/", calendar_views.calendar_page, name="calendar_grid"),
    path("calendar/events/", calendar_views.calendar_events_json, name="calendar_events"),
    path("calendar/sessions/<int:pk>/move/", calendar_views.calendar_move, name="calendar_move"),
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
    path(
        "requests/<int:pk>/propose/",
        booking_request_views.booking_request_propose_view,
        name="booking_request_propose",
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
    path("settings/", settings_views.settings_hub, name="settings_hub"),
    path("settings/sequence/", sequence_views.sequence_settings, name="sequence_settings"),
    path("settings/sequence/steps/<int:pk>/", sequence_views.step_edit, name="step_edit"),
    path("settings/sequence/preview", sequence_views.step_preview_json, name="step_preview"),
    path(
        "settings/sequence/automatic-texts/", sequence_views.auto_texts_settings, name="auto_texts_settings"
    ),
    path("settings/self-service/", self_service_views.self_service_settings, name="self_service_settings"),
    path("settings/waitlist/", waitlist_views.waitlist_settings, name="waitlist_settings"),
    path(
        "settings/matching/<int:clinician_pk>/", self_service_views.matching_profile, name="matching_profile"
    ),
    path("settings/documents/", document_views.document_templates, name="document_templates"),
    path("settings/documents/new/", document_views.document_template_edit, name="document_template_new"),
    path(
        "settings/documents/<int:pk>/", document_views.document_template_edit, name="document_template_edit"
    ),
    path("settings/api-tokens/", token_views.api_tokens, name="api_tokens"),
    path("settings/api-tokens/<int:pk>/revoke/", token_views.api_token_revoke_view, name="api_token_revoke"),
    # Practice administration (docs/administration.md).
    path("settings/team/", team_views.team, name="team"),
    path("settings/team/<int:pk>/role/", team_views.member_role, name="member_role"),
    path("settings/team/<int:pk>/deactivate/", team_views.member_deactivate, name="member_deactivate"),
    path("settings/team/<int:pk>/reactivate/", team_views.member_reactivate, name="member_reactivate"),
    path(
        "settings/team/<int:pk>/reset-two-factor/",
        team_views.member_reset_two_factor,
        name="member_reset_two_factor",
    ),
    path("settings/invitations/<int:pk>/revoke/", team_views.invitation_revoke, name="invitation_revoke"),
    path("settings/practice/", practice_settings_views.practice_settings, name="practice_settings"),
    path(
        "settings/practice/telehealth-credentials/",
        practice_settings_views.practice_credentials_save,
        name="practice_credentials",
    ),
    path("settings/services/", practice_settings_views.service_list, name="service_list"),
    path("settings/services/new/", practice_settings_views.service_edit, name="service_create"),
    path("settings/services/<int:pk>/", practice_settings_views.service_edit, name="service_edit"),
    path("settings/hours/", availability_views.availability_index, name="availability_index"),
    path(
        "settings/hours/<int:pk>/", availability_views.clinician_availability, name="clinician_availability"
    ),
    path(
        "settings/hours/<int:pk>/weekly/", availability_views.weekly_hours_create, name="weekly_hours_create"
    ),
    path(
        "settings/hours/<int:pk>/weekly/<int:row_pk>/remove/",
        availability_views.weekly_hours_delete,
        name="weekly_hours_delete",
    ),
    path("settings/hours/<int:pk>/time-off/", availability_views.time_off_create, name="time_off_create"),
    path(
        "settings/hours/<int:pk>/time-off/<int:row_pk>/remove/",
        availability_views.time_off_delete,
        name="time_off_delete",
    ),
    path("settings/audit-log/", audit_views.audit_log, name="audit_log"),
]

from django.urls import path

from messaging import (
    after_session_views,
    metrics_views,
    override_views,
    preference_views,
    push_views,
    settings_views,
    staff_views,
    twilio_inbound,
    twilio_webhooks,
)

urlpatterns = [
    path("push/public-key", push_views.push_public_key, name="push_public_key"),
    path("push-sw.js", push_views.push_service_worker, name="push_service_worker"),
    path("t/<str:token>/push", push_views.push_subscribe, name="push_subscribe"),
    path("hooks/twilio/status/", twilio_webhooks.twilio_status, name="twilio_status"),
    path("hooks/twilio/inbound/", twilio_inbound.twilio_inbound, name="twilio_inbound"),
    path("p/<str:token>", preference_views.preference_center, name="preference_center"),
    path("s/<str:token>", after_session_views.after_session_page, name="after_session"),
    path("reports/feedback/", after_session_views.survey_report, name="survey_report"),
    path(
        "appointments/<int:pk>/reminders/", override_views.appointment_reminders, name="appointment_reminders"
    ),
    path("clients/<int:pk>/reminders/", override_views.client_reminders, name="client_reminders"),
    path("settings/sequence/", settings_views.sequence_settings, name="sequence_settings"),
    path("settings/sequence/steps/<int:pk>/", settings_views.step_edit, name="step_edit"),
    path("settings/sequence/preview", settings_views.step_preview_json, name="step_preview"),
    path("metrics/", metrics_views.metrics, name="metrics"),
    path("metrics/export.csv", metrics_views.metrics_csv, name="metrics_csv"),
    path("metrics/baseline", metrics_views.metrics_baseline, name="metrics_baseline"),
    path(
        "appointments/<int:pk>/check-in/<int:participant_pk>/",
        staff_views.appointment_check_in,
        name="appointment_check_in",
    ),
]

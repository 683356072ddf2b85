from django.urls import path

from messaging import (
    after_session_views,
    override_views,
    preference_views,
    push_views,
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
    path(
        "appointments/<int:pk>/reminders/", override_views.appointment_reminders, name="appointment_reminders"
    ),
    path("clients/<int:pk>/reminders/", override_views.client_reminders, name="client_reminders"),
    path(
        "appointments/<int:pk>/check-in/<int:participant_pk>/",
        staff_views.appointment_check_in,
        name="appointment_check_in",
    ),
]

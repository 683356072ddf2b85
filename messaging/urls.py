from django.urls import path

from messaging import twilio_webhooks

urlpatterns = [
    path("hooks/twilio/status/", twilio_webhooks.twilio_status, name="twilio_status"),
]

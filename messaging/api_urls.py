"""The message endpoints of the REST API (messaging/api.py), mounted under /api/v1/ by the
project URLconf next to scheduling.api.urls."""

from django.urls import path

from messaging import api

app_name = "messaging_api"

urlpatterns = [
    path("messages/", api.MessageListApi.as_view(), name="messages"),
    path(
        "appointments/<int:pk>/timeline/", api.AppointmentTimelineApi.as_view(), name="appointment-timeline"
    ),
]

"""The waitlist's REST endpoints (waitlist/api.py), mounted under /api/v1/ by the project URLconf
before scheduling's API (whose catch-all answers unknown /api/v1/ paths)."""

from django.urls import path

from waitlist import api

app_name = "waitlist_api"

urlpatterns = [
    path("waitlist/", api.WaitlistApi.as_view(), name="waitlist"),
    path("waitlist/<int:pk>/", api.WaitlistEntryApi.as_view(), name="waitlist-entry"),
]

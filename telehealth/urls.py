from django.urls import path

from telehealth import techcheck, views, zoom_webhook

urlpatterns = [
    path("j/<str:token>", views.join, name="join"),
    path("t/<str:token>", techcheck.tech_check, name="tech_check"),
    path("t/<str:token>/ping", techcheck.tech_check_ping, name="tech_check_ping"),
    path("t/<str:token>/download", techcheck.tech_check_download, name="tech_check_download"),
    path("t/<str:token>/upload", techcheck.tech_check_upload, name="tech_check_upload"),
    path("t/<str:token>/result", techcheck.tech_check_result, name="tech_check_result"),
    path("appointments/<int:pk>/host/", views.host_join, name="host_join"),
    path("meeting/fake/<str:key>", views.fake_meeting, name="fake_meeting"),
    path("hooks/zoom/", zoom_webhook.zoom_events, name="zoom_webhook"),
]

from django.urls import path

from telehealth import views, zoom_webhook

urlpatterns = [
    path("j/<str:token>", views.join, name="join"),
    path("appointments/<int:pk>/host/", views.host_join, name="host_join"),
    path("hooks/zoom/", zoom_webhook.zoom_events, name="zoom_webhook"),
]

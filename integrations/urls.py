"""Integration pages (integrations/views.py). The feed URL is public: its token is the secret."""

from django.urls import path

from integrations import views

urlpatterns = [
    path("settings/webhooks/", views.webhook_list, name="webhook_list"),
    path("settings/webhooks/deliveries/", views.webhook_deliveries, name="webhook_deliveries"),
    path(
        "settings/webhooks/deliveries/<int:pk>/retry/",
        views.webhook_delivery_retry,
        name="webhook_delivery_retry",
    ),
    path("settings/webhooks/<int:pk>/", views.webhook_detail, name="webhook_detail"),
    path("settings/webhooks/<int:pk>/rotate/", views.webhook_rotate, name="webhook_rotate"),
    path("settings/webhooks/<int:pk>/active/", views.webhook_set_active, name="webhook_set_active"),
    path("settings/webhooks/<int:pk>/test/", views.webhook_send_test, name="webhook_send_test"),
    path("calendar/feed/", views.calendar_feed_page, name="calendar_feed_page"),
    path("calendar/import/", views.calendar_import, name="calendar_import"),
    path("cal/<str:token>.ics", views.calendar_feed, name="calendar_feed"),
]

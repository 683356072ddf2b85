"""Staff pages for appointments (scheduling/views.py)."""

from django.urls import path

from scheduling import client_views, ehr, imports, views

urlpatterns = [
    path("appointments/", views.appointment_list, name="appointment_list"),
    path("appointments/new/", views.appointment_create, name="appointment_create"),
    path("appointments/<int:pk>/", views.appointment_detail, name="appointment_detail"),
    path(
        "appointments/<int:pk>/reschedule/", views.appointment_reschedule_view, name="appointment_reschedule"
    ),
    path("appointments/<int:pk>/cancel/", views.appointment_cancel_view, name="appointment_cancel"),
    path(
        "appointments/<int:pk>/attendance/", views.appointment_attendance_view, name="appointment_attendance"
    ),
    path("appointments/<int:pk>/confirm/", views.appointment_confirm_view, name="appointment_confirm"),
    # The client's own page for a session, behind an opaque token (no account).
    path("a/<str:token>", client_views.client_manage, name="client_manage"),
    path("a/<str:token>/move", client_views.client_move, name="client_move"),
    path("a/<str:token>/move/confirm", client_views.client_move_confirm, name="client_move_confirm"),
    path("imports/", imports.import_csv_view, name="import_csv"),
    path("hooks/ehr/<slug:practice_slug>/", ehr.ehr_webhook, name="ehr_webhook"),
]

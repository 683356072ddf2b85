"""The staff board pages (practice/board_views.py): today board, clinician day and week, queue."""

from django.urls import path

from practice import board_views

urlpatterns = [
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
    path("queue/", board_views.follow_up_list, name="follow_up_list"),
    path("queue/<int:pk>/resolve/", board_views.follow_up_resolve_view, name="follow_up_resolve"),
]

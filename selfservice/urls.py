from django.urls import path

from selfservice import home_views, proposal_views, views, waitlist_views

urlpatterns = [
    path("book/<slug:slug>/", views.book_start, name="book_start"),
    path("book/<slug:slug>/clinicians/", views.book_matches, name="book_matches"),
    path("book/<slug:slug>/clinicians/<int:clinician_pk>/", views.book_times, name="book_times"),
    path("book/<slug:slug>/details/", views.book_details, name="book_details"),
    path("book/<slug:slug>/verify/", views.book_verify, name="book_verify"),
    path("book/<slug:slug>/requested/", views.book_done, name="book_done"),
    path("book/<slug:slug>/waitlist/", waitlist_views.book_waitlist, name="book_waitlist"),
    path(
        "book/<slug:slug>/waitlist/verify/", waitlist_views.book_waitlist_verify, name="book_waitlist_verify"
    ),
    path("book/<slug:slug>/waitlist/added/", waitlist_views.book_waitlist_done, name="book_waitlist_done"),
    path("r/<str:token>", proposal_views.booking_proposal, name="booking_proposal"),
    path("h/<str:token>", home_views.client_home, name="client_home"),
    path("h/<str:token>/documents/<int:template_pk>/", home_views.client_document, name="client_document"),
    path(
        "h/<str:token>/waitlist/<int:entry_pk>/remove",
        home_views.client_waitlist_remove,
        name="client_waitlist_remove",
    ),
    path("home/<slug:slug>/", home_views.home_link_request, name="home_link_request"),
]

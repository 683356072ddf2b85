from django.urls import path

from waitlist import views

urlpatterns = [
    path("o/<str:token>", views.offer_page, name="offer_page"),
]

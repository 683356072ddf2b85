"""Sign-in, sign-out and two-factor enrolment/verification (practice/auth_views.py)."""

from django.urls import path

from practice import auth_views

urlpatterns = [
    path("login/", auth_views.login_view, name="login"),
    path("logout/", auth_views.logout_view, name="logout"),
    path("2fa/", auth_views.two_factor_verify, name="two_factor_verify"),
    path("2fa/setup/", auth_views.two_factor_setup, name="two_factor_setup"),
    path("2fa/backup-codes/", auth_views.backup_codes, name="two_factor_backup_codes"),
]

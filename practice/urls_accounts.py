"""Sign-in, sign-out, two-factor enrolment/verification, joining from an invitation and
"forgot password" (practice/auth_views.py)."""

from django.urls import path

from practice import auth_views

urlpatterns = [
    path("login/", auth_views.login_view, name="login"),
    path("logout/", auth_views.logout_view, name="logout"),
    path("2fa/", auth_views.two_factor_verify, name="two_factor_verify"),
    path("2fa/setup/", auth_views.two_factor_setup, name="two_factor_setup"),
    path("2fa/backup-codes/", auth_views.backup_codes, name="two_factor_backup_codes"),
    path("invite/<str:token>/", auth_views.invitation_accept, name="invitation_accept"),
    path("password-reset/", auth_views.password_reset, name="password_reset"),
    path("password-reset/sent/", auth_views.password_reset_done, name="password_reset_done"),
    path(
        "password-reset/<uidb64>/<token>/", auth_views.password_reset_confirm, name="password_reset_confirm"
    ),
    path("password-reset/done/", auth_views.password_reset_complete, name="password_reset_complete"),
]

from django.contrib import admin
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.urls import include, path, reverse
from django.views.i18n import set_language
from django_otp.admin import OTPAdminSite

# The operator console requires a verified second factor like every other staff page.
admin.site.__class__ = OTPAdminSite
admin.site.site_header = "Attend operator console"
admin.site.site_title = "Attend admin"


def admin_login(request, extra_context=None):
    """The console signs in through the staff sign-in page (password, then 2FA), not its own form."""
    if request.user.is_authenticated:
        raise PermissionDenied("The operator console is for operators.")
    return redirect_to_login(request.GET.get("next") or reverse("admin:index"))


admin.site.login = admin_login


def healthz(request):
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [
    path("accounts/", include("practice.urls_accounts")),
    # The staff pages (top floor), then each app's own pages, hooks and client links.
    path("", include("staff.urls")),
    path("", include("scheduling.urls")),
    path("", include("telehealth.urls")),
    path("", include("messaging.urls")),
    path("", include("integrations.urls")),
    path("", include("waitlist.urls")),
    path("", include("selfservice.urls")),
    # The message endpoints live in messaging (it reads scheduling, not the other way round);
    # before scheduling's API, whose catch-all answers unknown /api/v1/ paths.
    path("api/v1/", include("messaging.api_urls")),
    path("api/v1/", include("waitlist.api_urls")),
    path("api/v1/", include("selfservice.api_urls")),
    path("api/", include("scheduling.api.urls")),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    # The English/Español switch of a practice's public pages: a POST that sets Django's
    # language cookie (practice.client_language), so no URL names a language or a person.
    path("language/", set_language, name="set_language"),
]

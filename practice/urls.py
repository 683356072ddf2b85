from django.contrib import admin
from django.http import HttpResponse
from django.urls import include, path
from django_otp.admin import OTPAdminSite

from practice.views import home

# The operator console requires a verified second factor like every other staff page.
admin.site.__class__ = OTPAdminSite
admin.site.site_header = "Attend operator console"
admin.site.site_title = "Attend admin"


def healthz(request):
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [
    path("", home, name="home"),
    path("accounts/", include("practice.urls_accounts")),
    path("", include("practice.urls_staff")),
    path("", include("scheduling.urls")),
    path("", include("telehealth.urls")),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
]

from django_otp.admin import OTPAdminSite

from django.contrib import admin
from django.urls import include, path

# The admin asks for the TOTP code too: a password alone opens nothing.
admin.site.__class__ = OTPAdminSite

urlpatterns = [
    path("", include("chat.urls")),
    path("console/escalations/", include("escalation.urls")),
    path("", include("stats.urls")),
    path("console/", include("console.urls")),
    path("directory/", include("directory.urls")),
    path("attachments/", include("attachments.urls")),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
]

"""URL configuration: the admin, the dashboard and the REST API (`/healthz` is mailkite.health)."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("passwords.api.urls")),
    path("", include("mailkite.mail.urls")),
    path("", include("passwords.urls")),
]

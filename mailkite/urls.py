"""URL configuration: the admin, a health check for load balancers, the dashboard and the REST API."""

from django.contrib import admin
from django.http import HttpRequest, JsonResponse
from django.urls import include, path


def healthz(request: HttpRequest) -> JsonResponse:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("api/", include("passwords.api.urls")),
    path("", include("mailkite.mail.urls")),
    path("", include("passwords.urls")),
]

"""API routes: /api/v1/ (versioned in the path), the OpenAPI schema, offline docs, problem types."""

from django.shortcuts import redirect
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from passwords.api import docs, leak_reports, views

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("app-passwords", views.AppPasswordViewSet, basename="app-password")
router.register("mailboxes", views.MailboxViewSet, basename="mailbox")
router.register("domains", views.DomainViewSet, basename="domain")

urlpatterns = [
    path("", lambda request: redirect("api-docs"), name="api-root"),
    path("v1/", include(router.urls)),
    path("v1/secret-scanning/reports/", leak_reports.LeakReportView.as_view(), name="leak-reports"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its start-up script as a file, not inline: the CSP allows no inline script.
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("problems/<slug:code>", docs.problem_type, name="api-problem"),
]

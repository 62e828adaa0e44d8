"""Settings → Domains routes."""

from django.urls import path

from mailkite.mail import views

urlpatterns = [
    path("settings/domains/", views.domain_list, name="domains"),
    path("settings/domains/<str:name>/verify/", views.domain_verify, name="domain-verify"),
    path("settings/domains/<str:name>/retention/", views.domain_retention, name="domain-retention"),
    path("settings/domains/<str:name>/purge/", views.domain_purge, name="domain-purge"),
    path("settings/domains/<str:name>/encryption/", views.domain_encryption, name="domain-encryption"),
]

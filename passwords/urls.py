"""Dashboard routes: sign-in, Settings → IMAP, Settings → API keys, and Thunderbird autoconfig."""

from django.contrib.auth import views as auth_views
from django.urls import path

from passwords import history_views, views

urlpatterns = [
    path("", views.home, name="home"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("accounts/password/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("settings/imap/", views.imap_settings, name="imap-settings"),
    path("settings/imap/new/", views.app_password_new, name="app-password-new"),
    path("settings/imap/<int:pk>/revoke/", views.app_password_revoke, name="app-password-revoke"),
    path("settings/imap/<int:pk>/logins/", history_views.app_password_logins, name="app-password-logins"),
    path("settings/imap/alerts/", history_views.login_alerts, name="login-alerts"),
    # The revoke link of a new-login alert email (signed token; asks for the account password).
    path(
        "settings/imap/revoke-link/<str:token>/", history_views.revoke_from_alert, name="login-alert-revoke"
    ),
    path("settings/imap/<int:pk>/limits/", views.app_password_limits, name="app-password-limits"),
    path("settings/imap/addresses/new/", views.mailbox_new, name="mailbox-new"),
    path(
        "settings/imap/addresses/<int:pk>/profile.mobileconfig", views.mailbox_profile, name="mailbox-profile"
    ),
    path("settings/imap/setup/", views.client_setup, name="client-setup"),
    path("settings/api-keys/", views.api_keys, name="api-keys"),
    path("settings/api-keys/new/", views.api_key_new, name="api-key-new"),
    path("settings/api-keys/<int:pk>/revoke/", views.api_key_revoke, name="api-key-revoke"),
    # Thunderbird looks here on the autoconfig host and on the domain itself (CLIENT-SETUP §4.2).
    path(".well-known/autoconfig/mail/config-v1.1.xml", views.autoconfig, name="autoconfig-well-known"),
    path("mail/config-v1.1.xml", views.autoconfig, name="autoconfig"),
]

"""Websocket routes (mailkite.asgi mounts them behind session auth and an Origin check)."""

from django.urls import path

from passwords.consumers import LastUsedConsumer

websocket_urlpatterns = [
    path("ws/app-passwords/", LastUsedConsumer.as_asgi(), name="ws-app-passwords"),
]

"""ASGI entry point for daphne: HTTP through Django, and the dashboard's websocket.

Websockets need the signed-in session (AuthMiddlewareStack) and an Origin among ALLOWED_HOSTS, so
another site cannot open one with the user's cookies. Their live events come from this process's
EventHub (passwords.live), started on the first connection.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mailkite.settings")

django_asgi_app = get_asgi_application()  # sets Django up before the imports below use models

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from passwords.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)

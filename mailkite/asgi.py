"""ASGI entry point for daphne: HTTP through Django; websockets join here once they exist."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mailkite.settings")

application = get_asgi_application()

"""`manage.py devcert`: make the local development CA and server certificate if missing."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from imapd import devcert


class Command(BaseCommand):
    help = "Create a development CA and a localhost server certificate signed by it."

    def handle(self, *args: Any, **options: Any) -> None:
        made, created = devcert.ensure(settings.MAILKITE.data_dir / "devcert")
        verb = "Created" if created else "Kept the existing"
        self.stdout.write(f"{verb} development certificate {made.cert} (key {made.key}).")
        self.stdout.write(f"Clients trust it by importing the CA once: {made.ca}")

"""`manage.py run_periodic`: celery beat's schedule, run in-process, for machines without a broker.

Without REDIS_URL celery runs tasks eagerly, and there is no beat to start them on time; this
command runs each entry of CELERY_BEAT_SCHEDULE at its interval until stopped (the demo starts it).
With a broker, run `celery -A mailkite worker` and `celery -A mailkite beat` instead.
"""

from __future__ import annotations

import importlib
import logging
import time
from typing import Any

from celery import current_app
from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

log = logging.getLogger("mailkite.periodic")


class Command(BaseCommand):
    help = "Run the periodic tasks (MX verification, ...) in this process, on their schedule."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="run every task once and exit")

    def handle(self, *args: Any, **options: Any) -> None:
        beat: dict[str, dict[str, Any]] = settings.CELERY_BEAT_SCHEDULE
        schedule = {name: (str(entry["task"]), float(entry["schedule"])) for name, entry in beat.items()}
        for task, _ in schedule.values():  # registers the task, as a worker's autodiscovery would
            importlib.import_module(task.rsplit(".", 1)[0])
        due = dict.fromkeys(schedule, 0.0)
        while True:
            now = time.monotonic()
            for name, (task, interval) in schedule.items():
                if now >= due[name]:
                    try:
                        result = current_app.tasks[task].apply().get(disable_sync_subtasks=False)
                        log.info("periodic %s: %s", name, result)
                    except Exception:
                        log.exception("periodic %s failed", name)
                    due[name] = now + interval
            if options["once"]:
                return
            time.sleep(max(1.0, min(due.values()) - time.monotonic()))

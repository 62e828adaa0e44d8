#!/usr/bin/env python
"""Django's command-line utility for MailKite."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mailkite.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as error:
        # A bad setting is the operator's to fix, and the sentence names it: a traceback buries it.
        sys.exit(f"manage.py: {error}")


if __name__ == "__main__":
    main()

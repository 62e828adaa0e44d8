"""MailKite's IMAP front door: the Django project, its settings and the mail store."""

from mailkite.celery import app as celery_app

__all__ = ["celery_app"]

from django.apps import AppConfig


class MailConfig(AppConfig):
    name = "mailkite.mail"
    label = "mail"
    verbose_name = "Mail store"

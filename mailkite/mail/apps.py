from django.apps import AppConfig


class MailConfig(AppConfig):
    name = "mailkite.mail"
    label = "mail"
    verbose_name = "Mail store"

    def ready(self) -> None:
        from mailkite.mail import signals  # noqa: F401  (connects the receivers)

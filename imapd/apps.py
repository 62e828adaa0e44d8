from django.apps import AppConfig


class ImapdConfig(AppConfig):
    name = "imapd"
    verbose_name = "IMAPS server"

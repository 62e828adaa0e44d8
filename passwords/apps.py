from django.apps import AppConfig


class PasswordsConfig(AppConfig):
    name = "passwords"
    verbose_name = "App-passwords and API keys"

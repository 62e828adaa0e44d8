from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "mailkite.events"
    label = "events"
    verbose_name = "Live events"

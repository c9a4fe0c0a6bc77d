from django.apps import AppConfig


class AnonymityConfig(AppConfig):
    name = "anonymity"
    default_auto_field = "django.db.models.BigAutoField"

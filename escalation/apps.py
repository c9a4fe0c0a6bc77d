from django.apps import AppConfig


class EscalationConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "escalation"

    def ready(self) -> None:
        from escalation import checks, signals  # noqa: F401 - registers the checks

        signals.connect()

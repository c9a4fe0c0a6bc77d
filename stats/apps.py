from django.apps import AppConfig


class StatsConfig(AppConfig):
    name = "stats"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Count each conversation's arrival in a service, in chat's write."""
        from chat.signals import conversation_arrived
        from stats.services import record_arrival

        conversation_arrived.connect(record_arrival, dispatch_uid="stats.passage")

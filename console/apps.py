from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "console"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from console import queue_feed, signals  # noqa: F401 - signals connects
        from console.services import do_auto_assign
        from realtime import runtime

        # After chat's presence sweep (INSTALLED_APPS order): waiting
        # conversations go to operators who opted in (console issue 4);
        # safe in several processes at once, the database decides.
        runtime.on_sweep(
            "console.auto_assign", lambda: {"auto_assigned": do_auto_assign()}
        )
        # The process's one queue subscription (console/queue_feed.py): a
        # dead reader restarts, and the queues are resent after the layer
        # comes back.
        runtime.on_tick(
            "console.queue_feed", lambda: queue_feed.CHECK_SECONDS, queue_feed.check
        )
        runtime.on_stop("console.queue_feed", queue_feed.stop)

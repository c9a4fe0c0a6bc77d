from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "console"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from console import signals  # noqa: F401 - connects the receivers
        from console.services import do_auto_assign
        from realtime import runtime

        # After chat's presence sweep (INSTALLED_APPS order): waiting
        # conversations go to operators who opted in (console issue 4);
        # safe in several processes at once, the database decides.
        runtime.on_sweep(
            "console.auto_assign", lambda: {"auto_assigned": do_auto_assign()}
        )

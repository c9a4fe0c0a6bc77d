from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "chat"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Plug presence and reconciliation into the process runtime."""
        from chat.selectors import read_last_seqs
        from chat.services import do_refresh_heartbeats, do_sweep_presence
        from realtime import runtime

        runtime.on_heartbeat("chat.presence", do_refresh_heartbeats)
        runtime.on_sweep("chat.presence", do_sweep_presence)
        runtime.set_last_seq_reader(read_last_seqs)

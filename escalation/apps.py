from django.apps import AppConfig
from django.conf import settings


def _tick_seconds() -> float | None:
    """Every 5 s, unless the background work is off (tests, one-off commands)."""
    return 5 if settings.ESCALATION_BACKGROUND else None


class EscalationConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "escalation"

    def ready(self) -> None:
        from console import extensions
        from escalation import checks, runtime, signals  # noqa: F401 - registers the checks
        from escalation.consent import get_latest_consent_frame, has_consent
        from escalation.reports import list_delivery_alerts
        from realtime import runtime as process_runtime

        signals.connect()
        # The staff frames show the latest consent's state, never its
        # details; the board lists reports that keep failing to arrive.
        extensions.conversation_fields["consent"] = get_latest_consent_frame
        extensions.conversation_flags["has_consent"] = has_consent
        extensions.board_fields["report_alerts"] = list_delivery_alerts
        # Report deliveries, lapsed approvals, audit checkpoints.
        process_runtime.on_tick("escalation", _tick_seconds, runtime.tick)

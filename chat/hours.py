"""Opening hours of a service, in Europe/Paris wall-clock time."""

from datetime import datetime, time
from zoneinfo import ZoneInfo

from django.utils import timezone

from chat.models import Service

PARIS = ZoneInfo("Europe/Paris")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def is_service_open(service: Service, *, at: datetime | None = None) -> bool:
    """Return True if ``service`` takes new conversations at ``at``.

    Hours are local to Paris, so a change to or from daylight saving time
    moves them with the clocks. An empty schedule means always open.
    """
    if not service.opening_hours:
        return True
    local = (at or timezone.now()).astimezone(PARIS)
    slots = service.opening_hours.get(WEEKDAYS[local.weekday()], [])
    now = local.time()
    for start, end in slots:
        if time.fromisoformat(start) <= now < _end_time(end):
            return True
    return False


def _end_time(value: str) -> time:
    # "24:00" closes at midnight.
    return time.max if value == "24:00" else time.fromisoformat(value)

"""Opening hours of a service, in Europe/Paris wall-clock time.

Schedules are ``{"mon": [["09:00", "18:00"]], ...}`` in Paris local time,
so a change to or from daylight saving time moves them with the clocks;
``closed_days`` lists days without service ("2026-12-25" for one day,
"12-25" for every year).
"""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.utils import timezone
from django.utils.translation import gettext as _

from chat.models import Service

PARIS = ZoneInfo("Europe/Paris")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
NEXT_OPENING_HORIZON_DAYS = 14


def is_service_open(service: Service, *, at: datetime | None = None) -> bool:
    """Return True if ``service`` takes new conversations at ``at``.

    Hours are local to Paris, so a change to or from daylight saving time
    moves them with the clocks. An empty schedule means always open, except
    on the service's closed days.
    """
    local = (at or timezone.now()).astimezone(PARIS)
    if is_closed_day(service, local.date()):
        return False
    return is_within_hours(service.opening_hours, local)


def is_psychologist_available(service: Service, *, at: datetime | None = None) -> bool:
    """Return True if a psychologist may be invited into ``service`` at ``at``.

    An empty ``psychologist_hours`` means whenever the service is open.
    """
    if not is_service_open(service, at=at):
        return False
    local = (at or timezone.now()).astimezone(PARIS)
    return is_within_hours(service.psychologist_hours, local)


def is_within_hours(hours: dict, local: datetime) -> bool:
    """Return True if the Paris-local ``local`` falls in ``hours``."""
    if not hours:
        return True
    slots = hours.get(WEEKDAYS[local.weekday()], [])
    now = local.time()
    for start, end in slots:
        if time.fromisoformat(start) <= now < _end_time(end):
            return True
    return False


def is_closed_day(service: Service, day: date) -> bool:
    """Return True if ``day`` (a Paris date) is one of the closed days."""
    closed = set(service.closed_days or ())
    return day.isoformat() in closed or day.strftime("%m-%d") in closed


def get_next_opening(
    service: Service, *, at: datetime | None = None
) -> datetime | None:
    """Return when a closed service opens next (aware, UTC), or None.

    None when it is open now or does not open in the next two weeks.
    """
    now = (at or timezone.now()).astimezone(PARIS)
    if is_service_open(service, at=now):
        return None
    for offset in range(NEXT_OPENING_HORIZON_DAYS + 1):
        day = now.date() + timedelta(days=offset)
        if is_closed_day(service, day):
            continue
        if not service.opening_hours:
            # Always open on a day that is not closed: midnight local.
            start = datetime.combine(day, time(0, 0), tzinfo=PARIS)
            if start > now:
                return start.astimezone(ZoneInfo("UTC"))
            continue
        slots = service.opening_hours.get(WEEKDAYS[day.weekday()], [])
        for begin, _end in sorted(slots):
            start = datetime.combine(day, time.fromisoformat(begin), tzinfo=PARIS)
            if start > now:
                return start.astimezone(ZoneInfo("UTC"))
    return None


DAY_LABELS = {
    "mon": "lun.",
    "tue": "mar.",
    "wed": "mer.",
    "thu": "jeu.",
    "fri": "ven.",
    "sat": "sam.",
    "sun": "dim.",
}


def format_hours(hours: dict) -> str:
    """Return a schedule as text, days with the same slots grouped.

    ``{"mon": [["09:00", "18:00"]], "tue": [["09:00", "18:00"]]}`` gives
    "lun.–mar. 09:00–18:00 (heure de Paris)".
    """
    if not hours:
        return _("24 h/24, 7 j/7")
    groups: list[tuple[list[str], str]] = []
    for day in WEEKDAYS:
        slots = hours.get(day) or []
        if not slots:
            continue
        text = ", ".join(f"{start}–{end}" for start, end in slots)
        if groups and groups[-1][1] == text and _follows(groups[-1][0][-1], day):
            groups[-1][0].append(day)
        else:
            groups.append(([day], text))
    if not groups:
        return _("aucun horaire d'ouverture")
    parts = []
    for days, text in groups:
        label = DAY_LABELS[days[0]]
        if len(days) > 1:
            label = f"{label}–{DAY_LABELS[days[-1]]}"
        parts.append(f"{label} {text}")
    return _("%(hours)s (heure de Paris)") % {"hours": " ; ".join(parts)}


def describe_service_hours(service: Service) -> str:
    """Return the hours shown to visitors: the service's text, else built."""
    return service.hours_text or format_hours(service.opening_hours)


def _follows(previous: str, day: str) -> bool:
    return WEEKDAYS.index(day) == WEEKDAYS.index(previous) + 1


def _end_time(value: str) -> time:
    # "24:00" closes at midnight.
    return time.max if value == "24:00" else time.fromisoformat(value)


def validate_hours(value: object) -> list[str]:
    """Return the problems of a schedule (empty when it is well formed)."""
    if value in (None, {}):
        return []
    if not isinstance(value, dict):
        return [_('Les horaires sont un objet {"mon": [["09:00", "18:00"]]}.')]
    problems = []
    for day, slots in value.items():
        if day not in WEEKDAYS:
            problems.append(_("Jour inconnu : %(day)s.") % {"day": day})
            continue
        if not isinstance(slots, list):
            problems.append(_("%(day)s : une liste de créneaux.") % {"day": day})
            continue
        for slot in slots:
            if not _is_slot(slot):
                problems.append(
                    _("%(day)s : créneau invalide %(slot)s.")
                    % {"day": day, "slot": slot}
                )
    return problems


def validate_closed_days(value: object) -> list[str]:
    """Return the problems of a closed-days list."""
    if not isinstance(value, list):
        return [_("Les jours de fermeture sont une liste.")]
    problems = []
    for item in value:
        if not isinstance(item, str) or not _is_day(item):
            problems.append(
                _("Jour invalide %(day)s : AAAA-MM-JJ ou MM-JJ.") % {"day": item}
            )
    return problems


def _is_slot(slot: object) -> bool:
    if not isinstance(slot, list | tuple) or len(slot) != 2:
        return False
    start, end = slot
    try:
        begin = time.fromisoformat(start)
        finish = _end_time(end)
    except (TypeError, ValueError):
        return False
    return begin < finish


def _is_day(text: str) -> bool:
    try:
        if len(text) == 5:
            date.fromisoformat(f"2000-{text}")
        else:
            date.fromisoformat(text)
    except ValueError:
        return False
    return True

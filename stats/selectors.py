"""The figures: computed from facts that ``purge`` leaves in place.

Conversation-level figures are GROUP BY queries (``stats.aggregate``)
folded here into the page's shapes; event figures (passages, joins,
shared cards, callbacks, feedback) are GROUP BY counts over their rows.

A conversation belongs to the period in which it started, and counts once
in each service it passed through (``ServicePassage``), however often it
came back, and once in the platform total.
"""

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from math import ceil
from typing import Any

from django.apps import apps
from django.db.models import Count, F, Q, QuerySet
from django.utils.translation import gettext as _

from chat.models import Service
from console.models import Invitation, Participant, StaffProfile
from directory.models import CallbackRequest, Orientation
from stats import aggregate
from stats.models import Feedback, ServicePassage
from stats.periods import Period

MAIN_OUTCOMES = ("report", "orientation", "information", "other")
STAFF_ROLES = (StaffProfile.Role.SUPERVISOR, StaffProfile.Role.ADMINISTRATOR)


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile of ``values`` (sorted in place); None if empty."""
    if not values:
        return None
    values.sort()
    return values[max(0, ceil(q * len(values)) - 1)]


def allowed_services(profile: StaffProfile) -> QuerySet[Service] | None:
    """Return the services whose figures ``profile`` may read.

    Administrators read every service; a supervisor reads the services
    they belong to; anyone else nothing (None).
    """
    if profile.has_role(StaffProfile.Role.ADMINISTRATOR):
        return Service.objects.order_by("name")
    if profile.has_role(StaffProfile.Role.SUPERVISOR):
        return profile.services.order_by("name")
    return None


def may_read_statistics(profile: StaffProfile | None) -> bool:
    return profile is not None and any(profile.has_role(r) for r in STAFF_ROLES)


@dataclass
class Figures:
    """Every figure of one period and selection of services."""

    period: Period
    started: int = 0
    handled: int = 0
    abandoned_waiting: int = 0
    left_before_reply: int = 0
    open_now: int = 0
    urgent: int = 0
    minor: int = 0
    outcomes: Counter = field(default_factory=Counter)
    roles: Counter = field(default_factory=Counter)
    categories: Counter = field(default_factory=Counter)
    departments: Counter = field(default_factory=Counter)
    services: Counter = field(default_factory=Counter)
    series: dict[Any, Counter] = field(default_factory=dict)
    heat: Counter = field(default_factory=Counter)  # (weekday, hour) -> started
    by_hour: dict[int, dict[str, Any]] = field(default_factory=dict)
    by_weekday: dict[int, dict[str, Any]] = field(default_factory=dict)
    wait: dict[str, float | None] = field(default_factory=dict)
    first_reply: dict[str, float | None] = field(default_factory=dict)
    length: dict[str, float | None] = field(default_factory=dict)
    messages: dict[str, float | None] = field(default_factory=dict)
    staff: dict[str, Any] = field(default_factory=dict)
    events: dict[str, int] = field(default_factory=dict)
    transfers: list[dict[str, Any]] = field(default_factory=list)
    cards: Counter = field(default_factory=Counter)
    feedback: Counter = field(default_factory=Counter)
    comments: list[tuple[date, str, str]] = field(default_factory=list)
    escalation: dict[str, int] | None = None

    @property
    def abandonment_rate(self) -> float | None:
        return self.abandoned_waiting / self.started if self.started else None


def _bucket_key(period: Period, day: date, hour: int) -> Any:
    if period.bucket == "hour":
        return hour
    if period.bucket == "day":
        return day
    return (day.year, day.month)


def series_keys(period: Period) -> list[Any]:
    """Every bucket of the period, empty ones included, in order."""
    if period.bucket == "hour":
        return list(range(24))
    days = [period.start + timedelta(days=n) for n in range(period.days)]
    if period.bucket == "day":
        return days
    return list(dict.fromkeys((day.year, day.month) for day in days))


def _summary(rows: list[tuple[float, int]]) -> dict[str, float | None]:
    return {
        "n": sum(count for _value, count in rows),
        "median": aggregate.percentile_of(rows, 0.5),
        "p90": aggregate.percentile_of(rows, 0.9),
    }


def compute_figures(
    period: Period, service_ids: list[int] | None = None, *, light: bool = False
) -> Figures:
    """Compute the period's figures for ``service_ids`` (None: all services).

    ``light`` computes only the counts and the time series (the year-over-
    year comparison needs no more).
    """
    figures = Figures(period=period)
    aggregate.do_materialize(period)
    scope = aggregate.make_scope(period, service_ids)
    series = {key: Counter() for key in series_keys(period)}
    hours: dict[int, Counter] = defaultdict(Counter)
    weekdays: dict[int, Counter] = defaultdict(Counter)
    names = aggregate.COUNT_NAMES
    index = {name: i for i, name in enumerate(names, start=1)}
    started, handled, abandoned = index["started"], index["handled"], index["abandoned"]
    outcome_columns = [(name, index[f"outcome:{name}"]) for name in MAIN_OUTCOMES]
    totals = [0] * (len(names) + 1)
    days: dict[int, tuple[date, int]] = {}
    for row in aggregate.hourly_counts(scope):
        for i in range(1, len(row)):
            totals[i] += row[i]
        day_number, hour = divmod(row[0], 24)
        if day_number not in days:
            day = date.fromordinal(aggregate.EPOCH_ORDINAL + day_number)
            days[day_number] = (day, day.isoweekday())
        day, weekday = days[day_number]
        bucket = series[_bucket_key(period, day, hour)]
        bucket["started"] += row[started]
        bucket["handled"] += row[handled]
        bucket["abandoned"] += row[abandoned]
        for name, column in outcome_columns:
            bucket[name] += row[column]
        figures.heat[(weekday, hour)] += row[started]
        for slot in (hours[hour], weekdays[weekday]):
            slot["started"] += row[started]
            slot["abandoned"] += row[abandoned]
    figures.series = series
    total = dict(zip(names, totals[1:], strict=True))
    figures.started = total["started"]
    figures.handled = total["handled"]
    figures.abandoned_waiting = total["abandoned"]
    figures.left_before_reply = total["left_before_reply"]
    figures.open_now = total["open"]
    figures.urgent = total["urgent"]
    figures.minor = total["minor"]
    for key, value in total.items():
        kind, _sep, name = key.partition(":")
        if value and kind == "outcome":
            figures.outcomes[name] = value
        elif value and kind == "role":
            figures.roles[name] = value
    figures.heat = Counter({key: n for key, n in figures.heat.items() if n})
    if light:
        return figures
    for name in ("wait", "reply", "length", "messages"):
        summary = _summary(aggregate.histogram(scope, name))
        setattr(figures, {"reply": "first_reply"}.get(name, name), summary)
    for target, source, part in (
        (figures.by_hour, hours, "hour"),
        (figures.by_weekday, weekdays, "weekday"),
    ):
        waits: dict[int, list[tuple[float, int]]] = defaultdict(list)
        for key, value, count in aggregate.wait_histograms_by(scope, part):
            waits[int(key)].append((value, count))
        for key, slot in sorted(source.items()):
            if not slot["started"]:
                continue
            target[key] = {
                "started": slot["started"],
                "abandoned": slot["abandoned"],
                "rate": slot["abandoned"] / slot["started"],
                "median_wait": aggregate.percentile_of(waits.get(key, []), 0.5),
            }
    figures.departments = Counter(
        {(dept or "?"): n for dept, n in aggregate.by_department(scope)}
    )
    figures.categories = Counter(dict(aggregate.by_category(scope)))
    figures.staff = _staff_load(aggregate.staff_load(scope))
    _event_figures(figures, period, service_ids)
    return figures


def _staff_load(row: tuple) -> dict[str, Any]:
    """Operators at work and how loaded they were (``aggregate.staff_load``)."""
    operators, days, conversations, busiest, seconds = row
    return {
        "operators": operators,
        "operator_days": days,
        "per_operator_day": int(conversations) / days if days else None,
        "max_per_operator_day": int(busiest or 0),
        "conversation_hours": float(seconds or 0) / 3600,
    }


def _event_figures(
    figures: Figures, period: Period, service_ids: list[int] | None
) -> None:
    start, end = period.start_at, period.end_at
    passages = ServicePassage.objects.filter(at__gte=start, at__lt=end)
    moves = passages.filter(
        kind__in=[ServicePassage.Kind.TRANSFER, ServicePassage.Kind.HANDOVER]
    )
    in_scope = Q()
    if service_ids is not None:
        in_scope = Q(service_id__in=service_ids) | Q(from_service_id__in=service_ids)
    for row in (
        moves.filter(in_scope)
        .values("kind", from_name=F("from_service__name"), to_name=F("service__name"))
        .annotate(n=Count("id"))
        .order_by("kind", "from_name", "to_name")
    ):
        figures.transfers.append(row)
    arrivals = ServicePassage.objects.filter(started_at__gte=start, started_at__lt=end)
    if service_ids is not None:
        arrivals = arrivals.filter(service_id__in=service_ids)
    figures.services = Counter(
        {
            row["service__name"]: row["n"]
            for row in arrivals.values("service__name").annotate(
                n=Count("conversation_id", distinct=True)
            )
        }
    )
    joins = Participant.objects.filter(
        role=Participant.Role.PSYCHOLOGIST, joined_at__gte=start, joined_at__lt=end
    )
    asked = Invitation.objects.filter(
        role=Invitation.Role.PSYCHOLOGIST, created_at__gte=start, created_at__lt=end
    )
    if service_ids is not None:
        joins = joins.filter(invitation__service_id__in=service_ids)
        asked = asked.filter(service_id__in=service_ids)
    transfers = moves.filter(kind=ServicePassage.Kind.TRANSFER)
    figures.events = {
        "transfers": transfers.filter(in_scope).count(),
        "handovers": moves.filter(in_scope, kind=ServicePassage.Kind.HANDOVER).count(),
        "psychologist_asked": asked.count(),
        "psychologist_declined": asked.filter(
            status=Invitation.Status.DECLINED
        ).count(),
        "psychologist_joins": joins.count(),
    }
    if service_ids is not None:
        figures.events["transfers_in"] = transfers.filter(
            service_id__in=service_ids
        ).count()
        figures.events["transfers_out"] = transfers.filter(
            from_service_id__in=service_ids
        ).count()
    cards = Orientation.objects.filter(shared_at__gte=start, shared_at__lt=end)
    callbacks = CallbackRequest.objects.filter(
        created_at__gte=start, created_at__lt=end
    )
    feedback = Feedback.objects.filter(day__gte=period.start, day__lt=period.end)
    if service_ids is not None:
        cards = cards.filter(service_id__in=service_ids)
        callbacks = callbacks.filter(service_id__in=service_ids)
        feedback = feedback.filter(service_id__in=service_ids)
    figures.cards = Counter(
        {
            row["resource_kind"]: row["n"]
            for row in cards.values("resource_kind").annotate(n=Count("id"))
        }
    )
    figures.events["callbacks"] = callbacks.count()
    figures.feedback = Counter(
        {
            row["answer"]: row["n"]
            for row in feedback.values("answer").annotate(n=Count("id"))
        }
    )
    figures.comments = list(
        feedback.exclude(comment="")
        .order_by("-day", "-id")
        .values_list("day", "answer", "comment")[:100]
    )
    figures.escalation = _escalation_figures(period, service_ids)


def _escalation_figures(
    period: Period, service_ids: list[int] | None
) -> dict[str, int] | None:
    """Consents, reports and disclosures; None until the escalation app has them.

    Each is counted in the period of its own event, for conversations that
    passed through the chosen services. Looked up by name so the page
    works with or without the escalation models installed.
    """
    try:
        consents = apps.get_model("escalation", "ConsentRequest")
        reports = apps.get_model("escalation", "Report")
        deliveries = apps.get_model("escalation", "Delivery")
        disclosures = apps.get_model("escalation", "DisclosureRequest")
    except LookupError:
        return None
    start, end = period.start_at, period.end_at
    scope, report_scope = Q(), Q()
    if service_ids is not None:
        passed = ServicePassage.objects.filter(service_id__in=service_ids).values(
            "conversation_id"
        )
        scope = Q(conversation_id__in=passed)
        report_scope = Q(report__conversation_id__in=passed)
    asked = consents.objects.filter(scope, asked_at__gte=start, asked_at__lt=end)
    answered = consents.objects.filter(
        scope, answered_at__gte=start, answered_at__lt=end
    )
    requested = disclosures.objects.filter(
        scope, requested_at__gte=start, requested_at__lt=end
    )
    decided = disclosures.objects.filter(
        scope, decided_at__gte=start, decided_at__lt=end
    )
    executed = disclosures.objects.filter(
        scope, executed_at__gte=start, executed_at__lt=end
    )
    # A supervisor's decline ends a request as refused before any
    # prosecutor sees it: no decision nor decided_at, and ``refused`` is
    # final, so its last update is the decline.
    declined = disclosures.objects.filter(
        scope, state="refused", decision="", updated_at__gte=start, updated_at__lt=end
    )
    return {
        _("Consentements demandés"): asked.count(),
        _("Consentements acceptés"): answered.filter(status="accepted").count(),
        _("Consentements refusés"): answered.filter(status="declined").count(),
        _("Signalements transmis à une unité"): reports.objects.filter(
            scope, created_at__gte=start, created_at__lt=end
        ).count(),
        _("Signalements remis (envoi confirmé)"): deliveries.objects.filter(
            report_scope, state="sent", sent_at__gte=start, sent_at__lt=end
        )
        .values("report_id")
        .distinct()
        .count(),
        _("Levées d'anonymat demandées"): requested.count(),
        _("Levées d'anonymat autorisées par le parquet"): decided.filter(
            decision="approved"
        ).count(),
        _("Levées d'anonymat refusées"): decided.filter(decision="refused").count()
        + declined.count(),
        _("Levées d'anonymat exécutées"): executed.count(),
    }

"""The figures: computed from facts that ``purge`` leaves in place.

Conversation-level figures come from one narrow query over the period's
conversation rows (timestamps as epoch seconds, no per-row conversion in
the database), folded in one pass in Python: percentiles need the values
anyway, and hour/weekday in Europe/Paris are read from a per-hour cache,
so DST days come out right on SQLite and PostgreSQL alike. Event figures
(passages, joins, shared cards, callbacks, feedback) are GROUP BY counts.

A conversation belongs to the period in which it started, and counts once
in each service it passed through (``ServicePassage``), however often it
came back, and once in the platform total.
"""

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from math import ceil
from typing import Any

from django.db.models import Count, F, FloatField, Func, Q, QuerySet

from chat.models import Conversation, Service
from console.models import Invitation, Participant, StaffProfile
from directory.models import CallbackRequest, Orientation
from stats.models import Feedback, ServicePassage
from stats.periods import PARIS, Period

MAIN_OUTCOMES = ("report", "orientation", "information", "other")
STAFF_ROLES = (StaffProfile.Role.SUPERVISOR, StaffProfile.Role.ADMINISTRATOR)


class Epoch(Func):
    """A timestamp as float seconds since 1970 (NULL stays NULL)."""

    output_field = FloatField()

    def as_sqlite(self, compiler, connection, **extra):  # noqa: ANN001, ANN201
        return self.as_sql(
            compiler,
            connection,
            template="ROUND((julianday(%(expressions)s) - 2440587.5) * 86400.0, 3)",
            **extra,
        )

    def as_postgresql(self, compiler, connection, **extra):  # noqa: ANN001, ANN201
        return self.as_sql(
            compiler,
            connection,
            template="EXTRACT(EPOCH FROM %(expressions)s)::float8",
            **extra,
        )


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


class _LocalClock:
    """Epoch seconds to Paris date, hour and weekday, cached per UTC hour.

    Paris changes offset on the UTC hour, so one conversion per hour of
    the period is exact.
    """

    def __init__(self) -> None:
        self._cache: dict[int, tuple[date, int, int]] = {}

    def __call__(self, epoch: float) -> tuple[date, int, int]:
        key = int(epoch // 3600)
        hit = self._cache.get(key)
        if hit is None:
            local = datetime.fromtimestamp(key * 3600, PARIS)
            hit = (local.date(), local.hour, local.isoweekday())
            self._cache[key] = hit
        return hit


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


def _conversations(period: Period, service_ids: list[int] | None) -> QuerySet:
    rows = Conversation.objects.filter(
        created_at__gte=period.start_at, created_at__lt=period.end_at
    )
    if service_ids is not None:
        rows = rows.filter(
            id__in=ServicePassage.objects.filter(service_id__in=service_ids).values(
                "conversation_id"
            )
        )
    return rows


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


def _summary(values: list[float]) -> dict[str, float | None]:
    return {
        "n": len(values),
        "median": percentile(values, 0.5),
        "p90": percentile(values, 0.9),
    }


def compute_figures(
    period: Period, service_ids: list[int] | None = None, *, light: bool = False
) -> Figures:
    """Compute the period's figures for ``service_ids`` (None: all services).

    ``light`` computes only the counts and the time series (the year-over-
    year comparison needs no more).
    """
    figures = Figures(period=period)
    clock = _LocalClock()
    series = {key: Counter() for key in series_keys(period)}
    hours = defaultdict(lambda: {"started": 0, "abandoned": 0, "waits": []})
    weekdays = defaultdict(lambda: {"started": 0, "abandoned": 0, "waits": []})
    waits: list[float] = []
    replies: list[float] = []
    lengths: list[float] = []
    message_counts: list[float] = []
    operator_days: dict[tuple[int, date], list[float]] = {}
    closed = Conversation.Status.CLOSED
    fields: list[Any] = [
        "created",
        "claimed",
        "status",
        "outcome",
        "visitor_role",
        "urgent",
        "minor",
    ]
    if not light:
        fields += [
            "reply",
            "closed",
            "commune__department",
            "categories",
            "operator_id",
            "visitor_messages",
            "staff_messages",
        ]
    rows = (
        _conversations(period, service_ids)
        .annotate(
            created=Epoch("created_at"),
            claimed=Epoch("first_claimed_at"),
            reply=Epoch("first_staff_reply_at"),
            closed=Epoch("closed_at"),
        )
        .values_list(*fields)
    )
    for row in rows.iterator(chunk_size=5000):
        created, claimed, status, outcome, role, urgent, minor = row[:7]
        day, hour, weekday = clock(created)
        figures.started += 1
        figures.roles[role] += 1
        figures.urgent += urgent
        figures.minor += minor
        bucket = series[_bucket_key(period, day, hour)]
        bucket["started"] += 1
        abandoned = claimed is None and status == closed
        if claimed is not None:
            figures.handled += 1
            bucket["handled"] += 1
        elif abandoned:
            figures.abandoned_waiting += 1
            bucket["abandoned"] += 1
        if status != closed:
            figures.open_now += 1
        elif outcome in MAIN_OUTCOMES or claimed is not None:
            figures.outcomes[outcome] += 1
            if outcome in MAIN_OUTCOMES:
                bucket[outcome] += 1
        if light:
            continue
        reply, closed_at, department, categories, operator = row[7:12]
        figures.heat[(weekday, hour)] += 1
        for slot in (hours[hour], weekdays[weekday]):
            slot["started"] += 1
            slot["abandoned"] += abandoned
        figures.departments[department or "?"] += 1
        for category in categories or ():
            figures.categories[category] += 1
        if claimed is not None:
            wait = claimed - created
            waits.append(wait)
            hours[hour]["waits"].append(wait)
            weekdays[weekday]["waits"].append(wait)
            if reply is not None:
                replies.append(max(0.0, reply - claimed))
            elif status == closed:
                figures.left_before_reply += 1
            if closed_at is not None:
                lengths.append(closed_at - claimed)
                message_counts.append(row[12] + row[13])
                if operator is not None:
                    operator_days.setdefault((operator, day), []).append(
                        closed_at - claimed
                    )
    figures.series = series
    if light:
        return figures
    figures.wait = _summary(waits)
    figures.first_reply = _summary(replies)
    figures.length = _summary(lengths)
    figures.messages = _summary(message_counts)
    for target, source in ((figures.by_hour, hours), (figures.by_weekday, weekdays)):
        for key, slot in sorted(source.items()):
            target[key] = {
                "started": slot["started"],
                "abandoned": slot["abandoned"],
                "rate": slot["abandoned"] / slot["started"],
                "median_wait": percentile(slot["waits"], 0.5),
            }
    figures.staff = _staff_load(operator_days)
    _event_figures(figures, period, service_ids)
    return figures


def _staff_load(operator_days: dict[tuple[int, date], list[float]]) -> dict[str, Any]:
    """Operators at work and how loaded they were.

    An operator-day is a day an operator closed at least one conversation;
    occupancy is their conversation time over the hours they were at
    work, read as the average number of conversations held at once.
    """
    operators = {operator for operator, _day in operator_days}
    per_day = [len(items) for items in operator_days.values()]
    busy = sum(sum(items) for items in operator_days.values())
    return {
        "operators": len(operators),
        "operator_days": len(operator_days),
        "per_operator_day": (sum(per_day) / len(per_day)) if per_day else None,
        "max_per_operator_day": max(per_day, default=0),
        "conversation_hours": busy / 3600,
    }


def _event_figures(
    figures: Figures, period: Period, service_ids: list[int] | None
) -> None:
    start, end = period.start_at, period.end_at
    passages = ServicePassage.objects.filter(at__gte=start, at__lt=end)
    moves = passages.exclude(kind=ServicePassage.Kind.START)
    in_scope = Q()
    if service_ids is not None:
        in_scope = Q(service_id__in=service_ids) | Q(from_service_id__in=service_ids)
        passages = passages.filter(service_id__in=service_ids)
    for row in (
        moves.filter(in_scope)
        .values("kind", from_name=F("from_service__name"), to_name=F("service__name"))
        .annotate(n=Count("id"))
        .order_by("kind", "from_name", "to_name")
    ):
        figures.transfers.append(row)
    figures.services = Counter(
        {
            row["service__name"]: row["n"]
            for row in ServicePassage.objects.filter(
                conversation__in=_conversations(period, service_ids)
            )
            .filter(**({"service_id__in": service_ids} if service_ids else {}))
            .values("service__name")
            .annotate(n=Count("conversation_id", distinct=True))
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
    """Consents, reports and disclosures: None until the escalation app has them."""
    return None

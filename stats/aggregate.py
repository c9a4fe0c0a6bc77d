"""The conversation-level figures, aggregated by the database.

One pass per question, each a GROUP BY that returns at most a few
thousand rows whatever the traffic: counts per local hour of the period
(from which the series, the heat map and the hour and weekday tables are
folded), histograms of durations for the percentiles, and counts by
department, category and operator-day.

The queries read plain numbers only: ``do_materialize`` first derives,
for the period's conversations not yet final, the local hour of the start
and the durations from the timestamps (parsing timestamps row by row is
what costs, on SQLite most of all), and marks closed ones final, so each
row is converted once in its life. Local time is computed in SQL: Paris's
UTC offset is constant between DST changes, so the offset is a CASE over
the period's few intervals, worked out in Python with zoneinfo. SQLite
and PostgreSQL run the same statements but for three small expressions.

Durations are binned so the histograms stay small: to the second under
ten minutes, to ten seconds under an hour, to the minute beyond. A
percentile is the lower bound of the bin holding the nearest-rank value.
"""

# ruff: noqa: S608 - the SQL text is built from constants and table names;
# every value goes through the driver's parameters.

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db import connection

from chat.models import Commune, Conversation
from stats.models import ServicePassage
from stats.periods import PARIS, Period

OUTCOMES = (
    "report",
    "orientation",
    "information",
    "other",
    "visitor_left",
    "abandoned",
)
MAIN = ("report", "orientation", "information", "other")
ROLES = tuple(Conversation.VisitorRole.values)
EPOCH_ORDINAL = date(1970, 1, 1).toordinal()

_SQL = {
    "sqlite": {
        "epoch": "ROUND((julianday({0}) - 2440587.5) * 86400.0, 3)",
        "floor": "CAST({0} AS INTEGER)",
        "categories": "json_each(c.categories) j",
    },
    "postgresql": {
        "epoch": "EXTRACT(EPOCH FROM {0})::float8",
        "floor": "FLOOR({0})::bigint",
        "categories": "jsonb_array_elements_text(c.categories) j(value)",
    },
}


def _sql(name: str, *args: str) -> str:
    return _SQL[connection.vendor][name].format(*args)


def offset_intervals(
    start: datetime, end: datetime
) -> list[tuple[datetime, datetime, int]]:
    """Return [(utc_from, utc_to, offset_seconds)] of Paris covering start–end."""
    start_utc = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    end_utc = end.astimezone(UTC)
    intervals: list[tuple[datetime, datetime, int]] = []
    cursor = start_utc
    offset = _offset(cursor)
    while cursor < end_utc:
        # Step a day at a time, then find the changing hour within it.
        step = cursor + timedelta(days=1)
        if _offset(step) != offset:
            step = cursor
            while _offset(step) == offset:
                step += timedelta(hours=1)
            intervals.append(
                (intervals[-1][1] if intervals else start_utc, step, offset)
            )
            offset = _offset(step)
        cursor = step
    intervals.append((intervals[-1][1] if intervals else start_utc, end_utc, offset))
    return intervals


def _offset(moment: datetime) -> int:
    return int(moment.astimezone(PARIS).utcoffset().total_seconds())


@dataclass
class Scope:
    """The WHERE clause shared by every query: period and services."""

    period: Period
    where: str
    params: list[Any]


def make_scope(period: Period, service_ids: list[int] | None) -> Scope:
    adapt = connection.ops.adapt_datetimefield_value
    where = "c.created_at >= %s AND c.created_at < %s"
    params: list[Any] = [adapt(period.start_at), adapt(period.end_at)]
    if service_ids is not None:
        marks = ", ".join(["%s"] * len(service_ids)) or "NULL"
        where += (
            f" AND c.id IN (SELECT conversation_id FROM "
            f"{ServicePassage._meta.db_table} WHERE service_id IN ({marks}))"
        )
        params += list(service_ids)
    return Scope(period, where, params)


def _span(later: str, earlier: str) -> str:
    """Seconds from ``earlier`` to ``later``, never negative; NULL if either is."""
    x = f"({_sql('epoch', later)} - {_sql('epoch', earlier)})"
    return f"(CASE WHEN {x} < 0 THEN 0 ELSE {x} END)"


def do_materialize(period: Period) -> int:
    """Derive the numbers of the period's conversations not yet final.

    Returns how many rows were updated (open ones are redone each time,
    closed ones once).
    """
    adapt = connection.ops.adapt_datetimefield_value
    cases, params = [], []
    for low, high, offset in offset_intervals(period.start_at, period.end_at):
        cases.append(f"WHEN created_at >= %s AND created_at < %s THEN {offset}")
        params += [adapt(low), adapt(high)]
    local = f"{_sql('epoch', 'created_at')} + CASE {' '.join(cases)} ELSE 3600 END"
    sql = (
        f"UPDATE {Conversation._meta.db_table} SET "
        f"stats_hour = {_sql('floor', f'(({local}) / 3600.0)')}, "
        f"wait_seconds = {_span('first_claimed_at', 'created_at')}, "
        f"reply_seconds = {_span('first_staff_reply_at', 'first_claimed_at')}, "
        f"length_seconds = {_span('closed_at', 'first_claimed_at')}, "
        "stats_messages = CASE WHEN first_claimed_at IS NOT NULL "
        "AND closed_at IS NOT NULL THEN visitor_messages + staff_messages END, "
        f"stats_final = (status = 'closed') "
        f"WHERE created_at >= %s AND created_at < %s AND NOT stats_final"
    )
    params += [adapt(period.start_at), adapt(period.end_at)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def _fetch(sql: str, params: Iterable[Any]) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, list(params))
        return cursor.fetchall()


def _when(condition: str) -> str:
    return f"COUNT(*) FILTER (WHERE {condition})"


# After do_materialize: wait_seconds is set iff the conversation was
# claimed, reply_seconds iff claimed and answered, length_seconds iff
# claimed and closed; reading them keeps the queries on the index.
CLAIMED = "c.wait_seconds IS NOT NULL"
CLOSED = "c.status = 'closed'"
COUNT_COLUMNS = {
    "started": "COUNT(*)",
    "handled": _when(CLAIMED),
    "abandoned": _when(f"c.wait_seconds IS NULL AND {CLOSED}"),
    "open": _when("c.status <> 'closed'"),
    "left_before_reply": _when(f"{CLAIMED} AND c.reply_seconds IS NULL AND {CLOSED}"),
    "urgent": _when("c.urgent"),
    "minor": _when("c.minor"),
    **{
        f"outcome:{name}": _when(
            f"{CLOSED} AND c.outcome = '{name}'"
            + ("" if name in MAIN else f" AND {CLAIMED}")
        )
        for name in OUTCOMES
    },
    **{f"role:{name}": _when(f"c.visitor_role = '{name}'") for name in ROLES},
}


COUNT_NAMES = list(COUNT_COLUMNS)


def hourly_counts(scope: Scope) -> list[tuple]:
    """Rows of (local hour index, *COUNT_COLUMNS), one per hour with any."""
    columns = ", ".join(COUNT_COLUMNS.values())
    sql = (
        f"SELECT c.stats_hour, {columns} "
        f"FROM {Conversation._meta.db_table} c WHERE {scope.where} GROUP BY 1"
    )
    return _fetch(sql, scope.params)


def _bin(x: str) -> str:
    return (
        f"CASE WHEN {x} < 600 THEN {_sql('floor', x)} "
        f"WHEN {x} < 3600 THEN {_sql('floor', f'{x} / 10.0')} * 10 "
        f"ELSE {_sql('floor', f'{x} / 60.0')} * 60 END"
    )


MEASURES = {
    "wait": "c.wait_seconds",
    "reply": "c.reply_seconds",
    "length": "c.length_seconds",
}


def histogram(scope: Scope, measure: str) -> list[tuple[float, int]]:
    """[(bin, count)] of a duration, or of the message count."""
    if measure == "messages":
        value = "c.stats_messages"
        condition = "c.stats_messages IS NOT NULL"
    else:
        value = _bin(MEASURES[measure])
        condition = f"{MEASURES[measure]} IS NOT NULL"
    sql = (
        f"SELECT {value} AS b, COUNT(*) FROM {Conversation._meta.db_table} c "
        f"WHERE {scope.where} AND {condition} GROUP BY 1"
    )
    return _fetch(sql, scope.params)


def wait_histograms_by(scope: Scope, part: str) -> list[tuple[int, float, int]]:
    """[(hour of day or ISO weekday, bin, count)] of the waits."""
    if part == "hour":
        key = "c.stats_hour %% 24"
    else:
        key = "(c.stats_hour / 24 + 3) %% 7 + 1"
    sql = (
        f"SELECT {key} AS k, {_bin('c.wait_seconds')} AS b, COUNT(*) "
        f"FROM {Conversation._meta.db_table} c "
        f"WHERE {scope.where} AND c.wait_seconds IS NOT NULL GROUP BY 1, 2"
    )
    return _fetch(sql, scope.params)


def percentile_of(
    histogram_rows: Iterable[tuple[float, int]], q: float
) -> float | None:
    """Nearest-rank percentile from (value, count) pairs."""
    rows = sorted(histogram_rows)
    total = sum(count for _value, count in rows)
    if not total:
        return None
    rank = max(1, _ceil(q * total))
    seen = 0
    for value, count in rows:
        seen += count
        if seen >= rank:
            return float(value)
    return float(rows[-1][0])


def _ceil(value: float) -> int:
    whole = int(value)
    return whole if whole == value else whole + 1


def by_department(scope: Scope) -> list[tuple[str | None, int]]:
    sql = (
        f"SELECT m.department, COUNT(*) FROM {Conversation._meta.db_table} c "
        f"LEFT JOIN {Commune._meta.db_table} m ON m.id = c.commune_id "
        f"WHERE {scope.where} GROUP BY 1"
    )
    return _fetch(sql, scope.params)


def by_category(scope: Scope) -> list[tuple[str, int]]:
    sql = (
        f"SELECT j.value, COUNT(*) FROM {Conversation._meta.db_table} c, "
        f"{_sql('categories')} WHERE {scope.where} GROUP BY 1"
    )
    return _fetch(sql, scope.params)


def staff_load(scope: Scope) -> tuple:
    """(operators, operator-days, conversations, busiest operator-day, seconds).

    An operator-day is an operator and a local day (of the conversations'
    start) on which they closed at least one conversation in their charge.
    """
    sql = (
        "SELECT COUNT(DISTINCT t.o), COUNT(*), SUM(t.n), MAX(t.n), SUM(t.s) FROM ("
        "SELECT c.operator_id AS o, c.stats_hour / 24 AS d, COUNT(*) AS n, "
        f"SUM(c.length_seconds) AS s FROM {Conversation._meta.db_table} c "
        f"WHERE {scope.where} AND c.length_seconds IS NOT NULL "
        "AND c.operator_id IS NOT NULL GROUP BY 1, 2) t"
    )
    return _fetch(sql, scope.params)[0]

"""Periods of the statistics, cut at midnight in Europe/Paris.

A day is a local calendar day (23 or 25 hours on DST change days), a week
runs Monday to Sunday, a month and a year are calendar ones, a custom
range is inclusive of both its dates.
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.utils.formats import date_format
from django.utils.translation import gettext as _

PARIS = ZoneInfo("Europe/Paris")
KINDS = ("day", "week", "month", "year", "custom")
MAX_CUSTOM_DAYS = 3 * 366


class PeriodError(ValueError):
    """A period that cannot be read; the message is for the user."""


@dataclass(frozen=True)
class Period:
    kind: str
    start: date  # first day
    end: date  # day after the last

    @property
    def start_at(self) -> datetime:
        return local_midnight(self.start)

    @property
    def end_at(self) -> datetime:
        return local_midnight(self.end)

    @property
    def last(self) -> date:
        return self.end - timedelta(days=1)

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def bucket(self) -> str:
        """The time series' step: hours of a day, days, or months."""
        if self.days <= 1:
            return "hour"
        if self.days <= 92:
            return "day"
        return "month"

    @property
    def label(self) -> str:
        last = self.end - timedelta(days=1)
        if self.kind == "day":
            return date_format(self.start, "DATE_FORMAT")
        if self.kind == "month":
            return date_format(self.start, "YEAR_MONTH_FORMAT")
        if self.kind == "year":
            return str(self.start.year)
        return _("du %(start)s au %(end)s") % {
            "start": date_format(self.start, "SHORT_DATE_FORMAT"),
            "end": date_format(last, "SHORT_DATE_FORMAT"),
        }

    def previous_year(self) -> "Period":
        """The same dates a year earlier (29 February becomes the 28th)."""
        return Period(self.kind, _year_back(self.start), _year_back(self.end))

    def previous(self) -> "Period":
        """The period just before, for the navigation links."""
        if self.kind == "month":
            return month_period(_add_months(self.start, -1))
        if self.kind == "year":
            return Period("year", date(self.start.year - 1, 1, 1), self.start)
        return Period(self.kind, self.start - timedelta(days=self.days), self.start)

    def next(self) -> "Period":
        if self.kind == "month":
            return month_period(self.end)
        if self.kind == "year":
            return Period("year", self.end, date(self.end.year + 1, 1, 1))
        return Period(self.kind, self.end, self.end + timedelta(days=self.days))

    def as_query(self) -> dict[str, str]:
        if self.kind == "custom":
            last = self.end - timedelta(days=1)
            return {
                "period": "custom",
                "start": self.start.isoformat(),
                "end": last.isoformat(),
            }
        return {"period": self.kind, "date": self.start.isoformat()}


def local_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=PARIS)


def _year_back(day: date) -> date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:
        return day.replace(year=day.year - 1, day=28)


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def month_period(day: date) -> Period:
    first = day.replace(day=1)
    return Period("month", first, _add_months(first, 1))


def make_period(
    kind: str, anchor: date, *, start: date | None = None, end: date | None = None
) -> Period:
    """Return the period of ``kind`` containing ``anchor`` (custom: start–end)."""
    if kind == "day":
        return Period("day", anchor, anchor + timedelta(days=1))
    if kind == "week":
        monday = anchor - timedelta(days=anchor.weekday())
        return Period("week", monday, monday + timedelta(days=7))
    if kind == "month":
        return month_period(anchor)
    if kind == "year":
        return Period("year", date(anchor.year, 1, 1), date(anchor.year + 1, 1, 1))
    if kind == "custom":
        if start is None or end is None:
            raise PeriodError(_("Indiquez le début et la fin de la période."))
        if end < start:
            raise PeriodError(_("La fin de la période précède son début."))
        if (end - start).days >= MAX_CUSTOM_DAYS:
            raise PeriodError(_("Période trop longue (trois ans au plus)."))
        return Period("custom", start, end + timedelta(days=1))
    raise PeriodError(_("Période inconnue."))


def parse_date(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        message = _("Date illisible : %(value)s") % {"value": value[:20]}
        raise PeriodError(message) from None


def period_from_query(params: dict[str, str], *, today: date) -> Period:
    """Read ``period``, ``date``, ``start``, ``end`` from a query string."""
    kind = params.get("period") or "month"
    anchor = parse_date(params.get("date")) or today
    return make_period(
        kind,
        anchor,
        start=parse_date(params.get("start")),
        end=parse_date(params.get("end")),
    )

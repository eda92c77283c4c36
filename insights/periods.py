"""Reporting periods (周反馈、月整改、季通报): a week (Monday to Sunday), a calendar month or a
calendar quarter, in the deployment's local time zone, with its bounds in UTC for queries."""
from __future__ import annotations

import dataclasses
import datetime as dt
import zoneinfo

from policies.validity import DEFAULT_TIMEZONE

KINDS = ("week", "month", "quarter")
NAMES = {"week": "周报", "month": "月报", "quarter": "季报"}


@dataclasses.dataclass(frozen=True)
class Period:
    kind: str
    start: dt.date          # first day, inclusive
    end: dt.date            # day after the last day (exclusive)
    timezone: str = DEFAULT_TIMEZONE

    @property
    def label(self) -> str:
        last = self.end - dt.timedelta(days=1)
        return f"{NAMES[self.kind]} {self.start.isoformat()} 至 {last.isoformat()}"

    def utc_bounds(self) -> tuple[dt.datetime, dt.datetime]:
        return local_midnight_utc(self.start, self.timezone), local_midnight_utc(self.end, self.timezone)

    def weeks(self) -> list[Period]:
        """The weeks that start inside this period (for per-week topic counts)."""
        monday = week_of(self.start, self.timezone).start
        weeks = []
        while monday < self.end:
            weeks.append(week_of(monday, self.timezone))
            monday += dt.timedelta(days=7)
        return weeks


def period_of(kind: str, day: dt.date, timezone: str = DEFAULT_TIMEZONE) -> Period:
    """The week / month / quarter containing `day`."""
    if kind == "week":
        return week_of(day, timezone)
    if kind == "month":
        return Period("month", day.replace(day=1), _add_months(day.replace(day=1), 1), timezone)
    if kind == "quarter":
        first = dt.date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
        return Period("quarter", first, _add_months(first, 3), timezone)
    raise ValueError(f"period must be one of {KINDS}, not {kind!r}")


def week_of(day: dt.date, timezone: str = DEFAULT_TIMEZONE) -> Period:
    monday = day - dt.timedelta(days=day.weekday())
    return Period("week", monday, monday + dt.timedelta(days=7), timezone)


def previous_weeks(week: Period, count: int) -> list[Period]:
    """The `count` weeks before `week`, oldest first."""
    return [week_of(week.start - dt.timedelta(days=7 * n), week.timezone) for n in range(count, 0, -1)]


def local_midnight_utc(day: dt.date, timezone: str) -> dt.datetime:
    local = dt.datetime.combine(day, dt.time(), tzinfo=zoneinfo.ZoneInfo(timezone))
    return local.astimezone(dt.UTC)


def local_date(moment: dt.datetime, timezone: str) -> dt.date:
    return moment.astimezone(zoneinfo.ZoneInfo(timezone)).date()


def _add_months(first: dt.date, months: int) -> dt.date:
    index = first.month - 1 + months
    return dt.date(first.year + index // 12, index % 12 + 1, 1)

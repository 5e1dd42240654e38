"""Date phrases as people write them (``2019``, ``March 2019``, ``last week``, ``past 3 days``) → ranges of days.

Used by ``query`` for ``since``/``until`` and ``date:`` in query text. A strict grammar of our own: a phrase it
does not know, or a numeric date whose day and month could be read either way, raises QueryError — never a guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from .errors import QueryError

__all__ = ["DayRange", "parse_phrase", "parse_day", "FORMS"]

FORMS = (
    "2019, 2019-03, March 2019 (or Mar 2019), 2019-03-05, 5 March 2019, March 5, 2019, today, yesterday, "
    "this/last week (ISO, Monday first), this/last month, this/last year, past N days|weeks|months|years "
    "(or last N ...), N days ago"
)
"""The forms the grammar knows, as error messages list them."""

MAX_COUNT = 100_000
"""The largest N of ``past N days`` (and ``N days ago``): beyond it a phrase is refused, not overflowed."""

_MONTHS = ("january february march april may june july august september october november december").split()
_MONTH_NAMES = {name: i for i, name in enumerate(_MONTHS, 1)} | {name[:3]: i for i, name in enumerate(_MONTHS, 1)}
_MONTH_NAMES["sept"] = 9
_MONTH = r"(?P<month>[a-z]+)\.?"
_UNITS = {"day": "days", "days": "days", "week": "weeks", "weeks": "weeks", "month": "months", "months": "months",
          "year": "years", "years": "years"}

_YEAR = re.compile(r"(?P<year>\d{4})", re.ASCII)
_YEAR_MONTH = re.compile(r"(?P<year>\d{4})-(?P<month>\d{1,2})", re.ASCII)
_ISO_DAY = re.compile(r"(?P<year>\d{4})-(?P<month>\d{1,2})-(?P<day>\d{1,2})", re.ASCII)
_MONTH_YEAR = re.compile(_MONTH + r" (?P<year>\d{4})", re.ASCII)
_DAY_MONTH_YEAR = re.compile(r"(?P<day>\d{1,2}) " + _MONTH + r" (?P<year>\d{4})", re.ASCII)
_MONTH_DAY_YEAR = re.compile(_MONTH + r" (?P<day>\d{1,2}) ?,? (?P<year>\d{4})", re.ASCII)
_PAST = re.compile(r"(?:past|last) (?:(?P<count>\d+) )?(?P<unit>[a-z]+)", re.ASCII)
_AGO = re.compile(r"(?P<count>\d+) (?P<unit>days?) ago", re.ASCII)
_NUMERIC = re.compile(r"(?P<a>\d{1,2})[./-](?P<b>\d{1,2})[./-](?P<year>\d{4})", re.ASCII)
_YEAR_FIRST = re.compile(r"(?P<year>\d{4})[./](?P<month>\d{1,2})[./](?P<day>\d{1,2})", re.ASCII)


@dataclass(frozen=True, slots=True)
class DayRange:
    """The days a phrase names, both ends inclusive: ``since`` takes ``start``, ``until`` takes ``end``."""

    start: date
    end: date


def parse_phrase(phrase: str, *, today: date, name: str = "date") -> DayRange:
    """The days ``phrase`` names; relative phrases count from ``today``. Case and extra spaces are ignored.

    A year or a month is its whole span, a week an ISO week (Monday to Sunday), ``past N days`` the N days ending
    today (``past 1 week``: today and the 6 days before), ``N days ago`` one day.

    >>> parse_phrase("March 2019", today=date(2020, 1, 1))
    DayRange(start=datetime.date(2019, 3, 1), end=datetime.date(2019, 3, 31))

    Raises:
        QueryError: the grammar does not know the phrase, it names no real day, or it is ambiguous
            (``10.11.2017``); the message names ``name`` and the phrase.
    """
    text = " ".join(phrase.lower().replace(",", " , ").split()).replace(" ,", ",")
    try:
        found = _parse(text, today)
    except (ValueError, OverflowError):
        found = None
        reason = "names no real day"
    else:
        reason = ""
    if found is not None:
        return found
    shown = " ".join(phrase.split())[:60]
    if m := _NUMERIC.fullmatch(text):
        a, b, year = m["a"], m["b"], m["year"]
        readings = [f"{year}-{int(b):02d}-{int(a):02d}", f"{year}-{int(a):02d}-{int(b):02d}"]
        readings = [r for r in dict.fromkeys(readings) if _real(r)]
        hint = " or ".join(readings) or "YYYY-MM-DD"
        why = "is ambiguous (day and month could be read either way)" if len(readings) > 1 else \
            "is not accepted (numeric dates with / . or - before the year are ambiguous)"
        raise QueryError(f"{name} must be a date: {shown!r} {why}; write {hint} (YYYY-MM-DD)")
    if m := _YEAR_FIRST.fullmatch(text):
        raise QueryError(f"{name} must be a date: for {shown!r} write {m['year']}-{int(m['month']):02d}-{int(m['day']):02d} (YYYY-MM-DD)")
    if reason:
        raise QueryError(f"{name} must be a date: {shown!r} {reason}")
    raise QueryError(f"{name} must be a date: unknown date phrase {shown!r}; write one of: {FORMS}")


def parse_day(text: str, name: str = "today") -> date:
    """One day written ``YYYY-MM-DD`` (as ``--today`` takes it).

    Raises:
        QueryError: ``text`` is not a real day in that form.
    """
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text.strip(), re.ASCII):
        try:
            return date.fromisoformat(text.strip())
        except ValueError:
            pass
    raise QueryError(f"{name} must be a day as YYYY-MM-DD, got {' '.join(text.split())[:40]!r}")


def _parse(text: str, today: date) -> DayRange | None:
    """The range of a squeezed, lower-case phrase; None when no form matches (ValueError: no such day)."""
    if m := _YEAR.fullmatch(text):
        return _year(int(m["year"]))
    if m := _YEAR_MONTH.fullmatch(text):
        return _month(int(m["year"]), int(m["month"]))
    if m := _ISO_DAY.fullmatch(text):
        return _day(date(int(m["year"]), int(m["month"]), int(m["day"])))
    for pattern in (_MONTH_YEAR, _DAY_MONTH_YEAR, _MONTH_DAY_YEAR):
        if (m := pattern.fullmatch(text)) and m["month"] in _MONTH_NAMES:
            month = _MONTH_NAMES[m["month"]]
            if "day" in m.groupdict():
                return _day(date(int(m["year"]), month, int(m["day"])))
            return _month(int(m["year"]), month)
    if text == "today":
        return _day(today)
    if text == "yesterday":
        return _day(today - timedelta(days=1))
    if text in ("this week", "last week"):
        monday = today - timedelta(days=today.weekday()) - timedelta(weeks=text == "last week")
        return DayRange(monday, monday + timedelta(days=6))
    if text in ("this month", "last month"):
        first = today.replace(day=1)
        if text == "last month":
            first = (first - timedelta(days=1)).replace(day=1)
        return _month(first.year, first.month)
    if text in ("this year", "last year"):
        return _year(today.year - (text == "last year"))
    if (m := _PAST.fullmatch(text)) and m["unit"] in _UNITS:
        unit = _UNITS[m["unit"]]
        count = int(m["count"]) if m["count"] is not None else 1
        # ``last week`` (above) is the calendar week; ``last 2 weeks`` and ``past week`` count back from today
        if not 1 <= count <= MAX_COUNT:
            return None
        return DayRange(_back(today, count, unit) + timedelta(days=1), today)
    if (m := _AGO.fullmatch(text)) and 0 <= int(m["count"]) <= MAX_COUNT:
        return _day(today - timedelta(days=int(m["count"])))
    return None


def _back(today: date, count: int, unit: str) -> date:
    """``today`` moved back ``count`` units; a day past the end of the month it lands in is that month's last."""
    if unit == "days":
        return today - timedelta(days=count)
    if unit == "weeks":
        return today - timedelta(weeks=count)
    months = today.year * 12 + today.month - 1 - (count if unit == "months" else 12 * count)
    year, month = divmod(months, 12)
    return date(year, month + 1, min(today.day, _days_in_month(year, month + 1)))


def _day(day: date) -> DayRange:
    return DayRange(day, day)


def _month(year: int, month: int) -> DayRange:
    return DayRange(date(year, month, 1), date(year, month, _days_in_month(year, month)))


def _year(year: int) -> DayRange:
    return DayRange(date(year, 1, 1), date(year, 12, 31))


def _real(iso: str) -> bool:
    try:
        date.fromisoformat(iso)
    except ValueError:
        return False
    return True


def _days_in_month(year: int, month: int) -> int:
    """The number of days of ``month`` in ``year``."""
    first_of_next = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return (first_of_next - timedelta(days=1)).day

"""Days on which offices and schools are closed: Saturdays, Sundays and the public holidays of Lower Saxony.

A coordinator who books an appointment or plans course sessions on such a day is asked once whether that is
meant ("25.12.2026 is a public holiday (Erster Weihnachtstag). Keep this day?"). The holidays come from the
maintained `holidays` package, under their German names: the name people see on calendars and letters.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from functools import cache
from zoneinfo import ZoneInfo

import holidays
from babel.dates import get_day_names

from bot.core.i18n import N_, NP_, Translator

KEEP_DAY = N_("Keep this day?")
KEEP_SESSIONS = N_("Keep these sessions?")


@cache
def _holidays(year: int) -> holidays.HolidayBase:
    return holidays.country_holidays("DE", subdiv="NI", years=year, language="de")


def holiday_name(day: date) -> str | None:
    """The public holiday's German name, or None on an ordinary day."""
    name = _holidays(day.year).get(day)
    return str(name) if name else None


def local_day(moment: datetime, time_zone: str) -> date:
    return moment.astimezone(ZoneInfo(time_zone)).date()


def closed_day_note(t: Translator, day: date) -> str | None:
    """One line on why this day is unusual for an appointment, or None."""
    name = holiday_name(day)
    if name is not None:
        return t(N_("{date} is a public holiday ({holiday})."), date=t.date(day, "medium"), holiday=name)
    if day.weekday() >= 5:
        weekday = str(get_day_names("wide", locale=t.locale)[day.weekday()])
        return t(N_("{date} is on a weekend ({weekday})."), date=t.date(day, "medium"), weekday=weekday)
    return None


def holidays_among(days: Iterable[date]) -> list[date]:
    return sorted(day for day in set(days) if holiday_name(day) is not None)


def holidays_note(t: Translator, days: list[date]) -> str:
    """"2 sessions fall on public holidays: 25.12.2026 (Erster Weihnachtstag), ..."""
    listed = ", ".join(f"{t.date(day, 'medium')} ({holiday_name(day)})" for day in days)
    return t.plural(NP_("{count} session falls on a public holiday: {days}.",
                        "{count} sessions fall on public holidays: {days}."), len(days), days=listed)

"""A weekly moment ("mon 07:30", Europe/Berlin): the digest's setting, checked when the settings are read."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

BERLIN = ZoneInfo("Europe/Berlin")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SCHEDULE = re.compile(r"^(mon|tue|wed|thu|fri|sat|sun)\s+([01]?\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True, slots=True)
class Schedule:
    weekday: int = 0
    at: time = time(7, 30)

    @classmethod
    def parse(cls, text: str) -> Schedule:
        """"mon 07:30"; raises ValueError with the expected form."""
        found = SCHEDULE.match(text.strip().lower())
        if not found:
            raise ValueError("must be a weekday and a time, like mon 07:30")
        return cls(WEEKDAYS.index(found.group(1)), time(int(found.group(2)), int(found.group(3))))

    def moment(self, now: datetime) -> datetime:
        """This week's digest moment (ISO week, Europe/Berlin), as an aware datetime."""
        local = now.astimezone(BERLIN)
        monday = local.date() - timedelta(days=local.weekday())
        return datetime.combine(monday + timedelta(days=self.weekday), self.at, tzinfo=BERLIN)

    def next_meeting(self, now: datetime) -> date:
        """The day of the coming Montagsrunde, today on its weekday: what a coordinator preparing it wants to see."""
        today = now.astimezone(BERLIN).date()
        return today + timedelta(days=(self.weekday - today.weekday()) % 7)

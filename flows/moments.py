"""Reads the date and time of an appointment as coordinators type it, in German or English.

Accepted: "Mo 14:00", "Montag 14 Uhr", "Monday 2 pm", "24.11. 10:30", "24.11.2026 10:30", "24.11.26 10:30",
"2026-11-24 10:30", "morgen 9 Uhr", "tomorrow 9:00", "heute 15:30", "übermorgen 10", "am Freitag um 8.30 Uhr".
The result is a moment in UTC; the words are read in the coordinator's time zone. Anything unclear is refused
with a hint, never guessed: a missing day or time, "10/11/2026" (October or November?), a date a few weeks ago
without a year, a moment in the past or more than two years ahead, a day or hour that does not exist.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.core.i18n import N_
from bot.core.text import clean_text
from flows.engine import Invalid
from flows.engine import dotted_day as dotted_day  # where the prompts' example days are computed
from flows.engine import example_day as example_day
from flows.engine import monday_after as monday_after

WEEKDAY_WORDS: dict[str, int] = {}
for _number, _words in enumerate((
        ("mo", "mon", "montag", "monday"),
        ("di", "die", "tue", "tues", "dienstag", "tuesday"),
        ("mi", "mit", "wed", "mittwoch", "wednesday"),
        ("do", "don", "thu", "thur", "thurs", "donnerstag", "thursday"),
        ("fr", "fre", "fri", "freitag", "friday"),
        ("sa", "sat", "samstag", "sonnabend", "saturday"),
        ("so", "son", "sun", "sonntag", "sunday"))):
    for _word in _words:
        WEEKDAY_WORDS[_word] = _number
RELATIVE_DAYS = {"heute": 0, "today": 0, "morgen": 1, "tomorrow": 1, "übermorgen": 2, "uebermorgen": 2}
FILLERS = {"am", "um", "den", "on", "at", "the", "next", "nächsten", "naechsten", "kommenden", "ab", ",", "-"}
SUFFIXES = ("uhr", "h", "am", "pm", "a.m.", "p.m.")
LATEST = timedelta(days=2 * 366)
RECENT_PAST = timedelta(days=60)
"""A day and month without a year that passed less than this long ago is a mistake, not next year."""

_TIME = re.compile(r"^(\d{1,2})(?:[:.](\d{2}))?(uhr|h|am|pm|a\.m\.|p\.m\.)?$")
_ISO_DAY = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_DOTTED_DAY = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{2}|\d{4})?$")
_SLASHED_DAY = re.compile(r"^(\d{1,2})/(\d{1,2})(?:/(\d{2}|\d{4}))?$")

EXAMPLE = N_("Please write the day and the time, for example: {weekday}, {day} or {tomorrow}.")


def moment_examples(now: datetime, time_zone: str, locale: str = "de") -> dict[str, str]:
    """The values for "{weekday}, {day} or {tomorrow}": three ways to write a moment, the day computed from today.

    English readers get English words (the parser reads both); everyone else the German ones they meet here."""
    english = locale.split("_")[0] == "en"
    return {"weekday": "Mon 14:00" if english else "Mo 14:00",
            "day": f"{dotted_day(example_day(now, time_zone), year=False)} 10:30",
            "tomorrow": "tomorrow 9:00" if english else "morgen 9 Uhr"}


def _tokens(text: str) -> list[str]:
    raw = clean_text(text).casefold().replace(",", " ")
    raw = re.sub(r"(\d)\s*(uhr|h|am|pm|a\.m\.|p\.m\.)(?=\s|$)", r"\1\2", raw)  # "9 Uhr" -> "9uhr"
    return [token for token in raw.split() if token not in FILLERS]


def parse_clock(token: str) -> time | None:
    """"14:00", "9uhr", "2pm", "8.30" -> a time; None when the token is no time at all."""
    found = _TIME.match(token)
    if not found:
        return None
    hour, minute, suffix = int(found.group(1)), int(found.group(2) or 0), found.group(3)
    if suffix in ("am", "a.m.", "pm", "p.m."):
        if not 1 <= hour <= 12:
            raise Invalid(N_("There is no such time. Please use hours 0 to 23 and minutes 0 to 59."))
        hour = hour % 12 + (12 if suffix in ("pm", "p.m.") else 0)
    if hour > 23 or minute > 59:
        raise Invalid(N_("There is no such time. Please use hours 0 to 23 and minutes 0 to 59."))
    return time(hour, minute)


def _is_time(token: str, day_known: bool) -> bool:
    """"14:00", "9 Uhr", "2 pm" are times anywhere; "9" or "8.30" only after the day ("morgen 9")."""
    found = _TIME.match(token)
    if not found:
        return False
    return bool(found.group(3)) or ":" in token or day_known


def _year(value: str | None, today: date) -> int | None:
    if value is None:
        return None
    number = int(value)
    return 2000 + number if len(value) == 2 else number


def _day(token: str, today: date) -> date | None:
    """A day from one token, or None when the token is not a day at all."""
    if token in RELATIVE_DAYS:
        return today + timedelta(days=RELATIVE_DAYS[token])
    if token in WEEKDAY_WORDS:
        ahead = (WEEKDAY_WORDS[token] - today.weekday()) % 7
        return today + timedelta(days=ahead)
    iso = _ISO_DAY.match(token)
    dotted = _DOTTED_DAY.match(token if token.count(".") >= 2 else token + ".") if "." in token else None
    slashed = _SLASHED_DAY.match(token)
    if iso:
        year, month, day = (int(part) for part in iso.groups())
        explicit_year: int | None = year
    elif dotted:
        day, month = int(dotted.group(1)), int(dotted.group(2))
        explicit_year = _year(dotted.group(3), today)
    elif slashed:
        day, month = int(slashed.group(1)), int(slashed.group(2))
        if day <= 12 and month <= 12 and day != month:
            raise Invalid(N_("Is that {first} or {second}? Please write the date with dots, like {example}."),
                          first=f"{day:02d}.{month:02d}.", second=f"{month:02d}.{day:02d}.",
                          example=dotted_day(monday_after(today)))
        explicit_year = _year(slashed.group(3), today)
    else:
        return None
    try:
        found = date(explicit_year or today.year, month, day)
    except ValueError:
        raise Invalid(N_("There is no such date. Please check the day and the month.")) from None
    if explicit_year is None and found < today:
        if today - found <= RECENT_PAST:
            raise Invalid(N_("This date has passed. If you mean next year, please write the year too, like "
                             "{example}."), example=f"{day:02d}.{month:02d}.{today.year + 1}")
        found = found.replace(year=today.year + 1)
    return found


def parse_moment(text: str, now: datetime, time_zone: str, locale: str = "de") -> datetime:
    """The moment meant by `text`, in UTC; raises `Invalid` with a hint in the writer's language otherwise, its
    examples the prompt's (English words for English readers)."""
    examples = moment_examples(now, time_zone, locale)
    if not text or len(text) > 100:
        raise Invalid(EXAMPLE, **examples)
    zone = ZoneInfo(time_zone)
    local_now = now.astimezone(zone)
    today = local_now.date()
    tokens = _tokens(text)
    if not tokens:
        raise Invalid(EXAMPLE, **examples)
    day: date | None = None
    clock: time | None = None
    weekday_named = False
    for token in tokens:
        if clock is None and _is_time(token, day is not None):
            clock = parse_clock(token)
            continue
        if day is None:
            found = _day(token, today)
            if found is not None:
                day = found
                weekday_named = token in WEEKDAY_WORDS
                continue
        raise Invalid(EXAMPLE, **examples)
    if day is None:
        raise Invalid(N_("Which day? Please write the day too, for example: {weekday}, {day} or {tomorrow}."),
                      **examples)
    if clock is None:
        raise Invalid(N_("At what time? Please write the time too, for example: {example}."),
                      example=f"{dotted_day(day, year=day.year != today.year)} 10:30")  # the day they meant
    if weekday_named and day == today and clock <= local_now.time():
        day += timedelta(days=7)  # "Mo 9:00" said on a Monday afternoon means next Monday
    # A wall time in the spring gap (02:30 on the last Sunday of March) moves forward by the gap, as clocks do.
    moment = datetime.combine(day, clock, tzinfo=zone).astimezone(UTC)
    if moment <= now:
        raise Invalid(N_("This moment is in the past. Please write a day and time from now on."))
    if moment - now > LATEST:
        raise Invalid(N_("Please choose a date within the next two years."))
    return moment

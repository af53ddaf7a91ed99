"""Language courses (Sprachkurse): a weekly schedule between two dates, written out as sessions.

`/course` lists a coordinator's courses and creates new ones (name, level, place, weekdays, times, first and
last day). `/course NUMBER` shows one with buttons to enrol a participant, cancel or move one session, and see
who will come to a session. Cancelling or moving a session tells every enrolled participant in their language
and re-plans their reminders. Participants see their courses and the next session with `/courses` (and in
`/appointments`).
"""

from __future__ import annotations

import re
from datetime import date, time, timedelta
from typing import Any

from sqlalchemy import select

from bot.core.access import STAFF, Action, may
from bot.core.i18n import N_, NP_
from bot.core.messages import Choice, button_key
from bot.core.text import clean_text
from bot.services.courses import (
    create_course,
    future_sessions,
    schedule_text,
    session_moments,
    upcoming_course_lines,
    weekday_names,
)
from flows.closed_days import KEEP_SESSIONS, holidays_among, holidays_note, local_day
from flows.engine import END, YES, Flow, InputKind, Invalid, Next, Step, Turn
from flows.intake import PARTICIPANT, participant_label
from flows.menu import MENU_ENTRIES, MenuEntry
from flows.moments import dotted_day, example_day
from flows.registry import Command, register, start_flow
from storage.models import AuditEntry, Course, Enrolment, Person

LEVELS = ("A1", "A2", "B1", "B2", "C1")
NP_PARTICIPANTS = NP_("{count} participant enrolled:", "{count} participants enrolled:")
NP_SESSIONS = NP_("{count} session", "{count} sessions")
MAX_WEEKS = 104
_TIMES = re.compile(r"^(\d{1,2})[:.]?(\d{2})?\s*(?:uhr)?\s*[-–—]\s*(\d{1,2})[:.]?(\d{2})?\s*(?:uhr)?$")


def parse_times(text: str) -> tuple[time, time]:
    """"9:00-12:00", "9-12", "9.00 – 12.30 Uhr": start before end, both on the same day."""
    found = _TIMES.match(clean_text(text).casefold())
    if not found:
        raise Invalid(N_("Please write the start and end time like 9:00-12:00."))
    hours = [int(found.group(1)), int(found.group(3))]
    minutes = [int(found.group(2) or 0), int(found.group(4) or 0)]
    if any(h > 23 for h in hours) or any(m > 59 for m in minutes):
        raise Invalid(N_("There is no such time. Please use hours 0 to 23 and minutes 0 to 59."))
    start, end = time(hours[0], minutes[0]), time(hours[1], minutes[1])
    if end <= start:
        raise Invalid(N_("The course must end after it starts. Please write it like 9:00-12:00."))
    return start, end


# ---------------------------------------------------------------------------------------------------------------
# What participants see


async def list_courses(turn: Turn, argument: str = "") -> None:
    if may(turn.person, Action.WORK_AS_STAFF):
        await course_command(turn, argument)
        return
    lines = await upcoming_course_lines(turn.session, turn.t, turn.person.id, turn.now)
    if not lines:
        turn.say(N_("You are not in a language course (Sprachkurs) yet. Ask your coordinator."))
        return
    turn.send("\n".join([turn.t(N_("Your language courses:")), "", *lines]))


# ---------------------------------------------------------------------------------------------------------------
# Coordinators: list, create, show


async def courses_of(turn: Turn) -> list[Course]:
    statement = select(Course).order_by(Course.id.desc()).limit(10)
    if not may(turn.person, Action.SEE_ALL):
        statement = statement.where(Course.run_by_id == turn.person.id)
    return list((await turn.session.scalars(statement)).all())


async def may_run(turn: Turn, course: Course) -> bool:
    return may(turn.person, Action.RUN_COURSE, course)


async def course_for(turn: Turn, number: str | int) -> Course | None:
    text = clean_text(str(number)).lstrip("#")
    course = await turn.session.get(Course, int(text)) if text.isdigit() and len(text) < 10 else None
    if course is None or not await may_run(turn, course):
        turn.say(N_("There is no course with this number for you."))
        return None
    return course


async def course_command(turn: Turn, argument: str) -> None:
    if argument:
        course = await course_for(turn, argument)
        if course is not None:
            await show_course(turn, course)
        return
    courses = await courses_of(turn)
    start_flow(turn, "course", {"courses": [[c.id, f"{c.name} ({c.level})"] for c in courses]})


async def show_course(turn: Turn, course: Course) -> None:
    enrolled = (await turn.session.scalars(select(Person).join(Enrolment, Enrolment.participant_id == Person.id)
                                           .where(Enrolment.course_id == course.id).order_by(Person.id))).all()
    upcoming = await future_sessions(turn.session, course.id, turn.now, limit=5)
    lines = [turn.t(N_("Course no. {number}: {course}"), number=course.id, course=f"{course.name} ({course.level})"),
             turn.t(N_("Where: {place}"), place=course.place), schedule_text(turn.t, course),
             turn.t(N_("From {first} to {last}"), first=turn.t.date(date.fromisoformat(course.first_day), "medium"),
                    last=turn.t.date(date.fromisoformat(course.last_day), "medium")), "",
             turn.t.plural(NP_PARTICIPANTS, len(enrolled)) if enrolled else turn.t(N_("Nobody is enrolled yet."))]
    lines += [f"· {participant_label(turn.t, p)}" for p in enrolled[:50]]
    if upcoming:
        lines += ["", turn.t(N_("Next sessions:"))]
        lines += [f"· {turn.t.when(s.starts_at)}" + (f" ({turn.t(N_('moved'))})" if s.moved else "")
                  for s in upcoming]
    buttons = [Choice(button_key("cs", f"enrol:{course.id}"), turn.t(N_("Enrol a participant"))),
               Choice(button_key("cs", f"who:{course.id}"), turn.t(N_("Who is coming?"))),
               Choice(button_key("cs", f"cancel:{course.id}"), turn.t(N_("Cancel a session"))),
               Choice(button_key("cs", f"move:{course.id}"), turn.t(N_("Move a session")))]
    turn.send("\n".join(lines), buttons if upcoming else [], "single" if upcoming else "none")


def course_options(turn: Turn) -> list[Choice]:
    options = [Choice(str(number), label) for number, label in turn.data.get("courses", [])]
    return [*options, Choice("new", turn.t(N_("New course")))]


async def _course_chosen(turn: Turn, value: Any) -> Next:
    if value == "new":
        return "name"
    course = await course_for(turn, str(value))
    if course is not None:
        await show_course(turn, course)
    return END


def level_options(turn: Turn) -> list[Choice]:
    return [Choice(level, level) for level in LEVELS]


def weekday_options(turn: Turn) -> list[Choice]:
    names = weekday_names(turn.t)
    return [Choice(str(number), names[number]) for number in range(6)]


def _words(turn: Turn, value: Any) -> Any:
    text = clean_text(str(value))
    if not any(ch.isalnum() for ch in text):
        raise Invalid(N_("Please write a few words, not only emoji or signs."))
    return text


def _times(turn: Turn, value: Any) -> Any:
    start, end = parse_times(str(value))
    return [start.strftime("%H:%M"), end.strftime("%H:%M")]


def _last_day(turn: Turn, value: Any) -> Any:
    first = date.fromisoformat(turn.data["first"])
    last = date.fromisoformat(str(value))
    if last < first:
        raise Invalid(N_("The last day must not be before the first day."))
    if (last - first).days > MAX_WEEKS * 7:
        raise Invalid(N_("Please choose a date within the next two years."))
    return str(value)


def planned_days(turn: Turn) -> list[date]:
    """The days the course being created meets on, in the coordinator's zone."""
    data = turn.data
    moments = session_moments([int(d) for d in data["weekdays"]], time.fromisoformat(data["times"][0]),
                              time.fromisoformat(data["times"][1]), date.fromisoformat(data["first"]),
                              date.fromisoformat(data["last"]), turn.person.time_zone)
    return [local_day(start, turn.person.time_zone) for start, _ in moments]


def skipped_days(turn: Turn) -> list[date]:
    """Holidays the coordinator chose not to keep: those sessions are cancelled from the start."""
    return [date.fromisoformat(day) for day in turn.data.get("skip_days", [])]


async def _last_given(turn: Turn, value: Any) -> Next:
    turn.data.pop("skip_days", None)
    return "holidays" if holidays_among(planned_days(turn)) else "confirm"


def holidays_text(turn: Turn) -> str:
    return f"{holidays_note(turn.t, holidays_among(planned_days(turn)))}\n\n{turn.t(KEEP_SESSIONS)}"


async def _holidays_answered(turn: Turn, value: Any) -> Next:
    if value != YES:
        turn.data["skip_days"] = [day.isoformat() for day in holidays_among(planned_days(turn))]
    return "confirm"


def course_summary(turn: Turn) -> str:
    data = turn.data
    names = weekday_names(turn.t)
    days = ", ".join(names[int(d)] for d in sorted(data["weekdays"], key=int))
    first, last = date.fromisoformat(data["first"]), date.fromisoformat(data["last"])
    skipped = skipped_days(turn)
    count = sum(1 for day in planned_days(turn) if day not in skipped)
    return "\n".join([
        turn.t(N_("Please check the course:")),
        f"{data['name']} ({data['level']})",
        turn.t(N_("Where: {place}"), place=data["place"]),
        turn.t(N_("{days}, {start}-{end}"), days=days, start=data["times"][0], end=data["times"][1]),
        turn.t(N_("From {first} to {last}"), first=turn.t.date(first, "medium"), last=turn.t.date(last, "medium")),
        turn.t.plural(NP_SESSIONS, count), "", turn.t(N_("Create the course?"))])




async def _create(turn: Turn, value: Any) -> Next:
    if value != YES:
        turn.say(N_("Nothing was created."))
        return END
    data = turn.data
    weekdays = [int(d) for d in data["weekdays"]]
    start, end = time.fromisoformat(data["times"][0]), time.fromisoformat(data["times"][1])
    course = await create_course(turn.session, data["name"], data["level"], data["place"], weekdays, start, end,
                                 date.fromisoformat(data["first"]), date.fromisoformat(data["last"]),
                                 turn.person.id, turn.person.time_zone, cancelled_days=skipped_days(turn))
    turn.session.add(AuditEntry(actor_id=turn.person.id, action="course.created", details={"course": course.id}))
    turn.say(N_("Created: course no. {number}."), number=course.id)
    await show_course(turn, course)
    return END


def _first_example(turn: Turn) -> dict[str, object]:
    """Next Monday, computed from today: an example date is never in the past."""
    return {"example": dotted_day(example_day(turn.now, turn.person.time_zone))}


def _last_example(turn: Turn) -> dict[str, object]:
    """Twelve weeks after the first day given (or after next Monday), ending on a Friday."""
    first = turn.data.get("first")
    start = date.fromisoformat(first) if isinstance(first, str) else example_day(turn.now, turn.person.time_zone)
    return {"example": dotted_day(start + timedelta(weeks=12, days=4 - start.weekday()))}


COURSE = Flow(
    name="course",
    roles=STAFF,
    steps=(
        Step(name="which", prompt=N_("Which course? Or create a new one."), kind=InputKind.CHOICE,
             options=course_options, on_answer=_course_chosen, describe="your courses, or new",
             branches=(("new", "name"),)),
        Step(name="name", prompt=N_("The course's name? For example: Integrationskurs BBS Wechloy."),
             kind=InputKind.TEXT, max_length=200, validate=_words, next="level", describe="name"),
        Step(name="level", prompt=N_("Which level?"), kind=InputKind.CHOICE, options=level_options, next="place",
             describe="A1-C1"),
        Step(name="place", prompt=N_("Where? For example: BBS Wechloy, Am Heidbrook 10, room 3."),
             kind=InputKind.TEXT, max_length=200, validate=_words, next="weekdays", describe="place"),
        Step(name="weekdays", prompt=N_("On which days of the week?"), kind=InputKind.MULTI,
             options=weekday_options, next="times", describe="weekdays"),
        Step(name="times", prompt=N_("From when to when? For example 9:00-12:00."), kind=InputKind.TEXT,
             max_length=40, validate=_times, next="first", describe="start and end time"),
        Step(name="first", prompt=N_("The first day? For example {example}."), prompt_values=_first_example,
             kind=InputKind.DATE, next="last", describe="first day"),
        Step(name="last", prompt=N_("The last day? For example {example}."), prompt_values=_last_example,
             kind=InputKind.DATE,
             validate=_last_day, on_answer=_last_given, describe="last day",
             branches=(("sessions on public holidays", "holidays"), ("otherwise", "confirm"))),
        Step(name="holidays", prompt=KEEP_SESSIONS, kind=InputKind.YES_NO, text=holidays_text,
             on_answer=_holidays_answered, next="confirm",
             describe="sessions on public holidays of Lower Saxony: keep them, or cancel them from the start"),
        Step(name="confirm", prompt=N_("Create the course?"), kind=InputKind.YES_NO, text=course_summary,
             on_answer=_create, next=END, describe="summary; sessions written out"),
    ),
)


async def _courses_entry(turn: Turn) -> None:
    await list_courses(turn)


register(COURSE, Command("course", N_("Language courses: create, enrol, cancel a session: /course NUMBER"),
                         action=course_command, roles=STAFF),
         Command("courses", N_("Your language courses"), action=list_courses, roles=PARTICIPANT))
# Participants find their courses under "My appointments" (with the next session) and with /courses.
MENU_ENTRIES.append(MenuEntry("courses", N_("Language courses"), action=_courses_entry, roles=STAFF, order=32))

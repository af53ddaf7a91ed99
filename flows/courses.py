"""Language courses (Sprachkurse): a weekly schedule between two dates, written out as sessions.

`/course` lists a coordinator's courses and creates new ones (name, level, place, weekdays, times, first and
last day). `/course NUMBER` shows one with buttons to enrol a participant, cancel or move one session, and see
who will come to a session. Cancelling or moving a session tells every enrolled participant in their language
and re-plans their reminders. Participants see their courses and the next session with `/courses` (and in
`/appointments`).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import get_day_names
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.i18n import N_, NP_, Translator
from bot.messages import Choice, Outgoing
from bot.reminders import drop, load_event, participants_of_session, plan, reminder_buttons, session_key
from flows.access import STAFF, Action, may
from flows.appointments import TO_WHEN, answers_for, candidate_options, event_lines, participants_named, when_examples
from flows.closed_days import KEEP_DAY, KEEP_SESSIONS, closed_day_note, holidays_among, holidays_note, local_day
from flows.conversation import Command, button_key, register, register_button, start_flow
from flows.engine import END, YES, Flow, InputKind, Invalid, Next, Step, Turn, clean_text
from flows.intake import PARTICIPANT, participant_label
from flows.menu import MENU_ENTRIES, MenuEntry
from flows.moments import dotted_day, example_day, parse_moment
from flows.notify import messages_for
from storage.models import Attendance, AuditEntry, Course, CourseSession, Enrolment, Person

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


def session_moments(weekdays: list[int], start: time, end: time, first: date, last: date,
                    time_zone: str) -> list[tuple[datetime, datetime]]:
    """Every meeting between the first and last day, in UTC; the wall clock stays the same across DST."""
    zone = ZoneInfo(time_zone)
    moments = []
    day = first
    while day <= last:
        if day.weekday() in weekdays:
            moments.append((datetime.combine(day, start, tzinfo=zone).astimezone(UTC),
                            datetime.combine(day, end, tzinfo=zone).astimezone(UTC)))
        day += timedelta(days=1)
    return moments


async def create_course(session: AsyncSession, name: str, level: str, place: str, weekdays: list[int], start: time,
                        end: time, first: date, last: date, run_by_id: int | None,
                        time_zone: str = "Europe/Berlin", cancelled_days: Collection[date] = ()) -> Course:
    """Writes the course and its sessions; sessions on `cancelled_days` (holidays) are cancelled from the start."""
    course = Course(name=name, level=level, place=place, weekdays=sorted(weekdays), start_time=start.strftime("%H:%M"),
                    end_time=end.strftime("%H:%M"), first_day=first.isoformat(), last_day=last.isoformat(),
                    time_zone=time_zone, run_by_id=run_by_id)
    session.add(course)
    await session.flush()
    zone = ZoneInfo(time_zone)
    session.add_all(CourseSession(course_id=course.id, starts_at=s, ends_at=e,
                                  status="cancelled" if s.astimezone(zone).date() in cancelled_days else "scheduled")
                    for s, e in session_moments(weekdays, start, end, first, last, time_zone))
    await session.flush()
    return course


async def enrol(session: AsyncSession, course: Course, participant: Person, now: datetime) -> bool:
    """Enrols once and plans reminders for every future session; False when already enrolled."""
    existing = await session.scalar(select(Enrolment.id).where(Enrolment.course_id == course.id,
                                                               Enrolment.participant_id == participant.id))
    if existing is not None:
        return False
    session.add(Enrolment(course_id=course.id, participant_id=participant.id, created_at=now))
    for course_session in await future_sessions(session, course.id, now):
        await plan(session, participant, session_key(course_session.id), course_session.starts_at, now,
                   new_event=True)  # a new enrolment: this person has no reminders for these sessions yet
    return True


async def enrolment_notice(session: AsyncSession, course: Course, participant: Person,
                           now: datetime) -> list[Outgoing]:
    upcoming = await future_sessions(session, course.id, now, limit=1)

    def render(t: Translator) -> str:
        lines = [t(N_("You are now in the language course (Sprachkurs) {course}."),
                   course=f"{course.name} ({course.level})"),
                 t(N_("Where: {place}"), place=course.place), schedule_text(t, course)]
        if upcoming:
            lines.append(t(N_("Next time: {when}"), when=t.when(upcoming[0].starts_at)))
        lines += ["", t(N_("We will remind you before each session. Change this in /settings."))]
        return "\n".join(lines)

    return await messages_for(session, participant, render)


async def future_sessions(session: AsyncSession, course_id: int, now: datetime,
                          limit: int | None = None) -> list[CourseSession]:
    statement = select(CourseSession).where(CourseSession.course_id == course_id, CourseSession.starts_at > now,
                                            CourseSession.status == "scheduled").order_by(CourseSession.starts_at)
    if limit is not None:
        statement = statement.limit(limit)
    return list((await session.scalars(statement)).all())


async def is_enrolled(session: AsyncSession, event_key: str, person_id: int) -> bool:
    kind, _, number = event_key.partition(":")
    if kind != "s" or not number.isdigit():
        return False
    found = await session.scalar(select(Enrolment.id).join(
        CourseSession, CourseSession.course_id == Enrolment.course_id).where(
        CourseSession.id == int(number), Enrolment.participant_id == person_id))
    return found is not None


def weekday_names(t: Translator) -> dict[int, str]:
    """Monday = 0, in the reader's language (CLDR's own names)."""
    return {int(number): str(name) for number, name in get_day_names("wide", locale=t.locale).items()}


def schedule_text(t: Translator, course: Course) -> str:
    names = weekday_names(t)
    days = ", ".join(names[int(d)] for d in course.weekdays)
    return t(N_("{days}, {start}-{end}"), days=days, start=course.start_time, end=course.end_time)


# ---------------------------------------------------------------------------------------------------------------
# What participants see


async def upcoming_sessions_lines(turn: Turn) -> list[str]:
    courses = (await turn.session.scalars(select(Course).join(Enrolment, Enrolment.course_id == Course.id).where(
        Enrolment.participant_id == turn.person.id).order_by(Course.id))).all()
    lines: list[str] = []
    for course in courses:
        upcoming = await future_sessions(turn.session, course.id, turn.now, limit=1)
        if not upcoming:
            continue
        lines += [turn.t(N_("Language course (Sprachkurs) {course}"), course=f"{course.name} ({course.level})"),
                  turn.t(N_("Where: {place}"), place=course.place), schedule_text(turn.t, course),
                  turn.t(N_("Next time: {when}"), when=turn.t.when(upcoming[0].starts_at)), ""]
    return lines[:-1] if lines else lines


async def list_courses(turn: Turn, argument: str = "") -> None:
    if may(turn.person, Action.WORK_AS_STAFF):
        await course_command(turn, argument)
        return
    lines = await upcoming_sessions_lines(turn)
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
             turn.t.plural(NP_PARTICIPANTS, len(enrolled))]
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


# ---------------------------------------------------------------------------------------------------------------
# Enrol, cancel or move a session, who is coming


async def _course_button(turn: Turn, payload: str) -> None:
    action, _, number = payload.partition(":")
    if not may(turn.person, Action.WORK_AS_STAFF):
        turn.say(N_("This button belongs to an earlier question and no longer works."))
        return
    course = await course_for(turn, number)
    if course is None:
        return
    if action == "enrol":
        start_flow(turn, "enrol", {"course": course.id})
    elif action in ("cancel", "move", "who"):
        sessions = await future_sessions(turn.session, course.id, turn.now, limit=10)
        if not sessions:
            turn.say(N_("This course has no more sessions."))
            return
        start_flow(turn, "course_session", {"course": course.id, "action": action,
                                            "sessions": [s.id for s in sessions],
                                            "session_labels": {str(s.id): turn.t.when(s.starts_at) for s in sessions}})
    else:
        turn.say(N_("This button belongs to an earlier question and no longer works."))


async def _enrol_who(turn: Turn, value: Any) -> Next:
    found = await participants_named(turn, value)
    if found is None:
        return "who"
    if len(found) == 1:
        return await _enrol_one(turn, found[0].id)
    turn.data["candidates"] = [p.id for p in found]
    turn.data["candidate_labels"] = {str(p.id): participant_label(turn.t, p) for p in found}
    return "pick"




async def _enrol_picked(turn: Turn, value: Any) -> Next:
    return await _enrol_one(turn, int(value))


async def _enrol_one(turn: Turn, person_id: int) -> Next:
    course = await course_for(turn, turn.data.get("course", 0))
    participant = await turn.session.get(Person, person_id)
    if course is None or participant is None:
        return END
    if not await enrol(turn.session, course, participant, turn.now):
        turn.say(N_("{participant} is already in this course."), participant=participant_label(turn.t, participant))
        return END
    turn.outgoing.extend(await enrolment_notice(turn.session, course, participant, turn.now))
    turn.session.add(AuditEntry(actor_id=turn.person.id, subject_id=participant.id, action="course.enrolled",
                                details={"course": course.id}))
    turn.say(N_("{participant} is now in the course and was told."),
             participant=participant_label(turn.t, participant))
    return END


ENROL = Flow(
    name="enrol",
    roles=STAFF,
    steps=(
        Step(name="who", prompt=N_("Who should join the course? Write a name or a participant number."),
             kind=InputKind.TEXT, max_length=100, on_answer=_enrol_who, next=END, describe="name or number",
             branches=(("several", "pick"),)),
        Step(name="pick", prompt=N_("Which participant do you mean?"), kind=InputKind.CHOICE,
             options=candidate_options, on_answer=_enrol_picked, next=END, describe="participants that fit"),
    ),
)



def session_options(turn: Turn) -> list[Choice]:
    labels = turn.data.get("session_labels", {})
    return [Choice(str(sid), labels.get(str(sid), f"#{sid}")) for sid in turn.data.get("sessions", [])]



async def _session_chosen(turn: Turn, value: Any) -> Next:
    course_session = await turn.session.get(CourseSession, int(value))
    course = await course_for(turn, turn.data.get("course", 0))
    if course is None or course_session is None or course_session.course_id != course.id:
        return END
    turn.data["session"] = course_session.id
    action = turn.data.get("action")
    if action == "who":
        people = await participants_of_session(turn.session, course_session.id)
        lines = [turn.t(N_("Who is coming on {when}:"), when=turn.t.when(course_session.starts_at)),
                 *await answers_for(turn, session_key(course_session.id), people)]
        if not people:
            lines.append(turn.t(N_("Nobody is enrolled yet.")))
        turn.send("\n".join(lines))
        return END
    if action == "move":
        return "when"
    return "confirm"


async def _session_cancelled(turn: Turn, value: Any) -> Next:
    if value != YES:
        turn.say(N_("The session stays as it is."))
        return END
    course_session = await turn.session.get(CourseSession, int(turn.data.get("session", 0)))
    course = await course_for(turn, turn.data.get("course", 0))
    if course is None or course_session is None or course_session.status != "scheduled":
        turn.say(N_("This session cannot be changed any more."))
        return END
    course_session.status = "cancelled"
    key = session_key(course_session.id)
    await drop(turn.session, key, "cancelled")
    people = await participants_of_session(turn.session, course_session.id)

    def render(t: Translator) -> str:
        return t(N_("The language course (Sprachkurs) {course} on {when} is cancelled. You do not need to come."),
                 course=f"{course.name} ({course.level})", when=t.when(course_session.starts_at))

    for person in people:
        turn.outgoing.extend(await messages_for(turn.session, person, render))
    turn.session.add(AuditEntry(actor_id=turn.person.id, action="course.session_cancelled",
                                details={"course": course.id, "session": course_session.id}))
    turn.say(N_("Cancelled. Everyone in the course was told ({count})."), count=len(people))
    return END


def _moment(turn: Turn, value: Any) -> Any:
    return parse_moment(str(value), turn.now, turn.person.time_zone).isoformat()


def _closed_session_day(turn: Turn) -> str | None:
    return closed_day_note(turn.t, local_day(datetime.fromisoformat(turn.data["when"]), turn.person.time_zone))


async def _session_when_given(turn: Turn, value: Any) -> Next:
    return "closed_day" if _closed_session_day(turn) else await _session_moved(turn, value)


def closed_session_day_text(turn: Turn) -> str:
    return f"{_closed_session_day(turn) or ''}\n\n{turn.t(KEEP_DAY)}".strip()


async def _closed_session_day_kept(turn: Turn, value: Any) -> Next:
    return await _session_moved(turn, turn.data["when"]) if value == YES else "when"


async def _session_moved(turn: Turn, value: Any) -> Next:
    course_session = await turn.session.get(CourseSession, int(turn.data.get("session", 0)))
    course = await course_for(turn, turn.data.get("course", 0))
    if course is None or course_session is None or course_session.status != "scheduled":
        turn.say(N_("This session cannot be changed any more."))
        return END
    old = course_session.starts_at
    length = course_session.ends_at - course_session.starts_at
    course_session.starts_at = datetime.fromisoformat(str(value))
    course_session.ends_at = course_session.starts_at + length
    course_session.moved = True
    key = session_key(course_session.id)
    await turn.session.flush()
    await turn.session.execute(delete(Attendance).where(Attendance.event_key == key))  # answers were for the old time
    people = await participants_of_session(turn.session, course_session.id)
    event = await load_event(turn.session, key)
    assert event is not None
    for person in people:
        await plan(turn.session, person, key, course_session.starts_at, turn.now)

        def render(t: Translator) -> str:
            return "\n".join([t(N_("The language course (Sprachkurs) {course} was moved."),
                                course=f"{course.name} ({course.level})"),
                              t(N_("Before: {when}"), when=t.when(old)), *event_lines(t, event)])

        turn.outgoing.extend(await messages_for(turn.session, person, render, lambda t: reminder_buttons(t, key)))
    turn.session.add(AuditEntry(actor_id=turn.person.id, action="course.session_moved",
                                details={"course": course.id, "session": course_session.id}))
    turn.say(N_("Moved to {when}. Everyone in the course was told ({count})."),
             when=turn.t.when(course_session.starts_at), count=len(people))
    return END



COURSE_SESSION = Flow(
    name="course_session",
    roles=STAFF,
    steps=(
        Step(name="session", prompt=N_("Which session?"), kind=InputKind.CHOICE, options=session_options,
             on_answer=_session_chosen, describe="the next ten sessions",
             branches=(("cancel", "confirm"), ("move", "when"))),
        Step(name="confirm", prompt=N_("Cancel this session? Everyone in the course will be told."),
             kind=InputKind.YES_NO, on_answer=_session_cancelled, next=END, describe="everyone enrolled is told"),
        Step(name="when", prompt=TO_WHEN, prompt_values=when_examples,
             kind=InputKind.TEXT, max_length=100, validate=_moment, on_answer=_session_when_given, next=END,
             describe="new day and time; everyone enrolled is told", branches=(("weekend or holiday", "closed_day"),)),
        Step(name="closed_day", prompt=KEEP_DAY, kind=InputKind.YES_NO, text=closed_session_day_text,
             on_answer=_closed_session_day_kept, next=END, describe="a weekend or public holiday: keep it?",
             branches=(("no", "when"),)),
    ),
)



async def _courses_entry(turn: Turn) -> None:
    await list_courses(turn)


register(COURSE, Command("course", N_("Language courses: create, enrol, cancel a session: /course NUMBER"),
                         action=course_command, roles=STAFF),
         Command("courses", N_("Your language courses"), action=list_courses, roles=PARTICIPANT))
register(ENROL)
register(COURSE_SESSION)
register_button("cs", _course_button)
# Participants find their courses under "My appointments" (with the next session) and with /courses.
MENU_ENTRIES.append(MenuEntry("courses", N_("Language courses"), action=_courses_entry, roles=STAFF, order=32))

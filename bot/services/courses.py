"""Language courses (Sprachkurse): the questions every flow asks about them — sessions ahead, who is enrolled, and
how a course's schedule reads in the participant's language."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from babel.dates import get_day_names
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.i18n import N_, Translator
from bot.core.messages import Outgoing
from bot.core.notify import messages_for
from bot.services.reminders import plan, session_key
from storage.models import Course, CourseSession, Enrolment, Person


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


async def upcoming_course_lines(session: AsyncSession, t: Translator, person_id: int, now: datetime) -> list[str]:
    """The participant's courses with their next session (for /courses and /appointments)."""
    courses = (await session.scalars(select(Course).join(Enrolment, Enrolment.course_id == Course.id).where(
        Enrolment.participant_id == person_id).order_by(Course.id))).all()
    lines: list[str] = []
    for course in courses:
        upcoming = await future_sessions(session, course.id, now, limit=1)
        if not upcoming:
            continue
        lines += [t(N_("Language course (Sprachkurs) {course}"), course=f"{course.name} ({course.level})"),
                  t(N_("Where: {place}"), place=course.place), schedule_text(t, course),
                  t(N_("Next time: {when}"), when=t.when(upcoming[0].starts_at)), ""]
    return lines[:-1] if lines else lines


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

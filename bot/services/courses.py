"""Language courses (Sprachkurse): the questions every flow asks about them — sessions ahead, who is enrolled, and
how a course's schedule reads in the participant's language."""

from __future__ import annotations

from datetime import datetime

from babel.dates import get_day_names
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.i18n import N_, Translator
from storage.models import Course, CourseSession, Enrolment


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

"""Language courses, day to day: enrol participants, cancel or move a session, and who is coming (`/course N`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete

from bot.core.access import STAFF, Action, may
from bot.core.i18n import N_, Translator
from bot.core.messages import Choice
from bot.core.notify import messages_for
from bot.services.courses import enrol, enrolment_notice, future_sessions
from bot.services.reminders import drop, load_event, participants_of_session, plan, reminder_buttons, session_key
from flows.appointments import TO_WHEN, answers_for, candidate_options, event_lines, participants_named, when_examples
from flows.closed_days import KEEP_DAY, closed_day_note, local_day
from flows.courses import course_for
from flows.engine import END, YES, Flow, InputKind, Next, Step, Turn
from flows.intake import participant_label
from flows.moments import parse_moment
from flows.registry import register, register_button, start_flow
from storage.models import Attendance, AuditEntry, CourseSession, Person

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
    return parse_moment(str(value), turn.now, turn.person.time_zone, turn.t.locale).isoformat()


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


register(ENROL)
register(COURSE_SESSION)
register_button("cs", _course_button)

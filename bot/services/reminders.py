"""Reminders for appointments and course sessions: planned into a table, sent exactly once, never at night.

The `reminders` table is the truth. Each row is one reminder to one participant for one event, with the moment
it is due and its status. Sending a reminder flips its row from "planned" to "sent" with a conditional UPDATE
and writes its outbox message in the same transaction, so a crash, a restart or two processes racing can never
send it twice, and a committed "sent" always has its message in the outbox (which the sender delivers at least
once, like every other message).

APScheduler 3.x only wakes the process (`bot.runtime.waker.ReminderScheduler`): one in-memory job set to the earliest
planned reminder, set again after every round and whenever the dispatcher changed something. A reminder that
fell due while Lotse was down is sent after the restart if its event has not started yet ("useful"); otherwise it
is recorded as missed and not sent. If the restart falls in the quiet hours, it waits until 07:30 (or is missed
if the event is before that).

Times: reminders are planned in the participant's time zone (default Europe/Berlin), so "the evening before at
18:00" is 18:00 on the wall clock on both sides of a daylight-saving change. "Two hours before" is two real
hours. No reminder falls between 21:00 and 07:30 local time: one that would is moved earlier, to 20:30.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.core.i18n import DEFAULT_LOCALE, N_, Translator
from bot.core.messages import Choice, Outgoing, button_key
from bot.core.reach import chat_for
from storage.models import (
    Appointment,
    Course,
    CourseSession,
    Enrolment,
    OutboxEntry,
    Person,
    Reminder,
    ReminderChoice,
)

log = logging.getLogger("lotse.reminders")

EVENING_BEFORE, TWO_HOURS_BEFORE = "evening_before", "two_hours_before"
KINDS = (EVENING_BEFORE, TWO_HOURS_BEFORE)
EVENING_AT = time(18, 0)
QUIET_FROM, QUIET_UNTIL = time(21, 0), time(7, 30)
MOVED_TO = time(20, 30)
"""Where a reminder that would fall in the quiet hours goes: the evening before them."""
JOB_ID = "lotse-reminders"
BATCH = 200
"""Reminders per transaction: the sender starts on the first batch while the next one is written."""

APPOINTMENT_KINDS: dict[str, str] = {
    "jobcenter": N_("Jobcenter"),
    "counselling": N_("Counselling (Beratung)"),
    "potential_check": N_("Potential check (Potenzialcheck)"),
    "matching": N_("Meeting companies (Matching)"),
    "internship": N_("Job shadowing or internship (Hospitation / Praktikum)"),
    "other": N_("Other appointment (Termin)"),
}


# ---------------------------------------------------------------------------------------------------------------
# When a reminder is due


def in_quiet_hours(moment: datetime, time_zone: str) -> bool:
    local = moment.astimezone(ZoneInfo(time_zone)).time()
    return local >= QUIET_FROM or local < QUIET_UNTIL


def out_of_quiet_hours(moment: datetime, time_zone: str) -> datetime:
    """The same moment, or 20:30 local on the evening before the quiet hours it falls into."""
    if not in_quiet_hours(moment, time_zone):
        return moment
    zone = ZoneInfo(time_zone)
    local = moment.astimezone(zone)
    day = local.date() if local.time() >= QUIET_FROM else local.date() - timedelta(days=1)
    return datetime.combine(day, MOVED_TO, tzinfo=zone).astimezone(UTC)


def end_of_quiet_hours(moment: datetime, time_zone: str) -> datetime:
    """The next 07:30 local after `moment` (in the quiet hours): when a held-up reminder may go."""
    zone = ZoneInfo(time_zone)
    local = moment.astimezone(zone)
    day = local.date() + timedelta(days=1) if local.time() >= QUIET_FROM else local.date()
    return datetime.combine(day, QUIET_UNTIL, tzinfo=zone).astimezone(UTC)


def due_at(kind: str, starts_at: datetime, time_zone: str) -> datetime:
    zone = ZoneInfo(time_zone)
    if kind == EVENING_BEFORE:
        day = starts_at.astimezone(zone).date() - timedelta(days=1)
        planned = datetime.combine(day, EVENING_AT, tzinfo=zone).astimezone(UTC)
    else:
        planned = starts_at - timedelta(hours=2)
    return out_of_quiet_hours(planned, time_zone)


async def wanted_kinds(session: AsyncSession, person_id: int) -> tuple[str, ...]:
    choice = await session.get(ReminderChoice, person_id)
    if choice is None:
        return KINDS
    return tuple(kind for kind, on in ((EVENING_BEFORE, choice.evening_before),
                                       (TWO_HOURS_BEFORE, choice.two_hours_before)) if on)


# ---------------------------------------------------------------------------------------------------------------
# Planning


def appointment_key(appointment_id: int) -> str:
    return f"a:{appointment_id}"


def session_key(session_id: int) -> str:
    return f"s:{session_id}"


async def plan(session: AsyncSession, participant: Person, event_key: str, starts_at: datetime, now: datetime,
               kinds: Sequence[str] | None = None, new_event: bool = False) -> int:
    """(Re)plans one participant's reminders for one event; earlier planned ones for other times are dropped.

    A reminder already due at planning time is not planned: the booking message itself stands in for it.
    `new_event`: the event was just created, so there is nothing earlier to drop or keep (two queries saved).
    Returns how many reminders are planned for the event afterwards.
    """
    rows: dict[str, Reminder] = {}
    if not new_event:
        await drop(session, event_key, "moved", participant_id=participant.id, keep_starts_at=starts_at)
        rows = {r.kind: r for r in (await session.scalars(select(Reminder).where(
            Reminder.participant_id == participant.id, Reminder.event_key == event_key,
            Reminder.event_starts_at == starts_at))).all()}
    wanted = kinds if kinds is not None else await wanted_kinds(session, participant.id)
    kind_of, _, number = event_key.partition(":")
    planned = 0
    for kind in wanted:
        due = due_at(kind, starts_at, participant.time_zone)
        useful = now < due < starts_at
        row = rows.get(kind)
        if row is not None:  # planned before for this very time: keep it, or bring back one dropped unsent
            if row.status == "dropped" and useful:
                row.status, row.due_at, row.note = "planned", due, None
            planned += row.status == "planned"
            continue
        if not useful:
            continue
        session.add(Reminder(participant_id=participant.id, event_key=event_key, event_starts_at=starts_at,
                             kind=kind, due_at=due, status="planned",
                             appointment_id=int(number) if kind_of == "a" else None,
                             session_id=int(number) if kind_of == "s" else None))
        planned += 1
    return planned


async def drop(session: AsyncSession, event_key: str, reason: str, participant_id: int | None = None,
               keep_starts_at: datetime | None = None) -> int:
    """Planned reminders of an event that must not go out any more (cancelled, moved, opted out)."""
    statement = update(Reminder).where(Reminder.event_key == event_key, Reminder.status == "planned")
    if participant_id is not None:
        statement = statement.where(Reminder.participant_id == participant_id)
    if keep_starts_at is not None:
        statement = statement.where(Reminder.event_starts_at != keep_starts_at)
    result = await session.execute(statement.values(status="dropped", note=reason))
    return int(getattr(result, "rowcount", 0) or 0)


async def replan_person(session: AsyncSession, person: Person, now: datetime) -> None:
    """After a change in /settings: the future reminders follow the participant's new choice."""
    kinds = await wanted_kinds(session, person.id)
    await session.execute(update(Reminder).where(
        Reminder.participant_id == person.id, Reminder.status == "planned", Reminder.kind.not_in(kinds))
        .values(status="dropped", note="opted out"))
    appointments = (await session.scalars(select(Appointment).where(
        Appointment.participant_id == person.id, Appointment.status == "scheduled",
        Appointment.starts_at > now))).all()
    for appointment in appointments:
        await plan(session, person, appointment_key(appointment.id), appointment.starts_at, now, kinds)
    sessions = (await session.scalars(select(CourseSession).join(
        Enrolment, Enrolment.course_id == CourseSession.course_id).where(
        Enrolment.participant_id == person.id, CourseSession.status == "scheduled",
        CourseSession.starts_at > now))).all()
    for course_session in sessions:
        await plan(session, person, session_key(course_session.id), course_session.starts_at, now, kinds)


# ---------------------------------------------------------------------------------------------------------------
# What a reminder says


@dataclass(frozen=True, slots=True)
class Event:
    """What a participant is reminded of, whatever kind of event it is."""

    key: str
    starts_at: datetime
    place: str
    title: str
    """A catalog message (appointment kind) or a course name (shown as it is)."""
    is_course: bool
    note: str | None = None
    active: bool = True
    owner_id: int | None = None
    """Who hears a "can't come": the coordinator who booked it, or who runs the course."""


def _appointment_event(appointment: Appointment) -> Event:
    return Event(appointment_key(appointment.id), appointment.starts_at, appointment.place,
                 APPOINTMENT_KINDS.get(appointment.kind, APPOINTMENT_KINDS["other"]), False, appointment.note,
                 appointment.status == "scheduled", appointment.booked_by_id)


def _session_event(course_session: CourseSession, course: Course) -> Event:
    return Event(session_key(course_session.id), course_session.starts_at, course.place,
                 f"{course.name} ({course.level})", True, None, course_session.status == "scheduled",
                 course.run_by_id)


async def load_event(session: AsyncSession, event_key: str) -> Event | None:
    kind, _, number = event_key.partition(":")
    if kind not in ("a", "s") or not number.isdigit():
        return None
    return (await load_events(session, {event_key})).get(event_key)


def event_title(t: Translator, event: Event) -> str:
    return t(N_("Language course (Sprachkurs) {course}"), course=event.title) if event.is_course else t(event.title)


def reminder_text(t: Translator, event: Event, kind: str) -> str:
    lines = [t(N_("Reminder: {what}"), what=event_title(t, event)),
             t(N_("When: {when}"), when=t.when(event.starts_at)),
             t(N_("Where: {place}"), place=event.place)]
    if event.note:
        lines.append(t(N_("Note: {note}"), note=event.note))
    lines += ["", t(N_("Will you come? Please tap a button."))]
    return "\n".join(lines)


def reminder_buttons(t: Translator, event_key: str) -> list[Choice]:

    return [Choice(button_key("rm", f"yes:{event_key}"), t(N_("I'll be there"))),
            Choice(button_key("rm", f"no:{event_key}"), t(N_("I can't come")))]


# ---------------------------------------------------------------------------------------------------------------
# Sending


@dataclass
class Round:
    sent: int = 0
    missed: int = 0
    held: int = 0
    dropped: int = 0
    deferred: int = 0

    @property
    def total(self) -> int:
        return self.sent + self.missed + self.held + self.dropped + self.deferred


async def deliver_due(sessions: async_sessionmaker[AsyncSession], now: datetime, batch: int = BATCH,
                      before_commit: Callable[[], Awaitable[None]] | None = None,
                      committed: Callable[[], None] | None = None) -> Round:
    """Sends every reminder due by `now`, batch by batch; each batch is one transaction with its outbox rows.

    `committed` is called after each batch (the sender starts on it while the next batch is written);
    `before_commit` lets a test crash or kill the process after a batch's messages were written, before commit.
    """
    done = Round()
    while True:
        async with sessions() as session, session.begin():
            ids = list((await session.scalars(select(Reminder.id).where(
                Reminder.status == "planned", Reminder.due_at <= now).order_by(Reminder.due_at, Reminder.id)
                .limit(batch))).all())
            if not ids:
                return done
            await _deliver_batch(session, ids, now, done)
            if before_commit is not None:
                await session.flush()
                await before_commit()
        if committed is not None:
            committed()


async def _deliver_batch(session: AsyncSession, ids: list[int], now: datetime, done: Round) -> None:
    # The claim: only rows still "planned" are taken; a second process or a rerun finds nothing to take.
    claimed = set((await session.scalars(update(Reminder).where(
        Reminder.id.in_(ids), Reminder.status == "planned").values(status="sending")
        .returning(Reminder.id))).all())
    reminders = (await session.scalars(select(Reminder).where(Reminder.id.in_(claimed))
                                       .order_by(Reminder.due_at, Reminder.id))).all()
    people = {p.id: p for p in (await session.scalars(select(Person).where(
        Person.id.in_({r.participant_id for r in reminders})))).all()}
    handles = {person_id: [handle] for person_id, handle in (await chat_for(session, people)).items()}
    events = await load_events(session, {r.event_key for r in reminders})
    # Two reminders of one event due at once (after downtime): the later one alone is sent, not both together.
    latest = {(r.participant_id, r.event_key): r.id for r in reminders}
    written: list[tuple[Reminder, OutboxEntry]] = []
    rendered: dict[tuple[str, str, str, str], tuple[str, tuple[Choice, ...]]] = {}
    for reminder in reminders:
        event = events.get(reminder.event_key)
        if event is None or not event.active or event.starts_at != reminder.event_starts_at:
            reminder.status, reminder.note = "dropped", "event changed"
            done.dropped += 1
            continue
        if event.starts_at <= now:
            reminder.status, reminder.note = "missed", "due while Lotse was down; the event had begun"
            done.missed += 1
            continue
        if latest[(reminder.participant_id, reminder.event_key)] != reminder.id:
            reminder.status, reminder.note = "missed", "due while Lotse was down; a later reminder went instead"
            done.missed += 1
            continue
        person = people[reminder.participant_id]
        if in_quiet_hours(now, person.time_zone):  # due during downtime, deliverable only at night: the morning
            morning = end_of_quiet_hours(now, person.time_zone)
            if morning >= event.starts_at:
                reminder.status, reminder.note = "missed", "due while Lotse was down; only the night was left"
                done.missed += 1
            else:
                reminder.status, reminder.due_at = "planned", morning
                done.deferred += 1
            continue
        reachable = handles.get(person.id, [])
        if not reachable:
            reminder.status, reminder.note = "held", "the participant blocked the bot"
            done.held += 1
            continue
        t = Translator(person.locale or DEFAULT_LOCALE, person.time_zone)
        same = (t.locale, t.time_zone, reminder.event_key, reminder.kind)  # a course session: many read the same
        if same not in rendered:
            rendered[same] = (reminder_text(t, event, reminder.kind), tuple(reminder_buttons(t, reminder.event_key)))
        text, buttons = rendered[same]
        rows = [OutboxEntry(transport=h.transport, chat=h.chat_id, created_at=now, payload=Outgoing(
            transport=h.transport, chat=h.chat_id, text=text, choices=buttons, selection="single",
            locale=t.locale, rtl=t.rtl).to_json()) for h in reachable]
        session.add_all(rows)
        written.append((reminder, rows[0]))
        reminder.status, reminder.sent_at = "sent", now
        done.sent += 1
    await session.flush()  # one round trip for the whole batch's outbox rows
    for reminder, row in written:
        reminder.outbox_id = row.id


async def load_events(session: AsyncSession, keys: set[str]) -> dict[str, Event]:
    """Every event of a batch in two queries (appointments, course sessions with their course)."""
    appointment_ids = [int(k[2:]) for k in keys if k.startswith("a:") and k[2:].isdigit()]
    session_ids = [int(k[2:]) for k in keys if k.startswith("s:") and k[2:].isdigit()]
    found: dict[str, Event] = {}
    if appointment_ids:
        for appointment in (await session.scalars(select(Appointment).where(
                Appointment.id.in_(appointment_ids)))).all():
            found[appointment_key(appointment.id)] = _appointment_event(appointment)
    if session_ids:
        for course_session, course in (await session.execute(select(CourseSession, Course).join(Course).where(
                CourseSession.id.in_(session_ids)))).all():
            found[session_key(course_session.id)] = _session_event(course_session, course)
    return found


async def next_due(session: AsyncSession) -> datetime | None:
    found: datetime | None = await session.scalar(select(func.min(Reminder.due_at)).where(
        Reminder.status == "planned"))
    return found


async def reminder_counts(session: AsyncSession) -> dict[str, int]:
    rows = (await session.execute(select(Reminder.status, func.count()).group_by(Reminder.status))).all()
    return {status: int(count) for status, count in rows}


async def participants_of_session(session: AsyncSession, session_id: int) -> list[Person]:
    return list((await session.scalars(select(Person).join(Enrolment, Enrolment.participant_id == Person.id)
                                       .join(CourseSession, CourseSession.course_id == Enrolment.course_id)
                                       .where(CourseSession.id == session_id).order_by(Person.id))).all())

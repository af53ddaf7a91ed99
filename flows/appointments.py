"""Appointments (Termine): coordinators book, move and cancel them; participants see them and answer reminders.

`/appointment` asks for the participant (name or number), the kind, the day and time (typed as people write it,
see `flows.moments`, or picked step by step), the place and a note, then shows a summary to confirm. The
participant is told at once in their language, with the buttons "I'll be there" / "I can't come", and their
reminders are planned (`bot.services.reminders`). `/appointment NUMBER` shows one with "Move" and "Cancel"; both tell
the
participant and re-plan the reminders. `/appointments` lists what is coming: a participant's own appointments
and course sessions, a coordinator's bookings with who confirmed, who cannot come and who did not answer.
`/settings` lets a participant choose their reminders.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.access import STAFF, Action, may
from bot.core.i18n import N_, Translator
from bot.core.messages import Choice, Outgoing
from bot.core.notify import messages_for
from bot.core.text import clean_text
from bot.services.courses import is_enrolled, upcoming_course_lines
from bot.services.participant_search import find_participants
from bot.services.reminders import (
    APPOINTMENT_KINDS,
    EVENING_BEFORE,
    KINDS,
    TWO_HOURS_BEFORE,
    Event,
    appointment_key,
    drop,
    event_title,
    load_event,
    plan,
    reminder_buttons,
    replan_person,
    wanted_kinds,
)
from bot.services.routing import is_responsible, route
from flows.closed_days import KEEP_DAY, closed_day_note, local_day
from flows.engine import END, YES, Flow, InputKind, Invalid, Next, Step, Turn
from flows.intake import PARTICIPANT, participant_label
from flows.linking import WHICH_CHAT, choose_chat, has_several_chats
from flows.menu import MENU_ENTRIES, MenuEntry
from flows.moments import moment_examples, parse_clock, parse_moment
from flows.registry import Command, register, register_button, start_flow
from storage.models import Appointment, Attendance, AuditEntry, Person, Reminder, ReminderChoice

STEPWISE = "stepwise"
MAX_PLACE, MAX_NOTE, MAX_REASON = 200, 500, 500
QUICK_HOURS = ("08:00", "09:00", "10:00", "11:00", "13:00", "14:00", "15:00", "16:00")


# ---------------------------------------------------------------------------------------------------------------
# Who may see what


async def visible_participant(turn: Turn, person_id: int) -> Person | None:
    person = await turn.session.get(Person, person_id)
    if person is None or not await is_responsible(turn.session, turn.network, turn.person, person):
        return None
    return person


async def may_manage(turn: Turn, appointment: Appointment) -> bool:
    if may(turn.person, Action.MANAGE_APPOINTMENT, appointment):
        return True
    return may(turn.person, Action.BE_RESPONSIBLE) and await visible_participant(turn, appointment.participant_id) \
        is not None


# ---------------------------------------------------------------------------------------------------------------
# What participants read


def event_lines(t: Translator, event: Event) -> list[str]:
    lines = [t(N_("When: {when}"), when=t.when(event.starts_at)), t(N_("Where: {place}"), place=event.place)]
    if event.note:
        lines.append(t(N_("Note: {note}"), note=event.note))
    return lines


def reminder_promise(t: Translator, kinds: tuple[str, ...]) -> str:
    if kinds == KINDS:
        return t(N_("We will remind you the evening before and two hours before. Change this in /settings."))
    if kinds == (EVENING_BEFORE,):
        return t(N_("We will remind you the evening before. Change this in /settings."))
    if kinds == (TWO_HOURS_BEFORE,):
        return t(N_("We will remind you two hours before. Change this in /settings."))
    return t(N_("You chose no reminders. Change this in /settings."))


async def notice_for(session: AsyncSession, participant: Person, head: str, event: Event, buttons: bool = True,
                     promise: bool = True) -> list[Outgoing]:
    """What a participant reads about a booked, moved or cancelled event, in their language; no Turn needed
    (the CSV import uses it too)."""
    kinds = await wanted_kinds(session, participant.id)

    def render(t: Translator) -> str:
        lines = [t(head, what=event_title(t, event)), *event_lines(t, event)]
        if promise:
            lines += ["", reminder_promise(t, kinds)]
        return "\n".join(lines)

    return await messages_for(session, participant, render,
                              (lambda t: reminder_buttons(t, event.key)) if buttons else None)


async def tell_participant(turn: Turn, participant: Person, head: str, event: Event, buttons: bool = True,
                           promise: bool = True) -> int:
    found = await notice_for(turn.session, participant, head, event, buttons, promise)
    turn.outgoing.extend(found)
    return len(found)


BOOKED = N_("New appointment (Termin): {what}")


# ---------------------------------------------------------------------------------------------------------------
# Booking


async def participants_named(turn: Turn, value: Any) -> list[Person] | None:
    """The participants a staff member's "who" answer names (one to ten), or None after saying why to ask again.

    Shared by every flow that starts by picking a participant (booking, enrolling)."""
    found = await find_participants(turn.session, turn.network, turn.person, str(value))
    if not found:
        turn.say(N_("I found no participant for \"{query}\" among those you look after. Please write a name or "
                    "a participant number."), query=str(value)[:50])
        return None
    if len(found) > 10:
        turn.say(N_("More than ten participants fit. Please write more of the name, or the number."))
        return None
    return found


async def _who_given(turn: Turn, value: Any) -> Next:
    found = await participants_named(turn, value)
    if found is None:
        return "who"
    if len(found) == 1:
        turn.data["participant"] = found[0].id
        return "kind"
    turn.data["candidates"] = [p.id for p in found]
    return "pick"



def candidate_options(turn: Turn) -> list[Choice]:
    names = turn.data.get("candidate_labels") or {}
    return [Choice(str(pid), names.get(str(pid), f"#{pid}")) for pid in turn.data.get("candidates", [])]


async def _picked(turn: Turn, value: Any) -> Next:
    turn.data["participant"] = int(value)
    return "kind"


def kind_options(turn: Turn) -> list[Choice]:
    return [Choice(key, turn.t(label)) for key, label in APPOINTMENT_KINDS.items()]


WHEN = N_("When? For example: {weekday}, {day} or {tomorrow}.")
TO_WHEN = N_("To when? For example: {weekday}, {day} or {tomorrow}.")


def when_examples(turn: Turn) -> dict[str, object]:
    """The prompt's examples, the day computed from today (next Monday), so an example is never in the past."""
    return dict(moment_examples(turn.now, turn.person.time_zone, turn.t.locale))


def when_options(turn: Turn) -> list[Choice]:
    return [Choice(STEPWISE, turn.t(N_("Pick step by step")))]


def _moment(turn: Turn, value: Any) -> Any:
    if value == STEPWISE:
        return value
    return parse_moment(str(value), turn.now, turn.person.time_zone, turn.t.locale).isoformat()


def closed_day(turn: Turn) -> str | None:
    """Why the chosen day is unusual (a weekend or a public holiday), or None."""
    day = local_day(datetime.fromisoformat(turn.data["starts_at"]), turn.person.time_zone)
    return closed_day_note(turn.t, day)


def closed_day_text(turn: Turn) -> str:
    return f"{closed_day(turn) or ''}\n\n{turn.t(KEEP_DAY)}".strip()


async def _when_given(turn: Turn, value: Any) -> Next:
    if value == STEPWISE:
        return "day"
    turn.data["starts_at"] = value
    return "closed_day" if closed_day(turn) else str(turn.data.get("_then", "place"))


async def _closed_day_kept(turn: Turn, value: Any) -> Next:
    return "place" if value == YES else "when"


def day_options(turn: Turn) -> list[Choice]:
    today = turn.now.astimezone(ZoneInfo(turn.person.time_zone)).date()
    days = [today + timedelta(days=offset) for offset in range(15)]
    return [Choice(day.isoformat(), turn.t.date(day, "full")) for day in days if day.weekday() < 6][:12]


def hour_options(turn: Turn) -> list[Choice]:
    return [Choice(hour, hour) for hour in QUICK_HOURS]


def _hour(turn: Turn, value: Any) -> Any:
    text = clean_text(str(value)).casefold().replace(" ", "")
    clock = parse_clock(text) if 0 < len(text) <= 10 else None
    if clock is None:
        raise Invalid(N_("Please write a time like 10:30."))
    zone = ZoneInfo(turn.person.time_zone)
    moment = datetime.combine(date.fromisoformat(str(turn.data.get("day"))), clock, tzinfo=zone).astimezone(UTC)
    if moment <= turn.now:
        raise Invalid(N_("This moment is in the past. Please write a day and time from now on."))
    return moment.isoformat()


async def _hour_given(turn: Turn, value: Any) -> Next:
    turn.data["starts_at"] = value
    return "closed_day" if closed_day(turn) else str(turn.data.get("_then", "place"))


def _place(turn: Turn, value: Any) -> Any:
    text = clean_text(str(value))
    if not any(ch.isalnum() for ch in text):
        raise Invalid(N_("Please write the place in words, for example: Jobcenter Oldenburg, Stau 70, room 12."))
    return text


def _note(turn: Turn, value: Any) -> Any:
    return clean_text(str(value))


def summary_text(turn: Turn) -> str:
    participant_name = turn.data.get("participant_label", "")
    when = datetime.fromisoformat(turn.data["starts_at"])
    lines = [turn.t(N_("Please check the appointment:")),
             turn.t(N_("Participant: {name}"), name=participant_name),
             turn.t(N_("Kind: {kind}"), kind=turn.t(APPOINTMENT_KINDS[turn.data["kind"]])),
             turn.t(N_("When: {when}"), when=turn.t.when(when)),
             turn.t(N_("Where: {place}"), place=turn.data["place"])]
    if turn.data.get("note"):
        lines.append(turn.t(N_("Note: {note}"), note=turn.data["note"]))
    lines += ["", turn.t(N_("Book it and tell the participant?"))]
    return "\n".join(lines)


async def _book(turn: Turn, value: Any) -> Next:
    if value != YES:
        turn.say(N_("Nothing was booked."))
        return END
    participant = await visible_participant(turn, int(turn.data.get("participant", 0)))
    if participant is None:
        turn.say(N_("I found no participant for \"{query}\" among those you look after. Please write a name or "
                    "a participant number."), query=str(turn.data.get("participant", ""))[:50])
        return END
    starts_at = datetime.fromisoformat(turn.data["starts_at"])
    if starts_at <= turn.now:
        turn.say(N_("This moment is in the past. Please write a day and time from now on."))
        return END
    number, reached = await book_appointment(turn, participant, turn.data["kind"], starts_at, turn.data["place"],
                                             turn.data.get("note") or None)
    turn.say(N_("Booked: appointment no. {number}. {participant} was told."), number=number,
             participant=participant_label(turn.t, participant))
    if not reached:
        unreachable(turn, participant)
    return END


def unreachable(turn: Turn, participant: Person) -> None:
    turn.say(N_("{participant} cannot be reached in the chat at the moment (they blocked the bot). Please "
                "tell them another way."), participant=participant_label(turn.t, participant))


async def book_appointment(turn: Turn, participant: Person, kind: str, starts_at: datetime, place: str,
                           note: str | None) -> tuple[int, bool]:
    """Books, plans the participant's reminders and tells them (with "I'll be there" / "I can't come"). Returns
    the appointment's number and whether they were reached. `/appointment` and a question's ready-made
    invitation both book this way."""
    appointment = Appointment(participant_id=participant.id, booked_by_id=turn.person.id, kind=kind,
                              starts_at=starts_at, place=place, note=note,
                              status="scheduled", created_at=turn.now, updated_at=turn.now)
    turn.session.add(appointment)
    await turn.session.flush()
    await plan(turn.session, participant, appointment_key(appointment.id), starts_at, turn.now, new_event=True)
    event = await load_event(turn.session, appointment_key(appointment.id))
    assert event is not None
    reached = await tell_participant(turn, participant, BOOKED, event)
    turn.session.add(AuditEntry(actor_id=turn.person.id, subject_id=participant.id, action="appointment.booked",
                                details={"appointment": appointment.id}))
    return appointment.id, reached > 0




async def _participant_chosen(turn: Turn) -> None:
    person = await turn.session.get(Person, int(turn.data.get("participant", 0)))
    if person is not None:
        turn.data["participant_label"] = participant_label(turn.t, person)


async def _kind_given(turn: Turn, value: Any) -> Next:
    await _participant_chosen(turn)
    return "when"


async def _who_then(turn: Turn, value: Any) -> Next:
    destination = await _who_given(turn, value)
    if destination == "pick":
        people = [await turn.session.get_one(Person, pid) for pid in turn.data["candidates"]]
        turn.data["candidate_labels"] = {str(p.id): participant_label(turn.t, p) for p in people}
    return destination


BOOK = Flow(
    name="appointment",
    roles=STAFF,
    steps=(
        Step(name="who", prompt=N_("Who is the appointment for? Write a name or a participant number."),
             kind=InputKind.TEXT, max_length=100, on_answer=_who_then, describe="name or number",
             branches=(("one found", "kind"), ("several", "pick"))),
        Step(name="pick", prompt=N_("Which participant do you mean?"), kind=InputKind.CHOICE,
             options=candidate_options, on_answer=_picked, describe="participants that fit"),
        Step(name="kind", prompt=N_("What kind of appointment?"), kind=InputKind.CHOICE, options=kind_options,
             on_answer=_kind_given, describe="kind"),
        Step(name="when", prompt=WHEN, prompt_values=when_examples,
             kind=InputKind.TEXT, options=when_options, validate=_moment, on_answer=_when_given, max_length=100,
             describe="typed day and time, or step by step", branches=(("step by step", "day"),)),
        Step(name="day", prompt=N_("Which day?"), kind=InputKind.CHOICE, options=day_options, next="hour",
             describe="the next two weeks"),
        Step(name="hour", prompt=N_("At what time? Tap one or write it, like 10:30."), kind=InputKind.TEXT,
             options=hour_options, validate=_hour, on_answer=_hour_given, max_length=10, describe="time"),
        Step(name="closed_day", prompt=KEEP_DAY, kind=InputKind.YES_NO, text=closed_day_text,
             on_answer=_closed_day_kept, describe="a weekend or public holiday: keep it? (asked once)",
             branches=(("yes", "place"), ("no", "when"))),
        Step(name="place", prompt=N_("Where? For example: Jobcenter Oldenburg, Stau 70, room 12."),
             kind=InputKind.TEXT, max_length=MAX_PLACE, validate=_place, next="note", describe="place"),
        Step(name="note", prompt=N_("A note for the participant? For example: bring your passport. "
                                    "Or tap Skip."), kind=InputKind.TEXT, optional=True, max_length=MAX_NOTE,
             validate=_note, next="confirm", describe="optional note"),
        Step(name="confirm", prompt=N_("Book it and tell the participant?"), kind=InputKind.YES_NO,
             text=summary_text, on_answer=_book, next=END, describe="summary; book, tell, plan reminders"),
    ),
)


# ---------------------------------------------------------------------------------------------------------------
# One appointment: show, move, cancel


async def _appointment_for(turn: Turn, number: str) -> Appointment | None:
    text = clean_text(number).lstrip("#")
    appointment = await turn.session.get(Appointment, int(text)) if text.isdigit() and len(text) < 10 else None
    if appointment is None or not await may_manage(turn, appointment):
        turn.say(N_("There is no appointment with this number for you."))
        return None
    return appointment


async def answers_for(turn: Turn, event_key: str, people: list[Person]) -> list[str]:
    """One line per participant: confirmed, cannot come (with the reason), did not answer, or not reachable."""
    answers = {a.participant_id: a for a in (await turn.session.scalars(select(Attendance).where(
        Attendance.event_key == event_key))).all()}
    held = set((await turn.session.scalars(select(Reminder.participant_id).where(
        Reminder.event_key == event_key, Reminder.status == "held"))).all())
    lines = []
    for person in people:
        answer = answers.get(person.id)
        label = participant_label(turn.t, person)
        if answer is not None and answer.answer == "yes":
            lines.append(turn.t(N_("✔ {participant}: will come"), participant=label))
        elif answer is not None:
            lines.append(turn.t(N_("✘ {participant}: cannot come. Reason: {reason}"), participant=label,
                                reason=answer.reason or "–"))
        elif person.id in held:
            lines.append(turn.t(N_("! {participant}: not reachable, they blocked the bot"), participant=label))
        else:
            lines.append(turn.t(N_("? {participant}: no answer yet"), participant=label))
    return lines


async def show_appointment(turn: Turn, appointment: Appointment) -> None:
    participant = await turn.session.get_one(Person, appointment.participant_id)
    event = await load_event(turn.session, appointment_key(appointment.id))
    assert event is not None
    lines = [turn.t(N_("Appointment no. {number}: {what}"), number=appointment.id, what=event_title(turn.t, event)),
             *event_lines(turn.t, event)]
    if appointment.status == "cancelled":
        lines.append(turn.t(N_("Cancelled.")))
    lines += await answers_for(turn, event.key, [participant])
    buttons: list[Choice] = []
    if appointment.status == "scheduled" and appointment.starts_at > turn.now:
        from bot.core.messages import button_key

        buttons = [Choice(button_key("ap", f"move:{appointment.id}"), turn.t(N_("Move"))),
                   Choice(button_key("ap", f"cancel:{appointment.id}"), turn.t(N_("Cancel the appointment")))]
    turn.send("\n".join(lines), buttons, "single" if buttons else "none")


async def appointment_command(turn: Turn, argument: str) -> None:
    if not argument:
        start_flow(turn, "appointment")
        return
    if not clean_text(argument).lstrip("#").isdigit():
        # "/appointment Yonas": a name is whom to book for (a newcomer to Lotse tries that first); a number is an
        # appointment to show.
        turn.state["data"] = {}
        destination = await _who_then(turn, argument)
        start_flow(turn, "appointment", dict(turn.data), at=str(destination), trail=["who"])
        return
    appointment = await _appointment_for(turn, argument)
    if appointment is not None:
        await show_appointment(turn, appointment)


async def _appointment_button(turn: Turn, payload: str) -> None:
    action, _, number = payload.partition(":")
    if not may(turn.person, Action.WORK_AS_STAFF):
        turn.say(N_("This button belongs to an earlier question and no longer works."))
        return
    appointment = await _appointment_for(turn, number)
    if appointment is None:
        return
    if appointment.status != "scheduled" or appointment.starts_at <= turn.now:
        turn.say(N_("This appointment cannot be changed any more."))
        return
    if action == "move":
        start_flow(turn, "move_appointment", {"appointment": appointment.id})
    elif action == "cancel":
        start_flow(turn, "cancel_appointment", {"appointment": appointment.id})
    else:
        turn.say(N_("This button belongs to an earlier question and no longer works."))


async def _moved(turn: Turn, value: Any) -> Next:
    if value == STEPWISE:
        turn.data["_then"] = "apply"
        return "day"
    turn.data["starts_at"] = value
    return "closed_day" if closed_day(turn) else await _apply_move(turn)


async def _moved_stepwise(turn: Turn, value: Any) -> Next:
    turn.data["starts_at"] = value
    return "closed_day" if closed_day(turn) else await _apply_move(turn)


async def _move_to_closed_day(turn: Turn, value: Any) -> Next:
    return await _apply_move(turn) if value == YES else "when"


async def _apply_move(turn: Turn) -> Next:
    appointment = await turn.session.get(Appointment, int(turn.data.get("appointment", 0)))
    if appointment is None or not await may_manage(turn, appointment) or appointment.status != "scheduled":
        turn.say(N_("This appointment cannot be changed any more."))
        return END
    participant = await turn.session.get_one(Person, appointment.participant_id)
    old = appointment.starts_at
    appointment.starts_at = datetime.fromisoformat(turn.data["starts_at"])
    appointment.updated_at = turn.now
    key = appointment_key(appointment.id)
    await turn.session.flush()
    await plan(turn.session, participant, key, appointment.starts_at, turn.now)
    await turn.session.execute(delete(Attendance).where(Attendance.event_key == key))  # the old answer was for
    event = await load_event(turn.session, key)  # the old time
    assert event is not None

    def render(t: Translator) -> str:
        return "\n".join([t(N_("Your appointment (Termin) was moved: {what}"), what=event_title(t, event)),
                          t(N_("Before: {when}"), when=t.when(old)),
                          t(N_("Now: {when}"), when=t.when(appointment.starts_at)),
                          t(N_("Where: {place}"), place=event.place)])

    turn.outgoing.extend(await messages_for(turn.session, participant, render,
                                            lambda t: reminder_buttons(t, key)))
    turn.session.add(AuditEntry(actor_id=turn.person.id, subject_id=participant.id, action="appointment.moved",
                                details={"appointment": appointment.id}))
    turn.say(N_("Moved to {when}. {participant} was told."), when=turn.t.when(appointment.starts_at),
             participant=participant_label(turn.t, participant))
    return END


MOVE = Flow(
    name="move_appointment",
    roles=STAFF,
    steps=(
        Step(name="when", prompt=TO_WHEN, prompt_values=when_examples,
             kind=InputKind.TEXT, options=when_options, validate=_moment, on_answer=_moved, max_length=100,
             describe="new day and time; participant told, reminders planned again",
             branches=(("step by step", "day"),)),
        Step(name="day", prompt=N_("Which day?"), kind=InputKind.CHOICE, options=day_options, next="hour",
             describe="the next two weeks"),
        Step(name="hour", prompt=N_("At what time? Tap one or write it, like 10:30."), kind=InputKind.TEXT,
             options=hour_options, validate=_hour, on_answer=_moved_stepwise, max_length=10, describe="time"),
        Step(name="closed_day", prompt=KEEP_DAY, kind=InputKind.YES_NO, text=closed_day_text,
             on_answer=_move_to_closed_day, describe="a weekend or public holiday: keep it? (asked once)",
             branches=(("no", "when"),)),
    ),
)


async def _cancelled(turn: Turn, value: Any) -> Next:
    if value != YES:
        turn.say(N_("The appointment stays as it is."))
        return END
    appointment = await turn.session.get(Appointment, int(turn.data.get("appointment", 0)))
    if appointment is None or not await may_manage(turn, appointment) or appointment.status != "scheduled":
        turn.say(N_("This appointment cannot be changed any more."))
        return END
    appointment.status, appointment.updated_at = "cancelled", turn.now
    key = appointment_key(appointment.id)
    await drop(turn.session, key, "cancelled")
    participant = await turn.session.get_one(Person, appointment.participant_id)
    event = await load_event(turn.session, key)
    assert event is not None
    await tell_participant(turn, participant, N_("Cancelled: your appointment (Termin) {what}. You do not need "
                                                 "to come."), event, buttons=False, promise=False)
    turn.session.add(AuditEntry(actor_id=turn.person.id, subject_id=participant.id,
                                action="appointment.cancelled", details={"appointment": appointment.id}))
    turn.say(N_("Cancelled. {participant} was told."), participant=participant_label(turn.t, participant))
    return END


CANCEL = Flow(
    name="cancel_appointment",
    roles=STAFF,
    steps=(Step(name="confirm", prompt=N_("Cancel this appointment? The participant will be told."),
                kind=InputKind.YES_NO, on_answer=_cancelled, next=END, describe="participant told, reminders stop"),),
)


# ---------------------------------------------------------------------------------------------------------------
# Lists


async def list_appointments(turn: Turn, argument: str = "") -> None:
    if may(turn.person, Action.WORK_AS_STAFF):
        await _list_for_staff(turn)
    else:
        await _list_for_participant(turn, await upcoming_course_lines(turn.session, turn.t, turn.person.id,
                                                                      turn.now))


async def _list_for_participant(turn: Turn, course_lines: list[str]) -> None:
    appointments = (await turn.session.scalars(select(Appointment).where(
        Appointment.participant_id == turn.person.id, Appointment.status == "scheduled",
        Appointment.starts_at > turn.now).order_by(Appointment.starts_at).limit(20))).all()
    if not appointments and not course_lines:
        turn.say(N_("You have no upcoming appointments."))
        return
    lines = [turn.t(N_("Your upcoming appointments (Termine):"))] if appointments else []
    answers = {a.event_key: a.answer for a in (await turn.session.scalars(select(Attendance).where(
        Attendance.participant_id == turn.person.id))).all()}
    for appointment in appointments:
        event = await load_event(turn.session, appointment_key(appointment.id))
        assert event is not None
        answer = answers.get(event.key)
        said = {"yes": turn.t(N_("you said you will come")), "no": turn.t(N_("you said you cannot come"))}
        lines += ["", f"{turn.t.isolate(turn.t.when(event.starts_at))} – {event_title(turn.t, event)}",
                  turn.t(N_("Where: {place}"), place=event.place)]
        if event.note:
            lines.append(turn.t(N_("Note: {note}"), note=event.note))
        if answer:
            lines.append(f"({said[answer]})")
    if course_lines:
        lines += ["", *course_lines] if lines else course_lines
    turn.send("\n".join(lines).strip())


async def _list_for_staff(turn: Turn) -> None:
    statement = select(Appointment).where(Appointment.status == "scheduled", Appointment.starts_at > turn.now)
    if not may(turn.person, Action.SEE_ALL):
        statement = statement.where(Appointment.booked_by_id == turn.person.id)
    appointments = (await turn.session.scalars(statement.order_by(Appointment.starts_at).limit(30))).all()
    if not appointments:
        turn.say(N_("No upcoming appointments that you booked. Book one with /appointment."))
        return
    lines = [turn.t(N_("Upcoming appointments:"))]
    for appointment in appointments:
        participant = await turn.session.get_one(Person, appointment.participant_id)
        kind = turn.t(APPOINTMENT_KINDS.get(appointment.kind, APPOINTMENT_KINDS["other"]))
        lines += ["", f"#{appointment.id} · {turn.t.datetime(appointment.starts_at, 'short')} · {kind}",
                  *await answers_for(turn, appointment_key(appointment.id), [participant])]
    lines += ["", turn.t(N_("Write /appointment NUMBER to move or cancel one."))]
    turn.send("\n".join(lines))


# ---------------------------------------------------------------------------------------------------------------
# "I'll be there" / "I can't come"


async def may_answer(turn: Turn, event: Event) -> bool:
    """Only the participant the event is for answers it."""
    kind, _, number = event.key.partition(":")
    if kind == "a":
        appointment = await turn.session.get(Appointment, int(number))
        return appointment is not None and appointment.participant_id == turn.person.id
    return await is_enrolled(turn.session, event.key, turn.person.id)


async def _record(turn: Turn, event_key: str, answer: str, reason: str | None) -> None:
    existing = (await turn.session.scalars(select(Attendance).where(
        Attendance.participant_id == turn.person.id, Attendance.event_key == event_key))).first()
    if existing is None:
        turn.session.add(Attendance(participant_id=turn.person.id, event_key=event_key, answer=answer,
                                    reason=reason, answered_at=turn.now))
    else:
        existing.answer, existing.reason, existing.answered_at = answer, reason, turn.now


async def _reminder_button(turn: Turn, payload: str) -> None:
    answer, _, event_key = payload.partition(":")
    event = await load_event(turn.session, event_key)
    if event is None or answer not in ("yes", "no") or not await may_answer(turn, event):
        turn.say(N_("This button belongs to an earlier question and no longer works."))
        return
    if not event.active:
        turn.say(N_("This appointment was cancelled. You do not need to come."))
        return
    if event.starts_at <= turn.now:
        turn.say(N_("This appointment has already started."))
        return
    if answer == "yes":
        await _record(turn, event_key, "yes", None)
        turn.say(N_("Thank you! See you on {when}."), when=turn.t.when(event.starts_at))
        return
    start_flow(turn, "cant_come", {"event": event_key})


async def _cant_come(turn: Turn, value: Any) -> Next:
    event_key = str(turn.data.get("event", ""))
    event = await load_event(turn.session, event_key)
    if event is None or not await may_answer(turn, event) or not event.active:
        turn.say(N_("This button belongs to an earlier question and no longer works."))
        return END
    reason = clean_text(str(value))[:MAX_REASON] if value else None
    await _record(turn, event_key, "no", reason)
    told = await tell_owner(turn, event, reason)
    turn.session.add(AuditEntry(actor_id=turn.person.id, subject_id=turn.person.id, action="attendance.cancelled",
                                details={"event": event_key, "told": told}))
    turn.say(N_("Thank you for telling us. Your coordinator knows now and will contact you if needed."))
    return END


async def tell_owner(turn: Turn, event: Event, reason: str | None) -> int:
    """The coordinator who booked it (or runs the course) hears at once; when there is none, or they cannot be
    reached (left, or blocked the bot), the coordinators the network's routing finds for the participant."""
    participant = turn.person

    def render(t: Translator) -> str:
        lines = [t(N_("{participant} cannot come to: {what}"), participant=participant_label(t, participant),
                   what=event_title(t, event)),
                 t(N_("When: {when}"), when=t.when(event.starts_at)),
                 t(N_("Reason: {reason}"), reason=reason or t(N_("none given")))]
        return "\n".join(lines)

    async def tell(people: list[Person]) -> int:
        count = 0
        for person in people:
            found = await messages_for(turn.session, person, render)
            turn.outgoing.extend(found)
            count += len(found)
        return count

    owner = await turn.session.get(Person, event.owner_id) if event.owner_id is not None else None
    if owner is not None and may(owner, Action.WORK_AS_STAFF) and await tell([owner]):
        return 1
    topic = "language_course" if event.is_course else None
    result = await route(turn.session, turn.network, topic, turn.person.district)
    return await tell([await turn.session.get_one(Person, pid) for pid in result.people if pid != event.owner_id])


CANT_COME = Flow(
    name="cant_come",
    roles=PARTICIPANT,
    steps=(Step(name="reason", prompt=N_("Sorry to hear that. Do you want to tell us why? You can also tap Skip."),
                kind=InputKind.TEXT, optional=True, max_length=MAX_REASON, on_answer=_cant_come, next=END,
                describe="optional reason; the coordinator is told at once"),),
)


# ---------------------------------------------------------------------------------------------------------------
# /settings: which reminders


SETTINGS_CHOICES: dict[str, tuple[str, tuple[str, ...]]] = {
    "both": (N_("The evening before and two hours before"), KINDS),
    "evening": (N_("Only the evening before"), (EVENING_BEFORE,)),
    "two_hours": (N_("Only two hours before"), (TWO_HOURS_BEFORE,)),
    "none": (N_("No reminders"), ()),
}


def settings_options(turn: Turn) -> list[Choice]:
    options = [Choice(key, turn.t(label)) for key, (label, _) in SETTINGS_CHOICES.items()]
    if turn.data.get("chats"):  # several chats (`/link`): which one Lotse writes to
        options.append(Choice("chat", turn.t(WHICH_CHAT)))
    return options



def settings_prompt(turn: Turn) -> str:
    current = turn.data.get("current", "both")
    label = SETTINGS_CHOICES.get(current, SETTINGS_CHOICES["both"])[0]
    return "\n".join([turn.t(N_("Reminders for appointments and language courses. No reminder comes between "
                                "21:00 and 7:30.")),
                      turn.t(N_("Now: {choice}"), choice=turn.t(label)), "",
                      turn.t(N_("Which reminders do you want?"))])


async def _settings_chosen(turn: Turn, value: Any) -> Next:
    if str(value) == "chat":
        await choose_chat(turn)
        return END
    kinds = SETTINGS_CHOICES[str(value)][1]
    choice = await turn.session.get(ReminderChoice, turn.person.id)
    if choice is None:
        choice = ReminderChoice(person_id=turn.person.id)
        turn.session.add(choice)
    choice.evening_before, choice.two_hours_before = EVENING_BEFORE in kinds, TWO_HOURS_BEFORE in kinds
    await turn.session.flush()
    await replan_person(turn.session, turn.person, turn.now)
    turn.say(N_("Saved."))
    turn.send(reminder_promise(turn.t, kinds))
    return END


SETTINGS = Flow(
    name="settings",
    roles=PARTICIPANT,
    steps=(Step(name="reminders", prompt=N_("Which reminders do you want?"), kind=InputKind.CHOICE,
                options=settings_options, text=settings_prompt, on_answer=_settings_chosen, next=END,
                describe="both, evening, two hours, none; future reminders planned again"),),
)


async def open_settings(turn: Turn, argument: str = "") -> None:
    kinds = await wanted_kinds(turn.session, turn.person.id)
    current = next(key for key, (_, wanted) in SETTINGS_CHOICES.items() if wanted == kinds)
    start_flow(turn, "settings", {"current": current,
                                  "chats": await has_several_chats(turn.session, turn.person.id)})


async def _open_settings_entry(turn: Turn) -> None:
    await open_settings(turn)


async def _book_entry(turn: Turn) -> None:
    start_flow(turn, "appointment")


async def _list_entry(turn: Turn) -> None:
    await list_appointments(turn)


register(BOOK, Command("appointment", N_("Book an appointment, or show one: /appointment NUMBER"),
                       action=appointment_command, roles=STAFF),
         Command("appointments", N_("Upcoming appointments"), action=list_appointments),
         Command("settings", N_("Choose your reminders"), action=open_settings, roles=PARTICIPANT))
register(MOVE)
register(CANCEL)
register(CANT_COME)
register(SETTINGS)
register_button("rm", _reminder_button)
register_button("ap", _appointment_button)
MENU_ENTRIES.extend([
    MenuEntry("appointments", N_("My appointments"), action=_list_entry, roles=PARTICIPANT, order=30),
    MenuEntry("settings", N_("Reminders"), action=_open_settings_entry, roles=PARTICIPANT, order=70),
    MenuEntry("book", N_("Book an appointment"), action=_book_entry, roles=STAFF, order=30),
    MenuEntry("appointments", N_("Appointments"), action=_list_entry, roles=STAFF, order=31),
])

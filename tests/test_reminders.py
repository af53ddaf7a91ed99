"""Appointments and reminders: booking by chat in every date form, reminders in the participant's language and
time zone, quiet hours, daylight-saving changes, "can't come", moving, cancelling, settings, blocked people,
and exactly once across restarts. The clock is the test's (FakeClock); nothing sleeps."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from bot.core.config import load_settings
from bot.core.i18n import FSI, PDI
from bot.runtime.app import Lotse
from bot.runtime.waker import ReminderScheduler
from bot.services.reminders import (
    EVENING_BEFORE,
    TWO_HOURS_BEFORE,
    deliver_due,
    due_at,
    in_quiet_hours,
)
from storage.models import Appointment, Attendance, Handle, OutboxEntry, Person, Profile, Reminder
from tests.chat import Chat, FakeClock, RecordingTransport, texts
from tests.test_intake import consent
from tests.test_questions import coordinator

BERLIN = "Europe/Berlin"
REPOSITORY = Path(__file__).resolve().parent.parent


async def newcomer(app: Lotse, chat: Callable[..., Chat], handle: str, language: str = "English",
                   district: str = "stadt_oldenburg") -> Chat:
    """A participant who chose a language and consented, living in a district the coordinator covers, with
    Ausbildung as their goal so far (the chamber, anna's organisation, is responsible for them)."""
    person = chat(handle)
    await consent(person, language)
    async with app.sessions() as session, session.begin():
        await session.execute(update(Person).where(Person.display_name == handle.title()).values(district=district))
        person_id = (await session.scalars(select(Person.id).where(Person.display_name == handle.title()))).one()
        profile = await session.get(Profile, person_id)
        if profile is None:
            session.add(Profile(person_id=person_id, answers={"goals": ["apprenticeship"]}))
        else:
            profile.answers = {**profile.answers, "goals": ["apprenticeship"]}
    return person


async def book(coordinator_chat: Chat, who: str, when: str, kind: str = "Jobcenter",
               place: str = "Jobcenter Oldenburg, Stau 70", note: str | None = None) -> str:
    await coordinator_chat.send("/appointment")
    await coordinator_chat.send(who)
    await coordinator_chat.click(kind)
    await coordinator_chat.send(when)
    await coordinator_chat.send(place)
    if note is None:
        await coordinator_chat.send("-")  # Skip, in any language
    else:
        await coordinator_chat.send(note)
    return texts(await coordinator_chat.send("yes"))  # "ja" and "yes" work in every language


async def reminders_of(app: Lotse, status: str | None = None) -> list[Reminder]:
    async with app.sessions() as session:
        statement = select(Reminder).order_by(Reminder.due_at, Reminder.id)
        if status is not None:
            statement = statement.where(Reminder.status == status)
        return list((await session.scalars(statement)).all())


async def send_due(app: Lotse, clock: FakeClock) -> None:
    """What the reminder loop does when the scheduler wakes it, at the test's time."""
    await deliver_due(app.sessions, clock())
    await app.drain()


def plain(text: str) -> str:
    """CLDR puts narrow no-break spaces in times ("10:30\u202fAM"); tests compare with plain spaces."""
    return text.replace("\u202f", " ").replace("\xa0", " ")


def local(*args: int) -> datetime:
    from zoneinfo import ZoneInfo

    return datetime(*args, tzinfo=ZoneInfo(BERLIN)).astimezone(UTC)  # type: ignore[misc]


# ---------------------------------------------------------------------------------------------------------------
# Booking by chat: every date form


@pytest.mark.parametrize(("typed", "expected"), [
    ("Mo 14:00", local(2026, 11, 23, 14, 0)),          # the clock says Monday 10:00 in Berlin: today
    ("24.11. 10:30", local(2026, 11, 24, 10, 30)),
    ("morgen 9 Uhr", local(2026, 11, 24, 9, 0)),
    ("tomorrow 9:00", local(2026, 11, 24, 9, 0)),
    ("am Freitag um 8.30 Uhr", local(2026, 11, 27, 8, 30)),
    ("2026-12-01 15:00", local(2026, 12, 1, 15, 0)),
])
async def test_a_coordinator_books_with_each_date_form_and_the_participant_is_told(
        app: Lotse, chat: Callable[..., Chat], typed: str, expected: datetime) -> None:
    anna = await coordinator(app, chat, "anna")
    amal = await newcomer(app, chat, "amal")
    answer = await book(anna, "amal", typed, note="Bring your passport")
    assert "Booked: appointment no. 1. Amal (no. " in answer
    async with app.sessions() as session:
        appointment = (await session.scalars(select(Appointment))).one()
    assert appointment.starts_at == expected and appointment.kind == "jobcenter"
    told = amal.last
    assert told.text.startswith("New appointment (Termin): Jobcenter\nWhen: ")
    assert "Bring your passport" in told.text
    assert [c.label for c in told.choices] == ["I'll be there", "I can't come"]


async def test_step_by_step_picking_of_day_and_time(app: Lotse, chat: Callable[..., Chat]) -> None:
    anna = await coordinator(app, chat, "anna")
    await newcomer(app, chat, "amal")
    await anna.send("/appointment")
    await anna.send("Amal")
    await anna.click("Counselling (Beratung)")
    [days] = await anna.click("Pick step by step")
    assert days.choices[0].label == "Monday, 23 November 2026"
    await anna.click("Wednesday, 25 November 2026")
    [times] = await anna.click("10:00")
    assert times.text.startswith("Where?")
    await anna.send("pro:connect, Cloppenburger Str. 1")
    [summary] = await anna.click("Skip")
    assert "When: Wednesday, 25 November 2026, 10:00" in plain(summary.text)
    await anna.click("Yes")
    async with app.sessions() as session:
        appointment = (await session.scalars(select(Appointment))).one()
    assert appointment.starts_at == local(2026, 11, 25, 10, 0)


@pytest.mark.parametrize(("typed", "hint"), [
    ("10/11/2026 10:00", "Is that 10.11. or 11.10.?"),
    ("20.11. 10:00", "This date has passed. If you mean next year"),
    ("heute 9:00", "This moment is in the past."),
    ("2020-01-01 10:00", "This moment is in the past."),
    ("14:00", "Which day?"),
    ("Montag", "At what time?"),
    ("31.02. 10:00", "There is no such date."),
    ("24.11. 25:00", "There is no such time."),
    ("13 pm morgen", "There is no such time."),
    ("2030-01-01 10:00", "Please choose a date within the next two years."),
    ("'; DROP TABLE appointments; --", "Please write the day and the time"),
    ("🙂🙂", "Please write the day and the time"),
    ("\u202e24.11. 10:30", None),  # a bidi override is stripped, the date is still read
    ("موعد", "Please write the day and the time"),
])
async def test_ambiguous_past_and_bad_dates_are_asked_again(
        app: Lotse, chat: Callable[..., Chat], typed: str, hint: str | None) -> None:
    anna = await coordinator(app, chat, "anna")
    await newcomer(app, chat, "amal")
    await anna.send("/appointment")
    await anna.send("Amal")
    await anna.click("Jobcenter")
    replies = await anna.send(typed)
    if hint is None:
        assert replies[0].text.startswith("Where?")
        return
    assert replies[0].text.startswith(hint), replies[0].text
    assert replies[-1].text.startswith("When?")  # the question again, nothing booked
    async with app.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Appointment)) == 0


@pytest.mark.parametrize("typed", ["", "x" * 5000, "🙂", "'; DROP TABLE persons; --", "\u202enobody", "0", "-1"])
async def test_an_unknown_or_strange_participant_name_is_asked_again(
        app: Lotse, chat: Callable[..., Chat], typed: str) -> None:
    anna = await coordinator(app, chat, "anna")
    await newcomer(app, chat, "amal")
    await anna.send("/appointment")
    replies = await anna.send(typed)
    assert replies[-1].text.startswith("Who is the appointment for?")
    assert len(replies) == 2


async def test_a_participant_outside_the_coordinators_districts_is_not_found(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    jobcenter = await coordinator(app, chat, "jan", organisation="jobcenter")  # Stadt and LK Oldenburg only
    await newcomer(app, chat, "amal", district="vechta")
    await jobcenter.send("/appointment")
    [refused, _again] = await jobcenter.send("Amal")
    assert refused.text.startswith('I found no participant for "Amal"')


async def test_participants_cannot_book_and_cannot_answer_someone_elses_reminder(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    anna = await coordinator(app, chat, "anna")
    amal = await newcomer(app, chat, "amal")
    olena = await newcomer(app, chat, "olena")
    await book(anna, "Amal", "24.11. 10:30")
    [refused, *_] = await olena.send("/appointment")
    assert refused.text == "This is not available for you."
    key = amal.last.choices[1].key
    [stale] = await olena.press_raw(key)
    assert stale.text == "This button belongs to an earlier question and no longer works."
    async with app.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Attendance)) == 0


# ---------------------------------------------------------------------------------------------------------------
# Reminders: language, time zone, quiet hours, daylight saving


async def test_arabic_participant_gets_booking_and_reminders_right_to_left(
        app: Lotse, chat: Callable[..., Chat], clock: FakeClock) -> None:
    anna = await coordinator(app, chat, "anna")
    amal = await newcomer(app, chat, "amal", language="العربية")
    await book(anna, "Amal", "25.11. 10:30")
    told = amal.last
    assert told.rtl and told.locale == "ar"
    assert told.text.startswith("موعد جديد (Termin): ")
    assert f"{FSI}Jobcenter Oldenburg, Stau 70{PDI}" in told.text
    assert "١٠:٣٠" in told.text or "10:30" in told.text
    planned = await reminders_of(app, "planned")
    assert [(r.kind, r.due_at) for r in planned] == [
        (EVENING_BEFORE, local(2026, 11, 24, 18, 0)), (TWO_HOURS_BEFORE, local(2026, 11, 25, 8, 30))]
    clock.now = local(2026, 11, 24, 18, 0)
    await send_due(app, clock)
    reminder = amal.last
    assert reminder.rtl and reminder.text.startswith("تذكير: ")
    assert [c.label for c in reminder.choices] == ["سأحضر", "لا أستطيع الحضور"]


async def test_ukrainian_participant_reads_reminders_in_ukrainian(
        app: Lotse, chat: Callable[..., Chat], clock: FakeClock) -> None:
    anna = await coordinator(app, chat, "anna")
    olena = await newcomer(app, chat, "olena", language="Українська")
    await book(anna, "Olena", "25.11. 10:30", kind="Potential check (Potenzialcheck)")
    assert olena.last.text.startswith("Нова призначена зустріч (Termin): Оцінка можливостей (Potenzialcheck)")
    assert "25 листопада 2026" in olena.last.text
    clock.now = local(2026, 11, 25, 8, 30)
    await send_due(app, clock)
    assert olena.last.text.startswith("Нагадування: ")
    assert "10:30" in olena.last.text
    [thanks] = await olena.click("Я прийду")
    assert thanks.text.startswith("Дякуємо! До зустрічі")


def test_quiet_hours_move_a_reminder_to_the_evening_before() -> None:
    early = local(2027, 1, 12, 8, 0)  # 08:00: two hours before would be 06:00
    assert due_at(TWO_HOURS_BEFORE, early, BERLIN) == local(2027, 1, 11, 20, 30)
    late = local(2027, 1, 12, 23, 0)  # 23:00: two hours before is 21:00, already quiet
    assert due_at(TWO_HOURS_BEFORE, late, BERLIN) == local(2027, 1, 12, 20, 30)
    fine = local(2027, 1, 12, 10, 0)
    assert due_at(TWO_HOURS_BEFORE, fine, BERLIN) == local(2027, 1, 12, 8, 0)
    assert not in_quiet_hours(local(2027, 1, 12, 7, 30), BERLIN)
    assert in_quiet_hours(local(2027, 1, 12, 7, 29), BERLIN)
    assert in_quiet_hours(local(2027, 1, 12, 21, 0), BERLIN)
    assert not in_quiet_hours(local(2027, 1, 12, 20, 59), BERLIN)


async def test_quiet_hours_in_a_real_booking_and_nothing_sent_at_night(
        app: Lotse, chat: Callable[..., Chat], clock: FakeClock) -> None:
    anna = await coordinator(app, chat, "anna")
    amal = await newcomer(app, chat, "amal")
    await book(anna, "Amal", "26.11. 8:00")
    assert [r.due_at for r in await reminders_of(app)] == [local(2026, 11, 25, 18, 0), local(2026, 11, 25, 20, 30)]
    clock.now = local(2026, 11, 25, 20, 30)
    await send_due(app, clock)
    seen = len(amal.history)
    for hour in (21, 23, 2, 5, 7):  # through the night: nothing more
        day = 25 if hour >= 21 else 26
        clock.now = local(2026, 11, day, hour, 0)
        await send_due(app, clock)
    assert len(amal.history) == seen


@pytest.mark.parametrize(("typed", "event", "evening_utc"), [
    # The last Sunday of March 2027 is the 28th: from then on it is summer time (UTC+2). (Not the 29th: that is
    # Easter Monday, a public holiday, and booking on it asks first.)
    ("30.03.2027 10:00", local(2027, 3, 30, 10, 0), datetime(2027, 3, 29, 16, 0, tzinfo=UTC)),
    # The last Sunday of October 2027 is the 31st: 18:00 that Sunday is winter time again (UTC+1).
    ("01.11.2027 10:00", local(2027, 11, 1, 10, 0), datetime(2027, 10, 31, 17, 0, tzinfo=UTC)),
])
async def test_reminders_across_the_daylight_saving_changes(
        app: Lotse, chat: Callable[..., Chat], clock: FakeClock, typed: str, event: datetime,
        evening_utc: datetime) -> None:
    anna = await coordinator(app, chat, "anna")
    amal = await newcomer(app, chat, "amal", language="Deutsch")
    clock.now = event - timedelta(days=10)  # booked before the change, reminded after it
    await book(anna, "Amal", typed)
    evening, two_hours = await reminders_of(app)
    assert evening.due_at == evening_utc  # 18:00 on the wall clock either way
    assert two_hours.due_at == event - timedelta(hours=2)
    clock.now = evening_utc
    await send_due(app, clock)
    assert amal.last.text.startswith("Erinnerung: Jobcenter")
    assert "10:00" in amal.last.text  # the event shown at its local time, not shifted by an hour
    assert (await reminders_of(app, "sent"))[0].kind == EVENING_BEFORE


# ---------------------------------------------------------------------------------------------------------------
# Answers: "I'll be there", "I can't come", and the coordinator's list


async def test_cant_come_reaches_the_coordinator_at_once_and_the_list_shows_every_answer(
        app: Lotse, chat: Callable[..., Chat], clock: FakeClock) -> None:
    anna = await coordinator(app, chat, "anna", locale="de")
    amal = await newcomer(app, chat, "amal")
    olena = await newcomer(app, chat, "olena")
    await newcomer(app, chat, "yonas")
    for name in ("Amal", "Olena", "Yonas"):
        await book(anna, name, "25.11. 10:30")
    clock.now = local(2026, 11, 24, 18, 0)
    await send_due(app, clock)
    [ask] = await amal.click("I can't come")
    assert ask.text.startswith("Sorry to hear that.")
    replies = await amal.send("My child is ill")
    assert replies[0].text.startswith("Thank you for telling us.")
    told = anna.last
    assert told.locale == "de"
    assert told.text.startswith("Amal (Nr. ") and "kann nicht kommen" in told.text
    assert "Grund: My child is ill" in told.text
    await olena.click("I'll be there")
    listing, *_ = await anna.send("/appointments")
    assert "✘ Amal" in listing.text and "My child is ill" in listing.text
    assert "✔ Olena" in listing.text
    assert "? Yonas" in listing.text


async def test_cant_come_without_a_reason(app: Lotse, chat: Callable[..., Chat]) -> None:
    anna = await coordinator(app, chat, "anna")
    amal = await newcomer(app, chat, "amal")
    await book(anna, "Amal", "25.11. 10:30")
    await amal.click("I can't come")
    await amal.click("Skip")
    assert "Reason: none given" in anna.last.text


# ---------------------------------------------------------------------------------------------------------------
# Moving and cancelling


async def test_moving_tells_the_participant_and_plans_the_reminders_again(
        app: Lotse, chat: Callable[..., Chat], clock: FakeClock) -> None:
    anna = await coordinator(app, chat, "anna")
    amal = await newcomer(app, chat, "amal")
    await book(anna, "Amal", "25.11. 10:30")
    await amal.click("I'll be there")
    shown, *_ = await anna.send("/appointment 1")
    assert "✔ Amal" in shown.text
    await anna.click("Move")
    [done, _menu] = await anna.send("27.11. 14:00")
    assert done.text.startswith("Moved to Friday, 27 November 2026")
    assert amal.last.text.startswith("Your appointment (Termin) was moved: Jobcenter")
    assert "Before: Wednesday, 25 November 2026, 10:30" in plain(amal.last.text)
    planned = await reminders_of(app, "planned")
    assert [r.due_at for r in planned] == [local(2026, 11, 26, 18, 0), local(2026, 11, 27, 12, 0)]
    assert len(await reminders_of(app, "dropped")) == 2
    async with app.sessions() as session:  # the old "yes" was for the old time
        assert await session.scalar(select(func.count()).select_from(Attendance)) == 0
    clock.now = local(2026, 11, 24, 18, 0)  # the old evening reminder's time: nothing comes
    before = len(amal.history)
    await send_due(app, clock)
    assert len(amal.history) == before


async def test_cancelling_tells_the_participant_and_stops_the_reminders(
        app: Lotse, chat: Callable[..., Chat], clock: FakeClock) -> None:
    anna = await coordinator(app, chat, "anna")
    amal = await newcomer(app, chat, "amal")
    await book(anna, "Amal", "25.11. 10:30")
    old_buttons = amal.last
    await anna.send("/appointment 1")
    await anna.click("Cancel the appointment")
    [done, _menu] = await anna.click("Yes")
    assert done.text.startswith("Cancelled. Amal")
    assert amal.last.text.startswith("Cancelled: your appointment (Termin) Jobcenter.")
    assert not await reminders_of(app, "planned")
    clock.now = local(2026, 11, 25, 9, 0)
    before = len(amal.history)
    await send_due(app, clock)
    assert len(amal.history) == before
    [answer] = await amal.press_raw(old_buttons.choices[0].key)
    assert answer.text == "This appointment was cancelled. You do not need to come."
    refused, *_ = await anna.send("/appointment 1")
    assert "Cancelled." in refused.text and not refused.choices


async def test_another_coordinator_cannot_see_or_change_an_appointment(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    anna = await coordinator(app, chat, "anna")
    await newcomer(app, chat, "amal", district="vechta")
    await book(anna, "Amal", "25.11. 10:30")
    jan = await coordinator(app, chat, "jan", organisation="jobcenter")
    [refused, *_] = await jan.send("/appointment 1")
    assert refused.text == "There is no appointment with this number for you."
    [refused, *_] = await jan.press_raw("@ap:cancel:1")
    assert refused.text == "There is no appointment with this number for you."


# ---------------------------------------------------------------------------------------------------------------
# Settings


async def test_settings_choose_which_reminders_come(app: Lotse, chat: Callable[..., Chat]) -> None:
    anna = await coordinator(app, chat, "anna")
    amal = await newcomer(app, chat, "amal")
    await book(anna, "Amal", "25.11. 10:30")
    [prompt] = await amal.send("/settings")
    assert "Now: The evening before and two hours before" in prompt.text
    await amal.click("Only the evening before")
    assert [r.kind for r in await reminders_of(app, "planned")] == [EVENING_BEFORE]
    await amal.send("/settings")
    await amal.click("No reminders")
    assert not await reminders_of(app, "planned")
    await amal.send("/settings")
    await amal.click("The evening before and two hours before")
    assert [r.kind for r in await reminders_of(app, "planned")] == [EVENING_BEFORE, TWO_HOURS_BEFORE]
    await book(anna, "Amal", "30.11. 10:30")
    assert len(await reminders_of(app, "planned")) == 4


async def test_participant_lists_upcoming_appointments(app: Lotse, chat: Callable[..., Chat]) -> None:
    anna = await coordinator(app, chat, "anna")
    amal = await newcomer(app, chat, "amal")
    [none, *_] = await amal.send("/appointments")
    assert none.text == "You have no upcoming appointments."
    await book(anna, "Amal", "25.11. 10:30")
    await amal.click("I'll be there")
    [listing, *_] = await amal.send("/appointments")
    assert listing.text.startswith("Your upcoming appointments (Termine):")
    assert "(you said you will come)" in listing.text


# ---------------------------------------------------------------------------------------------------------------
# A participant who blocked the bot


async def test_a_blocked_participant_gets_no_reminders_and_the_coordinator_sees_why(
        app: Lotse, chat: Callable[..., Chat], clock: FakeClock) -> None:
    anna = await coordinator(app, chat, "anna")
    amal = await newcomer(app, chat, "amal")
    await book(anna, "Amal", "25.11. 10:30")
    async with app.sessions() as session, session.begin():
        await session.execute(update(Handle).where(Handle.platform_id == "amal").values(active=False))
    clock.now = local(2026, 11, 24, 18, 0)
    before = len(amal.history)
    await send_due(app, clock)
    assert len(amal.history) == before
    assert next(r.status for r in await reminders_of(app)) == "held"
    listing, *_ = await anna.send("/appointments")
    assert "! Amal" in listing.text and "blocked the bot" in listing.text
    reply = await book(anna, "Amal", "30.11. 10:30")
    assert "cannot be reached in the chat at the moment" in reply


# ---------------------------------------------------------------------------------------------------------------
# Exactly once, across restarts


async def _booked_for_tomorrow(app: Lotse, chat: Callable[..., Chat]) -> Chat:
    anna = await coordinator(app, chat, "anna")
    amal = await newcomer(app, chat, "amal")
    await book(anna, "Amal", "24.11. 16:00")  # reminders: today (the 23rd) 18:00 and tomorrow 14:00
    return amal


async def reminder_messages(app: Lotse) -> int:
    async with app.sessions() as session:
        rows = (await session.scalars(select(OutboxEntry))).all()
    return sum(1 for row in rows if row.payload["text"].startswith("Reminder: "))


async def test_restart_after_a_crash_while_a_reminder_was_due_sends_it_exactly_once(
        database_url: str, tmp_path: Path, chat: Callable[..., Chat], app: Lotse, clock: FakeClock,
        transport: RecordingTransport) -> None:
    amal = await _booked_for_tomorrow(app, chat)
    clock.now = local(2026, 11, 23, 18, 5)  # the evening reminder fell due five minutes ago
    async def crash() -> None:
        raise RuntimeError("the process dies inside the transaction that sends the reminder")

    with pytest.raises(RuntimeError):
        await deliver_due(app.sessions, clock(), before_commit=crash)
    assert await reminder_messages(app) == 0 and len(await reminders_of(app, "planned")) == 2
    await app.close()  # ... and is gone; a new process starts on the same database
    restarted = await Lotse.open(load_settings(data_dir=tmp_path, idle_minutes=30), database_url=database_url,
                                 clock=clock)
    try:
        restarted.add_transport(transport)
        first = await deliver_due(restarted.sessions, clock())
        second = await deliver_due(restarted.sessions, clock())  # a second wake-up, or a redelivered job
        await restarted.drain()
        assert (first.sent, second.sent) == (1, 0)
        assert await reminder_messages(restarted) == 1
        assert sum(m.text.startswith("Reminder: ") for m in amal.history) == 1
    finally:
        await restarted.close()


async def test_two_rounds_at_once_send_each_reminder_once(
        app: Lotse, chat: Callable[..., Chat], clock: FakeClock) -> None:
    import asyncio

    await _booked_for_tomorrow(app, chat)
    clock.now = local(2026, 11, 24, 14, 0)
    rounds = await asyncio.gather(*(deliver_due(app.sessions, clock()) for _ in range(4)))
    assert sum(r.sent for r in rounds) == 1 and sum(r.missed for r in rounds) == 1
    assert await reminder_messages(app) == 1


async def test_a_reminder_whose_event_began_while_lotse_was_down_is_recorded_as_missed(
        app: Lotse, chat: Callable[..., Chat], clock: FakeClock) -> None:
    amal = await _booked_for_tomorrow(app, chat)
    clock.now = local(2026, 11, 24, 16, 30)  # down from before 18:00 yesterday until after the start
    before = len(amal.history)
    done = await deliver_due(app.sessions, clock())
    await app.drain()
    assert (done.sent, done.missed) == (0, 2)
    assert [r.status for r in await reminders_of(app)] == ["missed", "missed"]
    assert len(amal.history) == before and await reminder_messages(app) == 0


async def test_after_a_long_downtime_only_the_latest_useful_reminder_is_sent(
        app: Lotse, chat: Callable[..., Chat], clock: FakeClock) -> None:
    amal = await _booked_for_tomorrow(app, chat)
    clock.now = local(2026, 11, 24, 15, 0)  # both fell due while down; the event at 16:00 has not begun
    done = await deliver_due(app.sessions, clock())
    await app.drain()
    assert (done.sent, done.missed) == (1, 1)  # one reminder, not two at once
    assert [(r.kind, r.status) for r in await reminders_of(app)] == [
        (EVENING_BEFORE, "missed"), (TWO_HOURS_BEFORE, "sent")]
    assert sum(m.text.startswith("Reminder: ") for m in amal.history) == 1


async def test_the_scheduler_job_is_rebuilt_from_the_table_at_start(
        database_url: str, tmp_path: Path, clock: FakeClock, transport: RecordingTransport) -> None:
    app = await Lotse.open(load_settings(data_dir=tmp_path, idle_minutes=30), database_url=database_url, clock=clock)
    app.add_transport(transport)
    try:
        make = lambda handle: Chat(app, transport, handle)  # noqa: E731
        await _booked_for_tomorrow(app, make)
        scheduler = ReminderScheduler("test")
        scheduler.start()
        scheduler.wake_at(datetime(2030, 1, 1, tzinfo=UTC))  # a stale wake-up, as a crash might leave in memory
        scheduler.stop()
        again = ReminderScheduler("test")
        again.start()
        try:
            assert again.next_wakeup() is None  # nothing about the schedule lives outside the tables
            moment = await again.reconcile(app.sessions)
            assert moment == local(2026, 11, 23, 18, 0)
            assert again.next_wakeup() == moment  # the table is the schedule
            assert [job.id for job in again.waker.scheduler.get_jobs()] == [again.job]
            again.waker.ring(again.job)
            assert again.wakeup.is_set()
        finally:
            again.stop()
    finally:
        await app.close()


@pytest.mark.slow
async def test_a_process_killed_with_sigkill_while_sending_leaves_exactly_one_reminder_after_restart(
        sqlite_url: str, tmp_path: Path, clock: FakeClock, transport: RecordingTransport) -> None:
    import asyncio
    import os
    import signal
    import sys

    app = await Lotse.open(load_settings(data_dir=tmp_path, idle_minutes=30), database_url=sqlite_url, clock=clock)
    app.add_transport(transport)
    amal = await _booked_for_tomorrow(app, lambda handle: Chat(app, transport, handle))
    await app.close()
    due = local(2026, 11, 23, 18, 5)
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.reminder_process", sqlite_url, due.isoformat(), str(tmp_path),
        stdout=asyncio.subprocess.PIPE, cwd=REPOSITORY,
        env={**os.environ, "LOTSE_LOG_LEVEL": "ERROR"})
    assert child.stdout is not None
    line = await asyncio.wait_for(child.stdout.readline(), timeout=60)
    assert line.strip() == b"WRITTEN"  # the reminder row says "sent" and its message is in the outbox, uncommitted
    child.send_signal(signal.SIGKILL)
    await child.wait()
    clock.now = due
    restarted = await Lotse.open(load_settings(data_dir=tmp_path, idle_minutes=30), database_url=sqlite_url,
                                 clock=clock)
    try:
        restarted.add_transport(transport)
        assert [r.status for r in await reminders_of(restarted)] == ["planned", "planned"]
        scheduler = ReminderScheduler("restarted")
        scheduler.start()
        try:
            assert await scheduler.reconcile(restarted.sessions) == local(2026, 11, 23, 18, 0)
            assert scheduler.next_wakeup() is not None  # due already: the job runs at once
        finally:
            scheduler.stop()
        await deliver_due(restarted.sessions, clock())
        await deliver_due(restarted.sessions, clock())
        await restarted.drain()
        assert sum(m.text.startswith("Reminder: ") for m in amal.history) == 1
        assert await reminder_messages(restarted) == 1
    finally:
        await restarted.close()


async def test_the_reminder_loop_sends_what_fell_due_while_down_as_soon_as_it_starts(
        sqlite_url: str, tmp_path: Path, clock: FakeClock, transport: RecordingTransport) -> None:
    import asyncio

    from bot.runtime.waker import run_reminders

    app = await Lotse.open(load_settings(data_dir=tmp_path, idle_minutes=30), database_url=sqlite_url, clock=clock)
    app.add_transport(transport)
    try:
        await _booked_for_tomorrow(app, lambda handle: Chat(app, transport, handle))
        clock.now = local(2026, 11, 23, 19, 0)
        stop = asyncio.Event()
        app.dispatcher.outbox_ready.clear()
        loop = asyncio.create_task(run_reminders(app.sessions, ReminderScheduler("loop"), clock,
                                                 stop, app.dispatcher.outbox_ready))
        await asyncio.wait_for(app.dispatcher.outbox_ready.wait(), timeout=30)  # a guard, not a measurement
        stop.set()
        await asyncio.wait_for(loop, timeout=30)
        assert await reminder_messages(app) == 1
        assert [r.status for r in await reminders_of(app)] == ["sent", "planned"]
    finally:
        await app.close()


@pytest.mark.parametrize(("typed", "expected"), [("3", (10, 0)), ("8", (16, 0)), ("14", (14, 0)), ("9:15", (9, 15))])
async def test_a_number_picks_the_time_shown_with_it(app: Lotse, chat: Callable[..., Chat], typed: str,
                                                     expected: tuple[int, int]) -> None:
    """The times are listed with numbers: "3" is the third ("3. 10:00"), not three o'clock at night (it was);
    a number beyond the list, or a time with minutes, is the time itself."""
    anna = await coordinator(app, chat, "anna")
    await newcomer(app, chat, "amal")
    await anna.send("/appointment")
    await anna.send("Amal")
    await anna.click("Counselling (Beratung)")
    await anna.click("Pick step by step")
    [hours] = await anna.click("Wednesday, 25 November 2026")
    assert [c.label for c in hours.choices][2:3] == ["10:00"]
    [where] = await anna.send(typed)
    assert where.text.startswith("Where?")
    await anna.send("pro:connect, Cloppenburger Str. 1")
    [summary] = await anna.click("Skip")
    assert f"When: Wednesday, 25 November 2026, {expected[0]:02d}:{expected[1]:02d}" in plain(summary.text)


@pytest.mark.parametrize(("typed", "hint"), [("25:00", "There is no such time."), ("abc", "Please write a time"),
                                             ("", "Your message was empty."), ("08:00", "This moment is in the past.")])
async def test_step_by_step_time_is_checked(app: Lotse, chat: Callable[..., Chat], typed: str, hint: str) -> None:
    anna = await coordinator(app, chat, "anna")
    await newcomer(app, chat, "amal")
    await anna.send("/appointment")
    await anna.send("Amal")
    await anna.click("Jobcenter")
    await anna.click("Pick step by step")
    await anna.click("Monday, 23 November 2026")  # today; it is 10:00 in Berlin
    replies = await anna.send(typed)
    assert replies[0].text.startswith(hint) and replies[-1].text.startswith("At what time?")


async def test_cant_come_goes_to_the_responsible_coordinators_when_the_booker_cannot_be_reached(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    anna = await coordinator(app, chat, "anna")
    pia = await coordinator(app, chat, "pia", organisation="proconnect", locale="de")  # the network's "all" rule
    amal = await newcomer(app, chat, "amal")
    await book(anna, "Amal", "25.11. 10:30")
    async with app.sessions() as session, session.begin():
        await session.execute(update(Handle).where(Handle.platform_id == "anna").values(active=False))
    before = len(anna.history)
    await amal.click("I can't come")
    await amal.send("Sick")
    assert len(anna.history) == before
    assert "kann nicht kommen" in pia.last.text and "Grund: Sick" in pia.last.text

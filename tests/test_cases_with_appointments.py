"""The case view, the digest and broadcasts with appointments, reminders, cancellations and language courses."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, time

from sqlalchemy import select

from bot.core.schedule import Schedule
from bot.jobs.digest import send_due_digests
from bot.runtime.app import Lotse
from bot.services.courses import create_course, enrol
from storage.models import Person
from tests.chat import Chat, FakeClock, RecordingTransport
from tests.test_digest_and_progress import MONDAY_0731_BERLIN
from tests.test_questions import coordinator, participant
from tests.test_reminders import book, local, newcomer, send_due
from tests.test_volunteers import pair, volunteer


async def a_course(app: Lotse, clock: FakeClock, *names: str) -> int:
    """A Monday and Wednesday morning course in the two weeks from 23 November, with these participants."""
    async with app.sessions() as session, session.begin():
        course = await create_course(session, "Deutsch B1", "B1", "BBS Wechloy", [0, 2], time(9, 0), time(12, 0),
                                     date(2026, 11, 23), date(2026, 12, 4), None)
        for name in names:
            person = (await session.scalars(select(Person).where(Person.display_name == name))).one()
            await enrol(session, course, person, clock())
        return course.id


async def cant_come(person: Chat, about: str, reason: str) -> None:
    """Presses "I can't come" under the reminder that mentions `about`, then gives the reason."""
    reminder = next(m for m in reversed(person.history) if m.choices and about in m.text)
    key = next(choice.key for choice in reminder.choices if choice.label == "I can't come")
    await person.press_raw(key)
    await person.send(reason)


async def test_the_case_view_after_a_full_story_with_appointment_reminder_and_cancellation(
        app: Lotse, chat: Callable[..., Chat], clock: FakeClock) -> None:
    """Intake, appointment, reminder, cancellation, question, report and stage change in one view."""
    petra = await coordinator(app, chat, "petra", organisation="proconnect")
    jana = await volunteer(app, chat)
    amal = await participant(chat, "amal")
    await amal.send("/menu")
    await amal.click("Ask a question")
    await amal.click("Apprenticeship (Ausbildung)")
    await amal.send("Where do I apply?")
    await book(petra, "Amal", "25.11. 10:30")
    await a_course(app, clock, "Amal")
    clock.now = local(2026, 11, 24, 18, 0)
    await send_due(app, clock)  # the evening before: the appointment and the course session
    await cant_come(amal, "Jobcenter", "My child is ill")
    await pair(petra, jana, amal)
    await jana.send("/report")
    await jana.click(jana.buttons()[0])
    await jana.click("Attended a course or appointment")
    await jana.send("She was at the language course")
    await petra.send("/stage amal")
    await petra.click("Matching")
    await petra.send("Matching day at the IHK")  # skips the potential check: a reason is needed
    clock.now = local(2026, 11, 26, 12, 0)
    replies = await petra.send("/case Amal")
    text = next(message.text for message in replies if message.text.startswith("Case: "))
    for expected in ("Stage: Matching", "Registered → Profile complete", "Profile complete → Matching",
                     "#1 · Apprenticeship (Ausbildung)", "Appointments and courses",
                     "· Jobcenter · Jobcenter Oldenburg, Stau 70: cannot come (My child is ill)",
                     "Language course (Sprachkurs) Deutsch B1 (B1): of 2 sessions so far 0 confirmed, 0 cannot come, "
                     "2 no answer", "Attended a course or appointment: She was at the language course"):
        assert expected in text, expected


async def test_the_digest_shows_cancellations_unanswered_reminders_and_the_weeks_appointments(
        app: Lotse, chat: Callable[..., Chat], clock: FakeClock) -> None:
    petra = await coordinator(app, chat, "petra", organisation="proconnect")
    amal = await newcomer(app, chat, "amal")
    await newcomer(app, chat, "yonas")
    await book(petra, "Amal", "25.11. 10:30")
    await book(petra, "Yonas", "25.11. 11:30", kind="Counselling (Beratung)")
    await book(petra, "Amal", "01.12. 10:00", place="IHK, Moslestraße 6")
    clock.now = local(2026, 11, 24, 18, 0)
    await send_due(app, clock)
    await cant_come(amal, "Reminder: Jobcenter", "My child is ill")
    clock.now = MONDAY_0731_BERLIN
    await send_due_digests(app.sessions, app.network, Schedule(), None, clock())
    await app.drain()
    digest = petra.last.text
    assert "Cancellations (1)\n· Amal (no. " in digest and "Jobcenter, 25 Nov 2026, 10:30" in digest
    assert "– My child is ill" in digest
    assert "Reminders nobody answered (1)\n· Yonas (no. " in digest and "Counselling (Beratung), 25 Nov 2026" in digest
    assert "Appointments this week (1)\n· 1 Dec 2026, 10:00" in digest
    assert "· Jobcenter · IHK, Moslestraße 6: no answer yet" in digest


async def test_a_broadcast_to_a_course_reaches_only_its_participants(
        app: Lotse, chat: Callable[..., Chat], clock: FakeClock, transport: RecordingTransport) -> None:
    petra = await coordinator(app, chat, "petra", organisation="proconnect")
    amal = await newcomer(app, chat, "amal")
    olena = await newcomer(app, chat, "olena", language="Українська")
    yonas = await newcomer(app, chat, "yonas")
    await a_course(app, clock, "Amal", "Olena")
    await petra.send("/broadcast")
    await petra.click("A language course (Sprachkurs)")
    [count] = await petra.click("Deutsch B1 (B1)")
    assert count.text.startswith("2 participants are in this group.")
    assert "They read: English (1), Українська (1)" in count.text
    await petra.click("Ready-made message")
    await petra.click("New language courses")
    await petra.click("Yes")
    assert amal.last.text.startswith("New language courses (Sprachkurs) start soon.")
    assert olena.last.locale == "uk" and "(Sprachkurs)" in olena.last.text
    assert not yonas.last.text.startswith("New language courses")

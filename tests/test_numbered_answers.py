"""Typed numbers and labels answer the message they are meant for (issue 20, findings 1, 2 and 15).

On Matrix and the console choices are numbered lists, and on Telegram people type too. A number answers the newest
message with choices that the person has not answered yet: a notice Lotse sent on its own (an appointment, a
reminder, a question for coordinators) as much as the current question; a reply answers the message replied to;
when two new messages could both be meant, Lotse asks once. Options shown under a typed-answer step ("1. Skip",
"1. As soon as possible") are taken by number too, and "-1" or "1.5" are no option's number.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from sqlalchemy import select

from bot.core.config import load_settings
from bot.core.i18n import Translator
from bot.runtime.app import Lotse
from storage.models import Appointment, Attendance, PotentialCheck, Profile, Ticket, TicketMessage
from tests.chat import Chat, FakeClock, RecordingTransport, texts
from tests.test_intake import ANSWERS, consent, profile_of
from tests.test_questions import coordinator, participant
from tests.test_reminders import book, reminders_of, send_due

AR, TI, UK, DE = Translator("ar"), Translator("ti"), Translator("uk"), Translator("de")


def head(t: Translator, message: str) -> str:
    """The fixed start of a catalog message with one placeholder, in that language."""
    return t(message, when="@", answer="@", number="@").split("@")[0]


async def attendance(app: Lotse) -> dict[str, tuple[str, str | None]]:
    async with app.sessions() as session:
        rows = (await session.scalars(select(Attendance))).all()
    return {row.event_key: (row.answer, row.reason) for row in rows}


# ---------------------------------------------------------------------------------------------------------------
# Finding 1: numbers and labels answer the notice they are meant for


async def test_a_number_after_an_appointment_notice_answers_it_not_the_menu_in_arabic(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    anna = await coordinator(app, chat, "anna")
    amal = await participant(chat, "amal", "العربية")
    await book(anna, "amal", "24.11. 10:30")
    notice = amal.last
    assert [c.label for c in notice.choices] == [AR("I'll be there"), AR("I can't come")]
    [thanks] = await amal.send("١")  # an Arabic-Indic one
    assert thanks.text.startswith(head(AR, "Thank you! See you on {when}.")) and thanks.rtl
    assert await attendance(app) == {"a:1": ("yes", None)}
    [topics] = await amal.send("1")  # the notice is answered: the next number is the menu's again
    assert topics.text.startswith(AR("What is your question about?"))


async def test_a_number_after_a_reminder_answers_it_and_skip_by_number_gives_no_reason_in_tigrinya(
        app: Lotse, chat: Callable[..., Chat], clock: FakeClock) -> None:
    anna = await coordinator(app, chat, "anna")
    yonas = await participant(chat, "yonas", "ትግርኛ")
    await book(anna, "yonas", "24.11. 10:30")
    clock.now = (await reminders_of(app, "planned"))[0].due_at
    await send_due(app, clock)
    reminder = yonas.last
    assert [c.label for c in reminder.choices] == [TI("I'll be there"), TI("I can't come")]
    # The booking notice and the reminder ask the same thing: "2" is no reason to ask which one is meant.
    [why] = await yonas.send("2")
    assert why.text.startswith(TI("Sorry to hear that. Do you want to tell us why? You can also tap Skip."))
    assert [c.label for c in why.choices] == [TI("Skip")]
    told = len(anna.history)
    thanks, _menu = await yonas.send("1")  # "1. Skip", by its number: no reason "1"
    assert thanks.text == TI("Thank you for telling us. Your coordinator knows now and will contact you if needed.")
    assert await attendance(app) == {"a:1": ("no", None)}
    [to_anna] = anna.history[told:]
    assert "Reason: none given" in to_anna.text


async def test_a_typed_label_answers_the_notice_not_the_open_question_in_ukrainian(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    anna = await coordinator(app, chat, "anna")
    olena = await participant(chat, "olena", "Українська")
    await olena.send("1")  # Ask a question
    await olena.send("2")  # apprenticeship
    await olena.send("Where do I apply for an Ausbildung?")
    await book(anna, "olena", "24.11. 10:30")
    [thanks] = await olena.send(UK("I'll be there").upper())
    assert thanks.text.startswith(head(UK, "Thank you! See you on {when}."))
    assert await attendance(app) == {"a:1": ("yes", None)}
    async with app.sessions() as session:
        thread = (await session.scalars(select(TicketMessage.text).where(TicketMessage.direction == "in"))).all()
    assert thread == ["Where do I apply for an Ausbildung?"]


async def test_two_new_notices_with_the_same_number_are_asked_about_once_in_arabic(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    anna = await coordinator(app, chat, "anna")
    amal = await participant(chat, "amal", "العربية")
    await book(anna, "amal", "24.11. 10:30")
    await book(anna, "amal", "25.11. 09:00", kind="Counselling (Beratung)", place="pro:connect")
    [which] = await amal.send("1")
    assert which.text == AR("Which message is your answer “{answer}” for?", answer="1")
    assert len(which.choices) == 2 and all(AR("I'll be there") in c.label for c in which.choices)
    assert AR("Counselling (Beratung)") in which.choices[0].label  # the newest first
    assert await attendance(app) == {}
    [thanks] = await amal.send("2")  # the older one: the Jobcenter appointment
    assert thanks.text.startswith(head(AR, "Thank you! See you on {when}."))
    assert await attendance(app) == {"a:1": ("yes", None)}
    [thanks] = await amal.send("1")  # the other one is all that is left: no second question
    assert thanks.text.startswith(head(AR, "Thank you! See you on {when}."))
    assert await attendance(app) == {"a:1": ("yes", None), "a:2": ("yes", None)}
    [topics] = await amal.send("1")
    assert topics.text.startswith(AR("What is your question about?"))


async def test_a_reply_to_one_notice_answers_that_one_without_asking(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    anna = await coordinator(app, chat, "anna")
    amal = await participant(chat, "amal", "العربية")
    await book(anna, "amal", "24.11. 10:30")
    first = amal.last
    await book(anna, "amal", "25.11. 09:00", kind="Counselling (Beratung)", place="pro:connect")
    [why] = await amal.reply(first, "2")
    assert why.text.startswith(AR("Sorry to hear that. Do you want to tell us why? You can also tap Skip."))
    await amal.send("المواصلات")
    assert await attendance(app) == {"a:1": ("no", "المواصلات")}


async def test_a_coordinator_takes_a_question_by_number_and_then_hands_it_over_by_number(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    anna = await coordinator(app, chat, "anna", locale="de")
    amal = await participant(chat, "amal", "العربية")
    await amal.send("1")
    await amal.send("2")
    await amal.send("أين أقدم طلبا للتدريب المهني؟")
    notice = anna.last
    assert [c.label for c in notice.choices] == [DE("Take it"), DE("Hand over")]
    answer = texts(await anna.send("1"))
    assert head(DE, "You took question no. {number}. Write your answer now, or send a photo or a file. Or write "
                    "/menu and answer later.") in answer
    async with app.sessions() as session:
        ticket = (await session.scalars(select(Ticket))).one()
    assert ticket.status == "claimed"
    edited = next(m for m in anna.history if m.choices and m.choices[0].label == DE("Ready-made answer"))
    assert [c.label for c in edited.choices] == [DE("Ready-made answer"), DE("Hand over"), DE("Close"),
                                                 DE("Ask a mediator")]  # she does not read Arabic: last
    [handover] = await anna.send("2")  # the notice now offers other buttons, and they are open again
    assert handover.text.startswith(DE("To which topic should the question go? It is routed again by the "
                                       "network's rules."))


async def test_open_notices_survive_a_restart(
        database_url: str, tmp_path: Path, app: Lotse, chat: Callable[..., Chat], clock: FakeClock,
        transport: RecordingTransport) -> None:
    anna = await coordinator(app, chat, "anna")
    amal = await participant(chat, "amal", "العربية")
    await book(anna, "amal", "24.11. 10:30")
    first = amal.last
    await book(anna, "amal", "25.11. 09:00", kind="Counselling (Beratung)", place="pro:connect")
    await amal.reply(first, "1")  # one of two answered; the other stays open ... and the process dies
    await app.close()
    restarted = await Lotse.open(load_settings(data_dir=tmp_path, idle_minutes=30), database_url=database_url,
                                 clock=clock)
    try:
        restarted.add_transport(transport)
        later = Chat(restarted, transport, "amal")
        [why] = await later.send("2")
        assert why.text.startswith(AR("Sorry to hear that. Do you want to tell us why? You can also tap Skip."))
        assert (await attendance(restarted)) == {"a:1": ("yes", None)}
        await later.send("-")
        assert (await attendance(restarted)) == {"a:1": ("yes", None), "a:2": ("no", None)}
    finally:
        await restarted.close()


async def test_an_answer_after_a_break_is_not_lost_to_a_welcome_back(
        app: Lotse, chat: Callable[..., Chat], clock: FakeClock) -> None:
    anna = await coordinator(app, chat, "anna")
    amal = await participant(chat, "amal", "العربية")
    await amal.send("1")  # Ask a question ... and then the phone goes into the pocket
    await book(anna, "amal", "24.11. 10:30")
    clock.advance(hours=3)
    [thanks] = await amal.send("1")
    assert thanks.text.startswith(head(AR, "Thank you! See you on {when}."))
    assert await attendance(app) == {"a:1": ("yes", None)}
    [menu] = await amal.send("مرحبا")  # the question left before the break does not take this
    assert menu.text.startswith(AR("What would you like to do?"))


async def test_the_current_question_asked_after_a_notice_takes_the_number(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    anna = await coordinator(app, chat, "anna")
    amal = await participant(chat, "amal", "العربية")
    await book(anna, "amal", "24.11. 10:30")
    await amal.send("/menu")  # the menu comes after the notice now: "1" is for the menu
    [topics] = await amal.send("1")
    assert topics.text.startswith(AR("What is your question about?"))
    assert await attendance(app) == {}
    await amal.send("/menu")
    [thanks] = await amal.send(AR("I'll be there"))  # the notice's label still reaches the notice
    assert thanks.text.startswith(head(AR, "Thank you! See you on {when}."))


async def test_a_notice_during_a_question_with_options_is_asked_about(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    anna = await coordinator(app, chat, "anna")
    amal = await participant(chat, "amal", "العربية")
    await amal.send("1")  # Ask a question: which topic? (a numbered list)
    await book(anna, "amal", "24.11. 10:30")
    [which] = await amal.send("2")
    assert which.text == AR("Which message is your answer “{answer}” for?", answer="2")
    assert AR("I can't come") in which.choices[0].label
    assert AR("What is your question about?") in which.choices[1].label
    [question] = await amal.send("2")  # the topic question: its option 2
    assert question.text == AR("Please write your question. You can also send a photo of a letter, a document or "
                               "a voice message.")
    assert await attendance(app) == {}


# ---------------------------------------------------------------------------------------------------------------
# Finding 2: options shown under a typed-answer step are taken by number


async def test_as_soon_as_possible_by_number_and_skip_by_number_in_tigrinya(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    yonas = chat("yonas")
    await consent(yonas, "ትግርኛ")
    for answer in ANSWERS[:8]:
        await yonas.send(answer)
    start = yonas.last
    assert [c.label for c in start.choices] == [TI("As soon as possible")]
    [licence] = await yonas.send("1")
    assert not licence.text.startswith(TI("Please write a date like {example}.", example="@").split("@")[0])
    for answer in ["3", "1", "2", "0151 23456789"]:
        await yonas.send(answer)
    await yonas.send("1")  # school: "Write a number", and 1 is a number of years, not "1. Skip"
    await yonas.send("1")  # experience: "1. Skip"
    profile = await profile_of(app, "yonas")
    assert profile.answers["start"] == "asap"
    assert profile.answers["school"] == 1
    assert profile.answers["experience"] is None


async def test_an_appointment_note_skipped_by_number_is_no_note(app: Lotse, chat: Callable[..., Chat]) -> None:
    anna = await coordinator(app, chat, "anna", locale="de")
    amal = await participant(chat, "amal", "العربية")
    summary = await book(anna, "amal", "24.11. 10:30", note="1")
    assert "1" not in summary.split(DE("Note: {note}", note="@").split("@")[0])[1:]
    async with app.sessions() as session:
        appointment = (await session.scalars(select(Appointment))).one()
    assert appointment.note is None
    assert AR("Note: {note}", note="1") not in amal.last.text


async def test_a_potential_check_text_answer_skipped_by_number(app: Lotse, chat: Callable[..., Chat]) -> None:
    yonas = await participant(chat, "yonas", "ትግርኛ")
    await yonas.send("/check")
    for answer in ["1", "2", "1", "1", "1", "1", "2", "2", "1"]:
        await yonas.send(answer)
    last = yonas.last
    assert [c.label for c in last.choices] == [TI("Skip")]
    await yonas.send("1")
    async with app.sessions() as session:
        check = (await session.scalars(select(PotentialCheck))).one()
    assert check.answers.get("enjoyed") is None


# ---------------------------------------------------------------------------------------------------------------
# Finding 15: "-1" and "1.5" are no option's number


async def test_minus_one_and_one_point_five_are_refused_and_lists_still_work_in_arabic(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    amal = chat("amal")
    await consent(amal, "العربية")
    await amal.send("8")
    goals = amal.last
    for typed in ["-1", "1.5", "١٫٥"]:
        hint, again = await amal.send(typed)
        assert hint.text == AR("Please answer with one or more numbers from 1 to {count}, like 1, 3.",
                               count=len(goals.choices))
        assert again.text == goals.text and again.choices == goals.choices
    assert "goals" not in (await profile_of(app, "amal")).answers
    await amal.send("1 3")
    assert (await profile_of(app, "amal")).answers["goals"] == ["language_course", "internship"]


async def test_minus_one_is_refused_on_a_single_choice(app: Lotse, chat: Callable[..., Chat]) -> None:
    amal = chat("amal")
    await consent(amal, "العربية")
    hint, again = await amal.send("-1")
    assert hint.text == AR("Please answer with a number from 1 to {count}.", count=len(again.choices))
    assert again.text.startswith(AR("Question {number} of {total}", number=1, total=11))
    async with app.sessions() as session:
        assert (await session.scalars(select(Profile.answers))).first() in (None, {})


async def test_a_number_in_reply_to_a_notice_in_the_coordinators_room_takes_the_question(
        database_url: str, tmp_path: Path, clock: FakeClock) -> None:
    transport = RecordingTransport(name="console")  # a room is named by its platform
    network = (Path(__file__).parents[1] / "bot" / "example_network.toml").read_text()
    rule = 'organisation = "ihk"\ntopics = ["apprenticeship", "internship", "recognition"]\ndistricts = ["all"]\n'
    assert rule in network
    (tmp_path / "network.toml").write_text(network.replace(rule, rule + 'room = "console:ihk-room"\n', 1))
    settings = load_settings(data_dir=tmp_path, idle_minutes=30, network_file=tmp_path / "network.toml")
    app = await Lotse.open(settings, database_url=database_url, clock=clock)
    app.add_transport(transport)
    try:
        def chat(handle: str, hint: str | None = None) -> Chat:
            return Chat(app, transport, handle, language_hint=hint)

        anna = await coordinator(app, chat, "anna")
        amal = await participant(chat, "amal", "العربية")
        await amal.send("1")
        await amal.send("2")
        await amal.send("أين أقدم طلبا للتدريب المهني؟")
        room = Chat(app, transport, "ihk-room")
        [notice] = room.history
        assert [c.label for c in notice.choices] == [DE("Take it"), DE("Hand over")]  # rooms read German
        platform_id = next(pid for pid, (where, _) in transport.by_platform_id.items() if where == "ihk-room")
        event = replace(anna._event(text="1", reply_to=platform_id), chat="ihk-room", in_group=True)
        answer = texts(await anna._deliver(event))
        assert "You took question no. 1." in answer
        async with app.sessions() as session:
            assert (await session.scalars(select(Ticket.status))).one() == "claimed"
            assert (await session.scalars(select(TicketMessage.text).where(TicketMessage.direction == "out"))).all() \
                == []  # "1" was not sent to amal as an answer
        assert not any(m.text.endswith("1") for m in amal.history[-2:])
    finally:
        await app.close()


async def test_a_number_after_ticket_takes_the_question_not_the_menu(app: Lotse, chat: Callable[..., Chat]) -> None:
    """Found by a newcomer: `/ticket 1` showed "1. Take it" and then the menu, so "1" opened "Open questions"."""
    tom = await coordinator(app, chat, "tom", locale="de")
    olena = await participant(chat, "olena", "Українська")
    await olena.send("1")  # Ask a question
    await olena.send("2")  # apprenticeship
    await olena.send("Where do I apply for an Ausbildung?")
    shown = await tom.send("/ticket 1")
    assert shown[-1].choices and shown[-1].choices[0].label == DE("Take it")  # and no menu after it
    [taken, *_] = await tom.send("1")
    assert taken.text.startswith("Sie haben Frage Nr. 1 übernommen.")
    async with app.sessions() as session:
        assert (await session.scalars(select(Ticket.status))).one() == "claimed"


async def test_the_list_of_open_questions_opens_one_by_its_number(app: Lotse, chat: Callable[..., Chat]) -> None:
    """Found by a newcomer: "Open questions" listed #1 and #2, but typing a number opened a menu entry."""
    tom = await coordinator(app, chat, "tom", locale="de")
    olena = await participant(chat, "olena", "Українська")
    for topic, question in (("2", "Where do I apply for an Ausbildung?"), ("3", "Who pays for the work shoes?")):
        await olena.send("/menu")
        await olena.send("1")  # Ask a question
        await olena.send(topic)  # apprenticeship, then internship: two topics, two questions
        await olena.send(question)
    await tom.send("/menu")
    [listing] = await tom.click(DE("Open questions"))
    assert [choice.label.split(" · ")[0] for choice in listing.choices] == ["#1", "#2"]
    [shown] = await tom.send("2")  # the second in the list: question no. 2, and no menu after it
    assert "Who pays for the work shoes?" in shown.text
    assert [choice.label for choice in shown.choices] == [DE("Take it"), DE("Hand over")]
    [taken, *_] = await tom.send("1")
    assert taken.text.startswith("Sie haben Frage Nr. 2 übernommen.")


async def test_after_taking_a_question_the_next_message_is_the_answer(app: Lotse, chat: Callable[..., Chat]) -> None:
    """Found by a newcomer: after "Take it" Petra wrote her answer, and Lotse said "answer with a number from 1 to
    13" (the menu came back); the console has no way to reply to a message."""
    tom = await coordinator(app, chat, "tom", locale="de")
    olena = await participant(chat, "olena", "Українська")
    await olena.send("1")  # Ask a question
    await olena.send("2")  # apprenticeship
    await olena.send("Коли починається наступний курс?")
    await tom.send("/inbox")
    await tom.send("1")  # opens question no. 1
    [prompt] = await tom.send("1")  # takes it
    assert prompt.text.startswith("Sie haben Frage Nr. 1 übernommen.") and "/menu" in prompt.text
    [sent, _menu] = await tom.send("Die nächsten Kurse beginnen im Januar.")
    assert sent.text == DE("Sent to the participant (question no. {number}).", number=1)
    assert olena.last.text.endswith("Die nächsten Kurse beginnen im Januar.")


async def test_a_question_taken_earlier_and_opened_again_takes_the_typed_answer(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    """Found by a newcomer: Tom took a question, went to the menu, opened it again from "Open questions" and wrote
    his answer; Lotse said "answer with a number" and the answer was lost."""
    tom = await coordinator(app, chat, "tom", locale="de")
    olena = await participant(chat, "olena", "Українська")
    await olena.send("1")  # Ask a question
    await olena.send("2")  # apprenticeship
    await olena.send("Коли починається наступний курс?")
    await tom.send("1")  # Take it, from the notice
    await tom.send("/menu")
    await tom.click(DE("Open questions"))
    thread, prompt = await tom.send("1")
    assert "Коли починається наступний курс?" in thread.text and not thread.choices
    assert prompt.text.startswith("Sie haben Frage Nr. 1 übernommen.")
    assert [choice.label for choice in prompt.choices][:3] == [DE("Ready-made answer"), DE("Hand over"), DE("Close")]
    [sent, _menu] = await tom.send("Der Kurs beginnt am 11. Januar.")
    assert sent.text == DE("Sent to the participant (question no. {number}).", number=1)
    assert olena.last.text.endswith("Der Kurs beginnt am 11. Januar.")


async def test_a_number_outside_which_message_is_asked_again_not_passed_to_the_menu_in_arabic(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    """A play-tester's "3" to "which message?" (two options) opened the menu's third entry and dropped her answer."""
    anna = await coordinator(app, chat, "anna")
    amal = await participant(chat, "amal", "العربية")
    await book(anna, "amal", "24.11. 10:30")
    await book(anna, "amal", "25.11. 09:00", kind="Counselling (Beratung)", place="pro:connect")
    [which] = await amal.send("1")
    for wrong in ("3", "٣", "-1", "0"):
        hint, again = await amal.send(wrong)
        assert hint.text == AR("Please answer with a number from 1 to {count}.", count=2)
        assert again.text == AR("Which message is your answer “{answer}” for?", answer="1")
        assert [choice.label for choice in again.choices] == [choice.label for choice in which.choices]
    assert await attendance(app) == {}
    [thanks] = await amal.send("2")  # the older one: the Jobcenter appointment
    assert thanks.text.startswith(head(AR, "Thank you! See you on {when}."))
    assert await attendance(app) == {"a:1": ("yes", None)}


async def test_two_bookings_of_one_kind_are_told_apart_and_an_empty_line_keeps_the_question_in_arabic(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    """A play-tester saw "which message?" with two identical lines, and an empty line dropped the question."""
    anna = await coordinator(app, chat, "anna")
    amal = await participant(chat, "amal", "العربية")
    await book(anna, "amal", "24.11. 10:30")
    await book(anna, "amal", "25.11. 09:00")
    [which] = await amal.send("1")
    labels = [choice.label for choice in which.choices]
    assert len(labels) == 2 and len(set(labels)) == 2  # the second line (the day) tells them apart
    empty, again = await amal.send("")
    assert empty.text == AR("Your message was empty. Please write your answer.")
    assert again.text == which.text and [choice.label for choice in again.choices] == labels
    [thanks] = await amal.send("2")
    assert thanks.text.startswith(head(AR, "Thank you! See you on {when}."))
    assert await attendance(app) == {"a:1": ("yes", None)}

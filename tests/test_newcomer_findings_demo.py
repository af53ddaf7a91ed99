"""What a newcomer met playing `lotse demo`, as conversations: each test failed before its fix.

Words at the menu with no open question are offered as a new question (kept, not refused as a wrong number);
"Talk to a person" reaches the coordinator who already handles the participant; the intake's counter never shows
one head for two questions; a ready-made invitation books an appointment and questions a public holiday; a
milestone that jumps over stages names them; dates in Arabic-script languages use the Arabic comma; the
participants' CSV shows phone numbers as text without a visible apostrophe and still defuses formulas. (A report
nobody is told of has "Ask a mediator" on the case view: tests/test_mediation_asked.py, which has the fixtures.)
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.core.i18n import Translator
from bot.jobs.export import export_participants, phone_cell
from bot.runtime.app import Lotse
from storage.models import Appointment, Handle, Person, Reminder, Ticket
from tests.chat import Chat, RecordingTransport, texts
from tests.test_intake import ANSWERS, consent, staff
from tests.test_questions import coordinator, participant
from tests.test_responsibility import participant as participant_in

EN, DE = Translator("en"), Translator("de")
OFFER = EN("You have no open question. Do you want to send what you wrote as a new question? A person who can help "
           "will answer here.")
SEND, BACK = EN("Send it as a question"), EN("Back to the menu")
WRONG_NUMBER = re.compile(r"Please answer with a number from 1 to \d+\.")


async def at_menu(person: Chat) -> None:
    await person.send("/menu")


async def tickets(app: Lotse) -> list[Ticket]:
    async with app.sessions() as session:
        return list((await session.scalars(select(Ticket).order_by(Ticket.id))).all())


# ---------------------------------------------------------------------------------------------------------------
# 1. Words at the menu that answer no open question are offered as a new question, the words kept


async def test_a_sentence_at_the_menu_is_offered_as_a_new_question_and_sent_with_its_words(
        app: Lotse, chat: Callable[..., Chat], transport: RecordingTransport) -> None:
    tom = await staff(app, transport, "tom")  # pro:connect
    amal = await participant(chat, "amal")
    await at_menu(amal)
    [offer] = await amal.send("I need help with my Jobcenter letter")
    assert offer.text.startswith(OFFER) and not WRONG_NUMBER.search(offer.text)
    assert amal.buttons() == [SEND, BACK]
    [topics] = await amal.click(SEND)
    assert topics.text.startswith("What is your question about?")
    [thanks, *_] = await amal.click(app.network.topics["other"].name["en"])
    assert thanks.text.startswith("Thank you. Your question has the number 1.")
    assert "I need help with my Jobcenter letter" in tom.last.text  # the words they typed, not asked again
    [ticket] = await tickets(app)
    assert ticket.topic == "other"


async def test_back_to_the_menu_sends_nothing_and_numbers_and_commands_work_as_before(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    yonas = await participant(chat, "yonas", language="ትግርኛ")
    await at_menu(yonas)
    ti = Translator("ti")
    [offer] = await yonas.send("ሰላም፡ ብዛዕባ ናይ ጆብሰንተር ደብዳበ ሕቶ ኣለኒ")
    assert offer.text.startswith(ti(OFFER))
    [menu] = await yonas.click(ti(BACK))
    assert menu.text.startswith(ti("What would you like to do?"))
    assert await tickets(app) == []
    [wrong] = (await yonas.send("77"))[:1]  # a number is still a menu number
    assert wrong.text.startswith(ti("Please answer with a number from 1 to {count}.", count=len(yonas.buttons())))
    [helped, *_] = await yonas.send("/help")
    assert helped.locale == "ti" and "/menu" in helped.text and not helped.text.startswith(ti(OFFER))
    greeted = await yonas.send("ሰላም")  # one word, a greeting: the menu's answer as before, no offer
    assert all(not m.text.startswith(ti(OFFER)) for m in greeted)
    await at_menu(yonas)
    [asking] = await yonas.send("1")  # "Ask a question", by number
    assert asking.text.startswith(ti("What is your question about?"))


@pytest.mark.parametrize(("typed", "answer"), [
    ("🙂🙂🙂 !!", "Please write a few words, not only emoji or signs."),
    ("x" * 5000, "That is too long. Please write at most 4,000 characters."),
])
async def test_words_that_cannot_be_a_question_are_answered_plainly_with_the_menu_again(
        app: Lotse, chat: Callable[..., Chat], typed: str, answer: str) -> None:
    amal = await participant(chat, "amal")
    await at_menu(amal)
    [said, menu] = await amal.send(typed)
    assert said.text == answer and menu.text.startswith("What would you like to do?")
    assert await tickets(app) == []


@pytest.mark.parametrize("typed", [
    "وصلتني رسالة من الجوب سنتر",  # right to left
    "'; DROP TABLE persons; -- <script>alert(1)</script>",  # injection-like: kept as plain words
    "=HYPERLINK(\"http://x\") {number} %s",
])
async def test_any_words_are_kept_as_typed_when_sent_as_a_question(
        app: Lotse, chat: Callable[..., Chat], typed: str) -> None:
    amal = await participant(chat, "amal")
    await at_menu(amal)
    [offer] = await amal.send(typed)
    assert offer.text.startswith(OFFER)
    await amal.click(SEND)
    await amal.click(app.network.topics["other"].name["en"])
    async with app.sessions() as session:
        [ticket] = (await session.scalars(select(Ticket))).all()
        from storage.models import TicketMessage
        first = (await session.scalars(select(TicketMessage).where(TicketMessage.ticket_id == ticket.id))).first()
    assert first is not None and first.text == typed


async def test_with_an_open_question_words_at_the_menu_still_join_it(
        app: Lotse, chat: Callable[..., Chat], transport: RecordingTransport) -> None:
    tom = await staff(app, transport, "tom")
    amal = await participant(chat, "amal")
    await at_menu(amal)
    await amal.send("My letter here")
    await amal.click(SEND)
    await amal.click(app.network.topics["other"].name["en"])
    [added, *_] = await amal.send("It is from the Jobcenter")
    assert added.text == "Added to your question no. 1."
    seen_by_tom = len(tom.history)
    [wrong, *_] = await amal.send("-1")  # a wrong number is not sent to the coordinator as a message
    assert WRONG_NUMBER.match(wrong.text) and len(tom.history) == seen_by_tom


# ---------------------------------------------------------------------------------------------------------------
# 2. "Talk to a person" reaches whoever already handles the participant


async def test_talk_to_a_person_goes_to_the_coordinator_who_handles_the_participant_not_the_fallback(
        app: Lotse, chat: Callable[..., Chat], transport: RecordingTransport) -> None:
    tom = await staff(app, transport, "tom")  # pro:connect, the network's fallback
    jobcenter = await coordinator(app, chat, "jobc", organisation="jobcenter", districts=["stadt_oldenburg"])
    amal = await participant_in(chat, "amal", "English", "stadt_oldenburg", "language_course")
    await at_menu(amal)
    await amal.click("Ask a question")
    await amal.click(app.network.topics["letters"].name["en"])
    await amal.send("A letter about Bürgergeld")
    await jobcenter.click("Take it")
    await jobcenter.send("Please send a photo of it.")
    seen_by_tom = len(tom.history)
    await at_menu(amal)
    await amal.click("Talk to a person")
    [thanks, *_] = await amal.send("Can I talk to someone on the phone?")
    assert "Jobcenter Oldenburg" in thanks.text and "pro:connect" not in thanks.text
    assert jobcenter.last.text.startswith("Question no. 2: Talk to a person")
    assert len(tom.history) == seen_by_tom


async def test_talk_to_a_person_goes_where_their_question_waits_to_be_taken(
        app: Lotse, chat: Callable[..., Chat], transport: RecordingTransport) -> None:
    tom = await staff(app, transport, "tom")
    jobcenter = await coordinator(app, chat, "jobc", organisation="jobcenter", districts=["stadt_oldenburg"])
    amal = await participant_in(chat, "amal", "English", "stadt_oldenburg", "language_course")
    await at_menu(amal)
    await amal.click("Ask a question")
    await amal.click(app.network.topics["letters"].name["en"])
    await amal.send("A letter about Bürgergeld")  # nobody took it yet
    seen_by_tom = len(tom.history)
    await at_menu(amal)
    await amal.click("Talk to a person")
    await amal.send("Please call me")
    assert jobcenter.last.text.startswith("Question no. 2: Talk to a person")
    assert len(tom.history) == seen_by_tom


async def test_talk_to_a_person_without_a_handler_goes_by_goal_and_district_then_the_fallback(
        app: Lotse, chat: Callable[..., Chat], transport: RecordingTransport) -> None:
    tom = await staff(app, transport, "tom")
    jobcenter = await coordinator(app, chat, "jobc", organisation="jobcenter", districts=["stadt_oldenburg"])
    amal = await participant_in(chat, "amal", "English", "stadt_oldenburg", "work")  # the Jobcenter's topic there
    olena = await participant_in(chat, "olena", "English", "ammerland", "language_course")
    seen_by_tom = len(tom.history)
    await at_menu(amal)
    await amal.click("Talk to a person")
    await amal.send("I want to talk about work")
    assert jobcenter.last.text.startswith("Question no. 1: Talk to a person")
    assert len(tom.history) == seen_by_tom
    seen_by_jobcenter = len(jobcenter.history)
    await at_menu(olena)
    await olena.click("Talk to a person")
    await olena.send("Hello, I have a question")  # nobody of BBS Wechloy is reachable: the fallback
    assert tom.last.text.startswith("Question no. 2: Talk to a person")
    assert len(jobcenter.history) == seen_by_jobcenter


# ---------------------------------------------------------------------------------------------------------------
# 3. The intake's counter: one head, one question


async def test_no_two_questions_of_the_intake_show_the_same_counter(chat: Callable[..., Chat]) -> None:
    amal = chat("amal")
    seen = list(await consent(amal, "English"))
    for answer in ANSWERS:
        seen += await amal.send(answer)
    heads = [m.text.split("\n")[0] for m in seen if m.text.startswith("Question ")]
    assert len(heads) == len(set(heads)), heads  # before: "Question 2 of 11" for goals and kinds of work
    assert heads[:4] == ["Question 1 of 11", "Question 2 of 11", "Question 2 of 11, part 2",
                         "Question 2 of 11, part 3"]  # goals, kinds of work, the other kind of work
    assert "Question 5 of 11, part 2" in heads and "Question 9 of 11, part 2" in heads  # times of day; phone


# ---------------------------------------------------------------------------------------------------------------
# 4. A ready-made invitation books the appointment, and a public holiday is questioned


async def _invite(app: Lotse, chat: Callable[..., Chat], language: str = "English",
                  code: str = "en") -> tuple[Chat, Chat]:
    ben = await coordinator(app, chat, "ben")
    amal = await participant(chat, "amal", language=language)
    await at_menu(amal)
    await amal.send("1")
    await amal.click(app.network.topics["internship"].name[code])
    await amal.send("Internship?")
    await ben.click("Take it")
    await ben.click("Ready-made answer")
    await ben.click("Invite to a place and time")
    await ben.send("Jobcenter Oldenburg, Stau 70")
    return ben, amal


async def test_a_ready_made_invitation_on_a_public_holiday_is_questioned_and_then_booked(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    ben, amal = await _invite(app, chat)
    before = len(amal.history)
    [asked] = await ben.send("25.12.2026 10:00")  # today is 23 November 2026
    assert asked.text.startswith("\n\n".join([
        EN("{date} is a public holiday ({holiday}).", date=EN.date(date(2026, 12, 25), "medium"),
           holiday="Erster Weihnachtstag"), EN("Keep this day?")]))
    assert len(amal.history) == before  # nothing sent yet
    [again] = await ben.click("No")
    assert again.text.startswith("Which day and time?")
    shown = await ben.send("24.11.2026 10:30")
    assert any(m.text.startswith("It is also booked as appointment no. 1, with the usual reminders.")
               for m in shown), texts(shown)
    invitation, booked = amal.history[-2:]
    assert "Please come to Jobcenter Oldenburg, Stau 70 on Tuesday, 24 November 2026, 10:30." in invitation.text
    assert booked.text.startswith("New appointment (Termin):") and amal.buttons()[:2] == [
        "I'll be there", "I can't come"]
    async with app.sessions() as session:
        [appointment] = (await session.scalars(select(Appointment))).all()
        reminders = (await session.scalars(select(Reminder))).all()
    assert appointment.starts_at.replace(tzinfo=UTC) == datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
    assert appointment.place == "Jobcenter Oldenburg, Stau 70" and appointment.status == "scheduled"
    assert len(reminders) == 2  # the evening before and two hours before
    [listed, *_] = await ben.send("/appointments")
    assert "#1 · 24 Nov 2026, 10:30 · Other appointment (Termin)" in listed.text


async def test_a_ready_made_invitation_kept_on_a_public_holiday_is_booked_there(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    ben, amal = await _invite(app, chat)
    await ben.send("25.12.2026 10:00")
    await ben.click("Yes")
    async with app.sessions() as session:
        [appointment] = (await session.scalars(select(Appointment))).all()
    assert appointment.starts_at.replace(tzinfo=UTC) == datetime(2026, 12, 25, 9, 0, tzinfo=UTC)
    assert amal.last.text.startswith("New appointment (Termin):")


# ---------------------------------------------------------------------------------------------------------------
# 5. A milestone that jumps over stages says which


async def test_a_milestone_that_skips_stages_names_them_in_the_coordinators_language(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    from tests.test_volunteers import volunteer

    petra = await coordinator(app, chat, "petra", organisation="proconnect", locale="de")
    jana = await volunteer(app, chat)
    amal = await participant(chat, "amal")
    await petra.send("/pair Amal")
    await petra.click(next(label for label in petra.buttons() if label.startswith("Jana")))
    await amal.click("Yes, I agree")
    await jana.send("/report")
    await jana.click(jana.buttons()[0])
    await jana.click("Milestone reached")
    await jana.click("Internship started (Praktikum)")
    await jana.send("Started at Metallbau Meyer today")
    skipped = DE.comma.join([DE("Potential check done (Potenzialcheck)"), DE("Matching")])
    assert DE("Now at: {current}. Confirming skips these stages: {stages}.", current=DE("Profile complete"),
              stages=skipped) in petra.last.text
    [done, *_] = await petra.click(DE("Confirm: {stage}", stage=DE("Internship (Praktikum / Hospitation)")))
    assert done.text.endswith(DE("Recorded: {participant} is now at stage {stage}. These stages were skipped: "
                                 "{stages}.", participant="@", stage=DE("Internship (Praktikum / Hospitation)"),
                                 stages=skipped).split("@")[1])


# ---------------------------------------------------------------------------------------------------------------
# 6. Dates in Arabic script use the Arabic comma (and Tigrinya's the Ethiopic one)

ARABIC_SCRIPT = ("ps", "fa", "fa_AF", "ar", "ckb")
MOMENTS = [datetime(2026, 12, 7, 9, 30, tzinfo=UTC), datetime(2027, 3, 21, 16, 5, tzinfo=UTC)]


@pytest.mark.parametrize("code", ARABIC_SCRIPT)
def test_dates_in_arabic_script_have_no_latin_comma(code: str) -> None:
    t = Translator(code)
    for moment in MOMENTS:
        shown = [t.date(moment, width) for width in ("full", "long", "medium", "short")]
        shown += [t.datetime(moment, "short"), t.datetime(moment), t.datetime(moment, "full"), t.when(moment)]
        for text in shown:
            assert "," not in text and ";" not in text, (code, text)
    assert "،" in t.date(MOMENTS[0], "full") or code == "fa_AF" or code == "fa"  # CLDR: no comma in Persian's


def test_tigrinya_dates_use_the_ethiopic_comma() -> None:
    t = Translator("ti")
    for moment in MOMENTS:
        for text in [t.date(moment, width) for width in ("full", "long", "medium", "short")] + [t.when(moment)]:
            assert "," not in text, text
    assert t.date(MOMENTS[0], "long") == "ታሕሳስ 7፣ 2026"  # CLDR: "ታሕሳስ 7, 2026"


async def test_a_pashto_participant_reads_the_invitations_date_with_the_arabic_comma(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    ben, amal = await _invite(app, chat, language="پښتو", code="ps")
    await ben.send("07.12.2026 10:30")
    invitation = next(m for m in amal.history if "Stau 70" in m.text and m.locale == "ps")
    when = Translator("ps").when(datetime(2026, 12, 7, 9, 30, tzinfo=UTC))
    assert when in invitation.text and "،" in when and "," not in when


# ---------------------------------------------------------------------------------------------------------------
# 8. The participants' CSV: phone numbers as text without a visible apostrophe; formulas still defused


def test_a_valid_phone_number_is_written_as_people_write_it_and_anything_else_is_defused() -> None:
    assert phone_cell("+4915123456789") == "+49 1512 3456789"
    assert phone_cell("+4944199999") == "+49 441 99999"
    for formula in ("+1+1", "+49 1512 3456789+cmd|' /C calc'!A0", "=1+2", "-2+3", "@SUM(A1:A9)", " =1+2",
                    "\t=1+2"):
        assert phone_cell(formula).startswith("'"), formula


async def test_the_exported_csv_shows_the_phone_as_text_and_defuses_a_formula_in_a_name(
        app: Lotse, chat: Callable[..., Chat], tmp_path: Path) -> None:
    for name, share in (("amal", "Yes"), ("yonas", "Yes")):
        person = chat(name)
        await consent(person, "English")
        for answer in ANSWERS:
            await person.send(answer)
        await person.click("Yes, this is right")
        await person.click(share)
    async with app.sessions() as session, session.begin():
        person_id = (await session.scalars(select(Handle.person_id).where(Handle.platform_id == "yonas"))).one()
        (await session.get_one(Person, person_id)).display_name = "=HYPERLINK(\"http://evil\",\"Yonas\")"
    path = tmp_path / "participants.csv"
    await export_participants(app.sessions, app.network, path, "csv", locale="en")
    rows = list(csv.DictReader(path.read_text(encoding="utf-8-sig").splitlines(), delimiter=";"))
    assert [row["Phone"] for row in rows] == ["+49 1512 3456789"] * 2  # no apostrophe to see
    assert rows[0]["Name"] == "Amal" and rows[1]["Name"] == "'=HYPERLINK(\"http://evil\",\"Yonas\")"


# ---------------------------------------------------------------------------------------------------------------
# Found playing the demo: "/appointment NAME" books for that person (it said "no appointment with this number")


async def test_appointment_with_a_name_books_for_that_participant(app: Lotse, chat: Callable[..., Chat]) -> None:
    ben = await coordinator(app, chat, "ben")
    await participant(chat, "yonas", language="ትግርኛ")
    [kind] = await ben.send("/appointment yonas")
    assert kind.text.startswith("What kind of appointment?")
    await ben.send("/cancel")
    [unknown, who] = await ben.send("/appointment Nobody Here")
    assert unknown.text.startswith('I found no participant for "Nobody Here"')
    assert who.text.startswith("Who is the appointment for?")
    [shown, *_] = await ben.send("/appointment 7")  # a number is still an appointment's number
    assert shown.text == "There is no appointment with this number for you."


"""Play-test findings, last round: volunteer mediators get only work that makes sense, an offer's question is
answered by whom the participant was told, /mydata reads right in the reader's language, and /place and /case
answer short or out-of-range input clearly."""

# ruff: noqa: F811  (the fixtures `app` and `standin` come from tests/test_translation.py)
from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import select

from bot.core.i18n import Translator
from bot.core.network import company_name
from bot.runtime.app import Lotse
from flows.intake import language_name
from storage.models import Appointment, Handle, MediationRequest, Pairing, VolunteerProfile
from tests.chat import Chat, RecordingTransport
from tests.test_companies import TI, company_contact, post_place, tigrinya_participant
from tests.test_intake import staff
from tests.test_mediators import engine_name, mediator, requests_to  # noqa: F401  (fixture: no engine)
from tests.test_questions import coordinator, participant
from tests.test_translation import QUESTION_UK, app, ask, standin  # noqa: F401  (fixtures: app with the stand-in)

DE = Translator("de")
UK = Translator("uk")
FOLLOW_UP_UK = "Чи потрібно мені записатися заздалегідь?"
NOBODY_DE = DE("No volunteer language mediator could translate question no. {number} into {language}. Please find "
               "another way to understand each other, for example a phone call with an interpreter.", number=1,
               language=language_name(DE, "de"))


async def _id_of(app: Lotse, handle: str) -> int:
    async with app.sessions() as session:
        return int(await session.scalar(select(Handle.person_id).where(Handle.platform_id == handle,
                                                                        Handle.transport == "test")) or 0)


# ---------------------------------------------------------------------------------------------------------------
# 1. Volunteer mediators


async def test_the_only_mediator_passing_twice_tells_the_coordinator_once_in_good_german(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    anna = await coordinator(app, chat, "anna", organisation="proconnect", locale="de")
    jana = await mediator(app, chat, "jana", ["uk"])
    olena = await participant(chat, "olena", language="Українська")
    await ask(olena, app, "uk", QUESTION_UK)
    await anna.click(DE("Take it"))
    await olena.send(FOLLOW_UP_UK)
    assert len(requests_to(jana)) == 2  # one request for each message with words
    [first] = await jana.press_raw("@sm:skip:1")
    assert first.text == "That is fine. Thank you! Nobody else can translate this now, so the coordinator will " \
                         "find another way."  # not "we will ask someone else": nobody is left
    assert not any(m.text == NOBODY_DE for m in anna.history)  # the other message is still with her
    await jana.press_raw("@sm:skip:2")
    assert [m.text for m in anna.history].count(NOBODY_DE) == 1
    assert "(Zielsprache: Deutsch)" in NOBODY_DE and "ins Deutsch " not in NOBODY_DE


async def test_a_message_without_words_never_goes_to_a_mediator(app: Lotse, chat: Callable[..., Chat]) -> None:
    anna = await coordinator(app, chat, "anna", organisation="proconnect", locale="de")
    jana = await mediator(app, chat, "jana", ["uk"])
    olena = await participant(chat, "olena", language="Українська")
    await ask(olena, app, "uk", "2")  # a question of only a number
    assert requests_to(jana) == []
    nothing, *_menu = await anna.send("/mediator 1")
    assert nothing.text == DE("There is nothing to translate in question no. {number}: its messages have no words.",
                              number=1)
    await olena.send("🙂 2 ?!")
    await anna.send("/reply 1 👍")  # a coordinator's thumbs-up goes as it is
    assert requests_to(jana) == []
    assert any(m.text.endswith("\n\n👍") for m in olena.history)
    async with app.sessions() as session:
        assert (await session.scalars(select(MediationRequest))).all() == []


async def test_the_coordinator_hears_when_the_only_mediator_accompanies_the_participant(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    anna = await coordinator(app, chat, "anna", organisation="proconnect", locale="de")
    jana = await mediator(app, chat, "jana", ["uk"])
    olena = await participant(chat, "olena", language="Українська")
    async with app.sessions() as session, session.begin():
        jana_id = await session.scalar(select(VolunteerProfile.person_id))
        session.add(Pairing(volunteer_id=jana_id, participant_id=await _id_of(app, "olena"), status="active"))
    await ask(olena, app, "uk", QUESTION_UK)
    await anna.click(DE("Take it"))
    why, *_menu = await anna.send("/mediator 1")
    assert why.text == DE("There is no other volunteer language mediator for {language}: the only one accompanies "
                          "this participant and may not see their messages.", language=language_name(DE, "uk"))
    again, *_ = await anna.send("/mediator 1 Der Kurs beginnt am 12. Januar.")
    assert again.text == why.text
    assert requests_to(jana) == [] and NOBODY_DE not in [m.text for m in anna.history]


# ---------------------------------------------------------------------------------------------------------------
# 2. A question about an offer goes to the coordinator who proposed it, and the participant reads who that is


async def _offered(app: Lotse, chat: Callable[..., Chat], transport: RecordingTransport) -> tuple[Chat, Chat, Chat,
                                                                                                  Chat, int]:
    tom, petra = await staff(app, transport, "tom"), await staff(app, transport, "petra")  # pro:connect, IHK
    kai = await company_contact(app, chat, "kai")
    number = await post_place(kai)
    yonas = await tigrinya_participant(chat)
    await tom.send(f"/place {number}")
    await tom.click("Propose participants")
    await tom.send("1")
    return tom, petra, kai, yonas, number


async def test_a_question_about_an_offer_names_the_organisation_that_answers_it(
        app: Lotse, chat: Callable[..., Chat], transport: RecordingTransport) -> None:
    tom, petra, _kai, yonas, number = await _offered(app, chat, transport)
    await yonas.click(TI("I have a question"))
    [received, _again] = await yonas.send("ምስ ኣውቶቡስ ክኸይድ ይኽእል ድየ?")
    proconnect, ihk = app.network.organisations["proconnect"].name, app.network.organisations["ihk"].name
    assert received.text == TI("Thank you. Your question has the number {number}. It went to {organisation}. They "
                               "usually answer within one working day (Monday to Friday). The answer comes here, in "
                               "this chat.", number=1, organisation=proconnect)
    assert ihk not in received.text
    assert not any("ምስ ኣውቶቡስ" in m.text for m in petra.history)  # the chamber does not get it too
    [to_tom] = [m for m in tom.history if f"About the offer of place no. {number}:" in m.text
                or f"Zum Angebot des Platzes Nr. {number}:" in m.text]
    assert "ምስ ኣውቶቡስ" in to_tom.text
    await tom.send("/reply 1 Yes, bus 310 stops in front of the door.")
    answer = next(m for m in reversed(yonas.history) if "310" in m.text)
    assert proconnect in answer.text and ihk not in answer.text


# ---------------------------------------------------------------------------------------------------------------
# 3. /mydata in the reader's language, with the same dates as elsewhere, the right roles and the company named


async def test_mydata_reads_in_the_readers_language_and_names_the_company(
        app: Lotse, chat: Callable[..., Chat], transport: RecordingTransport) -> None:
    tom, _petra, _kai, yonas, number = await _offered(app, chat, transport)
    await yonas.click(TI("I have a question"))
    await yonas.send("ምስ ኣውቶቡስ ክኸይድ ይኽእል ድየ?")
    await yonas.click(TI("Yes"))  # the company gets the name: he shares it with companies
    starts = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    async with app.sessions() as session, session.begin():
        session.add(Appointment(participant_id=await _id_of(app, "yonas"), booked_by_id=None, kind="jobcenter",
                                starts_at=starts, place="Jobcenter Oldenburg"))
    readable, *_ = await yonas.send("/mydata")
    assert "Zum Angebot" not in readable.text
    assert TI("About the offer of place no. {number}:", number=number) + "\nምስ ኣውቶቡስ" in readable.text
    assert TI.when(starts) in readable.text  # as in the appointment notices, not "07/12/2026"
    company = company_name(app.network, "metallbau_westerstede")
    assert TI("{organisation} (company)", organisation=company) in readable.text
    assert TI("A staff member") not in readable.text
    assert tom.history  # the coordinator is there too, named by organisation


async def test_mydata_names_a_language_mediator_as_such(app: Lotse, chat: Callable[..., Chat]) -> None:
    await coordinator(app, chat, "anna", organisation="proconnect", locale="de")
    jana = await mediator(app, chat, "jana", ["uk"])
    olena = await participant(chat, "olena", language="Українська")
    await ask(olena, app, "uk", QUESTION_UK)
    assert len(requests_to(jana)) == 1
    readable, *_ = await olena.send("/mydata")
    assert UK("A volunteer language mediator (Sprachmittler)") in readable.text
    assert UK("Your volunteer") not in readable.text  # she has none


# ---------------------------------------------------------------------------------------------------------------
# 4. and 5. /place with a huge number, /case with one letter


async def test_a_huge_place_number_is_not_misquoted(app: Lotse, chat: Callable[..., Chat],
                                                    transport: RecordingTransport) -> None:
    tom = await staff(app, transport, "tom")
    answer, *_ = await tom.send("/place 99999999999999999999999")
    assert answer.text == "Please write the number of a place, for example /place 12. See your places with /places."
    assert "999999999999" not in answer.text
    missing, *_ = await tom.send("/place 4711")
    assert missing.text == "I found no place with the number 4711 among yours."


async def test_a_case_search_of_one_letter_asks_for_two(app: Lotse, chat: Callable[..., Chat],
                                                        transport: RecordingTransport) -> None:
    tom = await staff(app, transport, "tom")
    await participant(chat, "amal")
    for short in ("a", " é ", "#"):
        shown, *_ = await tom.send(f"/case {short}")
        assert shown.text == "Please write at least two letters of the name, or the number."
    shown, *_ = await tom.send("/case am")
    assert "Amal" in shown.text


async def test_after_declining_mydata_counts_only_what_came_since_and_says_why(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    amal = chat("amal")
    await amal.send("hello")
    await amal.click("English")
    [declined] = await amal.click("No")
    assert declined.text.startswith("That is fine. Lotse has not kept anything about you.")
    await amal.send("/start")
    await amal.click("English")
    await amal.send("1")
    readable, *_ = await amal.send("/mydata")
    assert "Copies of your messages to Lotse since 23 November 2026, kept for a few weeks so that none gets lost: 4" \
        in readable.text  # /start, English, Yes and /mydata: nothing from before the "No"
    assert "Messages from you that are stored" not in readable.text

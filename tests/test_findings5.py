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
from storage.models import Appointment, MediationRequest, Pairing, Person, VolunteerProfile
from tests.chat import Chat, RecordingTransport
from tests.test_companies import TI, company_contact, post_place, tigrinya_participant
from tests.test_intake import consent, staff
from tests.test_mediators import engine_name, mediator, requests_to  # noqa: F401  (fixture: no engine)
from tests.test_questions import coordinator, participant
from tests.test_translation import QUESTION_UK, app, ask, standin  # noqa: F401  (fixtures: app with the stand-in)

DE = Translator("de")
UK = Translator("uk")
FOLLOW_UP_UK = "Чи потрібно мені записатися заздалегідь?"
NOBODY_DE = DE("No volunteer language mediator could translate question no. {number} into {language}. Please find "
               "another way to understand each other, for example a phone call with an interpreter.", number=1,
               language=language_name(DE, "de"))


async def _id_of(app: Lotse, name: str) -> int:
    async with app.sessions() as session:
        return int(await session.scalar(select(Person.id).where(Person.display_name == name)) or 0)


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
        session.add(Pairing(volunteer_id=jana_id, participant_id=await _id_of(app, "Olena"), status="active"))
    await ask(olena, app, "uk", QUESTION_UK)
    await anna.click(DE("Take it"))
    why, *_menu = await anna.send("/mediator 1")
    assert why.text == DE("There is no other volunteer language mediator for {language}: the only one accompanies "
                          "this participant and may not see their messages.", language=language_name(DE, "uk"))
    again, *_ = await anna.send("/mediator 1 Der Kurs beginnt am 12. Januar.")
    assert again.text == why.text
    assert requests_to(jana) == [] and NOBODY_DE not in [m.text for m in anna.history]

"""Volunteer language mediators (Sprachmittler): when no engine translates a question, a volunteer who reads its
language gets the text only, translates it, and the coordinator sees it marked "translated by a volunteer".
One mediator at a time, in turn; "Not now" or 4 working hours without an answer pass it on; answers go back the
same way; deletion removes what mediators wrote. Volunteers' reports are machine-translated for coordinators."""

# ruff: noqa: F811  (the fixtures `app` and `standin` come from tests/test_translation.py)
from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import func, select

from bot.core.i18n import Translator
from bot.runtime.app import Lotse
from bot.services.privacy import erase
from flows.intake import language_name
from flows.invites import create_invite
from flows.mediation import hand_over_mediations, next_mediation_handover, retry_translations
from storage.models import AuditEntry, Handle, MediationRequest, MessageTranslation, Pairing, Person, VolunteerProfile
from tests.chat import Chat, FakeClock
from tests.test_questions import coordinator, participant
from tests.test_translation import QUESTION_UK, app, ask, standin  # noqa: F401  (fixtures: app with the stand-in)
from tests.test_volunteers import volunteer
from tests.translation_standins import Standin

DE = Translator("de")
UK = Translator("uk")
EN = Translator("en")
GERMAN = "Wann beginnt der nächste Integrationskurs in Oldenburg?"
ANSWER_DE = "Der nächste Kurs beginnt am 12. Januar."
ANSWER_UK = "Наступний курс починається 12 січня."


@pytest.fixture
def engine_name() -> str:
    return "off"


async def mediator(app: Lotse, chat: Callable[..., Chat], handle: str, languages: list[str]) -> Chat:
    """A volunteer who speaks German and `languages` and agrees to translate all of them."""
    async with app.sessions() as session, session.begin():
        code, _ = await create_invite(session, app.network, app.dispatcher.clock(), "volunteer", None, ["all"],
                                      ["all"], locale="en")
    person = chat(handle)
    await person.send(f"/start {code}")
    [_thanks, _intro, first] = await person.send("1")
    labels = [choice.label for choice in first.choices]
    numbers = [labels.index(language_name(EN, code)) + 1 for code in ["de", *languages]]
    [asked] = await person.send(", ".join(str(n) for n in numbers))
    assert asked.text.startswith("Would you also translate as a language mediator (Sprachmittler)?")
    [which] = await person.send("Yes")
    if len(languages) > 1:
        assert which.text.startswith("From which languages can you translate?")
        await person.send(", ".join(str(n) for n in range(1, len(languages) + 1)))
    for answer in ("8", "1", "1"):
        await person.send(answer)
    [saved, _menu] = await person.send("1")
    assert "Language mediator (Sprachmittler) for: " + ", ".join(language_name(EN, c) for c in languages) \
        in saved.text
    return person


def requests_to(person: Chat) -> list[str]:
    return [m.text for m in person.history if m.text.startswith("Translation request no.")]


async def test_a_mediator_sees_only_the_text_and_the_coordinator_gets_the_volunteers_translation(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    anna = await coordinator(app, chat, "anna", organisation="proconnect", locale="de")
    jana = await mediator(app, chat, "jana", ["uk"])
    olena = await participant(chat, "olena", language="Українська")
    await ask(olena, app, "uk", QUESTION_UK)
    request = jana.last
    assert request.text == "\n\n".join([
        "Translation request no. 1: please translate this text from Ukrainian into German (or English).",
        QUESTION_UK, "You see only this text, not who wrote it. Please keep it to yourself."])
    assert "Olena" not in request.text and [c.label for c in request.choices] == ["Translate", "Not now"]
    notice = next(m for m in anna.history if QUESTION_UK in m.text)
    assert DE("A volunteer language mediator was asked to translate this; the translation follows in a separate "
              "message.") in notice.text
    [prompt] = await jana.click("Translate")
    assert prompt.text == "Please write the translation into German (or English)."
    [thanks, _menu] = await jana.send(GERMAN)
    assert thanks.text == "Thank you! Your translation was passed on."
    assert anna.last.text == "\n\n".join([DE("Question no. {number}: translated by a volunteer:", number=1), GERMAN])
    shown = (await anna.send("/ticket 1"))[0]
    assert DE("Translated by a volunteer:") + "\n" + GERMAN in shown.text
    async with app.sessions() as session:
        [row] = (await session.scalars(select(MessageTranslation))).all()
        jana_id = await session.scalar(select(VolunteerProfile.person_id))
        seen = (await session.scalars(select(AuditEntry).where(AuditEntry.action == "mediation.shown"))).all()
    assert (row.engine, row.status, row.text, row.source, row.target) == ("volunteer", "done", GERMAN, "uk", "de")
    assert [(entry.actor_id, entry.details["message"]) for entry in seen] == [(jana_id, row.message_id)]
    [late] = await jana.click("Translate")  # a second press changes nothing
    assert late.text == "Another volunteer has already translated this. Thank you!"


async def test_mediators_are_asked_in_turn_and_not_now_or_4_working_hours_pass_it_on(
        app: Lotse, chat: Callable[..., Chat], clock: FakeClock) -> None:
    anna = await coordinator(app, chat, "anna", organisation="proconnect", locale="de")
    jana = await mediator(app, chat, "jana", ["uk"])
    karl = await mediator(app, chat, "karl", ["ar", "uk"])
    lena = await mediator(app, chat, "lena", ["uk"])
    amir = await mediator(app, chat, "amir", ["ar"])  # does not read Ukrainian: never asked
    olena = await participant(chat, "olena", language="Українська")
    await ask(olena, app, "uk", QUESTION_UK)
    assert (len(requests_to(jana)), requests_to(karl), requests_to(lena)) == (1, [], [])  # one at a time
    clock.advance(hours=3)  # Monday 10:00 -> 13:00 in Oldenburg: still jana's turn
    assert await hand_over_mediations(app.sessions, clock()) == 0
    clock.advance(hours=1, minutes=1)
    assert await hand_over_mediations(app.sessions, clock()) == 1  # 4 working hours: the next one
    await app.drain()
    assert len(requests_to(karl)) == 1 and requests_to(lena) == []
    [fine] = await karl.click("Not now")
    assert fine.text == "That is fine. We will ask someone else."
    assert len(requests_to(lena)) == 1 and requests_to(amir) == []
    await jana.click("Translate")  # the first who takes it translates, even after her turn passed
    [busy] = await lena.click("Translate")
    assert busy.text == "Another volunteer is already translating this. Thank you!"
    await jana.send(GERMAN)
    assert anna.last.text.endswith(GERMAN)
    async with app.sessions() as session:
        request = (await session.scalars(select(MediationRequest))).one()
    assert request.status == "done" and len(request.asked) == 3
    assert await next_mediation_handover(app.sessions, clock()) is None
    # The next question goes first to the one asked longest ago (jana was asked first), in turn.
    await olena.send("Чи потрібно мені записатися заздалегідь?")
    assert len(requests_to(jana)) == 2


async def test_when_every_mediator_passes_the_coordinator_hears_it(
        app: Lotse, chat: Callable[..., Chat], clock: FakeClock) -> None:
    anna = await coordinator(app, chat, "anna", organisation="proconnect", locale="de")
    jana = await mediator(app, chat, "jana", ["uk"])
    olena = await participant(chat, "olena", language="Українська")
    await ask(olena, app, "uk", QUESTION_UK)
    await anna.click(DE("Take it"))
    await jana.click("Not now")
    assert anna.last.text == DE(
        "No volunteer language mediator could translate question no. {number} into {language}. Please find "
        "another way to understand each other, for example a phone call with an interpreter.", number=1,
        language=language_name(DE, "de"))
    shown = (await anna.send("/ticket 1"))[0]
    assert DE("Translated by a volunteer:") not in shown.text and QUESTION_UK in shown.text


async def test_the_coordinator_asks_a_mediator_and_the_answer_goes_back_through_one(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    anna = await coordinator(app, chat, "anna", organisation="proconnect", locale="de")
    olena = await participant(chat, "olena", language="Українська")
    await ask(olena, app, "uk", QUESTION_UK)
    await anna.click(DE("Take it"))
    none_yet = (await anna.send("/mediator 1"))[0]
    assert none_yet.text == DE("No volunteer translates {language} as a language mediator yet.",
                               language=language_name(DE, "uk"))
    jana = await mediator(app, chat, "jana", ["uk"])
    shown = (await anna.send("/ticket 1"))[0]
    assert DE("Ask a mediator") in [c.label for c in shown.choices]
    asked = (await anna.click(DE("Ask a mediator")))[0]
    assert asked.text.startswith(DE("A volunteer language mediator was asked to translate question no. {number}. "
                                    "They see only the text, nothing else of the case. The translation comes here.",
                                    number=1)[:40])
    await jana.click("Translate")
    await jana.send(GERMAN)
    await anna.send(f"/mediator 1 {ANSWER_DE}")
    original = olena.last
    assert original.text.endswith("\n\n".join([ANSWER_DE, UK(
        "A volunteer translates this answer into your language. The translation follows here.")]))
    request = jana.last
    assert request.text.startswith("Translation request no. 2: please translate this text from German into "
                                   "Ukrainian.") and ANSWER_DE in request.text
    [prompt] = await jana.click("Translate")
    assert prompt.text == "Please write the translation into Ukrainian."
    await jana.send(ANSWER_UK)
    assert olena.last.text == "\n\n".join([UK("Answer to your question no. {number}, translated by a volunteer:",
                                              number=1), ANSWER_UK, UK("The original:") + "\n" + ANSWER_DE])


@pytest.mark.parametrize("how", ["erase", "retention"])
async def test_deleting_the_question_deletes_what_mediators_wrote(
        app: Lotse, chat: Callable[..., Chat], clock: FakeClock, how: str) -> None:
    from bot.jobs.retention import RetentionPolicy, apply_retention

    anna = await coordinator(app, chat, "anna", organisation="proconnect", locale="de")
    jana = await mediator(app, chat, "jana", ["uk"])
    olena = await participant(chat, "olena", language="Українська")
    await ask(olena, app, "uk", QUESTION_UK)
    await jana.click("Translate")
    await jana.send(GERMAN)
    if how == "erase":
        async with app.sessions() as session, session.begin():
            person = (await session.scalars(select(Person).where(Person.role == "participant"))).one()
            await erase(session, person, clock(), "request", app.network)
    else:
        await anna.send("/close 1")
        clock.advance(days=91)
        await apply_retention(app.sessions, app.network, RetentionPolicy(), clock())
    async with app.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(MessageTranslation)) == 0
        assert await session.scalar(select(func.count()).select_from(MediationRequest)) == 0
        assert (await session.scalars(select(VolunteerProfile.mediates))).one() == ["uk"]


async def test_a_volunteer_who_declines_to_mediate_is_never_asked(app: Lotse, chat: Callable[..., Chat]) -> None:
    await coordinator(app, chat, "anna", organisation="proconnect", locale="de")
    jana = await volunteer(app, chat)  # German and Arabic; said no to mediating
    amal = await participant(chat, "amal", language="العربية")
    await ask(amal, app, "ar", "متى تبدأ دورة الاندماج القادمة في أولدنبورغ؟")
    assert requests_to(jana) == []
    [stale] = await jana.press_raw("@sm:take:1")
    assert stale.text == "This button belongs to an earlier question and no longer works."


@pytest.mark.parametrize("engine_name", ["libretranslate"])
async def test_a_volunteers_report_in_another_language_reaches_the_coordinator_translated(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    petra = await coordinator(app, chat, "petra", organisation="proconnect", locale="de")
    jana = await volunteer(app, chat)
    amal = await participant(chat, "amal")
    await petra.send("/pair Amal")  # petra reads German
    await petra.click(next(label for label in petra.buttons() if label.startswith("Jana")))
    await amal.click("Yes, I agree")
    await jana.send("/report")
    await jana.click(jana.buttons()[0])
    await jana.click("Needs help with something")
    report = "Sie braucht Hilfe mit einem Brief"  # jana's English profile, but she writes German: no translation
    await jana.send(report)
    assert report in petra.last.text and DE("Machine translation ({engine}):", engine="LibreTranslate") \
        not in petra.last.text
    await jana.send("/report")
    await jana.click(jana.buttons()[0])
    await jana.click("Needs help with something")
    arabic = "تحتاج إلى مساعدة في رسالة من مركز العمل"
    await jana.send(arabic)
    notice = petra.last.text
    assert notice.index(arabic) < notice.index(DE("Machine translation ({engine}):", engine="LibreTranslate"))
    assert f"[de] {arabic}" in notice


@pytest.mark.parametrize("engine_name", ["libretranslate"])
async def test_the_demo_asks_for_a_late_translation_with_every_line_and_shows_it_when_it_arrives(
        app: Lotse, chat: Callable[..., Chat], standin: Standin, clock: FakeClock) -> None:
    """`lotse demo` has no background loop: its next line asks again at once instead of in 30 s."""
    anna = await coordinator(app, chat, "anna", organisation="proconnect", locale="de")
    olena = await participant(chat, "olena", language="Українська")
    standin.fail(500)
    await ask(olena, app, "uk", QUESTION_UK)
    assert await retry_translations(app.sessions, clock()) == 0  # the loop of `lotse run` waits 30 s
    assert await retry_translations(app.sessions, clock(), early=True) == 1  # the demo asks with the next line
    await app.drain()
    assert anna.last.text.endswith(f"[de] {QUESTION_UK}")


async def test_the_volunteer_who_accompanies_the_participant_is_never_their_mediator(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    """Found by a newcomer: Jana accompanies Farid and got his texts to translate, so "you see only this text, not
    who wrote it" was not true for her."""
    await coordinator(app, chat, "anna", organisation="proconnect", locale="de")
    jana = await mediator(app, chat, "jana", ["uk"])
    karl = await mediator(app, chat, "karl", ["uk"])
    olena = await participant(chat, "olena", language="Українська")
    async with app.sessions() as session, session.begin():
        jana_id = await session.scalar(select(VolunteerProfile.person_id).order_by(VolunteerProfile.person_id))
        olena_id = await session.scalar(select(Person.id).where(Person.display_name == "Olena"))
        session.add(Pairing(volunteer_id=jana_id, participant_id=olena_id, status="active"))
    await ask(olena, app, "uk", QUESTION_UK)
    assert requests_to(jana) == [] and len(requests_to(karl)) == 1


# Volunteers' reports that no engine can translate go to a mediator the same way (issue 16, item 4 for reports)

REPORT_AR = "تحتاج إلى مساعدة في رسالة من مركز العمل"
REPORT_DE = "Sie braucht Hilfe mit einem Brief vom Jobcenter."
REPORT_TI = "ብዛዕባ ደብዳበ ጆብሰንተር ሓገዝ የድልያ"
VOLUNTEER_ASKED = DE("A volunteer language mediator was asked to translate this; the translation follows in a "
                     "separate message.")


async def test_a_report_no_engine_can_translate_goes_to_a_mediator_who_sees_only_the_text(
        app: Lotse, chat: Callable[..., Chat], clock: FakeClock) -> None:
    from bot.jobs.digest import build_digest, everybody, render_text
    from storage.models import CaseReport
    from tests.test_report_translations import paired, report

    petra, jana, _amal = await paired(app, chat)
    karl = await mediator(app, chat, "karl", ["ar"])
    lena = await mediator(app, chat, "lena", ["ar"])
    await report(jana, "Needs help with something", REPORT_AR)
    notice = next(m for m in petra.history if REPORT_AR in m.text)
    assert notice.text.index(REPORT_AR) < notice.text.index(VOLUNTEER_ASKED)
    [request] = requests_to(karl)
    assert request == "\n\n".join([
        "Translation request no. 1: please translate this text from Arabic into German (or English).",
        REPORT_AR, "You see only this text, not who wrote it. Please keep it to yourself."])
    assert "Amal" not in request and "Jana" not in request and requests_to(lena) == []

    # 4 working hours without an answer: the next mediator; the first to take it translates.
    clock.advance(hours=4, minutes=1)
    assert await hand_over_mediations(app.sessions, clock()) == 1
    await app.drain()
    assert len(requests_to(lena)) == 1
    [prompt] = await lena.click("Translate")
    assert prompt.text == "Please write the translation into German (or English)."
    [thanks, _menu] = await lena.send(REPORT_DE)
    assert thanks.text == "Thank you! Your translation was passed on."
    head = DE("Report of {date} about {participant}, translated by a volunteer:", date="@", participant="@")
    assert petra.last.text.startswith(head.split("@")[0]) and REPORT_DE in petra.last.text
    assert "/case" in petra.last.text
    [late] = await karl.click("Translate")
    assert late.text == "Another volunteer has already translated this. Thank you!"

    # /case and the digest show it below the original, marked; the audit log says who saw which text.
    [case, *_] = await petra.send("/case Amal")
    marked = DE("Translated by a volunteer:")
    assert case.text.index(REPORT_AR) < case.text.index(marked) < case.text.index(REPORT_DE)
    async with app.sessions() as session:
        german = render_text(DE, clock(), await build_digest(session, DE, app.network, everybody(), clock()))
        row = (await session.scalars(select(CaseReport))).one()
        seen = (await session.scalars(select(AuditEntry).where(AuditEntry.action == "mediation.shown")
                                      .order_by(AuditEntry.id))).all()
        helpers = {h.platform_id: h.person_id for h in (await session.scalars(select(Handle))).all()}
    [line] = [line for line in german.splitlines() if REPORT_AR in line]
    assert line.index(REPORT_AR) < line.index(marked) < line.index(REPORT_DE)
    assert (row.volunteer_translation, row.volunteer_translation_status, row.translation) == (REPORT_DE, "done", None)
    assert [(entry.actor_id, entry.details["report"]) for entry in seen] == [
        (helpers["karl"], row.id), (helpers["lena"], row.id)]

    # Deleting the participant's data removes the request and the translation with the report.
    async with app.sessions() as session, session.begin():
        person = (await session.scalars(select(Person).where(Person.role == "participant"))).one()
        await erase(session, person, clock(), "request", app.network)
    async with app.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(MediationRequest)) == 0


@pytest.mark.parametrize("engine_name", ["libretranslate"])
async def test_with_an_engine_only_a_report_in_a_language_it_lacks_goes_to_a_mediator(
        app: Lotse, chat: Callable[..., Chat], standin: Standin) -> None:
    from tests.test_report_translations import paired, report

    petra, jana, _amal = await paired(app, chat)
    arabic = await mediator(app, chat, "karl", ["ar"])
    tigrinya = await mediator(app, chat, "selam", ["ti"])
    await report(jana, "Needs help with something", REPORT_AR)  # the engine translates Arabic: nobody asked
    assert requests_to(arabic) == [] and f"[de] {REPORT_AR}" in petra.last.text
    await report(jana, "Needs help with something", REPORT_TI)  # Tigrinya it lacks: a mediator is asked
    [request] = requests_to(tigrinya)
    assert REPORT_TI in request and "from Tigrinya into German" in request
    assert VOLUNTEER_ASKED in next(m for m in petra.history if REPORT_TI in m.text).text
    await tigrinya.click("Translate")
    await tigrinya.send(REPORT_DE)
    assert REPORT_DE in petra.last.text
    assert not any(body.get("q") == REPORT_TI for _path, body in standin.requests)

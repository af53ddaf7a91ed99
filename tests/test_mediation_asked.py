"""A coordinator asks a volunteer language mediator for text an engine did translate ("Ask a mediator" on a question,
a follow-up and a volunteer's report): the mediator sees the text only, the first to take it translates, and the
coordinator sees it marked "translated by a volunteer" below the machine translation. Pressing twice asks nobody
twice; with no mediator for the language the coordinator hears it at once; the audit log says who saw what.
A coordinator's typed answer that no engine can translate goes back through a mediator, the original below it."""

# ruff: noqa: F811  (the fixtures `app` and `standin` come from tests/test_translation.py)
from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select

from bot.core.i18n import Translator
from bot.core.messages import Outgoing
from bot.runtime.app import Lotse
from flows.intake import language_name
from storage.models import AuditEntry, CaseReport, Handle, MessageTranslation
from tests.chat import Chat
from tests.test_mediators import ANSWER_DE, ANSWER_UK, GERMAN, REPORT_AR, REPORT_DE, mediator, requests_to
from tests.test_questions import coordinator, participant
from tests.test_report_translations import paired, report
from tests.test_translation import QUESTION_UK, app, ask, marked, standin  # noqa: F401  (fixtures)
from tests.translation_standins import Standin

DE = Translator("de")
UK = Translator("uk")
ASK = DE("Ask a mediator")
BY_VOLUNTEER = DE("Translated by a volunteer:")
MACHINE = marked(DE, "LibreTranslate")
FOLLOW_UP_UK = "Чи потрібно мені записатися заздалегідь?"
TEXT_ONLY = "You see only this text, not who wrote it. Please keep it to yourself."


def labels(message: Outgoing) -> list[str]:
    return [choice.label for choice in message.choices]


def key_of(message: Outgoing, label: str) -> str:
    [key] = [choice.key for choice in message.choices if choice.label == label]
    return key


def containing(person: Chat, text: str) -> Outgoing:
    """The first message `person` got with `text` in it (edits are applied in place)."""
    return next(m for m in person.history if text in m.text)


async def ids(app: Lotse) -> dict[str, int]:
    async with app.sessions() as session:
        return {h.platform_id: h.person_id for h in (await session.scalars(select(Handle))).all()}


async def audit(app: Lotse, action: str) -> list[AuditEntry]:
    async with app.sessions() as session:
        return list((await session.scalars(select(AuditEntry).where(AuditEntry.action == action)
                                           .order_by(AuditEntry.id))).all())


@pytest.mark.parametrize("engine_name", ["libretranslate"])
async def test_a_machine_translated_question_goes_to_a_mediator_on_request_and_both_translations_stand(
        app: Lotse, chat: Callable[..., Chat], standin: Standin) -> None:
    anna = await coordinator(app, chat, "anna", organisation="proconnect", locale="de")
    olena = await participant(chat, "olena", language="Українська")
    await ask(olena, app, "uk", QUESTION_UK)
    notice = containing(anna, QUESTION_UK)
    assert MACHINE in notice.text and ASK not in labels(notice)  # first "Take it"
    await anna.click(DE("Take it"))
    notice = containing(anna, QUESTION_UK)
    assert labels(notice)[-1] == ASK  # the notice of the one who took it, machine translation and all
    [nobody] = await anna.press_raw(key_of(notice, ASK))
    assert nobody.text == DE("No volunteer translates {language} as a language mediator yet.",
                             language=language_name(DE, "uk"))  # said at once, nothing asked

    jana = await mediator(app, chat, "jana", ["uk"])
    [asked] = await anna.press_raw(key_of(notice, ASK))
    assert asked.text == DE("A volunteer language mediator was asked to translate question no. {number}. They see "
                            "only the text, nothing else of the case. The translation comes here.", number=1)
    [request] = requests_to(jana)
    assert request == "\n\n".join([
        "Translation request no. 1: please translate this text from Ukrainian into German (or English).",
        QUESTION_UK, TEXT_ONLY])
    assert "Olena" not in request and "Oldenburg" not in request and MACHINE not in request
    [again] = await anna.press_raw(key_of(notice, ASK))  # pressed twice: nobody is asked twice
    assert again.text == DE("A volunteer language mediator has already been asked for this question.")
    assert len(requests_to(jana)) == 1

    await jana.click("Translate")
    await jana.send(GERMAN)
    assert anna.last.text == "\n\n".join([DE("Question no. {number}: translated by a volunteer:", number=1), GERMAN])
    notice = containing(anna, QUESTION_UK)  # the notice now shows the volunteer's below the machine's
    assert notice.text.index(QUESTION_UK) < notice.text.index(MACHINE) < notice.text.index(f"[de] {QUESTION_UK}") \
        < notice.text.index(BY_VOLUNTEER) < notice.text.index(GERMAN)
    assert ASK not in labels(notice)
    [ticket] = await anna.send("/ticket 1")
    assert ticket.text.index(MACHINE) < ticket.text.index(BY_VOLUNTEER) < ticket.text.index(GERMAN)
    assert ASK not in labels(ticket)
    async with app.sessions() as session:
        rows = (await session.scalars(select(MessageTranslation).order_by(MessageTranslation.id))).all()
    assert [(r.engine, r.target, r.status, r.text) for r in rows] == [
        ("libretranslate", "de", "done", f"[de] {QUESTION_UK}"), ("volunteer", "de", "done", GERMAN)]

    # Who saw what: anna asked for the question's text, jana was shown it and translated it.
    people = await ids(app)
    assert [(e.actor_id, e.details) for e in await audit(app, "mediation.asked")] == [
        (people["anna"], {"ticket": 1, "messages": [rows[0].message_id]})]
    assert [(e.actor_id, e.details["message"]) for e in await audit(app, "mediation.shown")] == [
        (people["jana"], rows[0].message_id)]
    assert [e.actor_id for e in await audit(app, "mediation.translated")] == [people["jana"]]

    # The engine translates the answer into Ukrainian: no mediator is needed for it.
    await anna.send(f"/reply 1 {ANSWER_DE}")
    assert UK("Machine translation ({engine}). The original:", engine="LibreTranslate") in olena.last.text
    assert len(requests_to(jana)) == 1


@pytest.mark.parametrize("engine_name", ["libretranslate"])
async def test_a_machine_translated_follow_up_has_its_own_ask_a_mediator_button(
        app: Lotse, chat: Callable[..., Chat], standin: Standin) -> None:
    anna = await coordinator(app, chat, "anna", organisation="proconnect", locale="de")
    jana = await mediator(app, chat, "jana", ["uk"])
    olena = await participant(chat, "olena", language="Українська")
    await ask(olena, app, "uk", QUESTION_UK)
    await anna.click(DE("Take it"))
    await olena.send(FOLLOW_UP_UK)
    more = containing(anna, FOLLOW_UP_UK)
    assert more.text.startswith(DE("Question no. {number}: more from {participant}:", number=1, participant="@")
                                .split("@")[0])
    assert more.text.index(FOLLOW_UP_UK) < more.text.index(MACHINE) and labels(more) == [ASK]
    assert requests_to(jana) == []
    [asked] = await anna.press_raw(key_of(more, ASK))
    assert asked.text.startswith(DE("A volunteer language mediator was asked to translate question no. {number}. "
                                    "They see only the text, nothing else of the case. The translation comes here.",
                                    number=1)[:40])
    # The button asks for every message of the question no mediator was asked for yet: here both.
    assert [r.split("\n\n")[1] for r in requests_to(jana)] == [QUESTION_UK, FOLLOW_UP_UK]
    [again] = await anna.press_raw(key_of(more, ASK))
    assert again.text == DE("A volunteer language mediator has already been asked for this question.")
    nobody = DE("No volunteer language mediator could translate question no. {number} into {language}. Please "
                "find another way to understand each other, for example a phone call with an interpreter.", number=1,
                language=language_name(DE, "de"))
    await jana.click("Not now")  # the follow-up: no other mediator is left, but the first message is still hers
    assert nobody not in [m.text for m in anna.history]
    await jana.press_raw("@sm:skip:1")  # the first one too: now the coordinator hears it, once for the question
    assert [m.text for m in anna.history].count(nobody) == 1


@pytest.mark.parametrize("engine_name", ["libretranslate"])
async def test_a_machine_translated_report_goes_to_a_mediator_on_request(
        app: Lotse, chat: Callable[..., Chat], standin: Standin) -> None:
    petra, jana, _amal = await paired(app, chat)
    await report(jana, "Needs help with something", REPORT_AR)
    notice = containing(petra, REPORT_AR)
    assert notice.text.index(REPORT_AR) < notice.text.index(MACHINE) < notice.text.index(f"[de] {REPORT_AR}")
    assert labels(notice) == [ASK]
    [nobody] = await petra.press_raw(key_of(notice, ASK))
    assert nobody.text == DE("No volunteer translates {language} as a language mediator yet.",
                             language=language_name(DE, "ar"))

    karl = await mediator(app, chat, "karl", ["ar"])
    [asked] = await petra.press_raw(key_of(notice, ASK))
    assert asked.text == DE("A volunteer language mediator was asked to translate the report. They see only the "
                            "text, nothing else of the case. The translation comes here.")
    [request] = requests_to(karl)
    assert request == "\n\n".join([
        "Translation request no. 1: please translate this text from Arabic into German (or English).",
        REPORT_AR, TEXT_ONLY])
    assert "Amal" not in request and "Jana" not in request
    [again] = await petra.press_raw(key_of(notice, ASK))
    assert again.text == DE("A volunteer language mediator has already been asked for this report.")
    assert len(requests_to(karl)) == 1
    [stale] = await jana.press_raw(key_of(notice, ASK))  # not a coordinator's: it does nothing
    assert stale.text == "This button belongs to an earlier question and no longer works."

    await karl.click("Translate")
    await karl.send(REPORT_DE)
    head = DE("Report of {date} about {participant}, translated by a volunteer:", date="@", participant="@")
    assert petra.last.text.startswith(head.split("@")[0]) and REPORT_DE in petra.last.text
    [case, *_] = await petra.send("/case Amal")
    assert case.text.index(REPORT_AR) < case.text.index(MACHINE) < case.text.index(f"[de] {REPORT_AR}") \
        < case.text.index(BY_VOLUNTEER) < case.text.index(REPORT_DE)
    async with app.sessions() as session:
        row = (await session.scalars(select(CaseReport))).one()
    assert (row.translation, row.translation_engine, row.volunteer_translation, row.volunteer_translation_status) \
        == (f"[de] {REPORT_AR}", "libretranslate", REPORT_DE, "done")
    people = await ids(app)
    assert [(e.actor_id, e.details) for e in await audit(app, "mediation.asked")] == [
        (people["petra"], {"report": row.id})]
    assert [(e.actor_id, e.details["report"]) for e in await audit(app, "mediation.shown")] == [
        (people["karl"], row.id)]


@pytest.mark.parametrize("engine_name", ["off"])
async def test_with_no_engine_a_typed_answer_goes_back_through_a_mediator_with_the_original_below(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    anna = await coordinator(app, chat, "anna", organisation="proconnect", locale="de")
    jana = await mediator(app, chat, "jana", ["uk"])
    olena = await participant(chat, "olena", language="Українська")
    await ask(olena, app, "uk", QUESTION_UK)  # no engine: jana is asked for the question at once
    await jana.click("Translate")
    await jana.send(GERMAN)
    await anna.click(DE("Take it"))
    [sent, told, _menu] = await anna.send(ANSWER_DE)  # right after "Take it", what she writes is the answer
    assert sent.text == DE("Sent to the participant (question no. {number}).", number=1)
    assert told.text == DE("A volunteer language mediator translates your answer into {language}. The participant "
                           "gets the translation when it is ready.", language=language_name(DE, "uk"))
    assert olena.last.text.endswith("\n\n".join([ANSWER_DE, UK(
        "A volunteer translates this answer into your language. The translation follows here.")]))
    request = requests_to(jana)[-1]
    assert request == "\n\n".join([
        "Translation request no. 2: please translate this text from German into Ukrainian.", ANSWER_DE, TEXT_ONLY])
    [prompt] = await jana.click("Translate")
    assert prompt.text == "Please write the translation into Ukrainian."
    await jana.send(ANSWER_UK)
    assert olena.last.text == "\n\n".join([
        UK("Answer to your question no. {number}, translated by a volunteer:", number=1), ANSWER_UK,
        UK("The original:") + "\n" + ANSWER_DE])
    english = "Please bring your passport and the letter from the Jobcenter to the course office."
    await anna.send(f"/reply 1 {english}")  # answered in English: the mediator is told so
    assert requests_to(jana)[-1] == "\n\n".join([
        "Translation request no. 3: please translate this text from English into Ukrainian.", english, TEXT_ONLY])


@pytest.mark.parametrize("engine_name", ["off"])
async def test_with_no_engine_and_no_mediator_the_answer_goes_as_written(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    anna = await coordinator(app, chat, "anna", organisation="proconnect", locale="de")
    jana = await mediator(app, chat, "jana", ["ar"])  # she does not translate Ukrainian
    olena = await participant(chat, "olena", language="Українська")
    await ask(olena, app, "uk", QUESTION_UK)
    await anna.click(DE("Take it"))
    [sent, _menu] = await anna.send(ANSWER_DE)
    assert sent.text == DE("Sent to the participant (question no. {number}).", number=1)
    assert olena.last.text.endswith(ANSWER_DE) and requests_to(jana) == []


@pytest.mark.parametrize("engine_name", ["off"])
async def test_the_privacy_notice_says_that_a_volunteer_may_read_a_message_but_never_the_name(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    from flows.onboarding import MEDIATOR_SENTENCE, MEDIATOR_SHORT

    olena = chat("olena")
    await olena.send("hello")
    [summary] = await olena.click("Українська")
    assert UK(MEDIATOR_SHORT) in summary.text and "(Sprachmittler)" in UK(MEDIATOR_SENTENCE)
    [full] = await olena.click(UK("Read the full notice"))
    assert UK(MEDIATOR_SENTENCE) in full.text


async def test_migration_0023_moves_a_mediators_report_translation_beside_the_machines_and_back(
        blank_database_url: str) -> None:
    """Deployed databases kept a mediator's report translation in the machine's columns: it moves to its own."""
    from alembic import command
    from sqlalchemy import text

    from storage.database import alembic_config, create_engine

    def to(revision: str, down: bool = False) -> Callable[[object], None]:
        def run(sync_connection: object) -> None:
            config = alembic_config()
            config.attributes["connection"] = sync_connection
            (command.downgrade if down else command.upgrade)(config, revision)
        return run

    engine = create_engine(blank_database_url)
    columns = "translation, translation_engine, volunteer_translation, volunteer_translation_status"
    try:
        async with engine.begin() as connection:
            await connection.run_sync(to("0022"))
            await connection.execute(text("INSERT INTO persons (role, time_zone, created_at, updated_at) "
                                          "VALUES ('participant', 'Europe/Berlin', '2026-01-01', '2026-01-01')"))
            for engine_name, translated in (("volunteer", REPORT_DE), ("libretranslate", f"[de] {REPORT_AR}")):
                await connection.execute(text(
                    "INSERT INTO case_reports (participant_id, kind, text, needs_action, created_at, translation, "
                    "translation_source, translation_target, translation_engine, translation_status, "
                    "translation_attempts) VALUES (1, 'needs_help', :text, true, '2026-01-01', :translated, 'ar', "
                    "'de', :engine, 'done', 1)"), {"text": REPORT_AR, "translated": translated, "engine": engine_name})
            await connection.run_sync(to("0023"))
            moved = (await connection.execute(text(f"SELECT {columns} FROM case_reports ORDER BY id"))).all()
            await connection.run_sync(to("0022", down=True))
            back = (await connection.execute(text(
                "SELECT translation, translation_engine FROM case_reports ORDER BY id"))).all()
    finally:
        await engine.dispose()
    assert [tuple(row) for row in moved] == [(None, None, REPORT_DE, "done"),
                                             (f"[de] {REPORT_AR}", "libretranslate", None, None)]
    assert [tuple(row) for row in back] == [(REPORT_DE, "volunteer"), (f"[de] {REPORT_AR}", "libretranslate")]


# ---------------------------------------------------------------------------------------------------------------
# A report nobody is told of (not urgent, no milestone) still has "Ask a mediator": on the case view (newcomer
# finding)


@pytest.mark.parametrize("engine_name", ["libretranslate"])
async def test_an_ordinary_report_in_arabic_has_ask_a_mediator_on_the_case_view(
        app: Lotse, chat: Callable[..., Chat], standin: Standin) -> None:
    petra, jana, _amal = await paired(app, chat)
    seen = len(petra.history)
    await report(jana, "Something else", REPORT_AR)
    assert len(petra.history) == seen  # not urgent: nobody is told now
    [case, *_] = await petra.send("/case Amal")
    [button] = [c.label for c in case.choices]
    assert button.startswith(DE("Ask a mediator: report of {date}", date="@").split("@")[0])
    [nobody] = await petra.click(button)
    assert nobody.text == DE("No volunteer translates {language} as a language mediator yet.",
                             language=language_name(DE, "ar"))
    karl = await mediator(app, chat, "karl", ["ar"])
    await petra.send("/case Amal")
    [asked] = await petra.click(button)
    assert asked.text == DE("A volunteer language mediator was asked to translate the report. They see only the "
                            "text, nothing else of the case. The translation comes here.")
    [request] = requests_to(karl)
    assert REPORT_AR in request and "Amal" not in request
    [case, *_] = await petra.send("/case Amal")
    assert case.choices == ()  # asked: no button any more

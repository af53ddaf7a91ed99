"""Volunteers' reports in a language the coordinator does not read: a translation that is late follows as a
message once the engine answers, and `/case` and the weekly digest show the stored translation below the original
to a reader who does not read the report's language, marked like a question's; a reader who does sees the original
only."""

# ruff: noqa: F811  (the fixtures `app` and `standin` come from tests/test_translation.py)
from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select

from bot.core.i18n import Translator
from bot.jobs.digest import build_digest, everybody, render_text
from bot.runtime.app import Lotse
from flows.mediation import retry_translations
from storage.models import CaseReport
from tests.chat import Chat, FakeClock
from tests.test_questions import coordinator, participant
from tests.test_translation import app, standin  # noqa: F401  (fixtures: app with the stand-in)
from tests.test_volunteers import volunteer
from tests.translation_standins import Standin

DE = Translator("de")
EN = Translator("en")
ARABIC = "تحتاج إلى مساعدة في رسالة من مركز العمل"
LATER = DE("Machine translation is not available right now; it follows in a separate message.")
MARKED = DE("Machine translation ({engine}):", engine="LibreTranslate")


async def paired(app: Lotse, chat: Callable[..., Chat]) -> tuple[Chat, Chat, Chat]:
    """Petra (reads German) paired Jana, a volunteer, with Amal."""
    petra = await coordinator(app, chat, "petra", organisation="proconnect", locale="de")
    jana = await volunteer(app, chat)
    amal = await participant(chat, "amal")
    await petra.send("/pair Amal")
    await petra.click(next(label for label in petra.buttons() if label.startswith("Jana")))
    await amal.click("Yes, I agree")
    return petra, jana, amal


async def report(jana: Chat, kind: str, text: str) -> None:
    await jana.send("/report")
    await jana.click(jana.buttons()[0])
    await jana.click(kind)
    await jana.send(text)


async def stored(app: Lotse) -> CaseReport:
    async with app.sessions() as session:
        return (await session.scalars(select(CaseReport))).one()


@pytest.mark.parametrize("engine_name", ["libretranslate"])
async def test_a_late_report_translation_follows_and_then_stands_in_the_case(
        app: Lotse, chat: Callable[..., Chat], standin: Standin, clock: FakeClock) -> None:
    petra, jana, _amal = await paired(app, chat)
    standin.fail(500)
    await report(jana, "Needs help with something", ARABIC)
    notice = petra.last.text
    assert notice.index(ARABIC) < notice.index(LATER) and MARKED not in notice
    assert (await stored(app)).translation_status == "pending"
    [case, *_] = await petra.send("/case Amal")  # the original until the translation arrives
    assert ARABIC in case.text and LATER not in case.text and MARKED not in case.text
    assert await retry_translations(app.sessions, clock(), network=app.network) == 0  # asked again in 30 s
    clock.advance(minutes=1)
    assert await retry_translations(app.sessions, clock(), network=app.network) == 1
    await app.drain()
    late = petra.last.text
    assert late.startswith(DE(
        "Report of {date} about {participant}: machine translation ({engine}) of the volunteer's report:",
        date="@", participant="@", engine="@").split("@")[0])
    assert "LibreTranslate" in late and f"[de] {ARABIC}" in late and "/case" in late
    row = await stored(app)
    assert row.translation_status == "done" and row.translation_attempts == 2
    [case, *_] = await petra.send("/case Amal")
    assert case.text.index(ARABIC) < case.text.index(MARKED) < case.text.index(f"[de] {ARABIC}")
    assert await retry_translations(app.sessions, clock(), network=app.network) == 0  # nothing twice


@pytest.mark.parametrize("engine_name", ["libretranslate"])
async def test_a_report_that_cannot_be_translated_is_not_asked_again(
        app: Lotse, chat: Callable[..., Chat], standin: Standin, clock: FakeClock) -> None:
    petra, jana, _amal = await paired(app, chat)
    standin.fail(400)
    await report(jana, "Needs help with something", ARABIC)
    assert ARABIC in petra.last.text and LATER not in petra.last.text
    clock.advance(hours=2)
    assert await retry_translations(app.sessions, clock(), network=app.network) == 0
    assert (await stored(app)).translation_status == "failed"


@pytest.mark.parametrize("engine_name", ["libretranslate"])
async def test_the_case_shows_the_translation_only_to_a_reader_who_does_not_read_the_report(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    petra, jana, _amal = await paired(app, chat)
    karim = await coordinator(app, chat, "karim", organisation="proconnect", locale="en")
    await report(jana, "Something else", ARABIC)  # not urgent: for the weekly overview, translated already
    english = "She found a flat and starts the course on Monday"
    await report(jana, "Something else", english)  # every staff member reads English: never translated
    assert not any(ARABIC in m.text for m in petra.history)
    [case, *_] = await petra.send("/case Amal")
    assert case.text.index(english) < case.text.index(ARABIC) < case.text.index(MARKED) \
        < case.text.index(f"[de] {ARABIC}")
    assert case.text.count(MARKED) == 1 and f"[de] {english}" not in case.text
    [case, *_] = await karim.send("/case Amal")  # the stored translation is German, not his language
    assert ARABIC in case.text and english in case.text and "[de]" not in case.text
    assert Translator("en")("Machine translation ({engine}):", engine="LibreTranslate") not in case.text


@pytest.mark.parametrize("engine_name", ["libretranslate"])
async def test_the_weekly_digest_shows_a_reports_translation_below_the_original_to_german_readers(
        app: Lotse, chat: Callable[..., Chat], clock: FakeClock) -> None:
    _petra, jana, _amal = await paired(app, chat)
    await report(jana, "Something else", ARABIC)
    clock.advance(hours=1)
    async with app.sessions() as session:
        german = render_text(DE, clock(), await build_digest(session, DE, app.network, everybody(), clock()))
        english = render_text(EN, clock(), await build_digest(session, EN, app.network, everybody(), clock()))
    [line] = [line for line in german.splitlines() if ARABIC in line]
    assert line.index(ARABIC) < line.index(MARKED) < line.index(f"[de] {ARABIC}")
    [line] = [line for line in english.splitlines() if ARABIC in line]  # translated for German readers only
    assert "[de]" not in line and EN("Machine translation ({engine}):", engine="LibreTranslate") not in line

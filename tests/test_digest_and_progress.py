"""The Montagsrunde digest on a controlled clock, `lotse digest`, and the funnel toward the 75 % goal."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.core.config import load_settings
from bot.core.i18n import Translator
from bot.core.schedule import Schedule
from bot.jobs.digest import send_due_digests, week_key, write_digest
from bot.runtime.app import Lotse
from bot.services.progress import count_funnel, draw_chart, funnel_text, share
from storage.models import DigestSent, Handle, Person, Profile
from tests.chat import Chat, FakeClock, RecordingTransport
from tests.test_demo_cli import lotse
from tests.test_questions import coordinator, participant
from tests.test_volunteers import pair, volunteer

MONDAY_0731_BERLIN = datetime(2026, 11, 30, 6, 31, tzinfo=UTC)


async def a_week(app: Lotse, chat: Callable[..., Chat], clock: FakeClock) -> tuple[Chat, Chat]:
    """Monday 23 November to Sunday 29 November 2026: a question, a pairing, two reports, a stage change."""
    petra = await coordinator(app, chat, "petra", organisation="proconnect", locale="en")
    hanna = await coordinator(app, chat, "hanna", organisation="proconnect", locale="de")
    jana = await volunteer(app, chat)
    amal = await participant(chat, "amal")
    await amal.send("/menu")
    await amal.click("Ask a question")
    await amal.click("Apprenticeship (Ausbildung)")
    await amal.send("Where do I apply?")
    await pair(petra, jana, amal)
    clock.advance(days=2)
    await jana.send("/report")
    await jana.click(jana.buttons()[0])
    await jana.click("Needs help with something")
    await jana.send("A letter from the Jobcenter she does not understand")
    await jana.send("/report")
    await jana.click(jana.buttons()[0])
    await jana.click("Attended a course or appointment")
    await jana.send("Was at the language course on time")
    await petra.send("/stage amal")
    await petra.click("Potential check done (Potenzialcheck)")
    await petra.send("Done at the IHK")
    return petra, hanna


async def test_the_digest_for_a_week_in_english_and_german_goes_out_once(
        app: Lotse, chat: Callable[..., Chat], clock: FakeClock, transport: RecordingTransport) -> None:
    petra, hanna = await a_week(app, chat, clock)
    clock.now = datetime(2026, 11, 30, 6, 29, tzinfo=UTC)  # 07:29 in Berlin: not yet
    assert await send_due_digests(app.sessions, app.network, Schedule(), None, clock()) == 0
    clock.now = MONDAY_0731_BERLIN
    room = ("test", "coordinators-room")
    assert await send_due_digests(app.sessions, app.network, Schedule(), room, clock()) == 3  # two people, a room
    await app.drain()
    english = petra.last.text
    assert english.startswith("Montagsrunde 30 November 2026: the week in review")
    for expected in ("New participants (1)", "· Amal (no. ", "Questions open and overdue (1)",
                     "#1 · OVERDUE · Apprenticeship (Ausbildung) · Amal", "Cancellations (0)",
                     "Volunteer reports that need action (1)", "A letter from the Jobcenter she does not understand",
                     "Other volunteer reports (1)", "Was at the language course on time",
                     "Stage changes (1)", "Profile complete → Potential check done (Potenzialcheck) – Done at the IHK",
                     "Appointments this week (0)"):
        assert expected in english, expected
    german = hanna.last.text
    assert german.startswith("Montagsrunde 30. November 2026: die Woche im Rückblick")
    for expected in ("Neue Teilnehmende (1)", "Offene und überfällige Fragen (1)", "#1 · ÜBERFÄLLIG",
                     "Berichte von Ehrenamtlichen, die Handeln erfordern (1)", "Stufenwechsel (1)",
                     "Termine diese Woche (0)\n(nichts)"):
        assert expected in german, expected
    assert "A letter from the Jobcenter she does not understand" in german
    assert transport.sent["coordinators-room"][-1].locale == "de"
    # once: again the same minute, an hour later, and after a restart on the same database
    assert await send_due_digests(app.sessions, app.network, Schedule(), room, clock()) == 0
    clock.advance(hours=1)
    url = app.engine.url.render_as_string(hide_password=False)
    again = await Lotse.open(load_settings(data_dir=app.settings.data_dir), database_url=url, clock=clock)
    try:
        assert await send_due_digests(again.sessions, again.network, Schedule(), room, clock()) == 0
    finally:
        await again.close()
    async with app.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(DigestSent)) == 3
    assert week_key(clock()) == "2026-W49"


async def test_a_digest_missed_while_down_goes_out_later_that_week_and_the_schedule_is_configurable(
        app: Lotse, chat: Callable[..., Chat], clock: FakeClock) -> None:
    petra = await coordinator(app, chat, "petra", organisation="proconnect")
    clock.now = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)  # Wednesday: the process was down on Monday
    assert await send_due_digests(app.sessions, app.network, Schedule(), None, clock()) == 1
    await app.drain()
    assert petra.last.text.startswith("Montagsrunde 30 November 2026")
    friday = Schedule.parse("fri 14:00")
    assert friday == Schedule(4, time(14, 0))
    assert await send_due_digests(app.sessions, app.network, friday, None, clock()) == 0  # same week: sent already
    for wrong in ("monday", "mon 25:00", "", "07:30", "mon 7:3"):
        with pytest.raises(ValueError):
            Schedule.parse(wrong)


async def test_a_digest_for_a_week_with_no_data(app: Lotse, chat: Callable[..., Chat], clock: FakeClock) -> None:
    petra = await coordinator(app, chat, "petra", organisation="proconnect")
    clock.now = MONDAY_0731_BERLIN
    await send_due_digests(app.sessions, app.network, Schedule(), None, clock())
    await app.drain()
    assert petra.last.text.count("(nothing)") == 10
    markdown = await write_digest(app.sessions, app.network, "de", datetime(2027, 3, 3).date(), "md", None,
                                  Schedule())
    assert markdown.startswith("# Montagsrunde 1. März 2027") and markdown.count("_(nichts)_") == 10
    page = await write_digest(app.sessions, app.network, "en", datetime(2027, 3, 3).date(), "html", None,
                              Schedule())
    assert page.startswith("<!DOCTYPE html>") and page.count('<p class="none">(nothing)</p>') == 10


async def test_the_digest_escapes_what_people_wrote(app: Lotse, chat: Callable[..., Chat],
                                                    clock: FakeClock) -> None:
    await coordinator(app, chat, "petra", organisation="proconnect")
    amal = await participant(chat, "amal")
    await amal.send("/menu")
    await amal.click("Ask a question")
    await amal.click("Work (Arbeit)")
    await amal.send("<script>alert(1)</script> **bold** | table")
    async with app.sessions() as session, session.begin():
        person = (await session.scalars(select(Person).where(Person.display_name == "Amal"))).one()
        person.display_name = "<b>Amal</b> # [x](http://evil)"
    page = await write_digest(app.sessions, app.network, "en", clock().date(), "html", None, Schedule())
    assert "<b>Amal</b>" not in page and "&lt;b&gt;Amal&lt;/b&gt;" in page
    markdown = await write_digest(app.sessions, app.network, "en", clock().date(), "md", None, Schedule())
    assert "\\<b\\>Amal\\</b\\> \\# \\[x\\](http://evil)" in markdown


@pytest.mark.slow
def test_lotse_digest_and_lotse_report_from_the_command_line(tmp_path: Path) -> None:
    done = lotse(["digest", "--format", "html", "--output", "digest.html", "--language", "en"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "digest.html").read_text().startswith("<!DOCTYPE html>")
    shown = lotse(["digest", "--format", "md", "--date", "2026-11-30"], tmp_path)
    assert shown.stdout.decode().startswith("# Montagsrunde 30. November 2026")
    wrong = lotse(["digest", "--date", "30.11.2026"], tmp_path)
    assert wrong.returncode == 2 and wrong.stderr.decode().strip() == (
        "lotse: --date: '30.11.2026' is not a date like 2026-11-30")
    unknown = lotse(["digest", "--districts", "atlantis"], tmp_path)
    assert unknown.returncode == 2 and "unknown district 'atlantis'" in unknown.stderr.decode()
    report = lotse(["report", "--chart", "funnel.png", "--language", "en"], tmp_path)
    assert report.returncode == 0, report.stderr
    assert "No participants yet." in report.stdout.decode()
    assert (tmp_path / "funnel.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = lotse(["report", "--chart", "funnel.txt"], tmp_path)
    assert bad.returncode == 2 and "must be a .png file" in bad.stderr.decode()


# ---------------------------------------------------------------------------------------------------------------
# The funnel on a hand-counted data set

PEOPLE = [  # (registered, district, stage, goals, consented)
    (datetime(2026, 8, 3, tzinfo=UTC), "stadt_oldenburg", "registered", [], True),
    (datetime(2026, 8, 4, tzinfo=UTC), "stadt_oldenburg", "profile_complete", ["apprenticeship"], True),
    (datetime(2026, 9, 1, tzinfo=UTC), "vechta", "apprenticeship", ["apprenticeship"], True),
    (datetime(2026, 9, 30, 22, 30, tzinfo=UTC), "vechta", "employment", ["work"], True),  # 1 Oct in Berlin: Q4
    (datetime(2026, 10, 5, tzinfo=UTC), "stadt_oldenburg", "internship", ["internship"], True),
    (datetime(2026, 10, 6, tzinfo=UTC), "stadt_oldenburg", "apprenticeship", ["apprenticeship"], True),
    (datetime(2026, 11, 2, tzinfo=UTC), "ammerland", "employment", ["work"], True),
    (datetime(2026, 11, 3, tzinfo=UTC), "ammerland", "matching", ["language_course"], True),
    (datetime(2026, 11, 4, tzinfo=UTC), "ammerland", "employment", ["work"], False),  # never consented: not counted
]


async def test_the_funnel_on_a_hand_counted_data_set(app: Lotse, tmp_path: Path) -> None:
    async with app.sessions() as session, session.begin():
        for created, district, stage, goals, consented in PEOPLE:
            person = Person(role="participant", created_at=created, district=district, locale="ar",
                            privacy_version="2026-11" if consented else None)
            session.add(person)
            await session.flush()
            session.add(Profile(person_id=person.id, stage=stage, answers={"goals": goals}))
        session.add(Person(role="volunteer", privacy_version="2026-11"))  # not a participant
    async with app.sessions() as session:
        funnel = await count_funnel(session, app.network)
        north = await count_funnel(session, app.network, ["ammerland"])
    #                  registered, profile, check, matching, internship, placed
    assert funnel.total == [8, 7, 6, 6, 5, 4]
    assert funnel.cohorts == {"2026-Q3": [3, 2, 1, 1, 1, 1], "2026-Q4": [5, 5, 5, 5, 4, 3]}
    assert funnel.districts["vechta"] == [2, 2, 2, 2, 2, 2] and funnel.districts["ammerland"] == [2, 2, 2, 2, 1, 1]
    assert "jobcenter" not in funnel.organisations  # work and letters, but only in the two Oldenburgs
    assert funnel.organisations["agentur"] == [2, 2, 2, 2, 2, 2]  # work, everywhere: Vechta and Ammerland
    assert funnel.organisations["proconnect"] == funnel.total  # every topic, every district
    assert funnel.organisations["bbs_wechloy"] == [1, 1, 1, 1, 0, 0]  # language course in Ammerland
    assert north.total == [2, 2, 2, 2, 1, 1]
    assert share(funnel.cohorts["2026-Q4"]) == 0.6 and share(funnel.total) == 0.5
    english = funnel_text(Translator("en"), app.network, funnel)
    assert "All: 4 of 8 placed (50 %) · 8 → 7 → 6 → 6 → 5 → 4" in english
    assert "· 2026-Q4: 3 of 5 placed (60 %)" in english and "✓ Vechta (district): 2 of 2 placed (100 %)" in english
    german = funnel_text(Translator("de"), app.network, funnel)
    assert "Alle: 4 von 8 vermittelt (50 %)" in german
    chart = tmp_path / "funnel.png"
    draw_chart(Translator("de"), funnel, chart)
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and chart.stat().st_size > 10_000


async def test_stats_in_the_chat_shows_only_the_coordinators_districts(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    bert = await coordinator(app, chat, "bert", districts=["stadt_oldenburg", "ammerland"])  # IHK, two districts
    await participant(chat, "amal")  # Stadt Oldenburg
    await participant(chat, "yonas", district="5")  # Vechta
    [stats, _menu] = await bert.send("/stats")
    assert "All: 0 of 1 placed (0 %) · 1 → 1 → 0 → 0 → 0 → 0" in stats.text
    assert "Vechta" not in stats.text
    async with app.sessions() as session:
        handles = await session.scalar(select(func.count()).select_from(Handle))
    assert handles == 3


async def test_the_running_app_sends_the_digest_from_its_periodic_loop(
        app: Lotse, chat: Callable[..., Chat], clock: FakeClock) -> None:
    """The same wake-up as the escalation: `run_workers` sends a due digest without anyone writing."""
    import asyncio

    petra = await coordinator(app, chat, "petra", organisation="proconnect")
    clock.now = MONDAY_0731_BERLIN
    stop = asyncio.Event()
    workers = asyncio.create_task(app.run_workers(stop))
    try:
        for _ in range(200):
            if petra.history and petra.last.text.startswith("Montagsrunde"):
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(workers, timeout=10)
    assert petra.last.text.startswith("Montagsrunde 30 November 2026")

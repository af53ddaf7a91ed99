"""Language courses by chat (create, enrol, cancel and move a session, who is coming) and the CSV imports."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.jobs.imports import MAX_ROWS, ImportRefused, import_appointments, import_courses
from bot.runtime.app import Lotse
from bot.services.courses import session_moments
from bot.services.reminders import deliver_due
from flows.courses import parse_times
from flows.engine import Invalid
from storage.models import Appointment, Course, CourseSession, Enrolment, OutboxEntry, Person, Reminder
from tests.chat import Chat, FakeClock
from tests.test_questions import coordinator
from tests.test_reminders import local, newcomer


async def create_course_by_chat(anna: Chat) -> None:
    await anna.send("/course")
    await anna.click("New course")
    await anna.send("Integrationskurs BBS Wechloy")
    await anna.click("A2")
    await anna.send("BBS Wechloy, Am Heidbrook 10, room 3")
    await anna.send("1, 3")  # Monday and Wednesday
    await anna.send("9:00-12:00")
    await anna.send("30.11.2026")
    [summary] = await anna.send("23.12.2026")
    assert "8 sessions" in summary.text
    await anna.send("yes")


async def test_a_coordinator_creates_a_course_enrols_and_participants_see_the_next_session(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    anna = await coordinator(app, chat, "anna")
    amal = await newcomer(app, chat, "amal", language="العربية")
    await create_course_by_chat(anna)
    async with app.sessions() as session:
        course = (await session.scalars(select(Course))).one()
        sessions = (await session.scalars(select(CourseSession).order_by(CourseSession.starts_at))).all()
    assert (course.name, course.level, course.weekdays) == ("Integrationskurs BBS Wechloy", "A2", [0, 2])
    assert [s.starts_at for s in sessions[:2]] == [local(2026, 11, 30, 9, 0), local(2026, 12, 2, 9, 0)]
    assert len(sessions) == 8
    [empty, *_] = await anna.send("/course 1")
    assert "Nobody is enrolled yet." in empty.text and "0 participants" not in empty.text
    await anna.click("Enrol a participant")
    [done, _menu] = await anna.send("Amal")
    assert done.text.startswith("Amal (no. ") and done.text.endswith("is now in the course and was told.")
    told = amal.last
    assert told.rtl and "(Sprachkurs)" in told.text
    async with app.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Reminder)) == 16
    [listing, *_] = await amal.send("/courses")
    assert "Integrationskurs BBS Wechloy (A2)" in listing.text
    [again, *_] = await anna.send("/course 1")
    assert "1 participant enrolled:" in again.text


async def test_cancelling_a_session_tells_everyone_enrolled_and_drops_its_reminders(
        app: Lotse, chat: Callable[..., Chat], clock: FakeClock) -> None:
    anna = await coordinator(app, chat, "anna")
    amal = await newcomer(app, chat, "amal")
    olena = await newcomer(app, chat, "olena", language="Українська")
    await create_course_by_chat(anna)
    for name in ("Amal", "Olena"):
        await anna.send("/course 1")
        await anna.click("Enrol a participant")
        await anna.send(name)
    await anna.send("/course 1")
    await anna.click("Cancel a session")
    await anna.click("Monday, 30 November 2026, 09:00")
    [done, _menu] = await anna.send("yes")
    assert done.text == "Cancelled. Everyone in the course was told (2)."
    assert amal.last.text.startswith("The language course (Sprachkurs) Integrationskurs BBS Wechloy (A2) on Monday")
    assert olena.last.text.startswith("Мовний курс (Sprachkurs) Integrationskurs BBS Wechloy (A2)")
    clock.now = local(2026, 11, 29, 18, 0)
    before = len(amal.history)
    await deliver_due(app.sessions, clock())
    await app.drain()
    assert len(amal.history) == before  # no reminder for the cancelled session
    clock.now = local(2026, 12, 1, 18, 0)
    await deliver_due(app.sessions, clock())
    await app.drain()
    assert amal.last.text.startswith("Reminder: Language course (Sprachkurs) Integrationskurs BBS Wechloy (A2)")


async def test_who_is_coming_to_a_session_and_moving_it(
        app: Lotse, chat: Callable[..., Chat], clock: FakeClock) -> None:
    anna = await coordinator(app, chat, "anna")
    amal = await newcomer(app, chat, "amal")
    await newcomer(app, chat, "olena")
    await create_course_by_chat(anna)
    for name in ("Amal", "Olena"):
        await anna.send("/course 1")
        await anna.click("Enrol a participant")
        await anna.send(name)
    clock.now = local(2026, 11, 29, 18, 0)
    await deliver_due(app.sessions, clock())
    await app.drain()
    await amal.click("I can't come")
    await amal.send("Appointment at the Ausländerbehörde")
    assert "cannot come to: Language course (Sprachkurs)" in anna.last.text
    await anna.send("/course 1")
    await anna.click("Who is coming?")
    [listing, _menu] = await anna.click("Monday, 30 November 2026, 09:00")
    assert "✘ Amal" in listing.text and "Ausländerbehörde" in listing.text and "? Olena" in listing.text
    await anna.send("/course 1")
    await anna.click("Move a session")
    await anna.click("Monday, 30 November 2026, 09:00")
    [moved, _menu] = await anna.send("30.11. 13:00")
    assert moved.text.startswith("Moved to Monday, 30 November 2026")
    assert amal.last.text.startswith("The language course (Sprachkurs) Integrationskurs BBS Wechloy (A2) was moved.")


@pytest.mark.parametrize(("typed", "ok"), [("9:00-12:00", True), ("9-12", True), ("9.00 – 12.30 Uhr", True),
                                           ("12:00-9:00", False), ("25:00-26:00", False), ("morning", False),
                                           ("", False)])
def test_course_times(typed: str, ok: bool) -> None:
    if ok:
        start, end = parse_times(typed)
        assert start < end
    else:
        with pytest.raises(Invalid):
            parse_times(typed)


def test_course_sessions_keep_their_wall_clock_time_across_dst() -> None:
    moments = session_moments([0], time(9), time(12), date(2027, 3, 22), date(2027, 4, 5), "Europe/Berlin")
    assert [start.astimezone(UTC).hour for start, _ in moments] == [8, 7, 7]  # CET, then CEST
    assert [start for start, _ in moments][1] == local(2027, 3, 29, 9, 0)


# ---------------------------------------------------------------------------------------------------------------
# CSV imports


async def _people(app: Lotse, chat: Callable[..., Chat]) -> tuple[int, int, int]:
    anna = await coordinator(app, chat, "anna")
    await newcomer(app, chat, "amal")
    await newcomer(app, chat, "olena", language="Українська")
    async with app.sessions() as session:
        ids = {p.display_name: p.id for p in (await session.scalars(select(Person))).all()}
    assert anna
    return ids["Anna"], ids["Amal"], ids["Olena"]


def write(tmp_path: Path, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / "import.csv"
    path.write_bytes(text.encode(encoding))
    return path


async def count(app: Lotse, model: type) -> int:
    async with app.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_import_appointments_reports_every_bad_line_and_imports_the_good_ones(
        app: Lotse, chat: Callable[..., Chat], clock: FakeClock, tmp_path: Path) -> None:
    anna, amal, olena = await _people(app, chat)
    path = write(tmp_path, "\n".join([
        "Teilnehmer;Art;Datum;Uhrzeit;Ort;Hinweis;Koordinator",
        f"{amal};Jobcenter;25.11.2026;10:30;Jobcenter Oldenburg, Stau 70;Pass mitbringen;{anna}",
        f"{olena};Beratung;2026-11-26;14:00;pro:connect;;",
        f"{amal};Jobcenter;25.11.2026;10:30;Jobcenter Oldenburg, Stau 70;;",  # duplicate of line 2
        "9999;Jobcenter;25.11.2026;10:30;Somewhere;;",                       # unknown participant
        f"{amal};Jobcenter;31.11.2026;10:30;Somewhere;;",                    # no such date
        f"{amal};Jobcenter;24.11.;10:30;Somewhere;;",                        # bad date
        f"{amal};Jobcenter;01.01.2020;10:30;Somewhere;;",                    # past
        f"{amal};Zahnarzt;25.11.2026;10:30;Somewhere;;",                     # unknown kind
        f"{amal};Jobcenter;25.11.2026;25:61;Somewhere;;",                    # bad time
        f"{amal};Jobcenter;27.11.2026;10:30;;",                              # no place
        f"{amal};Jobcenter;27.11.2026;10:30;Ort;;77777",                     # unknown coordinator
        "'; DROP TABLE appointments; --;Jobcenter;27.11.2026;10:30;x;;",     # looks like injection
    ]))
    report = await import_appointments(app.sessions, path, clock())
    assert report.imported == 2 and report.told == 2
    reasons = dict(report.rejected)
    assert reasons[4] == "duplicate of line 2"
    assert reasons[5].startswith("unknown participant '9999'")
    assert reasons[6] == "no such date '31.11.2026'"
    assert reasons[7].startswith("bad date '24.11.'")
    assert reasons[8] == "the date is in the past"
    assert reasons[9].startswith("unknown kind 'Zahnarzt'")
    assert reasons[10].startswith("bad time '25:61'")
    assert reasons[11] == "no place given"
    assert reasons[12].startswith("unknown coordinator '77777'")
    assert reasons[13].startswith("unknown participant")
    assert await count(app, Appointment) == 2
    async with app.sessions() as session:
        texts = [row.payload["text"] for row in (await session.scalars(select(OutboxEntry))).all()]
    assert any(t.startswith("Нова призначена зустріч (Termin): Консультація (Beratung)") for t in texts)
    again = await import_appointments(app.sessions, path, clock())  # the same file again: nothing twice
    assert again.imported == 0 and again.already == [2, 3]
    assert await count(app, Appointment) == 2
    lines = report.lines(path)
    assert lines[0].startswith("imported 2 appointment(s) from") and "(UTF-8)" in lines[0]
    assert "  line 5: unknown participant '9999' (use the number)" in lines


@pytest.mark.parametrize(("encoding", "prefix", "label"), [
    ("utf-8", b"\xef\xbb\xbf", "UTF-8 with BOM"), ("latin-1", b"", "Windows-1252/Latin-1")])
async def test_import_reads_excel_encodings(app: Lotse, chat: Callable[..., Chat], clock: FakeClock, tmp_path: Path,
                                            encoding: str, prefix: bytes, label: str) -> None:
    _anna, amal, _olena = await _people(app, chat)
    path = tmp_path / "excel.csv"
    path.write_bytes(prefix + f"participant,kind,date,time,place\n{amal},other,25.11.2026,10:30,Bürgerbüro Straße 5\n"
                     .encode(encoding))
    report = await import_appointments(app.sessions, path, clock())
    assert (report.imported, report.encoding, report.rejected) == (1, label, [])
    async with app.sessions() as session:
        assert (await session.scalars(select(Appointment))).one().place == "Bürgerbüro Straße 5"


@pytest.mark.parametrize(("content", "message"), [
    ("name,when\nAmal,tomorrow\n", "the header must name the columns participant, kind, date, time, place"),
    ("", "is empty"),
    ("\x00\x01\x02binary", "is not a CSV text file"),
])
async def test_import_refuses_a_file_it_cannot_read_and_imports_nothing(
        app: Lotse, clock: FakeClock, tmp_path: Path, content: str, message: str) -> None:
    path = write(tmp_path, content)
    with pytest.raises(ImportRefused, match=message):
        await import_appointments(app.sessions, path, clock())
    assert await count(app, Appointment) == 0


async def test_import_of_100000_lines_is_refused_whole(
        app: Lotse, chat: Callable[..., Chat], clock: FakeClock, tmp_path: Path) -> None:
    _anna, amal, _olena = await _people(app, chat)
    line = f"{amal},jobcenter,25.11.2026,10:30,Jobcenter\n"
    path = write(tmp_path, "participant,kind,date,time,place\n" + line * 100_000)
    with pytest.raises(ImportRefused, match=f"more than {MAX_ROWS} lines|the limit is"):
        await import_appointments(app.sessions, path, clock())
    assert await count(app, Appointment) == 0


async def test_a_crash_in_the_middle_of_an_import_leaves_nothing_half_imported(
        app: Lotse, chat: Callable[..., Chat], clock: FakeClock, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    import bot.jobs.imports

    _anna, amal, olena = await _people(app, chat)
    path = write(tmp_path, "participant,kind,date,time,place\n"
                 f"{amal},jobcenter,25.11.2026,10:30,A\n{olena},jobcenter,25.11.2026,11:30,B\n")
    calls = 0
    real_plan = bot.jobs.imports.plan

    async def failing_plan(*args: object, **kwargs: object) -> int:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise OSError("disk full")
        return await real_plan(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(bot.jobs.imports, "plan", failing_plan)
    with pytest.raises(OSError):
        await import_appointments(app.sessions, path, clock())
    assert await count(app, Appointment) == 0 and await count(app, Reminder) == 0
    assert await count(app, OutboxEntry) == 0 or all(
        not row.payload["text"].startswith("New appointment") for row in await _outbox(app))


async def _outbox(app: Lotse) -> list[OutboxEntry]:
    async with app.sessions() as session:
        return list((await session.scalars(select(OutboxEntry))).all())


async def test_import_courses_with_enrolments_and_holidays(
        app: Lotse, chat: Callable[..., Chat], clock: FakeClock, tmp_path: Path) -> None:
    anna, amal, olena = await _people(app, chat)
    holidays = "21.12.2026 23.12.2026"
    path = write(tmp_path, "\n".join([
        "Kurs;Niveau;Ort;Wochentage;Beginn;Ende;Erster Tag;Letzter Tag;Teilnehmer;Ausfall;Koordinator",
        f"Integrationskurs;B1;BBS Haarentor;Mo, Mi;9:00;12:00;30.11.2026;23.12.2026;{amal};{holidays};{anna}",
        f"Integrationskurs;B1;BBS Haarentor;Mo, Mi;9:00;12:00;30.11.2026;23.12.2026;{olena};{holidays};{anna}",
        f"Integrationskurs;B1;BBS Haarentor;Mo, Mi;9:00;12:00;30.11.2026;23.12.2026;{olena};{holidays};{anna}",
        f"Integrationskurs;B1;Anderswo;Mo, Mi;9:00;12:00;30.11.2026;23.12.2026;{amal};;",
        "Abendkurs;Z9;VHS;Di;18:00;20:00;01.12.2026;15.12.2026;;;",
        "Abendkurs;A1;VHS;Funday;18:00;20:00;01.12.2026;15.12.2026;;;",
        "Abendkurs;A1;VHS;Di;20:00;18:00;01.12.2026;15.12.2026;;;",
        "Abendkurs;A1;VHS;Di;18:00;20:00;01.12.2026;15.12.2026;;;",
    ]))
    report = await import_courses(app.sessions, path, clock())
    reasons = dict(report.rejected)
    assert reasons[4] == "duplicate of line 3"
    assert reasons[5] == "course 'Integrationskurs' is described differently on line 2"
    assert reasons[6].startswith("unknown level 'Z9'")
    assert reasons[7].startswith("unknown weekday 'funday'")
    assert reasons[8] == "the course ends before it starts"
    assert report.imported == 3  # two enrolments and one course without participants
    async with app.sessions() as session:
        statuses = (await session.scalars(select(CourseSession.status).join(Course).where(
            Course.name == "Integrationskurs").order_by(CourseSession.starts_at))).all()
        assert statuses.count("cancelled") == 2 and len(statuses) == 8
        assert await session.scalar(select(func.count()).select_from(Enrolment)) == 2
    again = await import_courses(app.sessions, path, clock())
    assert again.imported == 0 and again.already == [2, 3]
    await deliver_due(app.sessions, local(2026, 11, 29, 18, 0))
    assert datetime  # the holidays have no reminders:
    async with app.sessions() as session:
        held = (await session.scalars(select(Reminder).where(Reminder.event_starts_at == local(2026, 12, 21, 9, 0))
                                      )).all()
    assert held == []


def test_the_import_command_prints_a_report_or_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli import main

    monkeypatch.setenv("LOTSE_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("LOTSE_DATABASE_URL", raising=False)
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("Name,Wann\nAmal,morgen\n")
    assert main(["import", "appointments", str(wrong)]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and error[0].startswith("lotse: ") and "missing: participant, kind, date" in error[0]
    assert main(["import", "appointments", str(tmp_path / "missing.csv")]) == 2
    assert "cannot read" in capsys.readouterr().err
    unknown = tmp_path / "unknown.csv"
    unknown.write_text("participant,kind,date,time,place\n12345,jobcenter,24.11.2030,10:30,Jobcenter\n")
    assert main(["import", "appointments", str(unknown)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("imported 0 appointment(s) from") and "line 2: unknown participant '12345'" in out


async def test_a_number_after_a_new_course_picks_its_action_not_the_menu(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    """A play-tester created a course, got its actions and then the main menu: "1" opened the open questions,
    and the course's actions could not be reached by number. A flow that ends with choices of its own rests."""
    anna = await coordinator(app, chat, "anna")
    await newcomer(app, chat, "amal", language="العربية")
    await create_course_by_chat(anna)
    view = anna.last
    assert [choice.label for choice in view.choices][:1] == ["Enrol a participant"]
    await anna.send("1")
    [done, *_] = await anna.send("Amal")
    assert done.text.startswith("Amal (no. ") and done.text.endswith("is now in the course and was told.")

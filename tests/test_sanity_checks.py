"""Slips a busy coordinator makes, asked about once: a weekend or a public holiday, districts the organisation does
not cover; and what staff read (staff wording, European dates, what "open until" means)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.cli import main
from bot.core.i18n import Translator
from bot.jobs.export import headers
from bot.runtime.app import Lotse
from storage.models import Appointment, CourseSession, Invite, Person, Profile, StaffScope
from tests.chat import Chat, FakeClock, texts
from tests.test_questions import coordinator, participant
from tests.test_reminders import local, newcomer

# ---------------------------------------------------------------------------------------------------------------
# Appointments on a weekend or a public holiday


async def jobseeker(app: Lotse, chat: Callable[..., Chat], handle: str, language: str) -> Chat:
    """A newcomer whose goal is work, so that the Jobcenter is responsible for them."""
    person = await newcomer(app, chat, handle, language=language)
    async with app.sessions() as session, session.begin():
        person_id = (await session.scalars(select(Person.id).where(Person.display_name == handle.title()))).one()
        profile = await session.get_one(Profile, person_id)
        profile.answers = {**profile.answers, "goals": ["work"]}
    return person


async def test_a_saturday_appointment_is_asked_about_once_in_german(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    jan = await coordinator(app, chat, "jan", organisation="jobcenter", locale="de")
    await jobseeker(app, chat, "amal", language="العربية")
    await jan.send("/appointment")
    await jan.send("Amal")
    await jan.click("Jobcenter")
    [asked] = await jan.send("28.11. 10:00")
    assert asked.text == "28.11.2026 ist am Wochenende (Samstag).\n\nDiesen Tag behalten?\n\n" \
                         "Schreiben Sie die Nummer Ihrer Antwort."
    assert [c.label for c in asked.choices] == ["Ja", "Nein"]
    [when] = await jan.click("Nein")
    assert when.text.startswith("Wann?")
    [place] = await jan.send("30.11. 10:00")  # a Monday: nothing to ask
    assert place.text.startswith("Wo?")
    await jan.send("Jobcenter Oldenburg, Stau 70")
    await jan.send("-")
    await jan.send("ja")
    async with app.sessions() as session:
        booked = (await session.scalars(select(Appointment))).one()
    assert booked.starts_at == local(2026, 11, 30, 10, 0)


async def test_a_holiday_appointment_can_be_kept_and_moving_to_one_asks_too(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    jan = await coordinator(app, chat, "jan", organisation="jobcenter", locale="de")
    amal = await jobseeker(app, chat, "amal", language="العربية")
    await jan.send("/appointment")
    await jan.send("Amal")
    await jan.click("Jobcenter")
    [asked] = await jan.send("25.12. 10:00")
    assert asked.text.startswith("25.12.2026 ist ein Feiertag (Erster Weihnachtstag).\n\nDiesen Tag behalten?")
    [place] = await jan.click("Ja")
    assert place.text.startswith("Wo?")
    await jan.send("Jobcenter Oldenburg, Stau 70")
    await jan.send("-")
    done = texts(await jan.send("ja"))
    assert "Gebucht: Termin Nr. 1." in done and amal.last.rtl
    await jan.send("/appointment 1")
    await jan.click("Verschieben")
    [asked] = await jan.send("1.1.2027 9:00")
    assert asked.text.startswith("01.01.2027 ist ein Feiertag (Neujahr).")
    [when] = await jan.click("Nein")
    assert when.text.startswith("Auf wann?")
    await jan.send("4.1.2027 9:00")
    async with app.sessions() as session:
        moved = (await session.scalars(select(Appointment))).one()
    assert moved.starts_at == local(2027, 1, 4, 9, 0)


# ---------------------------------------------------------------------------------------------------------------
# Course sessions on public holidays


async def test_course_sessions_on_holidays_are_asked_about_and_can_be_left_out(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    anna = await coordinator(app, chat, "anna")
    await anna.send("/course")
    await anna.click("New course")
    await anna.send("Integrationskurs BBS Wechloy")
    await anna.click("A2")
    await anna.send("BBS Wechloy, Am Heidbrook 10, room 3")
    await anna.send("5")  # Fridays
    await anna.send("9:00-12:00")
    await anna.send("27.11.2026")
    [asked] = await anna.send("8.1.2027")
    assert asked.text.startswith("2 sessions fall on public holidays: 25 Dec 2026 (Erster Weihnachtstag), "
                                 "1 Jan 2027 (Neujahr).\n\nKeep these sessions?")
    assert [c.label for c in asked.choices] == ["Yes", "No"]
    [summary] = await anna.click("No")
    assert "5 sessions" in summary.text and summary.text.rstrip().endswith("Write the number of your answer.")
    await anna.send("yes")
    async with app.sessions() as session:
        sessions = (await session.scalars(select(CourseSession).order_by(CourseSession.starts_at))).all()
    assert len(sessions) == 7
    assert [s.status for s in sessions].count("cancelled") == 2
    assert {s.starts_at for s in sessions if s.status == "cancelled"} == {local(2026, 12, 25, 9, 0),
                                                                       local(2027, 1, 1, 9, 0)}


async def test_a_course_without_holidays_asks_nothing(app: Lotse, chat: Callable[..., Chat]) -> None:
    anna = await coordinator(app, chat, "anna")
    await anna.send("/course")
    await anna.click("New course")
    await anna.send("Integrationskurs BBS Wechloy")
    await anna.click("A2")
    await anna.send("BBS Wechloy, Am Heidbrook 10, room 3")
    await anna.send("1, 3")
    await anna.send("9:00-12:00")
    await anna.send("30.11.2026")
    [summary] = await anna.send("23.12.2026")
    assert summary.text.startswith("Please check the course:") and "8 sessions" in summary.text


# ---------------------------------------------------------------------------------------------------------------
# Invites for districts the organisation does not cover


async def test_an_invite_outside_the_organisations_districts_is_asked_about_in_german(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    jan = await coordinator(app, chat, "jan", organisation="jobcenter", locale="de")
    await jan.send("/invite")
    await jan.click("Koordinatorin oder Koordinator")
    await jan.click("Landkreis Vechta")
    [asked] = await jan.click("Fertig")
    assert asked.text.startswith("Jobcenter Oldenburg ist im Netzwerk nicht für Landkreis Vechta zuständig. "
                                 "Trotzdem für diese Landkreise einladen?")
    [again] = await jan.click("Nein")
    assert again.text.startswith("Für welche Landkreise und Städte?")
    await jan.click("Stadt Oldenburg")
    [topics] = await jan.click("Fertig")
    assert topics.text.startswith("Für welche Themen?")
    await jan.click("Alle Themen")
    [code, _menu] = await jan.click("Fertig")
    assert code.text.startswith("Hier ist der Einladungscode:")
    async with app.sessions() as session:
        made = (await session.scalars(select(Invite).order_by(Invite.id.desc()))).first()
    assert made is not None and made.districts == ["stadt_oldenburg"]


async def test_an_invite_outside_can_be_made_on_purpose(app: Lotse, chat: Callable[..., Chat]) -> None:
    jan = await coordinator(app, chat, "jan", organisation="jobcenter", locale="de")
    await jan.send("/invite")
    await jan.send("1")  # a volunteer
    [asked] = await jan.send("6")  # Landkreis Vechta, typed: answered at once
    assert "nicht für Landkreis Vechta zuständig" in asked.text
    await jan.click("Ja")
    [code, _menu] = await jan.send("1")  # all topics
    assert code.text.startswith("Hier ist der Einladungscode:")
    invited = chat("vera")
    await invited.send(f"/start {code.text.split(': ')[1].split()[0]}")
    async with app.sessions() as session:
        scope = (await session.scalars(select(StaffScope).order_by(StaffScope.person_id.desc()))).first()
    assert scope is not None and scope.districts == ["vechta"]


def test_lotse_invite_refuses_districts_the_organisation_does_not_cover_unless_forced(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LOTSE_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("LOTSE_DATABASE_URL", raising=False)
    arguments = ["invite", "--role", "coordinator", "--organisation", "jobcenter", "--districts", "vechta"]
    assert main(arguments) == 2
    refused = capsys.readouterr()
    assert "lotse: --districts: jobcenter does not cover vechta" in refused.err
    assert "nothing was created" in refused.err and "--force" in refused.err and "code:" not in refused.out
    assert main([*arguments, "--force"]) == 0
    assert "code: " in capsys.readouterr().out


# ---------------------------------------------------------------------------------------------------------------
# What staff read


async def test_an_english_coordinator_reads_european_dates_and_what_the_deadline_means(
        app: Lotse, chat: Callable[..., Chat], clock: FakeClock) -> None:
    ben = await coordinator(app, chat, "ben")
    amal = await participant(chat, "amal", language="العربية")
    ar = Translator("ar")
    clock.now = datetime(2026, 11, 27, 13, 0, tzinfo=UTC)  # Friday 14:00 in Oldenburg: due Monday 14:00
    await amal.send("/menu")
    await amal.click(ar("Ask a question"))
    await amal.click(app.network.topics["apprenticeship"].name["ar"])
    await amal.send("من يستطيع مساعدتي؟")
    [inbox] = await ben.send("/inbox")
    [line] = [choice.label for choice in inbox.choices]
    assert line == "#1 · Apprenticeship (Ausbildung) · take it by 30 Nov 2026, 14:00 or it goes to the lead contact"
    assert "open until" not in line and " PM" not in line


def test_the_export_for_the_network_meeting_has_staff_headers() -> None:
    english, german = headers(Translator("en")), headers(Translator("de"))
    assert {"District", "Goals", "Work of interest", "Available times"} <= set(english)
    assert {"Wohnort", "Ziele", "Berufsinteressen", "Verfügbare Zeiten"} <= set(german)
    for participant_wording in ("Your goals", "Work that interests you", "Where you live", "When you have time",
                                "Ihre Ziele", "Arbeit, die Sie interessiert"):
        assert participant_wording not in english + german

"""Match-making days, mentoring for apprentices, and the reports per company, district and cohort (issue 18)."""

from __future__ import annotations

import csv
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from bot.core.i18n import Translator
from bot.jobs.digest import build_digest, everybody
from bot.jobs.export import export_places
from bot.jobs.placements import deliver_due_follow_ups
from bot.runtime.app import Lotse
from bot.services.placement_reports import placement_counts, report_lines
from bot.services.reminders import deliver_due
from flows.cases import change_stage
from storage.models import AuditEntry, Handle, MatchingInvite, Proposal
from tests.chat import Chat, FakeClock, RecordingTransport, texts
from tests.test_companies import company_contact, post_place, tigrinya_participant
from tests.test_intake import staff

TI = Translator("ti")
METALLBAU = "Metallbau Janssen GmbH, Westerstede"


async def person_id(app: Lotse, handle: str) -> int:
    async with app.sessions() as session:
        return (await session.scalars(select(Handle.person_id).where(Handle.platform_id == handle,
                                                                     Handle.transport == "test"))).one()


async def run_rounds(app: Lotse, clock: FakeClock) -> None:
    await deliver_due(app.sessions, clock())
    await deliver_due_follow_ups(app.sessions, app.network, clock())
    await app.drain()


async def plan_day(tom: Chat) -> int:
    """Tom plans a match-making day on 1 December in Westerstede with Metallbau Janssen, field metal work."""
    [when] = await tom.send("/matchingday")
    assert when.text.startswith("When?")
    await tom.send("01.12. 10:00")
    await tom.send("Rathaus Westerstede, Am Markt 1")
    await tom.click(next(label for label in tom.buttons() if label.startswith("Ammerland")))
    await tom.send(str(tom.buttons().index(METALLBAU) + 1))
    [summary] = await tom.send("1")  # metal work
    assert summary.text.startswith("Match-making day (Matching): ")
    assert f"Companies: {METALLBAU}" in summary.text and "Fields: Metal work (Metall)" in summary.text
    [ranked] = await tom.click("Yes")
    assert "Participants who fit, the best first:" in ranked.text
    return int(ranked.text.split("match-making day no. ")[1].split(".")[0])


async def test_a_match_making_day_from_invitation_to_a_proposal(
        app: Lotse, chat: Callable[..., Chat], transport: RecordingTransport, clock: FakeClock) -> None:
    tom = await staff(app, transport, "tom")
    kai = await company_contact(app, chat, "kai")
    eva = await company_contact(app, chat, "eva", "elektro_oldenburg")
    place = await post_place(kai)
    yonas = await tigrinya_participant(chat)
    amal = await tigrinya_participant(chat, "amal", share=False)
    yonas_id, amal_id = await person_id(app, "yonas"), await person_id(app, "amal")

    day = await plan_day(tom)
    ranked = tom.last
    assert "Yonas (no. " in ranked.text and "Amal (no. " in ranked.text
    assert "interested in Metal work (Metall)" in ranked.text
    [sent, _menu] = await tom.send("1, 2")
    assert sent.text == f"Invitations sent: 2. See who is coming with /matchingday {day}."

    # The invitation in Tigrinya; a yes books an appointment with the usual reminders.
    invitation = yonas.last
    assert invitation.locale == "ti" and TI("Would you like to come?") in invitation.text
    assert "Rathaus Westerstede" in invitation.text and "(Matching)" in invitation.text
    [booked] = await yonas.click(TI("Yes"))
    assert booked.locale == "ti" and "Rathaus Westerstede" in booked.text
    await amal.click(TI("Yes"))
    [again] = await amal.click(TI("No"))
    assert again.text == TI("You have already answered this offer. Thank you.")

    # The company taking part sees who is coming by the consent rules; another company sees nothing.
    coming, _menu = await kai.send(f"/matchingday {day}")
    assert "Invited: 2, coming: 2, not coming: 0" in coming.text
    assert f"Yonas (no. {yonas_id})" in coming.text and f"candidate no. {amal_id}" in coming.text
    assert "Amal" not in coming.text and "German level: A2" in coming.text
    [refused, _menu] = await eva.send(f"/matchingday {day}")
    assert refused.text == f"I found no match-making day with the number {day}."

    # The evening before: the participants' reminders and the company's.
    clock.now = datetime(2026, 11, 30, 17, 0, tzinfo=UTC)
    before_yonas, before_kai = len(yonas.history), len(kai.history)
    await run_rounds(app, clock)
    assert len(yonas.history) == before_yonas + 1
    [reminder] = kai.history[before_kai:]
    assert reminder.text.startswith(f"Reminder: tomorrow is match-making day no. {day}")
    assert "Coming: 2." in reminder.text

    # Afterwards each side says whom they want to meet again; the mutual wish becomes an offer.
    clock.now = datetime(2026, 12, 1, 15, 30, tzinfo=UTC)
    await run_rounds(app, clock)
    wish = yonas.last
    assert wish.locale == "ti" and METALLBAU in [c.label for c in wish.choices]
    asked = kai.last
    assert [c.label for c in asked.choices] == [f"Yonas (no. {yonas_id})", f"candidate no. {amal_id}"]
    [noted] = await yonas.click(METALLBAU)
    assert noted.locale == "ti"
    before_yonas = len(yonas.history)
    await kai.click(f"candidate no. {amal_id}")  # Amal did not wish: no offer
    [noted_kai, *_] = await kai.click(f"Yonas (no. {yonas_id})")
    assert noted_kai.text == f"Noted: candidate no. {yonas_id}. You can tap another one too."
    [offer] = yonas.history[before_yonas:]
    assert TI("Would you like to go?") in offer.text
    assert f"The offer of place no. {place} was sent." in tom.last.text
    await yonas.click(TI("Yes"))
    assert kai.last.text.startswith(f"Candidate for place no. {place}: Yonas (no. ")

    # Forged or stale wish buttons do nothing: another company, or a participant who did not come.
    [stale] = await eva.press_raw(asked.choices[0].key)
    assert stale.text == "This button belongs to an earlier question and no longer works."
    async with app.sessions() as session:
        proposals = (await session.scalars(select(Proposal))).all()
        assert [(p.participant_id, p.status) for p in proposals] == [(yonas_id, "wants")]
        assert {i.status for i in (await session.scalars(select(MatchingInvite))).all()} == {"yes"}
        audited = (await session.scalars(select(AuditEntry.details).where(
            AuditEntry.action == "company.matching_day.attendee", AuditEntry.subject_id == amal_id))).all()
        assert audited and audited[0]["name_shared"] is False


async def test_mentoring_warns_the_mentor_and_the_coordinator_early(
        app: Lotse, chat: Callable[..., Chat], transport: RecordingTransport, clock: FakeClock) -> None:
    tom = await staff(app, transport, "tom")
    kai = await company_contact(app, chat, "kai")
    yonas = await tigrinya_participant(chat)
    yonas_id = await person_id(app, "yonas")
    [not_yet, *_] = await tom.send(f"/mentor {yonas_id}")
    assert not_yet.text == f"Yonas (no. {yonas_id}) is not in an apprenticeship (Ausbildung)."
    async with app.sessions() as session, session.begin():
        await change_stage(session, yonas_id, "apprenticeship", None, clock(), reason="contract signed")

    # The round notices the new apprentice and asks the coordinator for a mentor.
    await run_rounds(app, clock)
    assert tom.last.text == (f"Yonas (no. {yonas_id}) started an apprenticeship (Ausbildung). Please assign a "
                             f"mentor: /mentor {yonas_id}")
    [who, *_] = await tom.send(f"/mentor {yonas_id}")
    assert who.text.startswith("Who will be the mentor?")
    kai_id = await person_id(app, "kai")
    await tom.click(next(label for label in tom.buttons() if f"(no. {kai_id}) – Metallbau" in label))
    before_kai = len(kai.history)
    [done, *_] = await tom.send("BBS Ammerland")
    assert f"is now the mentor of Yonas (no. {yonas_id})" in done.text
    assert kai.history[before_kai].text.startswith(f"You are now the mentor of Yonas (no. {yonas_id})")

    # Four weeks later Yonas is asked in Tigrinya; "a problem" warns the mentor and the coordinator at once.
    clock.advance(days=28, hours=1)
    await run_rounds(app, clock)
    assert yonas.last.text == TI("How is your {kind} going? Please tap a button.",
                                 kind=TI("Apprenticeship (Ausbildung)"))
    before_tom, before_kai = len(tom.history), len(kai.history)
    [more, *_] = await yonas.click(TI("I have a problem"))
    assert more.locale == "ti"
    warning = 'Early warning (Ausbildung): Yonas (no. {}) answered the check-in with "I have a problem".'
    assert warning.format(yonas_id) in texts(tom.history[before_tom:])
    assert warning.format(yonas_id) in texts(kai.history[before_kai:])
    [thanks, *_] = await yonas.send("ሓላፊ ወትሩ ይጭድር")
    assert thanks.text == TI("Thank you for telling us. Your coordinator will get in touch.")
    assert f"Yonas (no. {yonas_id}) adds: ሓላፊ ወትሩ ይጭድር" in texts(tom.history[before_tom:])

    # Two check-ins in a row without an answer: the second warning.
    for _ in range(3):
        clock.advance(days=28)
        await run_rounds(app, clock)
    assert f"Early warning (Ausbildung): Yonas (no. {yonas_id}) has not answered two check-ins in a row." in texts(
        tom.history[-3:])

    # The digest, /case and the report show it.
    async with app.sessions() as session:
        sections = await build_digest(session, Translator("en"), app.network, everybody(), clock())
        mentoring = next(s for s in sections if s.heading == "Apprentices: mentoring and early warnings")
        assert any("two check-ins unanswered" in line for line in mentoring.lines)
        cohorts = await placement_counts(session, "cohort")
        assert sum(numbers[5] for numbers in cohorts.values()) == 2
    case, _menu = await tom.send(f"/case {yonas_id}")
    assert "Places, match-making days and mentoring" in case.text
    assert "Mentor: Kai" in case.text and "BBS Ammerland" in case.text and "I have a problem ⚠" in case.text


async def test_company_contacts_cannot_plan_days_nor_assign_mentors(
        app: Lotse, chat: Callable[..., Chat], transport: RecordingTransport) -> None:
    kai = await company_contact(app, chat, "kai")
    [none, _menu] = await kai.send("/matchingday")
    assert none.text == "No match-making days for you yet."
    [refused, *_] = await kai.send("/mentor 1")
    assert refused.text == "This is not available for you."
    [bad, _menu] = await kai.send("/matchingday ‮٣'; DROP TABLE--")
    assert bad.text.startswith("I found no match-making day with the number ")


async def test_reports_and_the_places_export(
        app: Lotse, chat: Callable[..., Chat], transport: RecordingTransport, clock: FakeClock,
        tmp_path: Path) -> None:
    tom = await staff(app, transport, "tom")
    kai = await company_contact(app, chat, "kai")
    place = await post_place(kai)
    await tigrinya_participant(chat)
    await tom.send(f"/place {place}")
    await tom.click("Propose participants")
    await tom.send("1")
    path = tmp_path / "places.csv"
    assert await export_places(app.sessions, app.network, path, "csv", "en") == 1
    with path.open(encoding="utf-8-sig") as file:
        header, row = list(csv.reader(file, delimiter=";"))
    assert header[:3] == ["Number", "Company", "Kind"] and header[-3:] == ["Proposed", "Accepted", "Started"]
    assert row[:3] == [str(place), METALLBAU, "Internship (Praktikum)"] and row[-3:] == ["1", "0", "0"]
    async with app.sessions() as session:
        lines = await report_lines(session, Translator("en"), app.network)
    assert "By district:" in lines and "By cohort (quarter of registration):" in lines
    assert any(line.startswith("Ammerland") and "places: 1, proposed: 1" in line for line in lines)
    assert any(line.startswith("2026-Q4 – places: 1, proposed: 1") for line in lines)

"""Match-making days, mentoring for apprentices, and the reports per company, district and cohort (issue 18)."""

from __future__ import annotations

import csv
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.core.i18n import Translator
from bot.jobs.digest import build_digest, everybody
from bot.jobs.export import export_places
from bot.jobs.placements import deliver_due_follow_ups
from bot.runtime.app import Lotse
from bot.services.placement_reports import placement_counts, report_lines
from bot.services.reminders import deliver_due
from flows.cases import change_stage
from flows.invites import create_invite
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

    # Afterwards the coordinator records who came (Yonas did, Amal did not); only then, and only those who came,
    # are asked whom they want to meet again; the mutual wish becomes an offer.
    clock.now = datetime(2026, 12, 1, 15, 30, tzinfo=UTC)
    before_yonas, before_amal, before_kai = len(yonas.history), len(amal.history), len(kai.history)
    await run_rounds(app, clock)
    assert len(yonas.history) == before_yonas and len(kai.history) == before_kai
    assert tom.last.text.startswith(f"Match-making day no. {day} is over. Who came?")
    [who] = await tom.click("Who came?")
    assert [c.label for c in who.choices] == [f"Yonas (no. {yonas_id})", f"Amal (no. {amal_id})", "Nobody came"]
    [unclear, again] = await tom.send("7")
    assert unclear.text == "Please answer with one or more numbers from 1 to 3, like 1, 3."
    assert again.text.startswith("Who came?") and len(again.choices) == 3
    [came, _menu] = await tom.send("1")
    assert came.text == "Noted: 1 of 2 came."
    assert len(amal.history) == before_amal
    wish = yonas.last
    assert wish.locale == "ti" and METALLBAU in [c.label for c in wish.choices]
    asked = kai.last
    assert [c.label for c in asked.choices] == [f"Yonas (no. {yonas_id})"]
    [noted] = await yonas.click(METALLBAU)
    assert noted.locale == "ti"
    before_yonas = len(yonas.history)
    [stale] = await amal.press_raw(wish.choices[0].key)  # Amal did not come: her wish does not count
    assert stale.text == TI("This button belongs to an earlier question and no longer works.")
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
        invites = (await session.scalars(select(MatchingInvite).order_by(MatchingInvite.id))).all()
        assert [(i.status, i.attended) for i in invites] == [("yes", True), ("yes", False)]
        lines = await report_lines(session, Translator("en"), app.network)
        assert "Match-making days: 1, invited: 2, said yes: 2, came: 1" in lines
        sections = await build_digest(session, Translator("en"), app.network, everybody(), clock())
        placements = next(s for s in sections if s.heading == "Places and matches")
        assert "Match-making days: 1, invited: 2, said yes: 2, came: 1" in placements.lines
        audited = (await session.scalars(select(AuditEntry.details).where(
            AuditEntry.action == "company.matching_day.attendee", AuditEntry.subject_id == amal_id))).all()
        assert audited and audited[0]["name_shared"] is False


@pytest.mark.parametrize(("typed", "shown"), [("Mon 14:00", "Monday, 23 November 2026, 14:00"),
                                             ("tomorrow 9:00", "Tuesday, 24 November 2026, 09:00"),
                                             ("morgen 9 Uhr", "Tuesday, 24 November 2026, 09:00")])
async def test_the_match_making_days_own_examples_are_understood(
        app: Lotse, transport: RecordingTransport, typed: str, shown: str) -> None:
    """Found by a newcomer: the prompt's "Mo 14:00" and "morgen 9 Uhr" were refused, and its fixed "24.11." had
    passed (and was quietly taken as next year's)."""
    tom = await staff(app, transport, "tom")
    [when] = await tom.send("/matchingday")
    assert when.text == "When? For example: Mon 14:00, 30.11. 10:30 or tomorrow 9:00."
    [past, _again] = await tom.send("20.11. 10:00")
    assert past.text.startswith("This date has passed. If you mean next year")
    [site] = await tom.send(typed)
    assert site.text.startswith("What is the address of the site")
    await tom.send("Rathaus Westerstede, Am Markt 1")
    await tom.click(next(label for label in tom.buttons() if label.startswith("Ammerland")))
    await tom.send(str(tom.buttons().index(METALLBAU) + 1))
    [summary] = await tom.send("1")
    assert shown in summary.text


async def test_a_match_making_day_moved_and_then_cancelled_in_the_chat(
        app: Lotse, chat: Callable[..., Chat], transport: RecordingTransport, clock: FakeClock) -> None:
    tom = await staff(app, transport, "tom")
    kai = await company_contact(app, chat, "kai")
    yonas = await tigrinya_participant(chat)
    amal = await tigrinya_participant(chat, "amal", share=False)
    yonas_id = await person_id(app, "yonas")
    day = await plan_day(tom)
    await tom.send("1, 2")
    await yonas.click(TI("Yes"))  # Amal has not answered yet
    invitation = amal.last

    # The coordinator moves the day; bad input gets a short answer and the question again.
    [shown] = await tom.send(f"/matchingday {day}")
    assert [c.label for c in shown.choices] == ["Move the day", "Cancel the day"]
    [when] = await tom.click("Move the day")
    assert when.text.startswith("To when?")
    for bad in ("", "🙂🙂", "‮٣ ٠١:٠٠", "'; DROP TABLE matching_days; --", "x" * 5000, "32.13. 25:00"):
        [hint, again] = await tom.send(bad)
        assert hint.text.split()[0] in ("Your", "Please", "That", "There"), hint.text
        assert again.text == "To when? For example: Mon 14:00, 30.11. 10:30 or tomorrow 9:00."  # from today
    [past, _again] = await tom.send("01.01.2026 10:00")
    assert past.text.startswith("This moment is in the past.")
    [moved, _menu] = await tom.send("03.12. 14:00")
    assert moved.text.startswith(f"Match-making day no. {day} is now on ")
    assert "People told: 4." in moved.text  # Yonas, Amal, Kai and the example network's persona of Kai

    # Everyone invited is told in their language: Yonas (coming) with the reminder buttons, Amal with the
    # invitation's buttons again, and the company.
    told = yonas.last
    assert told.locale == "ti" and told.text.startswith(TI("The match-making day (Matching) was moved."))
    assert "Rathaus Westerstede" in told.text
    assert amal.last.locale == "ti" and [c.label for c in amal.last.choices] == [TI("Yes"), TI("No")]
    assert kai.last.text.startswith(f"Match-making day no. {day} was moved to ")
    assert "Coming so far: 1." in kai.last.text

    # No reminder for the old time; exactly one of each for the new time.
    clock.now = datetime(2026, 11, 30, 17, 30, tzinfo=UTC)
    before_yonas, before_kai = len(yonas.history), len(kai.history)
    await run_rounds(app, clock)
    assert len(yonas.history) == before_yonas and len(kai.history) == before_kai
    clock.now = datetime(2026, 12, 2, 17, 30, tzinfo=UTC)
    await run_rounds(app, clock)
    await run_rounds(app, clock)
    [reminder] = yonas.history[before_yonas:]
    assert reminder.locale == "ti"
    [company_reminder] = kai.history[before_kai:]
    assert company_reminder.text.startswith(f"Reminder: tomorrow is match-making day no. {day}")

    # Amal's earlier invitation still works and books the new time.
    [booked] = await amal.press_raw(invitation.choices[0].key)
    assert booked.locale == "ti"

    # Then it is cancelled: "maybe" asks again; everyone is told; the reminders stop; old buttons do nothing.
    await tom.send(f"/matchingday {day}")
    [sure] = await tom.click("Cancel the day")
    assert sure.text.startswith(f"Cancel match-making day no. {day}?")
    [hint, again] = await tom.send("vielleicht")
    assert hint.text == "Please answer with a number from 1 to 2." and again.text == sure.text
    before_yonas = len(yonas.history)
    [cancelled, _menu] = await tom.click("Yes")
    assert cancelled.text == f"Match-making day no. {day} is cancelled. People told: 4."
    [gone] = yonas.history[before_yonas:]
    assert gone.locale == "ti" and "Rathaus Westerstede" in gone.text
    assert kai.last.text.startswith(f"Match-making day no. {day} on ") and kai.last.text.endswith("is cancelled.")
    clock.now = datetime(2026, 12, 3, 11, 30, tzinfo=UTC)
    before_yonas = len(yonas.history)
    await run_rounds(app, clock)
    assert len(yonas.history) == before_yonas
    [stale] = await tom.press_raw(shown.choices[0].key)
    assert stale.text == "This button belongs to an earlier question and no longer works."
    [shown_again, _menu] = await tom.send(f"/matchingday {day}")
    assert "Cancelled." in shown_again.text and not shown_again.choices
    case, _menu = await tom.send(f"/case {yonas_id}")
    assert f"Match-making day no. {day}" in case.text and "(cancelled)" in case.text
    async with app.sessions() as session:
        actions = (await session.scalars(select(AuditEntry.action).where(
            AuditEntry.action.like("matching_day.%")))).all()
        assert "matching_day.moved" in actions and "matching_day.cancelled" in actions


async def test_who_came_recorded_during_the_day_lets_the_wishes_go_out_on_time(
        app: Lotse, chat: Callable[..., Chat], transport: RecordingTransport, clock: FakeClock) -> None:
    tom = await staff(app, transport, "tom")
    kai = await company_contact(app, chat, "kai")
    yonas = await tigrinya_participant(chat)
    day = await plan_day(tom)
    await tom.send("1")
    await yonas.click(TI("Yes"))
    [before] = await tom.send(f"/matchingday {day}")
    assert "Who came?" not in [c.label for c in before.choices]  # not before the day began
    clock.now = datetime(2026, 12, 1, 11, 0, tzinfo=UTC)
    [during] = await tom.send(f"/matchingday {day}")
    assert [c.label for c in during.choices] == ["Who came?"]
    await tom.click("Who came?")
    [noted, _menu] = await tom.send("1")
    assert noted.text == "Noted: 1 of 1 came."
    [shown] = await tom.send(f"/matchingday {day}")
    assert "Came: 1 of 1" in shown.text and "  came" in shown.text
    clock.now = datetime(2026, 12, 1, 15, 30, tzinfo=UTC)
    before_tom = len(tom.history)
    await run_rounds(app, clock)
    assert yonas.last.locale == "ti" and METALLBAU in [c.label for c in yonas.last.choices]
    assert kai.last.text.startswith(f"Whom from match-making day no. {day} would you like to meet again?")
    assert not any("is over" in m.text for m in tom.history[before_tom:])


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
    assert header[:3] == ["Number", "Company", "Kind"]
    assert header[-4:] == ["Proposed", "Accepted", "Started", "Contracts"]
    assert row[:3] == [str(place), METALLBAU, "Internship (Praktikum)"] and row[-4:] == ["1", "0", "0", "0"]
    async with app.sessions() as session:
        lines = await report_lines(session, Translator("en"), app.network)
    assert "By district:" in lines and "By cohort (quarter of registration):" in lines
    assert any(line.startswith("Ammerland") and "places: 1 (open: 1), proposed: 1" in line for line in lines)
    assert any(line.startswith("2026-Q4 – places: 1 (open: 1), proposed: 1") for line in lines)

    # /stats: the funnel, then the same lines; a coordinator whose organisation works elsewhere sees none of them.
    stats, _menu = await tom.send("/stats")
    assert "Places, proposals and matches" in stats.text
    assert (f"{METALLBAU} – places: 1 (open: 1), proposed: 1, accepted: 0, started: 0, Ausbildung or job "
            "offered: 0, contracts signed: 0, drop-out warnings: 0, drop-outs: 0") in stats.text
    async with app.sessions() as session, session.begin():
        code, _ = await create_invite(session, app.network, clock(), "coordinator", "jobcenter",
                                      ["work"], ["landkreis_oldenburg"], locale="en")
    lena = chat("lena")
    await lena.send(f"/start {code}")
    elsewhere, _menu = await lena.send("/stats")
    assert elsewhere.text.startswith("Your participants (") and "Progress toward the goal" in elsewhere.text \
        and METALLBAU not in elsewhere.text
    assert "Places, proposals and matches" not in elsewhere.text

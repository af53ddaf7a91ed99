"""A signed contract is an event of its own, and a mentorship can be ended by hand (issue 18, after review)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from bot.core.config import load_settings
from bot.core.i18n import Translator
from bot.jobs.digest import build_digest, everybody
from bot.jobs.placements import deliver_due_follow_ups, next_follow_up
from bot.runtime.app import Lotse
from bot.services.placement_reports import report_lines
from bot.services.progress import PLACED, count_funnel, funnel_text
from bot.services.stages import reason_text
from storage.models import AuditEntry, Contract, MentoringCheckIn, Mentorship, StageChange
from tests.chat import Chat, FakeClock, RecordingTransport, texts
from tests.test_companies import company_contact, post_place, tigrinya_participant
from tests.test_intake import staff
from tests.test_matching_and_mentoring import METALLBAU, person_id, run_rounds

TI = Translator("ti")
START_PROMPT = "On which day does it start? For example 01.08.2027."
NOT_YOURS = "Nobody with this name or number is among your cases."


async def record_apprenticeship(tom: Chat, participant_id: int, day: str = "01.08.2027") -> list[str]:
    """Tom records from the case: Metallbau Janssen, Ausbildung, from `day`; returns the texts he got."""
    [employer] = await tom.send(f"/contract {participant_id}")
    assert employer.text.startswith("Which employer?")
    assert METALLBAU in tom.buttons() and tom.buttons()[-1] == "another employer"
    [kind] = await tom.click(METALLBAU)
    assert kind.text.startswith("Which contract was signed?")
    assert tom.buttons() == ["Apprenticeship (Ausbildung)", "Job subject to social insurance (SVB)",
                             "Entry qualification (Einstiegsqualifizierung)"]
    [start] = await tom.click("Apprenticeship (Ausbildung)")
    assert start.text.startswith(START_PROMPT)
    [summary] = await tom.send(day)
    assert f"Contract signed: Yonas (no. {participant_id})" in summary.text
    assert "Contract: Apprenticeship (Ausbildung)" in summary.text and f"Employer: {METALLBAU}" in summary.text
    return [m.text for m in await tom.click("Yes")]


async def test_a_coordinator_records_a_signed_apprenticeship_from_the_case(
        app: Lotse, chat: Callable[..., Chat], transport: RecordingTransport, clock: FakeClock) -> None:
    tom = await staff(app, transport, "tom")
    await company_contact(app, chat, "kai")
    yonas = await tigrinya_participant(chat)
    yonas_id = await person_id(app, "yonas")

    case, _menu = await tom.send(f"/case {yonas_id}")
    assert f"Contract signed? Record it: /contract {yonas_id}" in case.text
    [how, *_] = await tom.send("/contract")
    assert how.text == "Please write the participant's number, for example /contract 12."
    [nobody, *_] = await tom.send("/contract 99999")
    assert nobody.text == NOT_YOURS

    # The first day: bad answers get a short hint and the question again; a day far in the past is a typing mistake.
    await tom.send(f"/contract {yonas_id}")
    await tom.click(METALLBAU)
    await tom.click("Apprenticeship (Ausbildung)")
    for bad, hint in (("🙂🙂", "Please write a date like "), ("‮١٫٨٫٢٠٢٧", "Please write a date like "),
                      ("'; DROP TABLE contracts; --", "Please write a date like "),
                      ("31.02.2027", "There is no such date. Please check the day and the month."),
                      ("01.08.2020", "This day is more than a year ago. Please check the year."),
                      ("01.08.2031", "Please choose a date within the next two years."),
                      ("", "Your message was empty. Please write your answer."),
                      ("x" * 5000, "That is too long. Please write at most 40 characters.")):
        [answer, again] = await tom.send(bad)
        assert answer.text.startswith(hint), (bad[:20], answer.text)
        assert again.text.startswith(START_PROMPT), again.text
    [summary] = await tom.send("01.08.2027")
    assert "First day: 1 August 2027\n\nRecord this contract?" in summary.text
    before_yonas = len(yonas.history)
    answers = await tom.click("Yes")
    said = [m.text for m in answers]
    assert said[0] == (f"Recorded: Yonas (no. {yonas_id}) signed a contract (Apprenticeship (Ausbildung)) from "
                       "1 August 2027. Stage: Apprenticeship (Ausbildung).")
    assert said[1] == "An apprenticeship (Ausbildung) can have a mentor. Assign one now?"
    assert [c.label for c in answers[1].choices] == ["Assign a mentor"]  # then the menu, as after every flow

    # Yonas is told in Tigrinya; the stage moved with a dated entry; the funnel and the reports count the contract.
    [told] = yonas.history[before_yonas:]
    assert told.locale == "ti" and told.text == TI(
        "Congratulations! Your contract is recorded: {kind} from {date}. We wish you a good start.",
        kind=TI("Apprenticeship (Ausbildung)"), date=TI.date(datetime(2027, 8, 1).date()))
    async with app.sessions() as session:
        change = (await session.scalars(select(StageChange).where(StageChange.participant_id == yonas_id)
                                        .order_by(StageChange.id.desc()).limit(1))).one()
        assert (change.to_stage, change.at) == ("apprenticeship", clock.now)
        assert reason_text(Translator("en"), change.reason) == (
            "contract signed: Apprenticeship (Ausbildung), first day 1 Aug 2027")
        funnel = await count_funnel(session, app.network)
        assert funnel.total[PLACED] == 1 and funnel.contracts == {"ausbildung": 1}
        assert "Signed contracts: Ausbildung 1, job (SVB) 0, EQ 0" in funnel_text(Translator("en"), app.network,
                                                                                   funnel)
        lines = await report_lines(session, Translator("en"), app.network)
        assert any(line.startswith(METALLBAU) and "Ausbildung or job offered: 0, contracts signed: 1," in line
                   for line in lines)
        sections = await build_digest(session, Translator("en"), app.network, everybody(),
                                      clock() + timedelta(minutes=1))
        placements = next(s for s in sections if s.heading == "Places and matches")
        assert (f"Yonas (no. {yonas_id}): contract signed (Apprenticeship (Ausbildung), {METALLBAU}) from "
                "1 Aug 2027") in placements.lines
        assert (await session.scalars(select(AuditEntry.action).where(
            AuditEntry.subject_id == yonas_id, AuditEntry.action == "contract.recorded"))).all()

    # The same contract twice is refused; /case shows it; the mentor is assigned from the button.
    again = await record_apprenticeship(tom, yonas_id)
    assert again[0] == "This contract is already recorded."
    case, _menu = await tom.send(f"/case {yonas_id}")
    assert f"Contract signed (Apprenticeship (Ausbildung), {METALLBAU}) from 1 Aug 2027, recorded " in case.text
    assert "Stage: Apprenticeship (Ausbildung)" in case.text
    before_tom = len(tom.history)
    await run_rounds(app, clock)  # the mentorship is open already: no second "please assign a mentor"
    assert not any("Please assign a mentor" in m.text for m in tom.history[before_tom:])
    [who, *_] = await tom.click("Assign a mentor")
    assert who.text.startswith("Who will be the mentor?")


async def test_a_company_records_the_contract_of_its_own_match_without_seeing_a_name_it_may_not(
        app: Lotse, chat: Callable[..., Chat], transport: RecordingTransport, clock: FakeClock) -> None:
    tom = await staff(app, transport, "tom")
    kai = await company_contact(app, chat, "kai")
    eva = await company_contact(app, chat, "eva", "elektro_oldenburg")
    number = await post_place(kai)
    amal = await tigrinya_participant(chat, "amal", share=False)
    amal_id = await person_id(app, "amal")
    [refused, *_] = await kai.send(f"/contract {amal_id}")  # not a match of Kai's company yet
    assert refused.text == NOT_YOURS
    await tom.send(f"/place {number}")
    await tom.click("Propose participants")
    await tom.send("1")
    await amal.click(TI("Yes"))
    await kai.click("Accept")

    [shown] = await kai.send(f"/place {number}")
    assert [c.label for c in shown.choices][-1] == "Contract signed"
    contract_key = shown.choices[-1].key
    [stale] = await eva.press_raw(contract_key)  # another company, even with the button's data
    assert stale.text == "This button belongs to an earlier question and no longer works."
    [not_eva, *_] = await eva.send(f"/contract {amal_id}")
    assert not_eva.text == NOT_YOURS

    [kind] = await kai.click("Contract signed")
    assert kind.text.startswith("Which contract was signed?")
    await kai.click("Job subject to social insurance (SVB)")
    [summary] = await kai.send("01.03.2027")
    assert f"Contract signed: candidate no. {amal_id}" in summary.text and "Amal" not in summary.text
    before_tom, before_amal = len(tom.history), len(amal.history)
    [recorded, *_] = await kai.click("Yes")
    assert recorded.text == (f"Recorded: candidate no. {amal_id} signed a contract (Job subject to social insurance "
                             "(SVB)) from 1 March 2027. Stage: Employment (SVB).")
    told_tom = texts(tom.history[before_tom:])
    assert (f"{METALLBAU} recorded a signed contract for Amal (no. {amal_id}): Job subject to social insurance "
            "(SVB) from 1 March 2027.") in told_tom
    assert not any(m.choices for m in tom.history[before_tom:])  # a job has no mentor to assign
    [told_amal] = amal.history[before_amal:]
    assert told_amal.locale == "ti" and TI("Job subject to social insurance (SVB)") in told_amal.text
    async with app.sessions() as session:
        contract = (await session.scalars(select(Contract))).one()
        assert (contract.kind, contract.organisation, contract.place_id, contract.starts_on,
                contract.recorded_at) == ("svb", "metallbau_westerstede", number, "2027-03-01", clock.now)
        funnel = await count_funnel(session, app.network)
        assert funnel.total[PLACED] == 1 and funnel.contracts == {"svb": 1}
        audited = (await session.scalars(select(AuditEntry.action).where(AuditEntry.actor_id.is_not(None)))).all()
        assert "company.contract.candidates" in audited and "contract.recorded" in audited

    # Recorded by mistake: another company cannot withdraw it; Kai can, and the stage goes back where it was.
    undo = next(c for c in recorded.choices if c.label == "Withdraw (recorded by mistake)")
    [stale] = await eva.press_raw(undo.key)
    assert stale.text == "This button belongs to an earlier question and no longer works."
    [withdrawn, *_] = await kai.click("Withdraw (recorded by mistake)")
    assert withdrawn.text == (f"Withdrawn: the contract of candidate no. {amal_id} (Job subject to social insurance "
                              "(SVB)). Stage: Matching.")
    [again] = await kai.press_raw(undo.key)
    assert again.text == "This button belongs to an earlier question and no longer works."
    async with app.sessions() as session:
        assert (await session.scalars(select(Contract))).all() == []
        assert (await count_funnel(session, app.network)).total[PLACED] == 0
        change = (await session.scalars(select(StageChange).where(StageChange.participant_id == amal_id)
                                        .order_by(StageChange.id.desc()).limit(1))).one()
        assert (change.from_stage, change.to_stage) == ("employment", "matching")
        assert reason_text(Translator("en"), change.reason) == (
            "contract withdrawn (recorded by mistake): contract signed: Job subject to social insurance (SVB), "
            "first day 1 Mar 2027")


async def test_an_offer_in_the_check_in_is_a_separate_line_until_the_contract_is_signed(
        app: Lotse, chat: Callable[..., Chat], transport: RecordingTransport, clock: FakeClock) -> None:
    tom = await staff(app, transport, "tom")
    kai = await company_contact(app, chat, "kai")
    number = await post_place(kai)
    yonas = await tigrinya_participant(chat)
    yonas_id = await person_id(app, "yonas")
    await tom.send(f"/place {number}")
    await tom.click("Propose participants")
    await tom.send("1")
    await yonas.click(TI("Yes"))
    await kai.click("Accept")
    clock.now = datetime(2027, 1, 25, 15, 30, tzinfo=UTC)
    await run_rounds(app, clock)
    await kai.click("Answer now")
    await kai.click("Yes")
    await kai.click("Yes")
    [thanks, _menu] = await kai.click("Apprenticeship (Ausbildung)")
    assert thanks.text == (f"Thank you! This helps us a lot. When the contract is signed, tap \"Contract signed\" "
                           f"under /place {number}.")
    assert f"When the contract is signed, please record it: /contract {yonas_id}" in texts(tom.history[-3:])
    async with app.sessions() as session:
        funnel = await count_funnel(session, app.network)
        assert funnel.total[PLACED] == 0 and funnel.total[PLACED - 1] == 1  # in a Praktikum, not yet the goal
        lines = await report_lines(session, Translator("en"), app.network)
        assert any(line.startswith(METALLBAU) and "Ausbildung or job offered: 1, contracts signed: 0," in line
                   for line in lines)
    await kai.send(f"/place {number}")
    await kai.click("Contract signed")
    await kai.click("Apprenticeship (Ausbildung)")
    await kai.send("01.08.2027")
    await kai.click("Yes")
    assert "Assign a mentor" in [c.label for c in tom.last.choices]
    async with app.sessions() as session:
        funnel = await count_funnel(session, app.network)
        assert funnel.total[PLACED] == 1
        lines = await report_lines(session, Translator("en"), app.network)
        assert any(line.startswith(METALLBAU) and "Ausbildung or job offered: 1, contracts signed: 1," in line
                   for line in lines)


async def test_the_mentor_ends_a_mentorship_after_a_drop_out_and_no_check_in_follows_even_after_a_restart(
        app: Lotse, chat: Callable[..., Chat], transport: RecordingTransport, clock: FakeClock,
        tmp_path: Path) -> None:
    tom = await staff(app, transport, "tom")
    kai = await company_contact(app, chat, "kai")
    eva = await company_contact(app, chat, "eva", "elektro_oldenburg")
    yonas = await tigrinya_participant(chat)
    yonas_id, kai_id = await person_id(app, "yonas"), await person_id(app, "kai")
    await record_apprenticeship(tom, yonas_id)
    await tom.click("Assign a mentor")
    await tom.click(next(label for label in tom.buttons() if f"(no. {kai_id}) – Metallbau" in label))
    await tom.send("BBS Ammerland")
    clock.advance(days=28, hours=1)
    await run_rounds(app, clock)
    checkin = yonas.last
    assert [c.label for c in checkin.choices] == [TI("Good"), TI("Not so good"), TI("I have a problem")]

    [none, *_] = await eva.send("/mentoring")  # not her apprentice
    assert none.text == "No mentoring is running for you."
    [which] = await kai.send("/mentoring")
    assert which.text.startswith("Which mentoring do you want to end?")
    assert kai.buttons() == [f"Yonas (no. {yonas_id})"]
    [why] = await kai.click(f"Yonas (no. {yonas_id})")
    assert why.text.startswith("Why does the mentoring end?")
    assert kai.buttons() == ["Apprenticeship finished", "Dropped out of the apprenticeship", "Changed company",
                             "Something else"]
    [hint, again] = await kai.send("7")
    assert hint.text == "Please answer with a number from 1 to 4." and again.text.startswith("Why does")
    [note] = await kai.click("Dropped out of the apprenticeship")
    assert note.text.startswith("A short note for the record? (optional)")
    [signs, _again] = await kai.send("🙂🙂🙂")
    assert signs.text == "Please write a few words, not only emoji or signs."
    before_tom, before_yonas = len(tom.history), len(yonas.history)
    [ended, *_] = await kai.send("Hat den Betrieb nach dem Streit verlassen")
    assert ended.text == (f"The mentoring of Yonas (no. {yonas_id}) has ended (Dropped out of the apprenticeship). "
                          "No more check-ins go out. Stage: Matching.")
    [told] = yonas.history[before_yonas:]
    assert told.locale == "ti" and told.text == TI(
        "Your mentoring has ended ({reason}). Lotse no longer asks how your apprenticeship is going. If you need "
        "help, write to us here.", reason=TI("Dropped out of the apprenticeship"))
    assert (f"The mentoring of Yonas (no. {yonas_id}) was ended on {Translator('en').date(clock.now, 'medium')} by "
            "Kai: Dropped out of the apprenticeship.") in texts(tom.history[before_tom:])

    # The open check-in's buttons are spent; no check-in follows, not in this process nor after a restart.
    [stale] = await yonas.press_raw(checkin.choices[0].key)
    assert stale.text == TI("This button belongs to an earlier question and no longer works.")
    before_yonas = len(yonas.history)
    for _ in range(3):
        clock.advance(days=28)
        await run_rounds(app, clock)
    assert len(yonas.history) == before_yonas
    url = app.engine.url.render_as_string(hide_password=False)
    again_app = await Lotse.open(load_settings(data_dir=tmp_path), database_url=url, clock=clock)
    again_transport = RecordingTransport()
    again_app.add_transport(again_transport)
    try:
        clock.advance(days=28)
        assert await deliver_due_follow_ups(again_app.sessions, again_app.network, clock()) == 0
        await again_app.drain()
        assert "yonas" not in again_transport.sent
        assert await next_follow_up(again_app.sessions) is None  # nothing to wake up for
    finally:
        await again_app.close()

    # The drop-out: stage back with a dated entry, the reports' drop-out line, the case, the digest.
    async with app.sessions() as session:
        mentorship = (await session.scalars(select(Mentorship))).one()
        assert mentorship.status == "ended"
        statuses = (await session.scalars(select(MentoringCheckIn.status))).all()
        assert "sent" not in statuses and "closed" in statuses
        change = (await session.scalars(select(StageChange).where(StageChange.participant_id == yonas_id)
                                        .order_by(StageChange.id.desc()).limit(1))).one()
        assert (change.from_stage, change.to_stage, change.actor_id) == ("apprenticeship", "matching", kai_id)
        lines = await report_lines(session, Translator("en"), app.network)
        assert any(line.startswith(METALLBAU) and line.endswith("drop-outs: 1") for line in lines)
    case, _menu = await tom.send(f"/case {yonas_id}")
    assert "Mentoring ended on " in case.text
    assert ": Dropped out of the apprenticeship – Hat den Betrieb nach dem Streit verlassen" in case.text
    [nothing, *_] = await kai.send("/mentoring")
    assert nothing.text == "No mentoring is running for you."
    async with app.sessions() as session:
        assert (await session.scalars(select(AuditEntry.details).where(
            AuditEntry.action == "company.mentorships.listed", AuditEntry.actor_id == kai_id))).all()


async def test_the_coordinator_ends_a_finished_mentorship_and_a_new_apprenticeship_opens_it_again(
        app: Lotse, chat: Callable[..., Chat], transport: RecordingTransport, clock: FakeClock) -> None:
    tom = await staff(app, transport, "tom")
    kai = await company_contact(app, chat, "kai")
    yonas = await tigrinya_participant(chat)
    yonas_id, kai_id = await person_id(app, "yonas"), await person_id(app, "kai")
    await record_apprenticeship(tom, yonas_id)
    await tom.click("Assign a mentor")
    await tom.click(next(label for label in tom.buttons() if f"(no. {kai_id}) – Metallbau" in label))
    await tom.send("-")
    [which] = await tom.send("/mentoring")
    assert which.text.startswith("Which mentoring do you want to end?")
    await tom.click(f"Yonas (no. {yonas_id})")
    await tom.click("Apprenticeship finished")
    before_kai, before_yonas = len(kai.history), len(yonas.history)
    [ended, *_] = await tom.click("Skip")
    assert ended.text.endswith("No more check-ins go out. Stage: Apprenticeship (Ausbildung).")
    assert kai.history[before_kai].text.startswith(f"The mentoring of Yonas (no. {yonas_id}) was ended on ")
    assert kai.history[before_kai].text.endswith(": Apprenticeship finished.")
    assert yonas.history[before_yonas].locale == "ti"
    async with app.sessions() as session:
        lines = await report_lines(session, Translator("en"), app.network)
        assert any(line.startswith(METALLBAU) and line.endswith("drop-outs: 0") for line in lines)
        sections = await build_digest(session, Translator("en"), app.network, everybody(),
                                      clock() + timedelta(minutes=1))
        mentoring = next(s for s in sections if s.heading == "Apprentices: mentoring and early warnings")
        assert any(line.startswith(f"Yonas (no. {yonas_id}): mentoring ended on ") for line in mentoring.lines)

    # A second Ausbildung (another contract) opens the mentoring again, without a mentor yet.
    await tom.send(f"/contract {yonas_id}")
    await tom.click("another employer")
    await tom.click("Apprenticeship (Ausbildung)")
    await tom.send("01.09.2027")
    await tom.click("Yes")
    async with app.sessions() as session:
        mentorship = (await session.scalars(select(Mentorship))).one()
        assert (mentorship.status, mentorship.mentor_id) == ("active", None)
        lines = await report_lines(session, Translator("en"), app.network)
        assert any(line.startswith("another employer – ") and "contracts signed: 1," in line for line in lines)


async def test_a_start_at_an_ausbildung_place_asks_for_the_contract_instead_of_counting_as_the_goal(
        app: Lotse, chat: Callable[..., Chat], transport: RecordingTransport, clock: FakeClock) -> None:
    tom = await staff(app, transport, "tom")
    kai = await company_contact(app, chat, "kai")
    await kai.send("/place")
    await kai.click("Apprenticeship (Ausbildung)")
    await kai.click("Metal work (Metall)")
    await kai.click(next(label for label in kai.buttons() if label.startswith("Ammerland")))
    await kai.send("Industriestraße 4, 26655 Westerstede")
    await kai.send("01.02.2027")
    await kai.click("No end date")
    await kai.click("Full days")
    await kai.click("A2")
    await kai.send("1")
    await kai.send("Frau Janssen, 04488 1234")
    [saved, _menu] = await kai.click("Yes")
    number = int(saved.text.split("place no. ")[1].split(".")[0])
    yonas = await tigrinya_participant(chat)
    yonas_id = await person_id(app, "yonas")
    await tom.send(f"/place {number}")
    await tom.click("Propose participants")
    await tom.send("1")
    await yonas.click(TI("Yes"))
    await kai.click("Accept")

    clock.now = datetime(2027, 2, 1, 9, 0, tzinfo=UTC)
    await tom.send(f"/place {number}")
    await tom.click("Who came?")
    [came, nudge, _menu] = await tom.send("1")
    assert came.text == "Noted: 1 of 1 came."
    assert nudge.text == f"When the contract is signed, please record it: /contract {yonas_id}"
    async with app.sessions() as session:
        assert (await count_funnel(session, app.network)).total[PLACED] == 0
    await tom.send(f"/place {number}")
    [kind] = await tom.click("Contract signed")
    assert kind.text.startswith("Which contract was signed?")
    await tom.click("Apprenticeship (Ausbildung)")
    await tom.send("01.02.2027")
    await tom.click("Yes")
    async with app.sessions() as session:
        assert (await count_funnel(session, app.network)).total[PLACED] == 1
        contract = (await session.scalars(select(Contract))).one()
        assert (contract.place_id, contract.organisation) == (number, "metallbau_westerstede")


async def test_a_change_of_company_ends_the_mentoring_and_offers_the_coordinator_a_new_mentor(
        app: Lotse, chat: Callable[..., Chat], transport: RecordingTransport, clock: FakeClock) -> None:
    tom = await staff(app, transport, "tom")
    kai = await company_contact(app, chat, "kai")
    await tigrinya_participant(chat)
    yonas_id, kai_id = await person_id(app, "yonas"), await person_id(app, "kai")
    await record_apprenticeship(tom, yonas_id)
    await tom.click("Assign a mentor")
    await tom.click(next(label for label in tom.buttons() if f"(no. {kai_id}) – Metallbau" in label))
    await tom.send("-")
    await kai.send("/mentoring")
    await kai.click(f"Yonas (no. {yonas_id})")
    await kai.click("Changed company")
    before_tom = len(tom.history)
    [ended, *_] = await kai.click("Skip")
    assert ended.text.endswith("Stage: Apprenticeship (Ausbildung).") and not ended.choices  # Kai assigns nobody
    [told] = [m for m in tom.history[before_tom:] if "was ended on" in m.text]
    assert told.text.endswith(": Changed company.") and [c.label for c in told.choices] == ["Assign a mentor"]
    [who, *_] = await tom.click("Assign a mentor")
    assert who.text.startswith("Who will be the mentor?")
    await tom.click(next(label for label in tom.buttons() if f"(no. {kai_id}) – Metallbau" in label))
    await tom.send("BBS Westerstede")
    async with app.sessions() as session:
        mentorship = (await session.scalars(select(Mentorship))).one()
        assert (mentorship.status, mentorship.mentor_id, mentorship.school) == ("active", kai_id, "BBS Westerstede")

"""Partner companies: places, proposals, the company's answer, reminders, check-ins and the funnel, across roles."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from bot.core.i18n import Translator
from bot.jobs.placements import deliver_due_follow_ups, import_places
from bot.runtime.app import Lotse
from bot.services.progress import PLACED, count_funnel
from bot.services.reminders import deliver_due
from bot.services.stages import lotse_reason, reason_text
from flows.invites import InviteError, create_invite
from storage.models import AuditEntry, Handle, Person, Place, Profile, Proposal, StageChange
from tests.chat import Chat, FakeClock, RecordingTransport, texts
from tests.test_intake import ANSWERS, consent, staff

TI = Translator("ti")


async def company_contact(app: Lotse, chat: Callable[..., Chat], handle: str,
                          organisation: str = "metallbau_westerstede") -> Chat:
    async with app.sessions() as session, session.begin():
        code, _ = await create_invite(session, app.network, app.dispatcher.clock(), "company", organisation,
                                      ["all"], ["all"], locale="en")
    person = chat(handle)
    welcome, _menu = await person.send(f"/start {code}")
    assert welcome.text.startswith("Welcome! You are now the contact for ")
    return person


async def post_place(kai: Chat) -> int:
    """Kai describes a two-week Praktikum in metal work in Westerstede, mornings, from 12 January."""
    [first] = await kai.send("/place")
    assert first.text.startswith("What kind of place is it?")
    await kai.click("Internship (Praktikum)")
    await kai.click("Metal work (Metall)")
    await kai.click(next(label for label in kai.buttons() if label.startswith("Ammerland")))
    await kai.send("Industriestraße 4, 26655 Westerstede")
    await kai.send("12.01.2027")
    await kai.click("Two weeks")
    await kai.click("Mornings")
    await kai.click("A2")
    await kai.send("1")
    [summary] = await kai.send("Frau Janssen, 04488 1234")
    assert "Kind: Internship (Praktikum)" in summary.text  # found by a newcomer: the kind was missing
    assert "Site: Industriestraße 4, 26655 Westerstede" in summary.text
    assert "From 12 January 2027, Two weeks, Mornings" in summary.text
    [saved, _menu] = await kai.click("Yes")
    assert saved.text.startswith("Saved: place no. ")
    return int(saved.text.split("place no. ")[1].split(".")[0])


async def tigrinya_participant(chat: Callable[..., Chat], handle: str = "yonas", share: bool = True) -> Chat:
    """An intake answered by numbers in Tigrinya; "1" on the second consent shares the profile with companies."""
    yonas = chat(handle)
    await consent(yonas, "ትግርኛ")
    for answer in ANSWERS:
        await yonas.send(answer)
    await yonas.send("1")  # the summary is right
    await yonas.send("1" if share else "2")
    return yonas


async def test_the_whole_path_from_a_place_to_an_apprenticeship(
        app: Lotse, chat: Callable[..., Chat], transport: RecordingTransport, clock: FakeClock) -> None:
    tom = await staff(app, transport, "tom")
    kai = await company_contact(app, chat, "kai")
    number = await post_place(kai)
    yonas = await tigrinya_participant(chat)

    # The coordinator sees the place and the ranked candidates with reasons, and proposes Yonas.
    [shown] = await tom.send(f"/place {number}")
    assert "Company: Metallbau Janssen GmbH, Westerstede" in shown.text
    [ranked] = await tom.click("Propose participants")
    assert ranked.text.startswith(f"Participants for place no. {number}, the best first:")
    assert "Yonas (no. " in ranked.text and "interested in Metal work (Metall)" in ranked.text
    assert "German A2" in ranked.text and "free on 3 days at that time" in ranked.text
    # Yonas wrote he can start on 1 March; the Praktikum begins on 12 January: said first, the coordinator decides
    assert "⚠️ can start only from 1 Mar 2027; " in ranked.text  # (a play-tester's candidate got it without a word)
    [sent, _menu] = await tom.send("1")
    assert sent.text.startswith("Offers sent: 1.")

    # Yonas reads the offer in Tigrinya, with the German terms, and no company name or address yet.
    offer = yonas.last
    assert offer.locale == "ti" and "(Praktikum)" in offer.text and "Westerstede" not in offer.text
    assert TI("Would you like to go?") in offer.text
    assert TI("If you say yes, the company sees your name and your profile, so that it knows who is interested. "
              "It never gets your phone number.") in offer.text  # before: the name went without a word
    assert [c.label for c in offer.choices] == [TI("Yes"), TI("No"), TI("I have a question")]
    before_kai = len(kai.history)
    [thanks] = await yonas.click(TI("Yes"))
    assert thanks.text == TI("Thank you! We tell the company now. You will hear from us here.")

    # The company sees the candidate by the consent rules (Yonas agreed to share) and accepts.
    [card] = kai.history[before_kai:]
    assert card.text.startswith(f"Candidate for place no. {number}: Yonas (no. ")
    assert "+4915123456789" not in card.text  # the consent names no phone: the company never gets it
    assert "⚠️ can start only from 1 Mar 2027" in card.text  # said before it accepts, not only to the coordinator
    before_yonas = len(yonas.history)
    [accepted, *_] = await kai.click("Accept")
    assert accepted.text.startswith("Accepted. Yonas (no. ")
    [booked] = yonas.history[before_yonas:]
    assert "Industriestraße 4, 26655 Westerstede" in booked.text and "Frau Janssen, 04488 1234" in booked.text
    assert booked.locale == "ti"
    # tom reads English: the name's "no." and the first day too, not German fragments (newcomer finding)
    assert tom.last.text.startswith("The company accepted Yonas (no. ")
    assert "First day: " in tom.last.text and "Nr." not in tom.last.text and "Januar " not in tom.last.text

    # The evening before, both sides are reminded.
    clock.now = datetime(2027, 1, 11, 17, 0, tzinfo=UTC)
    before_yonas, before_kai = len(yonas.history), len(kai.history)
    await deliver_due(app.sessions, clock())
    await deliver_due_follow_ups(app.sessions, app.network, clock())
    await app.drain()
    [reminder] = yonas.history[before_yonas:]
    assert reminder.text.startswith(TI("Reminder: {what}", what="")[:4])
    [company_reminder] = kai.history[before_kai:]
    assert company_reminder.text.startswith("Reminder: tomorrow Yonas (no. ")
    assert "at Industriestraße 4, 26655 Westerstede" in company_reminder.text

    # The first afternoon, Yonas is asked how it goes; "good" records that the Praktikum started.
    clock.now = datetime(2027, 1, 12, 15, 30, tzinfo=UTC)
    await deliver_due_follow_ups(app.sessions, app.network, clock())
    await app.drain()
    checkin = yonas.last
    assert checkin.text == TI("How is your {kind} going? Please tap a button.", kind=TI("Internship (Praktikum)"))
    await yonas.click(TI("Good"))

    # Halfway through, the company is asked whether Yonas comes and whether there is a problem: all good.
    clock.now = datetime(2027, 1, 18, 11, 0, tzinfo=UTC)
    await deliver_due_follow_ups(app.sessions, app.network, clock())
    await app.drain()
    assert kai.last.text.startswith(f"Place no. {number} (Internship (Praktikum)): is Yonas (no. ")
    [fine, *_] = await kai.click("All good")
    assert fine.text == "Thank you! This helps us a lot."

    # On the last day, the company says: came, fits, Ausbildung offered. The stage follows, dated.
    clock.now = datetime(2027, 1, 25, 15, 30, tzinfo=UTC)
    before_yonas = len(yonas.history)
    await deliver_due_follow_ups(app.sessions, app.network, clock())
    await app.drain()
    assert kai.last.text.startswith("How did it go with Yonas (no. ")
    [after] = yonas.history[before_yonas:]  # the participant is asked after the Praktikum too
    assert after.text == TI("Your {kind} ends today. How did it go? Please tap a button.",
                            kind=TI("Internship (Praktikum)"))
    before_tom = len(tom.history)
    await yonas.click(TI("Not so good"))
    assert "says it is not going well at place no." in texts(tom.history[before_tom:])
    [came] = await kai.click("Answer now")
    assert came.text.startswith("Did the candidate come?")
    await kai.click("Yes")
    await kai.click("Yes")
    [done, _menu] = await kai.click("Apprenticeship (Ausbildung)")
    assert done.text.startswith("Thank you! This helps us a lot. When the contract is signed, tap")
    assert "next step offered: Apprenticeship (Ausbildung)." in texts(tom.history[-3:])  # in tom's English

    # The offer is a promise: the goal counts the signed contract, which Kai records under the place.
    async with app.sessions() as session:
        assert (await count_funnel(session, app.network)).total[PLACED] == 0
    await kai.send(f"/place {number}")
    await kai.click("Contract signed")
    await kai.click("Apprenticeship (Ausbildung)")
    await kai.send("01.08.2027")
    before_yonas = len(yonas.history)
    await kai.click("Yes")
    [congratulations] = yonas.history[before_yonas:]
    assert congratulations.locale == "ti"

    async with app.sessions() as session:
        yonas_id = (await session.scalars(select(Handle.person_id).where(Handle.platform_id == "yonas",
                                                                           Handle.transport == "test"))).one()
        changes = (await session.scalars(select(StageChange).where(StageChange.participant_id == yonas_id)
                                         .order_by(StageChange.id))).all()
        assert [c.to_stage for c in changes] == ["matching", "internship", "apprenticeship"]
        assert changes[-1].at == clock.now
        assert reason_text(Translator("en"), changes[-1].reason) == (
            "contract signed: Apprenticeship (Ausbildung), first day 1 Aug 2027")
        funnel = await count_funnel(session, app.network)
        assert funnel.total[PLACED] == 1
        shown_to_company = (await session.scalars(select(AuditEntry).where(
            AuditEntry.action.like("company.%"), AuditEntry.subject_id == yonas_id))).all()
        assert {entry.action for entry in shown_to_company} >= {"company.candidate.shown", "company.follow_up.sent"}
    places, *_ = await tom.send("/places")
    assert ("Metallbau Janssen GmbH, Westerstede – places: 1 (open: 0), proposed: 1, accepted: 1, started: 1, "
            "Ausbildung or job offered: 1, contracts signed: 1, drop-out warnings: 0, drop-outs: 0") in places.text
    assert places.choices[0].label.startswith(f"#{number} · Internship (Praktikum)") and places is tom.last
    [opened, *_] = await tom.send("1")  # the list's own choice, not the menu's first entry (a play-tester's)
    assert "Company: Metallbau Janssen GmbH, Westerstede" in opened.text

    # The apprenticeship opens the mentoring: the coordinator is told, with a button to assign a mentor.
    told = next(m for m in reversed(tom.history) if "recorded a signed contract for Yonas" in m.text)
    assert [c.label for c in told.choices] == ["Assign a mentor"]


async def test_a_company_never_sees_another_companys_places_nor_a_name_without_consent(
        app: Lotse, chat: Callable[..., Chat], transport: RecordingTransport) -> None:
    tom = await staff(app, transport, "tom")
    kai = await company_contact(app, chat, "kai")
    eva = await company_contact(app, chat, "eva", "elektro_oldenburg")
    number = await post_place(kai)

    none, *_ = await eva.send("/places")
    assert none.text.startswith("No places yet.")
    [refused, _] = await eva.send(f"/place {number}")
    assert refused.text == f"I found no place with the number {number} among yours."
    listed, *_ = await kai.send("/places")
    assert f"#{number} · Internship (Praktikum) · Metal work (Metall)" in listed.text

    amal = await tigrinya_participant(chat, "amal", share=False)
    await tom.send(f"/place {number}")
    await tom.click("Propose participants")
    await tom.send("1")
    await amal.click(TI("Yes"))
    card = kai.last
    assert card.text.startswith("Candidate no. ")
    assert "(no name: this person did not agree to share it with companies)" in card.text
    assert "Amal" not in card.text and "Phone" not in card.text and "0151" not in card.text
    assert "Goals: Apprenticeship (Ausbildung)" in card.text and "German level: A2" in card.text
    assert "Free times: Monday morning" in card.text

    # Another company's contact cannot answer for Kai's company, even with the button's data.
    [stale] = await eva.press_raw(card.choices[0].key)
    assert stale.text == "This button belongs to an earlier question and no longer works."
    [place_view] = await kai.send(f"/place {number}")
    assert "candidate no. " in place_view.text and "Amal" not in place_view.text
    async with app.sessions() as session:
        proposal = (await session.scalars(select(Proposal))).one()
        assert proposal.status == "wants"
        audited = (await session.scalars(select(AuditEntry.action).where(
            AuditEntry.actor_id.is_not(None), AuditEntry.action.like("company.%")))).all()
        assert "company.candidate.shown" in audited and "company.place.shown" in audited
        assert "company.places.listed" in audited


async def test_a_participant_can_say_no_or_ask_a_question_about_an_offer(
        app: Lotse, chat: Callable[..., Chat], transport: RecordingTransport) -> None:
    tom, petra = await staff(app, transport, "tom"), await staff(app, transport, "petra")
    kai = await company_contact(app, chat, "kai")
    number = await post_place(kai)
    yonas = await tigrinya_participant(chat)
    await tom.send(f"/place {number}")
    await tom.click("Propose participants")
    await tom.send("1")
    [prompt] = await yonas.click(TI("I have a question"))
    assert prompt.text.startswith(TI("Please write your question about the offer. Your coordinator answers here."))
    [received, again] = await yonas.send("ምስ ኣውቶቡስ ክኸይድ ይኽእል ድየ?")
    assert received.locale == "ti"
    # the offer comes again, so asking about it does not end the chance to answer it (found by a newcomer)
    assert [c.label for c in again.choices] == [TI("Yes"), TI("No"), TI("I have a question")]
    # Tom proposed the place and knows it: the question goes to him, not to the chamber as well (play-test findings)
    assert not [m for m in petra.history if f"Zum Angebot des Platzes Nr. {number}:" in m.text]
    [to_tom] = [m for m in tom.history if f"Zum Angebot des Platzes Nr. {number}:" in m.text]
    assert "ምስ ኣውቶቡስ" in to_tom.text and [c.label for c in to_tom.choices][:1] == ["Take it"]
    before = len(kai.history)
    [fine] = await yonas.send("2")  # No, by its number: the offer, not the menu
    assert fine.text == TI("All right. Thank you for telling us. We will look for something else with you.")
    assert len(kai.history) == before  # a no never reaches the company
    assert "does not want place no." in tom.last.text


async def test_places_are_paused_filled_and_closed_and_bad_answers_get_a_hint(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    kai = await company_contact(app, chat, "kai")
    await kai.send("/place")
    await kai.click("Job (Arbeit)")
    await kai.click("Metal work (Metall)")
    await kai.click(next(label for label in kai.buttons() if label.startswith("Ammerland")))
    [short, _again] = await kai.send("x")
    assert short.text == "Please write a little more (at least 3 characters)."
    await kai.send("Hauptstraße 1, Westerstede")
    await kai.send("01.02.2027")
    await kai.click("No end date")
    await kai.click("Full days")
    await kai.click("Any")
    [wrong, _again] = await kai.send("999")
    assert wrong.text == "Please write a number from 1 to 50."
    await kai.send("2")
    await kai.send("Herr Janssen, 04488 1235")
    [saved, _] = await kai.click("Yes")
    number = int(saved.text.split("place no. ")[1].split(".")[0])
    [shown] = await kai.send(f"/place {number}")
    assert [c.label for c in shown.choices] == ["Pause", "Filled", "Close"]  # proposing is the coordinators' job
    [paused] = await kai.click("Pause")
    assert paused.text == f"Place no. {number} is now paused."
    await kai.send(f"/place {number}")
    await kai.click("Close")
    listed, *_ = await kai.send("/places")
    assert listed.text.startswith("No places yet.")


async def test_a_coordinator_invites_a_company_contact_in_the_chat(
        app: Lotse, chat: Callable[..., Chat], transport: RecordingTransport) -> None:
    tom = await staff(app, transport, "tom")
    await tom.send("/invite")
    [which] = await tom.click("Contact at a partner company")
    assert which.text.startswith("Which company?")
    [code_message, _menu] = await tom.click("Elektro Wübbena KG, Oldenburg")
    code = code_message.text.split("code: ")[1].split("\n")[0]
    eva = chat("eva")
    [welcome, _] = await eva.send(f"/start {code}")
    assert welcome.text.startswith("Welcome! You are now the contact for Elektro Wübbena KG, Oldenburg.")
    async with app.sessions() as session:
        person = (await session.scalars(select(Person).join(Handle).where(Handle.platform_id == "eva"))).one()
        assert (person.role, person.organisation) == ("company", "elektro_oldenburg")
        try:
            await create_invite(session, app.network, app.dispatcher.clock(), "company", "ihk", [], [])
        except InviteError as error:
            assert "a company contact belongs to a company" in str(error)
        else:
            raise AssertionError("a chamber is not a company")


async def test_import_places_lists_bad_lines_and_writes_nothing_until_the_file_is_right(
        app: Lotse, tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "plaetze.csv"
    path.write_text("Firma;Art;Berufsfeld;Landkreis;Adresse;Ab;Dauer;Zeit;Deutsch;Plätze;Kontakt\n"
                    "metallbau_westerstede;Praktikum;Metall;Ammerland;Industriestr. 4, Westerstede;12.01.2027;"
                    "2 Wochen;vormittags;A2;2;Frau Janssen 04488 1234\n"
                    "Elektro Wübbena KG, Oldenburg;Tanzen;Elektro;Stadt Oldenburg;Am Hafen 1;12.01.2027;;;;;"
                    "Herr Wübbena\n"
                    "ihk;Ausbildung;metal;ammerland;Somewhere 1;01.01.2020;;;;;X Y Z\n", encoding="utf-8")
    report = await import_places(app.sessions, path, clock(), app.network)
    assert [number for number, _ in report.rejected] == [3, 4]
    assert "unknown kind 'Tanzen'" in report.rejected[0][1] and "unknown company 'ihk'" in report.rejected[1][1]
    assert report.lines(path)[-1] == "nothing was written: correct these lines and import the whole file again"
    async with app.sessions() as session:
        assert (await session.scalars(select(Place))).all() == []
    path.write_text(path.read_text(encoding="utf-8").splitlines()[0] + "\n"
                    + path.read_text(encoding="utf-8").splitlines()[1] + "\n", encoding="utf-8")
    report = await import_places(app.sessions, path, clock(), app.network)
    assert report.imported == 1 and not report.rejected
    async with app.sessions() as session:
        place = (await session.scalars(select(Place))).one()
        assert (place.organisation, place.kind, place.occupation, place.district, place.duration, place.hours,
                place.german_level, place.capacity) == ("metallbau_westerstede", "praktikum", "metal", "ammerland",
                                                        "two_weeks", "morning", "a2", 2)
        profile_count = len((await session.scalars(select(Profile))).all())
        assert profile_count == 0


async def test_a_problem_in_the_check_in_reaches_the_coordinator_at_once_and_a_closed_place_takes_no_yes(
        app: Lotse, chat: Callable[..., Chat], transport: RecordingTransport, clock: FakeClock) -> None:
    tom = await staff(app, transport, "tom")
    kai = await company_contact(app, chat, "kai")
    number = await post_place(kai)
    yonas = await tigrinya_participant(chat)
    amal = await tigrinya_participant(chat, "amal")
    await tom.send(f"/place {number}")
    await tom.click("Propose participants")
    await tom.send("1, 2")
    await yonas.click(TI("Yes"))
    await kai.click("Accept")
    assert "are taken now; it is marked as filled" in texts(kai.history[-3:])
    [closed] = await amal.click(TI("Yes"))  # the one place went to Yonas meanwhile
    assert closed.text == TI("This place is no longer open.")

    clock.now = datetime(2027, 1, 12, 15, 30, tzinfo=UTC)
    await deliver_due_follow_ups(app.sessions, app.network, clock())
    await app.drain()
    before = len(tom.history)
    [write] = await yonas.click(TI("I have a problem"))
    assert write.text.startswith(TI("Please write your question about the offer. Your coordinator answers here."))
    assert "says it is not going well at place no." in texts(tom.history[before:])
    [again] = await yonas.click(TI("Good"))  # the check-in was answered: its buttons are spent
    assert again.text == TI("This button belongs to an earlier question and no longer works.")


async def test_the_coordinator_records_who_came_to_a_praktikum(
        app: Lotse, chat: Callable[..., Chat], transport: RecordingTransport, clock: FakeClock) -> None:
    tom = await staff(app, transport, "tom")
    kai = await company_contact(app, chat, "kai")
    number = await post_place(kai)
    yonas = await tigrinya_participant(chat)
    await tom.send(f"/place {number}")
    await tom.click("Propose participants")
    await tom.send("1")
    await yonas.click(TI("Yes"))
    await kai.click("Accept")
    [before_start] = await tom.send(f"/place {number}")
    assert "Who came?" not in [c.label for c in before_start.choices]  # not before the first day began

    clock.now = datetime(2027, 1, 12, 9, 0, tzinfo=UTC)
    [shown] = await tom.send(f"/place {number}")
    assert shown.choices[0].label == "Who came?"
    [who] = await tom.click("Who came?")
    assert [c.label for c in who.choices] == [f"Yonas (no. {shown.text.split('Yonas (no. ')[1].split(')')[0]})",
                                              "Nobody came"]
    [hint, _again] = await tom.send("0")
    assert hint.text.startswith("Please answer with one or more numbers from 1 to 2")
    [noted, _menu] = await tom.send("1")
    assert noted.text == "Noted: 1 of 1 came."
    [after] = await tom.send(f"/place {number}")
    assert "accepted by the company, came" in after.text
    [refused] = await kai.press_raw(next(c.key for c in shown.choices if c.label == "Who came?"))
    assert refused.text == "This button belongs to an earlier question and no longer works."

    async with app.sessions() as session:
        yonas_id = (await session.scalars(select(Handle.person_id).where(Handle.platform_id == "yonas",
                                                                           Handle.transport == "test"))).one()
        proposal = (await session.scalars(select(Proposal))).one()
        changes = (await session.scalars(select(StageChange).where(StageChange.participant_id == yonas_id)
                                         .order_by(StageChange.id))).all()
    assert proposal.attended is True
    assert changes[-1].to_stage == "internship"
    assert reason_text(Translator("en"), changes[-1].reason) == f"coordinator: came to place no. {number}"
    case, _menu = await tom.send(f"/case {yonas_id}")
    assert f"Place no. {number} (Internship (Praktikum), Metallbau Janssen GmbH, Westerstede): accepted by the " \
           "company, came" in case.text
    assert f"– coordinator: came to place no. {number}" in case.text and "§" not in case.text
    await tom.send("/language")
    await tom.click("Deutsch")
    case, _menu = await tom.send(f"/case {yonas_id}")  # Lotse's own reasons in the reader's language (a play-tester
    assert f"– Koordination: ist zu Platz Nr. {number} gekommen" in case.text  # read English in a German case)
    assert f"– für Platz Nr. {number} vorgeschlagen" in case.text and "proposed for" not in case.text
    await tom.send("/language")
    await tom.click("English")
    places, *_ = await tom.send("/places")
    assert "accepted: 1, started: 1," in places.text


def test_a_stage_reason_written_by_a_person_stays_as_written_and_lotses_own_is_translated() -> None:
    from flows.contracts import CONTRACT_KINDS

    signed = lotse_reason("contract signed: {label}, first day {day}", label=CONTRACT_KINDS["svb"], day="2027-03-01")
    withdrawn = lotse_reason("contract withdrawn (recorded by mistake): {reason}", reason=signed)
    assert reason_text(Translator("de"), withdrawn) == ("Vertrag zurückgenommen (aus Versehen eingetragen): Vertrag "
                                                        "unterschrieben: Sozialversicherungspflichtige Stelle (SVB), "
                                                        "erster Tag 01.03.2027")
    assert signed == lotse_reason("contract signed: {label}, first day {day}", day="2027-03-01",
                                  label=CONTRACT_KINDS["svb"])  # looked up again when the record is withdrawn
    assert reason_text(Translator("de"), "#12: Er hat einen Vertrag") == "#12: Er hat einen Vertrag"
    assert reason_text(Translator("de"), "§{broken") == "§{broken" and reason_text(Translator("de"), None) == ""


async def test_a_company_contact_reads_what_lotse_keeps_about_them_not_the_participants_notice(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    """A play-tester's company contact got the participants' notice ("we never ask for your residence status"),
    whose promise of a copy then answered "This is not available for you"."""
    kai = await company_contact(app, chat, "kai")
    await kai.send("/menu")
    [notice, _menu] = await kai.click("About your data")
    assert notice.text.startswith("How Lotse handles your data as a member of staff or a partner company's contact")
    assert "residence status" not in notice.text and app.network.privacy_contact in notice.text
    tom = chat("tom-de")
    async with app.sessions() as session, session.begin():
        code, _ = await create_invite(session, app.network, app.dispatcher.clock(), "coordinator", "ihk",
                                      ["all"], ["all"], locale="de")
    await tom.send(f"/start {code}")
    [notice, _menu] = await tom.click("Über Ihre Daten")
    assert notice.text.startswith("Wie Lotse mit Ihren Daten als Mitarbeiterin oder Mitarbeiter")

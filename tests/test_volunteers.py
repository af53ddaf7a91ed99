"""Volunteers, pairing with consent, reports, stage changes and the case view, as conversations."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import func, select

from bot.core.access import PRIVACY_VERSION, VOLUNTEER_PRIVACY_VERSION
from bot.core.i18n import Translator
from bot.core.network import load_network
from bot.runtime.app import Lotse
from flows.invites import create_invite
from flows.volunteers import rank_volunteers
from storage.models import AuditEntry, CaseReport, Consent, Pairing, Person, Profile, StageChange, VolunteerProfile
from tests.chat import Chat, FakeClock, texts
from tests.test_questions import coordinator, participant

NOT_PAIRED = "You can only report on the participants you accompany. Write /report and choose one of them."


async def volunteer(app: Lotse, chat: Callable[..., Chat], handle: str = "jana") -> Chat:
    """Joins by invite, consents, and tells what she offers: German and Arabic, Stadt Oldenburg, going along to
    appointments and mentoring, Monday and Tuesday mornings (days first, then the times of day)."""
    async with app.sessions() as session, session.begin():
        code, _ = await create_invite(session, app.network, app.dispatcher.clock(), "volunteer", None, ["all"],
                                      ["all"], locale="en")
    person = chat(handle)
    welcome, _notice = await person.send(f"/start {code}")
    assert welcome.text.startswith("Welcome! You are now a volunteer")
    _thanks, intro, first = await person.send("1")
    assert intro.text.startswith("Thank you for helping!") and first.text == (
        "Which languages do you speak? Choose all that fit.\n\nWrite the numbers of all that fit, like 1, 3.")
    [mediate] = await person.send("1, 2")
    assert mediate.text.startswith("Would you also translate as a language mediator (Sprachmittler)?")
    await person.send("No")
    await person.send("8")
    await person.send("2, 4")
    [times] = await person.send("1, 2")  # Monday and Tuesday, then the times of day
    assert [c.label for c in times.choices] == ["Mornings", "Afternoons", "Evenings"]
    [saved, _menu] = await person.send("1")
    assert "Languages: German, Arabic" in saved.text and "Going along to appointments (Termine)" in saved.text
    return person


async def pair(petra: Chat, jana: Chat, amal: Chat, agree: bool = True) -> None:
    [suggestions] = await petra.send("/pair Amal")
    assert suggestions.text.startswith("Volunteers for Amal (no. ")
    await petra.click(next(label for label in petra.buttons() if label.startswith("Jana")))
    await amal.click("Yes, I agree" if agree else "No, thank you")


async def test_a_volunteer_joins_by_invite_and_tells_what_they_offer(app: Lotse, chat: Callable[..., Chat]) -> None:
    await volunteer(app, chat)
    async with app.sessions() as session:
        profile = (await session.scalars(select(VolunteerProfile))).one()
        person = await session.get_one(Person, profile.person_id)
    assert (profile.languages, profile.district, profile.offers) == (["de", "ar"], "stadt_oldenburg",
                                                                     ["accompany", "mentoring"])
    assert profile.availability == ["mon_morning", "tue_morning"] and person.role == "volunteer"


async def test_a_volunteer_reads_the_volunteers_privacy_notice_in_german(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    """Jana joins by invite: her notice says what is stored about her and the participants she accompanies, and
    her consent is recorded under the volunteers' notice, not the participants'."""
    async with app.sessions() as session, session.begin():
        code, _ = await create_invite(session, app.network, app.dispatcher.clock(), "volunteer", None, ["all"],
                                      ["all"], locale="de")
    jana = chat("jana")
    _welcome, short = await jana.send(f"/start {code}")
    assert short.text.startswith("Datenschutz, kurz gesagt:") and "Berichte über die Teilnehmenden" in short.text
    assert "Aufenthaltsstatus" not in short.text  # that sentence is for participants
    [full] = await jana.click("Ganzen Hinweis lesen")
    assert "als ehrenamtliche Person" in full.text and "Über die Teilnehmenden, die Sie begleiten" in full.text
    assert "Bitte behalten Sie für sich" in full.text
    await jana.click("Ja")
    async with app.sessions() as session:
        consent = (await session.scalars(select(Consent))).one()
        person = await session.get_one(Person, consent.person_id)
    assert consent.version == person.privacy_version == VOLUNTEER_PRIVACY_VERSION != PRIVACY_VERSION


async def test_a_participant_who_becomes_a_volunteer_is_asked_again_with_the_volunteers_notice(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    amal = await participant(chat, "amal")
    async with app.sessions() as session, session.begin():
        code, _ = await create_invite(session, app.network, app.dispatcher.clock(), "volunteer", None, ["all"],
                                      ["all"], locale="en")
    _welcome, notice = await amal.send(f"/start {code}")
    assert "your reports about the participants you accompany" in notice.text
    assert [c.label for c in notice.choices] == ["Yes", "No", "Read the full notice"]


async def test_pairing_suggests_with_reasons_asks_consent_and_shares_only_what_is_needed(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    petra = await coordinator(app, chat, "petra", organisation="proconnect")
    jana = await volunteer(app, chat)
    other = await volunteer(app, chat, "karl")
    async with app.sessions() as session, session.begin():  # karl lives elsewhere and speaks only German
        karl = (await session.scalars(select(VolunteerProfile).order_by(VolunteerProfile.person_id.desc()))).first()
        assert karl is not None
        karl.languages, karl.district, karl.availability = ["de"], "vechta", ["fri_evening"]
    amal = await participant(chat, "amal")
    [suggestions] = await petra.send("/pair amal")
    lines = suggestions.text.splitlines()
    assert lines[1].startswith("1. Jana (no. ") and "speaks Arabic; same district; 2 shared times" in lines[1]
    assert "Mentoring an apprentice (Ausbildung)" in lines[1] and lines[2].startswith("2. Karl")
    before = len(jana.history)
    await petra.click(next(label for label in petra.buttons() if label.startswith("Jana")))
    assert "would see your first name" in amal.last.text
    assert len(jana.history) == before  # nothing before consent
    [thanks, _menu] = await amal.click("Yes, I agree")
    assert thanks.text.startswith("Thank you. Jana will accompany you.")
    shared = jana.last.text
    assert shared.startswith("You now accompany Amal (no. ") and "Arabic, Tigrinya" in shared
    assert "+49" not in shared and "Welder" not in shared and "0151" not in shared
    assert "Amal" in petra.last.text and "accompanies them now" in petra.last.text
    assert other.history[-1].text != shared


async def test_a_participant_who_says_no_shares_nothing(app: Lotse, chat: Callable[..., Chat]) -> None:
    petra = await coordinator(app, chat, "petra", organisation="proconnect")
    jana = await volunteer(app, chat)
    amal = await participant(chat, "amal")
    before = len(jana.history)
    await pair(petra, jana, amal, agree=False)
    assert len(jana.history) == before
    assert "does not want" in petra.last.text
    [refused, _menu] = await jana.send("/report")
    assert refused.text.startswith("You do not accompany anyone yet.")
    async with app.sessions() as session:
        pairing = (await session.scalars(select(Pairing))).one()
    assert pairing.status == "declined"
    [stale] = await amal.press_raw(f"@pr:yes:{pairing.id}")  # changing one's mind later needs a new request
    assert stale.text == "This button belongs to an earlier question and no longer works."


@pytest.mark.parametrize(("kind", "urgent"), [("Attended a course or appointment", False),
                                              ("Missed a course or appointment", True),
                                              ("Needs help with something", True),
                                              ("Something else", False)])
async def test_every_report_kind_is_stored_and_urgent_ones_reach_the_coordinator_at_once(
        app: Lotse, chat: Callable[..., Chat], kind: str, urgent: bool) -> None:
    petra = await coordinator(app, chat, "petra", organisation="proconnect")
    jana = await volunteer(app, chat)
    amal = await participant(chat, "amal")
    await pair(petra, jana, amal)
    seen = len(petra.history)
    await jana.send("/report")
    await jana.click("Amal (no. 3)" if "Amal (no. 3)" in jana.buttons() else jana.buttons()[0])
    await jana.click(kind)
    [thanks, _menu] = await jana.send("She needs help with a letter from the Jobcenter")
    async with app.sessions() as session:
        report = (await session.scalars(select(CaseReport))).one()
    assert report.needs_action is urgent and report.text == "She needs help with a letter from the Jobcenter"
    if urgent:
        assert thanks.text == "Thank you. Your report is saved, and a coordinator was told at once."
        [notice] = petra.history[seen:]
        assert notice.text.startswith("Report from volunteer Jana") and "/case" in notice.text
    else:
        assert "weekly overview" in thanks.text
        assert petra.history[seen:] == []


async def test_a_voice_report_is_accepted(app: Lotse, chat: Callable[..., Chat]) -> None:
    petra = await coordinator(app, chat, "petra", organisation="proconnect")
    jana = await volunteer(app, chat)
    amal = await participant(chat, "amal")
    await pair(petra, jana, amal)
    await jana.send("/report")
    await jana.click(jana.buttons()[0])
    await jana.click("Needs help with something")
    await jana.send_file("voice")
    assert "[voice message or file]" in petra.last.text


async def test_reports_on_strangers_and_empty_or_huge_reports_are_refused(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    petra = await coordinator(app, chat, "petra", organisation="proconnect")
    jana = await volunteer(app, chat)
    amal = await participant(chat, "amal")
    yonas = await participant(chat, "yonas")
    await pair(petra, jana, amal)
    async with app.sessions() as session:
        yonas_id = (await session.scalars(select(Person.id).where(Person.display_name == "Yonas"))).one()
    [refused, *_] = await jana.send(f"/report {yonas_id}")
    assert refused.text == NOT_PAIRED
    [forged] = await jana.press_raw("1:" + str(yonas_id))  # a forged answer to the "about whom" question
    assert "no longer works" in forged.text or "Please" in forged.text
    await jana.send("/report")
    await jana.click(jana.buttons()[0])
    await jana.click("Something else")
    [empty, again] = await jana.send("   ")
    assert empty.text == "Your message was empty. Please write your answer."
    assert again.text == "Please write a few words, or send a voice message."
    [huge, _again] = await jana.send("x" * 10_000)
    assert huge.text == "That is too long. Please write at most 2,000 characters."
    [signs, _again] = await jana.send("🙂🙂 !!")
    assert signs.text == "Please write a few words, not only emoji or signs."
    async with app.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(CaseReport)) == 0
    assert "Yonas" not in texts(jana.history)
    del yonas


async def test_a_milestone_is_confirmed_into_a_stage_change_with_one_button(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    petra = await coordinator(app, chat, "petra", organisation="proconnect")
    jana = await volunteer(app, chat)
    amal = await participant(chat, "amal")
    await pair(petra, jana, amal)
    await jana.send("/report")
    await jana.click(jana.buttons()[0])
    await jana.click("Milestone reached")
    await jana.click("Internship started (Praktikum)")
    [thanks, _] = await jana.send("Started at Metallbau Meyer today")
    assert thanks.text == "Thank you. Your report is saved. A coordinator will confirm the new stage."
    assert "Proposed new stage: Internship (Praktikum / Hospitation)" in petra.last.text
    [done, *_] = await petra.click("Confirm: Internship (Praktikum / Hospitation)")
    assert done.text.startswith("Recorded: Amal (no. ") and "Internship" in done.text
    [again, *_] = await petra.click("Confirm: Internship (Praktikum / Hospitation)")
    assert again.text == "This stage change was already confirmed."
    async with app.sessions() as session:
        change = (await session.scalars(select(StageChange))).one()
        petra_id = (await session.scalars(select(Person.id).where(Person.role == "coordinator"))).one()
        profile = await session.get_one(Profile, change.participant_id)
    assert (change.from_stage, change.to_stage, change.actor_id) == ("profile_complete", "internship", petra_id)
    assert change.reason is not None and "Metallbau Meyer" in change.reason and profile.stage == "internship"
    [forged] = await jana.press_raw("@ms:ok:1")  # a volunteer cannot confirm
    assert "no longer works" in forged.text


async def test_a_stage_change_that_skips_stages_needs_a_reason_which_is_recorded(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    petra = await coordinator(app, chat, "petra", organisation="proconnect")
    await participant(chat, "amal")
    await petra.send("/stage amal")
    [ask] = await petra.click("Internship (Praktikum / Hospitation)")
    assert ask.text.startswith("This skips a stage or goes back.")
    [empty, _] = await petra.send("")
    assert "empty" in empty.text
    [done, _] = await petra.send("Praktikum found directly with Bäckerei Janssen")
    assert done.text.startswith("Recorded: Amal")
    await petra.send("/stage amal")
    [back] = await petra.click("Matching")  # going back needs a reason too
    assert back.text.startswith("This skips a stage or goes back.")
    await petra.send("The Praktikum ended on the first day")
    async with app.sessions() as session:
        changes = (await session.scalars(select(StageChange).order_by(StageChange.id))).all()
    assert [(c.from_stage, c.to_stage, c.reason) for c in changes] == [
        ("profile_complete", "internship", "Praktikum found directly with Bäckerei Janssen"),
        ("internship", "matching", "The Praktikum ended on the first day")]


async def test_the_case_view_after_a_full_story(app: Lotse, chat: Callable[..., Chat], clock: FakeClock) -> None:
    petra = await coordinator(app, chat, "petra", organisation="proconnect")
    jana = await volunteer(app, chat)
    amal = await participant(chat, "amal")
    await amal.send("/menu")
    await amal.click("Ask a question")
    await amal.click("Apprenticeship (Ausbildung)")
    await amal.send("Where do I apply?")
    await pair(petra, jana, amal)
    clock.advance(days=1)
    await jana.send("/report")
    await jana.click(jana.buttons()[0])
    await jana.click("Missed a course or appointment")
    await jana.send("She was ill")
    await petra.send("/stage amal")
    await petra.click("Matching")
    await petra.send("Matching day at the IHK")
    [case, *_] = await petra.send("/case Amal")
    text = case.text
    assert "Where you live" not in text and "Your goals" not in text  # staff wording, about her
    for expected in ("Case: Amal (no. ", "Stage: Matching", "Profile", "\nDistrict: Oldenburg (city)\n",
                     "Stage history", "Profile complete → Matching",
                     "Matching day at the IHK", "Potential check (Potenzialcheck)", "(not done yet)", "Questions",
                     "#1 · Apprenticeship (Ausbildung) · OVERDUE", "Appointments and courses",
                     "Volunteer and reports", "Jana (no. ", "Missed a course or appointment: She was ill"):
        assert expected in text, expected
    async with app.sessions() as session:
        viewed = await session.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "case.viewed"))
    assert viewed == 1


async def test_the_case_view_finds_only_own_districts_and_says_nothing_else(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    bbs = await coordinator(app, chat, "bert", organisation="bbs_wechloy")  # Stadt Oldenburg and Ammerland
    await participant(chat, "amal", district="5")  # Vechta
    for query in ("Amal", "3", "'; DROP TABLE persons; --", "9" * 30):
        [answer, *_] = await bbs.send(f"/case {query}")
        assert answer.text == "Nobody with this name or number is among your cases.", query
    for query in ("%", "_", "🙂"):  # one sign fits almost everyone: asked for more, which reveals nothing either
        [answer, *_] = await bbs.send(f"/case {query}")
        assert answer.text == "Please write at least two letters of the name, or the number.", query
    jana = await volunteer(app, chat)
    [refused, _] = await jana.send("/case Amal")
    assert refused.text == "This is not available for you."


async def test_a_milestone_behind_the_current_stage_keeps_the_stage(app: Lotse, chat: Callable[..., Chat]) -> None:
    petra = await coordinator(app, chat, "petra", organisation="proconnect")
    jana = await volunteer(app, chat)
    amal = await participant(chat, "amal")
    await pair(petra, jana, amal)
    await petra.send("/stage amal")
    await petra.click("Internship (Praktikum / Hospitation)")
    await petra.send("Praktikum started")
    await jana.send("/report")
    await jana.click(jana.buttons()[0])
    await jana.click("Milestone reached")
    await jana.click("Potential check done (Potenzialcheck)")
    await jana.send("She did the check today")
    [kept, *_] = await petra.click("Confirm: Potential check done (Potenzialcheck)")
    assert "is already further along (Internship (Praktikum / Hospitation))" in kept.text
    async with app.sessions() as session:
        profile = (await session.scalars(select(Profile).where(Profile.stage != "registered"))).one()
        report = (await session.scalars(select(CaseReport))).one()
    assert profile.stage == "internship" and report.confirmed_at is not None


async def test_a_volunteer_sees_their_participants_and_a_coordinator_ends_a_pairing(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    petra = await coordinator(app, chat, "petra", organisation="proconnect")
    jana = await volunteer(app, chat)
    amal = await participant(chat, "amal")
    await pair(petra, jana, amal)
    [mine, _menu] = await jana.send("/mine")
    assert mine.text.startswith("Amal (no. ") and "Goals: Apprenticeship (Ausbildung)" in mine.text
    [ended, _menu] = await petra.send("/unpair Amal")
    assert ended.text.startswith("Amal (no. ") and ended.text.endswith("no longer has a volunteer.")
    assert jana.last.text.startswith("You no longer accompany Amal")
    [nobody, _menu] = await jana.send("/mine")
    assert nobody.text.startswith("You do not accompany anyone yet.")
    [refused, _menu] = await jana.send("/report 3")
    assert refused.text.startswith("You do not accompany anyone yet.")
    [again, _menu] = await petra.send("/unpair Amal")
    assert again.text.endswith("has no volunteer.")


async def test_the_case_view_shows_the_automatic_stages_too(app: Lotse, chat: Callable[..., Chat]) -> None:
    petra = await coordinator(app, chat, "petra", organisation="proconnect")
    await participant(chat, "amal")
    [case, *_] = await petra.send("/case amal")
    history = case.text.split("Stage history\n")[1].split("\n\n")[0].splitlines()
    assert history[0].endswith(": registered")
    assert history[1].endswith(": Registered → Profile complete, by Amal (no. 2)")


async def test_consent_to_a_volunteer_in_the_middle_of_the_intake_returns_to_the_same_question(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    from tests.test_intake import consent

    petra = await coordinator(app, chat, "petra", organisation="proconnect")
    jana = await volunteer(app, chat)
    amal = chat("amal")
    await consent(amal, "English")
    await amal.send("8")  # question 1: the district; now at question 2
    question = amal.last.text
    assert question.startswith("Question 2 of 11")
    await pair(petra, jana, amal)
    thanks, again = amal.history[-2:]
    assert thanks.text.startswith("Thank you. Jana will accompany you.")
    assert again.text == question


def test_a_participant_reading_dari_shares_persian_with_a_volunteer() -> None:
    """Found by a newcomer: Jana translates from Persian, Farid reads Dari; the pairing list said only "speaks
    English"."""
    farid = Person(id=1, role="participant", locale="fa_AF", district="oldenburg_stadt")
    jana = Person(id=2, role="volunteer", display_name="Jana", district="ammerland")
    profile = VolunteerProfile(person_id=2, languages=["de", "fa", "en"], offers=[], availability=[],
                               district="ammerland")
    [suggestion] = rank_volunteers(Translator("en"), load_network(), farid, {"languages": ["en"]},
                                   [(jana, profile, 0)])
    assert suggestion.reasons[0] == "speaks Persian, English"

"""Invites for staff; questions routed to coordinators; claim, reply, follow-ups, hand-over, templates, escalation."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from bot.core.i18n import FSI, Translator
from bot.core.network import Network, Responsibility, load_network
from bot.runtime.app import Lotse
from bot.services.routing import add_working_hours, matching_rules, route
from flows.invites import create_invite
from flows.tickets import escalate_overdue
from storage.models import AuditEntry, Invite, OutboxEntry, Person, StaffScope, Ticket, TicketMessage
from tests.chat import Chat, FakeClock, texts
from tests.test_intake import ANSWERS, consent

BERLIN_OFFSET = timedelta(hours=1)  # November to March


async def invite(app: Lotse, role: str = "coordinator", organisation: str | None = "ihk",
                 topics: list[str] | None = None, districts: list[str] | None = None, locale: str = "de",
                 days: int = 7) -> str:
    async with app.sessions() as session, session.begin():
        code, _ = await create_invite(session, app.network, app.dispatcher.clock(), role, organisation,
                                      topics or ["all"], districts or ["all"], locale=locale, days=days)
    return code


async def coordinator(app: Lotse, chat: Callable[..., Chat], handle: str, organisation: str = "ihk",
                      locale: str = "en", **scope: list[str]) -> Chat:
    code = await invite(app, organisation=organisation, locale=locale, **scope)  # type: ignore[arg-type]
    person = chat(handle)
    [welcome, _menu] = await person.send(f"/start {code}")
    assert welcome.text.startswith(Translator(locale)("Welcome! You are now a coordinator for {organisation}. "
                                                      "Write /help to see what you can do.",
                                                      organisation="@").split("@")[0])
    return person


async def participant(chat: Callable[..., Chat], handle: str, language: str = "English",
                      district: str = "8") -> Chat:
    person = chat(handle)
    await consent(person, language)
    for answer in [district, *ANSWERS[1:]]:
        await person.send(answer)
    await person.send("1")
    await person.send("2")
    return person


# ---------------------------------------------------------------------------------------------------------------
# Invites


async def test_an_invite_works_once_and_gives_role_organisation_and_scope(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    code = await invite(app, topics=["apprenticeship"], districts=["ammerland", "stadt_oldenburg"])
    anna = chat("anna")
    welcome, menu = await anna.send(f"/start {code.lower()}")  # typed in small letters: still fine
    assert welcome.locale == "de" and "Oldenburgische IHK" in welcome.text
    assert menu.text.startswith(Translator("de")("What would you like to do?"))
    async with app.sessions() as session:
        person = (await session.scalars(select(Person).where(Person.role == "coordinator"))).one()
        scope = await session.get_one(StaffScope, person.id)
        used = (await session.scalars(select(Invite))).one()
    assert (person.organisation, person.display_name) == ("ihk", "Anna")
    assert (scope.topics, scope.districts) == (["apprenticeship"], ["ammerland", "stadt_oldenburg"])
    assert used.used_by_id == person.id and code not in used.code_hash
    ben = chat("ben")
    refused, picker = await ben.send(f"/start {code}")
    assert refused.text.startswith("This invitation code does not work.")
    assert len(picker.choices) == 8  # ben is still a newcomer: the language question


@pytest.mark.parametrize("code", ["", "NOTACODE42", "'; DROP TABLE invites; --", "🙂" * 30, "\u202eABCDEFGHJK"])
async def test_invented_codes_are_refused_politely(app: Lotse, chat: Callable[..., Chat], code: str) -> None:
    await invite(app)
    eve = chat("eve")
    replies = await eve.send(f"/start {code}")
    if code:
        assert replies[0].text.startswith("This invitation code does not work.")
    async with app.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Person).where(Person.role != "participant")) == 0


async def test_an_expired_invite_is_refused(app: Lotse, chat: Callable[..., Chat], clock: FakeClock) -> None:
    code = await invite(app, days=1)
    clock.advance(days=1, seconds=1)
    [refused, _] = await chat("carl").send(f"/start {code}")
    assert refused.text.startswith("This invitation code does not work.")
    async with app.sessions() as session:
        actions = (await session.scalars(select(AuditEntry.action).order_by(AuditEntry.id))).all()
    assert actions[-1] == "invite.refused"


async def test_a_coordinator_invites_a_volunteer_who_then_consents(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    anna = await coordinator(app, chat, "anna")
    await anna.send("/invite")
    await anna.click("Volunteer")
    await anna.click("All districts")
    await anna.click("Done")
    await anna.click("All topics")
    [made, _menu] = await anna.click("Done")
    code = made.text.split(": ")[1].split("\n")[0]
    jana = chat("jana")
    welcome, notice = await jana.send(f"/start {code}")
    assert welcome.text.startswith("Welcome! You are now a volunteer")
    assert "Datenschutz" in notice.text and notice.choices  # volunteers consent like participants


STAFF_COMMANDS = ["/inbox", "/ticket 1", "/reply 1 hello", "/claim 1", "/close 1", "/invite", "/find"]


async def test_a_participant_trying_staff_commands_changes_nothing_and_learns_nothing(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    await coordinator(app, chat, "anna")
    amal = await participant(chat, "amal")
    await amal.send("/menu")
    await amal.click("Ask a question")
    await amal.click("Apprenticeship (Ausbildung)")
    await amal.send("Where do I apply?")
    yonas = await participant(chat, "yonas")
    for command in STAFF_COMMANDS:
        refused, _again = await yonas.send(command)
        assert refused.text == "This is not available for you."
    [forged] = await yonas.press_raw("@tk:claim:1")
    assert forged.text == "This button belongs to an earlier question and no longer works."
    async with app.sessions() as session:
        ticket = await session.get_one(Ticket, 1)
    assert ticket.status == "open" and ticket.claimed_by_id is None
    assert "Where do I apply?" not in texts(yonas.history)


# ---------------------------------------------------------------------------------------------------------------
# Routing


def network_with(*rules: Responsibility, fallback: str | None = "proconnect") -> Network:
    base = load_network()
    return base.model_copy(update={"responsibilities": list(rules), "fallback_organisation": fallback})


def test_the_most_specific_rules_win() -> None:
    network = network_with(
        Responsibility(organisation="proconnect", topics=["all"], districts=["all"]),
        Responsibility(organisation="ihk", topics=["apprenticeship"], districts=["all"]),
        Responsibility(organisation="hwk", topics=["apprenticeship"], districts=["all"]),
        Responsibility(organisation="jobcenter", topics=["all"], districts=["stadt_oldenburg"]),
        Responsibility(organisation="bbs_wechloy", topics=["language_course"], districts=["stadt_oldenburg"]),
    )
    assert [r.organisation for r in matching_rules(network, "apprenticeship", "ammerland")] == ["ihk", "hwk"]
    assert [r.organisation for r in matching_rules(network, "apprenticeship", "stadt_oldenburg")] == ["jobcenter"]
    assert [r.organisation for r in matching_rules(network, "language_course", "stadt_oldenburg")] == [
        "bbs_wechloy"]
    assert [r.organisation for r in matching_rules(network, None, "vechta")] == ["proconnect"]
    assert matching_rules(network_with(), "work", "vechta") == []


async def test_routes_to_people_rooms_leads_and_the_fallback(app: Lotse, chat: Callable[..., Chat]) -> None:
    anna = await coordinator(app, chat, "anna", topics=["apprenticeship"], districts=["ammerland"])
    ben = await coordinator(app, chat, "ben")
    tom = await coordinator(app, chat, "tom", organisation="proconnect")
    ids = {}
    async with app.sessions() as session:
        for person in (await session.scalars(select(Person))).all():
            ids[person.display_name] = person.id
        network = network_with(Responsibility(organisation="ihk", topics=["apprenticeship"], districts=["all"]),
                               Responsibility(organisation="hwk", topics=["work"], districts=["all"],
                                              room="matrix:!werkstatt:localhost", lead="anna"),
                               Responsibility(organisation="lwk", topics=["internship"], districts=["all"],
                                              lead="telegram:404"))
        in_ammerland = await route(session, network, "apprenticeship", "ammerland")
        in_vechta = await route(session, network, "apprenticeship", "vechta")
        to_room = await route(session, network, "work", "vechta")
        no_lead = await route(session, network, "internship", "vechta")
        nobody = await route(session, network, "recognition", "vechta")
        nowhere = await route(session, network_with(fallback=None), "recognition", "vechta")
    assert in_ammerland.people == [ids["Anna"], ids["Ben"]]  # anna's scope covers Ammerland
    assert in_vechta.people == [ids["Ben"]]
    assert to_room.rooms == [("matrix", "!werkstatt:localhost")] and to_room.people == []
    assert no_lead.fallback and no_lead.people == [ids["Tom"]]  # the lead is nobody we know: the fallback
    assert nobody.fallback and nobody.organisations == ["proconnect"] and nobody.people == [ids["Tom"]]
    assert nowhere.fallback and nowhere.people == []  # no admin in this test: logged, never silently dropped
    assert anna and ben and tom


# ---------------------------------------------------------------------------------------------------------------
# A question, end to end


async def test_a_question_with_a_photo_is_claimed_answered_and_followed_up(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    anna = await coordinator(app, chat, "anna", locale="de")
    ben = await coordinator(app, chat, "ben")
    amal = await participant(chat, "amal", language="العربية")
    ar = Translator("ar")
    await amal.send("/menu")
    await amal.click(ar("Ask a question"))
    await amal.click(app.network.topics["apprenticeship"].name["ar"])
    [thanks, _menu] = await amal.send_file("photo", data=b"JPEG: the job centre's letter")
    assert thanks.rtl and FSI in thanks.text and "Oldenburgische IHK" in thanks.text
    (to_anna, anna_file), (to_ben, ben_file) = anna.history[-2:], ben.history[-2:]
    for phone in (anna, ben):  # the photo itself follows each notification, fetched from where it was sent
        assert phone.transport.received_files[phone.handle] == [("photo.jpg", b"JPEG: the job centre's letter")]
    assert ben_file.text == "Question no. 1: Apprenticeship (Ausbildung)\n[The participant sent a photo.]"
    assert anna_file.document_label == "photo.jpg" and anna_file.choices == ()
    de = Translator("de")
    assert to_anna.text.startswith(de("Question no. {number}: {topic}", number=1, topic="@").split("@")[0])
    assert de("[The participant sent {what}.]", what=de("a photo")) in to_anna.text
    assert "Arabic" in to_ben.text and "Question no. 1: Apprenticeship (Ausbildung)" in to_ben.text
    assert ben.buttons() == ["Take it", "Hand over"]
    taken, *rest = await ben.click("Take it")
    assert rest == [], texts(rest)
    assert taken.text.startswith("You took question no. 1.")
    assert de("Taken by {name}.", name="@").split("@")[0] in anna.history[-2].text and "Ben" in anna.history[-2].text
    assert anna.history[-2].choices == ()  # anna's copy changed in place: no buttons to press
    late, *_ = await anna.send("/claim 1")
    assert "Ben" in late.text
    notice = next(m for m in ben.history if m.text.startswith("Question no. 1"))
    sent = await ben.reply(notice, "Please come to our office on Monday.", event_id="reply-1")
    assert sent[0].text == "Sent to the participant (question no. 1)."
    again = await ben.reply(notice, "Please come to our office on Monday.", event_id="reply-1")
    assert again == []  # the platform delivered the same reply twice: dropped
    answer = amal.history[-1]
    assert answer.rtl and "Oldenburgische IHK" in answer.text and answer.text.endswith(
        "Please come to our office on Monday.")
    assert len([m for m in amal.history if "Please come to our office" in m.text]) == 1
    before_anna = len(anna.history)
    [added, _menu] = await amal.send("شكرا! متى بالضبط؟")
    assert added.text == ar("Added to your question no. {number}.", number=1)
    assert "شكرا! متى بالضبط؟" in ben.history[-1].text and len(anna.history) == before_anna
    closed, *_ = await ben.send("/close 1")
    assert closed.text == "Question no. 1 is closed."
    notice = next(m for m in ben.history if m.text.startswith("Question no. 1"))  # edited: "Closed."
    assert notice.text.endswith("Closed.") and notice.choices == ()
    [refused] = await ben.reply(notice, "One more thing")
    assert refused.text == "This question is already closed. Nothing was sent."
    async with app.sessions() as session:
        thread = (await session.scalars(select(TicketMessage.direction).order_by(TicketMessage.id))).all()
    assert thread == ["in", "event", "out", "in", "event"]


async def test_talk_to_a_person_goes_to_the_general_contact(app: Lotse, chat: Callable[..., Chat]) -> None:
    tom = await coordinator(app, chat, "tom", organisation="proconnect")
    yonas = await participant(chat, "yonas", district="3")  # Friesland
    await yonas.send("/menu")
    await yonas.click("Talk to a person")
    [thanks, _menu] = await yonas.send("I need help with a form.")
    assert "pro:connect e.V." in thanks.text
    assert tom.history[-1].text.startswith("Question no. 1: Talk to a person")


@pytest.mark.parametrize(("bad", "expected"), [
    ("", "Your message was empty. Please write your question, or send a photo of the letter."),
    ("🙂🙂", "Please write a few words, not only emoji or signs."),
    ("y" * 4001, "That is too long. Please write at most 4,000 characters."),
])
async def test_bad_questions_get_a_short_answer(app: Lotse, chat: Callable[..., Chat], bad: str,
                                                expected: str) -> None:
    await coordinator(app, chat, "ben")
    amal = await participant(chat, "amal")
    await amal.send("/menu")
    await amal.click("Talk to a person")
    hint, again = await amal.send(bad)
    assert hint.text.startswith(expected.split(".")[0])
    assert again.text.startswith("Please write your question.")


async def test_a_file_over_20_mb_is_answered_politely(app: Lotse, chat: Callable[..., Chat]) -> None:
    amal = await participant(chat, "amal")
    await amal.send("/menu")
    await amal.click("Talk to a person")
    hint, _again = await amal.send_file("document", size=25_000_000)
    assert hint.text.startswith("This file is too big.")


async def test_a_coordinator_who_is_not_responsible_cannot_answer(app: Lotse, chat: Callable[..., Chat]) -> None:
    await coordinator(app, chat, "ben")
    other = await coordinator(app, chat, "vera", organisation="bbs_wechloy")
    amal = await participant(chat, "amal")
    await amal.send("/menu")
    await amal.click("Ask a question")
    await amal.click("Apprenticeship (Ausbildung)")
    await amal.send("Where do I apply?")
    for command in ("/reply 1 hello", "/ticket 1", "/claim 1", "/close 1", "/ticket 999", "/ticket x"):
        [refused, *_] = await other.send(command)
        assert refused.text == "There is no question with this number for you."
    assert all("hello" not in m.text for m in amal.history)


async def test_hand_over_routes_again_and_tells_the_participant(app: Lotse, chat: Callable[..., Chat]) -> None:
    ben = await coordinator(app, chat, "ben")
    tom = await coordinator(app, chat, "tom", organisation="agentur")
    amal = await participant(chat, "amal")
    await amal.send("/menu")
    await amal.click("Ask a question")
    await amal.click("Apprenticeship (Ausbildung)")
    await amal.send("Is my diploma recognised?")
    await ben.click("Hand over")
    [done, _menu] = await ben.click("Letters from the employment agency (Agentur für Arbeit)")
    assert "Agentur für Arbeit" in done.text
    assert tom.history[-1].text.startswith("Question no. 1: Letters from the employment agency")
    assert amal.history[-1].text.startswith("Your question no. 1 was passed to Agentur für Arbeit")


async def test_an_invitation_to_a_day_that_has_passed_is_questioned_not_moved_to_next_year(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    """Found by a newcomer: "1.12. 10:00" on 4 December went out as 1 December of the next year, unasked."""
    ben = await coordinator(app, chat, "ben")
    person = await participant(chat, "amal")
    await person.send("/menu")
    await person.send("1")
    await person.click(app.network.topics["internship"].name["en"])
    await person.send("Internship?")
    await ben.click("Take it")
    await ben.click("Ready-made answer")
    await ben.click("Invite to a place and time")
    await ben.send("Jobcenter Oldenburg, Stau 70")
    before = len(person.history)
    replies = await ben.send("20.11. 10:00")  # today is 23 November 2026
    assert replies[0].text.startswith("This date has passed. If you mean next year")
    assert replies[-1].text.startswith("Which day and time?") and len(person.history) == before
    await ben.send("tomorrow 9:00")
    assert "Tuesday, 24 November 2026" in person.history[-1].text


@pytest.mark.parametrize(("language", "code"), [("العربية", "ar"), ("Українська", "uk"), ("Deutsch", "de")])
async def test_ready_made_answers_arrive_in_the_participants_language(
        app: Lotse, chat: Callable[..., Chat], language: str, code: str) -> None:
    ben = await coordinator(app, chat, "ben")
    person = await participant(chat, "amal", language=language)
    await person.send("/menu")
    await person.send("1")  # ask a question
    await person.click(app.network.topics["internship"].name[code])
    await person.send("Internship?")
    await ben.click("Take it")
    await ben.click("Ready-made answer")
    await ben.click("Invite to a place and time")
    await ben.send("Jobcenter Oldenburg, Stau 70")
    shown = await ben.send("24.11.2026 10:30")
    t = Translator(code)
    when = t.when(datetime(2026, 11, 24, 9, 30, tzinfo=UTC))  # 10:30 in Oldenburg
    received, booked = person.history[-2:]  # the invitation, then the appointment it booked (newcomer finding)
    assert booked.text.startswith(t("New appointment (Termin): {what}", what="@").split("@")[0])
    assert received.locale == code and when in received.text
    assert t("Please come to {place} on {date}. Bring the letter and your ID (Ausweis).", place="@",
             date="@").split("@")[0] in received.text
    assert "Ausweis" in received.text  # the German word they will need at the counter, in every language
    english = Translator("en").when(datetime(2026, 11, 24, 9, 30, tzinfo=UTC))
    assert any(m.text.startswith(f"Please come to Jobcenter Oldenburg, Stau 70 on {english}.") for m in shown), \
        texts(shown)


# ---------------------------------------------------------------------------------------------------------------
# Working time and escalation


@pytest.mark.parametrize(("asked", "due"), [  # UTC; Oldenburg is one hour ahead in winter
    (datetime(2026, 11, 23, 9, 0), datetime(2026, 11, 24, 9, 0)),      # Monday 10:00: 6 h today, 2 h Tuesday
    (datetime(2026, 11, 27, 14, 0), datetime(2026, 11, 30, 14, 0)),    # Friday 15:00 -> Monday 15:00
    (datetime(2026, 12, 24, 14, 0), datetime(2026, 12, 28, 14, 0)),    # Christmas: the 25th and 26th are holidays
    (datetime(2026, 11, 28, 10, 0), datetime(2026, 11, 30, 15, 0)),    # Saturday -> Monday 16:00
    (datetime(2025, 10, 30, 14, 0), datetime(2025, 11, 3, 14, 0)),     # Reformation Day, Friday 31 October 2025
    (datetime(2026, 11, 23, 17, 0), datetime(2026, 11, 24, 15, 0)),    # Monday 18:00: all of Tuesday
])
def test_one_working_day_skips_weekends_and_lower_saxony_holidays(asked: datetime, due: datetime) -> None:
    assert add_working_hours(asked.replace(tzinfo=UTC), 8) == due.replace(tzinfo=UTC)


async def test_an_unclaimed_friday_question_is_escalated_on_monday(
        app: Lotse, chat: Callable[..., Chat], clock: FakeClock) -> None:
    tom = await coordinator(app, chat, "tom", organisation="proconnect")
    ben = await coordinator(app, chat, "ben")
    amal = await participant(chat, "amal")
    clock.now = datetime(2026, 11, 27, 14, 0, tzinfo=UTC)  # Friday 15:00 in Oldenburg
    await amal.send("/menu")
    await amal.click("Ask a question")
    await amal.click("Apprenticeship (Ausbildung)")
    await amal.send("Who can help me?")
    tom_before = len(tom.history)
    clock.now = datetime(2026, 11, 30, 13, 59, tzinfo=UTC)
    assert await escalate_overdue(app.sessions, app.network, clock()) == 0
    clock.now = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)
    assert await escalate_overdue(app.sessions, app.network, clock()) == 1
    assert await escalate_overdue(app.sessions, app.network, clock()) == 0  # once
    await app.drain()
    assert tom.history[-1].text.startswith("OVERDUE: nobody has taken this question yet.")
    assert len(tom.history) == tom_before + 1
    assert amal.history[-1].text.startswith("We have not forgotten your question no. 1.")
    [overdue] = await ben.send("/inbox")
    assert overdue.choices[0].label.startswith("#1 · ") and "OVERDUE" in overdue.choices[0].label


async def test_files_travel_both_ways_with_a_question(app: Lotse, chat: Callable[..., Chat]) -> None:
    ben = await coordinator(app, chat, "ben")
    olena = await participant(chat, "olena", language="Українська")
    uk = Translator("uk")
    await olena.send("/menu")
    await olena.click(uk("Ask a question"))
    await olena.click(app.network.topics["apprenticeship"].name["uk"])
    await olena.send_file("document", data=b"%PDF-1.7 Bescheid", name="../../Bescheid Jobcenter.pdf",
                          text="Was ist das?")
    notice, file = ben.history[-2:]
    assert "Was ist das?" in notice.text
    assert file.document_label == "Bescheid Jobcenter.pdf"  # the name only, never a path from outside
    await ben.click("Take it")
    notice = next(m for m in ben.history if "Was ist das?" in m.text)  # edited in place by the claim
    await ben.reply(notice, None, file=b"%PDF-1.7 filled-in form")
    answer = olena.history[-1]
    assert answer.text == uk("Answer to your question no. {number} from {organisation}:", number=1,
                             organisation="Oldenburgische IHK")
    assert olena.transport.received_files["olena"] == [("answer.pdf", b"%PDF-1.7 filled-in form")]
    await olena.send_file("voice", data=b"OggS voice")
    more = ben.history[-1]
    assert more.text.startswith("Question no. 1: more from Olena (no. 2):") and more.document_label == "voice.ogg"
    assert ben.transport.received_files["ben"][-1] == ("voice.ogg", b"OggS voice")
    async with app.sessions() as session:
        stored = (await session.scalars(select(TicketMessage.attachment).order_by(TicketMessage.id))).all()
    assert [a["transport"] if a else None for a in stored] == ["test", None, "test", "test"]
    assert not any(a and "bytes" in a for a in stored)  # only the platform's reference is kept


async def test_a_file_that_cannot_be_fetched_stays_visible_to_the_operator(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    tom = await coordinator(app, chat, "tom", organisation="proconnect")
    amal = await participant(chat, "amal")
    await amal.send("/menu")
    await amal.click("Talk to a person")
    [thanks, _menu] = await amal.send_file("photo")
    await amal.send_file("photo", lost=True)
    assert thanks.text.startswith("Thank you. Your question has the number 1.")
    assert amal.history[-2].text == "Added to your question no. 1."
    async with app.sessions() as session:
        failed = (await session.scalars(select(OutboxEntry).where(OutboxEntry.status == "failed"))).all()
    assert [row.chat for row in failed] == ["tom"] and "no file" in (failed[0].last_error or "")
    assert "[The participant sent a photo.]" in tom.history[-1].text  # the first one arrived, with its file


async def test_words_a_coordinator_types_at_the_menu_are_kept_and_offered_as_an_answer_in_german(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    """A play-tester's coordinator answered a follow-up by typing at the menu: "Bitte antworten Sie mit einer Zahl",
    and her answer was lost. Now it is kept and offered for the questions she took; nothing goes by guess."""
    de = Translator("de")
    pia = await coordinator(app, chat, "pia", locale="de")
    amal = await participant(chat, "amal", language="العربية")
    ar = Translator("ar")
    [refused, _menu] = await pia.send("Montag um 10 Uhr.")  # nothing taken yet: the menu's own hint, as before
    assert refused.text == de("Please answer with a number from 1 to {count}.", count=len(_menu.choices))
    await amal.send("/menu")
    await amal.click(ar("Ask a question"))
    await amal.click(app.network.topics["apprenticeship"].name["ar"])
    await amal.send("أين أقدم طلب التدريب؟")
    await pia.click(de("Take it"))
    [sent, *_] = await pia.send("Bitte bringen Sie den Brief mit.")
    assert sent.text == de("Sent to the participant (question no. {number}).", number=1)
    await amal.send("شكرا! متى بالضبط؟")
    [offer] = await pia.send("Montag um 10 Uhr.")
    assert offer.text.startswith(de("Is what you wrote an answer? Choose the question, and it is sent. "
                                    "Nothing is sent otherwise."))
    assert offer.choices[0].label.startswith(de("Answer to question no. {number} ({participant})", number=1,
                                                participant="@").split("@")[0])
    assert offer.choices[-1].label == de("Back to the menu")
    for wrong in ("3", "0"):  # a play-tester's "3" pressed "Close" on the older notice and closed the question
        hint, again = await pia.send(wrong)
        assert hint.text == de("Please answer with a number from 1 to {count}.", count=2)
        assert again.text == offer.text and again.choices == offer.choices
    [sent, *_] = await pia.send("1")
    assert sent.text == de("Sent to the participant (question no. {number}).", number=1)
    assert amal.history[-1].text.endswith("Montag um 10 Uhr.")
    [offer] = await pia.send("Noch etwas anderes")
    await pia.click(de("Back to the menu"))
    assert not any("Noch etwas anderes" in message.text for message in amal.history)
    for bad in ("🙂 🙂", "'; DROP TABLE tickets; --", "نعم أريد"):  # kept as typed, and still only sent when chosen
        [offer] = await pia.send(bad)
        assert offer.choices[-1].label == de("Back to the menu")
        await pia.send("/menu")
    [refused, _menu] = await pia.send("99")
    assert refused.text == de("Please answer with a number from 1 to {count}.", count=len(_menu.choices))


async def test_words_typed_after_opening_a_question_are_offered_for_that_question_first(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    """A play-tester opened question 2 with /ticket, typed its answer, pressed 1, and it went to question 1's
    participant, the only one offered."""
    ben = await coordinator(app, chat, "ben")
    amal = await participant(chat, "amal")
    bilal = await participant(chat, "bilal")
    for person, text in ((amal, "Where is a language course?"), (bilal, "Is there an evening course?")):
        await person.send("/menu")
        await person.click("Ask a question")
        await person.click("Apprenticeship (Ausbildung)")
        await person.send(text)
    await ben.send("/claim 1")
    await ben.send("/menu")
    await ben.send("/ticket 2")
    [offer] = await ben.send("Yes, Monday and Wednesday at 18:00 at the VHS.")
    assert offer.choices[0].label.startswith("Answer to question no. 2 (Bilal")
    assert offer.choices[1].label.startswith("Answer to question no. 1 (Amal")
    [sent, *_] = await ben.send("1")
    assert sent.text == "Sent to the participant (question no. 2)."
    assert bilal.history[-1].text.endswith("Yes, Monday and Wednesday at 18:00 at the VHS.")
    assert not any("18:00 at the VHS" in message.text for message in amal.history)


async def test_a_reply_to_an_answer_joins_that_question_not_the_newer_one(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    """A play-tester's reply to the IHK's answer went to her newer question at another organisation."""
    ben = await coordinator(app, chat, "ben")
    tom = await coordinator(app, chat, "tom", organisation="agentur")
    amal = await participant(chat, "amal")
    for topic, text in (("Apprenticeship (Ausbildung)", "How do I start an Ausbildung?"),
                        ("Letters from the employment agency (Agentur für Arbeit)", "What does this letter mean?")):
        await amal.send("/menu")
        await amal.click("Ask a question")
        await amal.click(topic)
        await amal.send(text)
    await ben.send("/reply 1 Please send photos of your school certificates.")
    before_tom = len(tom.history)
    [added, _menu] = await amal.send("Yes, I will send them now.")
    assert added.text == "Added to your question no. 1."
    assert ben.history[-1].text.startswith("Question no. 1: more from Amal")
    assert len(tom.history) == before_tom
    [added, _menu] = await amal.send("And one more thing about it.")  # still the question just answered
    assert added.text == "Added to your question no. 1."

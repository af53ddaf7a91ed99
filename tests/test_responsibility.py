"""Who sees whom: every staff command follows responsibility (topic x district x invite scope, plus the cases a
coordinator already handles); people without consent are in no staff search; a new question with another topic is
a new question; `/mydata` names every access in the participant's language.

The network is the example one. Three differently scoped coordinators, one admin, and four people:

| coordinator                                   | Yonas (Landkreis Oldenburg, Ausbildung) | Amal (Stadt Oldenburg, work) | Olena (Ammerland, Sprachkurs) |
|-----------------------------------------------|------|------|------|
| Jobcenter, letters + work, Stadt Oldenburg    | no   | yes  | no   |
| IHK (chamber), Ausbildung, all districts      | yes  | no   | no   |
| BBS Wechloy (school), Sprachkurs, Ammerland   | no   | no   | yes  |
| admin                                         | yes  | yes  | yes  |

Selam only wrote "selam" (no language, no consent): nobody finds them.
"""  # noqa: E501

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select

from bot.core.i18n import Translator
from bot.core.schedule import Schedule
from bot.jobs.digest import send_due_digests
from bot.runtime.app import Lotse
from bot.services.routing import is_responsible, visible_participants
from flows.broadcasts import segment_members
from storage.models import Handle, Pairing, Person, StageChange, Ticket
from tests.chat import Chat, FakeClock, RecordingTransport, texts
from tests.test_intake import ANSWERS, consent
from tests.test_questions import coordinator

NOT_YOURS = "Nobody with this name or number is among your cases."
TI = Translator("ti")
GOALS = {"language_course": "1", "apprenticeship": "2", "work": "4"}
DISTRICTS = {"ammerland": "1", "landkreis_oldenburg": "4", "stadt_oldenburg": "8"}


async def participant(chat: Callable[..., Chat], handle: str, language: str, district: str, goal: str) -> Chat:
    """Consents in `language` and completes the intake with one goal in one district."""
    person = chat(handle)
    await consent(person, language)
    for answer in [DISTRICTS[district], GOALS[goal], *ANSWERS[2:]]:
        await person.send(answer)
    await person.send("1")  # the summary is right
    await person.send("2")  # not shown to partner companies
    return person


async def admin(app: Lotse, transport: RecordingTransport) -> Chat:
    async with app.sessions() as session, session.begin():
        person = Person(role="admin", display_name="Admin", locale="en", organisation="proconnect")
        session.add(person)
        await session.flush()
        session.add(Handle(person_id=person.id, transport=transport.name, platform_id="admin", chat_id="admin"))
    return Chat(app, transport, "admin")


@dataclass
class Network:
    jobcenter: Chat
    chamber: Chat
    school: Chat
    admin: Chat
    yonas: Chat
    amal: Chat
    olena: Chat
    selam: Chat
    ids: dict[str, int]


async def network(app: Lotse, chat: Callable[..., Chat], transport: RecordingTransport) -> Network:
    jobcenter = await coordinator(app, chat, "jobcenter", organisation="jobcenter", topics=["letters", "work"],
                                  districts=["stadt_oldenburg"])
    chamber = await coordinator(app, chat, "chamber", organisation="ihk", topics=["apprenticeship"])
    school = await coordinator(app, chat, "school", organisation="bbs_wechloy", topics=["language_course"],
                               districts=["ammerland"])
    boss = await admin(app, transport)
    yonas = await participant(chat, "yonas", "ትግርኛ", "landkreis_oldenburg", "apprenticeship")
    amal = await participant(chat, "amal", "العربية", "stadt_oldenburg", "work")
    olena = await participant(chat, "olena", "Українська", "ammerland", "language_course")
    selam = chat("selam")
    await selam.send("selam")  # and nothing more: no language, no consent
    async with app.sessions() as session:
        rows = (await session.execute(select(Handle.platform_id, Handle.person_id))).all()
    return Network(jobcenter, chamber, school, boss, yonas, amal, olena, selam, dict(rows))  # type: ignore[arg-type]


SEES = {
    "jobcenter": {"amal"},
    "chamber": {"yonas"},
    "school": {"olena"},
    "admin": {"yonas", "amal", "olena"},
}
"""The table of the module docstring: whom each staff member may see before handling anything."""
PEOPLE = ("yonas", "amal", "olena", "selam")


async def test_the_one_rule_answers_for_every_staff_member_and_person(
        app: Lotse, chat: Callable[..., Chat], transport: RecordingTransport) -> None:
    n = await network(app, chat, transport)
    async with app.sessions() as session:
        for staff_handle, expected in SEES.items():
            staff = await session.get_one(Person, n.ids[staff_handle])
            listed = set((await session.scalars(select(Person.id).where(
                await visible_participants(session, app.network, staff)))).all())
            assert listed == {n.ids[name] for name in expected}, staff_handle
            for name in PEOPLE:
                assert await is_responsible(session, app.network, staff, n.ids[name]) is (name in expected), \
                    (staff_handle, name)
            group = await segment_members(session, app.network, staff, {"kind": "stage", "value": "profile_complete"})
            assert {person.id for person in group} == {n.ids[name] for name in expected}, staff_handle  # /broadcast
        volunteer_like = Person(role="participant", display_name="x")
        assert not await is_responsible(session, app.network, volunteer_like, n.ids["amal"])


async def test_case_stage_pair_unpair_and_booking_follow_responsibility(
        app: Lotse, chat: Callable[..., Chat], transport: RecordingTransport) -> None:
    n = await network(app, chat, transport)
    staff = {"jobcenter": n.jobcenter, "chamber": n.chamber, "school": n.school, "admin": n.admin}
    for staff_handle, phone in staff.items():
        for name in PEOPLE:
            number = n.ids[name]
            allowed = name in SEES[staff_handle]
            where = f"{staff_handle} -> {name}"
            case, *_ = await phone.send(f"/case {number}")
            assert case.text.startswith(f"Case: {name.title()} (no. {number})") if allowed else \
                case.text == NOT_YOURS, where
            first, *_ = await phone.send(f"/stage {number}")
            assert (first.text.startswith("Which stage has the participant reached?") if allowed
                    else first.text == NOT_YOURS), where
            await phone.send("/cancel")
            first, *_ = await phone.send(f"/pair {number}")
            assert (first.text.startswith("No volunteer has told us yet") if allowed
                    else first.text == NOT_YOURS), where
            first, *_ = await phone.send(f"/unpair {number}")
            assert first.text == (f"{name.title()} (no. {number}) has no volunteer." if allowed else NOT_YOURS), where
            await phone.send("/appointment")
            first, *_ = await phone.send(str(number))
            assert (first.text.startswith("What kind of appointment?") if allowed else
                    first.text.startswith(f'I found no participant for "{number}" among those you look after.')), \
                where
            await phone.send("/cancel")
        for name in ("Yonas", "Amal", "Olena", "Selam"):  # by name as well: the same answer
            case, *_ = await phone.send(f"/case {name}")
            assert case.text.startswith(f"Case: {name}") is (name.lower() in SEES[staff_handle]), staff_handle
            assert case.text.startswith("Case: ") or case.text == NOT_YOURS


async def test_the_jobcenter_cannot_open_an_ausbildung_case_in_another_district(
        app: Lotse, chat: Callable[..., Chat], transport: RecordingTransport) -> None:
    """The finding as reported: the full case, phone number included, of someone the Jobcenter is not responsible
    for; and the chamber opening the case of someone whose only goal is work."""
    n = await network(app, chat, transport)
    refused, *_ = await n.jobcenter.send(f"/case {n.ids['yonas']}")
    assert refused.text == NOT_YOURS and "Yonas" not in texts(n.jobcenter.history)
    refused, *_ = await n.chamber.send("/case amal")
    assert refused.text == NOT_YOURS
    case, *_ = await n.chamber.send("/case yonas")
    assert "+4915123456789" in case.text  # their own case: complete


async def test_handling_a_question_opens_the_case_to_who_handles_it(
        app: Lotse, chat: Callable[..., Chat], transport: RecordingTransport) -> None:
    """Yonas asks about a letter: the Jobcenter coordinator for Landkreis Oldenburg gets it and may open his case;
    the one for Stadt Oldenburg may not, and cannot take it either."""
    n = await network(app, chat, transport)
    county = await coordinator(app, chat, "county", organisation="jobcenter", topics=["letters", "work"],
                               districts=["landkreis_oldenburg"])
    refused, *_ = await county.send("/case yonas")
    assert refused.text == NOT_YOURS
    await n.yonas.send("/menu")
    await n.yonas.click(TI("Ask a question"))
    await n.yonas.click(app.network.topics["letters"].name["ti"])
    [thanks, _menu] = await n.yonas.send("ደብዳቤ ካብ Jobcenter በጺሑኒ")
    assert "Jobcenter Oldenburg" in thanks.text
    assert "ደብዳቤ ካብ Jobcenter በጺሑኒ" in county.last.text
    case, *_ = await county.send("/case yonas")
    assert case.text.startswith("Case: Yonas")
    for command in ("/claim 1", "/ticket 1", "/case yonas"):  # the Stadt Oldenburg one: not theirs
        refused, *_ = await n.jobcenter.send(command)
        assert refused.text in ("There is no question with this number for you.", NOT_YOURS), command


async def test_find_lists_only_own_cases_and_never_people_without_consent(
        app: Lotse, chat: Callable[..., Chat], transport: RecordingTransport) -> None:
    n = await network(app, chat, transport)
    for staff_handle, phone in (("jobcenter", n.jobcenter), ("chamber", n.chamber), ("admin", n.admin)):
        await phone.send("/find")
        for _ in range(4):
            await phone.click("Any")
        result, *_ = await phone.click("Any")
        for name in ("Yonas", "Amal", "Olena"):
            assert (f"{name} (no. " in result.text) is (name.lower() in SEES[staff_handle]), (staff_handle, name)
        assert "Selam" not in result.text


async def test_people_without_consent_are_in_no_staff_search(
        app: Lotse, chat: Callable[..., Chat], transport: RecordingTransport) -> None:
    """A person who only wrote "selam" is nobody's case: not in /case, /pair, /appointment, not for the admin."""
    n = await network(app, chat, transport)
    for phone in (n.chamber, n.admin):
        refused, *_ = await phone.send("/case selam")
        assert refused.text == NOT_YOURS
        refused, *_ = await phone.send(f"/case {n.ids['selam']}")
        assert refused.text == NOT_YOURS
        [refused, *_] = await phone.send("/pair selam")
        assert refused.text == NOT_YOURS
    await n.chamber.send("/appointment")
    [refused, *_] = await n.chamber.send("Selam")
    assert refused.text.startswith('I found no participant for "Selam"')


async def test_the_digest_follows_responsibility(
        app: Lotse, chat: Callable[..., Chat], transport: RecordingTransport, clock: FakeClock) -> None:
    n = await network(app, chat, transport)
    clock.advance(days=7)  # the Monday after: everybody registered last week
    assert await send_due_digests(app.sessions, app.network, Schedule(), None, clock()) == 3  # the three coordinators
    await app.drain()
    digests = {"jobcenter": n.jobcenter.last.text, "chamber": n.chamber.last.text, "school": n.school.last.text}
    for staff_handle, digest in digests.items():
        assert digest.startswith("Montagsrunde"), staff_handle
        for name in ("Yonas", "Amal", "Olena"):
            assert (f"{name} (no. " in digest) is (name.lower() in SEES[staff_handle]), (staff_handle, name)
        assert "Selam" not in digest


async def test_pairings_of_others_cannot_be_ended(
        app: Lotse, chat: Callable[..., Chat], transport: RecordingTransport) -> None:
    n = await network(app, chat, transport)
    async with app.sessions() as session, session.begin():
        session.add(Pairing(volunteer_id=n.ids["chamber"], participant_id=n.ids["yonas"],
                            coordinator_id=n.ids["chamber"], status="active", created_at=app.dispatcher.clock()))
    refused, *_ = await n.jobcenter.send("/unpair yonas")
    assert refused.text == NOT_YOURS
    async with app.sessions() as session:
        assert (await session.scalars(select(Pairing.status))).one() == "active"


# ---------------------------------------------------------------------------------------------------------------
# A second question is a new question (issue 20, item 3)


async def test_a_question_on_another_topic_is_a_new_question_routed_by_its_own_topic(
        app: Lotse, chat: Callable[..., Chat], transport: RecordingTransport) -> None:
    """Yonas asks about Ausbildung (the chamber), then about a letter (the Jobcenter), then talks to a person (who
    has his latest open question: the Jobcenter, not the network's non-profit): three questions. The same topic
    again joins its open question, and he hears so."""
    chamber = await coordinator(app, chat, "chamber", organisation="ihk", topics=["apprenticeship"])
    county = await coordinator(app, chat, "county", organisation="jobcenter", topics=["letters", "work"],
                               districts=["landkreis_oldenburg"])
    general = await coordinator(app, chat, "general", organisation="proconnect")
    yonas = await participant(chat, "yonas", "ትግርኛ", "landkreis_oldenburg", "apprenticeship")

    async def ask(topic: str | None, text: str) -> str:
        await yonas.send("/menu")
        if topic is None:
            await yonas.click(TI("Talk to a person"))
        else:
            await yonas.click(TI("Ask a question"))
            await yonas.click(app.network.topics[topic].name["ti"])
        [answer, _menu] = await yonas.send(text)
        return answer.text

    def thanks(number: int, organisation: str) -> str:
        return TI("Thank you. Your question has the number {number}. It went to {organisation}. They usually "
                  "answer within one working day (Monday to Friday). The answer comes here, in this chat.",
                  number=number, organisation=organisation)

    first = await ask("apprenticeship", "ኣብ Ausbildung ከመይ ጌረ ክምዝገብ?")
    assert first == thanks(1, "Oldenburgische IHK")
    seen_by_chamber = len(chamber.history)
    second = await ask("letters", "ደብዳቤ ካብ Jobcenter በጺሑኒ")
    assert second == thanks(2, "Jobcenter Oldenburg")
    assert "ደብዳቤ ካብ Jobcenter በጺሑኒ" in county.last.text
    assert len(chamber.history) == seen_by_chamber  # the chamber does not hear about the letter
    seen_by_general = len(general.history)
    third = await ask(None, "ምስ ሰብ ክዛረብ እደሊ")
    assert third == thanks(3, "Jobcenter Oldenburg") and "ምስ ሰብ ክዛረብ እደሊ" in county.last.text
    assert len(general.history) == seen_by_general
    again = await ask("apprenticeship", "ሕቶይ ብዛዕባ Ausbildung ኣብ መካኒክ እዩ")
    assert again == TI("You already have an open question on this topic (no. {number}). Your message was added "
                       "to it, so the same people see everything together. The answer comes here, in this chat.",
                       number=1)
    assert chamber.last.text.startswith("Question no. 1: more from Yonas")
    async with app.sessions() as session:
        tickets = (await session.execute(select(Ticket.id, Ticket.topic, Ticket.organisations)
                                         .order_by(Ticket.id))).all()
    assert [(number, topic) for number, topic, _ in tickets] == [(1, "apprenticeship"), (2, "letters"), (3, None)]
    assert tickets[1][2] == ["jobcenter"]
    # Free text at the menu joins the open question with the latest word in it: he last wrote on no. 1
    [added, _menu] = await yonas.send("የቐንየለይ")
    assert added.text == TI("Added to your question no. {number}.", number=1)


# ---------------------------------------------------------------------------------------------------------------
# /mydata names every access (issue 20, item 6)


async def test_mydata_names_who_opened_the_case_in_the_participants_language(
        app: Lotse, chat: Callable[..., Chat], transport: RecordingTransport, clock: FakeClock) -> None:
    chamber = await coordinator(app, chat, "chamber", organisation="ihk", topics=["apprenticeship"])
    yonas = await participant(chat, "yonas", "ትግርኛ", "landkreis_oldenburg", "apprenticeship")
    case, *_ = await chamber.send("/case yonas")
    assert case.text.startswith("Case: Yonas")
    viewed = clock()
    await chamber.send("/case yonas")  # twice the same day: one line
    await chamber.send("/stage yonas")
    await chamber.click("Matching")
    await chamber.send("Potenzialcheck beim Träger erledigt")
    clock.advance(days=1)
    copy, _file, *_ = await yonas.send("/mydata")
    who = TI("{organisation} (coordinator)", organisation="Oldenburgische IHK")
    looked = TI("{who} looked at your case on {date}.", who=who, date=TI.date(viewed))
    assert copy.text.count(looked) == 1, copy.text
    assert TI("{who} recorded a new stage of your path on {date}.", who=who, date=TI.date(viewed)) in copy.text
    assert TI("No staff member has opened your case yet.") not in copy.text
    assert TI("Stages of your path that were recorded: {count}", count=1) in copy.text
    for raw in ("stage_changes", "pairings", "enrolments", "audit_log", "case.viewed", "Petra"):
        assert raw not in copy.text
    async with app.sessions() as session:
        assert len((await session.scalars(select(StageChange))).all()) == 1


async def test_mydata_says_where_a_question_went(
        app: Lotse, chat: Callable[..., Chat], transport: RecordingTransport, clock: FakeClock) -> None:
    county = await coordinator(app, chat, "county", organisation="jobcenter", topics=["letters"],
                               districts=["landkreis_oldenburg"])
    yonas = await participant(chat, "yonas", "ትግርኛ", "landkreis_oldenburg", "apprenticeship")
    await yonas.send("/menu")
    await yonas.click(TI("Ask a question"))
    await yonas.click(app.network.topics["letters"].name["ti"])
    await yonas.send("ደብዳቤ ካብ Jobcenter በጺሑኒ")
    asked = clock()
    clock.advance(hours=1)
    await county.send("/ticket 1")
    clock.advance(days=1)
    copy, *_ = await yonas.send("/mydata")
    who = TI("{organisation} (coordinator)", organisation="Jobcenter Oldenburg")
    assert TI("{who} received your question on {date}.", who=who, date=TI.date(asked)) in copy.text
    assert TI("{who} opened your question on {date}.", who=who, date=TI.date(asked)) in copy.text

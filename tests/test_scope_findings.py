"""Who may see and do what (play-test findings): invites within one's own scope, places and candidates within one's
districts, no name to a company without consent, and erasure or withdrawal reaching the company and the volunteer."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import select

from bot.core.i18n import Translator
from bot.jobs.placements import deliver_due_follow_ups
from bot.runtime.app import Lotse
from flows.invites import create_invite
from storage.models import Appointment, Handle, Invite, Pairing, Person, Proposal, StaffScope, Ticket
from tests.chat import Chat, FakeClock, RecordingTransport
from tests.test_companies import TI, company_contact, post_place, tigrinya_participant
from tests.test_intake import staff
from tests.test_questions import coordinator, participant

DE = Translator("de")


async def _by_handle(app: Lotse, handle: str) -> Person:
    async with app.sessions() as session:
        person_id = (await session.scalars(select(Handle.person_id).where(
            Handle.platform_id == handle, Handle.transport == "test"))).one()
        return await session.get_one(Person, person_id)


# ---------------------------------------------------------------------------------------------------------------
# 1. An invite gives at most the inviter's own scope


async def test_a_coordinator_for_one_district_invites_only_for_her_own(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    pia = await coordinator(app, chat, "pia", organisation="proconnect", districts=["friesland"])
    await pia.send("/invite")
    [districts] = await pia.click("Coordinator")
    assert districts.text.startswith("For which districts?")
    assert "All districts" not in pia.buttons() and "Friesland (district)" in pia.buttons()
    assert "Stadt Oldenburg" not in districts.text and "Oldenburg (city)" not in pia.buttons()
    await pia.click("Friesland (district)")
    await pia.click("Done")
    await pia.click("All topics")  # her own invite is for all topics of pro:connect
    [made, _menu] = await pia.click("Done")
    code = made.text.split(": ")[1].split("\n")[0]
    await chat("nora").send(f"/start {code}")
    nora = await _by_handle(app, "nora")
    async with app.sessions() as session:
        scope = await session.get_one(StaffScope, nora.id)
    assert (nora.role, nora.organisation, scope.districts) == ("coordinator", "proconnect", ["friesland"])


async def test_a_code_beyond_its_makers_scope_does_not_work_but_the_operators_does(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    await coordinator(app, chat, "pia", organisation="proconnect", districts=["friesland"])
    pia = await _by_handle(app, "pia")
    async with app.sessions() as session, session.begin():  # a code made before the fix, or by a forged button
        wide, _ = await create_invite(session, app.network, app.dispatcher.clock(), "coordinator", "proconnect",
                                      ["all"], ["all"], created_by=pia.id)
        other_org, _ = await create_invite(session, app.network, app.dispatcher.clock(), "coordinator", "ihk",
                                           ["all"], ["friesland"], created_by=pia.id)
    for code in (wide, other_org):
        [refused, _picker] = await chat(f"x{code[:4]}").send(f"/start {code}")
        assert refused.text.startswith("This invitation code does not work.")
    async with app.sessions() as session:
        assert (await session.scalars(select(Invite.used_at).where(Invite.created_by_id == pia.id))).all() \
            == [None, None]
    # the operator's `lotse invite` (no maker) still gives everything
    everything = await coordinator(app, chat, "otto", organisation="proconnect")
    assert everything.last.text


# ---------------------------------------------------------------------------------------------------------------
# 2. Places and candidates within one's districts; the company hears when a coordinator closes its place


async def test_a_district_coordinator_neither_sees_nor_closes_another_districts_place(
        app: Lotse, chat: Callable[..., Chat], transport: RecordingTransport) -> None:
    tom = await staff(app, transport, "tom")
    kai = await company_contact(app, chat, "kai")
    number = await post_place(kai)  # in Ammerland
    pia = await coordinator(app, chat, "pia", organisation="proconnect", districts=["friesland"])
    refused, *_ = await pia.send(f"/place {number}")
    assert refused.text == f"I found no place with the number {number} among yours."
    [listed, *_] = await pia.send("/places")
    assert f"#{number} " not in listed.text
    [refused_close] = await pia.press_raw(f"@pl:closed:{number}")
    assert refused_close.text == "This is not available for you."
    [shown] = await tom.send(f"/place {number}")
    assert "Status: open" in shown.text
    before = len(kai.history)
    await tom.click("Close")
    [told] = kai.history[before:]
    assert told.text == f"A coordinator of pro:connect e.V. has closed your place no. {number} " \
                        "(Internship (Praktikum))."


async def test_candidates_outside_ones_districts_appear_without_name(
        app: Lotse, chat: Callable[..., Chat], transport: RecordingTransport) -> None:
    tom = await staff(app, transport, "tom")
    kai = await company_contact(app, chat, "kai")
    number = await post_place(kai)  # in Ammerland
    yonas = await tigrinya_participant(chat)  # lives in Stadt Oldenburg
    await tom.send(f"/place {number}")
    await tom.click("Propose participants")
    await tom.send("1")
    await yonas.click(TI("Yes"))
    ana = await coordinator(app, chat, "ana", organisation="proconnect", districts=["ammerland"])
    [shown] = await ana.send(f"/place {number}")
    assert "Proposed:" in shown.text and "Yonas" not in shown.text
    assert "– candidate no. " in shown.text
    [full] = await tom.send(f"/place {number}")
    assert "– Yonas (no. " in full.text


# ---------------------------------------------------------------------------------------------------------------
# 3. Without the partner-companies consent, a company never gets the name


async def test_without_consent_the_offer_says_so_and_the_company_never_reads_the_name(
        app: Lotse, chat: Callable[..., Chat], transport: RecordingTransport) -> None:
    tom = await staff(app, transport, "tom")
    kai = await company_contact(app, chat, "kai")
    number = await post_place(kai)
    yonas = await tigrinya_participant(chat, share=False)
    await tom.send(f"/place {number}")
    await tom.click("Propose participants")
    await tom.send("1")
    offer = yonas.last
    assert TI("If you say yes, the company reads your goals, German level, field and free times. It does not get "
              "your name or your phone number.") in offer.text
    assert TI("If you say yes, the company sees your name and your profile, so that it knows who is interested. "
              "It never gets your phone number.") not in offer.text
    await yonas.click(TI("Yes"))
    [accepted, *_] = await kai.click("Accept")
    assert accepted.text.startswith("Accepted. candidate no. ") and "Yonas" not in accepted.text
    [place_view] = await kai.send(f"/place {number}")
    assert "Yonas" not in place_view.text
    assert tom.last.text.startswith("The company accepted Yonas (no. ")  # the coordinator keeps the name


# ---------------------------------------------------------------------------------------------------------------
# 4. Erasure and withdrawal reach the company and the volunteer


async def accepted_with_volunteer(app: Lotse, chat: Callable[..., Chat],
                                  transport: RecordingTransport) -> tuple[Chat, Chat, Chat, Chat, int, int]:
    """Yonas (shares with companies) is accepted by Kai's company and accompanied by the volunteer Jana."""
    tom = await staff(app, transport, "tom")
    jana = await staff(app, transport, "jana")
    kai = await company_contact(app, chat, "kai")
    number = await post_place(kai)
    yonas = await tigrinya_participant(chat)
    await tom.send(f"/place {number}")
    await tom.click("Propose participants")
    await tom.send("1")
    await yonas.click(TI("Yes"))
    await kai.click("Accept")
    participant_id = (await _by_handle(app, "yonas")).id
    async with app.sessions() as session, session.begin():
        volunteer = (await session.scalars(select(Person).where(Person.persona == "jana"))).one()
        session.add(Pairing(volunteer_id=volunteer.id, participant_id=participant_id, status="active"))
    return tom, jana, kai, yonas, number, participant_id


async def test_deleting_ones_data_tells_the_company_and_the_volunteer(
        app: Lotse, chat: Callable[..., Chat], transport: RecordingTransport) -> None:
    tom, jana, kai, yonas, number, participant_id = await accepted_with_volunteer(app, chat, transport)
    before_kai, before_jana = len(kai.history), len(jana.history)
    await yonas.send("/delete")
    await yonas.click(TI("Yes"))
    [company_told] = kai.history[before_kai:]
    assert company_told.text.startswith(f"candidate no. {participant_id} has withdrawn from place no. {number}. "
                                        "The appointment on ")
    assert company_told.text.endswith(" is cancelled.") and "Yonas" not in company_told.text
    [volunteer_told] = jana.history[before_jana:]
    assert volunteer_told.locale == "de"
    assert volunteer_told.text.startswith(DE(
        "Participant no. {number}, whom you accompany, has had their data deleted. The accompaniment ends here. "
        "Please also delete your own notes about them.", number=participant_id))
    assert DE("Their appointments (Termine) are cancelled: {dates}.", dates="")[:12] in volunteer_told.text
    assert "Yonas" not in volunteer_told.text
    assert tom.last.text.startswith(f"Participant no. {participant_id} asked for their data to be deleted.")


async def test_withdrawing_consent_withdraws_the_match_cancels_the_appointment_and_tells_everyone(
        app: Lotse, chat: Callable[..., Chat], transport: RecordingTransport, clock: FakeClock) -> None:
    tom, jana, kai, yonas, number, participant_id = await accepted_with_volunteer(app, chat, transport)
    before_kai, before_jana, before_tom = len(kai.history), len(jana.history), len(tom.history)
    await yonas.send("/privacy")
    await yonas.click(TI("Withdraw my consent"))
    [asked] = await yonas.click(TI("Yes"))
    assert asked.text.startswith(TI("Shall Lotse delete all your data now?"))
    await yonas.click(TI("No"))
    [company_told] = kai.history[before_kai:]
    assert company_told.text.startswith(f"candidate no. {participant_id} has withdrawn from place no. {number}.")
    [volunteer_told] = jana.history[before_jana:]
    assert volunteer_told.text.startswith(DE("Participant no. {number}, whom you accompany, has withdrawn their "
                                             "consent. The accompaniment ends here.", number=participant_id))
    [staff_told] = tom.history[before_tom:]
    assert staff_told.text.startswith(f"Participant no. {participant_id} has withdrawn their consent.")
    async with app.sessions() as session:
        assert (await session.scalars(select(Appointment.status))).all() == ["cancelled"]
        assert (await session.scalars(select(Proposal.status))).all() == ["withdrawn"]
        assert (await session.scalars(select(Pairing.status))).all() == ["ended"]
    [place_view] = await kai.send(f"/place {number}")
    assert "withdrawn by the participant" not in place_view.text  # a company sees only its live candidates
    # the evening before the first day, the company is not reminded of a candidate who withdrew
    clock.now = datetime(2027, 1, 11, 17, 0, tzinfo=UTC)
    before_kai = len(kai.history)
    await deliver_due_follow_ups(app.sessions, app.network, clock())
    await app.drain()
    assert kai.history[before_kai:] == []


# ---------------------------------------------------------------------------------------------------------------
# 5. A coordinator for one topic does not get general questions


async def test_a_coordinator_for_one_topic_cannot_open_a_general_question(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    tom = await coordinator(app, chat, "tom", organisation="proconnect")
    lara = await coordinator(app, chat, "lara", organisation="proconnect", topics=["language_course"])
    yonas = await participant(chat, "yonas", district="3")  # Friesland
    await yonas.send("/menu")
    await yonas.click("Talk to a person")
    await yonas.send("I need help with a form.")
    assert tom.last.text.startswith("Question no. 1: Talk to a person")
    assert not lara.last.text.startswith("Question no. 1")
    refused, *_ = await lara.send("/ticket 1")
    assert refused.text == "There is no question with this number for you."
    async with app.sessions() as session:
        assert (await session.scalars(select(Ticket.topic))).all() == [None]

"""From an open place to a placement: ranked candidates, the coordinator's choice, the offer, the company's answer.

1. A coordinator presses "Propose participants" on a place: the participants they may see are ranked with the
   same explainable rules as `/find` (`flows.find.search`), each with its reasons; those already proposed, and
   those already in Ausbildung or a job, are left out. The coordinator chooses whom to propose.
2. Each chosen participant gets the offer in their language, in plain words, without the company's name or
   address yet, and answers Yes / No / I have a question (a question becomes a ticket for the coordinators).
3. A yes goes to the company's contacts. Without the participant's partner-companies consent they see goals,
   German level, fields and times, never name or phone. Every candidate shown to a company is audited.
4. The company accepts or declines. An accepted match becomes an appointment (with the participant's usual
   reminders), the company gets its own reminder, and both sides get check-ins (`bot.jobs.placements`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.core.access import COMPANY, PLACE_STAFF, Action, company_sees_name, holders, may
from bot.core.i18n import N_, Translator
from bot.core.messages import Choice, button_key
from bot.core.network import Network, company_name, district_name, field_name
from bot.core.notify import messages_for
from bot.services.reminders import appointment_key, load_event, out_of_quiet_hours, plan
from bot.services.routing import is_responsible
from bot.services.stages import STAGE_RANK, lotse_reason
from flows.cases import change_stage
from flows.engine import END, STAY, YES, Flow, InputKind, Next, Step, Turn
from flows.find import ANY, MAX_RESULTS, Criteria, search
from flows.intake import ASAP, WEEKDAYS, answer_text, participant_label
from flows.places import (
    DURATION_DAYS,
    DURATIONS,
    HOURS,
    SHORT_KINDS,
    START_HOUR,
    audit_company_view,
    german_name,
    kind_name,
    visible_place,
)
from flows.registry import register, register_button, rest_in_menu, start_flow
from storage.models import (
    Appointment,
    AuditEntry,
    Person,
    Place,
    PlacementFollowUp,
    Profile,
    Proposal,
    TicketNotice,
)

BERLIN = ZoneInfo("Europe/Berlin")
PLACED = ("apprenticeship", "employment")
STATUS_NAMES: dict[str, str] = {
    "offered": N_("offered, waiting for the participant"),
    "wants": N_("wants to go, waiting for the company"),
    "declined": N_("declined by the participant"),
    "accepted": N_("accepted by the company"),
    "rejected": N_("declined by the company"),
    "withdrawn": N_("withdrawn by the participant"),
}
CAME, NOT_CAME = N_("came"), N_("did not come")
KIND_STAGE = {"hospitation": "internship", "praktikum": "internship", "eq": "internship",
              "ausbildung": "apprenticeship", "job": "employment"}


async def move_forward(turn_session: Any, participant_id: int, stage: str, actor_id: int | None, now: datetime,
                       reason: str) -> bool:
    """Moves the stage only forward (a placement never moves anyone back); a dated history entry is written."""
    profile = await turn_session.get(Profile, participant_id)
    if profile is None or STAGE_RANK.get(profile.stage or "registered", 0) >= STAGE_RANK[stage]:
        return False
    return await change_stage(turn_session, participant_id, stage, actor_id, now, reason=reason) is not None


async def record_start(turn: Turn, place: Place, proposal: Proposal, reason: str) -> None:
    """A start at a Hospitation, Praktikum or EQ place moves the stage to Praktikum. At an Ausbildung or job place
    the goal is counted from the signed contract (`flows.contracts`), not from the start: whoever proposed the
    candidate is asked to record it, unless it is recorded already."""
    from storage.models import Contract

    stage = KIND_STAGE.get(place.kind, "internship")
    if stage not in PLACED:
        await move_forward(turn.session, proposal.participant_id, stage, turn.person.id, turn.now, reason)
        return
    recorded = await turn.session.scalar(select(Contract.id).where(
        Contract.participant_id == proposal.participant_id, Contract.recorded_at >= proposal.created_at).limit(1))
    if recorded is None and proposal.proposed_by_id == turn.person.id:
        turn.say(CONTRACT_NUDGE, number=proposal.participant_id)
    elif recorded is None:
        await _tell(turn, proposal.proposed_by_id, CONTRACT_NUDGE, number=proposal.participant_id)


CONTRACT_NUDGE = N_("When the contract is signed, please record it: /contract {number}")


# ---------------------------------------------------------------------------------------------------------------
# 1. Ranking and choosing


async def start_matching(turn: Turn, place: Place) -> None:
    if not may(turn.person, Action.WORK_WITH_PLACES) or place.status != "open":
        turn.say(N_("This is not available for you."))
        return
    criteria = Criteria(occupation=place.occupation, district=ANY,
                        german=place.german_level if place.german_level != "any" else ANY,
                        time=place.hours if place.hours in ("morning", "afternoon") else ANY, stage=ANY)
    already = set((await turn.session.scalars(select(Proposal.participant_id).where(
        Proposal.place_id == place.id))).all())
    matches = [m for m in await search(turn, criteria)
               if m.person.id not in already and m.profile.stage not in PLACED][:MAX_RESULTS]
    turn.session.add(AuditEntry(actor_id=turn.person.id, action="participants.searched", at=turn.now,
                                details={"place": place.id, "shown": [m.person.id for m in matches]}))
    if not matches:
        turn.say(N_("Nobody fits this place yet (field, German level, times)."))
        return
    same = turn.t(N_("lives in the same district"))
    candidates: list[dict[str, Any]] = []
    for match in matches:
        reasons = list(match.reasons)
        if match.person.district == place.district:
            reasons.insert(0, same)
        if match.profile.answers.get("licence") == "yes":
            reasons.append(turn.t(N_("has a driving licence")))
        clashes = clashes_with_place(turn.t, match.profile.answers, place)
        candidates.append({"id": match.person.id, "label": participant_label(turn.t, match.person),
                           "why": "; ".join([*("⚠️ " + clash for clash in clashes), *reasons])
                           or turn.t(N_("fits the filters")), "clash": bool(clashes)})
    # Who can come first (a play-tester saw someone who could start only in March offered a December Praktikum
    # with no word of it), then the same district, otherwise the order of /find.
    candidates.sort(key=lambda c: (bool(c["clash"]), same not in str(c["why"])))
    start_flow(turn, "propose", {"place": place.id, "candidates": candidates})


def clashes_with_place(t: Translator, answers: dict[str, Any], place: Place) -> list[str]:
    """What speaks against a candidate for this place, from their own answers: a later earliest start, no free
    time at the place's hours. Shown first among the reasons; the coordinator decides."""
    clashes: list[str] = []
    start = answers.get("start")
    if isinstance(start, str) and start != ASAP:
        try:
            earliest = date.fromisoformat(start)
        except ValueError:
            earliest = None
        if earliest is not None and earliest > date.fromisoformat(place.starts_on):
            clashes.append(t(N_("can start only from {date}"), date=t.date(earliest, "medium")))
    free = answers.get("availability")
    if isinstance(free, list) and free:
        if place.hours == "full_day":
            fits = any(f"{day}_morning" in free and f"{day}_afternoon" in free for day in WEEKDAYS)
        else:
            fits = any(str(slot).endswith(f"_{place.hours}") for slot in free)
        if not fits:
            clashes.append(t(N_("has no free time at these hours")))
    return clashes


def candidate_options(turn: Turn) -> list[Choice]:
    return [Choice(str(c["id"]), c["label"]) for c in turn.data.get("candidates", [])]


def candidates_text(turn: Turn) -> str:
    lines = [turn.t(N_("Participants for place no. {number}, the best first:"), number=turn.data.get("place"))]
    for number, candidate in enumerate(turn.data.get("candidates", []), start=1):
        lines.append(f"{number}. {candidate['label']} – {candidate['why']}")
    lines += ["", turn.t(N_("Whom do you want to propose? They get the offer in their language first."))]
    return "\n".join(lines)


async def _propose(turn: Turn, value: Any) -> Next:
    place = await visible_place(turn, str(turn.data.get("place", "")))
    if place is None or place.status != "open":
        turn.say(N_("This place is no longer open."))
        return END
    chosen = {str(c["id"]): c for c in turn.data.get("candidates", [])}
    offered = 0
    for key in value:
        candidate = chosen.get(str(key))
        participant = await turn.session.get(Person, int(key)) if candidate else None
        if participant is None or participant.privacy_version is None:
            continue
        proposal = Proposal(place_id=place.id, participant_id=participant.id, proposed_by_id=turn.person.id,
                            status="offered", reasons=candidate["why"] if candidate else None, created_at=turn.now)
        turn.session.add(proposal)
        await turn.session.flush()
        turn.outgoing.extend(await messages_for(turn.session, participant,
                                                partial(offer_text, network=turn.network, place=place,
                                                        shares=await shares_with_companies(turn.session,
                                                                                           participant.id)),
                                                partial(offer_buttons, proposal=proposal)))
        await move_forward(turn.session, participant.id, "matching", turn.person.id, turn.now,
                           lotse_reason(N_("proposed for place no. {number}"), number=place.id))
        turn.session.add(AuditEntry(actor_id=turn.person.id, subject_id=participant.id, action="proposal.made",
                                    at=turn.now, details={"place": place.id, "proposal": proposal.id}))
        offered += 1
    turn.say(N_("Offers sent: {count}. You hear from me when they answer."), count=offered)
    return END


PROPOSE = Flow(name="propose", roles=PLACE_STAFF, steps=(
    Step(name="who", prompt=N_("Whom do you want to propose?"), kind=InputKind.MULTI, options=candidate_options,
         text=candidates_text, on_answer=_propose, next=END, describe="ranked participants with reasons"),
))


# ---------------------------------------------------------------------------------------------------------------
# 2. The offer to the participant


async def shares_with_companies(session: Any, participant_id: int) -> bool:
    """The partner-companies consent: without it a company never learns the participant's name (issue 18)."""
    profile = await session.get(Profile, participant_id)
    return bool(profile and profile.share_with_companies)


def offer_text(t: Translator, network: Network, place: Place, shares: bool) -> str:
    """Plain words, in the participant's language: what, where (the district only), from when, how long; and what
    the company learns, which depends on the partner-companies consent (`shares`)."""
    learns = (N_("If you say yes, the company sees your name and your profile, so that it knows who is interested. "
                 "It never gets your phone number.") if shares else
              N_("If you say yes, the company reads your goals, German level, field and free times. It does not get "
                 "your name or your phone number."))
    lines = [t(N_("A company offers you a place: {kind}."), kind=kind_name(t, place.kind)),
             t(N_("Field: {field}"), field=field_name(t, network, place.occupation)),
             t(N_("Where: {district}"), district=district_name(t, network, place.district)),
             t(N_("From: {date}"), date=t.date(date.fromisoformat(place.starts_on))),
             t(N_("How long: {duration}"), duration=t(DURATIONS.get(place.duration, DURATIONS["open"]))),
             t(N_("Time: {hours}"), hours=t(HOURS.get(place.hours, HOURS["full_day"]))),
             t(N_("German needed: {level}"), level=german_name(t, place.german_level)),
             "", t(learns),
             "", t(N_("Would you like to go?"))]
    return "\n".join(lines)


def offer_buttons(t: Translator, proposal: Proposal) -> list[Choice]:
    return [Choice(button_key("po", f"y:{proposal.id}"), t(N_("Yes"))),
            Choice(button_key("po", f"n:{proposal.id}"), t(N_("No"))),
            Choice(button_key("po", f"q:{proposal.id}"), t(N_("I have a question")))]


async def _tell(turn: Turn, person_id: int | None, message: str, **values: object) -> None:
    person = await turn.session.get(Person, person_id) if person_id else None
    if person is not None:
        await turn.tell(person, message, (), **values)


def _label_of(person: Person) -> Callable[[Translator], str]:
    return lambda t: participant_label(t, person)


async def _offer_button(turn: Turn, payload: str) -> None:
    answer, _, number = payload.partition(":")
    proposal = await turn.session.get(Proposal, int(number)) if number.isdigit() and len(number) < 10 else None
    if proposal is None or proposal.participant_id != turn.person.id or answer not in ("y", "n", "q"):
        turn.say(N_("This button belongs to an earlier question and no longer works."))
        return
    place = await turn.session.get_one(Place, proposal.place_id)
    if answer == "q":
        start_flow(turn, "offer_question", {"proposal": proposal.id})
        return
    if proposal.status != "offered":
        turn.say(N_("You have already answered this offer. Thank you."))
        return
    if answer == "y" and place.status != "open":
        turn.say(N_("This place is no longer open."))
        return
    proposal.decided_at = turn.now
    label = _label_of(turn.person)
    if answer == "n":
        proposal.status = "declined"
        turn.say(N_("All right. Thank you for telling us. We will look for something else with you."))
        await _tell(turn, proposal.proposed_by_id, N_("{participant} does not want place no. {number}."),
                    participant=label, number=place.id)
        return
    proposal.status = "wants"
    shown = await send_to_company(turn, place, proposal)
    turn.say(N_("Thank you! We tell the company now. You will hear from us here."))
    await _tell(turn, proposal.proposed_by_id, N_("{participant} wants to go to place no. {number}. The company "
                                                  "has been asked."), participant=label, number=place.id)
    if not shown:
        await _tell(turn, proposal.proposed_by_id, N_("Nobody at {company} can be reached in the chat. Please "
                                                      "call them."), company=company_name(turn.network,
                                                                                          place.organisation))


async def _offer_question(turn: Turn, value: Any) -> Next:
    """A participant's question about an offer: a ticket (topic internship) that says which place it is about."""
    from flows.tickets import _asked  # the one way a question is routed and answered

    proposal = await turn.session.get(Proposal, int(turn.data.get("proposal", 0)))
    message = dict(value)
    if proposal is not None and proposal.participant_id == turn.person.id:
        context = Translator("de")(N_("About the offer of place no. {number}:"), number=proposal.place_id)
        message["text"] = f"{context}\n{message['text']}"
    topic = "internship" if "internship" in turn.network.topics else None
    turn.data["topic"] = topic
    ours = proposal is not None and proposal.participant_id == turn.person.id
    if ours and proposal is not None and await _ask_the_proposer(turn, proposal, message, topic):
        after: Next = END
    else:
        after = await _asked(turn, message)
        if ours and proposal is not None and proposal.proposed_by_id:
            await _notify_proposer(turn, proposal.proposed_by_id, topic)
    if proposal is not None and proposal.participant_id == turn.person.id and proposal.status == "offered":
        # The offer again with its buttons: asking about it must not end the chance to say yes (found by a newcomer).
        place = await turn.session.get_one(Place, proposal.place_id)
        shares = await shares_with_companies(turn.session, turn.person.id)
        turn.send(offer_text(turn.t, turn.network, place, shares), offer_buttons(turn.t, proposal), "single",
                  hint=turn.t(N_("Write the number of your answer.")))
        rest_in_menu(turn)
        return STAY
    return after


async def _ask_the_proposer(turn: Turn, proposal: Proposal, message: dict[str, Any], topic: str | None) -> bool:
    """A new question about an offer goes to the coordinator who proposed it, and the participant is told their
    organisation: they know the place and answer it (found in a play-test: she was told one organisation and
    answered by another). False when that coordinator cannot take questions, or one on the topic is open."""
    from flows.tickets import open_question, open_ticket_about

    proposer = await turn.session.get(Person, proposal.proposed_by_id) if proposal.proposed_by_id else None
    organisation = turn.network.organisations.get(proposer.organisation or "") if proposer is not None else None
    if proposer is None or organisation is None or not may(proposer, Action.BE_RESPONSIBLE) or \
            await open_ticket_about(turn.session, turn.person.id, topic) is not None:
        return False
    ticket = await open_question(turn, topic, [str(proposer.organisation)], message, [proposer.id], [])
    turn.say(N_("Thank you. Your question has the number {number}. It went to {organisation}. They usually answer "
                "within one working day (Monday to Friday). The answer comes here, in this chat."),
             number=ticket.id, organisation=organisation.name)
    return True


async def _notify_proposer(turn: Turn, proposer_id: int, topic: str | None) -> None:
    """The coordinator who proposed the place gets the question too (and may answer it): they know the place, and
    the participant was told their coordinator answers. Found by a newcomer: it went to the chamber alone."""
    from flows.tickets import open_ticket_about, send_notices

    proposer = await turn.session.get(Person, proposer_id)
    ticket = await open_ticket_about(turn.session, turn.person.id, topic)
    if proposer is None or ticket is None or not may(proposer, Action.BE_RESPONSIBLE):
        return
    already = await turn.session.scalar(select(TicketNotice.id).where(
        TicketNotice.ticket_id == ticket.id, TicketNotice.person_id == proposer.id).limit(1))
    if already is None:
        await turn.session.flush()
        await send_notices(turn, ticket, [proposer.id], [])


OFFER_QUESTION = Flow(name="offer_question", roles=frozenset({"participant"}), steps=(
    Step(name="question", prompt=N_("Please write your question about the offer. Your coordinator answers here."),
         kind=InputKind.MESSAGE, on_answer=_offer_question, next=END, max_length=2000,
         describe="text; becomes a question (ticket) to the coordinators"),
))


# ---------------------------------------------------------------------------------------------------------------
# 3. The company's side


COMPANY_LABELS: dict[str, str] = {
    "goals": N_("Goals"),
    "occupations": N_("Fields of work"),
    "german": N_("German level"),
    "availability": N_("Free times"),
    "start": N_("Earliest start"),
}
"""What a company may always read about a candidate: never name, phone, district or languages spoken."""


def candidate_text(t: Translator, network: Network, profile: Profile | None, participant: Person, place: Place,
                   shares: bool) -> str:
    """What a company reads about a candidate: the name only with the partner-companies consent, the phone never
    (the consent's text does not name it; the company's contact for the day reaches the participant instead)."""
    if shares:
        head = t(N_("Candidate for place no. {number}: {participant}"), number=place.id,
                 participant=participant_label(t, participant))
    else:
        head = t(N_("Candidate no. {candidate} for place no. {number} (no name: this person did not agree to share it "
                   "with companies)"),
                 candidate=participant.id, number=place.id)
    answers = dict(profile.answers) if profile else {}
    lines = [f"{t(label)}: {answer_text(t, network, answers, key)}" for key, label in COMPANY_LABELS.items()
             if answers.get(key)]
    # What speaks against the place, said before the company accepts (a play-tester's company accepted someone
    # for 14 December who had written she could start only on 15 January, with no word of it).
    clashes = ["⚠️ " + clash for clash in clashes_with_place(t, answers, place)]
    return "\n".join([head, *lines, *clashes, "", t(N_("Do you accept this candidate?"))])


def _candidate_text(values: tuple[Network, Profile | None, Person, Place, bool], t: Translator) -> str:
    return candidate_text(t, *values)


def company_buttons(t: Translator, proposal: Proposal) -> list[Choice]:
    return [Choice(button_key("pc", f"a:{proposal.id}"), t(N_("Accept"))),
            Choice(button_key("pc", f"r:{proposal.id}"), t(N_("Decline")))]


async def company_contacts(session: Any, organisation: str) -> list[Person]:
    return list((await session.scalars(select(Person).where(Person.role.in_(holders(Action.ACT_FOR_COMPANY)),
                                                            Person.organisation == organisation)
                                        .order_by(Person.id))).all())


async def send_to_company(turn: Turn, place: Place, proposal: Proposal) -> int:
    participant = await turn.session.get_one(Person, proposal.participant_id)
    profile = await turn.session.get(Profile, participant.id)
    shares = bool(profile and profile.share_with_companies)
    reached = 0
    for contact in await company_contacts(turn.session, place.organisation):
        sees = company_sees_name(contact, shares)
        found = await messages_for(turn.session, contact,
                                   partial(_candidate_text, (turn.network, profile, participant, place, sees)),
                                   partial(company_buttons, proposal=proposal))
        turn.outgoing.extend(found)
        reached += len(found)
        turn.session.add(AuditEntry(actor_id=contact.id, subject_id=participant.id, action="company.candidate.shown",
                                    at=turn.now, details={"place": place.id, "proposal": proposal.id,
                                                          "name_shared": shares}))
    return reached


async def company_label(turn: Turn, participant: Person) -> str:
    """The participant as the reader may name them: a company contact without the partner-companies consent, and a
    coordinator not responsible for them (another district), read "candidate no. N", as on the company's side."""
    if may(turn.person, Action.ACT_FOR_COMPANY):
        if company_sees_name(turn.person, await shares_with_companies(turn.session, participant.id)):
            return participant_label(turn.t, participant)
    elif may(turn.person, Action.SEE_ALL) or await is_responsible(turn.session, turn.network, turn.person,
                                                                      participant):
        return participant_label(turn.t, participant)
    return turn.t(N_("candidate no. {candidate}"), candidate=participant.id)


async def proposal_lines(turn: Turn, place: Place) -> list[str]:
    """The proposals under a place: a company sees names only where the participant consented."""
    rows = (await turn.session.execute(select(Proposal, Person, Profile).join(
        Person, Person.id == Proposal.participant_id).outerjoin(Profile, Profile.person_id == Person.id).where(
        Proposal.place_id == place.id).order_by(Proposal.id))).all()
    if may(turn.person, Action.ACT_FOR_COMPANY):
        rows = [row for row in rows if row[0].status in ("wants", "accepted", "rejected")]
    if not rows:
        return []
    lines = ["", turn.t(N_("Proposed:"))]
    for proposal, person, profile in rows:
        shares = bool(profile and profile.share_with_companies)
        who = await company_label(turn, person)
        audit_company_view(turn, "company.candidate.listed", {"place": place.id, "name_shared": shares},
                           subject=person.id)
        status = turn.t(STATUS_NAMES.get(proposal.status, STATUS_NAMES["offered"]))
        if proposal.attended is not None:
            status = f"{status}, {turn.t(CAME if proposal.attended else NOT_CAME)}"
        lines.append(f"– {who}: {status}")
    return lines


def first_day(place: Place, now: datetime) -> datetime:
    """The first day at the place's start hour (Berlin); a start already past moves to the next morning."""
    start = datetime.combine(date.fromisoformat(place.starts_on), time(START_HOUR.get(place.hours, 8)),
                             tzinfo=BERLIN).astimezone(UTC)
    while start <= now:
        start += timedelta(days=1)
    return start


async def _company_button(turn: Turn, payload: str) -> None:
    answer, _, number = payload.partition(":")
    proposal = await turn.session.get(Proposal, int(number)) if number.isdigit() and len(number) < 10 else None
    place = await turn.session.get(Place, proposal.place_id) if proposal else None
    if (proposal is None or place is None or not may(turn.person, Action.ACT_FOR_COMPANY) or answer not in ("a", "r")
            or turn.person.organisation != place.organisation):
        turn.say(N_("This button belongs to an earlier question and no longer works."))
        return
    if proposal.status != "wants":
        turn.say(N_("This candidate has already been answered."))
        return
    if answer == "a" and place.status in ("paused", "closed"):
        turn.say(N_("This place is no longer open."))
        return
    participant = await turn.session.get_one(Person, proposal.participant_id)
    proposal.decided_at = turn.now
    turn.session.add(AuditEntry(actor_id=turn.person.id, subject_id=participant.id, at=turn.now,
                                action="proposal.accepted" if answer == "a" else "proposal.rejected",
                                details={"place": place.id, "proposal": proposal.id}))
    label = _label_of(participant)
    if answer == "r":
        proposal.status = "rejected"
        turn.say(N_("Declined. Thank you for the quick answer."))
        await turn.tell(participant, N_("The company has chosen someone else this time. This is normal. "
                                        "We keep looking with you."))
        await _tell(turn, proposal.proposed_by_id, N_("The company declined {participant} for place no. "
                                                      "{number}."), participant=label, number=place.id)
        return
    proposal.status = "accepted"
    await arrange(turn, place, proposal, participant)
    accepted = len((await turn.session.scalars(select(Proposal.id).where(
        Proposal.place_id == place.id, Proposal.status == "accepted"))).all())
    if accepted >= place.capacity and place.status == "open":
        place.status, place.updated_at = "filled", turn.now
        turn.say(N_("All places of no. {number} are taken now; it is marked as filled."), number=place.id)


MIDWAY_AFTER_DAYS = 3
"""A Hospitation, Praktikum or EQ longer than this gets a check-in to the company halfway through."""


def midway_day(first: date, last: date) -> date:
    """Halfway between the first and the last day, on a weekday (a Saturday or Sunday moves back to Friday), and
    never on the first or the last day, which have check-ins of their own."""
    day = first + (last - first) // 2
    while day.weekday() >= 5 and day - timedelta(days=1) > first:
        day -= timedelta(days=1)
    return max(day, first + timedelta(days=1))


async def arrange(turn: Turn, place: Place, proposal: Proposal, participant: Person) -> None:
    """An accepted match: the appointment with the participant's reminders, and the follow-up for both sides."""
    from flows.appointments import BOOKED, notice_for

    starts_at = first_day(place, turn.now)
    appointment = Appointment(participant_id=participant.id, booked_by_id=proposal.proposed_by_id,
                              kind="internship" if place.kind in SHORT_KINDS else "other", starts_at=starts_at,
                              place=place.site, note=place.day_contact, status="scheduled", created_at=turn.now,
                              updated_at=turn.now)
    turn.session.add(appointment)
    await turn.session.flush()
    proposal.appointment_id = appointment.id
    await plan(turn.session, participant, appointment_key(appointment.id), starts_at, turn.now, new_event=True)
    event = await load_event(turn.session, appointment_key(appointment.id))
    assert event is not None
    turn.outgoing.extend(await notice_for(turn.session, participant, BOOKED, event))
    zone = ZoneInfo(turn.person.time_zone)
    evening = datetime.combine(starts_at.astimezone(zone).date() - timedelta(days=1), time(18), tzinfo=zone)
    last = starts_at.astimezone(zone).date() + timedelta(days=DURATION_DAYS.get(place.duration, 14) - 1)
    plans = [(turn.person.id, "company_reminder", out_of_quiet_hours(evening.astimezone(UTC), turn.person.time_zone)),
             (participant.id, "participant_checkin",
              datetime.combine(starts_at.astimezone(zone).date(), time(16), tzinfo=zone).astimezone(UTC)),
             (turn.person.id, "company_checkin", datetime.combine(last, time(16), tzinfo=zone).astimezone(UTC))]
    if place.kind in SHORT_KINDS and last > starts_at.astimezone(zone).date():
        # after the placement the participant is asked too, not only the company (issue 18: during and after)
        plans.append((participant.id, "participant_after", datetime.combine(last, time(16), tzinfo=zone)
                      .astimezone(UTC)))
    if place.kind in SHORT_KINDS and DURATION_DAYS.get(place.duration, 14) > MIDWAY_AFTER_DAYS:
        # and during a longer one the company: is the candidate coming, any problem (a no-show is not left to the end)
        plans.append((turn.person.id, "company_midway", datetime.combine(
            midway_day(starts_at.astimezone(zone).date(), last), time(12), tzinfo=zone).astimezone(UTC)))
    for person_id, kind, due in plans:
        if kind == "company_reminder" and not turn.now < due < starts_at:
            continue
        turn.session.add(PlacementFollowUp(proposal_id=proposal.id, person_id=person_id, kind=kind, due_at=due,
                                           status="planned"))
    turn.say(N_("Accepted. {participant} starts on {when}. They got the address and the contact for the day. "
                "I will remind you the evening before and ask you how it went."),
             participant=await company_label(turn, participant), when=turn.t.when(starts_at))
    await _tell(turn, proposal.proposed_by_id, N_("The company accepted {participant} for place no. {number}. "
                                                  "First day: {when}."),
                participant=_label_of(participant), number=place.id, when=lambda t: t.when(starts_at))


# ---------------------------------------------------------------------------------------------------------------
# 4. Check-ins: answers move the stage with a dated history entry


PARTICIPANT_ANSWERS = ("good", "hard", "problem")


def participant_checkin_buttons(t: Translator, follow_up_id: int) -> list[Choice]:
    return [Choice(button_key("ci", f"good:{follow_up_id}"), t(N_("Good"))),
            Choice(button_key("ci", f"hard:{follow_up_id}"), t(N_("Not so good"))),
            Choice(button_key("ci", f"problem:{follow_up_id}"), t(N_("I have a problem")))]


async def _own_follow_up(turn: Turn, number: str, kind: str) -> tuple[PlacementFollowUp, Proposal, Place] | None:
    if not number.isdigit() or len(number) > 9:
        return None
    follow_up = await turn.session.get(PlacementFollowUp, int(number))
    if follow_up is None or follow_up.person_id != turn.person.id or follow_up.kind != kind:
        return None
    proposal = await turn.session.get_one(Proposal, follow_up.proposal_id)
    place = await turn.session.get_one(Place, proposal.place_id)
    return follow_up, proposal, place


async def _participant_checkin(turn: Turn, payload: str) -> None:
    answer, _, number = payload.partition(":")
    found = await _own_follow_up(turn, number, "participant_checkin") or await _own_follow_up(
        turn, number, "participant_after")
    if found is None or answer not in PARTICIPANT_ANSWERS or found[0].status == "answered":
        turn.say(N_("This button belongs to an earlier question and no longer works."))
        return
    follow_up, proposal, place = found
    follow_up.status, follow_up.answer = "answered", {"answer": answer, "at": turn.now.isoformat()}
    await record_start(turn, place, proposal,
                       lotse_reason(N_("check-in: started at place no. {number}"), number=place.id))
    label = _label_of(turn.person)
    if answer == "good":
        turn.say(N_("That is good to hear. Good luck!"))
        return
    await _tell(turn, proposal.proposed_by_id, N_("Check-in: {participant} says it is not going well at place no. "
                                                  "{number}. Please get in touch."), participant=label,
                number=place.id)
    if answer == "hard":
        turn.say(N_("Thank you for telling us. Your coordinator will get in touch."))
        return
    start_flow(turn, "offer_question", {"proposal": proposal.id})


MIDWAY_ANSWERS: dict[str, str] = {"good": N_("All good"), "problem": N_("A problem"), "absent": N_("Did not come")}
MIDWAY_BUTTON = "cm"


def midway_buttons(t: Translator, follow_up_id: int) -> list[Choice]:
    return [Choice(button_key(MIDWAY_BUTTON, f"{key}:{follow_up_id}"), t(label))
            for key, label in MIDWAY_ANSWERS.items()]


async def placement_coordinators(turn: Turn, proposal: Proposal, participant: Person) -> list[Person]:
    """Who hears of a problem during a placement at once: the coordinator who proposed the candidate, else those
    responsible for the participant."""
    from bot.services.routing import responsible_staff

    proposer = await turn.session.get(Person, proposal.proposed_by_id) if proposal.proposed_by_id else None
    if proposer is not None and may(proposer, Action.WORK_WITH_PLACES):
        return [proposer]
    return await responsible_staff(turn.session, turn.network, participant)


async def _company_midway(turn: Turn, payload: str) -> None:
    """The company's answer halfway through: all good, a problem (the coordinator hears at once, then the company
    may say what it is), or the candidate did not come (the coordinator hears at once)."""
    answer, _, number = payload.partition(":")
    found = await _own_follow_up(turn, number, "company_midway")
    if found is None or answer not in MIDWAY_ANSWERS or found[0].status == "answered" or found[1].status != "accepted":
        turn.say(N_("This button belongs to an earlier question and no longer works."))
        return
    follow_up, proposal, place = found
    there = answer != "absent"
    follow_up.status, follow_up.answer = "answered", {"answer": answer, "attended": there, "at": turn.now.isoformat()}
    participant = await turn.session.get_one(Person, proposal.participant_id)
    turn.session.add(AuditEntry(actor_id=turn.person.id, subject_id=participant.id, action="placement.midway",
                                at=turn.now, details={"place": place.id, "answer": answer}))
    if there:
        await record_start(turn, place, proposal, lotse_reason(
            N_("company check-in during place no. {number}: {label}"), number=place.id,
            label=MIDWAY_ANSWERS.get(answer, answer)))
    if answer == "good":
        turn.say(N_("Thank you! This helps us a lot."))
        return
    message = (N_("Check-in during place no. {number}: {company} reports a problem with {participant}. Please get "
                  "in touch.") if there else
               N_("Check-in during place no. {number}: {company} says {participant} did not come. Please get in "
                  "touch."))
    for coordinator in await placement_coordinators(turn, proposal, participant):
        await turn.tell(coordinator, message, number=place.id, company=company_name(turn.network, place.organisation),
                        participant=_label_of(participant))
    if there:
        start_flow(turn, "company_problem", {"follow_up": follow_up.id})
        return
    turn.say(N_("Thank you. The coordinator knows now and will get in touch."))


async def _company_problem_told(turn: Turn, value: Any) -> Next:
    found = await _own_follow_up(turn, str(turn.data.get("follow_up", "")), "company_midway")
    if found is None:
        turn.say(N_("This button belongs to an earlier question and no longer works."))
        return END
    follow_up, proposal, place = found
    if value:
        follow_up.answer = {**(follow_up.answer or {}), "text": str(value)}
        participant = await turn.session.get_one(Person, proposal.participant_id)
        for coordinator in await placement_coordinators(turn, proposal, participant):
            await turn.tell(coordinator, N_("{company} about {participant} (place no. {number}): {text}"),
                            company=company_name(turn.network, place.organisation),
                            participant=_label_of(participant), number=place.id, text=str(value))
    turn.say(N_("Thank you. The coordinator knows now and will get in touch."))
    return END


COMPANY_PROBLEM = Flow(name="company_problem", roles=frozenset({COMPANY}), steps=(
    Step(name="what", prompt=N_("What is the problem? A few words help the coordinator."), kind=InputKind.TEXT,
         optional=True, max_length=1000, on_answer=_company_problem_told, next=END,
         describe="optional; the coordinator already knows there is a problem, this adds what it is"),
))


async def _company_checkin_button(turn: Turn, payload: str) -> None:
    found = await _own_follow_up(turn, payload, "company_checkin")
    if found is None or found[0].status == "answered":
        turn.say(N_("This button belongs to an earlier question and no longer works."))
        return
    start_flow(turn, "company_checkin", {"follow_up": found[0].id})


def fits_options(turn: Turn) -> list[Choice]:
    return [Choice("yes", turn.t(N_("Yes"))), Choice("partly", turn.t(N_("Partly"))),
            Choice("no", turn.t(N_("No")))]


NEXT_STEPS: dict[str, str] = {
    "praktikum": N_("Internship (Praktikum)"),
    "eq": N_("Entry qualification (Einstiegsqualifizierung)"),
    "ausbildung": N_("Apprenticeship (Ausbildung)"),
    "job": N_("Job (Arbeit)"),
    "none": N_("None"),
}
NEXT_STAGE = {"praktikum": "internship", "eq": "internship", "ausbildung": "apprenticeship", "job": "employment"}


def next_options(turn: Turn) -> list[Choice]:
    return [Choice(key, turn.t(label)) for key, label in NEXT_STEPS.items()]


async def _attended(turn: Turn, value: Any) -> Next:
    if value == YES:
        return "fits"
    return await _company_checkin_done(turn, None)


async def _company_checkin_done(turn: Turn, value: Any) -> Next:
    found = await _own_follow_up(turn, str(turn.data.get("follow_up", "")), "company_checkin")
    if found is None:
        turn.say(N_("This button belongs to an earlier question and no longer works."))
        return END
    follow_up, proposal, place = found
    attended = turn.data.get("attended") == YES
    follow_up.status = "answered"
    follow_up.answer = {"attended": attended, "fits": turn.data.get("fits"), "next": value, "at": turn.now.isoformat()}
    participant_id = proposal.participant_id
    if attended:
        await record_start(turn, place, proposal,
                           lotse_reason(N_("company check-in: attended place no. {number}"), number=place.id))
    if value in NEXT_STAGE and NEXT_STAGE[str(value)] not in PLACED:
        # An offered Praktikum or EQ moves on; an offered Ausbildung or job is a promise, not yet the goal: the
        # stage follows the signed contract (`flows.contracts`), recorded when it is signed.
        await move_forward(turn.session, participant_id, NEXT_STAGE[str(value)], turn.person.id, turn.now,
                           lotse_reason(N_("company check-in: {stage} offered after place no. {number}"),
                                        stage=NEXT_STAGE[str(value)], number=place.id))
    turn.session.add(AuditEntry(actor_id=turn.person.id, subject_id=participant_id, action="placement.checked_in",
                                at=turn.now, details={"place": place.id, **follow_up.answer}))
    participant = await turn.session.get_one(Person, participant_id)
    await _tell(turn, proposal.proposed_by_id, N_("Check-in from {company} about {participant}: came: {attended}; "
                                                  "fits: {fits}; next step offered: {next}."),
                company=company_name(turn.network, place.organisation), participant=_label_of(participant),
                attended=lambda t: t(N_("Yes") if attended else N_("No")), fits=str(turn.data.get("fits") or "–"),
                next=(lambda t: t(NEXT_STEPS[str(value)])) if value in NEXT_STEPS else "–")
    if value in ("ausbildung", "job"):
        if not (attended and KIND_STAGE.get(place.kind) in PLACED):  # else asked above already
            await _tell(turn, proposal.proposed_by_id, CONTRACT_NUDGE, number=participant_id)
        turn.say(N_("Thank you! This helps us a lot. When the contract is signed, tap \"Contract signed\" under "
                    "/place {number}."), number=place.id)
        return END
    turn.say(N_("Thank you! This helps us a lot."))
    return END


COMPANY_CHECKIN = Flow(name="company_checkin", roles=frozenset({COMPANY}), steps=(
    Step(name="attended", prompt=N_("Did the candidate come?"), kind=InputKind.YES_NO, on_answer=_attended,
         next="fits", branches=(("no", "menu"),), describe="yes or no; no ends the check-in"),
    Step(name="fits", prompt=N_("Does it fit?"), kind=InputKind.CHOICE, options=fits_options, next="next",
         describe="yes, partly, no"),
    Step(name="next", prompt=N_("Which next step did you offer?"), kind=InputKind.CHOICE, options=next_options,
         on_answer=_company_checkin_done, next=END, describe="Praktikum, EQ, Ausbildung, job, none; moves the stage"),
))

# ---------------------------------------------------------------------------------------------------------------
# Who came: after the first day of a place, the coordinator records it (those accepted for it)


NOBODY = "nobody"


async def started_candidates(session: Any, place: Place, now: datetime) -> list[tuple[Proposal, Person]]:
    """Accepted candidates whose first day at the place has begun."""
    return [(proposal, person) for proposal, person in (await session.execute(select(Proposal, Person).join(
        Person, Person.id == Proposal.participant_id).join(Appointment, Appointment.id == Proposal.appointment_id)
        .where(Proposal.place_id == place.id, Proposal.status == "accepted", Appointment.starts_at <= now)
        .order_by(Proposal.id))).all()]


async def start_place_attendance(turn: Turn, place: Place) -> None:
    found = await started_candidates(turn.session, place, turn.now)
    if not may(turn.person, Action.WORK_WITH_PLACES) or not found:
        turn.say(N_("This button belongs to an earlier question and no longer works."))
        return
    start_flow(turn, "place_came", {"place": place.id, "coming": [
        {"id": person.id, "label": participant_label(turn.t, person)} for _, person in found]})


def _came_options(turn: Turn) -> list[Choice]:
    return [*(Choice(str(c["id"]), c["label"]) for c in turn.data.get("coming", [])),
            Choice(NOBODY, turn.t(N_("Nobody came")))]


async def _place_came(turn: Turn, value: Any) -> Next:
    place = await turn.session.get(Place, int(turn.data.get("place", 0)))
    found = await started_candidates(turn.session, place, turn.now) if place is not None else []
    if place is None or not found:
        turn.say(N_("This button belongs to an earlier question and no longer works."))
        return END
    chosen = {str(key) for key in value} - {NOBODY}
    for proposal, _person in found:
        proposal.attended = str(proposal.participant_id) in chosen
    turn.session.add(AuditEntry(actor_id=turn.person.id, action="placement.attendance", at=turn.now,
                                details={"place": place.id, "came": sorted(int(key) for key in chosen)}))
    turn.say(N_("Noted: {came} of {coming} came."), came=sum(1 for p, _ in found if p.attended),
             coming=len(found))
    for proposal, _person in found:
        if proposal.attended:
            await record_start(turn, place, proposal,
                               lotse_reason(N_("coordinator: came to place no. {number}"), number=place.id))
    return END


PLACE_CAME = Flow(name="place_came", roles=PLACE_STAFF, steps=(
    Step(name="came", prompt=N_("Who came?"),
         kind=InputKind.MULTI, options=_came_options, on_answer=_place_came, next=END,
         describe="the accepted candidates; those who came count as started"),
))


register(PROPOSE)
register(OFFER_QUESTION)
register(COMPANY_CHECKIN)
register(PLACE_CAME)
register(COMPANY_PROBLEM)
register_button("po", _offer_button)
register_button("pc", _company_button)
register_button("ci", _participant_checkin)
register_button("cc", _company_checkin_button)
register_button(MIDWAY_BUTTON, _company_midway)

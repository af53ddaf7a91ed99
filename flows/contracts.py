"""A signed contract is an event of its own: Ausbildung, a job subject to social insurance (SVB) or an EQ.

An offer in a company's check-in is a promise; the goal of the programme (75 % in Ausbildung or SVB) counts
contracts. So a coordinator (`/contract NUMBER`, named in the case view) or the company contact for their own match
(the "Contract signed" button under the place) records one: the employer, the kind and the first day. Recording it
moves the participant's stage with a dated history entry (Ausbildung -> apprenticeship, SVB -> employment, EQ ->
Praktikum stage, never backwards), tells the participant in their language, tells the responsible coordinators when
the company recorded it, and for an Ausbildung opens the mentoring with an "Assign a mentor" button.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.access import COMPANY, PLACE_STAFF, Action, company_sees_name, may
from bot.core.i18n import N_, Translator
from bot.core.messages import Choice, button_key
from bot.core.network import Network, company_name
from bot.core.notify import messages_for
from bot.core.text import clean_text
from bot.services.mentorships import drop_unstarted_mentorship, open_mentorship
from bot.services.routing import is_responsible, responsible_staff
from bot.services.stages import lotse_reason, stage_name
from flows.cases import CONTRACT_BUTTON, NOT_YOURS, change_stage, one_participant
from flows.engine import END, YES, Flow, InputKind, Invalid, Next, Step, Turn
from flows.intake import participant_label
from flows.registry import Command, register, register_button, start_flow
from storage.models import AuditEntry, Contract, Person, Place, Profile, Proposal, StageChange

CONTRACT_KINDS: dict[str, str] = {
    "ausbildung": N_("Apprenticeship (Ausbildung)"),
    "svb": N_("Job subject to social insurance (SVB)"),
    "eq": N_("Entry qualification (Einstiegsqualifizierung)"),
}
CONTRACT_STAGE = {"ausbildung": "apprenticeship", "svb": "employment", "eq": "internship"}
GOAL_KINDS = ("ausbildung", "svb")
"""The kinds the 75 % goal counts; an EQ prepares an Ausbildung."""
OTHER_EMPLOYER = "other"
CONTRACT_ROLES = frozenset({COMPANY, *PLACE_STAFF})
LONGEST_AGO = timedelta(days=366)
"""A contract recorded late may have started up to a year ago; anything earlier is a typing mistake."""
_DAY_FORMS = (
    (re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$"), ("y", "m", "d")),
    (re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$"), ("d", "m", "y")),
    (re.compile(r"^(\d{1,2})\.(\d{1,2})\.?$"), ("d", "m")),
    (re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$"), ("d", "m", "y")),
)


def kind_label(t: Translator, kind: str) -> str:
    return t(CONTRACT_KINDS.get(kind, CONTRACT_KINDS["svb"]))


def employer_name(t: Translator, network: Network, organisation: str | None) -> str:
    return company_name(network, organisation) if organisation else t(N_("another employer"))


def parse_start(text: str, now: datetime, time_zone: str) -> date:
    """The contract's first day: up to a year back (recorded late) and two years ahead. "1.8." is the next 1 August
    unless it was less than half a year ago."""
    raw = clean_text(text).lower()
    today = now.astimezone(ZoneInfo(time_zone)).date()
    example = f"01.08.{today.year + 1}"
    for pattern, order in _DAY_FORMS:
        found = pattern.match(raw)
        if not found:
            continue
        parts = dict(zip(order, (int(g) for g in found.groups()), strict=True))
        try:
            day = date(parts.get("y", today.year), parts["m"], parts["d"])
        except ValueError:
            raise Invalid(N_("There is no such date. Please check the day and the month.")) from None
        if "y" not in parts and day < today - timedelta(days=183):
            day = day.replace(year=day.year + 1)
        if day < today - LONGEST_AGO:
            raise Invalid(N_("This day is more than a year ago. Please check the year."))
        if day > date(today.year + 2, today.month, min(today.day, 28)):
            raise Invalid(N_("Please choose a date within the next two years."))
        return day
    raise Invalid(N_("Please write a date like {example}."), example=example)


# ---------------------------------------------------------------------------------------------------------------
# Who may record whose contract


async def company_matches(session: AsyncSession, organisation: str, participant_id: int | None = None,
                          place_id: int | None = None) -> list[tuple[Proposal, Place, Person]]:
    """The accepted matches of one company (optionally of one participant or place): what its contact may record."""
    statement = (select(Proposal, Place, Person).join(Place, Place.id == Proposal.place_id)
                 .join(Person, Person.id == Proposal.participant_id)
                 .where(Place.organisation == organisation, Proposal.status == "accepted"))
    if participant_id is not None:
        statement = statement.where(Proposal.participant_id == participant_id)
    if place_id is not None:
        statement = statement.where(Place.id == place_id)
    return [(p, place, person) for p, place, person in (await session.execute(statement.order_by(Proposal.id))).all()]


def shown_name(t: Translator, reader: Person, participant: Person, profile: Profile | None) -> str:
    """A participant as a company contact, mentor or coordinator reads them: a company sees the name only with the
    partner-companies consent (also the apprentice's name in mentoring)."""
    shares = bool(profile and profile.share_with_companies)
    if company_sees_name(reader, shares):
        return participant_label(t, participant)
    return t(N_("candidate no. {candidate}"), candidate=participant.id)


async def _may_record(turn: Turn, participant: Person) -> bool:
    if may(turn.person, Action.ACT_FOR_COMPANY):
        return bool(turn.person.organisation) and bool(await company_matches(
            turn.session, turn.person.organisation or "", participant.id))
    return may(turn.person, Action.SEE_ALL) or await is_responsible(turn.session, turn.network, turn.person,
                                                                       participant)


# ---------------------------------------------------------------------------------------------------------------
# Starting: /contract NUMBER, or the button under a place


async def contract_command(turn: Turn, argument: str) -> None:
    """`/contract NUMBER`: a coordinator records a signed contract for one of their participants; a company contact
    for a candidate of their own accepted match."""
    if not clean_text(argument):
        turn.say(N_("Please write the participant's number, for example /contract 12."))
        return
    if may(turn.person, Action.ACT_FOR_COMPANY):
        number = clean_text(argument).lstrip("#")
        matches = await company_matches(turn.session, turn.person.organisation or "", int(number)) \
            if number.isdigit() and len(number) < 10 else []
        if not matches:
            turn.say(NOT_YOURS)
            return
        proposal, place, person = matches[-1]
        label = shown_name(turn.t, turn.person, person, await turn.session.get(Profile, person.id))
        start_flow(turn, "contract", {"participant": proposal.participant_id, "place": place.id,
                                      "company": place.organisation, "label": label}, at="kind")
        return
    participant = await one_participant(turn, argument)
    if participant is None:
        return
    start_flow(turn, "contract", {"participant": participant.id, "label": participant_label(turn.t, participant)},
               at="company")


async def start_from_place(turn: Turn, place: Place) -> None:
    """The "Contract signed" button under a place: among its accepted candidates."""
    if may(turn.person, Action.ACT_FOR_COMPANY) and turn.person.organisation != place.organisation:
        turn.say(N_("This button belongs to an earlier question and no longer works."))
        return
    matches = await company_matches(turn.session, place.organisation, place_id=place.id)
    if not matches:
        turn.say(N_("This button belongs to an earlier question and no longer works."))
        return
    data: dict[str, Any] = {"place": place.id, "company": place.organisation}
    candidates = []
    for proposal, _place, person in matches:
        if not may(turn.person, Action.ACT_FOR_COMPANY) and not await _may_record(turn, person):
            continue  # a coordinator who sees the place records only for participants they answer for
        profile = await turn.session.get(Profile, person.id)
        candidates.append({"key": str(proposal.participant_id),
                           "label": shown_name(turn.t, turn.person, person, profile)})
    if not candidates:
        turn.say(NOT_YOURS)
        return
    if may(turn.person, Action.ACT_FOR_COMPANY):  # what a company contact is shown goes to the audit log
        turn.session.add(AuditEntry(actor_id=turn.person.id, action="company.contract.candidates", at=turn.now,
                                    details={"place": place.id, "shown": [int(c["key"]) for c in candidates]}))
    if len(candidates) == 1:
        start_flow(turn, "contract", {**data, "participant": int(candidates[0]["key"]),
                                      "label": candidates[0]["label"]}, at="kind")
        return
    start_flow(turn, "contract", {**data, "candidates": candidates}, at="who")


# ---------------------------------------------------------------------------------------------------------------
# The flow


def candidate_options(turn: Turn) -> list[Choice]:
    return [Choice(str(c["key"]), str(c["label"])) for c in turn.data.get("candidates", [])]


async def _who_chosen(turn: Turn, value: Any) -> Next:
    turn.data["participant"] = int(value)
    turn.data["label"] = next((str(c["label"]) for c in turn.data.get("candidates", []) if str(c["key"]) == value), "")
    return "kind"


def employer_options(turn: Turn) -> list[Choice]:
    return [*(Choice(key, found.name) for key, found in turn.network.organisations.items()
              if found.kind == "company"), Choice(OTHER_EMPLOYER, turn.t(N_("another employer")))]


def kind_options(turn: Turn) -> list[Choice]:
    return [Choice(key, turn.t(label)) for key, label in CONTRACT_KINDS.items()]


def _start_day(turn: Turn, value: Any) -> Any:
    return parse_start(str(value), turn.now, turn.person.time_zone).isoformat()


async def _participant(turn: Turn) -> Person | None:
    found = await turn.session.get(Person, int(turn.data.get("participant", 0)))
    return found if found is not None and found.role == "participant" else None


def _organisation(turn: Turn) -> str | None:
    company = str(turn.data.get("company") or OTHER_EMPLOYER)
    return None if company == OTHER_EMPLOYER else company


def summary_text(turn: Turn) -> str:
    return "\n".join([
        turn.t(N_("Contract signed: {participant}"), participant=str(turn.data.get("label") or "–")),
        turn.t(N_("Contract: {kind}"), kind=kind_label(turn.t, str(turn.data.get("kind")))),
        turn.t(N_("Employer: {employer}"), employer=employer_name(turn.t, turn.network, _organisation(turn))),
        turn.t(N_("First day: {date}"), date=turn.t.date(date.fromisoformat(str(turn.data.get("starts"))))),
        "", turn.t(N_("Record this contract?"))])


async def _save(turn: Turn, value: Any) -> Next:
    if value != YES:
        turn.say(N_("Nothing was saved."))
        return END
    participant = await _participant(turn)
    if participant is None or not await _may_record(turn, participant):
        turn.say(NOT_YOURS)
        return END
    kind, starts_on, organisation = str(turn.data["kind"]), str(turn.data["starts"]), _organisation(turn)
    if may(turn.person, Action.ACT_FOR_COMPANY) and organisation != turn.person.organisation:
        turn.say(NOT_YOURS)
        return END
    already = await turn.session.scalar(select(Contract.id).where(
        Contract.participant_id == participant.id, Contract.kind == kind, Contract.starts_on == starts_on).limit(1))
    if already is not None:
        turn.say(N_("This contract is already recorded."))
        return END
    place_id = turn.data.get("place")
    if place_id is None and organisation is not None:
        matches = await company_matches(turn.session, organisation, participant.id)
        place_id = matches[-1][1].id if matches else None
    contract = Contract(participant_id=participant.id, kind=kind, organisation=organisation, place_id=place_id,
                        starts_on=starts_on, recorded_by_id=turn.person.id, recorded_at=turn.now)
    turn.session.add(contract)
    await turn.session.flush()
    await record_stage(turn.session, contract, turn.person.id, turn.now)
    turn.session.add(AuditEntry(actor_id=turn.person.id, subject_id=participant.id, action="contract.recorded",
                                at=turn.now, details={"contract": contract.id, "kind": kind, "starts_on": starts_on,
                                                      "organisation": organisation, "place": place_id}))
    profile = await turn.session.get(Profile, participant.id)
    await _tell_participant(turn, participant, contract)
    mentor_button = kind == "ausbildung"
    if mentor_button:
        await open_mentorship(turn.session, participant, turn.now)
    turn.send(turn.t(N_("Recorded: {participant} signed a contract ({kind}) from {date}. Stage: {stage}."),
                     participant=shown_name(turn.t, turn.person, participant, profile), kind=kind_label(turn.t, kind),
                     date=turn.t.date(date.fromisoformat(starts_on)),
                     stage=stage_name(turn.t, profile.stage if profile else None)),
              [Choice(button_key(CONTRACT_BUTTON, f"undo:{contract.id}"),
                      turn.t(N_("Withdraw (recorded by mistake)")))],
              selection="single")
    if mentor_button and may(turn.person, Action.BE_RESPONSIBLE):
        turn.send(turn.t(N_("An apprenticeship (Ausbildung) can have a mentor. Assign one now?")),
                  [mentor_choice(turn.t, participant.id)], selection="single")
    if may(turn.person, Action.ACT_FOR_COMPANY):
        await _tell_coordinators(turn, participant, contract, mentor_button)
    return END


def contract_reason(contract: Contract) -> str:
    return lotse_reason(N_("contract signed: {label}, first day {day}"),
                        label=CONTRACT_KINDS.get(contract.kind, CONTRACT_KINDS["svb"]), day=str(contract.starts_on))


async def record_stage(session: AsyncSession, contract: Contract, actor_id: int | None, now: datetime) -> None:
    """The stage follows the contract with a dated history entry: Ausbildung and SVB set it (moving between the
    two is allowed), an EQ only moves someone forward to the Praktikum stage."""
    from bot.services.stages import STAGE_RANK

    stage = CONTRACT_STAGE[contract.kind]
    reason = contract_reason(contract)
    profile = await session.get(Profile, contract.participant_id)
    current = STAGE_RANK.get((profile.stage if profile else None) or "registered", 0)
    if contract.kind in GOAL_KINDS or current < STAGE_RANK[stage]:
        await change_stage(session, contract.participant_id, stage, actor_id, now, reason=reason)


MENTOR_BUTTON = "am"
"""The "Assign a mentor" button's key: `flows.mentoring` answers it (mentoring builds on contracts)."""


def mentor_choice(t: Translator, participant_id: int) -> Choice:
    return Choice(button_key(MENTOR_BUTTON, str(participant_id)), t(N_("Assign a mentor")))


async def _tell_participant(turn: Turn, participant: Person, contract: Contract) -> None:
    def render(t: Translator) -> str:
        return t(N_("Congratulations! Your contract is recorded: {kind} from {date}. We wish you a good start."),
                 kind=kind_label(t, contract.kind), date=t.date(date.fromisoformat(contract.starts_on)))

    turn.outgoing.extend(await messages_for(turn.session, participant, render))


async def _tell_coordinators(turn: Turn, participant: Person, contract: Contract, mentor: bool) -> None:
    for coordinator in await responsible_staff(turn.session, turn.network, participant):
        def render(t: Translator) -> str:
            return t(N_("{employer} recorded a signed contract for {participant}: {kind} from {date}."),
                     employer=employer_name(t, turn.network, contract.organisation),
                     participant=participant_label(t, participant), kind=kind_label(t, contract.kind),
                     date=t.date(date.fromisoformat(contract.starts_on)))

        turn.outgoing.extend(await messages_for(turn.session, coordinator, render,
                                                (lambda t: [mentor_choice(t, participant.id)]) if mentor else None))


async def _contract_button(turn: Turn, payload: str) -> None:
    """"undo:CONTRACT" withdraws a contract; "new:PARTICIPANT" (from /stage) starts recording one."""
    action, _, number = payload.partition(":")
    if action not in ("undo", "new") or not number.isdigit() or len(number) > 9 or (
            action == "new" and turn.person.role not in CONTRACT_ROLES):
        turn.say(N_("This button belongs to an earlier question and no longer works."))
        return
    if action == "new":
        await contract_command(turn, number)
        return
    await withdraw(turn, int(number))


async def withdraw(turn: Turn, contract_id: int) -> None:
    """A contract recorded by mistake (wrong person, kind or day) is withdrawn by whoever recorded it or a coordinator
    responsible for the participant: the row goes (the audit log keeps both steps), the stage goes back to where the
    contract found it (a dated history entry), a mentorship it opened that never got a mentor is closed again, and
    the participant, who was congratulated, is told in their language."""
    contract = await turn.session.get(Contract, contract_id)
    participant = await turn.session.get(Person, contract.participant_id) if contract else None
    if contract is None or participant is None or not (
            contract.recorded_by_id == turn.person.id or (not may(turn.person, Action.ACT_FOR_COMPANY)
                                                          and await _may_record(turn, participant))):
        turn.say(N_("This button belongs to an earlier question and no longer works."))
        return
    reason = contract_reason(contract)
    change = (await turn.session.scalars(select(StageChange).where(
        StageChange.participant_id == participant.id, StageChange.reason == reason,
        StageChange.at == contract.recorded_at).order_by(StageChange.id.desc()).limit(1))).first()
    profile = await turn.session.get(Profile, participant.id)
    if change is not None and profile is not None and profile.stage == change.to_stage:
        await change_stage(turn.session, participant.id, change.from_stage or "registered", turn.person.id, turn.now,
                           reason=lotse_reason(N_("contract withdrawn (recorded by mistake): {reason}"), reason=reason))
    if contract.kind == "ausbildung":
        await drop_unstarted_mentorship(turn.session, participant.id, contract.recorded_at)
    turn.session.add(AuditEntry(actor_id=turn.person.id, subject_id=participant.id, action="contract.withdrawn",
                                at=turn.now, details={"contract": contract.id, "kind": contract.kind,
                                                      "starts_on": contract.starts_on}))
    kind, organisation = contract.kind, contract.organisation
    await turn.session.delete(contract)
    # they were congratulated on it: they hear plainly that it was a mistake, in their language
    await turn.tell(participant, N_("The record of your contract (Vertrag) with {employer} was removed. It was "
                                    "entered by mistake. Questions? Write /menu."),
                    employer=lambda t: employer_name(t, turn.network, organisation))
    turn.say(N_("Withdrawn: the contract of {participant} ({kind}). Stage: {stage}."),
             participant=shown_name(turn.t, turn.person, participant, profile), kind=kind_label(turn.t, kind),
             stage=stage_name(turn.t, profile.stage if profile else None))


CONTRACT = Flow(name="contract", roles=CONTRACT_ROLES, steps=(
    Step(name="who", prompt=N_("Whose contract was signed?"), kind=InputKind.CHOICE, options=candidate_options,
         on_answer=_who_chosen, next="kind", describe="the place's accepted candidates (from the place's button)"),
    Step(name="company", prompt=N_("Which employer?"), kind=InputKind.CHOICE, options=employer_options,
         next="kind", describe="partner companies or another employer (from /contract)"),
    Step(name="kind", prompt=N_("Which contract was signed?"), kind=InputKind.CHOICE, options=kind_options,
         next="starts", describe="Ausbildung, job (SVB), EQ"),
    Step(name="starts", prompt=N_("On which day does it start? For example 01.08.2027."), kind=InputKind.TEXT,
         validate=_start_day, max_length=40, next="confirm", describe="up to a year back, two years ahead"),
    Step(name="confirm", prompt=N_("Record this contract?"), kind=InputKind.YES_NO, text=summary_text, on_answer=_save,
         next=END, describe="summary; moves the stage, tells the participant; Ausbildung: assign a mentor"),
))


# ---------------------------------------------------------------------------------------------------------------
# Reading contracts: the case view, the reports


async def contract_lines(session: AsyncSession, t: Translator, network: Network, participant: Person) -> list[str]:
    return [t(N_("Contract signed ({kind}, {employer}) from {date}, recorded {recorded}"),
              kind=kind_label(t, contract.kind), employer=employer_name(t, network, contract.organisation),
              date=t.date(date.fromisoformat(contract.starts_on), "medium"),
              recorded=t.date(contract.recorded_at, "medium"))
            for contract in (await session.scalars(select(Contract).where(
                Contract.participant_id == participant.id).order_by(Contract.recorded_at, Contract.id))).all()]


register(CONTRACT, Command("contract", N_("Record a signed contract: /contract NUMBER"), action=contract_command,
                           roles=CONTRACT_ROLES))
register_button(CONTRACT_BUTTON, _contract_button)

"""Who gets a question (the network file's rules), when it is due, and what happens when nobody took it.

Routing: among the rules that cover the question's topic and district, the most specific win (a named district
beats "all", then a named topic beats "all"); every winning rule's organisation gets it. Within an organisation,
coordinators whose own scope (from their invite) covers topic and district get it; a coordinator without a
scope covers everything their organisation does. A rule's room gets a copy. A rule with nobody to reach falls
back to its lead contact, and a question no rule covers goes to the network's fallback organisation: never
nowhere.

Responsibility for a participant (who may see their case, find them, pair or stage them, and read about them in
the digest) follows the same rules: `visible_participants` and `is_responsible` below are the one answer every
staff command asks. An organisation is responsible for a topic in a district when the network file has a rule
for it (routing sends each question only to the most specific of those rules, but every one of them is
responsible); the fallback organisation covers what no rule does. A participant's topics are their goals (none
yet: "no topic", which only rules for all topics cover) and the topics of their open questions; a coordinator's
own scope from their invite narrows their organisation's. Whoever already handles one of the person's questions,
appointments, courses or pairings sees the case as well. Nobody on the staff finds a person without consent.

Working time: Monday to Friday, 8:00-16:00 Europe/Berlin, without the public holidays of Lower Saxony (from the
maintained `holidays` package). A question is due after `LOTSE_ANSWER_WORKING_HOURS` working hours (default 8,
one working day).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import holidays
from sqlalchemy import ColumnElement, and_, false, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.access import Action, Role, covered_districts, holders, may, scope_covers
from bot.core.network import Network, Responsibility
from storage.models import (
    Appointment,
    Course,
    Enrolment,
    Handle,
    Pairing,
    Person,
    Profile,
    StaffScope,
    Ticket,
    TicketNotice,
)

log = logging.getLogger("lotse.routing")

BERLIN = ZoneInfo("Europe/Berlin")
WORK_START, WORK_END = time(8, 0), time(16, 0)


@cache
def _holidays(year: int) -> holidays.HolidayBase:
    return holidays.country_holidays("DE", subdiv="NI", years=year)


def is_working_day(day: date) -> bool:
    return day.weekday() < 5 and day not in _holidays(day.year)


def add_working_hours(start: datetime, hours: float) -> datetime:
    """The moment `hours` of working time after `start` (UTC in, UTC out)."""
    remaining = timedelta(hours=hours)
    local = start.astimezone(BERLIN)
    while True:
        day = local.date()
        if is_working_day(day):
            opens = datetime.combine(day, WORK_START, tzinfo=BERLIN)
            closes = datetime.combine(day, WORK_END, tzinfo=BERLIN)
            begin = max(local, opens)
            if begin < closes:
                available = closes - begin
                if remaining <= available:
                    return (begin + remaining).astimezone(UTC)
                remaining -= available
        local = datetime.combine(day + timedelta(days=1), time(0, 0), tzinfo=BERLIN)


@dataclass
class Route:
    """Where one question goes: people (by id), rooms ("transport", "chat"), and the organisations."""

    organisations: list[str] = field(default_factory=list)
    people: list[int] = field(default_factory=list)
    rooms: list[tuple[str, str]] = field(default_factory=list)
    rules: list[Responsibility] = field(default_factory=list)
    fallback: bool = False


def matching_rules(network: Network, topic: str | None, district: str | None) -> list[Responsibility]:
    fitting = [rule for rule in network.responsibilities
               if ("all" in rule.topics or (topic is not None and topic in rule.topics))
               and ("all" in rule.districts or (district is not None and district in rule.districts))]
    if not fitting:
        return []
    best = max(rule.specificity() for rule in fitting)
    return [rule for rule in fitting if rule.specificity() == best]


def staff_covers(scope: StaffScope | None, topic: str | None, district: str | None) -> bool:
    """The coordinator's own scope (from their invite) within their organisation's; no scope: all of it."""
    if scope is None:
        return True
    return scope_covers([str(t) for t in scope.topics], [str(d) for d in scope.districts], topic, district)


async def find_lead(session: AsyncSession, lead: str) -> Person | None:
    """A lead contact is a persona name or a handle written "transport:platform id"."""
    transport, _, platform_id = lead.partition(":")
    if platform_id:
        handle = (await session.scalars(select(Handle).where(Handle.transport == transport,
                                                              Handle.platform_id == platform_id))).first()
        return await session.get(Person, handle.person_id) if handle else None
    return (await session.scalars(select(Person).where(Person.persona == lead))).first()


async def coordinators_of(session: AsyncSession, organisation: str, topic: str | None,
                          district: str | None) -> list[Person]:
    rows = (await session.execute(
        select(Person, StaffScope).outerjoin(StaffScope, StaffScope.person_id == Person.id)
        .where(Person.role.in_(holders(Action.BE_RESPONSIBLE)), Person.organisation == organisation)
        .order_by(Person.id))).all()
    return [person for person, scope in rows if staff_covers(scope, topic, district)]


async def route(session: AsyncSession, network: Network, topic: str | None, district: str | None) -> Route:
    result = Route()
    rules = matching_rules(network, topic, district)
    for rule in rules:
        people = await coordinators_of(session, rule.organisation, topic, district)
        if not people and not rule.room and rule.lead:
            lead = await find_lead(session, rule.lead)
            people = [lead] if lead else []
        if people or rule.room:
            result.rules.append(rule)
            result.organisations.append(rule.organisation)
            result.people += [p.id for p in people if p.id not in result.people]
            if rule.room:
                transport, _, chat = rule.room.partition(":")
                result.rooms.append((transport, chat))
    if not result.people and not result.rooms:
        result.fallback = True
        fallback = network.fallback_organisation
        if fallback:
            people = await coordinators_of(session, fallback, None, None)
            result.organisations = [fallback]
            result.people = [p.id for p in people]
        if not result.people:  # the last resort: whoever administers the installation
            admins = (await session.scalars(select(Person.id).where(Person.role.in_(holders(Action.SEE_ALL))))).all()
            result.people = list(admins)
            log.warning("routing: nobody is responsible for topic %s in district %s; sent to %d admin(s)",
                        topic, district, len(admins))
    return result


async def handling_staff(session: AsyncSession, participant_id: int) -> list[Person]:
    """The coordinators who already handle this participant, the closest first: who took one of their open
    questions, else who has their latest open question waiting to be taken, then who booked their next
    appointment, then who paired them with a volunteer."""
    found: list[Person] = []
    waiting = select(Ticket.id).where(Ticket.participant_id == participant_id, Ticket.status == "open") \
        .order_by(Ticket.id.desc()).limit(1).scalar_subquery()
    queries = (
        select(Ticket.claimed_by_id).where(Ticket.participant_id == participant_id, Ticket.status == "claimed",
                                           Ticket.claimed_by_id.is_not(None)).order_by(Ticket.id.desc()),
        select(TicketNotice.person_id).where(TicketNotice.ticket_id == waiting, TicketNotice.person_id.is_not(None))
        .order_by(TicketNotice.id),
        select(Appointment.booked_by_id).where(Appointment.participant_id == participant_id,
                                               Appointment.status == "scheduled").order_by(Appointment.starts_at),
        select(Pairing.coordinator_id).where(Pairing.participant_id == participant_id, Pairing.status == "active",
                                             Pairing.coordinator_id.is_not(None)).order_by(Pairing.id.desc()),
    )
    for query in queries:
        for person_id in (await session.scalars(query)).all():
            person = await session.get(Person, person_id) if person_id is not None else None
            if person is not None and may(person, Action.BE_RESPONSIBLE) and person not in found:
                found.append(person)
        if found:
            return found
    return found


async def route_to_a_person(session: AsyncSession, network: Network, participant: Person) -> Route:
    """"Talk to a person": whoever already handles this participant (their open question, next appointment,
    pairing); else the organisations the network file makes responsible for their goals in their district; only
    then the network's rules for "no topic" and, last, the fallback organisation."""
    handling = await handling_staff(session, participant.id)
    if handling:
        organisations = list(dict.fromkeys(p.organisation for p in handling if p.organisation))
        return Route(organisations=organisations, people=[p.id for p in handling])
    profile = await session.get(Profile, participant.id)
    goals = profile.answers.get("goals") if profile is not None and profile.answers else None
    by_goals = Route()
    for topic in goals if isinstance(goals, list) else []:
        if topic not in network.topics:
            continue
        found = await route(session, network, topic, participant.district)
        if found.fallback or network.fallback_organisation in found.organisations:
            continue  # the fallback, or a rule for everything: no one who knows this goal better
        by_goals.organisations += [o for o in found.organisations if o not in by_goals.organisations]
        by_goals.people += [p for p in found.people if p not in by_goals.people]
        by_goals.rooms += [r for r in found.rooms if r not in by_goals.rooms]
        by_goals.rules += found.rules
    if by_goals.people or by_goals.rooms:
        return by_goals
    return await route(session, network, None, participant.district)


# ---------------------------------------------------------------------------------------------------------------
# Responsibility: which participants a staff member may see


OPEN_TICKETS = ("open", "claimed")
Place = str | None
"""A topic or district key; None is "no topic" (no goals yet, "Talk to a person") or "no district yet"."""


def organisation_covers(network: Network, organisation: str | None, topic: Place, district: Place) -> bool:
    """Has the organisation a rule for this topic in this district (or is it the fallback where nobody has)?"""
    def fits(rule: Responsibility) -> bool:
        return ("all" in rule.topics or (topic is not None and topic in rule.topics)) and \
            ("all" in rule.districts or (district is not None and district in rule.districts))

    if organisation is None:
        return False
    if any(fits(rule) for rule in network.responsibilities if rule.organisation == organisation):
        return True
    return organisation == network.fallback_organisation and not any(map(fits, network.responsibilities))


def covered_places(network: Network, organisation: str | None,
                   scope: StaffScope | None) -> dict[Place, frozenset[Place]]:
    """For each topic (and "no topic"), the districts (and "no district") one coordinator is responsible for."""
    districts: list[Place] = [*network.districts, None]
    covered: dict[Place, frozenset[Place]] = {}
    for topic in [*network.topics, None]:
        places = frozenset(district for district in districts
                           if organisation_covers(network, organisation, topic, district)
                           and staff_covers(scope, topic, district))
        if places:
            covered[topic] = places
    return covered


def _goals_text() -> ColumnElement[str]:
    """The goals as JSON text (`["work", "letters"]`): topic keys are plain words, so a quoted key is exact."""
    goals: ColumnElement[str] = Profile.answers["goals"].as_string()
    return goals


def _has_topic(topic: Place) -> ColumnElement[bool]:
    open_question = Person.id.in_(select(Ticket.participant_id).where(
        Ticket.status.in_(OPEN_TICKETS), Ticket.topic.is_(None) if topic is None else Ticket.topic == topic))
    if topic is None:
        with_goals = select(Profile.person_id).where(_goals_text().contains('"'))
        return or_(Person.id.not_in(with_goals), open_question)
    return or_(Person.id.in_(select(Profile.person_id).where(
        _goals_text().contains(f'"{topic}"', autoescape=True))), open_question)


def _in_districts(network: Network, places: frozenset[Place]) -> ColumnElement[bool]:
    if places >= {*network.districts, None}:
        return true()
    named = [district for district in places if district is not None]
    return or_(false(), Person.district.in_(named), *([Person.district.is_(None)] if None in places else []))


def _handled_by(staff_id: int) -> ColumnElement[bool]:
    """Participants whose question, appointment, course or pairing this staff member already handles."""
    return or_(
        Person.id.in_(select(Ticket.participant_id).where(Ticket.claimed_by_id == staff_id,  # closed: theirs no more
                                                          Ticket.status.in_(OPEN_TICKETS))),
        Person.id.in_(select(Ticket.participant_id).join(TicketNotice, TicketNotice.ticket_id == Ticket.id)
                      .where(TicketNotice.person_id == staff_id, Ticket.status.in_(OPEN_TICKETS))),
        Person.id.in_(select(Appointment.participant_id).where(Appointment.booked_by_id == staff_id,
                                                               Appointment.status == "scheduled")),
        Person.id.in_(select(Enrolment.participant_id).join(Course, Course.id == Enrolment.course_id)
                      .where(Course.run_by_id == staff_id)),
        Person.id.in_(select(Pairing.participant_id).where(Pairing.coordinator_id == staff_id,
                                                           Pairing.status.in_(("asked", "active")))),
    )


async def visible_participants(session: AsyncSession, network: Network, staff: Person) -> ColumnElement[bool]:
    """A filter on `Person`: the participants this staff member may see (admins: all who consented).

    Every staff search, list, case view, digest and chat export uses it, so none of them can disagree."""
    consented = and_(Person.role == Role.PARTICIPANT, Person.privacy_version.is_not(None))
    if may(staff, Action.SEE_ALL):
        return consented
    if not may(staff, Action.BE_RESPONSIBLE):
        return false()
    scope = await session.get(StaffScope, staff.id)
    by_topic = [and_(_has_topic(topic), _in_districts(network, places))
                for topic, places in covered_places(network, staff.organisation, scope).items()]
    return and_(consented, or_(false(), *by_topic, _handled_by(staff.id)))


async def is_responsible(session: AsyncSession, network: Network, staff: Person, participant: Person | int) -> bool:
    """Is this staff member responsible for this participant? The same rule as `visible_participants`."""
    person_id = participant if isinstance(participant, int) else participant.id
    found = await session.scalar(select(Person.id).where(
        Person.id == person_id, await visible_participants(session, network, staff)))
    return found is not None


async def responsible_staff(session: AsyncSession, network: Network, participant: Person) -> list[Person]:
    """The coordinators responsible for this participant (who hear about their profile, check and reports)."""
    coordinators = (await session.scalars(select(Person).where(Person.role.in_(holders(Action.BE_RESPONSIBLE)))
                                          .order_by(Person.id))).all()
    return [person for person in coordinators if await is_responsible(session, network, person, participant)]


async def staff_districts(session: AsyncSession, network: Network, staff: Person) -> frozenset[str] | None:
    """The districts a staff member works in, their invite scope included (None: all) — for counts and options."""
    scope = await session.get(StaffScope, staff.id)
    return covered_districts(network, staff, None if scope is None else [str(d) for d in scope.districts])

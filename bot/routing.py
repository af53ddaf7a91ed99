"""Who gets a question (the network file's rules), when it is due, and what happens when nobody took it.

Routing: among the rules that cover the question's topic and district, the most specific win (a named district
beats "all", then a named topic beats "all"); every winning rule's organisation gets it. Within an organisation,
coordinators whose own scope (from their invite) covers topic and district get it; a coordinator without a
scope covers everything their organisation does. A rule's room gets a copy. A rule with nobody to reach falls
back to its lead contact, and a question no rule covers goes to the network's fallback organisation: never
nowhere.

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
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.network import Network, Responsibility
from storage.models import Handle, Person, StaffScope

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


def _covers(scope: StaffScope | None, topic: str | None, district: str | None) -> bool:
    if scope is None:
        return True
    topic_ok = "all" in scope.topics or topic is None or topic in scope.topics
    district_ok = "all" in scope.districts or district is None or district in scope.districts
    return topic_ok and district_ok


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
        .where(Person.role == "coordinator", Person.organisation == organisation).order_by(Person.id))).all()
    return [person for person, scope in rows if _covers(scope, topic, district)]


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
            admins = (await session.scalars(select(Person.id).where(Person.role == "admin"))).all()
            result.people = list(admins)
            log.warning("routing: nobody is responsible for topic %s in district %s; sent to %d admin(s)",
                        topic, district, len(admins))
    return result

"""`/find` for coordinators: participants for a slot (field, district, German, times, stage), ranked by fit.

Filters exclude (district, minimum German level, stage, and a field nobody in the list has a link to); the
rest only ranks. Each result says why it matched, so the coordinator can check before calling anyone. Staff find
only the participants they are responsible for (`bot.services.routing.visible_participants`), and every search is
audited.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, or_, select

from bot.core.access import STAFF, covered_districts
from bot.core.i18n import N_, NP_, Translator
from bot.core.messages import Choice, button_key
from bot.core.network import Network
from bot.services.routing import visible_participants
from bot.services.stages import STAGES
from flows.engine import END, Flow, InputKind, Next, Step, Turn
from flows.intake import GERMAN_ORDER, WEEKDAYS, participant_label
from flows.menu import MENU_ENTRIES, MenuEntry
from flows.registry import Command, register, register_button
from storage.models import AuditEntry, Person, PotentialCheck, Profile, StaffScope

ANY = "any"
MAX_RESULTS = 10
TIMES: tuple[tuple[str, str], ...] = (
    ("morning", N_("Mornings")),
    ("afternoon", N_("Afternoons")),
    ("evening", N_("Evenings")),
)
INTEREST, SUGGESTED, EXPERIENCE = 3, 2, 1
"""Points for a field: named in the profile, suggested by the potential check, worked in before."""


@dataclass
class Criteria:
    occupation: str = ANY
    district: str = ANY
    german: str = ANY
    time: str = ANY
    stage: str = ANY


@dataclass
class Match:
    person: Person
    profile: Profile
    points: int = 0
    reasons: list[str] = field(default_factory=list)


def rank(t: Translator, network: Network, criteria: Criteria,
         candidates: list[tuple[Person, Profile, PotentialCheck | None]]) -> list[Match]:
    """Filters, scores and orders the candidates; reasons are written in the coordinator's language."""
    matches: list[Match] = []
    for person, profile, check in candidates:
        answers = profile.answers
        if profile.completed_at is None:
            continue
        if criteria.district != ANY and person.district != criteria.district:
            continue
        if criteria.stage != ANY and profile.stage != criteria.stage:
            continue
        match = Match(person, profile)
        if criteria.german != ANY:
            level = GERMAN_ORDER.get(profile.german_level or "")
            if level is None or level < GERMAN_ORDER[criteria.german]:
                continue
            extra = level - GERMAN_ORDER[criteria.german]
            match.points += extra
            match.reasons.append(t(N_("German {level}"), level=(profile.german_level or "").upper()))
        if criteria.occupation != ANY:
            if not _field_link(criteria.occupation, answers, check):
                continue
            name = network.occupations[criteria.occupation].name[t.locale]
            if criteria.occupation in (answers.get("occupations") or []):
                match.points += INTEREST
                match.reasons.append(t(N_("interested in {field}"), field=name))
            if check is not None and criteria.occupation in check.suggestions:
                match.points += SUGGESTED
                match.reasons.append(t(N_("potential check suggests {field}"), field=name))
            if check is not None and criteria.occupation in (check.answers.get("earlier") or []):
                match.points += EXPERIENCE
                match.reasons.append(t(N_("has worked in {field}"), field=name))
        if criteria.time != ANY:
            days = sum(1 for day in WEEKDAYS if f"{day}_{criteria.time}" in (answers.get("availability") or []))
            match.points += days
            if days:
                match.reasons.append(t.plural(NP_DAYS, days))
        matches.append(match)
    matches.sort(key=lambda m: (-m.points, m.person.id))
    return matches


NP_DAYS = NP_("free on {count} day at that time", "free on {count} days at that time")


def _field_link(occupation: str, answers: dict[str, Any], check: PotentialCheck | None) -> bool:
    return occupation in (answers.get("occupations") or []) or (
        check is not None and (occupation in check.suggestions or occupation in (check.answers.get("earlier") or [])))


async def search(turn: Turn, criteria: Criteria) -> list[Match]:
    statement = select(Person, Profile).join(Profile, Profile.person_id == Person.id).where(
        Profile.completed_at.is_not(None),  # consent, role and responsibility are in the visibility filter
        await visible_participants(turn.session, turn.network, turn.person))
    rows = (await turn.session.execute(statement)).all()
    checks: dict[int, PotentialCheck] = {}
    if rows:
        found = (await turn.session.scalars(
            select(PotentialCheck).where(PotentialCheck.person_id.in_([p.id for p, _ in rows]))
            .order_by(PotentialCheck.completed_at))).all()
        checks = {check.person_id: check for check in found}  # the latest check wins
    candidates = [(person, profile, checks.get(person.id)) for person, profile in rows]
    return rank(turn.t, turn.network, criteria, candidates)


async def unfinished_profiles(turn: Turn) -> int:
    """Participants this person may see whose profile is not complete yet: /find does not list them."""
    statement = select(func.count(Person.id)).outerjoin(Profile, Profile.person_id == Person.id).where(
        or_(Profile.person_id.is_(None), Profile.completed_at.is_(None)),
        await visible_participants(turn.session, turn.network, turn.person))
    return int((await turn.session.scalar(statement)) or 0)


# ---------------------------------------------------------------------------------------------------------------
# The flow


def _any(turn: Turn) -> Choice:
    return Choice(ANY, turn.t(N_("Any")))


def occupation_options(turn: Turn) -> list[Choice]:
    return [_any(turn), *(Choice(k, o.name[turn.t.locale]) for k, o in turn.network.occupations.items())]


SCOPE_KEY = "_scope_districts"
"""The districts of the coordinator's own scope, read once per search (options are built without a database)."""


async def _occupation_chosen(turn: Turn, value: Any) -> Next:
    """The coordinator's own scope (from their invite) is read here, so the district list can offer only theirs."""
    scope = await turn.session.get(StaffScope, turn.person.id)
    turn.data[SCOPE_KEY] = None if scope is None else [str(district) for district in scope.districts]
    return "district"


def district_options(turn: Turn) -> list[Choice]:
    covered = covered_districts(turn.network, turn.person, turn.data.get(SCOPE_KEY))
    return [_any(turn), *(Choice(k, d.name[turn.t.locale]) for k, d in turn.network.districts.items()
                          if covered is None or k in covered)]


def german_options(turn: Turn) -> list[Choice]:
    return [_any(turn), *(Choice(key, key.upper()) for key in ("a1", "a2", "b1", "b2", "c1"))]


def time_options(turn: Turn) -> list[Choice]:
    return [_any(turn), *(Choice(key, turn.t(label)) for key, label in TIMES)]


def stage_options(turn: Turn) -> list[Choice]:
    return [_any(turn), *(Choice(key, turn.t(label)) for key, label in STAGES)]


async def _show_results(turn: Turn, value: Any) -> Next:
    data = turn.data
    criteria = Criteria(occupation=data["occupation"], district=data["district"], german=data["german"],
                        time=data["time"], stage=str(value))
    matches = await search(turn, criteria)
    turn.session.add(AuditEntry(at=turn.now, actor_id=turn.person.id, action="participants.searched",
                                details={"criteria": criteria.__dict__, "shown": [m.person.id for m in
                                                                                  matches[:MAX_RESULTS]]}))
    for match in matches[:MAX_RESULTS]:  # each participant can see in /mydata that they were shown
        turn.session.add(AuditEntry(at=turn.now, actor_id=turn.person.id, subject_id=match.person.id,
                                    action="case.listed"))
    if not matches:
        if criteria == Criteria():  # nothing narrowed: "fewer wishes" would send them looking for a fault
            turn.say(N_("No participant you are responsible for has finished the profile questions yet."))
        else:
            turn.say(N_("Nobody fits these wishes yet. Try again with fewer wishes (choose Any)."))
        unfinished = await unfinished_profiles(turn)
        if unfinished:
            turn.send(turn.t.plural(NP_(
                "{count} participant has started the questions but not finished them. They appear here once "
                "they have.",
                "{count} participants have started the questions but not finished them. They appear here once "
                "they have."), unfinished))
        return END
    lines = [turn.t.plural(NP_("{count} participant fits. The best first:",
                               "{count} participants fit. The best first:"), len(matches))]
    for number, match in enumerate(matches[:MAX_RESULTS], start=1):
        district = turn.network.districts.get(match.person.district or "")
        where = district.name[turn.t.locale] if district else "–"
        why = "; ".join(match.reasons) or turn.t(N_("fits the filters"))
        lines.append(f"{number}. {participant_label(turn.t, match.person)} – {turn.t.isolate(where)} – {why}")
    # Each result opens its case, so the numbers in the list are answers (a play-tester typed "1" for the first
    # result and opened the menu's first entry instead).
    cases = [Choice(button_key(CASE_BUTTON, str(match.person.id)), participant_label(turn.t, match.person))
             for match in matches[:MAX_RESULTS]]
    turn.send("\n".join(lines), cases, "single")
    return END


CASE_BUTTON = "fc"


async def _open_case(turn: Turn, payload: str) -> None:
    from flows.cases import show_case  # cases build on find's ranking, not the reverse

    if payload.isdigit():
        await show_case(turn, payload)  # who may see which case is checked there, as for /case


FIND = Flow(
    name="find",
    roles=STAFF,
    steps=(
        Step(name="occupation", prompt=N_("Which occupational field?"), kind=InputKind.CHOICE,
             options=occupation_options, on_answer=_occupation_chosen, next="district", describe="field or any"),
        Step(name="district", prompt=N_("Which district?"), kind=InputKind.CHOICE, options=district_options,
             next="german", describe="district (only those the coordinator covers) or any"),
        Step(name="german", prompt=N_("At least which German level?"), kind=InputKind.CHOICE,
             options=german_options, next="time", describe="minimum German level or any"),
        Step(name="time", prompt=N_("Free at which time of day?"), kind=InputKind.CHOICE, options=time_options,
             next="stage", describe="mornings, afternoons, evenings or any"),
        Step(name="stage", prompt=N_("In which stage?"), kind=InputKind.CHOICE, options=stage_options,
             on_answer=_show_results, next=END, describe="stage or any; then the ranked list"),
    ),
)

register(FIND, Command("find", N_("Find participants for an offer"), flow="find", roles=STAFF))
MENU_ENTRIES.append(MenuEntry("find", N_("Find participants"), flow="find", roles=STAFF, order=10))
register_button(CASE_BUTTON, _open_case)

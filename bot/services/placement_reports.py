"""What came of the places, per company, district or cohort: for /places, /stats, `lotse report` and the digest.

Counted from real events (proposals, answers, check-ins, warnings), never from stages typed in by hand."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import select, true
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.i18n import N_, Translator
from bot.core.network import Network, company_name, district_name
from bot.core.schedule import BERLIN
from storage.models import (
    Contract,
    MatchingDay,
    MatchingInvite,
    MentoringCheckIn,
    MentorshipEnding,
    Person,
    Place,
    PlacementFollowUp,
    Proposal,
)

COLUMNS = 9
"""places, proposed, accepted, started (a check-in or the coordinator's record of who came confirmed it),
Ausbildung or job offered (a company's check-in: a promise), drop-out warnings, open places, contracts signed
(recorded as events of their own), drop-outs (mentorships ended as dropped out)."""
OTHER_EMPLOYER = "other"
"""The company key of a contract with an employer outside the network."""


COMPANY_CHECK_INS = ("company_checkin", "company_midway")
"""The company's check-ins say whether the candidate came; the participant's answer says they are there."""


def confirms_start(kind: str, answer: dict[str, object] | None) -> bool:
    """Does an answered check-in confirm that the placement started (for the "started" counts)?"""
    return kind not in COMPANY_CHECK_INS or bool((answer or {}).get("attended"))


def cohort_of(created: datetime) -> str:
    """The quarter of registration (Europe/Berlin), as in `bot.services.progress`."""
    local = created.astimezone(BERLIN)
    return f"{local.year}-Q{(local.month - 1) // 3 + 1}"


async def placement_counts(session: AsyncSession, by: str = "company", districts: Collection[str] | None = None,
                           ) -> dict[str, list[int]]:
    """Per company, district (of the place; of the participant for warnings) or cohort (of the participant).

    `districts`: a coordinator's scope; only places in these districts (and warnings about participants living
    there) count. None: everywhere."""
    counts: dict[str, list[int]] = {}

    def row(key: str) -> list[int]:
        return counts.setdefault(key or "-", [0] * COLUMNS)

    people = {person_id: (district, created) for person_id, district, created in (await session.execute(select(
        Person.id, Person.district, Person.created_at).where(Person.role == "participant"))).all()}
    scope = Place.district.in_(list(districts)) if districts is not None else true()

    def key_for(place: Place, participant_id: int | None) -> str:
        if by == "company":
            return place.organisation
        if by == "district":
            return place.district
        found = people.get(participant_id or 0)
        return cohort_of(found[1]) if found else "-"

    if by != "cohort":
        for place in (await session.scalars(select(Place).where(scope))).all():
            numbers = row(key_for(place, None))
            numbers[0] += 1
            numbers[6] += place.status == "open"
    cohort_places: dict[str, set[int]] = {}
    open_places: dict[str, set[int]] = {}
    placed_at: dict[int, Place] = {}
    for place, proposal in (await session.execute(select(Place, Proposal).join(
            Proposal, Proposal.place_id == Place.id).where(scope).order_by(Proposal.id))).all():
        numbers = row(key_for(place, proposal.participant_id))
        numbers[1] += 1
        numbers[2] += proposal.status == "accepted"
        if proposal.status == "accepted":
            placed_at[proposal.participant_id] = place
        if by == "cohort":
            cohort_places.setdefault(key_for(place, proposal.participant_id), set()).add(place.id)
            if place.status == "open":
                open_places.setdefault(key_for(place, proposal.participant_id), set()).add(place.id)
    for key, found in cohort_places.items():
        row(key)[0] = len(found)
        row(key)[6] = len(open_places.get(key, ()))
    started: dict[str, set[int]] = {}
    for place, proposal in (await session.execute(select(Place, Proposal).join(
            Proposal, Proposal.place_id == Place.id).where(scope, Proposal.attended.is_(True)))).all():
        started.setdefault(key_for(place, proposal.participant_id), set()).add(proposal.id)
    for place, proposal, kind, answer in (await session.execute(
            select(Place, Proposal, PlacementFollowUp.kind, PlacementFollowUp.answer)
            .join(Proposal, Proposal.id == PlacementFollowUp.proposal_id).join(Place, Place.id == Proposal.place_id)
            .where(PlacementFollowUp.status == "answered", scope))).all():
        key, given = key_for(place, proposal.participant_id), answer or {}
        if kind == "company_checkin" and given.get("next") in ("ausbildung", "job"):
            row(key)[4] += 1
        if not confirms_start(kind, given):
            continue
        started.setdefault(key, set()).add(proposal.id)
    for key, found in started.items():
        row(key)[3] = len(found)
    employer: dict[int, str] = {}

    def participant_key(participant_id: int, company: str | None = None) -> str | None:
        """Warnings, contracts and drop-outs count by the participant's district and cohort, and by the company
        of their contract (else of their accepted place); None: outside the scope."""
        district, created = people.get(participant_id, (None, None))
        if districts is not None and district not in districts:
            return None
        if by == "company":
            if company is not None:
                return company
            placed = placed_at.get(participant_id)
            return employer.get(participant_id) or (placed.organisation if placed else "-")
        return (district or "-") if by == "district" else (cohort_of(created) if created else "-")

    for participant_id, organisation in (await session.execute(select(Contract.participant_id, Contract.organisation)
                                                               .order_by(Contract.recorded_at, Contract.id))).all():
        employer[participant_id] = organisation or OTHER_EMPLOYER
        group = participant_key(participant_id, organisation or OTHER_EMPLOYER)
        if group is not None:
            row(group)[7] += 1

    for participant_id, in (await session.execute(select(MentoringCheckIn.participant_id).where(
            MentoringCheckIn.warned.is_(True)))).all():
        group = participant_key(participant_id)
        if group is not None:
            row(group)[5] += 1
    for participant_id, in (await session.execute(select(MentorshipEnding.participant_id).where(
            MentorshipEnding.reason == "dropped"))).all():
        group = participant_key(participant_id)
        if group is not None:
            row(group)[8] += 1
    return counts


async def company_counts(session: AsyncSession) -> dict[str, list[int]]:
    """Company -> the `COLUMNS`."""
    return await placement_counts(session, "company")


GROUP_HEADINGS: dict[str, str] = {"company": N_("By company:"), "district": N_("By district:"),
                                  "cohort": N_("By cohort (quarter of registration):")}


def place_group_name(t: Translator, network: Network, by: str, key: str) -> str:
    if by == "company":
        if key == OTHER_EMPLOYER:
            return t(N_("another employer"))
        return company_name(network, key) if key != "-" else t(N_("no placement yet"))
    if by == "district":
        return district_name(t, network, key)
    return key


def group_lines(t: Translator, network: Network, by: str, counts: dict[str, list[int]]) -> list[str]:
    """One line per group: what came of the places (for /places, `lotse report`, the digest)."""
    if not counts:
        return []
    lines = [t(GROUP_HEADINGS[by])]
    for key in sorted(counts, key=lambda found: place_group_name(t, network, by, found)):
        places, proposals, accepted, started, offers, warnings, still_open, contracts, dropouts = counts[key]
        lines.append(t(N_("{name} – places: {places} (open: {open}), proposed: {proposals}, accepted: {accepted}, "
                          "started: {started}, Ausbildung or job offered: {offers}, contracts signed: {contracts}, "
                          "drop-out warnings: {warnings}, drop-outs: {dropouts}"),
                       name=place_group_name(t, network, by, key), places=places, open=still_open, proposals=proposals,
                       accepted=accepted, started=started, offers=offers, contracts=contracts, warnings=warnings,
                       dropouts=dropouts))
    return lines


def company_lines(t: Translator, network: Network, counts: dict[str, list[int]]) -> list[str]:
    return group_lines(t, network, "company", counts)


async def matching_day_counts(session: AsyncSession, districts: Collection[str] | None = None) -> list[int]:
    """Match-making days held or planned (not cancelled), invited, said yes, came (as the coordinator recorded)."""
    statement = select(MatchingDay).where(MatchingDay.status != "cancelled")
    if districts is not None:
        statement = statement.where(MatchingDay.district.in_(list(districts)))
    days = {day.id for day in (await session.scalars(statement)).all()}
    invites = (await session.scalars(select(MatchingInvite).where(MatchingInvite.day_id.in_(days)))).all() \
        if days else []
    return [len(days), len(invites), sum(1 for i in invites if i.status == "yes"),
            sum(1 for i in invites if i.attended)]


async def report_lines(session: AsyncSession, t: Translator, network: Network,
                       districts: Collection[str] | None = None) -> list[str]:
    """Places, proposals, matches, Hospitationen, contracts and warnings per company, district and cohort, and
    the match-making days; `districts` limits them to a coordinator's scope."""
    lines: list[str] = []
    for by in ("company", "district", "cohort"):
        found = group_lines(t, network, by, await placement_counts(session, by, districts))
        lines += ["", *found] if found else []
    days, invited, coming, came = await matching_day_counts(session, districts)
    if days:
        lines += ["", t(N_("Match-making days: {days}, invited: {invited}, said yes: {coming}, came: {came}"),
                        days=days, invited=invited, coming=coming, came=came)]
    return lines

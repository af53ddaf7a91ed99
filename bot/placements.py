"""The placements' follow-up and `lotse import places`.

Follow-up: an accepted match plans rows in `placement_follow_ups` (the company's reminder the evening before, the
participant's check-in on the first afternoon, the company's check-in on the last day). `deliver_due_follow_ups`
sends each due row once: it flips the row from "planned" to "sent" with a conditional UPDATE and writes the
outbox message in the same transaction, as the reminders do. A row whose placement was cancelled is dropped.

Import: `lotse import places FILE.csv` reads places row by row with the rules of `bot.imports` (the same header
aliases in German and English, encodings, size limits); every bad line is listed with its number and reason, and
if there is any bad line nothing is written, so a corrected file can be imported whole.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime
from functools import partial
from pathlib import Path

from sqlalchemy import select, true, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.i18n import N_, Translator
from bot.imports import ImportReport, parse_day, read_rows
from bot.messages import Choice
from bot.network import Network, load_network
from flows.notify import enqueue, messages_for
from storage.models import Appointment, AuditEntry, Person, Place, PlacementFollowUp, Proposal

BATCH = 200


def _texts(t: Translator, network: Network, kind: str, place: Place, participant: Person,
           appointment: Appointment | None, shares: bool, follow_up_id: int) -> tuple[str, list[Choice]]:
    from flows.conversation import button_key
    from flows.intake import participant_label
    from flows.places import district_name, kind_name
    from flows.proposals import participant_checkin_buttons

    who = participant_label(t, participant) if shares else t(N_("candidate no. {candidate}"),
                                                             candidate=participant.id)
    if kind == "participant_checkin":
        return (t(N_("How is your {kind} going? Please tap a button."), kind=kind_name(t, place.kind)),
                participant_checkin_buttons(t, follow_up_id))
    if kind == "company_reminder" and appointment is not None:
        return (t(N_("Reminder: tomorrow {participant} starts at place no. {number} ({kind}), {when}, at {site}."),
                  participant=who, number=place.id, kind=kind_name(t, place.kind), when=t.when(appointment.starts_at),
                  site=place.site), [])
    return (t(N_("How did it go with {participant} at place no. {number} ({kind}, {district})? Three short "
                 "questions."), participant=who, number=place.id, kind=kind_name(t, place.kind),
              district=district_name(t, network, place.district)),
            [Choice(button_key("cc", str(follow_up_id)), t(N_("Answer now")))])


Values = tuple[Network, str, Place, Person, Appointment | None, bool, int]


def _text(values: Values, t: Translator) -> str:
    return _texts(t, *values)[0]


def _buttons(values: Values, t: Translator) -> list[Choice]:
    return _texts(t, *values)[1]


async def deliver_due_follow_ups(sessions: async_sessionmaker[AsyncSession], network: Network, now: datetime) -> int:
    """Sends every follow-up due by `now`; each row at most once. Returns how many went out."""
    from storage.models import Profile

    sent = await _other_rounds(sessions, network, now)
    async with sessions() as session, session.begin():
        ids = list((await session.scalars(select(PlacementFollowUp.id).where(
            PlacementFollowUp.status == "planned", PlacementFollowUp.due_at <= now).order_by(
            PlacementFollowUp.due_at, PlacementFollowUp.id).limit(BATCH))).all())
        if not ids:
            return sent
        claimed = set((await session.scalars(update(PlacementFollowUp).where(
            PlacementFollowUp.id.in_(ids), PlacementFollowUp.status == "planned").values(status="sending")
            .returning(PlacementFollowUp.id))).all())
        for follow_up in (await session.scalars(select(PlacementFollowUp).where(
                PlacementFollowUp.id.in_(claimed)).order_by(PlacementFollowUp.id))).all():
            proposal = await session.get_one(Proposal, follow_up.proposal_id)
            place = await session.get_one(Place, proposal.place_id)
            appointment = await session.get(Appointment, proposal.appointment_id) if proposal.appointment_id else None
            if proposal.status != "accepted" or appointment is None or appointment.status != "scheduled":
                follow_up.status = "dropped"
                continue
            person = await session.get_one(Person, follow_up.person_id)
            participant = await session.get_one(Person, proposal.participant_id)
            profile = await session.get(Profile, participant.id)
            shares = bool(profile and profile.share_with_companies)
            kind = follow_up.kind
            values = (network, kind, place, participant, appointment, shares, follow_up.id)
            messages = await messages_for(session, person, partial(_text, values), partial(_buttons, values))
            enqueue(session, messages, now)
            if person.role == "company":
                session.add(AuditEntry(actor_id=person.id, subject_id=participant.id, at=now,
                                       action="company.follow_up.sent",
                                       details={"place": place.id, "kind": kind, "name_shared": shares}))
            follow_up.status, follow_up.sent_at = "sent", now
            sent += 1
    return sent


async def _other_rounds(sessions: async_sessionmaker[AsyncSession], network: Network, now: datetime) -> int:
    """Match-making days (reminder, wishes) and the apprentices' check-ins ride on the same loop of `lotse run`."""
    from flows.matching_days import matching_day_round
    from flows.mentoring import mentoring_round

    async with sessions() as session, session.begin():
        sent = await matching_day_round(session, network, now)
    async with sessions() as session, session.begin():
        sent += await mentoring_round(session, network, now)
    return sent


async def next_follow_up(sessions: async_sessionmaker[AsyncSession]) -> datetime | None:
    from sqlalchemy import func

    async with sessions() as session:
        from flows.matching_days import next_matching_moment
        from flows.mentoring import next_mentoring_moment

        found: datetime | None = await session.scalar(select(func.min(PlacementFollowUp.due_at)).where(
            PlacementFollowUp.status == "planned"))
        moments = [m for m in (found, await next_matching_moment(session), await next_mentoring_moment(session)) if m]
        return min(moments, default=None)


# ---------------------------------------------------------------------------------------------------------------
# lotse import places


PLACE_COLUMNS = {
    "company": ("company", "firma", "unternehmen", "betrieb", "organisation"),
    "kind": ("kind", "art", "typ", "type"),
    "field": ("field", "berufsfeld", "bereich", "occupation"),
    "district": ("district", "landkreis", "kreis", "bezirk"),
    "site": ("site", "ort", "adresse", "address", "standort"),
    "start": ("start", "from", "ab", "beginn", "start date", "startdatum"),
    "duration": ("duration", "dauer", "length"),
    "hours": ("hours", "zeit", "zeiten", "arbeitszeit", "time"),
    "german": ("german", "deutsch", "deutschniveau", "sprachniveau"),
    "people": ("people", "plätze", "plaetze", "anzahl", "count", "personen"),
    "contact": ("contact", "kontakt", "ansprechperson", "ansprechpartner"),
}
PLACE_REQUIRED = ("company", "kind", "field", "district", "site", "start", "contact")
PLACE_KIND_ALIASES = {
    "hospitation": "hospitation", "job shadowing": "hospitation", "praktikum": "praktikum",
    "internship": "praktikum", "eq": "eq", "einstiegsqualifizierung": "eq", "entry qualification": "eq",
    "ausbildung": "ausbildung", "apprenticeship": "ausbildung", "job": "job", "arbeit": "job", "stelle": "job",
}
DURATION_ALIASES = {
    "": "open", "1 tag": "day", "ein tag": "day", "one day": "day", "day": "day", "1 woche": "week",
    "eine woche": "week", "one week": "week", "week": "week", "2 wochen": "two_weeks", "zwei wochen": "two_weeks",
    "two weeks": "two_weeks", "2 weeks": "two_weeks", "4 wochen": "four_weeks", "vier wochen": "four_weeks",
    "four weeks": "four_weeks", "4 weeks": "four_weeks", "3 monate": "three_months", "three months": "three_months",
    "3 months": "three_months", "offen": "open", "open": "open", "unbefristet": "open",
}
HOURS_ALIASES = {"": "full_day", "vormittags": "morning", "morgens": "morning", "mornings": "morning",
                 "morning": "morning", "nachmittags": "afternoon", "afternoons": "afternoon",
                 "afternoon": "afternoon", "ganztags": "full_day", "full day": "full_day", "full days": "full_day",
                 "full_day": "full_day"}


def _key(found: dict[str, str], text: str, what: str) -> str:
    value = found.get(text.strip().casefold())
    if value is None:
        raise ValueError(f"unknown {what} {text[:40]!r} (one of {', '.join(sorted(set(found.values())))})")
    return value


def _by_name(options: dict[str, str], text: str, what: str) -> str:
    """A key from the network file, or its name in any language ("Metall", "Ammerland")."""
    wanted = text.strip().casefold()
    for key, names in options.items():
        if wanted == key.casefold() or wanted in names.casefold().split("\x00"):
            return key
    raise ValueError(f"unknown {what} {text[:40]!r} (use the key from the network file)")


class PlaceImportReport(ImportReport):
    """Places are written all or nothing: the report says so when a line was bad."""

    def lines(self, path: Path) -> list[str]:
        found = super().lines(path)
        if self.rejected:
            found.append("nothing was written: correct these lines and import the whole file again")
        return found


async def import_places(sessions: async_sessionmaker[AsyncSession], path: Path, now: datetime,
                        network: Network | None = None) -> ImportReport:
    network = network or load_network()
    encoding, rows = read_rows(path, PLACE_COLUMNS, PLACE_REQUIRED)
    report = PlaceImportReport("place(s)", encoding)
    companies = {key: org.name for key, org in network.organisations.items() if org.kind == "company"}
    fields = {key: "\x00".join(n.casefold() for n in o.name.names.values()) for key, o in network.occupations.items()}
    districts = {key: "\x00".join(n.casefold() for n in d.name.names.values()) for key, d in network.districts.items()}
    places: list[Place] = []
    for number, values in rows:
        try:
            company = _by_name({k: v.casefold() for k, v in companies.items()}, values["company"], "company")
            kind = _key(PLACE_KIND_ALIASES, values["kind"], "kind")
            occupation = _by_name(fields, values["field"], "field")
            district = _by_name(districts, values["district"], "district")
            site = values["site"][:200]
            if len(site) < 3:
                raise ValueError("no site given")
            starts = parse_day(values["start"])
            if starts < now.date() or starts > date(now.year + 2, 12, 31):
                raise ValueError("the start date is in the past or more than two years ahead")
            duration = _key(DURATION_ALIASES, values.get("duration", ""), "duration")
            hours = _key(HOURS_ALIASES, values.get("hours", ""), "hours")
            german = (values.get("german") or "any").strip().casefold() or "any"
            if german not in ("any", "a1", "a2", "b1", "b2", "c1"):
                raise ValueError(f"unknown German level {values.get('german', '')[:10]!r} (A1 to C1, or empty)")
            people = (values.get("people") or "1").strip() or "1"
            if not people.isdigit() or not 1 <= int(people) <= 50:
                raise ValueError("people: a number from 1 to 50")
            contact = values["contact"][:200]
            if len(contact) < 3:
                raise ValueError("no contact for the day given")
        except ValueError as error:
            report.rejected.append((number, str(error)))
            continue
        places.append(Place(organisation=company, kind=kind, occupation=occupation, district=district, site=site,
                            starts_on=starts.isoformat(), duration=duration, hours=hours, german_level=german,
                            capacity=int(people), day_contact=contact, status="open", created_at=now,
                            updated_at=now))
    if report.rejected:
        return report  # nothing written: correct the lines and import the whole file again
    async with sessions() as session, session.begin():
        session.add_all(places)
        session.add(AuditEntry(action="places.imported", at=now,
                               details={"file": path.name, "imported": len(places)}))
    report.imported = len(places)
    return report


# ---------------------------------------------------------------------------------------------------------------
# Per company: what came of the places (for /places, `lotse report`)


COLUMNS = 7
"""places, proposed, accepted, started (a check-in or the coordinator's record of who came confirmed it),
Ausbildung or job offered, drop-out warnings, open places."""


def cohort_of(created: datetime) -> str:
    """The quarter of registration (Europe/Berlin), as in `bot.progress`."""
    from bot.progress import BERLIN

    local = created.astimezone(BERLIN)
    return f"{local.year}-Q{(local.month - 1) // 3 + 1}"


async def placement_counts(session: AsyncSession, by: str = "company", districts: Collection[str] | None = None,
                           ) -> dict[str, list[int]]:
    """Per company, district (of the place; of the participant for warnings) or cohort (of the participant).

    `districts`: a coordinator's scope; only places in these districts (and warnings about participants living
    there) count. None: everywhere."""
    from storage.models import MentoringCheckIn

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
        if kind == "company_checkin" and not given.get("attended"):
            continue
        started.setdefault(key, set()).add(proposal.id)
    for key, found in started.items():
        row(key)[3] = len(found)
    for participant_id, in (await session.execute(select(MentoringCheckIn.participant_id).where(
            MentoringCheckIn.warned.is_(True)))).all():
        district, created = people.get(participant_id, (None, None))
        if districts is not None and district not in districts:
            continue
        if by == "company":
            placed = placed_at.get(participant_id)
            key = placed.organisation if placed else "-"
        else:
            key = (district or "-") if by == "district" else (cohort_of(created) if created else "-")
        row(key)[5] += 1
    return counts


async def company_counts(session: AsyncSession) -> dict[str, list[int]]:
    """Company -> [places, proposed, accepted, started, Ausbildung or job offered, drop-out warnings]."""
    return await placement_counts(session, "company")


GROUP_HEADINGS: dict[str, str] = {"company": N_("By company:"), "district": N_("By district:"),
                                  "cohort": N_("By cohort (quarter of registration):")}


def group_name(t: Translator, network: Network, by: str, key: str) -> str:
    from flows.places import company_name, district_name

    if by == "company":
        return company_name(network, key) if key != "-" else t(N_("no placement yet"))
    if by == "district":
        return district_name(t, network, key)
    return key


def group_lines(t: Translator, network: Network, by: str, counts: dict[str, list[int]]) -> list[str]:
    """One line per group: what came of the places (for /places, `lotse report`, the digest)."""
    if not counts:
        return []
    lines = [t(GROUP_HEADINGS[by])]
    for key in sorted(counts, key=lambda found: group_name(t, network, by, found)):
        places, proposals, accepted, started, offers, warnings, still_open = counts[key]
        lines.append(t(N_("{name} – places: {places} (open: {open}), proposed: {proposals}, accepted: {accepted}, "
                          "started: {started}, Ausbildung or job offered: {offers}, drop-out warnings: {warnings}"),
                       name=group_name(t, network, by, key), places=places, open=still_open, proposals=proposals,
                       accepted=accepted, started=started, offers=offers, warnings=warnings))
    return lines


def company_lines(t: Translator, network: Network, counts: dict[str, list[int]]) -> list[str]:
    return group_lines(t, network, "company", counts)


async def matching_day_counts(session: AsyncSession, districts: Collection[str] | None = None) -> list[int]:
    """Match-making days held or planned (not cancelled), invited, said yes, came (as the coordinator recorded)."""
    from storage.models import MatchingDay, MatchingInvite

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

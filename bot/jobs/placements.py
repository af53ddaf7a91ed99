"""The placements' follow-up and `lotse import places`.

Follow-up: an accepted match plans rows in `placement_follow_ups` (the company's reminder the evening before, the
participant's check-in on the first afternoon, the company's check-in halfway through a Hospitation, Praktikum or EQ
longer than three days, and on its last day both sides' check-ins). `deliver_due_follow_ups`
sends each due row once: it flips the row from "planned" to "sent" with a conditional UPDATE and writes the
outbox message in the same transaction, as the reminders do. A row whose placement was cancelled is dropped.

Import: `lotse import places FILE.csv` reads places row by row with the rules of `bot.jobs.imports` (the same header
aliases in German and English, encodings, size limits); every bad line is listed with its number and reason, and
if there is any bad line nothing is written, so a corrected file can be imported whole.
"""

from __future__ import annotations

from datetime import date, datetime
from functools import partial
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.core.i18n import N_, Translator
from bot.core.messages import Choice, button_key
from bot.core.network import Network, load_network
from bot.core.notify import enqueue, messages_for
from bot.jobs.imports import ImportReport, parse_day, read_rows
from storage.models import Appointment, AuditEntry, Person, Place, PlacementFollowUp, Proposal

BATCH = 200


def _texts(t: Translator, network: Network, kind: str, place: Place, participant: Person,
           appointment: Appointment | None, shares: bool, follow_up_id: int) -> tuple[str, list[Choice]]:
    from bot.core.network import district_name
    from flows.intake import participant_label
    from flows.places import kind_name
    from flows.proposals import midway_buttons, participant_checkin_buttons

    who = participant_label(t, participant) if shares else t(N_("candidate no. {candidate}"),
                                                             candidate=participant.id)
    if kind == "participant_checkin":
        return (t(N_("How is your {kind} going? Please tap a button."), kind=kind_name(t, place.kind)),
                participant_checkin_buttons(t, follow_up_id))
    if kind == "participant_after":
        return (t(N_("Your {kind} ends today. How did it go? Please tap a button."), kind=kind_name(t, place.kind)),
                participant_checkin_buttons(t, follow_up_id))
    if kind == "company_midway":
        return (t(N_("Place no. {number} ({kind}): is {participant} coming? Any problem? Please tap a button."),
                  participant=who, number=place.id, kind=kind_name(t, place.kind)),
                midway_buttons(t, follow_up_id))
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

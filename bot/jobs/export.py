"""`lotse export participants`: the table for the network meeting, as CSV or a real XLSX spreadsheet.

Consent decides what is in it. Every row shows what the network needs to plan (number, district, stage, goals,
fields, German, languages, times, start, mobility, school years, potential-check suggestions). The name, the phone
number and the free-text work experience appear only for participants who agreed that their profile may be shown
to partner companies; for everyone else those cells stay empty and the row says "No" in that column.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import phonenumbers
from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.core.i18n import N_, Translator
from bot.core.network import Network
from bot.services.duplicates import e164
from bot.services.stages import STAGES
from flows.intake import STAFF_LABELS, answer_text, applicable
from flows.potential_check import field_names
from storage.models import AuditEntry, Person, PotentialCheck, Profile

Format = Literal["csv", "xlsx"]
PLAIN = ("district", "goals", "occupations", "occupation_other", "german", "languages", "availability", "start",
         "licence", "transport", "school")
SHARED_ONLY = ("phone", "experience")
"""Shown only with the partner-companies consent, like the name."""


def headers(t: Translator) -> list[str]:
    return [t(N_("Number")), t(N_("Stage")), *(t(STAFF_LABELS[q]) for q in PLAIN), t(N_("Suggested fields")),
            t(STAFF_LABELS["companies"]), t(N_("Name")), *(t(STAFF_LABELS[q]) for q in SHARED_ONLY)]


async def participant_rows(session: AsyncSession, network: Network, t: Translator) -> list[list[str]]:
    rows = (await session.execute(
        select(Person, Profile).join(Profile, Profile.person_id == Person.id)
        .where(Person.role == "participant", Person.privacy_version.is_not(None)).order_by(Person.id))).all()
    checks = {c.person_id: c for c in (await session.scalars(
        select(PotentialCheck).order_by(PotentialCheck.completed_at))).all()}
    stages = dict(STAGES)
    table: list[list[str]] = []
    for person, profile in rows:
        answers = profile.answers
        shared = profile.share_with_companies
        row = [str(person.id), t(stages.get(profile.stage, profile.stage))]
        row += [_plain(answer_text(t, network, answers, q)) if applicable(answers, q) else "" for q in PLAIN]
        check = checks.get(person.id)
        row.append(field_names(t, network, list(check.suggestions)) if check else "")
        row.append(t(N_("Yes")) if shared else t(N_("No")))
        row.append(_plain(person.display_name or "") if shared else "")
        row += [_shared_cell(t, network, answers, q) if shared and answers.get(q) else "" for q in SHARED_ONLY]
        table.append(row)
    return table


def _shared_cell(t: Translator, network: Network, answers: dict[str, object], question: str) -> str:
    if question == "phone":
        return phone_cell(str(answers.get("phone") or ""))
    return _plain(answer_text(t, network, answers, question))


def phone_cell(text: str) -> str:
    """A valid phone number as people write it internationally ("+49 151 23456789"): a spreadsheet shows it as
    text, not as the number 4.9E+12 or behind a visible apostrophe, and it cannot be a formula (only "+", digits
    and spaces). Anything else is defused as every other cell is."""
    number = e164(text)
    if number is None:
        return _plain(text)
    return str(phonenumbers.format_number(phonenumbers.parse(number), phonenumbers.PhoneNumberFormat.INTERNATIONAL))


def _plain(text: str) -> str:
    """Spreadsheets show isolate marks as boxes; strip them, and defuse formulas (=, +, -, @ at the start, also
    after spaces, tabs or line breaks a spreadsheet skips)."""
    text = text.replace("\u2068", "").replace("\u2069", "")
    return f"'{text}" if text.lstrip(" \t\r\n")[:1] in ("=", "+", "-", "@") else text


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";")  # German Excel opens ;-separated files directly
    writer.writerow(header)
    writer.writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8-sig")


def write_xlsx(path: Path, header: Sequence[str], rows: Sequence[Sequence[str]], title: str) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = title[:31]
    sheet.append(list(header))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in rows:
        sheet.append(list(row))
    sheet.freeze_panes = "A2"
    for column in sheet.columns:
        width = max(len(str(cell.value or "")) for cell in column)
        sheet.column_dimensions[get_column_letter(column[0].column or 1)].width = min(max(width + 2, 8), 60)
    book.save(path)


async def export_participants(sessions: async_sessionmaker[AsyncSession], network: Network, path: Path,
                              file_format: Format, locale: str = "de") -> int:
    """Writes the file and records the export in the audit log; returns the number of participants."""
    t = Translator(locale)
    async with sessions() as session, session.begin():
        rows = await participant_rows(session, network, t)
        session.add(AuditEntry(action="participants.exported",
                               details={"format": file_format, "rows": len(rows), "file": path.name}))
    header = headers(t)
    if file_format == "csv":
        write_csv(path, header, rows)
    else:
        write_xlsx(path, header, rows, t(N_("Participants")))
    return len(rows)


# ---------------------------------------------------------------------------------------------------------------
# lotse export places: every place with what came of it (no participant in it, so no consent question)


def place_headers(t: Translator) -> list[str]:
    return [t(N_("Number")), t(N_("Company")), t(N_("Kind")), t(N_("Field")), t(N_("District")), t(N_("Site")),
            t(N_("Start")), t(N_("Length")), t(N_("Times")), t(N_("German")), t(N_("People")), t(N_("Status")),
            t(N_("Proposed")), t(N_("Accepted")), t(N_("Started")), t(N_("Contracts"))]


async def place_rows(session: AsyncSession, network: Network, t: Translator) -> list[list[str]]:
    from sqlalchemy import func

    from bot.core.network import company_name, district_name, field_name
    from bot.services.placement_reports import confirms_start
    from flows.places import DURATIONS, HOURS, STATUSES, german_name, kind_name
    from storage.models import Contract, Place, PlacementFollowUp, Proposal

    proposed = dict((await session.execute(select(Proposal.place_id, func.count()).group_by(
        Proposal.place_id))).all())
    accepted = dict((await session.execute(select(Proposal.place_id, func.count()).where(
        Proposal.status == "accepted").group_by(Proposal.place_id))).all())
    started: dict[int, set[int]] = {}
    for place_id, proposal_id, kind, answer in (await session.execute(
            select(Proposal.place_id, Proposal.id, PlacementFollowUp.kind, PlacementFollowUp.answer)
            .join(Proposal, Proposal.id == PlacementFollowUp.proposal_id)
            .where(PlacementFollowUp.status == "answered"))).all():
        if confirms_start(kind, answer):
            started.setdefault(place_id, set()).add(proposal_id)
    for place_id, proposal_id in (await session.execute(select(Proposal.place_id, Proposal.id).where(
            Proposal.attended.is_(True)))).all():
        started.setdefault(place_id, set()).add(proposal_id)  # the coordinator's record of who came counts too
    contracts = dict((await session.execute(select(Contract.place_id, func.count()).where(
        Contract.place_id.is_not(None)).group_by(Contract.place_id))).all())
    rows: list[list[str]] = []
    for place in (await session.scalars(select(Place).order_by(Place.id))).all():
        rows.append([str(place.id), _plain(company_name(network, place.organisation)), kind_name(t, place.kind),
                     field_name(t, network, place.occupation), _plain(district_name(t, network, place.district)),
                     _plain(place.site), place.starts_on, t(DURATIONS.get(place.duration, DURATIONS["open"])),
                     t(HOURS.get(place.hours, HOURS["full_day"])), german_name(t, place.german_level),
                     str(place.capacity), t(STATUSES.get(place.status, STATUSES["open"])),
                     str(proposed.get(place.id, 0)), str(accepted.get(place.id, 0)),
                     str(len(started.get(place.id, set()))), str(contracts.get(place.id, 0))])
    return rows


async def export_places(sessions: async_sessionmaker[AsyncSession], network: Network, path: Path,
                        file_format: Format, locale: str = "de") -> int:
    """Writes every place with its proposals, matches and starts; the export is in the audit log."""
    t = Translator(locale)
    async with sessions() as session, session.begin():
        rows = await place_rows(session, network, t)
        session.add(AuditEntry(action="places.exported",
                               details={"format": file_format, "rows": len(rows), "file": path.name}))
    if file_format == "csv":
        write_csv(path, place_headers(t), rows)
    else:
        write_xlsx(path, place_headers(t), rows, t(N_("Places")))
    return len(rows)

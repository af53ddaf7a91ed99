"""Two records of one person become one, and (within 14 days) two again.

`merge` is the only place that joins records: linking a second chat (`/link`), a coordinator's "Same person" and
a clear match in a participant import all call it. The older record survives; every row that points at the other
one is moved over (`PERSON_KEYS` says how, for every foreign key to `persons`; a test fails when a new one is
added without being named here). Before anything moves, every row of both records is kept in a snapshot on the
`person_merges` row, so `undo` can restore both records exactly. Both are in the audit log.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Table, UniqueConstraint, and_, delete, insert, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    AuditEntry,
    Base,
    Consent,
    DuplicateSuggestion,
    Person,
    PersonMerge,
    Profile,
    UTCDateTime,
)

UNDO_DAYS = 14
"""A merge can be undone this long; then its snapshot (personal data of two records) is dropped."""

How = Literal["move", "one_row", "profile", "pair"]
PERSON_KEYS: dict[tuple[str, str], How] = {
    ("handles", "person_id"): "move",
    ("conversations", "person_id"): "one_row",
    ("consents", "person_id"): "move",
    ("audit_log", "actor_id"): "move",
    ("audit_log", "subject_id"): "move",
    ("profiles", "person_id"): "profile",
    ("potential_checks", "person_id"): "move",
    ("invites", "created_by_id"): "move",
    ("invites", "used_by_id"): "move",
    ("staff_scopes", "person_id"): "one_row",
    ("tickets", "participant_id"): "move",
    ("tickets", "claimed_by_id"): "move",
    ("ticket_messages", "author_id"): "move",
    ("ticket_notices", "person_id"): "move",
    ("volunteer_profiles", "person_id"): "one_row",
    ("pairings", "volunteer_id"): "move",
    ("pairings", "participant_id"): "move",
    ("pairings", "coordinator_id"): "move",
    ("case_reports", "participant_id"): "move",
    ("case_reports", "volunteer_id"): "move",
    ("case_reports", "confirmed_by_id"): "move",
    ("stage_changes", "participant_id"): "move",
    ("stage_changes", "actor_id"): "move",
    ("broadcasts", "author_id"): "move",
    ("broadcast_deliveries", "person_id"): "move",
    ("appointments", "participant_id"): "move",
    ("appointments", "booked_by_id"): "move",
    ("courses", "run_by_id"): "move",
    ("enrolments", "participant_id"): "move",
    ("reminder_choices", "person_id"): "one_row",
    ("reminders", "participant_id"): "move",
    ("attendance", "participant_id"): "move",
    ("retention_notices", "person_id"): "one_row",
    ("places", "created_by_id"): "move",
    ("proposals", "participant_id"): "move",
    ("proposals", "proposed_by_id"): "move",
    ("placement_follow_ups", "person_id"): "move",
    ("link_codes", "person_id"): "move",
    ("duplicate_suggestions", "first_id"): "pair",
    ("duplicate_suggestions", "second_id"): "pair",
    ("duplicate_suggestions", "decided_by_id"): "move",
    ("person_merges", "survivor_id"): "move",
    ("person_merges", "decided_by_id"): "move",
    ("matching_days", "created_by_id"): "move",
    ("matching_invites", "participant_id"): "move",
    ("matching_wishes", "participant_id"): "move",
    ("matching_wishes", "by_id"): "move",
    ("mentorships", "participant_id"): "one_row",
    ("mentorships", "mentor_id"): "move",
    ("mentoring_check_ins", "participant_id"): "move",
    ("mediation_requests", "mediator_id"): "move",
    ("mediation_requests", "requested_by_id"): "move",
    ("contracts", "participant_id"): "move",
    ("contracts", "recorded_by_id"): "move",
    ("mentorship_endings", "participant_id"): "move",
    ("mentorship_endings", "mentor_id"): "move",
    ("mentorship_endings", "ended_by_id"): "move",
}
"""How each foreign key to `persons` is carried over: "move" re-points the rows (a row that would then repeat one
of the survivor's under a unique constraint is dropped: the same enrolment twice), "one_row" keeps the survivor's
row of a one-per-person table (the other's only when the survivor has none), "profile" combines the two intake
profiles, "pair" drops suggestions between the two records themselves and moves the rest."""

STAFF_ROLES = ("admin", "coordinator", "company", "volunteer")
"""A staff role beats "participant" when two records merge: the invite made that person staff."""


class MergeError(Exception):
    """A merge or undo that cannot be done (gone, too late, the same record)."""


def person_keys() -> list[tuple[Table, str]]:
    """Every (table, column) with a foreign key to persons, from the models themselves."""
    found = []
    for table in Base.metadata.sorted_tables:
        for fk in table.foreign_keys:
            if fk.column.table.name == "persons":
                found.append((table, fk.parent.name))
    return found


def unhandled_keys() -> list[tuple[str, str]]:
    """Foreign keys to persons that `merge` would not know what to do with (must be empty)."""
    return [(table.name, column) for table, column in person_keys() if (table.name, column) not in PERSON_KEYS]


# ---------------------------------------------------------------------------------------------------------------
# The snapshot


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _typed(table: Table, name: str, value: Any) -> Any:
    if value is not None and isinstance(table.c[name].type, UTCDateTime):
        return datetime.fromisoformat(value)
    return value


async def snapshot(session: AsyncSession, ids: Sequence[int]) -> dict[str, list[dict[str, Any]]]:
    """Every row of these records, and every row that a deletion of one of them would take along."""
    found: dict[str, list[dict[str, Any]]] = {}
    kept: dict[str, set[Any]] = {}
    for table in Base.metadata.sorted_tables:  # parents before children
        conditions = []
        if table.name == "persons":
            conditions.append(table.c.id.in_(ids))
        for fk in table.foreign_keys:
            parent = fk.column.table.name
            if parent == "persons":
                conditions.append(fk.parent.in_(ids))
            elif fk.ondelete == "CASCADE" and kept.get(parent):
                conditions.append(fk.parent.in_(kept[parent]))
        if not conditions or table.name == "person_merges":
            continue
        rows = (await session.execute(select(table).where(or_(*conditions)))).mappings().all()
        if not rows:
            continue
        primary = list(table.primary_key.columns)
        if len(primary) == 1:
            kept[table.name] = {row[primary[0].name] for row in rows}
        found[table.name] = [{c.name: _plain(row[c.name]) for c in table.columns} for row in rows]
    return found


# ---------------------------------------------------------------------------------------------------------------
# Merging


@dataclass(frozen=True)
class Merged:
    survivor_id: int
    absorbed_id: int
    merge_id: int


def _stricter_version(first: str | None, second: str | None) -> str | None:
    """The privacy notice version that asks more of the person: the older one (asked again), or none at all."""
    if first is None or second is None:
        return first or second
    return min(first, second)


async def _withdrew(session: AsyncSession, person_id: int) -> set[str]:
    """Consent kinds whose latest answer from this person was "no"."""
    latest: dict[str, bool] = {}
    for kind, given in (await session.execute(select(Consent.kind, Consent.given).where(
            Consent.person_id == person_id).order_by(Consent.at, Consent.id))).all():
        latest[kind] = given
    return {kind for kind, given in latest.items() if not given}


async def _combine_people(session: AsyncSession, survivor: Person, absorbed: Person) -> None:
    withdrawn = await _withdrew(session, survivor.id) | await _withdrew(session, absorbed.id)
    for name in ("display_name", "locale", "district", "organisation"):
        if getattr(survivor, name) is None and getattr(absorbed, name) is not None:
            setattr(survivor, name, getattr(absorbed, name))
    if survivor.role == "participant" and absorbed.role in STAFF_ROLES:
        survivor.role = absorbed.role
        survivor.organisation = absorbed.organisation
    survivor.privacy_version = None if "privacy" in withdrawn else _stricter_version(
        survivor.privacy_version, absorbed.privacy_version)


async def _combine_profiles(session: AsyncSession, survivor_id: int, absorbed_id: int) -> None:
    kept = await session.get(Profile, survivor_id)
    other = await session.get(Profile, absorbed_id)
    if other is None:
        return
    if kept is None:
        await session.execute(update(Profile).where(Profile.person_id == absorbed_id)
                              .values(person_id=survivor_id))
        session.expunge(other)
        return
    kept.answers = {**other.answers, **kept.answers}
    kept.german_level = kept.german_level or other.german_level
    kept.phone = kept.phone or other.phone
    kept.share_with_companies = kept.share_with_companies and other.share_with_companies  # the stricter
    if kept.completed_at is None:
        kept.completed_at = other.completed_at
    if kept.stage == "registered":
        kept.stage = other.stage
    await session.delete(other)
    await session.flush()


async def _move(session: AsyncSession, table: Table, column: str, survivor_id: int, absorbed_id: int) -> None:
    """Re-points one foreign key; first drops the other's rows that would repeat the survivor's."""
    for constraint in table.constraints:
        if not isinstance(constraint, UniqueConstraint):
            continue
        names = [c.name for c in constraint.columns]
        if column not in names or len(names) < 2:
            continue
        others = [table.c[name] for name in names if name != column]
        theirs = select(*others).where(table.c[column] == survivor_id)
        key = list(table.primary_key.columns)
        clash = (await session.execute(select(*key).where(
            table.c[column] == absorbed_id,
            (others[0] if len(others) == 1 else tuple_(*others)).in_(theirs)))).all()
        if clash:
            await session.execute(delete(table).where(key[0].in_([row[0] for row in clash])))
    await session.execute(update(table).where(table.c[column] == absorbed_id).values({column: survivor_id}))


async def _one_row(session: AsyncSession, table: Table, column: str, survivor_id: int, absorbed_id: int) -> None:
    has = await session.scalar(select(table.c[column]).where(table.c[column] == survivor_id))
    if has is None:
        await session.execute(update(table).where(table.c[column] == absorbed_id).values({column: survivor_id}))
    else:
        await session.execute(delete(table).where(table.c[column] == absorbed_id))


async def merge(session: AsyncSession, first_id: int, second_id: int, now: datetime, reason: str,
                decided_by: int | None = None) -> Merged:
    """Joins two records into the older one; returns which survived. One transaction: the caller's."""
    if first_id == second_id:
        raise MergeError("a record cannot be merged with itself")
    await session.flush()
    people = {p.id: p for p in (await session.scalars(select(Person).where(
        Person.id.in_((first_id, second_id))))).all()}
    if len(people) != 2:
        raise MergeError("one of the two records no longer exists")
    survivor, absorbed = sorted(people.values(), key=lambda p: (p.created_at, p.id))
    before = await snapshot(session, (survivor.id, absorbed.id))
    await _combine_people(session, survivor, absorbed)
    await session.flush()
    for table, column in person_keys():
        if table.name == "persons":
            continue
        how = PERSON_KEYS.get((table.name, column))
        if how is None:
            raise MergeError(f"merge does not know {table.name}.{column}")
        if how == "move":
            await _move(session, table, column, survivor.id, absorbed.id)
        elif how == "one_row":
            await _one_row(session, table, column, survivor.id, absorbed.id)
        elif how == "profile":
            await _combine_profiles(session, survivor.id, absorbed.id)
        elif how == "pair" and column == "first_id":
            pair = (survivor.id, absorbed.id)
            await session.execute(delete(DuplicateSuggestion).where(
                DuplicateSuggestion.first_id.in_(pair), DuplicateSuggestion.second_id.in_(pair)))
            await _move(session, table, "first_id", survivor.id, absorbed.id)
            await _move(session, table, "second_id", survivor.id, absorbed.id)
    absorbed_id = absorbed.id
    await session.execute(delete(Person).where(Person.id == absorbed_id))
    record = PersonMerge(survivor_id=survivor.id, absorbed_id=absorbed_id, reason=reason, decided_by_id=decided_by,
                         merged_at=now, undo_until=now + timedelta(days=UNDO_DAYS), snapshot=before)
    session.add(record)
    session.add(AuditEntry(at=now, actor_id=decided_by or survivor.id, subject_id=survivor.id,
                           action="person.merged", details={"absorbed": absorbed_id, "reason": reason}))
    await session.flush()
    return Merged(survivor.id, absorbed_id, record.id)


# ---------------------------------------------------------------------------------------------------------------
# Undoing


async def undo(session: AsyncSession, merge_id: int, now: datetime, decided_by: int | None = None) -> PersonMerge:
    """Restores both records as they were before the merge; what was added since stays with the survivor."""
    record = await session.get(PersonMerge, merge_id)
    if record is None or record.undone_at is not None:
        raise MergeError("this merge does not exist or was undone already")
    if record.undo_until < now or not record.snapshot:
        raise MergeError("this merge is older than 14 days and can no longer be undone")
    await session.flush()
    tables = {table.name: table for table in Base.metadata.sorted_tables}
    for table in Base.metadata.sorted_tables:  # parents first: the absorbed person before their rows
        rows = record.snapshot.get(table.name)
        if not rows:
            continue
        key = list(table.primary_key.columns)
        for row in rows:
            values = {name: _typed(tables[table.name], name, value) for name, value in row.items()}
            match = and_(*(column == values[column.name] for column in key))
            exists = await session.scalar(select(key[0]).where(match))
            if exists is None:
                await session.execute(insert(table).values(values))
            else:
                await session.execute(update(table).where(match).values(values))
    record.undone_at = now
    record.snapshot = {}
    pair = (record.survivor_id, record.absorbed_id)
    await session.execute(update(DuplicateSuggestion).where(
        DuplicateSuggestion.first_id.in_(pair), DuplicateSuggestion.second_id.in_(pair))
        .values(status="different", decided_by_id=decided_by, decided_at=now))
    session.add(AuditEntry(at=now, actor_id=decided_by, subject_id=record.survivor_id, action="person.unmerged",
                           details={"restored": record.absorbed_id}))
    await session.flush()
    return record


async def forget_old_snapshots(session: AsyncSession, now: datetime) -> int:
    """Drops the snapshots of merges that can no longer be undone (they hold personal data of two records)."""
    result = await session.execute(update(PersonMerge).where(PersonMerge.undo_until < now,
                                                             PersonMerge.undone_at.is_(None))
                                   .values(snapshot={}))
    return int(getattr(result, "rowcount", 0) or 0)

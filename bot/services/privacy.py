"""Privacy as a service: a copy of one's data (GDPR Art. 15/20) and its erasure (Art. 17), for every table.

Both walk `Base.metadata` instead of naming tables, so a capability added later is covered by declaring its
foreign keys to `persons` (ON DELETE CASCADE for what belongs to a person) and one line in `TABLE_RULES` saying
whether the table is shown in the copy. A test fails for a table without a rule.

Erasure, in one transaction with the goodbye message:
1. the people who had the case are found (claimed or were sent its questions, looked at it);
2. anonymous counts are added (role, stage, reason, month; each counted on its own);
3. inbound rows from the person's handles are blanked (kept only as ids, so a redelivery is still dropped);
   outbound rows to their chats are deleted; audit rows about them keep only the action and the time;
4. the person's row is deleted: the database cascades to everything that belongs to them;
5. the remaining text and JSON columns are searched for the person's traces and matching values are blanked
   (outbox rows: deleted, they are copies). Identifiers (name, handles, phone, file references) are searched
   in every table; what the person wrote only in tables that hold copies of messages (outbox, audit details,
   conversation states), so that a common sentence never blanks another participant's own question.
On SQLite `secure_delete` zeroes freed space and the WAL is truncated after the goodbye is sent, so the file
keeps no trace either.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from functools import partial
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, delete, false, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.sqltypes import JSON, String, Text

from bot.core.access import Action, holders, responsible_organisations
from bot.core.i18n import N_, Translator
from bot.core.messages import Outgoing
from bot.core.network import Network
from bot.core.notify import messages_for
from storage.models import (
    AnonymousCount,
    Appointment,
    AuditEntry,
    Base,
    Handle,
    InboxEntry,
    OutboxEntry,
    Pairing,
    Person,
    Place,
    Profile,
    Proposal,
    Ticket,
    TicketMessage,
    TicketNotice,
)

log = logging.getLogger("lotse.privacy")

REDACTED_TEXT = "[deleted]"
REDACTED_JSON: dict[str, Any] = {"redacted": True}
MIN_TRACE = 4
"""Shorter values ("ja", "1") say nothing about a person and would blank other people's data by accident."""
MIN_WRITING = 12
"""What a person wrote counts as a trace from this length on ("Thank you" is nobody's)."""
KEY_LENGTH = 64
"""String columns this short hold codes (status, role, topic, locale), never names or text: not searched."""


@dataclass(frozen=True, slots=True)
class Subject:
    """A person as the privacy code needs them: their id, handles, and every value that would identify them."""

    person_id: int
    role: str
    handles: tuple[tuple[str, str, str], ...]
    """(transport, platform id, chat id)"""
    traces: tuple[str, ...]
    """Identifiers: name, handles, chats, phone, file references."""
    writings: tuple[str, ...] = ()
    """What they wrote (questions, answers, messages)."""


Matcher = Callable[[Table, Subject], ColumnElement[bool] | None]


@dataclass(frozen=True, slots=True)
class TableRule:
    """How one table relates to a person. Rows are found through foreign keys unless `match` says otherwise."""

    export: bool
    why: str
    match: Matcher | None = None
    """Rows about the person not reachable by a foreign key (inbox and outbox, by handle)."""
    columns: tuple[str, ...] | None = None
    """Columns shown in the copy (None: all but `hidden`)."""
    hidden: frozenset[str] = frozenset()
    also_by: tuple[str, ...] = ()
    """Foreign keys to persons that do not mean ownership (SET NULL) but still make a row part of the copy."""
    on_trace: str = "blank"
    """What happens to a row of another person that names the erased one: "blank" the value or "delete" the row."""
    holds_copies: bool = False
    """The table holds copies of messages (to staff, in flow drafts): searched for what the person wrote too."""


def _inbox_rows(table: Table, subject: Subject) -> ColumnElement[bool] | None:
    pairs = [(transport, platform_id) for transport, platform_id, _ in subject.handles]
    return tuple_(table.c.transport, table.c.sender).in_(pairs) if pairs else None


def _outbox_rows(table: Table, subject: Subject) -> ColumnElement[bool] | None:
    pairs = [(transport, chat) for transport, _, chat in subject.handles]
    return tuple_(table.c.transport, table.c.chat).in_(pairs) if pairs else None


TABLE_RULES: dict[str, TableRule] = {
    "persons": TableRule(True, "the person: name, language, district, role", hidden=frozenset({"persona"})),
    "handles": TableRule(True, "how Lotse reaches them on Telegram or Matrix"),
    "conversations": TableRule(True, "where they are in a conversation", holds_copies=True),
    "inbox": TableRule(True, "what they sent, as received", match=_inbox_rows,
                       columns=("received_at", "payload"), holds_copies=True),
    "outbox": TableRule(True, "what Lotse sent them", match=_outbox_rows,
                        columns=("created_at", "sent_at", "payload"), on_trace="delete", holds_copies=True),
    "consents": TableRule(True, "each consent given or withdrawn"),
    "audit_log": TableRule(True, "who did what with their data, and when", also_by=("subject_id", "actor_id"),
                           holds_copies=True),
    "profiles": TableRule(True, "the intake answers"),
    "potential_checks": TableRule(True, "the Kompetenz- und Potenzialcheck"),
    "invites": TableRule(True, "the invite they joined with (staff and volunteers)", also_by=("used_by_id",),
                         hidden=frozenset({"code_hash", "created_by_id"})),
    "staff_scopes": TableRule(True, "topics and districts of staff"),
    "tickets": TableRule(True, "their questions", hidden=frozenset({"claimed_by_id"})),
    "ticket_messages": TableRule(True, "the messages of their questions, answers included",
                                 hidden=frozenset({"author_id"})),
    "message_translations": TableRule(True, "machine translations of their questions and of the answers to them; "
                                      "deleted with the message", hidden=frozenset({"next_attempt_at"})),
    "mediation_requests": TableRule(True, "requests to volunteer language mediators to translate their messages "
                                   "(who was asked; the mediators saw only the text)",
                                   hidden=frozenset({"requested_by_id", "mediator_id", "asked"})),
    "ticket_notices": TableRule(False, "copies of a question sent to staff: their chat addresses are staff data"),
    "anonymous_counts": TableRule(False, "counts without any person in them"),
    "retention_notices": TableRule(True, "when they were told that inactive data will be deleted"),
    # appointments, language courses and reminders (issue 6)
    "appointments": TableRule(True, "their appointments (Termine)", hidden=frozenset({"booked_by_id"})),
    "courses": TableRule(False, "language courses themselves: no personal data (who runs one is staff data)"),
    "course_sessions": TableRule(False, "the meetings of a language course: no personal data"),
    "enrolments": TableRule(True, "the language courses they are enrolled in"),
    "reminder_choices": TableRule(True, "which reminders they want"),
    "reminders": TableRule(True, "reminders planned for and sent to them", hidden=frozenset({"outbox_id"})),
    "attendance": TableRule(True, "their answers to reminders: coming or not, and why"),
    # volunteers, case reports, stages, digests and broadcasts (issue 8; declared before its tables arrive)
    "volunteer_profiles": TableRule(True, "what a volunteer offers: languages, district, help, times"),
    "pairings": TableRule(True, "the volunteer who accompanies a participant (or whom a volunteer accompanies)",
                          hidden=frozenset({"coordinator_id"})),
    "case_reports": TableRule(True, "reports about a participant by their volunteer (and a volunteer's own reports)",
                              also_by=("volunteer_id",), hidden=frozenset({"confirmed_by_id"})),
    "stage_changes": TableRule(True, "their path: each change of stage, when and why", hidden=frozenset({"actor_id"})),
    "digests_sent": TableRule(False, "which weekly digest went to which staff member or room: no participant data"),
    "broadcasts": TableRule(False, "messages to many, as written: no one person in them"),
    "broadcast_deliveries": TableRule(True, "messages to many that they were sent", also_by=("person_id",),
                                      hidden=frozenset({"outbox_id"})),
    # partner companies and placements (issue 18)
    "places": TableRule(False, "places a company offers: company data (who entered one is staff data)"),
    "proposals": TableRule(True, "the places they were proposed for and how they and the company answered",
                           hidden=frozenset({"proposed_by_id"})),
    "placement_follow_ups": TableRule(True, "reminders and check-ins around their placement, and their answers"),
    # one person, one record (issue 15)
    "link_codes": TableRule(False, "codes for linking a second chat: only a hash, valid for 15 minutes"),
    "duplicate_suggestions": TableRule(True, "records that may be the same person, and what a coordinator decided",
                                       hidden=frozenset({"decided_by_id"})),
    "person_merges": TableRule(True, "records of theirs that were joined into one (and whether that was undone)",
                               hidden=frozenset({"snapshot", "decided_by_id"})),
    "matching_days": TableRule(False, "match-making days: date, site, companies and fields (who planned one is staff "
                                      "data)"),
    "matching_invites": TableRule(True, "their invitations to match-making days and their answers"),
    "matching_wishes": TableRule(True, "after a match-making day: whom they and the companies wanted to meet again",
                                 hidden=frozenset({"by_id"})),
    "mentorships": TableRule(True, "their mentor in the apprenticeship and the vocational school (or whom a mentor "
                                   "accompanies)", also_by=("mentor_id",)),
    "mentoring_check_ins": TableRule(True, "the four-weekly questions in their apprenticeship and their answers"),
    "contracts": TableRule(True, "their signed contracts (Ausbildung, job, EQ): employer, kind, first day",
                           hidden=frozenset({"recorded_by_id"})),
    "mentorship_endings": TableRule(True, "when and why their mentoring ended (or one they mentored)",
                                    also_by=("mentor_id",), hidden=frozenset({"ended_by_id"})),
    # the Matrix transport
    "matrix_sync_state": TableRule(False, "where the Matrix sync stands: no personal data"),
}
"""Every table and how it relates to a person; capabilities add theirs (a test checks that none is missing)."""


def rule_for(table: Table) -> TableRule:
    rule = TABLE_RULES.get(table.name)
    if rule is None:  # a table added without a rule: shown in full rather than hidden (the test names it)
        return TableRule(True, "no rule declared")
    return rule


def _is_trace(value: str | None) -> bool:
    if not value:
        return False
    value = value.strip()
    return len(value) >= (7 if value.lstrip("+").isdigit() else MIN_TRACE)


def _is_writing(value: str | None) -> bool:
    return bool(value) and len(str(value).strip()) >= MIN_WRITING


def _texts_in(value: Any) -> list[str]:
    """Free texts inside a stored answer (JSON values): strings that are not option keys."""
    if isinstance(value, str):
        return [value] if " " in value.strip() or len(value) > 24 else []
    if isinstance(value, dict):
        return [text for item in value.values() for text in _texts_in(item)]
    if isinstance(value, list):
        return [text for item in value for text in _texts_in(item)]
    return []


async def subject_of(session: AsyncSession, person: Person) -> Subject:
    handles = (await session.scalars(select(Handle).where(Handle.person_id == person.id))).all()
    triples = tuple((h.transport, h.platform_id, h.chat_id) for h in handles)
    traces: set[str] = {person.display_name or ""}
    writings: set[str] = set()
    for _, platform_id, chat in triples:
        traces.update((platform_id, chat))
    profile = await session.get(Profile, person.id)
    if profile is not None:
        traces.add(profile.phone or "")
        writings.update(_texts_in(profile.answers))
    pairs = [(t, p) for t, p, _ in triples]
    if pairs:
        payloads = (await session.scalars(select(InboxEntry.payload).where(
            tuple_(InboxEntry.transport, InboxEntry.sender).in_(pairs)))).all()
        for payload in payloads:
            writings.update(_texts_in(payload.get("text")))
            traces.add(payload.get("display_name") or "")
            attachment = payload.get("attachment") or {}
            traces.update((attachment.get("reference") or "", attachment.get("file_name") or ""))
    written = (await session.scalars(select(TicketMessage.text).join(Ticket).where(
        Ticket.participant_id == person.id, TicketMessage.direction == "in"))).all()
    writings.update(text or "" for text in written)
    found = sorted({trace.strip() for trace in traces if _is_trace(trace)}, key=len)
    wrote = sorted({text.strip() for text in writings if _is_writing(text)} - set(found), key=len)
    return Subject(person.id, person.role, triples, tuple(found), tuple(wrote))


# ---------------------------------------------------------------------------------------------------------------
# A copy of one's data


def _person_keys(table: Table, rule: TableRule) -> list[Any]:
    """Foreign-key columns that make a row the person's: CASCADE ones, and the rule's `also_by`."""
    keys = []
    for fk in table.foreign_keys:
        if fk.column.table.name == "persons" and (fk.ondelete == "CASCADE" or fk.parent.name in rule.also_by):
            keys.append(fk.parent)
    return keys


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


async def gather(session: AsyncSession, person: Person) -> dict[str, list[dict[str, Any]]]:
    """Everything stored about `person`, table by table, as plain JSON values."""
    subject = await subject_of(session, person)
    found: dict[str, list[dict[str, Any]]] = {}
    owned: dict[str, set[Any]] = {}
    for table in Base.metadata.sorted_tables:  # parents before children, so cascades can follow
        rule = rule_for(table)
        conditions: list[ColumnElement[bool]] = []
        if table.name == "persons":
            conditions.append(table.c.id == person.id)
        conditions += [column == person.id for column in _person_keys(table, rule)]
        for fk in table.foreign_keys:
            parent = fk.column.table.name
            if parent != "persons" and fk.ondelete == "CASCADE" and owned.get(parent):
                conditions.append(fk.parent.in_(owned[parent]))
        if rule.match is not None:
            matched = rule.match(table, subject)
            if matched is not None:
                conditions.append(matched)
        if not conditions:
            continue
        rows = (await session.execute(select(table).where(or_(*conditions)))).mappings().all()
        primary = list(table.primary_key.columns)
        if len(primary) == 1:
            owned[table.name] = {row[primary[0].name] for row in rows}
        if not rule.export or not rows:
            continue
        names = rule.columns or tuple(c.name for c in table.columns if c.name not in rule.hidden)
        found[table.name] = [{name: _plain(row[name]) for name in names} for row in rows]
    return found


# ---------------------------------------------------------------------------------------------------------------
# Erasure


@dataclass
class Erasure:
    person_id: int
    role: str
    staff_to_tell: list[int] = field(default_factory=list)
    blanked: int = 0
    """Values of other rows that named the person and were blanked."""


async def staff_who_had(session: AsyncSession, person_id: int, network: Network | None = None) -> list[int]:
    """Coordinators and admins who took, were sent, or looked at this person's case, and (with the network) the
    coordinators responsible for their district and goals, who were sent their profile."""
    claimed = select(Ticket.claimed_by_id).where(Ticket.participant_id == person_id)
    notified = select(TicketNotice.person_id).join(Ticket, Ticket.id == TicketNotice.ticket_id).where(
        Ticket.participant_id == person_id)
    looked = select(AuditEntry.actor_id).where(AuditEntry.subject_id == person_id, AuditEntry.actor_id != person_id)
    ids: set[int] = set()
    for query in (claimed, notified, looked):
        ids.update(i for i in (await session.scalars(query)).all() if i is not None)
    person = await session.get(Person, person_id)
    profile = await session.get(Profile, person_id)
    if network is not None and person is not None and profile is not None and profile.completed_at is not None:
        organisations = responsible_organisations(network, person.district, profile.answers.get("goals") or [])
        if organisations:
            ids.update((await session.scalars(select(Person.id).where(
                Person.role.in_(holders(Action.BE_RESPONSIBLE)), Person.organisation.in_(organisations)))).all())
    if not ids:
        return []
    staff = (await session.scalars(select(Person.id).where(Person.id.in_(ids),
                                                           Person.role.in_(holders(Action.WORK_AS_STAFF))))).all()
    return sorted(staff)


async def count_anonymously(session: AsyncSession, now: datetime, metrics: Sequence[str]) -> None:
    period = f"{now.year:04d}-{now.month:02d}"
    for metric in metrics:
        row = await session.scalar(select(AnonymousCount).where(AnonymousCount.period == period,
                                                                AnonymousCount.metric == metric))
        if row is None:
            session.add(AnonymousCount(period=period, metric=metric, count=1))
            await session.flush()
        else:
            row.count += 1


def _trace_condition(column: Any, traces: Sequence[str], sqlite: bool) -> ColumnElement[bool]:
    """Case-insensitive "contains" for each trace, as typed and as JSON escapes non-ASCII text."""
    forms: set[str] = set()
    for trace in traces:
        forms.add(trace)
        forms.add(json.dumps(trace)[1:-1])
    text = column if isinstance(column.type, String) else column.cast(Text)
    if sqlite:  # SQLite's LIKE ignores ASCII case by itself; lower() on both sides would double the work
        return or_(false(), *(text.contains(form, autoescape=True) for form in sorted(forms)))
    return or_(false(), *(text.icontains(form, autoescape=True) for form in sorted(forms)))


def _rows(result: Any) -> int:
    """Rows an UPDATE or DELETE touched (a `CursorResult`, typed as a plain `Result` by the session)."""
    return int(getattr(result, "rowcount", 0) or 0)


def _scrubbable(table: Table) -> list[Any]:
    keys = {fk.parent.name for fk in table.foreign_keys} | {c.name for c in table.primary_key.columns}
    return [c for c in table.columns if c.name not in keys and (
        isinstance(c.type, Text | JSON) or (isinstance(c.type, String) and (c.type.length or 10_000) > KEY_LENGTH))]


async def scrub_traces(session: AsyncSession, subject: Subject) -> int:
    """Blanks every value in every table that still names the person; returns how many rows changed."""
    changed = 0
    sqlite = session.get_bind().dialect.name == "sqlite"
    for table in Base.metadata.sorted_tables:
        if table.name in ("persons", "handles"):  # other people's own names and ids are theirs, not traces
            continue
        rule = rule_for(table)
        traces = [*subject.traces, *(subject.writings if rule.holds_copies else ())]
        columns = _scrubbable(table)
        if not columns or not traces:
            continue
        if rule.on_trace == "delete":  # copies: any row naming them goes; one quoting them only once delivered
            named = or_(*(_trace_condition(c, subject.traces, sqlite) for c in columns))
            changed += _rows(await session.execute(delete(table).where(named)))
            if rule.holds_copies and subject.writings and "status" in table.c:
                quoted = or_(*(_trace_condition(c, subject.writings, sqlite) for c in columns))
                changed += _rows(await session.execute(delete(table).where(quoted, table.c.status != "pending")))
            continue
        for column in columns:
            blank: Any = REDACTED_JSON if isinstance(column.type, JSON) else REDACTED_TEXT[:column.type.length or 99]
            if column.nullable and not isinstance(column.type, JSON):
                blank = None
            result = await session.execute(update(table).where(_trace_condition(column, traces, sqlite))
                                           .values({column.name: blank}))
            changed += _rows(result)
    return changed


def _written_in(rows: dict[str, list[dict[str, Any]]]) -> set[str]:
    """Free texts in the rows a person owns (notes, reasons, answers): staff may have typed them elsewhere too."""
    found: set[str] = set()
    for name, table_rows in rows.items():
        if name in ("persons", "handles", "inbox", "outbox", "audit_log", "conversations"):
            continue
        table = Base.metadata.tables[name]
        texts = [c.name for c in table.columns if isinstance(c.type, Text | JSON)]
        for row in table_rows:
            for column in texts:
                found.update(_texts_in(row.get(column)))
    return {text.strip() for text in found if _is_writing(text)}


async def erase(session: AsyncSession, person: Person, now: datetime, reason: str,
                network: Network | None = None) -> Erasure:
    """Deletes the person's personal data everywhere, in the caller's transaction (see the module docstring)."""
    subject = await subject_of(session, person)
    owned = await gather(session, person)
    more = _written_in(owned) - set(subject.writings) - set(subject.traces)
    subject = replace(subject, writings=tuple(sorted({*subject.writings, *more}, key=len)))
    erasure = Erasure(person.id, person.role, await staff_who_had(session, person.id, network))
    profile = await session.get(Profile, person.id)
    metrics = [f"deleted.{reason}", f"deleted.role.{person.role}"]
    if profile is not None:
        metrics.append(f"deleted.stage.{profile.stage}")
    await count_anonymously(session, now, metrics)
    await session.flush()
    pairs = [(t, p) for t, p, _ in subject.handles]
    chats = [(t, c) for t, _, c in subject.handles]
    if pairs:
        await session.execute(update(InboxEntry).where(tuple_(InboxEntry.transport, InboxEntry.sender).in_(pairs))
                              .values(payload=REDACTED_JSON, sender="", error=None))
    if chats:
        await session.execute(delete(OutboxEntry).where(tuple_(OutboxEntry.transport, OutboxEntry.chat).in_(chats)))
    await session.execute(update(AuditEntry).where(or_(AuditEntry.subject_id == person.id,
                                                       AuditEntry.actor_id == person.id)).values(details={}))
    for loaded in list(session.identity_map.values()):  # the database cascades; the session must not write back
        if getattr(loaded, "person_id", None) == person.id or loaded is person:
            session.expunge(loaded)
    await session.execute(delete(Person).where(Person.id == person.id))
    erasure.blanked = await scrub_traces(session, subject)
    session.add(AuditEntry(at=now, action="person.erased", details={"reason": reason, "role": person.role}))
    log.info("privacy: person %s erased (%s); %d other value(s) naming them blanked; %d staff member(s) told",
             person.id, reason, erasure.blanked, len(erasure.staff_to_tell))
    return erasure


async def find_subject(session: AsyncSession, *, person_id: int | None = None, transport: str | None = None,
                       platform_id: str | None = None, phone: str | None = None) -> list[Person]:
    """People matching what an operator knows: a number, a handle, or a phone number."""
    conditions: list[ColumnElement[bool]] = []
    if person_id is not None:
        conditions.append(Person.id == person_id)
    if platform_id is not None:
        handle_match = Handle.platform_id == platform_id
        if transport is not None:
            handle_match = and_(handle_match, Handle.transport == transport)
        conditions.append(Person.id.in_(select(Handle.person_id).where(handle_match)))
    if phone is not None:
        conditions.append(Person.id.in_(select(Profile.person_id).where(Profile.phone == phone)))
    if not conditions:
        return []
    return list((await session.scalars(select(Person).where(and_(*conditions)))).all())


ERASED_STAFF_NOTICE = {
    "request": N_("Participant no. {number} asked for their data to be deleted. Lotse has deleted it. "
                  "Please also delete your own notes and copies about them (e-mail, paper, files)."),
    "retention": N_("The data of participant no. {number} was deleted after a long time without contact "
                    "(retention period). Please also delete your own notes and copies about them."),
}
"""Staff who had the case hear of a deletion by number only: the name is gone too."""


async def tell_staff_of_erasure(session: AsyncSession, staff_ids: list[int], number: int,
                                reason: str) -> list[Outgoing]:
    message = ERASED_STAFF_NOTICE.get(reason, ERASED_STAFF_NOTICE["request"])
    found: list[Outgoing] = []
    for staff_id in staff_ids:
        staff = await session.get(Person, staff_id)
        if staff is not None:
            found.extend(await messages_for(session, staff, lambda t: t(message, number=number)))
    return found


# ---------------------------------------------------------------------------------------------------------------
# Erasure and withdrawal reach the company and the volunteer too


WITHDRAWN_FROM_PLACE = N_("{participant} has withdrawn from place no. {number}.")
WITHDRAWN_WITH_APPOINTMENT = N_("{participant} has withdrawn from place no. {number}. The appointment on {date} is "
                                "cancelled.")
VOLUNTEER_NOTICE = {
    "erased": N_("Participant no. {number}, whom you accompany, has had their data deleted. The accompaniment ends "
                 "here. Please also delete your own notes about them."),
    "withdrawn": N_("Participant no. {number}, whom you accompany, has withdrawn their consent. The accompaniment "
                    "ends here."),
}
APPOINTMENTS_CANCELLED = N_("Their appointments (Termine) are cancelled: {dates}.")
WITHDRAWN_STAFF_NOTICE = N_("Participant no. {number} has withdrawn their consent. Their open questions, proposals "
                            "and appointments (Termine) are cancelled. Their data is deleted in {days} days unless "
                            "they agree again.")
OPEN_PROPOSALS = ("offered", "wants", "accepted")
COMPANY_HAS_SEEN = ("wants", "accepted")
"""A company is shown a candidate once they want to go; only then is there anything to tell it."""


def _candidate(number: int) -> Callable[[Translator], str]:
    """The company reads a number, never the name: the person asked to be forgotten or to stop sharing."""
    return lambda t: t(N_("candidate no. {candidate}"), candidate=number)


def _withdrawn_text(person_id: int, place_id: int, starts: datetime | None, t: Translator) -> str:
    if starts is None:
        return t(WITHDRAWN_FROM_PLACE, participant=_candidate(person_id)(t), number=place_id)
    return t(WITHDRAWN_WITH_APPOINTMENT, participant=_candidate(person_id)(t), number=place_id, date=t.when(starts))


async def release_partners(session: AsyncSession, person_id: int, now: datetime, why: str) -> list[Outgoing]:
    """Ends what a participant has with companies and volunteers, and tells them in their language (`why`: "erased"
    or "withdrawn"). Open proposals are withdrawn (a company that was shown the candidate hears it, with the
    appointment that is cancelled), scheduled appointments are cancelled with their reminders, the volunteer's
    accompaniment ends. Called before an erasure (which then deletes the rows) and on withdrawing consent."""
    from bot.services.reminders import appointment_key, drop  # reminders build on the person's data, not on privacy

    found: list[Outgoing] = []
    upcoming = (await session.scalars(select(Appointment).where(
        Appointment.participant_id == person_id, Appointment.status == "scheduled")
        .order_by(Appointment.starts_at))).all()
    rows = (await session.execute(select(Proposal, Place).join(Place, Place.id == Proposal.place_id).where(
        Proposal.participant_id == person_id, Proposal.status.in_(OPEN_PROPOSALS)))).all()
    for proposal, place in rows:
        seen = proposal.status in COMPANY_HAS_SEEN
        proposal.status, proposal.decided_at = "withdrawn", now
        if not seen or place.status == "closed":
            continue
        booked = next((a for a in upcoming if a.id == proposal.appointment_id and a.starts_at > now), None)
        contacts = (await session.scalars(select(Person).where(Person.role.in_(holders(Action.ACT_FOR_COMPANY)),
                                                               Person.organisation == place.organisation))).all()
        starts = booked.starts_at if booked is not None else None
        for contact in contacts:
            found += await messages_for(session, contact, partial(_withdrawn_text, person_id, place.id, starts))
    future = [appointment for appointment in upcoming if appointment.starts_at > now]
    for appointment in upcoming:
        appointment.status, appointment.updated_at = "cancelled", now
        await drop(session, appointment_key(appointment.id), f"participant {why}", person_id)
    pairings = (await session.scalars(select(Pairing).where(Pairing.participant_id == person_id,
                                                            Pairing.status.in_(("asked", "active"))))).all()
    for pairing in pairings:
        pairing.status, pairing.decided_at = "ended", now
        volunteer = await session.get(Person, pairing.volunteer_id)
        if volunteer is None:
            continue

        def volunteer_text(t: Translator) -> str:
            lines = [t(VOLUNTEER_NOTICE[why], number=person_id)]
            if future:
                lines.append(t(APPOINTMENTS_CANCELLED, dates=", ".join(t.when(a.starts_at) for a in future)))
            return "\n".join(lines)

        found += await messages_for(session, volunteer, volunteer_text)
    await session.flush()
    return found


async def tell_staff_of_withdrawal(session: AsyncSession, network: Network, person_id: int,
                                   days: int) -> list[Outgoing]:
    """Staff who had the case hear that consent was withdrawn (by number), so that nobody books on in vain."""
    found: list[Outgoing] = []
    for staff_id in await staff_who_had(session, person_id, network):
        staff = await session.get(Person, staff_id)
        if staff is not None:
            found += await messages_for(session, staff, lambda t: t(WITHDRAWN_STAFF_NOTICE, number=person_id,
                                                                    days=days))
    return found

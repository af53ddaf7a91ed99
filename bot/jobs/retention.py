"""Retention: how long Lotse keeps what, applied by a daily job that logs one line of what it did.

- closed questions (their messages and attachment references) after `retention_closed_question_days` (90);
- copies of handled inbound and delivered outbound messages after `retention_message_days` (30);
- participants and volunteers inactive for the network file's `retention_months` (12, the period the privacy
  notice promises): warned `retention_warning_days` (30) before, erased if they stay silent; writing again cancels;
- people who never agreed, or withdrew consent, after `retention_unconsented_days` (30) without a message;
- audit entries after `retention_audit_months` (24).
Erasure is `bot.services.privacy.erase`, the same as `/delete`; staff who had the case are told.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.core.access import CONSENT_ROLES
from bot.core.config import Settings
from bot.core.i18n import N_, Translator
from bot.core.network import Network
from bot.core.notify import enqueue, messages_for
from bot.services.person_merge import forget_old_snapshots
from bot.services.privacy import erase
from storage.database import compact_after_erasure
from storage.models import AuditEntry, Conversation, Handle, InboxEntry, OutboxEntry, Person, RetentionNotice, Ticket

log = logging.getLogger("lotse.retention")


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    inactive_months: int = 12
    warning_days: int = 30
    closed_question_days: int = 90
    message_days: int = 30
    unconsented_days: int = 30
    audit_months: int = 24

    @classmethod
    def from_settings(cls, settings: Settings, network: Network) -> RetentionPolicy:
        return cls(inactive_months=network.retention_months, warning_days=settings.retention_warning_days,
                   closed_question_days=settings.retention_closed_question_days,
                   message_days=settings.retention_message_days,
                   unconsented_days=settings.retention_unconsented_days,
                   audit_months=settings.retention_audit_months)


@dataclass
class RetentionReport:
    questions: int = 0
    messages: int = 0
    audit_entries: int = 0
    warned: int = 0
    erased: int = 0

    def line(self) -> str:
        return (f"retention: {self.questions} closed question(s), {self.messages} message copies and "
                f"{self.audit_entries} audit entries deleted; {self.warned} inactive person(s) warned; "
                f"{self.erased} person(s) erased")


def months_before(moment: datetime, months: int) -> datetime:
    """The same day `months` calendar months earlier (the last day of a shorter month)."""
    year, month = divmod(moment.year * 12 + moment.month - 1 - months, 12)
    day = moment.day
    while True:
        try:
            return moment.replace(year=year, month=month + 1, day=day)
        except ValueError:
            day -= 1


INACTIVE_WARNING = N_("You have not written to Lotse for a long time. To protect your data, Lotse will delete it "
                      "on {date}. If you want to keep it, just write any message before then.")


async def _last_activity(session: AsyncSession) -> list[tuple[Person, datetime]]:
    rows = (await session.execute(
        select(Person, func.coalesce(Conversation.updated_at, Person.created_at))
        .outerjoin(Conversation, Conversation.person_id == Person.id)
        .where(Person.role.in_(CONSENT_ROLES)))).all()
    return [(person, last if last.tzinfo else last.replace(tzinfo=UTC)) for person, last in rows]


async def apply_retention(sessions: async_sessionmaker[AsyncSession], network: Network, policy: RetentionPolicy,
                          now: datetime) -> RetentionReport:
    """One run of the daily job; each part in its own transaction, every erasure in one of its own."""
    from bot.services.privacy import release_partners, tell_staff_of_erasure

    report = RetentionReport()
    async with sessions() as session, session.begin():
        closed = now - timedelta(days=policy.closed_question_days)
        report.questions = _count(await session.execute(
            delete(Ticket).where(Ticket.status == "closed", Ticket.closed_at < closed)))
        copies = now - timedelta(days=policy.message_days)
        report.messages = _count(await session.execute(
            delete(InboxEntry).where(InboxEntry.processed_at.is_not(None), InboxEntry.processed_at < copies)))
        report.messages += _count(await session.execute(
            delete(OutboxEntry).where(OutboxEntry.status.in_(("sent", "failed")), OutboxEntry.created_at < copies)))
        report.audit_entries = _count(await session.execute(
            delete(AuditEntry).where(AuditEntry.at < months_before(now, policy.audit_months))))
        await forget_old_snapshots(session, now)  # merges older than 14 days can no longer be undone
    inactive_since = months_before(now, policy.inactive_months)
    warn_from = inactive_since + timedelta(days=policy.warning_days)
    unconsented_since = now - timedelta(days=policy.unconsented_days)
    async with sessions() as session:
        people = await _last_activity(session)
        notices = {n.person_id: n for n in (await session.scalars(select(RetentionNotice))).all()}
        with_chat = set((await session.scalars(select(Handle.person_id).distinct())).all())
    for person, last in people:
        notice = notices.get(person.id)
        due = None
        if person.id not in with_chat:  # imported from an organisation's list (issue 15): no chat to warn in
            due = "retention" if last < inactive_since else None
        elif person.privacy_version is None and last < unconsented_since:
            due = "no_consent"
        elif person.privacy_version is not None and notice is not None and last < notice.warned_at \
                and now >= notice.delete_after:
            due = "retention"
        if due is not None:
            async with sessions() as session, session.begin():
                fresh = await session.get(Person, person.id)
                if fresh is None:
                    continue
                partners = await release_partners(session, fresh.id, now, "erased")  # company, volunteer
                erasure = await erase(session, fresh, now, due, network)
                enqueue(session, partners, now)
                enqueue(session, await tell_staff_of_erasure(session, erasure.staff_to_tell, person.id,
                                                             "retention"), now)
            report.erased += 1
            continue
        if person.privacy_version is not None and last < warn_from and (notice is None or notice.warned_at <= last):
            async with sessions() as session, session.begin():
                delete_after = now + timedelta(days=policy.warning_days)
                await session.execute(delete(RetentionNotice).where(RetentionNotice.person_id == person.id))
                session.add(RetentionNotice(person_id=person.id, warned_at=now, delete_after=delete_after))
                fresh = await session.get_one(Person, person.id)
                enqueue(session, await messages_for(session, fresh, _warning(delete_after)), now)
            report.warned += 1
    if report.erased:
        await compact_after_erasure(sessions)
    log.info(report.line())
    return report


def _warning(delete_after: datetime) -> Callable[[Translator], str]:
    return lambda t: t(INACTIVE_WARNING, date=t.date(delete_after))


def _count(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)

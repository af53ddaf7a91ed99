"""Outbox rows are claimed with a lease before they are sent, so no two processes ever send one row.

A claim names its process (`claimed_by`) and ends at `lease_until`: a process that crashed after claiming leaves
rows that the next sender takes once the lease has run out. On PostgreSQL the candidates are locked with
`FOR UPDATE SKIP LOCKED`, so two claimers never wait for each other and never get the same row. A row is not
claimed while an earlier pending row of the same chat is claimed by another process: a chat's order holds even
then.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from storage.models import OutboxEntry

LEASE = timedelta(seconds=15)
"""Long enough for a send and the write of its outcome; a crashed claimer's rows wait at most this long."""


async def claim_outbox(sessions: async_sessionmaker[AsyncSession], ids: Sequence[int], owner: str, now: datetime,
                       lease: timedelta = LEASE) -> set[int]:
    """Claims the pending rows among `ids` that nobody else holds; returns the ids now claimed by `owner`."""
    if not ids:
        return set()
    earlier = aliased(OutboxEntry)
    free = or_(OutboxEntry.claimed_by.is_(None), OutboxEntry.claimed_by == owner, OutboxEntry.lease_until < now)
    blocked = exists().where(and_(
        earlier.transport == OutboxEntry.transport, earlier.chat == OutboxEntry.chat, earlier.id < OutboxEntry.id,
        earlier.status == "pending", earlier.claimed_by.is_not(None), earlier.claimed_by != owner,
        earlier.lease_until >= now))
    candidates = (select(OutboxEntry.id)
                  .where(OutboxEntry.id.in_(list(ids)), OutboxEntry.status == "pending", free, ~blocked)
                  .with_for_update(skip_locked=True))
    statement = (update(OutboxEntry).where(OutboxEntry.id.in_(candidates))
                 .values(claimed_by=owner, lease_until=now + lease).returning(OutboxEntry.id)
                 .execution_options(synchronize_session=False))
    async with sessions() as session, session.begin():
        return set((await session.scalars(statement)).all())


async def release_claims(sessions: async_sessionmaker[AsyncSession], owner: str) -> int:
    """A clean stop: the rows this process claimed but did not send are free at once, not after the lease."""
    statement = (update(OutboxEntry).where(OutboxEntry.claimed_by == owner, OutboxEntry.status == "pending")
                 .values(claimed_by=None, lease_until=None).execution_options(synchronize_session=False))
    async with sessions() as session, session.begin():
        result = await session.execute(statement)
    return int(getattr(result, "rowcount", 0) or 0)

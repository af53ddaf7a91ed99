"""Outbox rows are claimed with a lease before they are sent, so no two processes ever send one row.

A claim names its process (`claimed_by`) and ends at `lease_until`: a process that crashed after claiming leaves
rows that the next sender takes once the lease has run out. On PostgreSQL the candidates are locked with
`FOR UPDATE SKIP LOCKED`, so two claimers never wait for each other and never get the same row. A row is not
claimed while an earlier pending row of the same chat is claimed by another process, nor while one is pending that
the claimer neither holds nor claims with it (a row committed late, or one it dropped while another held it): a
chat's order holds even then, and the sender's next rescan brings the earlier row back into its lane.

Exactly once is not possible at the instant of a crash: Telegram's Bot API has no idempotency key and no way to
ask whether a message went. Lotse chooses at least once. A row whose claimer died is "maybe sent" (the claimer may
have handed it to the platform and died before writing the result); the next claimer sends it again, in its
place in the chat, and says so in one log line. Only rows the dead process held can go twice, each at most once
more; every other row goes exactly once (docs/operations.md, "Nothing twice").
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from storage.models import OutboxEntry

log = logging.getLogger("lotse.outbox")

LEASE = timedelta(seconds=15)
"""Long enough for a send and the write of its outcome; a crashed claimer's rows wait at most this long."""


async def claim_outbox(sessions: async_sessionmaker[AsyncSession], ids: Sequence[int], owner: str, now: datetime,
                       lease: timedelta = LEASE) -> set[int]:
    """Claims the pending rows among `ids` that nobody else holds; returns the ids now claimed by `owner`."""
    if not ids:
        return set()
    earlier = aliased(OutboxEntry)
    free = or_(OutboxEntry.claimed_by.is_(None), OutboxEntry.claimed_by == owner, OutboxEntry.lease_until < now)
    mine = and_(earlier.claimed_by.is_not(None), earlier.claimed_by == owner,  # never NULL: NOT must mean not
                earlier.lease_until.is_not(None), earlier.lease_until >= now)
    blocked = exists().where(and_(  # an earlier pending row of the chat that is not ours now, nor claimed with it
        earlier.transport == OutboxEntry.transport, earlier.chat == OutboxEntry.chat, earlier.id < OutboxEntry.id,
        earlier.status == "pending", or_(
            and_(earlier.claimed_by.is_not(None), earlier.claimed_by != owner, earlier.lease_until >= now),
            and_(earlier.id.not_in(list(ids)), ~mine))))
    candidates = (select(OutboxEntry.id, OutboxEntry.claimed_by.label("before"))
                  .where(OutboxEntry.id.in_(list(ids)), OutboxEntry.status == "pending", free, ~blocked)
                  .with_for_update(skip_locked=True))
    async with sessions() as session, session.begin():
        if session.get_bind().dialect.name != "postgresql":  # one process: nobody else's claim to take over
            statement = (update(OutboxEntry).where(OutboxEntry.id.in_(candidates.with_only_columns(OutboxEntry.id)))
                         .values(claimed_by=owner, lease_until=now + lease).returning(OutboxEntry.id)
                         .execution_options(synchronize_session=False))
            return set((await session.scalars(statement)).all())
        taken = candidates.cte("candidates")
        statement = (update(OutboxEntry).where(OutboxEntry.id == taken.c.id)
                     .values(claimed_by=owner, lease_until=now + lease).returning(OutboxEntry.id, taken.c.before)
                     .execution_options(synchronize_session=False))
        result: Any = await session.execute(statement)
        rows: list[tuple[int, str | None]] = [(int(row[0]), row[1]) for row in result.all()]
    maybe_sent: dict[str, int] = {}
    for _, before in rows:
        if before is not None and before != owner:
            maybe_sent[before] = maybe_sent.get(before, 0) + 1
    for before, many in maybe_sent.items():
        log.warning("outbox: %d row(s) claimed by %s, whose claim ran out, are sent again by %s: the one it may "
                    "have handed to the platform before it stopped can arrive twice", many, before, owner)
    return {row_id for row_id, _ in rows}


async def release_claims(sessions: async_sessionmaker[AsyncSession], owner: str) -> int:
    """A clean stop: the rows this process claimed but did not send are free at once, not after the lease."""
    statement = (update(OutboxEntry).where(OutboxEntry.claimed_by == owner, OutboxEntry.status == "pending")
                 .values(claimed_by=None, lease_until=None).execution_options(synchronize_session=False))
    async with sessions() as session, session.begin():
        result = await session.execute(statement)
    return int(getattr(result, "rowcount", 0) or 0)

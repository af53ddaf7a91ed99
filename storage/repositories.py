"""Queries the rest of Lotse uses, so that flows and services never write SQL of their own."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Row, Table, bindparam, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Conversation, Handle, InboxEntry, OutboxEntry, Person

INBOX = cast(Table, InboxEntry.__table__)
OUTBOX = cast(Table, OutboxEntry.__table__)
"""The hot path's statements use the tables (Core): no identity map, no unit of work, compiled once and cached."""


async def store_inbound(session: AsyncSession, transport: str, event_id: str, sender: str,
                        payload: dict[str, Any], now: datetime) -> int | None:
    """Inserts one inbound event; its id, or None when that event id was stored before (a redelivery)."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = (
        insert(InboxEntry)
        .values(transport=transport, event_id=event_id, sender=sender, payload=payload, received_at=now)
        .on_conflict_do_nothing(index_elements=["transport", "event_id"])
        .returning(InboxEntry.id)
    )
    stored: int | None = (await session.execute(statement)).scalar_one_or_none()
    return stored


_STORE_INBOUND = {
    dialect: insert_(INBOX).on_conflict_do_nothing(index_elements=["transport", "event_id"])
    .returning(INBOX.c.id, INBOX.c.event_id)
    for dialect, insert_ in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
}
_PENDING_INBOX = (select(INBOX.c.id, INBOX.c.payload, INBOX.c.received_at)
                  .where(INBOX.c.id.in_(bindparam("ids", expanding=True)), INBOX.c.processed_at.is_(None))
                  .order_by(INBOX.c.id).with_for_update(skip_locked=True))
_MARK_PROCESSED = update(INBOX).where(INBOX.c.id == bindparam("entry_id")).values(processed_at=bindparam("now"))
_CLAIM_INBOX = {
    # PostgreSQL: rows another worker holds are skipped, as the SELECT ... SKIP LOCKED did.
    "postgresql": update(INBOX).where(INBOX.c.id.in_(
        select(INBOX.c.id).where(INBOX.c.id.in_(bindparam("ids", expanding=True)), INBOX.c.processed_at.is_(None))
        .with_for_update(skip_locked=True).scalar_subquery()))
    .values(processed_at=bindparam("now")).returning(INBOX.c.id, INBOX.c.payload, INBOX.c.received_at),
    "sqlite": update(INBOX)
    .where(INBOX.c.id.in_(bindparam("ids", expanding=True)), INBOX.c.processed_at.is_(None))
    .values(processed_at=bindparam("now")).returning(INBOX.c.id, INBOX.c.payload, INBOX.c.received_at),
}
_UNCLAIM_INBOX = (update(INBOX).where(INBOX.c.id.in_(bindparam("ids", expanding=True)))
                  .values(processed_at=None))
_INSERT_OUTBOX = insert(OUTBOX).returning(OUTBOX.c.id)
_INSERT_OUTBOX_ORDERED = insert(OUTBOX).returning(OUTBOX.c.id, sort_by_parameter_order=True)
_FIND_PERSON = (
    select(Handle, Person, Conversation)
    .join(Person, Person.id == Handle.person_id)
    .outerjoin(Conversation, Conversation.person_id == Person.id)
    .where(Handle.transport == bindparam("transport"), Handle.platform_id == bindparam("platform_id"))
)
CONVERSATIONS = cast(Table, Conversation.__table__)
_SAVE_CONVERSATION = (update(CONVERSATIONS).where(CONVERSATIONS.c.person_id == bindparam("person"))
                      .values(state=bindparam("state"), updated_at=bindparam("now")))
"""Built once: building a statement costs about as much Python as running it (SQLAlchemy caches the compiled
SQL by the statement's structure, the parameters are bound at execution)."""


async def store_inbound_many(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> list[tuple[int, str]]:
    """Inserts a page of inbound events in one statement; (id, event_id) of the new ones, in arrival order.

    Rows need transport, event_id, sender, payload and received_at; a redelivered event id is skipped."""
    if not rows:
        return []
    dialect = "postgresql" if session.get_bind().dialect.name == "postgresql" else "sqlite"
    result = await session.execute(_STORE_INBOUND[dialect], list(rows))
    return sorted((row[0], row[1]) for row in result)


async def pending_inbox_rows(session: AsyncSession, ids: Sequence[int]) -> Sequence[Row[Any, Any, Any]]:
    """The still-pending events among `ids` (id, payload, received_at), locked for this worker on PostgreSQL.

    Plain rows, not ORM objects: nothing in the identity map, nothing for the unit of work to check."""
    return (await session.execute(_PENDING_INBOX, {"ids": list(ids)})).all()


async def claim_inbox_rows(session: AsyncSession, ids: Sequence[int], now: datetime) -> list[Row[Any, Any, Any]]:
    """The still-pending events among `ids` (id, payload, received_at), in id order, marked processed at `now`
    in the batch's transaction: one statement instead of a read and a write, and the mark commits (or rolls
    back) with what handling the events wrote. Events the batch then leaves for later go back with
    `unclaim_inbox_rows`."""
    dialect = "postgresql" if session.get_bind().dialect.name == "postgresql" else "sqlite"
    rows = (await session.execute(_CLAIM_INBOX[dialect], {"ids": list(ids), "now": now})).all()
    return sorted(rows, key=lambda row: row[0])


async def unclaim_inbox_rows(session: AsyncSession, ids: Sequence[int]) -> None:
    if ids:
        await session.execute(_UNCLAIM_INBOX, {"ids": list(ids)})


async def mark_inbox_processed(session: AsyncSession, ids: Sequence[int], now: datetime) -> None:
    """One executemany for the whole batch, in the batch's transaction (commits with the events' effects)."""
    if ids:
        await session.execute(_MARK_PROCESSED, [{"entry_id": entry_id, "now": now} for entry_id in ids])


async def update_inbox_entry(session: AsyncSession, entry_id: int, **values: Any) -> None:
    await session.execute(update(INBOX).where(INBOX.c.id == entry_id).values(**values))


async def insert_outbox(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Inserts outgoing messages in one statement; their ids in the order given.

    Core and without autoflush: the turn's pending ORM changes are flushed once, when its savepoint ends."""
    if not rows:
        return []
    with session.no_autoflush:
        if session.get_bind().dialect.name == "postgresql":
            return list((await session.execute(_INSERT_OUTBOX_ORDERED, list(rows))).scalars())
        # SQLite numbers the rows of one INSERT in the order given (it alone writes the file meanwhile), but may
        # return them in another order; asking SQLAlchemy to keep the order would cost a statement per row.
        return sorted((await session.execute(_INSERT_OUTBOX, list(rows))).scalars())


async def save_conversation(session: AsyncSession, person_id: int, state: dict[str, Any], now: datetime) -> None:
    """A turn's conversation state in one Core UPDATE, outside the unit of work (which would compare and flush)."""
    with session.no_autoflush:
        await session.execute(_SAVE_CONVERSATION, {"person": person_id, "state": state, "now": now})


async def begin_for_savepoints(session: AsyncSession) -> None:
    """SQLite's Python driver starts a transaction only before the first write, so a SAVEPOINT issued first
    would itself become the transaction and its RELEASE a commit. An explicit BEGIN makes SAVEPOINTs nest
    inside one transaction (one commit for a batch); PostgreSQL needs nothing."""
    if session.get_bind().dialect.name == "sqlite":
        await session.execute(text("BEGIN"))


async def pending_inbox_ids(session: AsyncSession, limit: int) -> Sequence[int]:
    statement = select(InboxEntry.id).where(InboxEntry.processed_at.is_(None)).order_by(InboxEntry.id).limit(limit)
    return (await session.scalars(statement)).all()


async def find_handle(session: AsyncSession, transport: str, platform_id: str) -> Handle | None:
    statement = select(Handle).where(Handle.transport == transport, Handle.platform_id == platform_id)
    return (await session.scalars(statement)).one_or_none()


async def find_person(session: AsyncSession, transport: str,
                      platform_id: str) -> tuple[Handle, Person, Conversation | None] | None:
    """The handle, its person and their conversation in one round trip: this runs for every inbound event."""
    row = (await session.execute(_FIND_PERSON, {"transport": transport, "platform_id": platform_id})).one_or_none()
    return None if row is None else (row[0], row[1], row[2])


async def pending_outbox(session: AsyncSession, transport: str, limit: int) -> Sequence[OutboxEntry]:
    """Every undelivered row in order, deferred ones included: the sender keeps each chat's order with them."""
    statement = (
        select(OutboxEntry)
        .where(OutboxEntry.transport == transport, OutboxEntry.status == "pending")
        .order_by(OutboxEntry.id)
        .limit(limit)
    )
    return (await session.scalars(statement)).all()


async def platform_message_id(session: AsyncSession, outbox_id: int) -> str | None:
    return await session.scalar(select(OutboxEntry.platform_message_id).where(OutboxEntry.id == outbox_id))


async def inactive_chats(session: AsyncSession, transport: str) -> set[str]:
    statement = select(Handle.chat_id).where(Handle.transport == transport, Handle.active.is_(False))
    return set((await session.scalars(statement)).all())


async def mark_unreachable(session: AsyncSession, transport: str, chat: str) -> None:
    await session.execute(update(Handle).where(Handle.transport == transport, Handle.chat_id == chat)
                          .values(active=False))

"""Where a message to a person goes: one chat, never every chat.

A person may have several chats (Telegram on the phone, Element at the desk). Every message Lotse sends on its own
(a reminder, a notice, an answer, a broadcast) goes to exactly one of them: the chat the person chose (`/link`,
"Send my messages to this chat"), else the one they wrote from last, else the newest. Only reachable chats count:
a chat that blocked the bot (Telegram 403) or was left is skipped, and `reroute_unreachable` sends what could not
be delivered there to the next chat instead.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Handle, InboxEntry, OutboxEntry

log = logging.getLogger("lotse.reach")

REROUTE_WINDOW = timedelta(days=2)
"""Undelivered messages younger than this go to the other chat when one is blocked; older ones are stale."""
_CHUNK = 500
REROUTED = "not sent: the chat is unreachable; sent to the person's other chat instead"


async def chats_in_order(session: AsyncSession, person_ids: Iterable[int]) -> dict[int, list[Handle]]:
    """Each person's reachable chats, best first: chosen, then last written from, then the newest (the demo's
    console last: a chat on a real platform is where the person is)."""
    ids = list(dict.fromkeys(person_ids))
    found: dict[int, list[Handle]] = {}
    for start in range(0, len(ids), _CHUNK):  # far below any database's limit of bound parameters
        for handle in (await session.scalars(select(Handle).where(
                Handle.person_id.in_(ids[start:start + _CHUNK]), Handle.active.is_(True))
                .order_by(Handle.id))).all():
            found.setdefault(handle.person_id, []).append(handle)
    several = [handle for handles in found.values() if len(handles) > 1 for handle in handles]
    last: dict[tuple[str, str], int] = {}
    if several:  # only people with more than one chat need to know which they used last
        pairs = [(h.transport, h.platform_id) for h in several]
        for start in range(0, len(pairs), _CHUNK):
            last.update({(transport, sender): newest for transport, sender, newest in (await session.execute(
                select(InboxEntry.transport, InboxEntry.sender, func.max(InboxEntry.id))
                .where(tuple_(InboxEntry.transport, InboxEntry.sender).in_(pairs[start:start + _CHUNK]))
                .group_by(InboxEntry.transport, InboxEntry.sender))).all()})
    for handles in found.values():
        handles.sort(key=lambda h: (not h.preferred, -last.get((h.transport, h.platform_id), 0),
                                    h.transport == "console", -h.id))
    return found


async def chat_for(session: AsyncSession, person_ids: Iterable[int]) -> dict[int, Handle]:
    """The one chat each person gets messages in; people nobody can reach are missing."""
    return {person_id: handles[0] for person_id, handles in (await chats_in_order(session, person_ids)).items()}


async def reroute_unreachable(session: AsyncSession, transport: str, chat: str, now: datetime) -> int:
    """A chat just turned out blocked: what was not delivered there goes to the person's next reachable chat.

    Called by the sender in the transaction that marks the chat unreachable; returns how many were rerouted."""
    owners = (await session.scalars(select(Handle.person_id).where(
        Handle.transport == transport, Handle.chat_id == chat))).all()
    if not owners:
        return 0
    targets = await chat_for(session, owners)
    rows = (await session.scalars(select(OutboxEntry).where(
        OutboxEntry.transport == transport, OutboxEntry.chat == chat, OutboxEntry.sent_at.is_(None),
        OutboxEntry.status.in_(("pending", "failed")), OutboxEntry.created_at >= now - REROUTE_WINDOW,
        or_(OutboxEntry.last_error.is_(None), OutboxEntry.last_error != REROUTED))
        .order_by(OutboxEntry.id))).all()
    moved = 0
    for owner in dict.fromkeys(owners):
        target = targets.get(owner)
        if target is None or (target.transport, target.chat_id) == (transport, chat):
            continue
        for row in rows:
            if row.payload.get("edit_of") or row.payload.get("document_path"):
                continue  # an edit refers to a message in this chat; a temporary file may be gone
            payload = {**row.payload, "transport": target.transport, "chat": target.chat_id}
            session.add(OutboxEntry(transport=target.transport, chat=target.chat_id, payload=payload,
                                    created_at=now, priority=row.priority))
            await session.execute(update(OutboxEntry).where(OutboxEntry.id == row.id).values(
                status="failed", last_error=REROUTED))
            moved += 1
    if moved:
        log.info("%s chat unreachable: %d undelivered message(s) go to the person's other chat", transport, moved)
    return moved

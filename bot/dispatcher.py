"""Inbox -> flow -> outbox. Stored first, processed in one transaction, never answered twice.

`receive` commits the inbound event before the transport acknowledges it. `process_pending` then handles each
stored event in its own transaction: the person's state change, the domain rows and the outgoing messages
commit together with the inbox row's `processed_at`. A crash at any point leaves either the event still
pending (handled on restart) or everything committed (nothing to redo).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm.attributes import flag_modified

from bot.abuse import InboundLimiter, Verdict, sanitised
from bot.i18n import DEFAULT_LOCALE, N_, Translator, negotiate
from bot.messages import Incoming, Outgoing
from bot.network import Network
from flows import conversation, features  # noqa: F401  (features registers every capability)
from flows.engine import Turn
from storage.models import Conversation, Handle, InboxEntry, OutboxEntry, Person
from storage.repositories import find_handle, find_person, pending_inbox_ids, store_inbound

log = logging.getLogger("lotse.dispatcher")

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class Dispatcher:
    sessions: async_sessionmaker[AsyncSession]
    network: Network
    idle: timedelta = timedelta(minutes=60)
    clock: Clock = system_clock
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    outbox_ready: asyncio.Event = field(default_factory=asyncio.Event)
    latencies: list[float] | None = None
    limiter: InboundLimiter = field(default_factory=InboundLimiter)

    async def receive(self, incoming: Incoming) -> bool:
        """Stores the event; returns False for a duplicate. Transports acknowledge only after this returns."""
        incoming = sanitised(incoming)  # size caps and neutralised names before anything is stored
        async with self.sessions() as session, session.begin():
            stored = await store_inbound(
                session, incoming.transport, incoming.event_id, incoming.handle, incoming.to_json(), self.clock()
            )
        if stored:
            self.wakeup.set()
        else:
            log.info("inbox: dropped duplicate %s event %s", incoming.transport, incoming.event_id)
        return stored

    async def receive_batch(self, incomings: Sequence[Incoming],
                            also: Callable[[AsyncSession], Awaitable[None]] | None = None) -> int:
        """Stores several events and `also`'s writes (a sync position) in one transaction; returns how many were new.

        A transport whose platform confirms a whole batch at once (a Matrix sync token) stores its position here,
        so the position never runs ahead of the events it covers."""
        stored = 0
        async with self.sessions() as session, session.begin():
            for incoming in incomings:
                if await store_inbound(session, incoming.transport, incoming.event_id, incoming.handle,
                                       incoming.to_json(), self.clock()):
                    stored += 1
                else:
                    log.info("inbox: dropped duplicate %s event %s", incoming.transport, incoming.event_id)
            if also is not None:
                await also(session)
        if stored:
            self.wakeup.set()
        return stored

    async def process_pending(self, limit: int = 200) -> int:
        """Handles stored events in arrival order; returns how many were handled."""
        async with self.sessions() as session:
            ids = await pending_inbox_ids(session, limit)
        for entry_id in ids:
            await self.process_one(entry_id)
        if ids:
            self.outbox_ready.set()
        return len(ids)

    async def process_one(self, entry_id: int) -> None:
        started = time.perf_counter()
        try:
            async with self.sessions() as session, session.begin():
                entry = await session.get(InboxEntry, entry_id, with_for_update=True)
                if entry is None or entry.processed_at is not None:
                    return
                await self._handle(session, entry)
                entry.processed_at = self.clock()
        except Exception as error:  # a bug in a flow must not block everyone's inbox
            log.error("inbox %s: could not be handled (%s: %s)", entry_id, type(error).__name__, error)
            log.debug("inbox %s: traceback", entry_id, exc_info=True)
            await self._mark_failed(entry_id, error)
        if self.latencies is not None:
            self.latencies.append(time.perf_counter() - started)

    async def _handle(self, session: AsyncSession, entry: InboxEntry) -> None:
        if entry.payload.get("redacted"):
            return
        incoming = Incoming.from_json(entry.payload)
        now = self.clock()
        verdict = self._flood_check(incoming, entry.received_at)
        if verdict is Verdict.DROP:
            entry.payload = {"redacted": True, "dropped": "flood"}  # silence, and nothing of the flood is kept
            return
        found_person = await find_person(session, incoming.transport, incoming.handle)
        if found_person is None and incoming.in_group:
            log.info("inbox: %s %s wrote in group room %s but is not known here; ignored", incoming.transport,
                     incoming.handle, incoming.chat)
            return
        if verdict is Verdict.NOTIFY:
            await self._flood_notice(session, incoming, found_person, entry)
            return
        if found_person is None:
            # No name, no locale: before consent nothing personal is kept beyond the handle needed to answer.
            person = Person(role="participant", display_name=None, locale=None, created_at=now)
            session.add(person)
            await session.flush()
            handle = Handle(person_id=person.id, transport=incoming.transport, platform_id=incoming.handle,
                            chat_id=incoming.chat)
            state = Conversation(person_id=person.id, state={}, updated_at=now)
            session.add_all([handle, state])
            last_activity = None
        else:
            handle, person, found = found_person
            state = found or Conversation(person_id=person.id, state={}, updated_at=now)
            if found is None:
                session.add(state)
            last_activity = state.updated_at
            if handle.chat_id != incoming.chat and not incoming.in_group:  # a group room is not their own chat
                handle.chat_id = incoming.chat
            if not handle.active:  # they wrote again, so they unblocked us
                handle.active = True
        locale = person.locale or negotiate(incoming.language_hint) or DEFAULT_LOCALE
        turn = Turn(session=session, person=person, handle=handle, conversation=state, incoming=incoming,
                    network=self.network, now=now, translator=Translator(locale, person.time_zone))
        await conversation.handle(turn, self.idle, last_activity)
        rows = [OutboxEntry(transport=m.transport, chat=m.chat, payload=m.to_json(), created_at=now)
                for m in turn.outgoing]
        session.add_all(rows)
        if turn.deleted:
            return
        await session.flush()
        if turn.prompt_index is not None:
            state.state["prompt_outbox"] = rows[turn.prompt_index].id
        state.updated_at = now
        flag_modified(state, "state")

    def _flood_check(self, incoming: Incoming, received_at: datetime) -> Verdict:
        key = (incoming.transport, incoming.handle)
        verdict = self.limiter.check(key, received_at)
        ended = self.limiter.ended_pause(key)
        if ended is not None:
            log.warning("inbound: a %s sender's pause ended; %d message(s) were dropped during it",
                        incoming.transport, ended)
        return verdict

    async def _flood_notice(self, session: AsyncSession, incoming: Incoming,
                            found: tuple[Handle, Person, Conversation | None] | None, entry: InboxEntry) -> None:
        """One polite line in the person's language; the operator hears who (by number) and for how long."""
        person = found[1] if found else None
        locale = (person.locale if person else None) or negotiate(incoming.language_hint) or DEFAULT_LOCALE
        minutes = max(1, int(self.limiter.pause.total_seconds() // 60))
        t = Translator(locale)
        text = t(N_("You are sending very many messages. Please wait a few minutes, then write again. "
                    "Messages sent until then are not read."))
        message = Outgoing(transport=incoming.transport, chat=incoming.chat, text=text, locale=locale, rtl=t.rtl)
        session.add(OutboxEntry(transport=message.transport, chat=message.chat, payload=message.to_json()))
        entry.payload = {"redacted": True, "dropped": "flood"}
        log.warning("inbound: %s sender %s sent more than %d messages in a minute; not read for %d minute(s)",
                    incoming.transport, f"person {person.id}" if person else "(not yet known)",
                    self.limiter.per_minute, minutes)

    async def _mark_failed(self, entry_id: int, error: Exception) -> None:
        """Records the failure and tells the person, so a bug never leaves them without an answer."""
        async with self.sessions() as session, session.begin():
            entry = await session.get(InboxEntry, entry_id)
            if entry is None:
                return
            entry.processed_at = self.clock()
            entry.error = f"{type(error).__name__}: {error}"[:2000]
            if entry.payload.get("redacted"):
                return
            incoming = Incoming.from_json(entry.payload)
            handle = await find_handle(session, incoming.transport, incoming.handle)
            locale = DEFAULT_LOCALE
            if handle is not None:
                person = await session.get(Person, handle.person_id)
                locale = (person.locale if person else None) or locale
            t = Translator(locale)
            message = Outgoing(transport=incoming.transport, chat=incoming.chat, locale=locale, rtl=t.rtl,
                               text=t(N_("Sorry, something went wrong on our side. Please try again, "
                                         "or write /menu.")))
            session.add(OutboxEntry(transport=message.transport, chat=message.chat, payload=message.to_json()))

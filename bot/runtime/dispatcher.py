"""Inbox -> flow -> outbox. Stored first, processed in one transaction, never answered twice.

`receive` commits the inbound event before the transport acknowledges it and hands its id straight to the worker.
`process_pending` then handles a burst of stored events in one transaction with a SAVEPOINT per event: each
person's state change, domain rows and outgoing messages commit together with the inbox row's `processed_at`.
A crash at any point leaves either the events still pending (handled on restart) or everything committed.
A database hiccup (locked file, dropped connection) rolls the batch back and leaves it pending; only an error
in a flow's own code marks its one event failed and apologises to the person.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import ORMExecuteState, Session
from sqlalchemy.orm.attributes import flag_modified, set_committed_value

from bot.core.i18n import DEFAULT_LOCALE, N_, Translator, negotiate
from bot.core.messages import Incoming, Outgoing
from bot.core.network import Network
from bot.runtime.abuse import InboundLimiter, Verdict, sanitised
from bot.runtime.supervision import Backoff
from flows import conversation, features  # noqa: F401  (features registers every capability)
from flows.engine import Turn
from storage.models import ANSWER, NOTICE, Conversation, Handle, OutboxEntry, Person
from storage.repositories import (
    claim_inbox_rows,
    find_handle,
    find_person,
    insert_outbox,
    pending_inbox_ids,
    save_conversation,
    store_inbound,
    store_inbound_many,
    unclaim_inbox_rows,
    update_inbox_entry,
)
from storage.transient import is_transient

log = logging.getLogger("lotse.dispatcher")

Clock = Callable[[], datetime]
BATCH = 100
"""Events per transaction at most: one commit for a burst."""
BATCH_SECONDS = 0.03
"""A batch also ends after this long, so a burst never holds the event loop (and every chat) for long."""


class _FlowFailed(Exception):
    """A flow raised in a batch run without savepoints: the batch is rolled back and runs again with them."""


WRITTEN_TABLES = "lotse.written_tables"
"""`session.info` key: where a batch's session notes the tables it wrote (the schedulers re-read only theirs)."""


def system_clock() -> datetime:
    return datetime.now(UTC)


def _note_flushed(session: Session, _context: object, _instances: object) -> None:
    written: set[str] | None = session.info.get(WRITTEN_TABLES)
    if written is not None:
        for instance in (*session.new, *session.dirty, *session.deleted):
            written.add(getattr(type(instance), "__tablename__", "*"))


def _note_statement(state: ORMExecuteState) -> None:
    written: set[str] | None = state.session.info.get(WRITTEN_TABLES)
    if written is not None and (state.is_insert or state.is_update or state.is_delete):
        written.add(getattr(getattr(state.statement, "table", None), "name", "*"))


event.listen(Session, "before_flush", _note_flushed)
event.listen(Session, "do_orm_execute", _note_statement)


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
    backoff: Backoff = field(default_factory=lambda: Backoff(first=0.05, limit=5.0))
    _queued: deque[int] = field(default_factory=deque)
    _known: set[int] = field(default_factory=set)
    _received_at: dict[int, float] = field(default_factory=dict)
    _last_done: set[int] = field(default_factory=set)
    _batch_size: int = 16
    _erased: bool = False
    _more_in_table: bool = True
    """The last look at the table found a full page: more may be pending than the queue holds."""
    written: set[str] = field(default_factory=set)
    """Tables the batches handled since the last `take_written` wrote to ("*": a statement it could not name)."""
    on_erasure: Callable[[], None] = lambda: None
    """Called when a turn erased a person: the sender checks its queued rows again (`OutboxSender.distrust`)."""

    async def receive(self, incoming: Incoming) -> bool:
        """Stores the event; returns False for a duplicate. Transports acknowledge only after this returns."""
        incoming = sanitised(incoming)  # size caps and neutralised names before anything is stored
        async with self.sessions() as session, session.begin():
            stored = await store_inbound(
                session, incoming.transport, incoming.event_id, incoming.handle, incoming.to_json(), self.clock()
            )
        if stored is None:
            log.info("inbox: dropped duplicate %s event %s", incoming.transport, incoming.event_id)
            return False
        self._enqueue([stored])
        return True

    async def receive_batch(self, incomings: Sequence[Incoming],
                            also: Callable[[AsyncSession], Awaitable[None]] | None = None) -> int:
        """Stores several events and `also`'s writes (a sync position) in one transaction; returns how many were new.

        A transport whose platform confirms a whole batch at once (a Matrix sync token, a getUpdates page)
        stores its position here, so the position never runs ahead of the events it covers."""
        now = self.clock()
        rows = []
        for incoming in incomings:
            incoming = sanitised(incoming)
            rows.append({"transport": incoming.transport, "event_id": incoming.event_id, "sender": incoming.handle,
                         "payload": incoming.to_json(), "received_at": now})
        async with self.sessions() as session, session.begin():
            stored = await store_inbound_many(session, rows)  # one statement for the page
            if also is not None:
                await also(session)
        if len(stored) < len(rows):
            new = {event_id for _, event_id in stored}
            for row in rows:
                if row["event_id"] not in new:
                    log.info("inbox: dropped duplicate %s event %s", row["transport"], row["event_id"])
        ids = [entry_id for entry_id, _ in stored]
        self._enqueue(ids)
        return len(ids)

    def _enqueue(self, ids: Sequence[int]) -> None:
        """The stored ids go straight to the worker: no query to find them again."""
        now = time.perf_counter()
        for entry_id in ids:
            if entry_id not in self._known:
                self._known.add(entry_id)
                self._queued.append(entry_id)
                if self.latencies is not None:
                    self._received_at[entry_id] = now
        if ids:
            self.wakeup.set()

    async def process_pending(self, limit: int = BATCH) -> int:
        """Handles stored events in arrival order, a batch per transaction; returns how many were handled.

        A database hiccup leaves the batch pending (retried after `backoff.delay`) and returns 0."""
        if not self._queued:  # after a start, or events stored by another process: the table knows them
            async with self.sessions() as session:
                found = await pending_inbox_ids(session, limit)
            self._more_in_table = len(found) >= limit
            self._enqueue(found)
        ids = [self._queued[index] for index in range(min(limit, self._batch_size, len(self._queued)))]
        if not ids:
            return 0
        try:
            handled = await self._process_batch(ids)
        except Exception as error:
            if not is_transient(error):
                raise
            delay = self.backoff.failed()
            if self.backoff.failures == 1 or self.backoff.failures % 50 == 0:
                log.warning("inbox: the database failed (%s: %s); %d event(s) stay pending, retrying in %.2fs "
                            "(failure %d)", type(error).__name__, str(error).splitlines()[0][:200], len(ids), delay,
                            self.backoff.failures)
            return 0
        if self.backoff.failures:
            log.warning("inbox: the database works again after %d failed attempt(s); nothing was lost",
                        self.backoff.failures)
            self.backoff.succeeded()
        finished = self._last_done
        self._queued = deque(entry_id for entry_id in self._queued if entry_id not in finished)
        self._known -= finished
        if self.latencies is not None:
            now = time.perf_counter()
            self.latencies.extend(now - self._received_at.pop(entry_id, now) for entry_id in finished)
        if self._erased:  # after the commit: from now on the sender checks its queued rows again
            self._erased = False
            self.on_erasure()
        self.outbox_ready.set()
        return handled

    @property
    def has_work(self) -> bool:
        """Events known to be pending (queued, or more in the table than the last look took): the worker goes on
        at once; otherwise it waits for `wakeup` instead of asking the table again after every batch."""
        return bool(self._queued) or self._more_in_table

    def take_written(self) -> set[str]:
        written, self.written = self.written, set()
        return written

    async def process_one(self, entry_id: int) -> None:
        """Handles one stored event now (tests and tools); the batch path is `process_pending`."""
        await self._process_batch([entry_id])
        self.outbox_ready.set()

    async def _process_batch(self, ids: Sequence[int]) -> int:
        """One transaction for the batch. It first runs without savepoints; only when a flow raises is it rolled
        back and run again with a SAVEPOINT per event, so that a flow's bug rolls back its own event alone
        (recorded, apologised for). A database error rolls back the whole batch, which stays pending.

        Why optimistic: the two savepoint statements and the ORM's nested transaction per event cost about a
        sixth of the CPU of a message (README, "Performance"), and flows almost never raise."""
        verdicts: dict[int, Verdict] = {}  # the flood check counts each event once, also when a batch runs twice
        try:
            return await self._run_batch(ids, verdicts, careful=False)
        except _FlowFailed as failed:
            log.debug("inbox: a flow raised (%s); the batch runs again with a savepoint per event", failed)
            return await self._run_batch(ids, verdicts, careful=True)

    async def _run_batch(self, ids: Sequence[int], verdicts: dict[int, Verdict], careful: bool) -> int:
        handled = 0
        deadline = time.perf_counter() + BATCH_SECONDS
        written: set[str] = set()
        async with self.sessions() as session, session.begin():
            session.info[WRITTEN_TABLES] = written
            # The claim is the batch's first statement and a write: SQLite's driver opens the transaction before
            # it, so the SAVEPOINTs below nest inside one transaction (`begin_for_savepoints` is not needed).
            entries = await claim_inbox_rows(session, ids, self.clock())  # marked processed, with the batch
            fetched = {entry.id for entry in entries}
            done = {entry_id for entry_id in ids if entry_id not in fetched}  # handled before, e.g. by a restart
            left: list[int] = []
            for entry in entries:
                if handled and time.perf_counter() > deadline:
                    left.append(entry.id)  # the rest in the next batch, after the loop has served everyone else
                    continue
                done.add(entry.id)
                if not careful:
                    try:
                        await self._handle(session, entry.id, entry.payload, entry.received_at, verdicts)
                    except Exception as error:
                        if is_transient(error):
                            raise
                        raise _FlowFailed(f"inbox {entry.id}: {type(error).__name__}") from error
                    handled += 1
                    continue
                try:
                    async with session.begin_nested():
                        await self._handle(session, entry.id, entry.payload, entry.received_at, verdicts)
                except Exception as error:
                    if is_transient(error):
                        raise
                    log.error("inbox %s: could not be handled (%s: %s)", entry.id, type(error).__name__, error)
                    log.debug("inbox %s: traceback", entry.id, exc_info=True)
                    async with session.begin_nested():
                        await self._mark_failed(session, entry.id, entry.payload, error)
                handled += 1
            if not careful:
                try:  # a flow's pending rows that cannot be written fail here, not at the commit
                    await session.flush()
                except Exception as error:
                    if is_transient(error):
                        raise
                    raise _FlowFailed(f"flush: {type(error).__name__}") from error
            await unclaim_inbox_rows(session, left)
        written.discard("inbox")
        self.written |= written
        self._last_done = done
        # The next batch reads about as many events as fit in the time budget: no rows loaded for nothing.
        self._batch_size = min(BATCH, self._batch_size * 2) if handled == len(entries) else max(1, handled)
        return handled

    async def _handle(self, session: AsyncSession, entry_id: int, payload: dict[str, Any],
                      received_at: datetime, verdicts: dict[int, Verdict]) -> None:
        if payload.get("redacted"):
            return
        incoming = Incoming.from_json(payload)
        now = self.clock()
        verdict = verdicts.get(entry_id)
        if verdict is None:
            verdict = verdicts[entry_id] = self._flood_check(incoming, received_at)
        if verdict is Verdict.DROP:  # silence, and nothing of the flood is kept
            await update_inbox_entry(session, entry_id, payload={"redacted": True, "dropped": "flood"})
            return
        # Without autoflush: the batch's earlier events' pending rows are written together later (one flush for
        # many), and an object already loaded comes back from the identity map with its unflushed changes. The
        # one pending row this lookup could miss, a first contact's handle, is flushed where it is made (below).
        with session.no_autoflush:
            found_person = await find_person(session, incoming.transport, incoming.handle)
        if found_person is None and incoming.in_group:
            log.info("inbox: %s %s wrote in group room %s but is not known here; ignored", incoming.transport,
                     incoming.handle, incoming.chat)
            return
        if verdict is Verdict.NOTIFY:
            await self._flood_notice(session, incoming, found_person, entry_id)
            return
        if found_person is None:
            # No name, no locale: before consent nothing personal is kept beyond the handle needed to answer.
            person = Person(role="participant", display_name=None, locale=None, created_at=now)
            handle = Handle(person=person, transport=incoming.transport, platform_id=incoming.handle,
                            chat_id=incoming.chat)
            session.add_all([person, handle])
            await session.flush()  # one flush for both, so that this person's next event in the batch finds them
            # Added after the flush: the conversation is inserted once, with the turn's state, at the next one.
            state = Conversation(person_id=person.id, state={}, updated_at=now)
            session.add(state)
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
        answering = (incoming.transport, incoming.chat)
        if turn.deleted:
            self._erased = True
        rows = [{"transport": m.transport, "chat": m.chat, "payload": m.to_json(), "created_at": now,
                 "priority": ANSWER if (m.transport, m.chat) == answering else NOTICE}
                for m in turn.outgoing]
        if any(isinstance(added, OutboxEntry) for added in session.new):
            # The flow queued messages of its own: ours follow them (the unit of work keeps the order).
            orm_rows = [OutboxEntry(**row) for row in rows]
            session.add_all(orm_rows)
            if turn.deleted:
                return
            await session.flush()
            row_ids = [row.id for row in orm_rows]
        else:
            row_ids = await insert_outbox(session, rows)  # one Core statement, no flush
            if turn.deleted:
                return
        if turn.prompt_index is not None:
            state.state["prompt_outbox"] = row_ids[turn.prompt_index]
        if state in session.new:
            state.updated_at = now
            flag_modified(state, "state")
        else:  # one Core UPDATE; the ORM object is left clean, so the savepoint's flush has less (or nothing) to do
            await save_conversation(session, state.person_id, state.state, now)
            set_committed_value(state, "state", state.state)
            set_committed_value(state, "updated_at", now)

    def _flood_check(self, incoming: Incoming, received_at: datetime) -> Verdict:
        key = (incoming.transport, incoming.handle)
        verdict = self.limiter.check(key, received_at)
        ended = self.limiter.ended_pause(key)
        if ended is not None:
            log.warning("inbound: a %s sender's pause ended; %d message(s) were dropped during it",
                        incoming.transport, ended)
        return verdict

    async def _flood_notice(self, session: AsyncSession, incoming: Incoming,
                            found: tuple[Handle, Person, Conversation | None] | None, entry_id: int) -> None:
        """One polite line in the person's language; the operator hears who (by number) and for how long."""
        person = found[1] if found else None
        locale = (person.locale if person else None) or negotiate(incoming.language_hint) or DEFAULT_LOCALE
        minutes = max(1, int(self.limiter.pause.total_seconds() // 60))
        t = Translator(locale)
        text = t(N_("You are sending very many messages. Please wait a few minutes, then write again. "
                    "Messages sent until then are not read."))
        message = Outgoing(transport=incoming.transport, chat=incoming.chat, text=text, locale=locale, rtl=t.rtl)
        session.add(OutboxEntry(transport=message.transport, chat=message.chat, payload=message.to_json(),
                                priority=ANSWER))
        await update_inbox_entry(session, entry_id, payload={"redacted": True, "dropped": "flood"})
        log.warning("inbound: %s sender %s sent more than %d messages in a minute; not read for %d minute(s)",
                    incoming.transport, f"person {person.id}" if person else "(not yet known)",
                    self.limiter.per_minute, minutes)

    async def _mark_failed(self, session: AsyncSession, entry_id: int, payload: dict[str, Any],
                           error: Exception) -> None:
        """Records the failure and tells the person, so a bug never leaves them without an answer."""
        await update_inbox_entry(session, entry_id, processed_at=self.clock(),
                                 error=f"{type(error).__name__}: {error}"[:2000])
        if payload.get("redacted"):
            return
        incoming = Incoming.from_json(payload)
        handle = await find_handle(session, incoming.transport, incoming.handle)
        locale = DEFAULT_LOCALE
        if handle is not None:
            person = await session.get(Person, handle.person_id)
            locale = (person.locale if person else None) or locale
        t = Translator(locale)
        message = Outgoing(transport=incoming.transport, chat=incoming.chat, locale=locale, rtl=t.rtl,
                           text=t(N_("Sorry, something went wrong on our side. Please try again, "
                                     "or write /menu.")))
        session.add(OutboxEntry(transport=message.transport, chat=message.chat, payload=message.to_json(),
                                priority=ANSWER))

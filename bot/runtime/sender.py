"""Delivers the outbox through each transport: a lane per chat, three priorities, nobody waits behind bulk.

Every chat has its own lane (its pending messages, in order) and at most one message in flight, so a chat's
order is never broken. A lane that must wait — its per-chat or per-group limit, a 429's `retry_after`, a retry
backoff — is simply passed over: the limiter answers "not before T" and the sender moves on to another chat.
When a transport may send, the ready lane with the best priority goes first: (1) answers to what a person
just wrote, (2) notices, reminders and relayed questions, (3) broadcasts and other bulk, which therefore only
use what the first two leave of the platform's rate. A lane takes the best priority among its messages, so a
participant's answer queued behind their own copy of a broadcast lifts that copy with it.

The database stays the truth: rows are read into lanes, checked once more just before they go (an erasure may
have removed them), and their outcome is written back in batches. Delivery is at-least-once: a crash after the
platform took a message but before its row was marked repeats that one message on restart, never loses it.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal, Protocol, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.core.messages import Attachment, Delivery, Outgoing
from bot.core.reach import reroute_unreachable
from bot.runtime.dispatcher import Clock, system_clock
from bot.runtime.supervision import Backoff, sleep_unless_stopped
from bot.runtime.transport import DeliveryError, Transport
from storage.claims import LEASE, claim_outbox, release_claims
from storage.database import compact_after_erasure
from storage.models import Handle, OutboxEntry
from storage.transient import is_transient

log = logging.getLogger("lotse.sender")

OUTBOX = cast(Table, OutboxEntry.__table__)
HANDLES = cast(Table, Handle.__table__)
_PENDING_ROWS = (select(OUTBOX.c.id, OUTBOX.c.chat, OUTBOX.c.payload, OUTBOX.c.attempts, OUTBOX.c.not_before,
                        OUTBOX.c.priority)
                 .where(OUTBOX.c.transport == bindparam("transport"), OUTBOX.c.status == "pending")
                 .order_by(OUTBOX.c.id))
_PENDING_ROWS_AFTER = _PENDING_ROWS.where(OUTBOX.c.id > bindparam("after"))
_INACTIVE_CHATS = select(HANDLES.c.chat_id).where(HANDLES.c.transport == bindparam("transport"),
                                                  HANDLES.c.chat_id.in_(bindparam("chats", expanding=True)),
                                                  HANDLES.c.active.is_(False))
"""Built once (Core, on the tables): the sender reads after every batch, and building a statement costs about as
much Python as running it."""

MAX_ATTEMPTS = 8
RESCAN_SECONDS = 5.0
"""How often the whole pending outbox is read again, for rows another process committed out of id order."""
HELD = "not sent: the person blocked the bot (handle inactive)"
FRESH_SECONDS = 0.5
"""A row read this recently is sent without being checked again (unless an erasure happened since)."""
DRAIN_WAIT_LIMIT = 5.0
"""`deliver_pending` waits out rate limits up to this long; longer waits are left to the running sender."""


class Pace(Protocol):
    """A transport's rate limits, asked without waiting (`bot.transports.telegram.RateLimiter` is one)."""

    def ready_in(self, chat: str) -> float:
        """Seconds until a message to `chat` keeps every limit (0 when it may go now)."""
        ...


@dataclass
class Row:
    """One pending outbox row, as much of it as sending needs."""

    id: int
    transport: str
    chat: str
    payload: dict[str, Any]
    attempts: int
    not_before: datetime | None
    priority: int
    loaded_at: float = 0.0


@dataclass
class Lane:
    chat: str
    rows: list[Row] = field(default_factory=list)
    busy: bool = False

    @property
    def priority(self) -> int:
        return min(row.priority for row in self.rows)


@dataclass
class Outcome:
    """What became of one send, written back to its row."""

    row: Row
    kind: Literal["sent", "retry", "failed", "unreachable", "held", "down", "gone"]
    error: str | None = None
    platform_message_id: str | None = None
    not_before: datetime | None = None
    erase: bool = False
    at: datetime | None = None
    result: str = ""
    """For the metrics: ok, 429 (the platform's rate limit), 403 (blocked), error; empty when nothing was sent."""


@dataclass
class TransportLanes:
    lanes: dict[str, Lane] = field(default_factory=dict)
    loaded: set[int] = field(default_factory=set)
    high: int = 0
    rescanned: float = 0.0
    in_flight: int = 0
    paused_until: datetime | None = None
    kick: asyncio.Event = field(default_factory=asyncio.Event)
    """Something changed: look at the lanes again."""
    load_wanted: bool = True
    """New rows may be in the table (not merely a send finished): read them before looking at the lanes."""


@dataclass
class OutboxSender:
    sessions: async_sessionmaker[AsyncSession]
    transports: dict[str, Transport]
    clock: Clock = system_clock
    max_in_flight: int = 32
    """Sends in flight at once per transport (different chats), unless the transport says otherwise
    (`max_in_flight`): a slow upload never holds the others."""
    _state: dict[str, TransportLanes] = field(default_factory=dict)
    _outcomes: list[Outcome] = field(default_factory=list)
    _platform_ids: dict[int, str] = field(default_factory=dict)
    """Platform message ids of rows sent but maybe not yet written back: an edit right after needs them."""
    _written: asyncio.Event = field(default_factory=asyncio.Event)
    _write_wanted: asyncio.Event = field(default_factory=asyncio.Event)
    write_backoff: Backoff = field(default_factory=lambda: Backoff(first=0.1, limit=10.0))
    sent_count: int = 0
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _loops: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    _distrusted_at: float = -1.0
    _stop: asyncio.Event | None = None
    owner: str | None = None
    """Set when several processes share the database: every row is claimed under this name before it goes
    (`storage/claims.py`), so not even two leaders of a split-brain moment send one row twice."""
    lease: timedelta = LEASE
    _claimed: dict[int, datetime] = field(default_factory=dict)
    """Rows this process holds, with the end of its claim."""
    """How long a claim holds: a crashed claimer's rows go after this."""
    on_result: Callable[[str, str], None] | None = None
    """Told (transport, result) after every send attempt: the metrics count them."""

    def lanes_of(self, name: str) -> TransportLanes:
        if name not in self._state:
            self._state[name] = TransportLanes()
        return self._state[name]

    def notify(self) -> None:
        """New rows are in the outbox: every transport's loop reads them."""
        for name in self.transports:
            state = self.lanes_of(name)
            state.load_wanted = True
            state.kick.set()

    # ---------------------------------------------------------------------------------------------------------
    # Reading rows into lanes

    async def _load(self, name: str, full: bool = False) -> None:
        state = self.lanes_of(name)
        now = time.monotonic()
        full = full or now - state.rescanned > RESCAN_SECONDS
        async with self.sessions() as session:
            if full:
                found = (await session.execute(_PENDING_ROWS, {"transport": name})).all()
            else:
                found = (await session.execute(_PENDING_ROWS_AFTER, {"transport": name, "after": state.high})).all()
            new = [row for row in found if row[0] not in state.loaded]
            inactive: set[str] = set()
            if new:  # rows for someone who blocked the bot are held at once, with their reason
                inactive = set((await session.scalars(_INACTIVE_CHATS, {
                    "transport": name, "chats": sorted({row[1] for row in new})})).all())
        if full:
            state.rescanned = now
        for row_id, chat, payload, attempts, not_before, priority in found:
            state.high = max(state.high, row_id)
            if row_id in state.loaded:
                continue
            row = Row(row_id, name, chat, payload, attempts, not_before, priority, now)
            if chat in inactive:
                self._outcomes.append(Outcome(row, "held", error=HELD))
                self._write_wanted.set()
                continue
            state.loaded.add(row_id)
            lane = state.lanes.get(chat)
            if lane is None:
                lane = state.lanes[chat] = Lane(chat)
            lane.rows.append(row)
            if len(lane.rows) > 1 and lane.rows[-2].id > row_id:  # a row committed late: keep id order
                lane.rows.sort(key=lambda r: r.id)

    def distrust(self) -> None:
        """Something may have removed pending rows (an erasure in this process): check every row again."""
        self._distrusted_at = time.monotonic()

    async def _still_pending(self, name: str, rows: list[Row]) -> list[Row]:
        """Rows an erasure, another process or a restart removed are dropped before they go.

        Also holds rows for chats whose person blocked the bot: kept with their reason, never sent. A row read
        from the table a moment ago (and nothing erased since) needs no second look: that saves two queries
        on the path of every answer."""
        now = time.monotonic()
        fresh = [row for row in rows if now - row.loaded_at < FRESH_SECONDS and row.loaded_at > self._distrusted_at]
        fresh_ids = {row.id for row in fresh}
        rows = [row for row in rows if row.id not in fresh_ids]
        if not rows:
            return fresh
        ids = [row.id for row in rows]
        async with self.sessions() as session:
            pending = set((await session.scalars(select(OutboxEntry.id).where(
                OutboxEntry.id.in_(ids), OutboxEntry.status == "pending"))).all())
            inactive = set((await session.scalars(select(Handle.chat_id).where(
                Handle.transport == name, Handle.chat_id.in_({row.chat for row in rows}),
                Handle.active.is_(False)))).all())
        ready: list[Row] = []
        for row in rows:
            if row.id not in pending:
                self._finish(name, Outcome(row, "gone"))
            elif row.chat in inactive:
                self._finish(name, Outcome(row, "held", error=HELD))
            else:
                ready.append(row)
        return sorted(fresh + ready, key=lambda row: row.id)

    async def _claim(self, name: str, rows: list[Row]) -> list[Row]:
        """With several processes: only the rows this process could claim go; the others are dropped from the
        lanes (another process is sending them, or will once its lease ran out and a rescan finds them)."""
        if self.owner is None or not rows:
            return rows
        now = self.clock()
        margin = self.lease / 3  # a claim about to run out is renewed before its row goes
        unclaimed = [row for row in rows if self._claimed.get(row.id, now) - now < margin]
        if unclaimed:  # the whole lane at once (up to 20 rows): its next messages need no query of their own
            state = self.lanes_of(name)
            ids = {later.id for row in unclaimed if (lane := state.lanes.get(row.chat)) is not None
                   for later in lane.rows[:20]} | {row.id for row in unclaimed}
            claimed = await claim_outbox(self.sessions, sorted(ids), self.owner, now, self.lease)
            for row_id in claimed:
                self._claimed[row_id] = now + self.lease
            for row in unclaimed:
                if row.id not in claimed:
                    self._claimed.pop(row.id, None)
                    self._finish(name, Outcome(row, "gone"))
        return [row for row in rows if row.id in self._claimed]

    # ---------------------------------------------------------------------------------------------------------
    # Choosing what goes next

    def _ready_lanes(self, name: str, limit: int) -> tuple[list[Lane], float | None]:
        """Up to `limit` lanes that may send now, best priority first; and in how many seconds another will."""
        state = self.lanes_of(name)
        now = self.clock()
        if state.paused_until is not None:
            if state.paused_until > now:
                return [], (state.paused_until - now).total_seconds()
            state.paused_until = None
        pace: Pace | None = getattr(self.transports[name], "pace", None)
        candidates: list[tuple[int, int, Lane]] = []
        wake: float | None = None
        for lane in state.lanes.values():
            if lane.busy or not lane.rows:
                continue
            head = lane.rows[0]
            if head.not_before is not None and head.not_before > now:
                wait = (head.not_before - now).total_seconds()
                wake = wait if wake is None else min(wake, wait)
                continue
            if pace is not None:
                wait = pace.ready_in(lane.chat)
                if wait > 0:
                    wake = wait if wake is None else min(wake, wait)
                    continue
            candidates.append((lane.priority, head.id, lane))
        best = heapq.nsmallest(limit, candidates, key=lambda item: (item[0], item[1]))
        return [lane for _, _, lane in best], wake

    # ---------------------------------------------------------------------------------------------------------
    # Sending one message

    async def _send(self, name: str, lane: Lane) -> Outcome:
        transport = self.transports[name]
        row = lane.rows[0]
        message = Outgoing.from_json(row.payload)
        now = self.clock()
        try:
            edit_target = await self._edit_target(message.edit_of) if message.edit_of else None
            if message.relayed is not None:
                delivery = await self._send_relayed(transport, message, edit_target)
            else:
                delivery = await transport.send(message, edit_target)
        except DeliveryError as error:
            text = f"{type(error).__name__}: {error}"[:2000]
            if error.unavailable:
                return Outcome(row, "down", error=text, not_before=now + timedelta(seconds=error.retry_after or 1.0),
                               at=now, result="429" if error.retry_after else "error")
            if error.unreachable:
                return Outcome(row, "unreachable", error=text, result="403")
            return replace(self._failure(row, now, text, error.retry_after, error.permanent),
                           result="429" if error.retry_after else "error")
        except Exception as error:  # a transport bug or a network fault: retried with backoff
            if is_transient(error):
                log.info("outbox %s: could not be prepared (%s); retrying", row.id, error)
            return replace(self._failure(row, now, f"{type(error).__name__}: {error}"[:2000], None, False),
                           result="error")
        return Outcome(row, "sent", platform_message_id=delivery.platform_message_id,
                       erase=message.erase_after_delivery, at=now, result="ok")

    async def _edit_target(self, outbox_id: int) -> str | None:
        known = self._platform_ids.get(outbox_id)
        if known is not None:
            return known
        async with self.sessions() as session:
            found: str | None = await session.scalar(select(OutboxEntry.platform_message_id).where(
                OutboxEntry.id == outbox_id))
        return found

    def _failure(self, row: Row, now: datetime, error: str, retry_after: float | None, permanent: bool) -> Outcome:
        attempts = row.attempts + 1
        if permanent or attempts >= MAX_ATTEMPTS:
            log.warning("outbox %s to %s given up after %s attempts: %s", row.id, row.chat, attempts, error)
            return Outcome(row, "failed", error=error)
        delay = retry_after if retry_after is not None else min(2 ** attempts, 300)
        log.info("outbox %s: retry in %.1fs (%s)", row.id, delay, error)
        return Outcome(row, "retry", error=error, not_before=now + timedelta(seconds=delay))

    async def _send_relayed(self, transport: Transport, message: Outgoing, edit_target: str | None) -> Delivery:
        """Fetches a file from the platform it was sent on and uploads it to this one.

        The bytes live in a private temporary directory only for the upload: Lotse keeps the platform's
        reference, never its own copy of a participant's letter."""
        assert message.relayed is not None
        source = self.transports.get(message.relayed_from or "")
        if source is None:
            raise DeliveryError(f"relay: the file came through {message.relayed_from}, which is not running now "
                                f"(configure it to pass the file on)", permanent=True)
        data = await source.download(message.relayed.reference)
        name = Path(message.relayed.file_name or "").name or f"{message.relayed.kind}{_suffix(message.relayed)}"
        with tempfile.TemporaryDirectory(prefix="lotse-relay-") as folder:
            path = Path(folder) / name
            path.write_bytes(data)
            return await transport.send(replace(message, document_path=str(path), document_name=name,
                                                relayed=None), edit_target)

    # ---------------------------------------------------------------------------------------------------------
    # After a send: lanes in memory at once, the row in the database in the next batch

    def _finish(self, name: str, outcome: Outcome) -> None:
        if outcome.kind not in ("retry", "down"):
            self._claimed.pop(outcome.row.id, None)
        if outcome.result and self.on_result is not None:
            self.on_result(name, outcome.result)
        state = self.lanes_of(name)
        row = outcome.row
        lane = state.lanes.get(row.chat)
        if outcome.kind == "down":
            state.paused_until = outcome.not_before  # the platform is down: nothing else is tried meanwhile
            if outcome.not_before is not None and outcome.at is not None:
                log.info("%s: %s; this transport pauses for %.1fs, other chats' order is kept", name,
                         outcome.error, (outcome.not_before - outcome.at).total_seconds())
        elif outcome.kind == "retry":
            row.attempts += 1
            row.not_before = outcome.not_before
        else:
            if lane is not None and lane.rows and lane.rows[0] is row:
                lane.rows.pop(0)
            elif lane is not None:
                lane.rows = [r for r in lane.rows if r.id != row.id]
            if outcome.kind == "gone":  # not ours to write: a later read may find it again
                state.loaded.discard(row.id)
            # Otherwise the row stays `loaded` until its outcome is written (`write_outcomes`): a full rescan in
            # between reads it as still pending, and must not put it in a lane and send it a second time.
            if outcome.kind == "sent":
                self.sent_count += 1
                if outcome.platform_message_id is not None:
                    self._platform_ids[row.id] = outcome.platform_message_id
            if outcome.kind == "unreachable" and lane is not None:
                for later in lane.rows:  # nothing more goes to someone who blocked the bot
                    self._outcomes.append(Outcome(later, "held", error=HELD))
                lane.rows = []
        if lane is not None and not lane.rows:
            del state.lanes[row.chat]
        if outcome.kind != "gone":
            self._outcomes.append(outcome)
        self._write_wanted.set()

    async def write_outcomes(self) -> bool:
        """Writes every outcome so far in one transaction; False (kept for later) when the database failed."""
        if not self._outcomes:
            return True
        outcomes, self._outcomes = self._outcomes, []
        try:
            erased = await self._write(outcomes)
        except Exception as error:
            self._outcomes = outcomes + self._outcomes
            if not is_transient(error):
                raise
            delay = self.write_backoff.failed()
            log.warning("outbox: could not record %d delivery result(s) (%s); retrying in %.1fs", len(outcomes),
                        str(error).splitlines()[0][:200], delay)
            return False
        self.write_backoff.succeeded()
        for outcome in outcomes:
            if outcome.kind == "sent":
                self._platform_ids.pop(outcome.row.id, None)
            if outcome.kind not in ("retry", "down"):  # written: no longer pending, no read finds it again
                self.lanes_of(outcome.row.transport).loaded.discard(outcome.row.id)
        if erased:
            await compact_after_erasure(self.sessions)
        return True

    async def _write(self, outcomes: Iterable[Outcome]) -> bool:
        changes: list[dict[str, Any]] = []
        unreachable: set[tuple[str, str]] = set()
        erased = False
        for outcome in outcomes:
            row = outcome.row
            values: dict[str, Any] = {"id": row.id}
            if self.owner is not None and outcome.kind not in ("retry", "down"):
                values.update(claimed_by=None, lease_until=None)  # done with it (a retry stays ours until the lease)
            if outcome.kind == "sent":
                values.update(status="sent", sent_at=outcome.at, platform_message_id=outcome.platform_message_id,
                              last_error=None, attempts=row.attempts + 1)
                if outcome.erase:
                    values.update(_erased(row))
                    erased = True
            elif outcome.kind == "retry":
                values.update(attempts=row.attempts, not_before=outcome.not_before, last_error=outcome.error)
            elif outcome.kind == "down":
                values.update(not_before=outcome.not_before, last_error=outcome.error)
            else:  # failed, unreachable, held: kept with the reason for the operator
                values.update(status="failed", last_error=outcome.error, attempts=row.attempts + 1)
                if outcome.kind == "held":
                    values["attempts"] = row.attempts
                if row.payload.get("erase_after_delivery"):
                    values.update(_erased(row))
                if outcome.kind == "unreachable":
                    unreachable.add((row.transport, row.chat))
            changes.append(values)
        shapes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for values in changes:  # rows changed the same way go in one executemany
            shapes.setdefault(tuple(sorted(values)), []).append(values)
        async with self.sessions() as session, session.begin():
            for shape, group in shapes.items():
                await session.execute(_outcome_update(shape), [{f"b_{key}": value for key, value in values.items()}
                                                               for values in group])
            for transport, chat in unreachable:
                await session.execute(update(Handle).where(Handle.transport == transport, Handle.chat_id == chat)
                                      .values(active=False))
                await reroute_unreachable(session, transport, chat, self.clock())  # bot/core/reach.py (issue 15)
                log.warning("%s chat %s blocked the bot: its handle is inactive until they write again",
                            transport, chat)
        return erased

    # ---------------------------------------------------------------------------------------------------------
    # Draining now (tests, the console, startup) and running for good (`lotse run`)

    async def deliver_pending(self, transport_name: str, limit: int = 100_000) -> int:
        """Sends what is due on one transport now, one at a time, waiting out short rate limits; returns how
        many were delivered. Rows waiting for a retry time stay for later."""
        await self._load(transport_name, full=True)
        delivered = 0
        while delivered < limit:
            ready, wake = self._ready_lanes(transport_name, 1)
            if not ready:
                if wake is not None and wake <= DRAIN_WAIT_LIMIT and self._waiting_on_pace(transport_name):
                    await asyncio.sleep(wake)
                    continue
                break
            lane = ready[0]
            rows = await self._claim(transport_name, await self._still_pending(transport_name, [lane.rows[0]]))
            if not rows:
                continue
            lane.busy = True
            try:
                outcome = await self._send(transport_name, lane)
            finally:
                lane.busy = False
            self._finish(transport_name, outcome)
            if outcome.kind == "sent":
                delivered += 1
            if outcome.kind == "down":
                break
        await self.write_outcomes()
        return delivered

    def _waiting_on_pace(self, name: str) -> bool:
        """True when some lane waits only for the platform's rate limit (not a retry time or an outage)."""
        state = self.lanes_of(name)
        now = self.clock()
        if state.paused_until is not None and state.paused_until > now:
            return False
        return any(lane.rows and not lane.busy and (lane.rows[0].not_before is None or lane.rows[0].not_before <= now)
                   for lane in state.lanes.values())

    async def run(self, stop: asyncio.Event, ready: asyncio.Event | None = None) -> None:
        """Every transport's lanes plus the writer, until `stop`; then the sends in flight finish (10 s at most)
        and their outcomes are written."""
        self._stop = stop
        self._state.clear()  # a new term (a leader again after standing by): lanes and claims are read afresh
        self._claimed.clear()
        for name in list(self.transports):
            self._start_loop(name)
        writer = asyncio.create_task(self._run_writer(stop), name="sender-writer")
        forward = asyncio.create_task(self._forward(ready, stop)) if ready is not None else None
        try:
            await stop.wait()
        finally:
            self._stop = None
            loops = list(self._loops.values())
            self._loops.clear()
            for task in [*loops, *([forward] if forward else [])]:
                task.cancel()
            await asyncio.gather(*loops, *([forward] if forward else []), return_exceptions=True)
            await self._settle(deadline=time.monotonic() + 10)
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)
            with contextlib.suppress(Exception):
                await self.write_outcomes()
            if self.owner is not None:
                with contextlib.suppress(Exception):  # unreachable database: the lease frees them instead
                    await release_claims(self.sessions, self.owner)
                self._claimed.clear()

    def add(self, transport: Transport) -> None:
        """A transport added while the sender runs gets its own loop at once."""
        self.transports[transport.name] = transport
        if self._stop is not None and transport.name not in self._loops:
            self._start_loop(transport.name)

    def _start_loop(self, name: str) -> None:
        assert self._stop is not None
        self._loops[name] = asyncio.get_running_loop().create_task(self._run_transport(name, self._stop),
                                                                   name=f"sender-{name}")

    async def _forward(self, ready: asyncio.Event, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await ready.wait()
            ready.clear()
            self.notify()

    async def _settle(self, deadline: float) -> None:
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=max(0.0, deadline - time.monotonic()))

    async def _run_writer(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self._write_wanted.wait()
            self._write_wanted.clear()
            await asyncio.sleep(0)  # let the sends finishing in the same moment join this batch
            if not await self.write_outcomes():
                await sleep_unless_stopped(stop, self.write_backoff.delay)
                self._write_wanted.set()

    async def _run_transport(self, name: str, stop: asyncio.Event) -> None:
        """One transport's loop: read new rows, start sends for ready lanes, sleep until something changes."""
        state = self.lanes_of(name)
        backoff = Backoff(first=0.2, limit=10.0)
        state.load_wanted = True
        state.kick.set()
        while not stop.is_set():
            wake: float | None = RESCAN_SECONDS
            try:
                if state.kick.is_set():
                    state.kick.clear()
                    if state.load_wanted or time.monotonic() - state.rescanned > RESCAN_SECONDS:
                        state.load_wanted = False  # before the read: rows announced meanwhile are read next
                        await self._load(name)
                room = getattr(self.transports[name], "max_in_flight", self.max_in_flight) - state.in_flight
                if room > 0:
                    ready, wake = self._ready_lanes(name, room)
                    if ready:
                        ready_rows = await self._claim(name, await self._still_pending(
                            name, [lane.rows[0] for lane in ready]))
                        going = {row.id for row in ready_rows}
                        for lane in ready:
                            if lane.rows and lane.rows[0].id in going:
                                self._start(name, lane)
                        continue  # maybe more are ready: look again before sleeping
                backoff.succeeded()
            except Exception as error:
                if not is_transient(error):
                    raise
                delay = backoff.failed()
                state.load_wanted = True
                log.warning("outbox %s: the database failed (%s); retrying in %.1fs", name,
                            str(error).splitlines()[0][:200], delay)
                await sleep_unless_stopped(stop, delay)
                continue
            timeout = RESCAN_SECONDS if wake is None else min(max(wake, 0.001), RESCAN_SECONDS)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(state.kick.wait(), timeout=timeout)
            if not state.kick.is_set() and time.monotonic() - state.rescanned > RESCAN_SECONDS:
                state.load_wanted = True
                state.kick.set()

    def _start(self, name: str, lane: Lane) -> None:
        state = self.lanes_of(name)
        lane.busy = True
        state.in_flight += 1

        async def go() -> None:
            try:
                outcome = await self._send(name, lane)
            except BaseException:
                lane.busy = False
                state.in_flight -= 1
                state.kick.set()
                raise
            lane.busy = False
            state.in_flight -= 1
            self._finish(name, outcome)
            state.kick.set()

        task = asyncio.get_running_loop().create_task(go(), name=f"send-{name}-{lane.chat}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


_OUTCOME_UPDATES: dict[tuple[str, ...], Any] = {}


def _outcome_update(shape: tuple[str, ...]) -> Any:
    """One Core UPDATE by id per shape of change (columns set), built once: an executemany writes a batch."""
    statement = _OUTCOME_UPDATES.get(shape)
    if statement is None:
        statement = (update(OUTBOX).where(OUTBOX.c.id == bindparam("b_id"))
                     .values({key: bindparam(f"b_{key}", type_=OUTBOX.c[key].type) for key in shape if key != "id"}))
        _OUTCOME_UPDATES[shape] = statement
    return statement


def _erased(row: Row) -> dict[str, Any]:
    """Delivered to someone whose data is gone (or a copy of it): keep that it was sent, nothing else."""
    path = row.payload.get("document_path")
    if path:
        with contextlib.suppress(OSError):
            os.unlink(path)
    return {"chat": "", "payload": {"erased": True}, "platform_message_id": None, "last_error": None}


def _suffix(attachment: Attachment) -> str:
    """A file name ending the receiving app can open; platforms send photos and voice without a name."""
    by_type = {"image/jpeg": ".jpg", "image/png": ".png", "audio/ogg": ".ogg", "application/pdf": ".pdf",
               "audio/mpeg": ".mp3", "video/mp4": ".mp4"}
    by_kind = {"photo": ".jpg", "voice": ".ogg", "video": ".mp4"}
    return by_type.get(attachment.mime_type or "", by_kind.get(attachment.kind, ""))

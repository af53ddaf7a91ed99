"""One leader among the worker processes, and round locks so that due work never runs twice.

Several `lotse run --work` processes may share one PostgreSQL database. The one holding a session-level advisory
lock (`pg_try_advisory_lock`) on its own dedicated connection is the leader: it handles the inbox, sends, runs
reminders, escalations, the digest, retention, Matrix sync and Telegram polling. The others stand by, trying the
lock every `retry` seconds. The lock lives exactly as long as the leader's connection: a leader killed with -9
loses its socket, PostgreSQL releases the lock at once, and a stand-by takes over at its next try. A leader cut
off from the database notices at its next check (every `check` seconds) and stops its work, while TCP
keepalives make the server drop the lock within seconds too. One log line each time leadership changes.

With SQLite (one machine, one file), the same roles hold through an exclusive lock on a file beside the database.

A moment of split brain (an old leader that has not noticed yet, a new one already working) is fenced on
PostgreSQL by the leader's term (`TermFence`): a new leader starts its term only after every transaction of the
old one has ended, and from then on each transaction of the old one fails at its first statement (the event or
message stays pending for the new leader), so one person's events are never handled by two processes at once
or out of order. Outbox rows are claimed with a lease before they go (`storage/claims.py`): a stale leader
sends only rows it had claimed before the new term, a chat's later rows wait for that claim, and scheduled
rounds run under a per-kind advisory lock (`RoundLocks`), each round committing what it did with the outbox rows
it wrote.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import socket
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, SessionTransaction

from bot.runtime.supervision import sleep_unless_stopped

log = logging.getLogger("lotse.leadership")

LEADER_LOCK = 0x4C6F_7473_0002
"""The advisory lock key of leadership (storage/schema.py holds the migration lock's)."""
ROUND_LOCK_BASE = 0x4C6F_7473_1000
INBOX_CHANNEL = "lotse_inbox"
"""Receivers NOTIFY here after storing an update: the leader's inbox loop wakes at once instead of polling."""


def process_id() -> str:
    """This process among all of the deployment's (host, pid, start): what `claimed_by` and the logs name."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{int(time.time()) % 100000}"


class Lock(Protocol):
    async def try_acquire(self) -> bool: ...

    async def alive(self) -> bool: ...

    async def release(self) -> None: ...


class PostgresLock:
    """`pg_try_advisory_lock` on a dedicated asyncpg connection (not from the pool: the lock is the connection)."""

    def __init__(self, url: str, key: int = LEADER_LOCK, on_inbox: Callable[[], None] | None = None) -> None:
        parsed = make_url(url)
        self.dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
        self.key = key
        self.on_inbox = on_inbox
        self.connection: Any = None
        self.held = False

    async def _connect(self) -> Any:
        import asyncpg  # type: ignore[import-untyped]

        connection = await asyncpg.connect(self.dsn, timeout=5, server_settings={
            # a leader whose machine vanished (no FIN, no RST) loses the lock within ~8 s, not the kernel's hours
            "tcp_keepalives_idle": "4", "tcp_keepalives_interval": "2", "tcp_keepalives_count": "2",
            "application_name": "lotse-leadership"})
        if self.on_inbox is not None:
            callback = self.on_inbox
            await connection.add_listener(INBOX_CHANNEL, lambda *_: callback())
        return connection

    async def try_acquire(self) -> bool:
        if self.connection is None or self.connection.is_closed():
            self.connection = await self._connect()
        self.held = bool(await self.connection.fetchval("SELECT pg_try_advisory_lock($1)", self.key, timeout=5))
        return self.held

    async def alive(self) -> bool:
        if self.connection is None or self.connection.is_closed():
            return False
        try:
            await self.connection.fetchval("SELECT 1", timeout=3)
        except Exception:
            return False
        return True

    async def release(self) -> None:
        connection, self.connection, self.held = self.connection, None, False
        if connection is None:
            return
        with contextlib.suppress(Exception):
            await connection.close(timeout=2)  # closing ends the session: the lock goes with it
        with contextlib.suppress(Exception):
            connection.terminate()


class FileLock:
    """SQLite: an exclusive `flock` on a file beside the database (one machine; the kernel frees it on death)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd: int | None = None

    async def try_acquire(self) -> bool:
        if self.fd is None:
            self.fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        os.ftruncate(self.fd, 0)
        os.write(self.fd, f"{os.getpid()}\n".encode())
        return True

    async def alive(self) -> bool:
        return self.fd is not None

    async def release(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


def lock_for(url: str, data_dir: Path, on_inbox: Callable[[], None] | None = None) -> Lock:
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        return PostgresLock(url, on_inbox=on_inbox)
    database = parsed.database or ""
    beside = Path(database) if database and database != ":memory:" else data_dir / "lotse"
    return FileLock(beside.with_name(beside.name + ".leader"))


class StaleLeader(ConnectionError):
    """This process led, but another one leads now: its transaction is refused and the work stays pending.

    A ConnectionError, so the loops treat it as the passing database failure it is for this process (the work
    stays pending, no event is marked failed); the process stops leading at its next check."""


class TermFence:
    """The leader's term on PostgreSQL: row `leader_term` (migration 0021) counts the terms.

    A new leader increments the term (`UPDATE ... RETURNING`); that waits for every open transaction of the old
    leader, since each of them holds the row `FOR SHARE` from its first statement. Afterwards each new transaction
    of the old leader finds a term that is not its own and fails with `StaleLeader` before it touches anything.
    The cost is one short statement at the start of each of the leader's transactions."""

    CHECK = text("SELECT term FROM leader_term WHERE id = 1 FOR SHARE")

    def __init__(self, engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.engine = engine
        self.term: int | None = None
        """This process's term while it leads (None: it does not lead, nothing is checked)."""
        self.refused = 0
        fence = self

        class FencedSession(Session):
            """The sessions of this process: each transaction checks the term first while it leads."""

        def check(_session: Session, _transaction: SessionTransaction, connection: Connection) -> None:
            if fence.term is None:
                return
            current = connection.execute(self.CHECK).scalar()
            if current != fence.term:
                fence.refused += 1
                raise StaleLeader(f"leadership: this process's term {fence.term} is over (term {current} leads "
                                  "now); its work stays for the leader")

        event.listen(FencedSession, "after_begin", check)
        sessions.configure(sync_session_class=FencedSession)

    async def begin(self, name: str) -> int:
        """Starts this process's term once the old leader's transactions have ended; returns the term."""
        async with self.engine.begin() as connection:
            term = int((await connection.execute(text(
                "UPDATE leader_term SET term = term + 1, holder = :name WHERE id = 1 RETURNING term"),
                {"name": name[:64]})).scalar_one())
        self.term = term
        return term

    def end(self) -> None:
        """The term's work has stopped: this process stores updates again (a stand-by's webhook) unchecked."""
        self.term = None


class Leadership:
    """Runs `lead(term)` while this process holds the lock; `term` is set when it must stop (lost or stopping)."""

    def __init__(self, lock: Lock, name: str | None = None, retry: float = 2.0, check: float = 2.0,
                 fence: TermFence | None = None) -> None:
        self.lock = lock
        self.name = name or process_id()
        self.retry = retry
        self.check = check
        self.fence = fence
        self.leading = False
        self.changes = 0

    async def run(self, stop: asyncio.Event, lead: Callable[[asyncio.Event], Coroutine[Any, Any, None]]) -> None:
        standing_by_said = False
        try:
            while not stop.is_set():
                try:
                    got = await self.lock.try_acquire()
                except Exception as error:
                    if not standing_by_said:
                        log.warning("leadership: cannot reach the database (%s); trying again every %.0fs",
                                    str(error).splitlines()[0][:200] if str(error) else type(error).__name__,
                                    self.retry)
                        standing_by_said = True
                    await self.lock.release()
                    await sleep_unless_stopped(stop, self.retry)
                    continue
                if not got:
                    if not standing_by_said:
                        log.info("leadership: another process leads; %s stands by", self.name)
                        standing_by_said = True
                    await sleep_unless_stopped(stop, self.retry)
                    continue
                standing_by_said = False
                await self._lead(stop, lead)
        finally:
            await self.lock.release()

    async def _lead(self, stop: asyncio.Event, lead: Callable[[asyncio.Event], Coroutine[Any, Any, None]]) -> None:
        if self.fence is not None:
            try:
                await self.fence.begin(self.name)
            except Exception as error:  # the database failed meanwhile: give the lock back, try again
                log.warning("leadership: could not start a term (%s); standing by",
                            str(error).splitlines()[0][:200] if str(error) else type(error).__name__)
                await self.lock.release()
                return
        self.leading = True
        self.changes += 1
        log.log(logging.INFO if self.changes == 1 else logging.WARNING, "leadership: %s leads now", self.name)
        term = asyncio.Event()
        working = asyncio.create_task(lead(term), name="leader-work")
        reason = "stopping"
        try:
            while not stop.is_set() and not working.done():
                await sleep_unless_stopped(stop, self.check)
                if stop.is_set() or working.done():
                    break
                if not await self.lock.alive():
                    reason = "lost the database connection that holds the lock"
                    break
        finally:
            term.set()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(working), timeout=15)
            if not working.done():
                working.cancel()
                with contextlib.suppress(BaseException):
                    await working
            self.leading = False
            if self.fence is not None:
                self.fence.end()
            await self.lock.release()
        failed = None if working.cancelled() else working.exception()
        if failed is not None:  # the work could not start (a transport refused): one line, the process ends
            raise failed
        if not stop.is_set():
            log.warning("leadership: %s no longer leads (%s); standing by", self.name, reason)


class RoundLocks:
    """A scheduled round (escalations, reminders, digest, retention, ...) holds its kind's advisory lock: two
    leaders of a split-brain moment run it one after the other, and the second finds nothing left to do."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.postgres = engine.dialect.name == "postgresql"

    @contextlib.asynccontextmanager
    async def hold(self, job: str) -> AsyncIterator[None]:
        if not self.postgres:  # one process on SQLite: the file lock of leadership is enough
            yield
            return
        key = ROUND_LOCK_BASE + zlib.crc32(job.split("-")[0].encode()) % 4096
        async with self.engine.connect() as holder:
            await holder.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
            await holder.commit()
            try:
                yield
            finally:
                await holder.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                await holder.commit()

    def guard(self, job: str, work: Callable[[], Awaitable[int]]) -> Callable[[], Awaitable[int]]:
        async def guarded() -> int:
            async with self.hold(job):
                return await work()
        return guarded

"""SQLite for the asyncio runtime without aiosqlite's thread hop: statements run on the event loop itself.

Why not aiosqlite: it sends every statement, fetch and commit to its own thread and back through the event loop
(four crossings per statement). A Lotse transaction is a handful of statements that SQLite finishes in
microseconds, so the crossings cost a hundred times the SQL (measured: 54 inbound messages a second through
aiosqlite against more than 1,000 this way; README, "Performance").

Why this is safe on the event loop: the only way SQLite can take long is waiting for another writer's lock, and
here it never waits long. `busy_timeout` is kept short (`BUSY_TIMEOUT_MS`), so a locked database answers
"database is locked" after a few milliseconds instead of stalling every chat for five seconds; the runtime
treats that as a transient failure and retries the work with backoff (`storage.transient`). Command-line tools,
which have no event loop to keep alive, keep aiosqlite and the patient five-second timeout.

The object returned by `connect` looks like an aiosqlite connection to SQLAlchemy's aiosqlite dialect (the same
coroutine methods), so the dialect, its type handling and its error translation are used unchanged; it is
plugged in with `create_async_engine(..., async_creator=...)`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

BUSY_TIMEOUT_MS = 40
"""How long a statement may wait for another connection's write lock before giving up (and being retried)."""


class InlineCursor:
    """aiosqlite's cursor interface over a plain `sqlite3.Cursor`; every method finishes without yielding."""

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    async def __aenter__(self) -> InlineCursor:
        return self

    async def __aexit__(self, *_: object) -> None:
        self._cursor.close()

    def __await__(self) -> Any:
        async def itself() -> InlineCursor:
            return self
        return itself().__await__()

    async def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> InlineCursor:
        self._cursor.execute(sql, parameters if parameters is not None else ())
        return self

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> InlineCursor:
        self._cursor.executemany(sql, parameters)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(size if size is not None else self._cursor.arraysize)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()

    async def nextset(self) -> None:
        return None

    async def setinputsizes(self, *_: Any) -> None:
        return None

    def __aiter__(self) -> InlineCursor:
        return self

    async def __anext__(self) -> Any:
        row = self._cursor.fetchone()
        if row is None:
            raise StopAsyncIteration
        return row

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value


class InlineConnection:
    """aiosqlite's connection interface over a plain `sqlite3.Connection` used on the event loop's thread."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._conn: sqlite3.Connection | None = connection

    @property
    def _connection(self) -> sqlite3.Connection | None:  # the dialect checks it before commit and rollback
        return self._conn

    def _open(self) -> sqlite3.Connection:
        if self._conn is None:
            raise ValueError("Connection closed")
        return self._conn

    @property
    def isolation_level(self) -> str | None:
        return self._open().isolation_level

    @isolation_level.setter
    def isolation_level(self, value: str | None) -> None:
        self._open().isolation_level = value  # type: ignore[assignment]

    def cursor(self) -> InlineCursor:
        return InlineCursor(self._open().cursor())

    async def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> InlineCursor:
        return await self.cursor().execute(sql, parameters)

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._open().create_function(*args, **kwargs)

    async def commit(self) -> None:
        self._open().commit()

    async def rollback(self) -> None:
        self._open().rollback()

    async def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def stop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def connector(arguments: Sequence[Any], options: Mapping[str, Any]) -> Any:
    """The `async_creator` for an engine: opens connections with the dialect's own connect arguments."""
    options = {**options, "timeout": BUSY_TIMEOUT_MS / 1000}

    async def connect() -> InlineConnection:
        # check_same_thread=False (the dialect asks for it): the pool may close a connection from another thread.
        return InlineConnection(sqlite3.connect(*arguments, **options))

    return connect

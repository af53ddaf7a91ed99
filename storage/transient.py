"""Which database errors are passing hiccups (retry the work later) and which are bugs (record them).

A locked SQLite file, a dropped or refused PostgreSQL connection, a serialization failure or deadlock, a timeout:
the same work succeeds a moment later, so the event or message stays pending and nothing is apologised for.
Everything else (a constraint violated, SQL that does not fit the schema) fails again the same way, so it is
recorded against the one event that caused it.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import exc

_SQLITE_TRANSIENT = ("database is locked", "database table is locked", "disk i/o error", "unable to open",
                     "database is busy", "locking protocol")
_CONNECTION_MARKERS = ("accepting connections", "connection was closed", "connection is closed",
                       "terminating connection", "connection refused", "connection reset",
                       "server closed the connection",
                       "could not connect", "cannot connect")
_POSTGRES_TRANSIENT_STATES = {
    "40001",  # serialization_failure
    "40P01",  # deadlock_detected
    "55P03",  # lock_not_available
    "57014",  # query_canceled (statement_timeout)
    "57P01", "57P02", "57P03",  # admin shutdown, crash shutdown, cannot connect now
    "53300",  # too_many_connections
    "08000", "08003", "08006", "08001", "08004",  # connection exceptions
}


def is_transient(error: BaseException) -> bool:
    """True when the database (or the connection to it) failed, not the code that used it."""
    if isinstance(error, (TimeoutError, asyncio.TimeoutError, ConnectionError)):
        return True
    if isinstance(error, OSError) and not isinstance(error, FileNotFoundError | PermissionError):
        return True
    if isinstance(error, exc.DBAPIError):
        if error.connection_invalidated:
            return True
        if isinstance(error, exc.InterfaceError):  # the connection is closed or unusable
            return True
        original = error.orig
        state = getattr(original, "sqlstate", None) or getattr(original, "pgcode", None)
        if state is None and original is not None:
            state = getattr(getattr(original, "__cause__", None), "sqlstate", None)
        if state is not None and (str(state) in _POSTGRES_TRANSIENT_STATES or str(state).startswith("08")):
            return True
        text = str(original).lower()
        if any(marker in text for marker in _CONNECTION_MARKERS):  # refused, closed, not accepting, terminated
            return True
        return isinstance(error, exc.OperationalError) and any(marker in text for marker in _SQLITE_TRANSIENT)
    if isinstance(error, exc.DisconnectionError | exc.TimeoutError):  # the pool's own timeout
        return True
    cause = error.__cause__
    return cause is not None and cause is not error and is_transient(cause)

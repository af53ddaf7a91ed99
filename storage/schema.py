"""Who may change the schema, and when: migrations under an advisory lock, and tools that refuse an old schema.

Several Lotse processes may share one PostgreSQL database. Only `lotse db upgrade` and `lotse run` migrate, and
on PostgreSQL they do it holding an advisory lock, so two processes started together never run one migration
twice: the second waits, then finds the schema current. Every other command checks the schema and refuses an
older one with one line ("run lotse db upgrade"), and code older than the schema refuses to start at all. A
brand-new empty database is created by whichever command touches it first: there is nothing to race with yet.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.database import StorageError, alembic_config, upgrade_database

log = logging.getLogger("lotse.storage")

MIGRATION_LOCK = 0x4C6F_7473_0001
"""The advisory lock key held while migrating (PostgreSQL only; SQLite's own write lock serialises there)."""
UPGRADE_HINT = "run lotse db upgrade"


@dataclass(frozen=True)
class SchemaState:
    current: str | None
    """The database's revision; None for an empty database."""
    head: str
    """The newest revision this code knows."""
    known: bool
    """Whether this code knows the database's revision (False: the database is newer than the code)."""

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head


def _read_state(connection: Connection) -> SchemaState:
    script = ScriptDirectory.from_config(alembic_config())
    heads = MigrationContext.configure(connection).get_current_heads()
    known = {rev.revision for rev in script.walk_revisions()}
    head = script.get_current_head()
    assert head is not None
    current = heads[0] if heads else None
    return SchemaState(current=current, head=head, known=current is None or current in known)


async def schema_state(engine: AsyncEngine) -> SchemaState:
    async with engine.connect() as connection:
        return await connection.run_sync(_read_state)


def _newer(state: SchemaState) -> StorageError:
    return StorageError(f"the database is at schema revision {state.current}, newer than this Lotse knows "
                        f"(latest {state.head}): upgrade Lotse before using this database")


async def upgrade_locked(engine: AsyncEngine) -> list[str]:
    """Brings the schema to the newest revision; on PostgreSQL under an advisory lock (a second process waits).

    Code older than the database refuses with one line."""
    if engine.dialect.name != "postgresql":
        return await upgrade_database(engine)
    async with engine.connect() as holder:
        got = await holder.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
        if not got:
            log.info("database: another Lotse process is migrating the schema; waiting for it")
            await holder.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
        await holder.commit()  # the session-level lock stays; no transaction is left open meanwhile
        try:
            return await upgrade_database(engine)
        finally:
            await holder.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
            await holder.commit()


async def require_current(engine: AsyncEngine) -> None:
    """For every command but `db upgrade` and `run`: an older schema is refused with one line, a newer one too.

    An empty database is created (first use: no other process can be in the middle of using it)."""
    try:
        state = await schema_state(engine)
    except Exception:  # unreachable or unreadable: upgrade_database words the one line
        await upgrade_database(engine)
        return
    if not state.known:
        raise _newer(state)
    if state.current is None:
        await upgrade_locked(engine)
        return
    if not state.up_to_date:
        raise StorageError(f"the database schema is older than this Lotse (at {state.current}, needs {state.head}): "
                           f"{UPGRADE_HINT}")

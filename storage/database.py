"""Database setup: engine with the SQLite PRAGMAs, migrations at startup, and a clear refusal when unusable."""

from __future__ import annotations

import logging
import os
from functools import cache
from pathlib import Path
from typing import Any

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, exc, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from storage import sqlite_inline

log = logging.getLogger("lotse.storage")

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


class StorageError(Exception):
    """The database cannot be used; the message is one line for the operator."""


def _sqlite_pragmas(busy_timeout_ms: int) -> Any:
    def apply(dbapi_connection: Any, _record: Any) -> None:
        # The PRAGMAs mautrix uses: integrity, concurrent readers, fewer fsyncs, and waiting instead of failing.
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        cursor.execute("PRAGMA secure_delete=ON")  # deleted personal data is overwritten, not left in free pages
        cursor.close()
    return apply


def create_engine(url: str, on_event_loop: bool = False) -> AsyncEngine:
    """`on_event_loop`: SQLite statements run on the event loop itself (the runtime: no thread hop, a short lock
    wait, transient errors retried by the caller); otherwise through aiosqlite's thread with a 5 s lock wait
    (command-line tools, which may wait)."""
    parsed = make_url(url)
    sqlite = parsed.get_backend_name() == "sqlite"
    if sqlite:
        database = parsed.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            private_file(Path(database))
    options: dict[str, Any] = {"pool_pre_ping": not sqlite}
    if sqlite and on_event_loop:
        arguments, connect_options = create_async_engine(url).dialect.create_connect_args(parsed)
        options["async_creator"] = sqlite_inline.connector(arguments, connect_options)
    engine = create_async_engine(url, **options)
    if sqlite:
        busy = sqlite_inline.BUSY_TIMEOUT_MS if on_event_loop else 5000
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas(busy))
    return engine


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


@cache
def migration_scripts() -> ScriptDirectory:
    """The migrations, read once per process: Alembic imports every file again for each new ScriptDirectory, which
    cost every opened database (each test's, too) a quarter of a second."""
    return ScriptDirectory.from_config(alembic_config())


def _describe(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _upgrade(connection: Connection) -> list[str]:
    """Brings the schema to head in this connection's transaction; returns the revisions applied."""
    from alembic import command

    logging.getLogger("alembic").setLevel(logging.WARNING)  # we log one line per migration ourselves
    config = alembic_config()
    script = migration_scripts()
    current = MigrationContext.configure(connection).get_current_heads()
    known = {rev.revision for rev in script.walk_revisions()}
    unknown = [rev for rev in current if rev not in known]
    if unknown:
        raise StorageError(
            f"the database is at schema revision {unknown[0]}, newer than this Lotse knows "
            f"(latest {script.get_current_head()}): upgrade Lotse before using this database"
        )
    base = current[0] if current else None
    pending = list(reversed(list(script.iterate_revisions(script.get_current_head(), base))))
    if not pending:
        return []
    for rev in pending:
        log.info("database: applying migration %s (%s)", rev.revision, (rev.doc or "").strip())
    config.attributes["connection"] = connection
    command.upgrade(config, "head")
    return [rev.revision for rev in pending]


async def upgrade_database(engine: AsyncEngine) -> list[str]:
    """Creates or upgrades the schema; raises `StorageError` with one clear line when it cannot."""
    url = engine.url.render_as_string(hide_password=False)
    try:
        async with engine.begin() as connection:
            if engine.dialect.name == "sqlite":
                # A write probe: a read-only or locked file fails here, not in the middle of a conversation.
                await connection.exec_driver_sql("CREATE TABLE IF NOT EXISTS lotse_write_probe (x INTEGER)")
                await connection.exec_driver_sql("DROP TABLE lotse_write_probe")
            return await connection.run_sync(_upgrade)
    except StorageError:
        raise
    except (exc.DBAPIError, OSError) as error:
        reason = getattr(error, "orig", None) or error
        raise StorageError(f"cannot use the database {_describe(url)}: {reason}") from error


# ---------------------------------------------------------------------------------------------------------------
# Operator safety: files that hold personal data are readable by their owner only


def private_directory(path: Path) -> Path:
    """Creates `path` (and parents) as owner-only (0700); tightens an existing one. For data and store dirs."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.stat().st_mode & 0o077:
        log.warning("storage: %s was readable by others; now owner-only", path)
        path.chmod(0o700)
    return path


def private_file(path: Path) -> Path:
    """Creates an empty owner-only (0600) file if missing; tightens an existing one. SQLite gives its WAL and
    shared-memory files the database file's permissions."""
    private_directory(path.parent)
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    elif path.stat().st_mode & 0o077:
        log.warning("storage: %s was readable by others; now owner-only", path)
        path.chmod(0o600)
    return path


async def compact_after_erasure(sessions: async_sessionmaker[AsyncSession]) -> None:
    """SQLite: copies the WAL into the database and truncates it, so erased pages leave no old copies behind."""
    async with sessions() as session:
        if session.get_bind().dialect.name != "sqlite":
            return
        try:
            await session.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
        except exc.DBAPIError as error:  # a busy reader: the next checkpoint does it
            log.info("storage: checkpoint after an erasure postponed (%s)", error.orig)

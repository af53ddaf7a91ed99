"""Storage: UTC on both databases, SQLite PRAGMAs, migrations, and refusing databases it cannot use."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select, text

from bot.runtime.app import Lotse
from storage.database import StorageError, create_engine, upgrade_database
from storage.models import AuditEntry


async def test_datetimes_come_back_aware_and_in_utc(app: Lotse) -> None:
    moment = datetime(2026, 3, 29, 2, 30, tzinfo=timezone(timedelta(hours=5)))
    async with app.sessions() as session, session.begin():
        session.add(AuditEntry(action="test", at=moment))
    async with app.sessions() as session:
        stored = (await session.scalars(select(AuditEntry.at))).one()
    assert stored == moment and stored.tzinfo is not None and stored.utcoffset() == timedelta(0)


async def test_naive_datetimes_are_refused(app: Lotse) -> None:
    with pytest.raises(Exception, match="naive datetime"):
        async with app.sessions() as session, session.begin():
            session.add(AuditEntry(action="test", at=datetime(2026, 1, 1)))


async def test_sqlite_runs_with_the_pragmas(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    try:
        await upgrade_database(engine)
        async with engine.connect() as connection:
            values = [(await connection.exec_driver_sql(f"PRAGMA {name}")).scalar()
                      for name in ("foreign_keys", "journal_mode", "synchronous", "busy_timeout")]
    finally:
        await engine.dispose()
    assert values == [1, "wal", 1, 5000]


def migrations() -> list[tuple[str, str]]:
    """Every migration in order, with its title, as Alembic reads them from storage/migrations."""
    from alembic.script import ScriptDirectory

    from storage.database import alembic_config

    scripts = ScriptDirectory.from_config(alembic_config())
    return [(script.revision, (script.doc or "").splitlines()[0].strip())
            for script in reversed(list(scripts.walk_revisions()))]


async def test_upgrade_is_idempotent_and_logs_one_line_per_migration(
        sqlite_url: str, caplog: pytest.LogCaptureFixture) -> None:
    engine = create_engine(sqlite_url)
    try:
        with caplog.at_level("INFO"):
            first = await upgrade_database(engine)
            second = await upgrade_database(engine)
    finally:
        await engine.dispose()
    revisions = migrations()
    assert first == [revision for revision, _ in revisions] and first[:3] == ["0001", "0002", "0003"]
    assert second == []
    lines = [r.getMessage() for r in caplog.records if "migration" in r.getMessage()]
    assert lines == [f"database: applying migration {revision} ({title})" for revision, title in revisions]
    assert lines[0] == "database: applying migration 0001 (initial schema)"


async def test_an_old_database_is_upgraded_and_keeps_its_rows(blank_database_url: str) -> None:
    from alembic import command

    from storage.database import alembic_config

    engine = create_engine(blank_database_url)
    try:
        async with engine.begin() as connection:
            def to_first(sync_connection: object) -> None:
                config = alembic_config()
                config.attributes["connection"] = sync_connection
                command.upgrade(config, "0001")
            await connection.run_sync(to_first)
            await connection.execute(text("INSERT INTO persons (role, time_zone, created_at, updated_at) "
                                          "VALUES ('participant', 'Europe/Berlin', '2026-01-01', '2026-01-01')"))
            await connection.execute(text("INSERT INTO handles (person_id, transport, platform_id, chat_id, "
                                          "created_at) VALUES (1, 'telegram', '42', '42', '2026-01-01')"))
        assert await upgrade_database(engine) == [revision for revision, _ in migrations()][1:]
        async with engine.connect() as connection:
            active = (await connection.execute(text("SELECT active FROM handles"))).scalar_one()
    finally:
        await engine.dispose()
    assert active in (True, 1)


async def test_a_database_newer_than_the_code_is_refused(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await upgrade_database(engine)
        async with engine.begin() as connection:
            await connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
        with pytest.raises(StorageError, match="schema revision 9999, newer than this Lotse knows"):
            await upgrade_database(engine)
    finally:
        await engine.dispose()


async def test_a_corrupt_file_is_one_clear_line(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.sqlite3"
    path.write_bytes(b"this is not a database, just bytes\x00\xff" * 200)
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        with pytest.raises(StorageError) as raised:
            await upgrade_database(engine)
    finally:
        await engine.dispose()
    assert "file is not a database" in str(raised.value) and "\n" not in str(raised.value)


async def test_a_read_only_database_is_one_clear_line(tmp_path: Path) -> None:
    path = tmp_path / "lotse.sqlite3"
    writable = create_engine(f"sqlite+aiosqlite:///{path}")
    await upgrade_database(writable)
    await writable.dispose()
    read_only = create_engine(f"sqlite+aiosqlite:///file:{path}?mode=ro&uri=true")
    try:
        with pytest.raises(StorageError) as raised:
            await upgrade_database(read_only)
    finally:
        await read_only.dispose()
    assert "readonly" in str(raised.value).replace("-", "").replace(" ", "")


async def test_postgres_stores_the_same_way(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await upgrade_database(engine)
        async with engine.connect() as connection:
            tables = set(await connection.run_sync(
                lambda sync: sync.dialect.get_table_names(sync)))
    finally:
        await engine.dispose()
    assert {"persons", "handles", "conversations", "inbox", "outbox", "consents", "audit_log"} <= tables

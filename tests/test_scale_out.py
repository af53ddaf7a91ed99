"""Several Lotse processes on one database: migrations under a lock, one leader, nothing sent twice."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text

from bot.cli import main
from storage.database import alembic_config, create_engine
from storage.schema import schema_state, upgrade_locked


async def _migrate_to(url: str, revision: str) -> None:
    """A database as an older Lotse left it."""
    engine = create_engine(url)

    def upgrade(connection: object) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    try:
        async with engine.begin() as connection:
            await connection.run_sync(upgrade)
    finally:
        await engine.dispose()


def _invite() -> int:
    return main(["invite", "--role", "coordinator", "--organisation", "jobcenter"])


def test_a_tool_refuses_an_older_schema_until_lotse_db_upgrade_ran(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LOTSE_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("LOTSE_DATABASE_URL", raising=False)
    asyncio.run(_migrate_to(f"sqlite+aiosqlite:///{tmp_path / 'lotse.sqlite3'}", "0013"))
    assert _invite() == 2
    refused = capsys.readouterr()
    lines = refused.err.strip().splitlines()
    assert lines[-1].startswith("lotse: the database schema is older than this Lotse")
    assert lines[-1].endswith("run lotse db upgrade") and "code:" not in refused.out
    assert main(["db", "upgrade"]) == 0
    assert _invite() == 0
    assert "code: " in capsys.readouterr().out


def test_code_older_than_the_database_refuses_to_start(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LOTSE_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("LOTSE_DATABASE_URL", raising=False)
    url = f"sqlite+aiosqlite:///{tmp_path / 'lotse.sqlite3'}"

    async def from_the_future() -> None:
        engine = create_engine(url)
        try:
            await upgrade_locked(engine)
            async with engine.begin() as connection:
                await connection.execute(text("UPDATE alembic_version SET version_num = '0099'"))
        finally:
            await engine.dispose()

    asyncio.run(from_the_future())
    for arguments in (["db", "upgrade"], ["invite", "--role", "coordinator", "--organisation", "jobcenter"]):
        assert main(arguments) == 2
        error = capsys.readouterr().err.strip().splitlines()[-1]
        assert error.startswith("lotse: the database is at schema revision 0099, newer than this Lotse knows")


@pytest.mark.postgres
async def test_two_processes_upgrading_at_once_migrate_once(blank_database_url: str) -> None:
    if not blank_database_url.startswith("postgresql"):
        pytest.skip("the advisory lock is PostgreSQL's; SQLite's write lock serialises there")
    engines = [create_engine(blank_database_url) for _ in range(3)]
    try:
        applied = await asyncio.gather(*(upgrade_locked(engine) for engine in engines))
        state = await schema_state(engines[0])
    finally:
        for engine in engines:
            await engine.dispose()
    assert state.up_to_date
    assert sorted(len(done) for done in applied)[:2] == [0, 0]  # the others waited and found nothing to do
    assert max(len(done) for done in applied) > 10

"""Several Lotse processes on one database: migrations under a lock, one leader, nothing sent twice."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import select, text

from bot.app import Lotse
from bot.cli import main
from bot.leadership import FileLock, Leadership, PostgresLock
from bot.messages import Delivery, Outgoing
from bot.sender import OutboxSender
from storage.claims import claim_outbox
from storage.database import alembic_config, create_engine
from storage.models import OutboxEntry
from storage.schema import schema_state, upgrade_locked
from tests.chat import FakeClock, RecordingTransport


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


# -------------------------------------------------------------------------------------------------------------
# One leader; rows claimed before they go


@dataclass
class SlowTransport(RecordingTransport):
    """Sends take a moment, so that two senders really overlap."""

    async def send(self, message: Outgoing, edit_platform_id: str | None) -> Delivery:
        await asyncio.sleep(0.002)
        return await super().send(message, edit_platform_id)


async def _outbox_rows(app: Lotse, chats: int, per_chat: int) -> None:
    async with app.sessions() as session, session.begin():
        for number in range(per_chat):
            for chat in range(chats):
                message = Outgoing(transport="test", chat=f"c{chat}", text=f"message {number}", locale="en")
                session.add(OutboxEntry(transport="test", chat=message.chat, payload=message.to_json(),
                                        created_at=app.dispatcher.clock()))


async def test_two_senders_on_one_database_send_every_row_once_in_order(app: Lotse) -> None:
    """Two processes' senders (a split-brain moment): each row is claimed by one of them, each chat's order holds."""
    await _outbox_rows(app, chats=12, per_chat=5)
    transports = [SlowTransport(), SlowTransport()]
    senders = [OutboxSender(app.sessions, {"test": transport}, clock=app.dispatcher.clock, owner=f"process-{n}")
               for n, transport in enumerate(transports)]
    for _ in range(20):
        done = await asyncio.gather(*(sender.deliver_pending("test") for sender in senders))
        if not any(done):
            break
    texts: dict[str, list[str]] = {}
    for transport in transports:
        for chat, messages in transport.sent.items():
            texts.setdefault(chat, []).extend(message.text for message in messages)
    assert sum(len(sent) for sent in texts.values()) == 60
    assert all(sorted(sent) == [f"message {n}" for n in range(5)] for sent in texts.values())
    assert all(transport.sent for transport in transports) or app.engine.dialect.name == "sqlite"
    async with app.sessions() as session:
        left = (await session.execute(select(OutboxEntry.status, OutboxEntry.claimed_by))).all()
    assert set(left) == {("sent", None)}


async def test_a_crashed_claimers_rows_go_once_its_lease_ran_out(app: Lotse, clock: FakeClock,
                                                                 transport: RecordingTransport) -> None:
    await _outbox_rows(app, chats=2, per_chat=2)
    async with app.sessions() as session:
        ids = list((await session.scalars(select(OutboxEntry.id))).all())
    assert await claim_outbox(app.sessions, ids, "crashed-process", clock()) == set(ids)
    sender = OutboxSender(app.sessions, {"test": transport}, clock=clock, owner="next-process")
    assert await sender.deliver_pending("test") == 0  # still leased by the crashed one: nothing goes
    clock.advance(seconds=16)
    assert await sender.deliver_pending("test") == 4
    assert [m.text for m in transport.sent["c0"]] == ["message 0", "message 1"]


@pytest.mark.postgres
async def test_a_stand_by_takes_over_when_the_leaders_connection_dies(
        database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's advisory lock; SQLite has the file lock (next test)")
    caplog.set_level(logging.INFO, logger="lotse.leadership")
    first = Leadership(PostgresLock(database_url), name="first", retry=0.1, check=0.1)
    second = Leadership(PostgresLock(database_url), name="second", retry=0.1, check=0.1)
    stop = asyncio.Event()
    leading: list[str] = []

    def worker(name: str) -> Callable[[asyncio.Event], Coroutine[Any, Any, None]]:
        async def lead(term: asyncio.Event) -> None:
            leading.append(name)
            await term.wait()
        return lead

    running = [asyncio.create_task(first.run(stop, worker("first")))]
    await _until(lambda: leading == ["first"])
    running.append(asyncio.create_task(second.run(stop, worker("second"))))
    await _until(lambda: "second stands by" in caplog.text)
    assert isinstance(first.lock, PostgresLock)
    running[0].cancel()  # what kill -9 does: the process and its connection are gone at once
    first.lock.connection.terminate()
    await _until(lambda: leading == ["first", "second"], within=10)
    stop.set()
    await asyncio.gather(*running, return_exceptions=True)
    lines = [record.getMessage() for record in caplog.records if record.name == "lotse.leadership"]
    assert lines == ["leadership: first leads now", "leadership: another process leads; second stands by",
                     "leadership: second leads now"]


async def test_on_sqlite_a_second_lotse_run_stands_by(tmp_path: Path) -> None:
    stop = asyncio.Event()
    leading: list[str] = []
    path = tmp_path / "lotse.sqlite3.leader"

    async def lead(term: asyncio.Event) -> None:
        leading.append("one")
        await term.wait()

    one = asyncio.create_task(Leadership(FileLock(path), retry=0.05).run(stop, lead))
    await _until(lambda: leading == ["one"])
    other = FileLock(path)
    assert not await other.try_acquire()
    stop.set()
    await one
    assert await other.try_acquire()
    await other.release()


async def _until(condition: Callable[[], bool], within: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "not within the time"
        await asyncio.sleep(0.02)

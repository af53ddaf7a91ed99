"""Several Lotse processes on one database: migrations under a lock, one leader, nothing sent twice."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import sys
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from bot.cli import main
from bot.core.messages import Delivery, Incoming, Outgoing
from bot.runtime.app import Lotse
from bot.runtime.leadership import FileLock, Leadership, PostgresLock
from bot.runtime.sender import OutboxSender
from storage.claims import claim_outbox
from storage.database import alembic_config, create_engine
from storage.models import OutboxEntry
from storage.schema import schema_state, upgrade_locked
from tests.chat import Chat, FakeClock, RecordingTransport
from tests.conftest import fresh_postgres_database
from tests.lotse_processes import REPOSITORY, SENDS, count, free_port, lotse_process, until_async
from tests.matrix_people import MatrixPerson
from tests.postgres_server import PostgresServer
from tests.synapse_server import SynapseServer
from tests.telegram_standin import BotApiStandIn
from tests.test_matrix import people, synapse  # noqa: F401  (fixtures)


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
                                                                 transport: RecordingTransport,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    """At least once: the crashed claimer's rows are "maybe sent"; they go again, in order, with one line."""
    await _outbox_rows(app, chats=2, per_chat=2)
    async with app.sessions() as session:
        ids = list((await session.scalars(select(OutboxEntry.id))).all())
    assert await claim_outbox(app.sessions, ids, "crashed-process", clock()) == set(ids)
    sender = OutboxSender(app.sessions, {"test": transport}, clock=clock, owner="next-process")
    assert await sender.deliver_pending("test") == 0  # still leased by the crashed one: nothing goes
    clock.advance(seconds=16)
    with caplog.at_level(logging.WARNING, logger="lotse.outbox"):
        assert await sender.deliver_pending("test") == 4
    assert [m.text for m in transport.sent["c0"]] == ["message 0", "message 1"]
    if app.engine.dialect.name == "postgresql":  # SQLite is one process: a restart takes its own rows back
        lines = [record.getMessage() for record in caplog.records if record.name == "lotse.outbox"]
        assert lines == [f"outbox: {n} row(s) claimed by crashed-process, whose claim ran out, are sent again by "
                         "next-process: the one it may have handed to the platform before it stopped can arrive "
                         "twice" for n in (2, 2)], lines


async def test_a_later_row_is_not_claimed_while_an_earlier_one_of_its_chat_is_not_in_hand(
        app: Lotse, clock: FakeClock) -> None:
    """The new leader dropped the dead one's row from its lane while the lease held it; the lease ran out and a
    newer row for the chat arrived: the newer one waits until the earlier one is claimed with it (next rescan)."""
    await _outbox_rows(app, chats=1, per_chat=2)
    async with app.sessions() as session:
        first, second = (await session.scalars(select(OutboxEntry.id).order_by(OutboxEntry.id))).all()
    assert await claim_outbox(app.sessions, [second], "leader", clock()) == set()
    assert await claim_outbox(app.sessions, [first, second], "leader", clock()) == {first, second}
    assert await claim_outbox(app.sessions, [second], "leader", clock()) == {second}  # renewing: the first is ours


async def test_a_row_sent_while_its_result_is_still_being_written_is_not_sent_again(
        app: Lotse, transport: RecordingTransport, monkeypatch: pytest.MonkeyPatch) -> None:
    """The database is slow to record a delivery (a loaded machine): the sender's rescans meanwhile must not take
    the row for a pending one."""
    import bot.runtime.sender

    monkeypatch.setattr(bot.runtime.sender, "RESCAN_SECONDS", 0.0)  # every read of the outbox is a full rescan
    recorded = asyncio.Event()
    write = app.sender._write

    async def slow_write(outcomes: Any) -> bool:
        outcomes = list(outcomes)
        await recorded.wait()
        return await write(outcomes)

    monkeypatch.setattr(app.sender, "_write", slow_write)
    await _outbox_rows(app, chats=1, per_chat=1)
    stop = asyncio.Event()
    running = asyncio.create_task(app.sender.run(stop))
    try:
        await _until(lambda: bool(transport.sent.get("c0")))
        lanes = app.sender.lanes_of("test")
        for _ in range(3):  # three rescans while the result waits to be written
            before = lanes.rescanned
            app.sender.notify()
            await _until(lambda: lanes.rescanned > before)  # noqa: B023  (read while this round waits)
        recorded.set()
    finally:
        stop.set()
        await running
    assert [m.text for m in transport.sent["c0"]] == ["message 0"]


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


# -------------------------------------------------------------------------------------------------------------
# The simulation: receivers and workers as real processes, the leader killed with -9 half-way

HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()
INTAKE = ("8", "2, 3", "1, 13", "Bicycle repair", "3", "1 6", "1, 2, 3", "1", "01.03.2027", "3", "1", "2",
          "0151 23456789", "9", "Welder in Aleppo, 3 years", "1", "2")
ASKING = ("hello", "English", "1", *INTAKE, "/menu", "1", "2", "Where can I find an apprenticeship in metal work?")
"""24 updates: onboarding, the whole intake, a question (to Oldenburgische IHK, the apprenticeship rule)."""
LANGUAGES = {"uk": "Українська", "ar": "العربية", "fa": "فارسی", "en": "English"}
ASKERS, NEWCOMERS, WITH_DISTRICT = 20, 480, 80
PATIENCE = 600.0
"""Seconds a step may take on a machine shared with others: the leader handles 4-10 updates a second at a load
average of 10-12 on 2 cores, so the whole test took about 10 minutes there (its figures are bench/scale.py's)."""


def _scripts() -> dict[int, tuple[str, str, tuple[str, ...]]]:
    """2,000 updates from 500 people: 20 go all the way to a question; 480 start (language, consent), 80 of
    them answer the first intake question too. Person -> (kind, Telegram language, what they write)."""
    crowd: dict[int, tuple[str, str, tuple[str, ...]]] = {}
    for number in range(ASKERS):
        crowd[9000 + number] = ("asks", "en", ASKING)
    for number in range(NEWCOMERS):
        code = tuple(LANGUAGES)[number % len(LANGUAGES)]
        script = ("hello", LANGUAGES[code], "1") + (("8",) if number < WITH_DISTRICT else ())
        crowd[10000 + number] = (f"starts{len(script)}", code, script)
    assert sum(len(script) for _, _, script in crowd.values()) == 2000
    return crowd


@pytest.mark.slow
@pytest.mark.postgres
async def test_three_receivers_and_two_workers_answer_2000_updates_once_across_a_kill_9_of_the_leader(
        postgres: PostgresServer, postgres_template: str, tmp_path: Path) -> None:
    url = await fresh_postgres_database(postgres, template=postgres_template)
    standin = BotApiStandIn()
    await standin.start()
    ports = [free_port() for _ in range(3)]
    names = [*(f"receiver{n}" for n in range(3)), "worker0", "worker1"]
    health = {name: free_port() for name in names}
    processes: dict[str, asyncio.subprocess.Process] = {}
    crowd = _scripts()
    try:
        for number, port in enumerate(ports):
            name = f"receiver{number}"
            processes[name] = await lotse_process("receive", url, standin, tmp_path / name, health[name], port)
        for number in range(2):
            name = f"worker{number}"
            processes[name] = await lotse_process("work", url, standin, tmp_path / name, health[name])
        standin.webhook_targets = [f"http://127.0.0.1:{port}/hook" for port in ports]
        await until_async(_true_when(lambda: standin.webhook is not None), PATIENCE, "a receiver to set the webhook")

        def leader() -> str | None:
            found = [name for name in ("worker0", "worker1")
                     if "leads now" in (tmp_path / name / "stderr.log").read_text()]
            return found[0] if len(found) == 1 else None

        await until_async(_true_when(lambda: leader() is not None), PATIENCE, "one worker to lead")
        # the askers' updates are stored first: their questions are asked early and fall overdue while the leader
        # dies, half-way through the 2,000 updates
        sent = {person: [standin.user_sends(person, text, language_code=code) for text in script]
                for person, (_, code, script) in crowd.items() if person < 10000}
        asked = ASKERS * len(ASKING)
        await until_async(lambda: _count_is(url, "SELECT count(*) FROM inbox", asked), PATIENCE, "askers stored")
        sent |= {person: [standin.user_sends(person, text, language_code=code) for text in script]
                 for person, (_, code, script) in crowd.items() if person >= 10000}
        first = leader()
        assert first is not None
        await until_async(lambda: _half_way(url), PATIENCE, "every question asked and half the updates handled",
                          every=0.5)
        await _questions_fall_overdue(url)  # the next inbox batch wakes the escalation round
        processes[first].kill()  # the leader dies with work in hand
        await processes[first].wait()
        maybe_sent = await _claimed_when_killed(url, processes[first].pid)
        updates = sum(len(ids) for ids in sent.values())
        await until_async(lambda: _all_done(url, updates, standin), PATIENCE,
                          "every update taken, handled and answered", every=1.0)
        survivor = next(name for name in ("worker0", "worker1") if processes[name].returncode is None)
        assert "leads now" in (tmp_path / survivor / "stderr.log").read_text()
        connection = await asyncpg.connect(make_url(url).set(drivername="postgresql").render_as_string(False))
        try:
            inbox = await connection.fetch("SELECT event_id, sender, processed_at, error FROM inbox ORDER BY id")
            rows = await connection.fetch("SELECT id, chat, status, payload FROM outbox ORDER BY id")
            tickets = await connection.fetch("SELECT id, escalated_at, reassured_at FROM tickets")
        finally:
            await connection.close()
        # every update stored once and handled once, without an error; each person's in the order they wrote
        assert sorted(int(row["event_id"]) for row in inbox) == sorted(standin.confirmed) == sorted(
            update for ids in sent.values() for update in ids)
        assert all(row["processed_at"] is not None and row["error"] is None for row in inbox)
        for person, ids in sent.items():
            assert [int(row["event_id"]) for row in inbox if row["sender"] == str(person)] == ids
        # every row sent once, in its chat's order; only a row the killed leader held when it died (handed to
        # Telegram, its result not yet written) may have gone a second time, right after its first copy
        assert {row["status"] for row in rows} == {"sent"}
        expected: dict[str, list[tuple[int, str]]] = {}
        for row in rows:
            expected.setdefault(row["chat"], []).append((int(row["id"]), json.loads(row["payload"])["text"]))
        seen: dict[str, list[str]] = {}
        for method, params in standin.calls:
            if method in SENDS:
                seen.setdefault(str(params["chat_id"]), []).append(str(params.get("text", "")))
        assert set(seen) == set(expected) == {str(person) for person in crowd}
        repeated: set[int] = set()
        for chat, wanted in expected.items():
            repeated |= _match_once_or_repeated_in_place(seen[chat], wanted, maybe_sent, chat)
        assert repeated <= maybe_sent
        # each update answered once: every person of one kind and language saw the same conversation
        conversations: dict[tuple[str, str], set[tuple[str, ...]]] = {}
        for person, (kind, code, _) in crowd.items():
            texts = tuple(re.sub(r"\d+", "#", text) for _, text in expected[str(person)])
            conversations.setdefault((kind, code), set()).add(texts)
        assert all(len(variants) == 1 for variants in conversations.values()), conversations.keys()
        # one escalation per overdue question: each marked once, each asker reassured once
        assert len(tickets) == ASKERS and all(t["escalated_at"] and t["reassured_at"] for t in tickets)
        reassured = [chat for chat, wanted in expected.items() for _, text in wanted
                     if text.startswith("We have not forgotten your question no.")]
        assert sorted(reassured) == sorted(str(person) for person in crowd if person < 10000)
        # what the operator sees: the survivor leads and counted its sends, a receiver is ready and does not lead
        async with aiohttp.ClientSession() as client:
            async with client.get(f"http://127.0.0.1:{health[survivor]}/healthz") as answer:
                assert answer.status == 200
                assert await answer.json() == {"role": "work", "leader": True, "database": True, "schema": HEAD,
                                               "schema_current": True, "ready": True}
            async with client.get(f"http://127.0.0.1:{health[survivor]}/metrics") as answer:
                metrics = await answer.text()
            async with client.get(f"http://127.0.0.1:{health['receiver0']}/healthz") as answer:
                receiver = await answer.json()
        assert "lotse_leader 1.0" in metrics and "lotse_inbox_pending 0.0" in metrics
        assert 'lotse_outbox_pending{lane="answer",transport="telegram"} 0.0' in metrics
        assert 'lotse_sends_total{result="ok",transport="telegram"}' in metrics
        assert receiver["role"] == "receive" and receiver["leader"] is False and receiver["ready"] is True
    finally:
        for process in processes.values():
            if process.returncode is None:
                process.terminate()
        for process in processes.values():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), 20)
            if process.returncode is None:
                process.kill()
        await standin.stop()


def _match_once_or_repeated_in_place(seen: list[str], wanted: list[tuple[int, str]], maybe_sent: set[int],
                                     chat: str) -> set[int]:
    """`seen` is `wanted` in order, each row once, except that a row in `maybe_sent` may come twice in a row.
    Returns the ids of the rows that came twice (the fewest that explain `seen`).

    Every reading is followed, not only the first: when two rows in a row have the same text (a menu shown twice)
    and the first may have gone twice, "repeated" and "the next row" look alike until later."""
    readings: dict[int, set[int]] = {0: set()}  # position in `seen` -> the repeats that led there
    for row_id, row_text in wanted:
        following: dict[int, set[int]] = {}
        for position, repeated in readings.items():
            if position < len(seen) and seen[position] == row_text:
                once = position + 1
                if once not in following or len(repeated) < len(following[once]):
                    following[once] = repeated
                twice = position + 2
                repeats = row_id in maybe_sent and twice <= len(seen) and seen[position + 1] == row_text
                if repeats and (twice not in following or len(repeated) + 1 < len(following[twice])):
                    following[twice] = repeated | {row_id}
        assert following, (chat, row_id, row_text, seen, wanted)
        readings = following
    assert len(seen) in readings, (chat, seen, wanted)
    return readings[len(seen)]


def test_the_order_check_reads_a_repeated_menu_both_ways() -> None:
    """The check itself: the first reading that fits is not always the one that explains the whole chat."""
    wanted = [(1, "menu"), (2, "menu"), (3, "topic")]
    assert _match_once_or_repeated_in_place(["menu", "menu", "topic"], wanted, {1}, "c") == set()
    assert _match_once_or_repeated_in_place(["menu", "menu", "menu", "topic"], wanted, {1}, "c") == {1}
    with pytest.raises(AssertionError):
        _match_once_or_repeated_in_place(["menu", "topic", "menu"], wanted, {1, 2}, "c")
    with pytest.raises(AssertionError):  # a repeat of a row the dead leader did not hold
        _match_once_or_repeated_in_place(["menu", "menu", "menu", "topic"], wanted, set(), "c")


async def _questions_fall_overdue(url: str) -> None:
    connection = await asyncpg.connect(make_url(url).set(drivername="postgresql").render_as_string(False))
    try:
        await connection.execute("UPDATE tickets SET due_at = now() - interval '1 hour'")
    finally:
        await connection.close()


async def _claimed_when_killed(url: str, pid: int) -> set[int]:
    """The rows the killed leader had claimed and not yet marked: maybe handed to Telegram, maybe not."""
    connection = await asyncpg.connect(make_url(url).set(drivername="postgresql").render_as_string(False))
    try:
        rows = await connection.fetch("SELECT id FROM outbox WHERE status = 'pending' AND claimed_by LIKE $1",
                                      f"%:{pid}:%")
    finally:
        await connection.close()
    return {int(row["id"]) for row in rows}


async def _count_is(url: str, query: str, wanted: int) -> bool:
    return await count(url, query) == wanted


async def _half_way(url: str) -> bool:
    return (await count(url, "SELECT count(*) FROM tickets") == ASKERS
            and await count(url, "SELECT count(*) FROM inbox WHERE processed_at IS NOT NULL") >= 1000)


async def _all_done(url: str, updates: int, standin: BotApiStandIn) -> bool:
    if len(standin.confirmed) < updates:
        return False
    handled = await count(url, "SELECT count(*) FROM inbox WHERE processed_at IS NOT NULL")
    pending = await count(url, "SELECT count(*) FROM outbox WHERE status = 'pending'")
    return handled == updates and pending == 0


# -------------------------------------------------------------------------------------------------------------
# What the operator sees


async def test_healthz_and_metrics_show_the_backlog_and_the_leader(app: Lotse, clock: FakeClock) -> None:
    from bot.runtime.health import HealthServer, listen_address

    assert listen_address(None, postgres=False) is None  # off on SQLite unless set
    assert listen_address(None, postgres=True) == "127.0.0.1:9464"
    await _outbox_rows(app, chats=2, per_chat=1)
    stored = await app.store_only(Incoming(transport="test", event_id="u1", handle="amal", chat="amal", text="hi"))
    assert stored and not await app.store_only(
        Incoming(transport="test", event_id="u1", handle="amal", chat="amal", text="hi"))  # a redelivery
    clock.advance(seconds=30)
    assert app.sender.on_result is not None
    app.sender.on_result("test", "429")  # what the sender reports after a send Telegram refused with 429
    server = HealthServer(app.engine, app.sessions, app.metrics, "all", lambda: True, lambda: (0.01, 0.3), clock)
    assert await server.start("127.0.0.1:0")
    assert server.bound is not None
    try:
        async with aiohttp.ClientSession() as client:
            async with client.get(f"http://127.0.0.1:{server.bound[1]}/healthz") as answer:
                assert answer.status == 200
                health = await answer.json()
            async with client.get(f"http://127.0.0.1:{server.bound[1]}/metrics") as answer:
                metrics = await answer.text()
    finally:
        await server.stop()
    assert health == {"role": "all", "leader": True, "database": True, "schema": HEAD, "schema_current": True,
                      "ready": True}
    for line in ("lotse_inbox_pending 1.0", "lotse_inbox_oldest_seconds 30.0", "lotse_leader 1.0",
                 'lotse_outbox_pending{lane="notice",transport="test"} 2.0',
                 'lotse_outbox_oldest_seconds{lane="notice",transport="test"} 30.0',
                 'lotse_sends_total{result="429",transport="test"} 1.0', "lotse_loop_lag_worst_seconds 0.3"):
        assert line in metrics.splitlines(), line


async def test_two_leaders_of_a_split_brain_moment_escalate_an_overdue_question_once(
        app: Lotse, chat: Callable[..., Chat], clock: FakeClock) -> None:
    """Each escalation round holds its advisory lock: the second round finds the question escalated already."""
    from flows.tickets import escalate_overdue
    from tests.test_questions import coordinator, participant

    if app.engine.dialect.name != "postgresql":
        pytest.skip("SQLite is one process: its leadership file lock is enough")
    assert app.rounds is not None
    tom = await coordinator(app, chat, "tom", organisation="proconnect")
    amal = await participant(chat, "amal")
    clock.now = datetime(2026, 11, 27, 14, 0, tzinfo=UTC)  # Friday 15:00 in Oldenburg
    await amal.send("/menu")
    await amal.click("Ask a question")
    await amal.click("Apprenticeship (Ausbildung)")
    await amal.send("Who can help me?")
    tom_before = len(tom.history)
    clock.now = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)

    async def round_of_one_leader() -> int:
        return await escalate_overdue(app.sessions, app.network, clock())

    done = await asyncio.gather(*(app.rounds.guard("escalations", round_of_one_leader)() for _ in range(3)))
    assert sorted(done) == [0, 0, 1]
    await app.drain()
    assert len(tom.history) == tom_before + 1 and tom.history[-1].text.startswith("OVERDUE:")
    assert sum(m.text.startswith("We have not forgotten your question no. 1.") for m in amal.history) == 1


# -------------------------------------------------------------------------------------------------------------
# Split brain: a stale leader (paused, its lock lost) resumes while another process leads


async def _second_process(app: Lotse, clock: FakeClock, tmp_path: Path) -> tuple[Lotse, RecordingTransport]:
    from bot.core.config import load_settings
    from bot.runtime.abuse import InboundLimiter

    other = await Lotse.open(load_settings(data_dir=tmp_path / "b", idle_minutes=30),
                             database_url=app.engine.url.render_as_string(hide_password=False), clock=clock)
    other.dispatcher.limiter = InboundLimiter(per_minute=100_000)
    recording = RecordingTransport()
    other.add_transport(recording)
    return other, recording


async def _waiting_on_a_lock(app: Lotse) -> bool:
    async with app.engine.connect() as connection:
        waiting = await connection.scalar(text(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE :query"),
            {"query": "UPDATE leader_term%"})
    return bool(waiting)


@pytest.mark.postgres
async def test_a_stale_leader_that_resumes_cannot_handle_or_send_and_order_holds(
        app: Lotse, clock: FakeClock, transport: RecordingTransport, tmp_path: Path) -> None:
    """A leads and is paused in the middle of a transaction, holding a claim on amal's answer; its lock is lost
    and B leads. B's term starts only after A's open transaction ended; whatever A tries afterwards fails and
    stays for B; amal's messages are handled in the order she wrote them; each answer reaches her once, in order."""
    from bot.runtime.leadership import StaleLeader, TermFence

    if app.engine.dialect.name != "postgresql":
        pytest.skip("the term fence is PostgreSQL's; SQLite is one process with a file lock")
    other, recording = await _second_process(app, clock, tmp_path)
    stale, fresh = TermFence(app.engine, app.sessions), TermFence(other.engine, other.sessions)
    app.sender.owner, other.sender.owner = "process-a", "process-b"
    try:
        await stale.begin("process-a")
        await _store(app, "amal", "e1", "hello")
        assert await app.dispatcher.process_pending() == 1  # A answers with the language picker ...
        async with app.sessions() as session:
            picker = (await session.scalars(select(OutboxEntry.id))).one()
        assert await claim_outbox(app.sessions, [picker], "process-a", clock()) == {picker}  # ... and claims it
        paused = app.sessions()  # then A is paused in the middle of its next transaction
        await paused.execute(text("SELECT count(*) FROM inbox"))
        taking_over = asyncio.create_task(fresh.begin("process-b"))  # A's lock is gone: B starts a term
        await until_async(lambda: _waiting_on_a_lock(app), 10, "B's term to wait for A's open transaction")
        assert not taking_over.done()
        await _store(other, "amal", "e2", "English")  # amal goes on writing; a receiver stores it
        await _store(other, "amal", "e3", "1")
        await paused.commit()  # A's transaction ends: only now B's term begins
        await paused.close()
        assert await taking_over == stale.term + 1  # type: ignore[operator]
        # A resumes: its inbox round and its sender are refused, the events and the rows stay for B
        with pytest.raises(StaleLeader):
            await app.dispatcher.process_pending()
        with pytest.raises(StaleLeader):
            await app.sender.deliver_pending("test")
        assert stale.refused == 2
        # B handles amal's events in her order; her answers wait behind A's claim on the picker until it runs out
        assert await _handle_everything(other) == 2
        assert await other.sender.deliver_pending("test") == 0
        clock.advance(seconds=16)
        delivered = await other.sender.deliver_pending("test")
        reference = Chat(other, recording, "ref")
        expected = [*(await reference.send("hello")), *(await reference.send("English")),
                    *(await reference.send("1"))]
        assert [m.text for m in recording.sent["amal"]] == [m.text for m in expected] and delivered == len(expected)
        assert "amal" not in transport.sent  # A sent nothing
        async with app.engine.connect() as connection:
            left = (await connection.execute(text("SELECT status, count(*) FROM outbox GROUP BY status"))).all()
            inbox = (await connection.execute(text(
                "SELECT count(*) FROM inbox WHERE processed_at IS NULL OR error IS NOT NULL"))).scalar()
        assert dict(left) == {"sent": 2 * len(expected)} and inbox == 0
    finally:
        stale.end()
        await other.close()


async def _handle_everything(app: Lotse) -> int:
    handled = 0
    while done := await app.dispatcher.process_pending():
        handled += done
    return handled


async def _store(app: Lotse, handle: str, event_id: str, said: str) -> None:
    assert await app.store_only(Incoming(transport="test", event_id=event_id, handle=handle, chat=handle, text=said))


# -------------------------------------------------------------------------------------------------------------
# Matrix runs in the process that leads, and nowhere else


@pytest.mark.slow
@pytest.mark.postgres
async def test_matrix_follows_the_leadership_and_a_second_runner_is_refused(
        synapse: SynapseServer, people: list[MatrixPerson],  # noqa: F811  (the fixtures' names)
        postgres: PostgresServer, postgres_template: str, tmp_path: Path) -> None:
    """Two workers share one Matrix store: the leader syncs, the stand-by does not log in; after a kill -9 the
    stand-by leads and answers what came meanwhile, with the same device. A `lotse run` elsewhere on the same
    store is refused with one line."""
    from tests.test_matrix import ask, person, run_env, unique

    url = await fresh_postgres_database(postgres, template=postgres_template)
    bot = unique("lotse")
    synapse.register(bot)
    store = tmp_path / "matrix-store"
    amal = await person(synapse, people, tmp_path, "amal")
    workers: dict[str, asyncio.subprocess.Process] = {}

    async def worker(name: str) -> asyncio.subprocess.Process:
        env = run_env(synapse, tmp_path / name, bot) | {"LOTSE_DATABASE_URL": url, "LOTSE_MATRIX_STORE_DIR": str(store),
                                                       "LOTSE_HEALTH_LISTEN": f"127.0.0.1:{free_port()}"}
        await asyncio.to_thread((tmp_path / name).mkdir)
        log = await asyncio.to_thread((tmp_path / name / "stderr.log").open, "wb")
        return await asyncio.create_subprocess_exec(sys.executable, "-m", "bot.cli", "run", "--work", env=env,
                                                    cwd=REPOSITORY, stdout=asyncio.subprocess.DEVNULL, stderr=log)

    def said(name: str, line: str) -> bool:
        return line in (tmp_path / name / "stderr.log").read_text()

    try:
        workers["first"] = await worker("first")
        await until_async(_true_when(lambda: said("first", "runs the Matrix transport")), PATIENCE, "first leads")
        workers["second"] = await worker("second")
        await until_async(_true_when(lambda: said("second", "stands by")), PATIENCE, "second stands by")
        room = await amal.open_direct_chat(f"@{bot}:localhost")
        [picker] = await ask(amal, room, "hello")
        workers["first"].kill()
        await workers["first"].wait()
        await amal.say(room, "English")  # while nobody syncs
        await until_async(_true_when(lambda: said("second", "runs the Matrix transport")), PATIENCE,
                          "second to lead and run Matrix")
        await amal.until(lambda: len(amal.in_room(room)) >= 2, within=PATIENCE, what="the answer after takeover")
        assert not said("second", "Traceback") and "runs the Matrix transport" not in said_before(
            tmp_path / "second" / "stderr.log", "leads now")
        devices = [re.findall(r"matrix: started as \S+ \(device (\w+)\)", (tmp_path / name / "stderr.log").read_text())
                   for name in ("first", "second")]
        assert devices[0] == devices[1] and len(devices[0]) == 1  # one device, its keys kept across the takeover
        elsewhere = run_env(synapse, tmp_path / "elsewhere", bot) | {"LOTSE_MATRIX_STORE_DIR": str(store)}
        refused = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.cli", "run", env=elsewhere, cwd=tmp_path, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        _out, err = await asyncio.wait_for(refused.communicate(), PATIENCE)
        lines = err.decode().strip().splitlines()
        assert refused.returncode == 2 and len(lines) == 1, lines
        assert lines[0].startswith(f"lotse: matrix: the store {store} is in use by another Lotse process (pid "
                                   f"{workers['second'].pid})")
    finally:
        for process in workers.values():
            if process.returncode is None:
                process.terminate()
                await asyncio.wait_for(process.wait(), 30)
    bodies = [seen.body for seen in amal.in_room(room)]
    if len(bodies) > 2 and bodies[1] == bodies[0]:
        bodies.pop(1)  # at least once: the picker the killed leader sent may go once more (docs/operations.md)
    assert bodies[0] == picker.body and len(bodies) == len(set(bodies)) and len(bodies) >= 2
    connection = await asyncpg.connect(make_url(url).set(drivername="postgresql").render_as_string(False))
    try:
        statuses = [row["status"] for row in await connection.fetch("SELECT status FROM outbox")]
    finally:
        await connection.close()
    assert statuses == ["sent"] * len(bodies)


def _true_when(condition: Callable[[], bool]) -> Callable[[], Coroutine[Any, Any, bool]]:
    async def check() -> bool:
        return condition()
    return check


def said_before(log: Path, marker: str) -> str:
    """The log up to the line with `marker`: what the process said before it led."""
    text_so_far = log.read_text()
    return text_so_far[:text_so_far.find(marker)] if marker in text_so_far else text_so_far

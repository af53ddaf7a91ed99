"""The runtime under stress a person would notice: database hiccups, crashing loops, slow chats, SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sqlite3
import sys
from collections.abc import Callable
from datetime import UTC
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from bot.core.config import load_settings
from bot.core.messages import Delivery, Outgoing
from bot.runtime.app import Lotse
from bot.runtime.supervision import LoopWatchdog, supervise
from bot.runtime.transport import DeliveryError
from bot.runtime.waker import ReminderScheduler, run_reminders
from bot.transports.telegram import RateLimiter, TelegramTransport
from storage.models import BULK, Handle, InboxEntry, OutboxEntry, Reminder
from tests.chat import Chat, FakeClock, RecordingTransport
from tests.telegram_standin import BotApiStandIn, FloodControl

REPOSITORY = Path(__file__).resolve().parent.parent
APOLOGY = "Sorry, something went wrong"


class Outage:
    """Makes the real database refuse work for a while: SQLite through another connection's exclusive lock,
    PostgreSQL by cutting every connection and refusing new ones."""

    def __init__(self, database_url: str) -> None:
        self.url = make_url(database_url)
        self._sqlite: sqlite3.Connection | None = None

    async def begin(self) -> None:
        if self.url.get_backend_name() == "sqlite":
            self._sqlite = sqlite3.connect(str(self.url.database), isolation_level=None)
            self._sqlite.execute("BEGIN EXCLUSIVE")
            return
        await self._admin(f'ALTER DATABASE "{self.url.database}" ALLOW_CONNECTIONS false',
                          "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          f"WHERE datname = '{self.url.database}' AND pid <> pg_backend_pid()")

    async def end(self) -> None:
        if self._sqlite is not None:
            self._sqlite.execute("ROLLBACK")
            self._sqlite.close()
            self._sqlite = None
            return
        await self._admin(f'ALTER DATABASE "{self.url.database}" ALLOW_CONNECTIONS true')

    async def _admin(self, *statements: str) -> None:
        connection = await asyncpg.connect(host=self.url.host, port=self.url.port, user=self.url.username,
                                           database="postgres")
        try:
            for statement in statements:
                await connection.execute(statement)
        finally:
            await connection.close()


async def test_a_database_outage_mid_conversation_loses_nothing_and_apologises_for_nothing(
        app: Lotse, chat: Callable[..., Chat], database_url: str) -> None:
    amal = chat("amal")
    await amal.send("مرحبا")
    await amal.click("العربية")  # the privacy notice, in Arabic
    people = [chat(f"p{number}") for number in range(3)]
    for person in people:  # three first messages stored (acknowledged to the platform), not yet handled
        await app.dispatcher.receive(person._event(text="hello"))
    await app.dispatcher.receive(amal._event(text="نعم"))
    outage = Outage(database_url)
    await outage.begin()
    try:
        for _ in range(3):  # the worker tries during the outage: nothing may be marked handled or failed
            assert await app.dispatcher.process_pending() == 0
    finally:
        await asyncio.sleep(0.5)
        await outage.end()
    await app.drain(patience=30)
    for person in people:
        assert len(person.history) == 1 and "Deutsch" in [c.label for c in person.history[0].choices]
    texts = [message.text for message in amal.history]
    assert not any(APOLOGY in text or "عذرًا" in text for text in texts)
    async with app.sessions() as session:
        assert await session.scalar(select(func.count()).where(InboxEntry.processed_at.is_(None))) == 0
        assert await session.scalar(select(func.count()).where(InboxEntry.error.is_not(None))) == 0


async def test_the_outage_is_logged_once_and_its_end_too(app: Lotse, chat: Callable[..., Chat], database_url: str,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="lotse.dispatcher")
    amal = chat("amal")
    outage = Outage(database_url)
    await app.dispatcher.receive(amal._event(text="hello"))
    await outage.begin()
    try:
        for _ in range(4):
            await app.dispatcher.process_pending()
    finally:
        await outage.end()
    await app.drain(patience=30)
    lines = [record.getMessage() for record in caplog.records if record.name == "lotse.dispatcher"]
    assert sum("the database failed" in line for line in lines) == 1
    assert sum("works again" in line for line in lines) == 1
    assert len(amal.history) == 1


async def test_a_loop_that_crashes_is_restarted_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="lotse.supervision")
    stop = asyncio.Event()
    rounds: list[int] = []

    async def flaky() -> None:
        rounds.append(len(rounds))
        if len(rounds) <= 2:
            raise RuntimeError(f"broken round {len(rounds)}")
        stop.set()

    from bot.runtime.supervision import Backoff

    await asyncio.wait_for(supervise("inbox", flaky, stop, Backoff(first=0.01, limit=0.01)), timeout=30)
    assert len(rounds) == 3
    crashes = [record.getMessage() for record in caplog.records]
    assert crashes[0].startswith("inbox: loop crashed (RuntimeError: broken round 1), crash 1;")
    assert crashes[1].startswith("inbox: loop crashed (RuntimeError: broken round 2), crash 2;")


class SlowChatTransport(RecordingTransport):
    """One chat is told to wait ten minutes (a 429 with a long `retry_after`); the others are not."""

    async def send(self, message: Outgoing, edit_platform_id: str | None) -> Delivery:
        if message.chat == "crowded-group":
            raise DeliveryError("429 Too Many Requests", retry_after=600)
        return await super().send(message, edit_platform_id)


async def test_a_chat_waiting_out_a_long_retry_after_does_not_delay_another_chats_answer(app: Lotse) -> None:
    slow = SlowChatTransport(name="test")
    app.add_transport(slow)
    async with app.sessions() as session, session.begin():
        session.add_all(OutboxEntry(transport="test", chat="crowded-group",
                                    payload=Outgoing("test", "crowded-group", f"notice {n}").to_json())
                        for n in range(5))
    amal = Chat(app, slow, "amal")
    answer = await amal.send("hello")
    assert len(answer) == 1 and "Deutsch" in [c.label for c in answer[0].choices]
    async with app.sessions() as session:
        waiting = (await session.scalars(select(OutboxEntry).where(OutboxEntry.chat == "crowded-group")
                                         .order_by(OutboxEntry.id))).all()
    assert [row.status for row in waiting] == ["pending"] * 5  # still in order, nothing lost or given up
    assert waiting[0].not_before is not None and waiting[0].attempts == 1


async def test_an_answer_overtakes_a_group_waiting_for_its_minute_limit_on_telegram(tmp_path: Path) -> None:
    """Real python-telegram-bot against the stand-in: five notices to a coordinators' group (Telegram allows
    20 a minute, so they are spaced) and then an answer to a participant, who gets it before the group's last."""
    standin = BotApiStandIn()
    await standin.start()
    app = await Lotse.open(load_settings(data_dir=tmp_path), database_url=f"sqlite+aiosqlite:///{tmp_path / 'l.db'}")
    transport = TelegramTransport(standin.token, base_url=standin.base_url,
                                  limiter=RateLimiter(per_group_minute=20))
    app.add_transport(transport)
    stop = asyncio.Event()
    try:
        standin.flood_control = FloodControl()
        await transport.start(app.dispatcher.receive, app.dispatcher.receive_batch)
        async with app.sessions() as session, session.begin():
            session.add_all(OutboxEntry(transport="telegram", chat="-100200300", payload=Outgoing(
                "telegram", "-100200300", f"New question {n}").to_json()) for n in range(6))
        workers = asyncio.create_task(app.run_workers(stop))
        await standin.wait_for(lambda: len(standin.sent_to(-100200300)) >= 3, within=30, what="the group's burst")
        standin.user_sends(4242, "hello", language_code="uk")
        await standin.wait_for(lambda: len(standin.sent_to(4242)) >= 1, within=30, what="the participant's answer")
        assert len(standin.sent_to(-100200300)) < 6  # the group is still waiting for its minute
        assert standin.sent_to(4242)[0]["reply_markup"]  # the language picker, as buttons
        assert standin.rate_limited == []
        stop.set()
        await asyncio.wait_for(workers, timeout=15)
    finally:
        standin.flood_control = None
        stop.set()
        await app.close()
        await standin.stop()


async def test_a_reminder_due_while_another_connection_writes_for_two_seconds_goes_out_once_without_a_stall(
        sqlite_url: str, tmp_path: Path, clock: FakeClock, transport: RecordingTransport) -> None:
    from tests.test_reminders import _booked_for_tomorrow, local, reminder_messages

    app = await Lotse.open(load_settings(data_dir=tmp_path, idle_minutes=30), database_url=sqlite_url, clock=clock)
    app.add_transport(transport)
    try:
        await _booked_for_tomorrow(app, lambda handle: Chat(app, transport, handle))
        clock.now = local(2026, 11, 23, 18, 1)
        stop = asyncio.Event()
        watchdog = LoopWatchdog(threshold=0.25, interval=0.02)
        watching = asyncio.create_task(watchdog.run(stop))
        blocker = sqlite3.connect(str(make_url(sqlite_url).database), isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")  # another connection holds the write lock
        blocker.execute("UPDATE persons SET locale = locale")
        app.dispatcher.outbox_ready.clear()
        loop = asyncio.create_task(run_reminders(app.sessions, ReminderScheduler("stall"), clock, stop,
                                                 app.dispatcher.outbox_ready))
        await asyncio.sleep(2.0)  # the writer holds the lock this long; the loop must keep running meanwhile
        blocker.execute("COMMIT")
        blocker.close()
        await asyncio.wait_for(app.dispatcher.outbox_ready.wait(), timeout=30)
        stop.set()
        await asyncio.wait_for(asyncio.gather(loop, watching), timeout=30)
        await app.drain()
        assert await reminder_messages(app) == 1
        assert sum(m.text.startswith("Reminder: ") for m in transport.sent["amal"]) == 1
        # A blocking job store or a 5 s busy wait would hold the loop for the whole 2 s the lock was held.
        assert watchdog.worst < 0.5, f"the event loop stalled {watchdog.worst:.2f} s"
    finally:
        await app.close()


async def test_sigterm_during_a_broadcast_exits_cleanly_and_the_rest_goes_after_restart_none_twice(
        tmp_path: Path) -> None:
    standin = BotApiStandIn()
    await standin.start()
    database = tmp_path / "lotse.sqlite3"
    url = f"sqlite+aiosqlite:///{database}"
    chats = [str(6_000_000 + n) for n in range(60)]
    app = await Lotse.open(load_settings(data_dir=tmp_path), database_url=url)
    try:
        async with app.sessions() as session, session.begin():
            session.add_all(OutboxEntry(transport="telegram", chat=chat, priority=BULK, payload=Outgoing(
                "telegram", chat, "Job fair (Jobmesse) on Saturday").to_json()) for chat in chats)
    finally:
        await app.close()
    env = {**os.environ, "LOTSE_DATA_DIR": str(tmp_path), "LOTSE_DATABASE_URL": url,
           "LOTSE_TELEGRAM_TOKEN": standin.token, "LOTSE_TELEGRAM_BASE_URL": standin.base_url,
           "LOTSE_LOG_LEVEL": "WARNING"}

    def delivered() -> int:
        return sum(len(standin.sent_to(int(chat))) for chat in chats)

    async def start() -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(sys.executable, "-m", "bot.cli", "run", cwd=REPOSITORY, env=env,
                                                    stderr=asyncio.subprocess.PIPE)
    try:
        standin.flood_control = FloodControl(per_second=10)  # slow enough to stop it half-way
        first = await start()
        await standin.wait_for(lambda: delivered() >= 10, within=60, what="the broadcast under way")
        first.send_signal(signal.SIGTERM)
        _, errors = await asyncio.wait_for(first.communicate(), timeout=15)  # exits within 10 s of the signal
        assert first.returncode == 0, errors.decode()
        assert b"Traceback" not in errors
        assert delivered() < len(chats)
        second = await start()
        await standin.wait_for(lambda: delivered() >= len(chats), within=60, what="the rest after the restart")
        second.send_signal(signal.SIGTERM)
        await asyncio.wait_for(second.communicate(), timeout=15)
        assert [len(standin.sent_to(int(chat))) for chat in chats] == [1] * len(chats)  # none twice
    finally:
        standin.flood_control = None
        await standin.stop()


async def test_reminders_held_up_by_downtime_wait_for_the_morning(app: Lotse, clock: FakeClock,
                                                                  transport: RecordingTransport) -> None:
    """Started at 03:00 Berlin time after downtime, Lotse keeps the evening's reminder for 07:30."""
    from bot.services.reminders import deliver_due
    from tests.test_reminders import _booked_for_tomorrow, local

    amal = await _booked_for_tomorrow(app, lambda handle: Chat(app, transport, handle))
    before = len(amal.history)
    clock.now = local(2026, 11, 24, 3, 0)  # the appointment is later today; the evening reminder was missed
    await deliver_due(app.sessions, clock())
    await app.drain()
    assert len(amal.history) == before  # nothing at 3 a.m.
    async with app.sessions() as session:
        due = (await session.scalars(select(Reminder.due_at).where(Reminder.status == "planned"))).all()
    assert local(2026, 11, 24, 7, 30) in [moment.astimezone(UTC) for moment in due]
    clock.now = local(2026, 11, 24, 7, 30)
    await deliver_due(app.sessions, clock())
    await app.drain()
    reminders = [m for m in amal.history[before:] if m.text.startswith("تذكير") or m.text.startswith("Reminder")]
    assert len(reminders) == 1


def test_backoff_doubles_to_its_limit() -> None:
    from bot.runtime.supervision import Backoff

    backoff = Backoff(first=0.5, limit=3.0)
    assert [backoff.failed() for _ in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    backoff.succeeded()
    assert backoff.delay == 0.0



async def test_a_page_of_updates_with_a_redelivered_one_is_answered_once_per_message(
        app: Lotse, transport: RecordingTransport) -> None:
    """A getUpdates page is stored in one statement: a copy of an update (the platform sent the page again, or
    the same update twice in it) is dropped, and everyone's answer still arrives once, in order."""
    people = [Chat(app, transport, name) for name in ("amal", "bilal", "chiara")]
    first_words = [person._event(text="hello") for person in people]
    assert await app.dispatcher.receive_batch([*first_words, first_words[1]]) == 3
    assert await app.dispatcher.receive_batch(first_words) == 0  # the whole page again: nothing new
    await app.drain()
    for person in people:
        assert len(person.history) == 1 and "Deutsch" in [choice.label for choice in person.last.choices]
    english = people[2].buttons().index("English") + 1
    answers = await people[2].send(str(english))  # the number answers the picker this page's turn sent
    assert "English" not in [choice.label for choice in answers[-1].choices]
    assert all(len(person.history) == 1 for person in people[:2])


async def test_a_new_persons_two_messages_in_one_batch_make_one_person_answered_in_order(
        app: Lotse, transport: RecordingTransport) -> None:
    """The batch looks people up without flushing its earlier events: a first contact's record is written at
    once, so their second message in the same page finds them instead of making a second person."""
    dana = Chat(app, transport, "dana")
    english = "English"
    await app.dispatcher.receive_batch([dana._event(text="hello"), dana._event(text=english)])
    await app.drain()
    async with app.sessions() as session:
        people = (await session.scalars(select(func.count()).select_from(Handle))).one()
    assert people == 1
    picker, notice = dana.history
    assert "Deutsch" in [choice.label for choice in picker.choices]
    assert notice.locale == "en" and "English" not in [choice.label for choice in notice.choices]

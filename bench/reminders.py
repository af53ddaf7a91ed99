"""Reminder benchmark on SQLite: planning, startup with many future reminders, a burst through Telegram, wake-ups.

(a) 5 future reminders per participant (2.5 appointments each, the evening before and two hours before), planned
    through `bot.services.reminders.plan`, the code booking uses; prints reminders/s.
(b) Startup with those reminders in the database, in a fresh process: open Lotse (catalogs, migrations check),
    start the scheduler on its SQLAlchemy job store, reconcile the job with the table, run the first delivery
    round (nothing due). Prints seconds and the process's peak RSS.
(c) BURST reminders due in the same minute: the delivery round (claim + render + outbox, one transaction per
    batch), then the outbox sender through the real python-telegram-bot transport against the Bot API stand-in
    with Telegram's limits enforced. Total time against the floor of 30 messages/s; duplicates and losses counted
    from the stand-in's own record of what each chat received.
(d) Scheduler wake-up accuracy: the job set 0.3 s ahead, twenty times; how late the loop is woken.

Usage: python bench/reminders.py [N_PEOPLE] [BURST]   (default: 10000 5000; the issue's figures)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.pop(0)  # bench/telegram.py would shadow the telegram package
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, insert, select

from bot.core.config import load_settings
from bot.runtime.app import Lotse
from bot.runtime.waker import ReminderScheduler
from bot.services.reminders import BATCH, appointment_key, deliver_due, plan
from storage.models import Appointment, Handle, OutboxEntry, Person, Reminder

os.environ.setdefault("PTB_TIMEDELTA", "true")
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def populate(url: str, directory: Path, people: int, reminders_wanted: int) -> tuple[float, int]:
    """Creates participants with handles and appointments, planning their reminders with `plan`."""
    app = await Lotse.open(load_settings(data_dir=directory), database_url=url, clock=lambda: NOW)
    try:
        async with app.sessions() as session, session.begin():
            await session.execute(insert(Person), [
                {"role": "participant", "display_name": f"P{n}", "locale": ("de", "ar", "uk", "en")[n % 4],
                 "time_zone": "Europe/Berlin", "privacy_version": "2026-11", "created_at": NOW, "updated_at": NOW}
                for n in range(people)])
            ids = list((await session.scalars(select(Person.id).order_by(Person.id))).all())
            await session.execute(insert(Handle), [
                {"person_id": pid, "transport": "telegram", "platform_id": str(7_000_000 + pid),
                 "chat_id": str(7_000_000 + pid), "active": True, "created_at": NOW} for pid in ids])
        appointments_needed = reminders_wanted // 2
        started = time.perf_counter()
        planned = 0
        for first in range(0, appointments_needed, 1000):
            async with app.sessions() as session, session.begin():
                rows = []
                for n in range(first, min(first + 1000, appointments_needed)):
                    # Spread over the next 60 days at office hours, so no reminder falls into the quiet hours.
                    starts = NOW + timedelta(days=2 + n % 60, hours=1 + n % 6)
                    rows.append({"participant_id": ids[n % len(ids)], "kind": "jobcenter", "starts_at": starts,
                                 "place": "Jobcenter Oldenburg", "status": "scheduled", "created_at": NOW,
                                 "updated_at": NOW})
                result = await session.execute(insert(Appointment).returning(Appointment.id, Appointment.participant_id,
                                                                             Appointment.starts_at), rows)
                people_by_id = {p.id: p for p in (await session.scalars(select(Person).where(
                    Person.id.in_({r["participant_id"] for r in rows})))).all()}
                for appointment_id, participant_id, starts_at in result.all():
                    planned += await plan(session, people_by_id[participant_id], appointment_key(appointment_id),
                                          starts_at, NOW, ("evening_before", "two_hours_before"), new_event=True)
        return time.perf_counter() - started, planned
    finally:
        await app.close()


def startup_in_a_fresh_process(url: str, directory: Path) -> str:
    code = f"""
import asyncio, resource, time, sys
started = time.perf_counter()
from datetime import datetime, UTC
from pathlib import Path
from bot.runtime.app import Lotse
from bot.core.config import load_settings
from bot.services.reminders import deliver_due
from bot.runtime.waker import ReminderScheduler
async def main():
    now = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    app = await Lotse.open(load_settings(data_dir=Path({str(directory)!r})), database_url={url!r}, clock=lambda: now)
    opened = time.perf_counter()
    scheduler = ReminderScheduler("bench")
    scheduler.start()
    round = await deliver_due(app.sessions, now)
    wake = await scheduler.reconcile(app.sessions)
    elapsed = time.perf_counter() - started
    reminders = time.perf_counter() - opened
    scheduler.stop()
    await app.close()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{{elapsed:.2f}} {{reminders:.3f}} {{rss:.0f}} {{round.total}} {{wake.isoformat()}}")
asyncio.run(main())
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=Path(__file__).resolve().parent.parent, check=True)
    return result.stdout.strip()


async def burst(url: str, directory: Path, count: int) -> None:
    from bot.transports.telegram import TelegramTransport
    from tests.telegram_standin import BotApiStandIn, FloodControl

    due = NOW + timedelta(days=90)
    app = await Lotse.open(load_settings(data_dir=directory), database_url=url, clock=lambda: due)
    standin = BotApiStandIn()
    await standin.start()
    try:
        async with app.sessions() as session, session.begin():
            ids = list((await session.scalars(select(Person.id).order_by(Person.id).limit(count))).all())
            rows = [{"participant_id": pid, "kind": "counselling", "starts_at": due + timedelta(hours=2, minutes=30),
                     "place": "pro:connect", "status": "scheduled", "created_at": NOW, "updated_at": NOW}
                    for pid in ids]
            made = (await session.execute(insert(Appointment).returning(Appointment.id, Appointment.participant_id),
                                          rows)).all()
            await session.execute(insert(Reminder), [
                {"participant_id": pid, "appointment_id": aid, "event_key": appointment_key(aid),
                 "event_starts_at": due + timedelta(hours=2, minutes=30), "kind": "two_hours_before",
                 "due_at": due - timedelta(seconds=n % 60), "status": "planned"} for n, (aid, pid) in enumerate(made)])
        transport = TelegramTransport(standin.token, base_url=standin.base_url)
        app.add_transport(transport)
        await transport.start(app.dispatcher.receive)
        standin.flood_control = FloodControl()
        ready = asyncio.Event()
        writing = True

        async def sender() -> int:
            """The outbox loop of `Lotse.run_workers`: it sends each batch as soon as it is committed."""
            delivered = 0
            while True:
                ready.clear()
                sent = await app.sender.deliver_pending("telegram", limit=500)
                delivered += sent
                if sent == 0:
                    async with app.sessions() as session:
                        pending = await session.scalar(select(func.count()).select_from(OutboxEntry).where(
                            OutboxEntry.status == "pending"))
                    if not pending and not writing:
                        return delivered
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(ready.wait(), 0.5)

        started = time.perf_counter()
        sending = asyncio.create_task(sender())
        done = await deliver_due(app.sessions, due, committed=ready.set)
        writing = False
        planned_at = time.perf_counter()
        delivered = await sending
        elapsed = time.perf_counter() - started
        received = {chat: len(messages) for chat, messages in standin.messages.items()
                    if any("Reminder" in str(m.get("text", "")) or "تذكير" in str(m.get("text", ""))
                           or "Erinnerung" in str(m.get("text", "")) or "Нагадування" in str(m.get("text", ""))
                           for m in messages)}
        expected = {7_000_000 + pid for pid in ids}
        duplicates = sum(n - 1 for n in received.values() if n > 1)
        lost = len(expected - set(received))
        floor = (count - 1) / 30
        print(f"(c) {count} reminders due in one minute: delivery round (claim + outbox, batches of {BATCH}, while the "
              f"sender already sends) {planned_at - started:.2f} s for {done.sent}; all delivered through Telegram "
              f"(stand-in, limits enforced) "
              f"{elapsed:.1f} s, {delivered / elapsed:.1f} msg/s; floor at 30 msg/s {floor:.1f} s, "
              f"{(elapsed / floor - 1) * 100:+.1f}% (aim: within 10%); 429 answers {len(standin.rate_limited)}; "
              f"duplicates {duplicates}; lost {lost}")
    finally:
        standin.flood_control = None
        await app.close()
        await standin.stop()


async def wakeups(url: str, rounds: int = 20) -> None:
    scheduler = ReminderScheduler("accuracy")
    scheduler.start()
    lateness: list[float] = []
    try:
        for _ in range(rounds):
            scheduler.wakeup.clear()
            target = datetime.now(UTC) + timedelta(seconds=0.3)
            scheduler.wake_at(target)
            await asyncio.wait_for(scheduler.wakeup.wait(), 5)
            lateness.append((datetime.now(UTC) - target).total_seconds() * 1000)
    finally:
        scheduler.stop()
    lateness.sort()
    print(f"(d) scheduler wake-up after its due time over {rounds} wake-ups: "
          f"p50 {lateness[len(lateness) // 2]:.1f} ms, max {lateness[-1]:.1f} ms")


async def main(people: int, burst_size: int) -> None:
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory() as folder:
        directory = Path(folder)
        url = f"sqlite+aiosqlite:///{directory / 'bench.sqlite3'}"
        seconds, planned = await populate(url, directory, people, people * 5)
        print(f"(a) planned {planned} reminders for {people} participants through plan(): {seconds:.1f} s, "
              f"{planned / seconds:.0f} reminders/s")
        elapsed, own, rss, handled, wake = startup_in_a_fresh_process(url, directory).split()
        print(f"(b) startup with {planned} future reminders, fresh process (imports, catalogs, schema check, job "
              f"store, first round, reconcile): {elapsed} s, of which the reminders' part {float(own) * 1000:.0f} ms; "
              f"peak RSS {rss} MB; {handled} due at start; next wake-up {wake}")
        await burst(url, directory, min(burst_size, people))
        await wakeups(url)


if __name__ == "__main__":
    arguments = [int(value) for value in sys.argv[1:]]
    asyncio.run(main(*(arguments + [10_000, 5_000][len(arguments):])))

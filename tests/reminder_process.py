"""A Lotse process that is killed with SIGKILL while it sends reminders (run by tests/test_reminders.py).

It opens the database, lets the reminder scheduler reconcile its job, then sends what is due; after the batch's
reminder rows and outbox rows are written but before they commit it prints "WRITTEN" and waits to be killed.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import datetime
from pathlib import Path

from bot.core.config import load_settings
from bot.runtime.app import Lotse
from bot.runtime.waker import ReminderScheduler
from bot.services.reminders import deliver_due


async def main(database_url: str, now: str, data_dir: str) -> None:
    moment = datetime.fromisoformat(now)
    app = await Lotse.open(load_settings(data_dir=Path(data_dir)), database_url=database_url, clock=lambda: moment)
    scheduler = ReminderScheduler("killed")
    scheduler.start()
    await scheduler.reconcile(app.sessions)

    async def wait_to_be_killed() -> None:
        print("WRITTEN", flush=True)
        await asyncio.sleep(60)

    await deliver_due(app.sessions, moment, before_commit=wait_to_be_killed)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))

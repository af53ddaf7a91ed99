"""The database is the only schedule; APScheduler only wakes the process at the next moment the tables name.

Reminders, escalations, the Montagsrunde digest and retention each keep what is due in their own tables. For
each of them one in-memory APScheduler date job is set to the earliest due moment read from its table, and set
again after every round and whenever the dispatcher changed something that may plan new work (a booking, a new
question). Nothing about the schedule is stored outside the tables, so nothing can disagree with them, and no
job store does blocking I/O on the event loop. A moment missed while Lotse was down is handled at start, because
every loop begins with a round of whatever is due.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.runtime.supervision import Backoff, sleep_unless_stopped
from bot.services.reminders import JOB_ID, deliver_due, next_due
from storage.transient import is_transient

log = logging.getLogger("lotse.waker")


class Waker:
    """An AsyncIOScheduler with one in-memory date job per kind of due work; a job only sets an event."""

    def __init__(self) -> None:
        from apscheduler.jobstores.memory import MemoryJobStore
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        self.scheduler = AsyncIOScheduler(
            jobstores={"default": MemoryJobStore()}, timezone=UTC,
            # misfire_grace_time=None: a wake-up late because the loop was busy still runs
            job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 1})
        self.events: dict[str, asyncio.Event] = {}

    def start(self) -> None:
        if not self.scheduler.running:
            self.scheduler.start()

    def stop(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    def event(self, job: str) -> asyncio.Event:
        if job not in self.events:
            self.events[job] = asyncio.Event()
        return self.events[job]

    def ring(self, job: str) -> None:
        self.event(job).set()

    def arm(self, job: str, moment: datetime | None) -> None:
        """Sets `job` to wake at `moment`; removes it when nothing is due."""
        if moment is None:
            if self.scheduler.get_job(job) is not None:
                self.scheduler.remove_job(job)
            return
        self.scheduler.add_job(self.ring, "date", run_date=moment, id=job, args=[job], replace_existing=True)

    def next_wakeup(self, job: str) -> datetime | None:
        found = self.scheduler.get_job(job)
        return None if found is None else found.next_run_time


async def run_due_work(job: str, waker: Waker, work: Callable[[], Awaitable[int]],
                       next_due: Callable[[], Awaitable[datetime | None]], stop: asyncio.Event,
                       changed: asyncio.Event | None = None, poll_seconds: float = 300.0) -> None:
    """Does `work` now (whatever fell due, also while Lotse was down), re-arms the wake-up from `next_due`, and
    waits for it, for `changed` (re-read the table only), for `stop`, or `poll_seconds` as a safety net.

    A database hiccup is retried with backoff; it never ends the loop."""
    waker.start()
    woken = waker.event(job)
    backoff = Backoff(first=0.5, limit=30.0)
    do_work = True
    while not stop.is_set():
        woken.clear()
        try:
            if do_work:
                await work()
            waker.arm(job, await next_due())
            backoff.succeeded()
        except Exception as error:
            if not is_transient(error):
                raise
            delay = backoff.failed()
            log.warning("%s: the database failed (%s); trying again in %.1fs", job,
                        str(error).splitlines()[0][:200], delay)
            await sleep_unless_stopped(stop, delay)
            continue
        waits = {asyncio.ensure_future(woken.wait()), asyncio.ensure_future(stop.wait())}
        if changed is not None:
            waits.add(asyncio.ensure_future(changed.wait()))
        done, pending = await asyncio.wait(waits, timeout=poll_seconds, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        do_work = woken.is_set() or not done  # rung by the job, or the safety-net poll
        if changed is not None and changed.is_set():
            changed.clear()


# ---------------------------------------------------------------------------------------------------------------
# Reminders: one in-memory job at the earliest planned reminder


class ReminderScheduler:
    """The reminders' wake-up: one in-memory job at the earliest planned reminder, rebuilt from the table."""

    def __init__(self, name: str = "default", waker: Waker | None = None) -> None:
        self.name = name
        self.waker = waker or Waker()
        self.job = f"{JOB_ID}-{name}"

    @property
    def wakeup(self) -> asyncio.Event:
        return self.waker.event(self.job)

    def start(self) -> None:
        self.waker.start()

    def stop(self) -> None:
        self.waker.stop()

    def wake_at(self, moment: datetime | None) -> None:
        self.waker.arm(self.job, moment)

    def next_wakeup(self) -> datetime | None:
        return self.waker.next_wakeup(self.job)

    async def reconcile(self, sessions: async_sessionmaker[AsyncSession]) -> datetime | None:
        """The table wins: the job is set from the earliest planned reminder."""
        async with sessions() as session:
            moment = await next_due(session)
        self.wake_at(moment)
        return moment


async def run_reminders(sessions: async_sessionmaker[AsyncSession], scheduler: ReminderScheduler,
                        clock: Any, stop: asyncio.Event, outbox_ready: asyncio.Event,
                        changed: asyncio.Event | None = None, poll_seconds: float = 60.0,
                        guard: Callable[[str, Callable[[], Awaitable[int]]], Callable[[], Awaitable[int]]]
                        | None = None, counted: Callable[[int, int], None] | None = None) -> None:
    """The delivery loop: at start (whatever fell due while down), then whenever the scheduler wakes it or the
    dispatcher changed something (`changed`: a booking may have planned an earlier reminder).

    A slow poll backs the wake-up: a booking made by another process (the CSV import) plans reminders this
    process does not hear of."""

    async def work() -> int:
        done = await deliver_due(sessions, clock(), committed=outbox_ready.set)
        if done.total:
            log.info("reminders: %d sent, %d missed, %d held (blocked), %d dropped, %d waiting for the morning",
                     done.sent, done.missed, done.held, done.dropped, done.deferred)
        if done.sent:
            outbox_ready.set()
        if counted is not None:
            counted(done.sent, done.missed)
        return done.total

    async def next_moment() -> datetime | None:
        async with sessions() as session:
            return await next_due(session)

    try:
        guarded = work if guard is None else guard("reminders", work)  # one round at a time in the deployment
        await run_due_work(scheduler.job, scheduler.waker, guarded, next_moment, stop, changed, poll_seconds)
    finally:
        scheduler.stop()

"""Wiring: settings, network, database, dispatcher, senders and transports in one event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.core import translation
from bot.core.config import Settings
from bot.core.i18n import check_catalogs
from bot.core.messages import Incoming
from bot.core.network import Network, load_network
from bot.runtime.abuse import InboundLimiter, sanitised
from bot.runtime.dispatcher import Clock, Dispatcher, system_clock
from bot.runtime.health import Metrics
from bot.runtime.leadership import INBOX_CHANNEL, RoundLocks
from bot.runtime.sender import OutboxSender
from bot.runtime.supervision import LoopWatchdog, supervise
from bot.runtime.transport import Transport
from bot.runtime.waker import ReminderScheduler, Waker, run_due_work, run_reminders
from flows.features import commands_for
from storage.database import create_engine, session_factory
from storage.models import Handle, Person
from storage.repositories import store_inbound
from storage.schema import require_current, upgrade_locked

log = logging.getLogger("lotse")


@dataclass
class Lotse:
    settings: Settings
    network: Network
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    dispatcher: Dispatcher
    sender: OutboxSender
    transports: dict[str, Transport] = field(default_factory=dict)
    watchdog: LoopWatchdog = field(default_factory=LoopWatchdog)
    rounds: RoundLocks | None = None
    metrics: Metrics = field(default_factory=Metrics)
    leading: bool = False
    """Whether this process leads now (the health endpoint reports it)."""
    """Scheduled rounds hold their kind's advisory lock (PostgreSQL): never two at once in the deployment."""

    @classmethod
    async def open(cls, settings: Settings, database_url: str | None = None, clock: Clock = system_clock,
                   upgrade: bool = True) -> Lotse:
        """Checks catalogs and network, then creates or upgrades the database; any problem raises one line.

        `upgrade=False` (every command but `lotse run` and `lotse db upgrade`): an older schema is refused with
        "run lotse db upgrade" instead of migrated behind the back of running processes."""
        check_catalogs()
        network = load_network(settings.network_file)
        await translation.start(settings, network)  # a wrong translation setting stops here, before the database
        engine = create_engine(database_url or settings.resolved_database_url, on_event_loop=True)
        try:
            await (upgrade_locked(engine) if upgrade else require_current(engine))
        except BaseException:
            await engine.dispose()
            raise
        sessions = session_factory(engine)
        dispatcher = Dispatcher(sessions, network, idle=timedelta(minutes=settings.idle_minutes), clock=clock)
        dispatcher.limiter = InboundLimiter(settings.inbound_per_minute,
                                            timedelta(minutes=settings.flood_pause_minutes))
        sender = OutboxSender(sessions, {}, clock=clock)
        dispatcher.on_erasure = sender.distrust
        app = cls(settings, network, engine, sessions, dispatcher, sender, rounds=RoundLocks(engine))
        sender.on_result = app.metrics.sent
        return app

    @property
    def postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    async def store_only(self, incoming: Incoming) -> bool:
        """A receiver's (or a stand-by's) path: the update is stored and the leader woken; nothing is handled
        here. False for a duplicate."""
        incoming = sanitised(incoming)
        async with self.sessions() as session, session.begin():
            stored = await store_inbound(session, incoming.transport, incoming.event_id, incoming.handle,
                                         incoming.to_json(), self.dispatcher.clock())
            if stored is not None and self.postgres:  # delivered at the commit; the leader's inbox wakes at once
                await session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": INBOX_CHANNEL})
        return stored is not None

    def _count_reminders(self, sent: int, missed: int) -> None:
        self.metrics.reminders.labels("sent").inc(sent)
        self.metrics.reminders.labels("missed").inc(missed)

    def _guard(self, job: str, work: Callable[[], Awaitable[int]]) -> Callable[[], Awaitable[int]]:
        return work if self.rounds is None else self.rounds.guard(job, work)

    def add_transport(self, transport: Transport) -> None:
        self.transports[transport.name] = transport
        if hasattr(transport, "commands") and transport.commands is None:  # the menu of commands a platform shows
            transport.commands = lambda: commands_for(None)
        self.sender.add(transport)

    async def close(self) -> None:
        for transport in self.transports.values():
            with contextlib.suppress(Exception):
                await transport.stop()
        await translation.stop()
        await self.engine.dispose()

    async def drain(self, patience: float = 10.0) -> None:
        """Handles every pending inbound event and delivers every due message (the console, tests, tools).

        A database hiccup is waited out for up to `patience` seconds; the work stays pending after that."""
        deadline = asyncio.get_running_loop().time() + patience
        while True:
            handled = await self.dispatcher.process_pending()
            if handled:
                continue
            if self.dispatcher.backoff.failures and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(self.dispatcher.backoff.delay)
                continue
            break
        for name in self.transports:
            while await self.sender.deliver_pending(name):
                pass

    async def ensure_personas(self) -> None:
        """Creates the network file's demo personas on the console transport, once."""
        async with self.sessions() as session, session.begin():
            existing = set((await session.scalars(select(Person.persona).where(Person.persona.is_not(None)))).all())
            for persona in self.network.personas:
                if persona.name in existing:
                    continue
                person = Person(role=persona.role, display_name=persona.display_name, locale=persona.locale,
                                organisation=persona.organisation, district=persona.district, persona=persona.name)
                session.add(person)
                await session.flush()
                session.add(Handle(person_id=person.id, transport="console", platform_id=persona.name,
                                   chat_id=persona.name))

    def _announce(self, written: int) -> int:
        """A scheduled round wrote `written` messages: the sender reads them now rather than at its next rescan."""
        if written:
            self.dispatcher.outbox_ready.set()
        return written

    async def run_workers(self, stop: asyncio.Event) -> None:
        """The background loops of `lotse run`, each supervised (a crash is logged and the loop restarted), until
        `stop`; then the batch in hand commits, the sends in flight finish and their results are written."""
        waker = Waker()
        waker.start()
        changed_reminders, changed_tickets, changed_mediators = asyncio.Event(), asyncio.Event(), asyncio.Event()

        async def inbox() -> None:
            while not stop.is_set():
                self.dispatcher.wakeup.clear()  # before, not after: an event stored meanwhile wakes the next round
                handled = await self.dispatcher.process_pending()
                if handled:
                    # Only the schedules whose tables the batch wrote read them again.
                    written = self.dispatcher.take_written()
                    for table, changed in (("reminders", changed_reminders), ("tickets", changed_tickets),
                                           ("mediation_requests", changed_mediators)):
                        if table in written or "*" in written:
                            changed.set()
                    if self.dispatcher.has_work:
                        continue  # more is waiting: no sleep between batches
                delay = self.dispatcher.backoff.delay or 1.0
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.dispatcher.wakeup.wait(), timeout=delay)

        async def outbox() -> None:
            await self.sender.run(stop, ready=self.dispatcher.outbox_ready)

        async def escalations() -> None:
            from flows.tickets import escalate_overdue, next_escalation

            async def work() -> int:
                escalated = await escalate_overdue(self.sessions, self.network, self.dispatcher.clock())
                self.metrics.escalations.inc(escalated)
                return self._announce(escalated)

            async def next_due() -> datetime | None:
                return await next_escalation(self.sessions, self.dispatcher.clock())

            await run_due_work("escalations", waker, self._guard("escalations", work), next_due, stop,
                               changed_tickets)

        async def digests() -> None:
            """The Montagsrunde digest; the database says whether this week's went out."""
            from bot.core.schedule import Schedule
            from bot.jobs.digest import parse_room, send_due_digests

            schedule = Schedule.parse(self.settings.digest_schedule)
            room = parse_room(self.settings.digest_room)

            async def work() -> int:
                return self._announce(await send_due_digests(self.sessions, self.network, schedule, room,
                                                             self.dispatcher.clock()))

            async def next_due() -> datetime | None:
                now = self.dispatcher.clock()
                moment = schedule.moment(now)
                return moment if moment > now else moment + timedelta(days=7)

            await run_due_work("digest", waker, self._guard("digest", work), next_due, stop)

        async def reminders() -> None:
            await run_reminders(self.sessions, ReminderScheduler("run", waker), self.dispatcher.clock, stop,
                                self.dispatcher.outbox_ready, changed=changed_reminders,
                                guard=self._guard, counted=self._count_reminders)

        async def retention() -> None:
            """The daily privacy job: once at start, then every 24 hours."""
            from bot.jobs.retention import RetentionPolicy, apply_retention

            policy = RetentionPolicy.from_settings(self.settings, self.network)

            async def work() -> int:
                report = await apply_retention(self.sessions, self.network, policy, self.dispatcher.clock())
                return self._announce(report.warned + report.erased)

            async def next_due() -> datetime | None:
                return self.dispatcher.clock() + timedelta(hours=24)

            await run_due_work("retention", waker, self._guard("retention", work), next_due, stop,
                               poll_seconds=24 * 3600)

        async def placements() -> None:
            """Company reminders and both sides' check-ins around a placement (bot/jobs/placements.py)."""
            from bot.jobs.placements import deliver_due_follow_ups, next_follow_up

            async def work() -> int:
                return self._announce(await deliver_due_follow_ups(self.sessions, self.network,
                                                                   self.dispatcher.clock()))

            await run_due_work("placements", waker, self._guard("placements", work),
                               lambda: next_follow_up(self.sessions), stop)


        async def translations() -> None:
            """Late machine translations: asked again and sent as follow-ups (flows/mediation.py)."""
            from flows.mediation import retry_translations

            async def work() -> int:
                return int(await retry_translations(self.sessions, self.dispatcher.clock(), network=self.network))

            guarded = self._guard("translations", work)
            while not stop.is_set():
                if await guarded():
                    self.dispatcher.outbox_ready.set()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=15)

        async def mediators() -> None:
            """A language mediator who let 4 working hours pass: the next one is asked (flows/mediation.py)."""
            from flows.mediation import hand_over_mediations, next_mediation_handover

            async def work() -> int:
                return self._announce(await hand_over_mediations(self.sessions, self.dispatcher.clock()))

            async def next_due() -> datetime | None:
                return await next_mediation_handover(self.sessions, self.dispatcher.clock())

            await run_due_work("mediators", waker, work, next_due, stop, changed_mediators)

        loops = {"inbox": inbox, "outbox": outbox, "escalations": escalations, "reminders": reminders,
                 "digest": digests, "retention": retention, "placements": placements, "translations": translations,
                 "mediators": mediators}
        tasks = [asyncio.create_task(supervise(name, loop, stop), name=name) for name, loop in loops.items()]
        tasks.append(asyncio.create_task(self.watchdog.run(stop), name="watchdog"))
        try:
            await stop.wait()
            await asyncio.wait(tasks, timeout=10)  # each loop ends its round; the sender settles its sends
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            waker.stop()

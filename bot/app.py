"""Wiring: settings, network, database, dispatcher, senders and transports in one event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.abuse import InboundLimiter
from bot.config import Settings
from bot.dispatcher import Clock, Dispatcher, system_clock
from bot.i18n import check_catalogs
from bot.network import Network, load_network
from bot.sender import OutboxSender
from bot.transports.base import Transport
from storage.database import create_engine, session_factory, upgrade_database
from storage.models import Handle, Person

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

    @classmethod
    async def open(cls, settings: Settings, database_url: str | None = None, clock: Clock = system_clock) -> Lotse:
        """Checks catalogs and network, then creates or upgrades the database; any problem raises one line."""
        check_catalogs()
        network = load_network(settings.network_file)
        engine = create_engine(database_url or settings.resolved_database_url)
        try:
            await upgrade_database(engine)
        except BaseException:
            await engine.dispose()
            raise
        sessions = session_factory(engine)
        dispatcher = Dispatcher(sessions, network, idle=timedelta(minutes=settings.idle_minutes), clock=clock)
        dispatcher.limiter = InboundLimiter(settings.inbound_per_minute,
                                            timedelta(minutes=settings.flood_pause_minutes))
        sender = OutboxSender(sessions, {}, clock=clock)
        return cls(settings, network, engine, sessions, dispatcher, sender)

    def add_transport(self, transport: Transport) -> None:
        self.transports[transport.name] = transport
        self.sender.transports[transport.name] = transport

    async def close(self) -> None:
        for transport in self.transports.values():
            with contextlib.suppress(Exception):
                await transport.stop()
        await self.engine.dispose()

    async def drain(self) -> None:
        """Handles every pending inbound event and delivers every due message (used at startup and by the console)."""
        while await self.dispatcher.process_pending():
            pass
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

    async def run_workers(self, stop: asyncio.Event) -> None:
        """Background loops for real transports: inbox processing and one sender per transport."""

        async def inbox() -> None:
            while not stop.is_set():
                self.dispatcher.wakeup.clear()  # before, not after: an event stored meanwhile wakes the next round
                await self.dispatcher.process_pending()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.dispatcher.wakeup.wait(), timeout=1.0)

        async def outbox() -> None:
            while not stop.is_set():
                self.dispatcher.outbox_ready.clear()
                for name in list(self.transports):
                    await self.sender.deliver_pending(name)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.dispatcher.outbox_ready.wait(), timeout=0.5)

        async def escalation() -> None:
            from flows.tickets import escalate_overdue

            while not stop.is_set():
                try:
                    if await escalate_overdue(self.sessions, self.network, self.dispatcher.clock()):
                        self.dispatcher.outbox_ready.set()
                except Exception as error:  # a database hiccup must not stop the other loops
                    log.error("escalation: check failed (%s: %s); trying again in a minute", type(error).__name__,
                              error)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=60)

        async def digests() -> None:
            """The Montagsrunde digest: checked every minute; the database says whether this week's went out."""
            from bot.digest import Schedule, parse_room, send_due_digests

            schedule = Schedule.parse(self.settings.digest_schedule)
            room = parse_room(self.settings.digest_room)
            while not stop.is_set():
                try:
                    if await send_due_digests(self.sessions, self.network, schedule, room, self.dispatcher.clock()):
                        self.dispatcher.outbox_ready.set()
                except Exception as error:  # a database hiccup must not stop the other loops
                    log.error("digest: could not be sent (%s: %s); trying again in a minute", type(error).__name__,
                              error)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=60)

        async def reminders() -> None:
            from bot.reminders import ReminderScheduler, run_reminders

            scheduler = ReminderScheduler(self.engine.url.render_as_string(hide_password=False))
            await run_reminders(self.sessions, scheduler, self.dispatcher.clock, stop, self.dispatcher.outbox_ready)


        async def retention() -> None:
            """The daily privacy job: once at start, then every 24 hours."""
            from bot.retention import RetentionPolicy, apply_retention

            policy = RetentionPolicy.from_settings(self.settings, self.network)
            while not stop.is_set():
                try:
                    report = await apply_retention(self.sessions, self.network, policy, self.dispatcher.clock())
                    if report.warned or report.erased:
                        self.dispatcher.outbox_ready.set()
                except Exception as error:  # tried again tomorrow; the operator hears of it today
                    log.error("retention: run failed (%s: %s); trying again in 24 hours", type(error).__name__, error)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=24 * 3600)


        await asyncio.gather(inbox(), outbox(), escalation(), reminders(), digests(), retention())

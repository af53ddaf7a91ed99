"""`/healthz` and Prometheus `/metrics` for each process: what an operator alerts on (docs/operations.md).

Counters (sends by transport and result, reminders, escalations) count what this process did; the queue
figures (inbox and outbox pending, their oldest age) are read from the database at each scrape, so every process
reports the same deployment-wide backlog. `lotse_leader` says whether this process leads now. Off on SQLite
unless `LOTSE_HEALTH_LISTEN` is set; on PostgreSQL it listens on 127.0.0.1:9464 unless told otherwise.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from storage.models import InboxEntry, OutboxEntry
from storage.schema import schema_state

log = logging.getLogger("lotse.health")

DEFAULT_POSTGRES_LISTEN = "127.0.0.1:9464"
LANES = {1: "answer", 2: "notice", 3: "bulk"}


@dataclass
class Metrics:
    """One registry per process (tests run several apps in one interpreter)."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.sends = Counter("lotse_sends", "Send attempts by transport and result (ok, 429, 403, error)",
                             ["transport", "result"], registry=r)
        self.reminders = Counter("lotse_reminders", "Reminders sent, or missed (their event began before "
                                 "they could go)", ["outcome"], registry=r)
        self.escalations = Counter("lotse_escalations", "Overdue questions escalated to a lead contact",
                                   registry=r)
        self.inbox_pending = Gauge("lotse_inbox_pending", "Stored updates not yet handled", registry=r)
        self.inbox_oldest = Gauge("lotse_inbox_oldest_seconds", "Age of the oldest unhandled update", registry=r)
        self.outbox_pending = Gauge("lotse_outbox_pending", "Messages waiting to be sent, by transport and lane",
                                    ["transport", "lane"], registry=r)
        self.outbox_oldest = Gauge("lotse_outbox_oldest_seconds", "Age of the oldest waiting message, by "
                                   "transport and lane", ["transport", "lane"], registry=r)
        self.loop_lag = Gauge("lotse_loop_lag_seconds", "How late the event loop woke last (a blocked loop "
                              "delays every chat)", registry=r)
        self.loop_lag_worst = Gauge("lotse_loop_lag_worst_seconds", "The longest event-loop stall since start",
                                    registry=r)
        self.leader = Gauge("lotse_leader", "1 while this process leads (handles, sends, schedules)", registry=r)
        self.up = Gauge("lotse_database_up", "1 when the database answered the last scrape", registry=r)

    def sent(self, transport: str, result: str) -> None:
        self.sends.labels(transport, result).inc()


@dataclass
class HealthServer:
    """The little HTTP server: `/healthz` (200 ready, 503 not) and `/metrics`."""

    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    metrics: Metrics
    role: str
    leading: Callable[[], bool]
    lag: Callable[[], tuple[float, float]]
    clock: Callable[[], datetime]
    _runner: web.AppRunner | None = None
    bound: tuple[str, int] | None = None

    async def start(self, listen: str) -> bool:
        host, _, port = listen.rpartition(":")
        application = web.Application()
        application.router.add_get("/healthz", self._healthz)
        application.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(application, access_log=None)
        await self._runner.setup()
        try:
            await web.TCPSite(self._runner, host.strip("[]"), int(port)).start()
        except OSError as error:
            log.warning("health: cannot listen on %s (%s); set LOTSE_HEALTH_LISTEN to a free port for each process",
                        listen, error.strerror)
            await self._runner.cleanup()
            self._runner = None
            return False
        address = self._runner.addresses[0]
        self.bound = (str(address[0]), int(address[1]))
        log.info("health: /healthz and /metrics on http://%s:%d", *self.bound)
        return True

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _healthz(self, _request: web.Request) -> web.Response:
        body: dict[str, object] = {"role": self.role, "leader": self.leading()}
        try:
            state = await schema_state(self.engine)
            body.update(database=True, schema=state.current, schema_current=state.up_to_date)
        except Exception as error:
            body.update(database=False, error=str(error).splitlines()[0][:200] if str(error) else "unreachable")
        body["ready"] = bool(body.get("database") and body.get("schema_current"))
        return web.Response(status=200 if body["ready"] else 503, text=json.dumps(body),
                            content_type="application/json")

    async def _metrics(self, _request: web.Request) -> web.Response:
        await self.refresh()
        return web.Response(body=generate_latest(self.metrics.registry),
                            headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def refresh(self) -> None:
        """The backlog from the database; the process's own figures from memory."""
        m = self.metrics
        m.leader.set(1 if self.leading() else 0)
        last, worst = self.lag()
        m.loop_lag.set(last)
        m.loop_lag_worst.set(worst)
        now = self.clock()
        try:
            async with self.sessions() as session:
                pending, oldest = (await session.execute(select(func.count(), func.min(InboxEntry.received_at))
                                                         .where(InboxEntry.processed_at.is_(None)))).one()
                lanes = (await session.execute(
                    select(OutboxEntry.transport, OutboxEntry.priority, func.count(), func.min(OutboxEntry.created_at))
                    .where(OutboxEntry.status == "pending")
                    .group_by(OutboxEntry.transport, OutboxEntry.priority))).all()
        except Exception as error:
            m.up.set(0)
            log.info("health: the database did not answer the scrape (%s)", str(error).splitlines()[0][:200])
            return
        m.up.set(1)
        m.inbox_pending.set(pending)
        m.inbox_oldest.set(max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0)
        m.outbox_pending.clear()
        m.outbox_oldest.clear()
        for transport in ("telegram", "matrix"):  # zero rather than absent: alerts compare numbers
            for lane in LANES.values():
                m.outbox_pending.labels(transport, lane).set(0)
                m.outbox_oldest.labels(transport, lane).set(0)
        for transport, priority, count, first in lanes:
            lane = LANES.get(priority, str(priority))
            m.outbox_pending.labels(transport, lane).set(count)
            m.outbox_oldest.labels(transport, lane).set(max(0.0, (now - first).total_seconds()) if first else 0.0)


def listen_address(configured: str | None, postgres: bool) -> str | None:
    """Off on SQLite unless set; on PostgreSQL (several processes, an operator who watches) on by default."""
    if configured:
        return configured
    return DEFAULT_POSTGRES_LISTEN if postgres else None

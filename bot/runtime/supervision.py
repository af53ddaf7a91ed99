"""Keeping the background loops alive: backoff, restart on a crash, and a watchdog for a blocked event loop.

`lotse run` is a handful of loops (inbox, outbox, scheduler, Matrix sync, Telegram polling, ...) in one event
loop. One loop's crash must not end the others or the process: it is logged with a count and restarted after
a growing pause. Only SIGINT/SIGTERM end `lotse run`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

log = logging.getLogger("lotse.supervision")


@dataclass
class Backoff:
    """Exponential pauses between attempts: `first`, doubling, at most `limit` seconds."""

    first: float = 1.0
    limit: float = 60.0
    failures: int = 0

    @property
    def delay(self) -> float:
        if self.failures == 0:
            return 0.0
        return float(min(self.limit, self.first * 2 ** (self.failures - 1)))

    def failed(self) -> float:
        self.failures += 1
        return self.delay

    def succeeded(self) -> None:
        self.failures = 0


async def sleep_unless_stopped(stop: asyncio.Event, seconds: float) -> None:
    """Waits `seconds`, or less when `stop` is set meanwhile."""
    if seconds <= 0 or stop.is_set():
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


async def supervise(name: str, loop: Callable[[], Awaitable[None]], stop: asyncio.Event,
                    backoff: Backoff | None = None) -> None:
    """Runs `loop` until `stop` is set; a crash is logged in one line with a count, then it restarts later."""
    backoff = backoff or Backoff(first=1.0, limit=60.0)
    crashes = 0
    while not stop.is_set():
        started = time.monotonic()
        try:
            await loop()
        except asyncio.CancelledError:
            raise
        except Exception as error:
            crashes += 1
            if time.monotonic() - started > 300:  # it ran well for a while: start the pauses anew
                backoff.succeeded()
            delay = backoff.failed()
            log.error("%s: loop crashed (%s: %s), crash %d; restarting in %.0fs", name, type(error).__name__,
                      str(error).splitlines()[0][:300] if str(error) else "", crashes, delay)
            log.debug("%s: traceback", name, exc_info=True)
            await sleep_unless_stopped(stop, delay)
            continue
        if not stop.is_set():  # a loop that returns on its own is restarted too, without a pause
            log.info("%s: loop ended; starting it again", name)
            await sleep_unless_stopped(stop, 0.1)


@dataclass
class LoopWatchdog:
    """Notices when the event loop was blocked: one log line per episode, with the longest stall seen.

    It sleeps `interval` seconds at a time; when it wakes more than `threshold` late, something held the loop.
    `worst` keeps the largest stall of the whole run, for the benchmarks."""

    threshold: float = 0.25
    interval: float = 0.05
    worst: float = 0.0
    last: float = 0.0
    episodes: int = 0

    async def run(self, stop: asyncio.Event) -> None:
        in_episode = False
        while not stop.is_set():
            before = time.perf_counter()
            await asyncio.sleep(self.interval)
            late = time.perf_counter() - before - self.interval
            self.worst = max(self.worst, late)
            self.last = max(0.0, late)
            if late > self.threshold:
                if not in_episode:
                    self.episodes += 1
                    log.warning("event loop: blocked for %.0f ms (episode %d); every chat waited meanwhile",
                                late * 1000, self.episodes)
                in_episode = True
            else:
                in_episode = False
